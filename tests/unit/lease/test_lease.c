/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of dmac_lease.
 *
 * Invariants of this file: every table is checked with dmac__lease_check()
 * after calls that may fail; errors are shown to change nothing by comparing
 * table and tenant statistics before and after; main() checks that
 * dmac__alloc_outstanding() returns to its starting value. Leases are
 * [iova, iova + length), end exclusive.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/lease.h"
#include "dmac_alloc.h"

/* CHECK and CHECK_RC abort at the first failure (see ../check.h). */
#define CHECK_ABORT
#include "../check.h"

#define MB     (UINT64_C(1) << 20)
#define RW     (DMAC_LEASE_PROT_READ | DMAC_LEASE_PROT_WRITE)
#define ARR(a) (sizeof(a) / sizeof((a)[0]))

#define CONSISTENT(t) CHECK_RC(dmac__lease_check(t), 0)

/* Snapshot of the table stats and of tenants 1..3 (absent tenants read as all-ones). */
struct snap {
	struct dmac_lease_stats st;
	struct dmac_lease_tenant_stats ts[4];
};

static void snapshot(const struct dmac_lease_table *t, struct snap *s)
{
	memset(s, 0xff, sizeof(*s));
	dmac_lease_stats(t, &s->st);
	for (uint64_t i = 1; i < 4; i++)
		if (dmac_lease_tenant_stats(t, i, &s->ts[i]))
			memset(&s->ts[i], 0xff, sizeof(s->ts[i]));
}

static void same_as(const struct dmac_lease_table *t, const struct snap *before)
{
	struct snap now;

	snapshot(t, &now);
	CHECK(memcmp(&now, before, sizeof(now)) == 0);
	CONSISTENT(t);
}

static struct dmac_lease_table *make(void)
{
	struct dmac_lease_table *t = NULL;

	CHECK_RC(dmac_lease_table_create(&t), 0);
	CHECK(t);
	CONSISTENT(t);
	return t;
}

static void test_tenants(void)
{
	struct dmac_lease_table *t = make();
	struct dmac_lease_tenant_stats ts;
	struct dmac_lease_stats st;
	struct dmac_lease_info li;
	struct snap s;

	CHECK_RC(dmac_lease_table_create(NULL), -EINVAL);
	CHECK_RC(dmac_lease_tenant_add(t, 1, 10, 100 * MB), 0);
	CHECK_RC(dmac_lease_tenant_add(t, 0, DMAC_LEASE_UNLIMITED, DMAC_LEASE_UNLIMITED), 0);
	snapshot(t, &s);
	CHECK_RC(dmac_lease_tenant_add(t, 1, 1, 1), -EEXIST);
	CHECK_RC(dmac_lease_tenant_add(t, DMAC_LEASE_TENANT_ANY, 1, 1), -EINVAL);
	CHECK_RC(dmac_lease_tenant_remove(t, 2), -ENOENT);
	CHECK_RC(dmac_lease_tenant_set_quota(t, 2, 1, 1), -ENOENT);
	CHECK_RC(dmac_lease_tenant_stats(t, 2, &ts), -ENOENT);
	same_as(t, &s);
	CHECK_RC(dmac_lease_tenant_stats(t, 1, &ts), 0);
	CHECK(ts.leases == 0 && ts.bytes == 0 && ts.max_leases == 10 && ts.max_bytes == 100 * MB);

	CHECK_RC(dmac_lease_create(t, 1, 0, MB, RW, NULL, &li), 0);
	snapshot(t, &s);
	CHECK_RC(dmac_lease_tenant_remove(t, 1), -EBUSY);
	same_as(t, &s);
	CHECK_RC(dmac_lease_remove(t, 1, li.id, NULL), 0);
	CHECK_RC(dmac_lease_tenant_remove(t, 1), 0);
	CHECK_RC(dmac_lease_tenant_remove(t, 1), -ENOENT);
	CHECK_RC(dmac_lease_create(t, 1, 0, MB, RW, NULL, &li), -ENOENT);
	/* Many tenants: the tenant hash grows. */
	for (uint64_t i = 100; i < 1100; i++)
		CHECK_RC(dmac_lease_tenant_add(t, i, 1, MB), 0);
	CONSISTENT(t);
	for (uint64_t i = 100; i < 1100; i++)
		CHECK_RC(dmac_lease_tenant_stats(t, i, NULL), 0);
	for (uint64_t i = 100; i < 1100; i += 2)
		CHECK_RC(dmac_lease_tenant_remove(t, i), 0);
	dmac_lease_stats(t, &st);
	CHECK(st.tenants == 1 + 500);
	CONSISTENT(t);
	dmac_lease_table_destroy(t);
	dmac_lease_table_destroy(NULL);
}

static void test_create_errors_quotas(void)
{
	struct dmac_lease_table *t = make();
	struct dmac_lease_info a, b, x;
	struct snap s;

	CHECK_RC(dmac_lease_tenant_add(t, 1, 3, 10 * MB), 0);
	CHECK_RC(dmac_lease_tenant_add(t, 2, DMAC_LEASE_UNLIMITED, DMAC_LEASE_UNLIMITED), 0);
	CHECK_RC(dmac_lease_tenant_add(t, 3, 0, 0), 0);
	snapshot(t, &s);
	memset(&x, 0x5a, sizeof(x)); /* outputs are untouched on error */
	CHECK_RC(dmac_lease_create(t, 1, 0, 0, RW, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, 1, UINT64_MAX, 2, RW, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, 1, 2, UINT64_MAX, RW, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, 1, 0, MB, 0, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, 1, 0, MB, 4, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, 1, 0, MB, RW | 0x80000000u, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, DMAC_LEASE_TENANT_ANY, 0, MB, RW, NULL, &x), -EINVAL);
	CHECK_RC(dmac_lease_create(t, 9, 0, MB, RW, NULL, &x), -ENOENT);
	CHECK_RC(dmac_lease_create(t, 3, 0, 1, RW, NULL, &x), -EDQUOT);
	CHECK_RC(dmac_lease_create(t, 1, 0, 10 * MB + 1, RW, NULL, &x), -EDQUOT);
	same_as(t, &s);
	for (size_t i = 0; i < sizeof(x); i++)
		CHECK(((unsigned char *)&x)[i] == 0x5a);

	/* Boundaries: the last byte of the 64-bit space, and the whole space minus one byte. */
	CHECK_RC(dmac_lease_create(t, 2, UINT64_MAX - 4095, 4096, DMAC_LEASE_PROT_READ, NULL, &a),
		 0);
	CHECK(a.iova == UINT64_MAX - 4095 && a.length == 4096 && a.prot == DMAC_LEASE_PROT_READ);
	CHECK_RC(dmac_lease_create(t, 2, 1, UINT64_MAX - 4096, DMAC_LEASE_PROT_WRITE, NULL, &b), 0);
	CHECK(b.generation == a.generation + 1);
	/* Tenant 2 now holds exactly UINT64_MAX bytes: even "unlimited" cannot wrap it. */
	snapshot(t, &s);
	CHECK(s.ts[2].bytes == UINT64_MAX && s.ts[2].leases == 2);
	CHECK_RC(dmac_lease_create(t, 2, 0, 1, RW, NULL, NULL), -EDQUOT);
	same_as(t, &s);
	CHECK_RC(dmac_lease_remove(t, 2, b.id, NULL), 0);
	CHECK_RC(dmac_lease_create(t, 2, 0, UINT64_MAX - 4096, RW, NULL, NULL), 0);
	/* Byte quota up to the exact limit, count quota at the exact limit. */
	CHECK_RC(dmac_lease_create(t, 1, 0, 4 * MB, RW, (void *)1, &a), 0);
	CHECK_RC(dmac_lease_create(t, 1, 4 * MB, 6 * MB, RW, (void *)2, &b), 0);
	snapshot(t, &s);
	CHECK_RC(dmac_lease_create(t, 1, 10 * MB, 1, RW, NULL, NULL), -EDQUOT);
	same_as(t, &s);
	CHECK_RC(dmac_lease_remove(t, 1, b.id, NULL), 0);
	CHECK_RC(dmac_lease_create(t, 1, 4 * MB, MB, RW, NULL, NULL), 0);
	CHECK_RC(dmac_lease_create(t, 1, 5 * MB, MB, RW, NULL, NULL), 0);
	snapshot(t, &s);
	CHECK(s.ts[1].leases == 3 && s.ts[1].bytes == 6 * MB);
	CHECK_RC(dmac_lease_create(t, 1, 6 * MB, MB, RW, NULL, NULL), -EDQUOT); /* 4th lease */
	same_as(t, &s);
	/* Lowering a quota below usage keeps leases, refuses new ones. */
	CHECK_RC(dmac_lease_tenant_set_quota(t, 1, 100, 2 * MB), 0);
	CHECK_RC(dmac_lease_create(t, 1, 6 * MB, 1, RW, NULL, NULL), -EDQUOT);
	CHECK_RC(dmac_lease_lookup(t, 1, a.id, &x), 0);
	CHECK(x.priv == (void *)1 && x.length == 4 * MB && x.tenant == 1);
	CHECK_RC(dmac_lease_tenant_set_quota(t, 1, 100, DMAC_LEASE_UNLIMITED), 0);
	CHECK_RC(dmac_lease_create(t, 1, 6 * MB, 1, RW, NULL, NULL), 0);
	CONSISTENT(t);
	dmac_lease_table_destroy(t);
}

static int info_eq(const struct dmac_lease_info *x, const struct dmac_lease_info *y);

static void test_isolation(void)
{
	struct dmac_lease_table *t = make();
	struct dmac_lease_info a, b, x;
	struct snap s;

	CHECK_RC(dmac_lease_tenant_add(t, 1, 10, DMAC_LEASE_UNLIMITED), 0);
	CHECK_RC(dmac_lease_tenant_add(t, 2, 10, DMAC_LEASE_UNLIMITED), 0);
	CHECK_RC(dmac_lease_create(t, 1, 0x100000, MB, RW, (void *)11, &a), 0);
	CHECK_RC(dmac_lease_create(t, 2, 0x100000, MB, RW, (void *)22, &b), 0);
	CHECK(a.id != b.id && a.id && b.id && b.generation == a.generation + 1);
	snapshot(t, &s);
	/* Another tenant's id answers exactly like an unknown id. */
	CHECK_RC(dmac_lease_lookup(t, 2, a.id, &x), -ENOENT);
	CHECK_RC(dmac_lease_remove(t, 2, a.id, &x), -ENOENT);
	CHECK_RC(dmac_lease_lookup(t, 2, a.id ^ 1, &x), -ENOENT);
	CHECK_RC(dmac_lease_remove(t, 2, a.id ^ 1, &x), -ENOENT);
	CHECK_RC(dmac_lease_lookup(t, 1, 0, &x), -ENOENT);
	CHECK_RC(dmac_lease_remove(t, 1, 0, &x), -ENOENT);
	CHECK_RC(dmac_lease_remove(t, 3, a.id, &x), -ENOENT);
	CHECK_RC(dmac_lease_remove(t, DMAC_LEASE_TENANT_ANY, a.id, &x), -EINVAL);
	same_as(t, &s);
	CHECK_RC(dmac_lease_lookup(t, DMAC_LEASE_TENANT_ANY, a.id, &x), 0);
	CHECK(x.tenant == 1 && x.priv == (void *)11);
	CHECK_RC(dmac_lease_lookup(t, 1, a.id, &x), 0);
	CHECK(info_eq(&x, &a));
	CHECK_RC(dmac_lease_remove(t, 1, a.id, &x), 0);
	CHECK(info_eq(&x, &a));
	CHECK_RC(dmac_lease_remove(t, 1, a.id, &x), -ENOENT);
	CHECK_RC(dmac_lease_lookup(t, DMAC_LEASE_TENANT_ANY, a.id, &x), -ENOENT);
	/* The same IOVA leased again gets a new generation: the old one is stale. */
	CHECK_RC(dmac_lease_create(t, 1, 0x100000, MB, RW, NULL, &x), 0);
	CHECK(x.iova == a.iova && x.generation > b.generation && x.id != a.id);
	CONSISTENT(t);
	dmac_lease_table_destroy(t);
}

static int info_eq(const struct dmac_lease_info *x, const struct dmac_lease_info *y)
{
	return x->id == y->id && x->tenant == y->tenant && x->iova == y->iova &&
	       x->length == y->length && x->generation == y->generation && x->prot == y->prot &&
	       x->priv == y->priv;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void test_many_ids(void)
{
	enum { N = 100000 };
	struct dmac_lease_table *t = make();
	uint64_t *ids = malloc(N * sizeof(*ids)), all_or = 0, all_and = UINT64_MAX;
	struct dmac_lease_stats st;
	struct dmac_lease_info li;

	CHECK(ids);
	CHECK_RC(dmac_lease_tenant_add(t, 7, DMAC_LEASE_UNLIMITED, DMAC_LEASE_UNLIMITED), 0);
	for (uint64_t i = 0; i < N; i++) {
		CHECK_RC(dmac_lease_create(t, 7, i << 12, 4096, RW, NULL, &li), 0);
		CHECK(li.id != 0 && li.generation == i + 1);
		ids[i] = li.id;
		all_or |= li.id;
		all_and &= li.id;
	}
	CONSISTENT(t);
	/* Every bit of the id varies: ids use all 64 bits (p(fail) ~ 64 * 2^-100000). */
	CHECK(all_or == UINT64_MAX && all_and == 0);
	qsort(ids, N, sizeof(*ids), cmp_u64);
	for (size_t i = 1; i < N; i++)
		CHECK(ids[i] != ids[i - 1]);
	for (size_t i = 0; i < N; i++) {
		CHECK_RC(dmac_lease_lookup(t, 7, ids[i], &li), 0);
		CHECK(li.id == ids[i] && li.iova == (li.generation - 1) << 12);
	}
	for (size_t i = 0; i < N; i += 2)
		CHECK_RC(dmac_lease_remove(t, 7, ids[i], NULL), 0);
	dmac_lease_stats(t, &st);
	CHECK(st.leases == N / 2 && st.generation == N);
	CONSISTENT(t);
	free(ids);
	dmac_lease_table_destroy(t);
}

/* A scripted random source: returns the queued values, then an error. */
struct script {
	uint64_t v[8];
	int n, pos, err;
};

static int scripted(void *arg, void *buf, size_t len)
{
	struct script *s = arg;

	CHECK(len == sizeof(uint64_t));
	if (s->pos >= s->n)
		return s->err;
	memcpy(buf, &s->v[s->pos++], len);
	return 0;
}

static void test_random_source(void)
{
	struct dmac_lease_table *t = make();
	struct script sc = {.v = {0x1234, 0, 0x1234, 0x5678}, .n = 4, .err = -EIO};
	struct dmac_lease_stats st;
	struct dmac_lease_info li;
	struct snap s;

	CHECK_RC(dmac_lease_tenant_add(t, 1, 10, DMAC_LEASE_UNLIMITED), 0);
	dmac__lease_set_random(t, scripted, &sc);
	CHECK_RC(dmac_lease_create(t, 1, 0, 4096, RW, NULL, &li), 0);
	CHECK(li.id == 0x1234);
	/* 0 is rejected, then a collision with 0x1234, then 0x5678 is taken. */
	CHECK_RC(dmac_lease_create(t, 1, 0, 4096, RW, NULL, &li), 0);
	CHECK(li.id == 0x5678);
	dmac_lease_stats(t, &st);
	CHECK(st.id_retries == 2);
	/* A failing source: its error comes back and nothing changes. */
	snapshot(t, &s);
	sc.err = -ENOSYS;
	CHECK_RC(dmac_lease_create(t, 1, 0, 4096, RW, NULL, &li), -ENOSYS);
	same_as(t, &s);
	/* A source stuck on a used value is reported as broken (-EIO) after bounded retries. */
	sc.pos = 0;
	sc.n = 8;
	for (int i = 0; i < 8; i++)
		sc.v[i] = 0x5678;
	sc.err = 0;
	CHECK_RC(dmac_lease_create(t, 1, 0, 4096, RW, NULL, &li), -EIO);
	same_as(t, &s);
	/* Back to getrandom(). */
	dmac__lease_set_random(t, NULL, NULL);
	CHECK_RC(dmac_lease_create(t, 1, 0, 4096, RW, NULL, &li), 0);
	CHECK(li.id != 0x1234 && li.id != 0x5678 && li.id != 0);
	dmac_lease_table_destroy(t);
}

struct walk {
	struct dmac_lease_table *t;
	uint64_t tenant;
	uint64_t gens[64];
	int n;
	int remove;
	int stop_at;
};

static int walker(void *arg, const struct dmac_lease_info *li)
{
	struct walk *w = arg;

	CHECK(li->tenant == w->tenant && w->n < 64);
	w->gens[w->n++] = li->generation;
	if (w->remove)
		CHECK_RC(dmac_lease_remove(w->t, li->tenant, li->id, NULL), 0);
	return w->n == w->stop_at ? 7 : 0;
}

static void test_foreach(void)
{
	struct dmac_lease_table *t = make();
	struct dmac_lease_tenant_stats ts;
	struct walk w = {.t = t};
	int i;

	CHECK_RC(dmac_lease_tenant_add(t, 1, 100, DMAC_LEASE_UNLIMITED), 0);
	CHECK_RC(dmac_lease_tenant_add(t, 2, 100, DMAC_LEASE_UNLIMITED), 0);
	CHECK_RC(dmac_lease_tenant_add(t, 3, 100, DMAC_LEASE_UNLIMITED), 0);
	for (i = 0; i < 30; i++)
		CHECK_RC(dmac_lease_create(t, 1 + (uint64_t)(i % 2), (uint64_t)i << 21, 4096, RW,
					   NULL, NULL),
			 0);
	CHECK_RC(dmac_lease_foreach_tenant(t, 9, walker, &w), -ENOENT);
	CHECK(w.n == 0);
	w.tenant = 3;
	CHECK_RC(dmac_lease_foreach_tenant(t, 3, walker, &w), 0);
	CHECK(w.n == 0);
	/* Tenant 2 owns the odd generations (2, 4, ...), oldest first. */
	w.tenant = 2;
	CHECK_RC(dmac_lease_foreach_tenant(t, 2, walker, &w), 0);
	CHECK(w.n == 15);
	for (i = 0; i < 15; i++)
		CHECK(w.gens[i] == 2 + 2 * (uint64_t)i);
	w.n = 0;
	w.stop_at = 4;
	CHECK_RC(dmac_lease_foreach_tenant(t, 2, walker, &w), 7);
	CHECK(w.n == 4);
	/* Reclaim: remove every lease of tenant 1 while walking. */
	w.n = 0;
	w.stop_at = 0;
	w.tenant = 1;
	w.remove = 1;
	CHECK_RC(dmac_lease_foreach_tenant(t, 1, walker, &w), 0);
	CHECK(w.n == 15);
	CHECK_RC(dmac_lease_tenant_stats(t, 1, &ts), 0);
	CHECK(ts.leases == 0 && ts.bytes == 0);
	CHECK_RC(dmac_lease_tenant_stats(t, 2, &ts), 0);
	CHECK(ts.leases == 15 && ts.bytes == 15 * 4096);
	CONSISTENT(t);
	CHECK_RC(dmac_lease_tenant_remove(t, 1), 0);
	dmac_lease_table_destroy(t);
}

static void test_faults(void)
{
	int64_t base = dmac__alloc_outstanding();
	struct dmac_lease_table *t;
	struct dmac_lease_info li;
	struct snap s;
	uint64_t n;
	int rc, fired, i;

	for (n = 1;; n++) {
		t = NULL;
		dmac__fault_alloc_arm(n);
		rc = dmac_lease_table_create(&t);
		fired = dmac__fault_alloc_fired();
		dmac__fault_alloc_arm(0);
		if (!rc) {
			CHECK(!fired);
			break;
		}
		CHECK_RC(rc, -ENOMEM);
		CHECK(fired && !t && dmac__alloc_outstanding() == base);
	}
	CHECK(n == 4);
	/* Tenant adds across a hash growth (the 17th tenant). */
	for (i = 0; i < 24; i++) {
		for (n = 1;; n++) {
			snapshot(t, &s);
			dmac__fault_alloc_arm(n);
			rc = dmac_lease_tenant_add(t, 1 + (uint64_t)i, 1000, DMAC_LEASE_UNLIMITED);
			fired = dmac__fault_alloc_fired();
			dmac__fault_alloc_arm(0);
			CONSISTENT(t);
			if (!rc && !fired)
				break;
			if (rc) {
				CHECK_RC(rc, -ENOMEM);
				same_as(t, &s);
			} else {
				/* a failed growth is absorbed: undo to retry the same case */
				CHECK_RC(dmac_lease_tenant_remove(t, 1 + (uint64_t)i), 0);
			}
		}
	}
	/* Lease creations across growths of the lease hash. */
	for (i = 0; i < 40; i++) {
		for (n = 1;; n++) {
			snapshot(t, &s);
			dmac__fault_alloc_arm(n);
			rc = dmac_lease_create(t, 1 + (uint64_t)(i % 3), (uint64_t)i << 12, 4096,
					       RW, NULL, &li);
			fired = dmac__fault_alloc_fired();
			dmac__fault_alloc_arm(0);
			CONSISTENT(t);
			if (!rc && !fired)
				break;
			if (rc) {
				CHECK_RC(rc, -ENOMEM);
				same_as(t, &s);
			} else {
				CHECK_RC(dmac_lease_remove(t, 1 + (uint64_t)(i % 3), li.id, NULL),
					 0);
			}
		}
	}
	/* Removal never allocates. */
	dmac__fault_alloc_arm(1);
	CHECK_RC(dmac_lease_remove(t, 1 + (uint64_t)(39 % 3), li.id, NULL), 0);
	CHECK_RC(dmac_lease_tenant_remove(t, 24), 0);
	fired = dmac__fault_alloc_fired();
	dmac__fault_alloc_arm(0);
	CHECK(!fired);
	CONSISTENT(t);
	dmac_lease_table_destroy(t);
	CHECK(dmac__alloc_outstanding() == base);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();

	test_tenants();
	test_create_errors_quotas();
	test_isolation();
	test_many_ids();
	test_random_source();
	test_foreach();
	test_faults();
	CHECK(dmac__alloc_outstanding() == base);
	printf("lease: all tests passed\n");
	return 0;
}
