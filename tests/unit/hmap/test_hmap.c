/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of dmac_hmap (lib/iova_cache/hmap.c).
 *
 * - Differential: 400k random put/del/get over small and large key spaces
 *   against a reference array, invariants (dmac__hmap_check) checked as we go.
 * - Adversarial keys: multiples of 2^32 and of 2^20 (identical low bits) keep
 *   probe lengths short thanks to the key mixing.
 * - Faults: every allocation of a growing put fails once; nothing changes.
 * Invariants: CHECK counts and never aborts; the random sequence is seeded
 * and the seed printed with every failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/hmap.h"
#include "dmac_alloc.h"

static uint64_t seed = 0x5eed1234abcdULL;
#define CHECK_SEED seed
#define CHECK_EQ_SIGNED
#include "../check.h"

static uint64_t rng(void)
{
	uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#define REF_MAX 70000
static uint64_t ref_key[REF_MAX];
static uintptr_t ref_val[REF_MAX];
static size_t ref_n;

static long ref_find(uint64_t k)
{
	for (size_t i = 0; i < ref_n; i++)
		if (ref_key[i] == k)
			return (long)i;
	return -1;
}

static void differential(uint64_t keyspace, long ops)
{
	struct dmac_hmap m = DMAC_HMAP_INIT;

	ref_n = 0;
	for (long op = 0; op < ops; op++) {
		uint64_t k = rng() % keyspace, r = rng() % 10;
		long at = ref_find(k);

		if (r < 5) {
			uintptr_t v = (uintptr_t)(rng() | 1);
			void *old = (void *)1;

			if (at < 0 && ref_n == REF_MAX)
				continue;
			CHECK_EQ(dmac_hmap_put(&m, k, (void *)v, &old), 0);
			CHECK(old == (at < 0 ? NULL : (void *)ref_val[at]));
			if (at < 0) {
				ref_key[ref_n] = k;
				ref_val[ref_n++] = v;
			} else {
				ref_val[at] = v;
			}
		} else if (r < 8) {
			void *got = dmac_hmap_del(&m, k);

			CHECK(got == (at < 0 ? NULL : (void *)ref_val[at]));
			if (at >= 0) {
				ref_key[at] = ref_key[--ref_n];
				ref_val[at] = ref_val[ref_n];
			}
		} else {
			CHECK(dmac_hmap_get(&m, k) == (at < 0 ? NULL : (void *)ref_val[at]));
		}
		CHECK_EQ(dmac_hmap_count(&m), ref_n);
		if (op % 4096 == 0)
			CHECK_EQ(dmac__hmap_check(&m), 0);
	}
	CHECK_EQ(dmac__hmap_check(&m), 0);
	for (size_t i = 0; i < ref_n; i++)
		CHECK(dmac_hmap_get(&m, ref_key[i]) == (void *)ref_val[i]);
	dmac_hmap_clear(&m);
	CHECK_EQ(dmac_hmap_count(&m), 0);
	CHECK_EQ(dmac__hmap_check(&m), 0);
}

struct probe_stat {
	const struct dmac_hmap *m;
	size_t worst;
};

/* Longest distance of a key from its home slot, measured from outside. */
static size_t worst_probe(const struct dmac_hmap *m)
{
	size_t worst = 0;

	for (size_t i = 0; i <= m->mask; i++) {
		size_t d = 0, j = i;

		if (!m->slots[i].val)
			continue;
		/* walk back to the start of the cluster: an upper bound of the
		 * distance to the home slot */
		while (m->slots[(j - 1) & m->mask].val && d <= m->mask) {
			j = (j - 1) & m->mask;
			d++;
		}
		if (d > worst)
			worst = d;
	}
	return worst;
}

static void adversarial(void)
{
	static const int shifts[] = {32, 20, 12};

	for (unsigned int s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++) {
		struct dmac_hmap m = DMAC_HMAP_INIT;

		for (uint64_t i = 1; i <= 50000; i++)
			CHECK_EQ(dmac_hmap_put(&m, i << shifts[s], (void *)(uintptr_t)i, NULL), 0);
		CHECK_EQ(dmac__hmap_check(&m), 0);
		/* clusters stay short: with 50k keys at <= 3/4 load, linear
		 * probing with a good mix keeps them well under 200 */
		CHECK(worst_probe(&m) < 200);
		for (uint64_t i = 1; i <= 50000; i += 2)
			CHECK(dmac_hmap_del(&m, i << shifts[s]) == (void *)(uintptr_t)i);
		CHECK_EQ(dmac__hmap_check(&m), 0);
		for (uint64_t i = 2; i <= 50000; i += 2)
			CHECK(dmac_hmap_get(&m, i << shifts[s]) == (void *)(uintptr_t)i);
		CHECK_EQ(dmac_hmap_count(&m), 25000);
		dmac_hmap_clear(&m);
	}
}

static int count_cb(void *arg, uint64_t key, void *val)
{
	(void)key;
	(void)val;
	return ++*(int *)arg == 3 ? 7 : 0;
}

static void edges(void)
{
	struct dmac_hmap m = DMAC_HMAP_INIT;
	int n = 0;

	CHECK(dmac_hmap_get(&m, 0) == NULL);
	CHECK(dmac_hmap_del(&m, 0) == NULL);
	CHECK_EQ(dmac_hmap_foreach(&m, count_cb, &n), 0);
	CHECK_EQ(dmac_hmap_put(&m, 1, NULL, NULL), -EINVAL);
	CHECK_EQ(dmac_hmap_count(&m), 0);
	/* 0 and UINT64_MAX are ordinary keys */
	CHECK_EQ(dmac_hmap_put(&m, 0, (void *)1, NULL), 0);
	CHECK_EQ(dmac_hmap_put(&m, UINT64_MAX, (void *)2, NULL), 0);
	CHECK(dmac_hmap_get(&m, 0) == (void *)1);
	CHECK(dmac_hmap_get(&m, UINT64_MAX) == (void *)2);
	for (uint64_t k = 10; k < 20; k++)
		CHECK_EQ(dmac_hmap_put(&m, k, (void *)3, NULL), 0);
	n = 0;
	CHECK_EQ(dmac_hmap_foreach(&m, count_cb, &n), 7); /* stops at the 3rd */
	CHECK_EQ(n, 3);
	CHECK_EQ(dmac_hmap_reserve(&m, 1000), 0);
	CHECK(m.mask + 1 >= 1334);
	CHECK_EQ(dmac__hmap_check(&m), 0);
	CHECK_EQ(dmac_hmap_count(&m), 12);
	dmac_hmap_clear(&m);
}

static void faults(void)
{
	struct dmac_hmap m = DMAC_HMAP_INIT;
	int64_t base = dmac__alloc_outstanding();
	uint64_t k;

	/* Every growth (0 -> 16, 16 -> 32, ...) meets one failing allocation
	 * first: the put fails with -ENOMEM and changes nothing. */
	for (k = 0; k < 3000; k++) {
		size_t cap = m.slots ? m.mask + 1 : 0;
		int rc;

		dmac__fault_alloc_arm(1);
		rc = dmac_hmap_put(&m, k * 7919, (void *)(uintptr_t)(k + 1), NULL);
		if (dmac__fault_alloc_fired()) {
			CHECK_EQ(rc, -ENOMEM);
			CHECK_EQ(dmac_hmap_count(&m), k);
			CHECK_EQ(m.slots ? m.mask + 1 : 0, cap);
			CHECK(dmac_hmap_get(&m, k * 7919) == NULL);
			dmac__fault_alloc_arm(0);
			rc = dmac_hmap_put(&m, k * 7919, (void *)(uintptr_t)(k + 1), NULL);
		}
		dmac__fault_alloc_arm(0);
		CHECK_EQ(rc, 0);
	}
	CHECK_EQ(dmac__hmap_check(&m), 0);
	for (k = 0; k < 3000; k++)
		CHECK(dmac_hmap_get(&m, k * 7919) == (void *)(uintptr_t)(k + 1));
	dmac_hmap_clear(&m);
	CHECK_EQ(dmac__alloc_outstanding(), base);
}

int main(void)
{
	edges();
	differential(64, 200000);	  /* dense: long clusters, many shifts */
	differential(1u << 16, 200000);	  /* up to ~40k keys live */
	differential(UINT64_MAX, 100000); /* sparse */
	adversarial();
	faults();
	return check_report("test_hmap");
}
