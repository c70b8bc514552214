/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_imap: seeded randomized differential test against a deliberately simple model
 * (an unsorted array scanned linearly).
 *
 * Invariants checked after every step: for random addresses (clustered around the
 * index's interesting places: 0, 2 MiB / 1 GiB / 512 GiB boundaries, 2^48,
 * UINT64_MAX, and the bounds of existing intervals), lookup, translate (with and
 * without max_len), lookup_range and next agree with the model; translate agrees with
 * the out-of-line walk of the version's radix tree (dmac__imap_translate_slow()); count
 * agrees; a batch with a failing op publishes nothing and every op after the failure
 * reports the same error.
 *
 * Two passes of 'steps' steps on a fresh map: keys anywhere in the 64-bit space (the
 * map mostly too sparse for a flat window: the radix tree answers), then keys within a
 * few TiB (a flat window most of the time, checked: its slots and tables answer, and
 * commits change its window, create and drop tables and rewrite them in place).
 *
 * Usage: test_imap_diff [seed [steps]]; the seed is printed on failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "dmac/imap.h"
#include "dmac_alloc.h"
#include "../check.h"
#include "imap_peek.h"

#define MAXN 4096

struct iv {
	uint64_t start, last, value;
};

struct model {
	struct iv a[MAXN];
	size_t n;
};

static uint64_t rng_state;
static uint64_t seed;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int model_find(const struct model *md, uint64_t addr)
{
	for (size_t i = 0; i < md->n; i++)
		if (md->a[i].start <= addr && addr <= md->a[i].last)
			return (int)i;
	return -1;
}

static int model_insert(struct model *md, uint64_t s, uint64_t l, uint64_t v)
{
	if (s > l || v > UINT64_MAX - (l - s))
		return -EINVAL;
	for (size_t i = 0; i < md->n; i++)
		if (!(md->a[i].last < s || md->a[i].start > l))
			return -EEXIST;
	if (md->n == MAXN)
		abort();
	md->a[md->n++] = (struct iv){s, l, v};
	return 0;
}

static int model_remove(struct model *md, uint64_t s, uint64_t l)
{
	if (s > l)
		return -EINVAL;
	for (size_t i = 0; i < md->n; i++) {
		if (md->a[i].start == s && md->a[i].last == l) {
			md->a[i] = md->a[--md->n];
			return 0;
		}
	}
	return -ENOENT;
}

/* Bytes from addr contiguous in key and value, saturated, clipped to max_len. */
static uint64_t model_contig(const struct model *md, int i, uint64_t addr, uint64_t max_len)
{
	uint64_t c = md->a[i].last - addr; /* bytes - 1 */

	for (;;) {
		const struct iv *cur = &md->a[i];
		uint64_t endv = cur->value + (cur->last - cur->start);
		int j;

		if (max_len && c >= max_len - 1)
			break;
		if (cur->last == UINT64_MAX || endv == UINT64_MAX)
			break;
		j = model_find(md, cur->last + 1);
		if (j < 0 || md->a[j].value != endv + 1)
			break;
		i = j;
		c = md->a[i].last - addr;
	}
	if (max_len && c > max_len - 1)
		c = max_len - 1;
	return c == UINT64_MAX ? c : c + 1;
}

static const uint64_t anchors[] = {
    0,
    1ULL << 21,
    1ULL << 30,
    1ULL << 39,
    (1ULL << 39) * 3,
    0x7f0000000000ULL,
    (1ULL << 48) - (1ULL << 22),
    1ULL << 48,
    (1ULL << 48) + (1ULL << 30),
    1ULL << 63,
    UINT64_MAX - (1ULL << 31),
};
#define NANCHORS (sizeof(anchors) / sizeof(anchors[0]))

/* The second pass: keys within 2 TiB (one flat window), around 1 GiB boundaries. */
#define WB 0x7f0000000000ULL
static const uint64_t anchors_w[] = {
    WB,
    WB + (1ULL << 30),
    WB + (3ULL << 30) - (1ULL << 21),
    WB + (64ULL << 30),
    WB + (1ULL << 39),
    WB + (1ULL << 40) - (1ULL << 22),
};
#define NANCHORS_W (sizeof(anchors_w) / sizeof(anchors_w[0]))
static int window_pass;

static uint64_t rand_len(void)
{
	switch (below(8)) {
	case 0:
		return 1 + below(3);
	case 1:
		return 4096 * (1 + below(8));
	case 2:
		return (2ULL << 20) * (1 + below(4));
	case 3:
		return 1ULL << 30;
	case 4:
		return (1ULL << 20) + below(8ULL << 20);
	case 5:
		return 1 + below(1ULL << 32);
	case 6:
		return 1ULL << (21 + below(20));
	default:
		return 1 + below(64 * 4096);
	}
}

static uint64_t rand_addr(const struct model *md)
{
	uint64_t a;

	if (md->n && below(2)) {
		const struct iv *x = &md->a[below(md->n)];

		switch (below(6)) {
		case 0:
			return x->start - 1;
		case 1:
			return x->start;
		case 2:
			return x->last;
		case 3:
			return x->last + 1;
		default:
			return x->start +
			       below(x->last - x->start + 1 ? x->last - x->start + 1 : UINT64_MAX);
		}
	}
	a = window_pass ? anchors_w[below(NANCHORS_W)] : anchors[below(NANCHORS)];
	switch (below(4)) {
	case 0:
		return a + below(1ULL << 22);
	case 1:
		return a - below(1ULL << 22);
	case 2:
		return a + below(1ULL << 34);
	default:
		return a + (below(64) << 21) - (below(2) << 12);
	}
}

static void rand_interval(const struct model *md, uint64_t *s, uint64_t *l, uint64_t *v)
{
	uint64_t len = rand_len();

	*v = below(4) ? (below(1ULL << 40) & ~4095ULL) : rnd();
	if (md->n && below(3) == 0) {
		/* Adjacent to an existing interval, often continuing its value. */
		const struct iv *x = &md->a[below(md->n)];

		if (below(2) && x->last != UINT64_MAX) {
			*s = x->last + 1;
			if (below(3))
				*v = x->value + (x->last - x->start) + 1;
		} else {
			*s = x->start - len;
			if (below(3))
				*v = x->value - len;
		}
	} else {
		*s = rand_addr(md);
	}
	*l = *s + (len - 1);
	if (*l < *s) /* wrapped: clip at the top of the key space */
		*l = UINT64_MAX;
	if (window_pass && (*s < WB - (1ULL << 40) || *l > WB + (2ULL << 40)))
		*l = *s - 1; /* out of the window pass's keys: an invalid interval instead */
	if (below(200) == 0) /* the occasional invalid interval */
		*l = *s - 1 - below(5);
	if (!window_pass && below(400) == 0) {
		*s = 0;
		*l = UINT64_MAX;
	}
}

static int fail_step(const char *what, uint64_t step, uint64_t addr)
{
	fprintf(stderr, "imap_diff: seed %" PRIu64 " step %" PRIu64 ": %s at 0x%" PRIx64 "\n", seed,
		step, what, addr);
	check_failures++;
	return 1;
}

static int verify_addr(struct dmac_imap *m, const struct model *md, uint64_t step, uint64_t addr)
{
	struct dmac_imap_entry e, rng, se, srng;
	const struct dmac_imap_snap *sn;
	uint64_t t, t2, st, slen = 0, scontig = 0, len = 0, contig = 0, tt, tlen = 0,
			    max_len = below(3) ? 0 : 1 + below(16ULL << 20);
	int i = model_find(md, addr), rc, rc2, rc3, src, src2;
	struct dmac_imap_entry nx;
	int expect_next = -1;

	dmac_imap_read_lock();
	rc = dmac_imap_lookup(m, addr, &e);
	t = dmac_imap_translate(m, addr, 0, NULL);
	t2 = dmac_imap_translate(m, addr, max_len, &len);
	rc2 = dmac_imap_lookup_range(m, addr, max_len, &rng, &contig);
	rc3 = dmac_imap_next(m, addr, &nx);
	/* The same reads through a snapshot (no writer runs here: same answers). */
	sn = dmac_imap_snapshot(m);
	src = dmac_imap_snap_lookup(sn, addr, &se);
	st = dmac_imap_snap_translate(sn, addr, max_len, &slen);
	src2 = dmac_imap_snap_lookup_range(sn, addr, max_len, &srng, &scontig);
	tt = dmac__imap_translate_slow(sn, addr, max_len, &tlen); /* the radix tree's answer */
	dmac_imap_read_unlock();
	check_count += 9;
	if (tt != t2 || (tt != DMAC_IMAP_NONE && tlen != len))
		return fail_step("translate differs from the radix tree's", step, addr);
	if (src != rc || st != t2 || src2 != rc2 ||
	    (rc == 0 && (se.start != e.start || se.last != e.last || se.value != e.value)) ||
	    (rc2 == 0 && (srng.start != rng.start || scontig != contig || slen != len)))
		return fail_step("snapshot reads differ", step, addr);

	for (size_t j = 0; j < md->n; j++)
		if (md->a[j].start >= addr &&
		    (expect_next < 0 || md->a[j].start < md->a[expect_next].start))
			expect_next = (int)j;
	if (expect_next < 0
		? rc3 != -ENOENT
		: rc3 != 0 || nx.start != md->a[expect_next].start ||
		      nx.last != md->a[expect_next].last || nx.value != md->a[expect_next].value)
		return fail_step("next differs", step, addr);

	if (i < 0) {
		if (rc != -ENOENT || t != DMAC_IMAP_NONE || t2 != DMAC_IMAP_NONE || rc2 != -ENOENT)
			return fail_step("expected a miss", step, addr);
		return 0;
	}
	{
		const struct iv *x = &md->a[i];
		uint64_t want = x->value + (addr - x->start);
		uint64_t wc = model_contig(md, i, addr, max_len);

		if (rc != 0 || e.start != x->start || e.last != x->last || e.value != x->value)
			return fail_step("lookup differs", step, addr);
		if (t != want || t2 != want)
			return fail_step("translate differs", step, addr);
		if (len != wc)
			return fail_step("translate len differs", step, addr);
		if (rc2 != 0 || rng.start != x->start || contig != wc)
			return fail_step("lookup_range differs", step, addr);
	}
	return 0;
}

static int verify(struct dmac_imap *m, const struct model *md, uint64_t step, int full)
{
	size_t cnt;

	dmac_imap_read_lock();
	cnt = dmac_imap_count(m);
	dmac_imap_read_unlock();
	check_count++;
	if (cnt != md->n)
		return fail_step("count differs", step, cnt);
	for (int k = 0; k < 16; k++)
		if (verify_addr(m, md, step, rand_addr(md)))
			return 1;
	if (full) {
		/* Ordered iteration over everything. */
		struct dmac_imap_entry e;
		uint64_t a = 0;
		size_t seen = 0;

		dmac_imap_read_lock();
		while (dmac_imap_next(m, a, &e) == 0) {
			int i = model_find(md, e.start);

			if (i < 0 || md->a[i].start != e.start || md->a[i].last != e.last) {
				dmac_imap_read_unlock();
				return fail_step("iteration differs", step, e.start);
			}
			seen++;
			if (e.last == UINT64_MAX)
				break;
			a = e.last + 1;
		}
		dmac_imap_read_unlock();
		if (seen != md->n)
			return fail_step("iteration count differs", step, seen);
	}
	return 0;
}

static struct model md, shadow;
static size_t peak_n;

/* One pass of 'steps' steps on a fresh map; 1 if most batches left a flat window. */
static int run_pass(uint64_t steps)
{
	uint64_t ops = 0, windowed = 0, batches = 0;
	struct dmac_imap *m;

	memset(&md, 0, sizeof(md));
	peak_n = 0;
	FATAL_IF(dmac_imap_create(&m) != 0);
	for (uint64_t step = 0; step < steps && !check_failures; step++) {
		struct dmac_imap_batch *b;
		int k, err = 0, rc, do_abort;
		size_t cap = md.n < 64 ? 6 : md.n < 256 ? 3 : 1;
		/* Alternate shrinking and growing phases, to visit small and large maps. */
		int grow = (step / (steps / 8 + 1)) % 2 == 1;

		/* Mostly lookups; batches of random size; remove more as the map grows. */
		if (below(3) == 0) {
			ops += 16;
			if (verify(m, &md, step, below(64) == 0))
				break;
			continue;
		}
		k = 1 + (int)below(below(8) == 0 ? 40 : 4);
		do_abort = below(20) == 0;
		shadow = md;
		FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
		for (int j = 0; j < k; j++, ops++) {
			uint64_t s, l, v;
			int want;

			if (shadow.n >= MAXN - 64 ||
			    (shadow.n &&
			     (grow ? below(6) == 0 : below(cap + 2) < 2 + (shadow.n > 512)))) {
				if (below(10)) {
					const struct iv *x = &shadow.a[below(shadow.n)];

					s = x->start;
					l = x->last;
				} else {
					rand_interval(&shadow, &s, &l, &v);
				}
				want = model_remove(&shadow, s, l);
				rc = dmac_imap_batch_remove(b, s, l);
			} else {
				rand_interval(&shadow, &s, &l, &v);
				want = model_insert(&shadow, s, l, v);
				rc = dmac_imap_batch_insert(b, s, l, v);
			}
			if (err)
				want = err; /* poisoned */
			if (rc != want) {
				fprintf(stderr,
					"op [0x%" PRIx64 ", 0x%" PRIx64 "]: rc %d want %d\n", s, l,
					rc, want);
				fail_step("batch op result differs", step, s);
				break;
			}
			if (rc && !err)
				err = rc;
		}
		if (check_failures) {
			dmac_imap_batch_abort(b);
			break;
		}
		if (do_abort) {
			dmac_imap_batch_abort(b);
		} else {
			rc = dmac_imap_batch_commit(b);
			if (rc != err) {
				fail_step("commit result differs", step, (uint64_t)rc);
				break;
			}
			if (!rc)
				md = shadow;
		}
		if (md.n > peak_n)
			peak_n = md.n;
		if (verify(m, &md, step, 0))
			break;
		windowed += imap_flat_slots(m) != 0;
		batches++;
	}
	printf("imap_diff: seed 0x%" PRIx64 ", pass %d: %" PRIu64 " operations, final size %zu, "
	       "peak %zu, a flat window after %" PRIu64 " of %" PRIu64 " batches\n",
	       seed, window_pass, ops, md.n, peak_n, windowed, batches);
	CHECK(ops >= steps);
	dmac_imap_destroy(m);
	return windowed > batches / 2;
}

int main(int argc, char **argv)
{
	uint64_t steps = 100000;
	int w;
	int64_t base = dmac__alloc_outstanding();

	seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x1ac5eed5ULL;
	if (argc > 2)
		steps = strtoull(argv[2], NULL, 0);
	rng_state = seed ? seed : 1;
	urcu_memb_register_thread();
	run_pass(steps);
	window_pass = 1;
	w = run_pass(steps);
	CHECK(check_failures || w); /* the flat index did answer */
	CHECK_EQ(dmac__alloc_outstanding(), base);
	urcu_memb_unregister_thread();
	if (check_failures)
		fprintf(stderr, "imap_diff: FAILED with seed 0x%" PRIx64 "\n", seed);
	return check_report("imap_diff");
}
