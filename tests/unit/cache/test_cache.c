/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of dmac_cache.
 *
 * Invariants of this file: every cache is checked with dmac__cache_check()
 * after calls that may fail; the eviction callback records evicted areas in
 * order in 'evicted' (by their priv value); main() checks that
 * dmac__alloc_outstanding() returns to its starting value. Ranges are
 * [offset, offset + length), end exclusive.
 *
 * The randomized model test is seeded: DMAC_TEST_SEED=<n> reproduces it, and
 * the seed is printed on failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/cache.h"
#include "dmac_alloc.h"

/* CHECK and CHECK_RC abort at the first failure, printing the seed (see ../check.h). */
#define CHECK_ABORT
#define CHECK_SEED g_seed
#include "../check.h"

#define MB     (UINT64_C(1) << 20)
#define ARR(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t g_seed;

#define CONSISTENT(c) CHECK_RC(dmac__cache_check(c), 0)

static uintptr_t evicted[4096];
static size_t nevicted;
static uint64_t evicted_bytes;

static void on_evict(void *arg, const struct dmac_cache_area_info *info)
{
	CHECK(arg == &evicted);
	CHECK(info->refs == 0);
	CHECK(nevicted < ARR(evicted));
	evicted[nevicted++] = (uintptr_t)info->priv;
	evicted_bytes += info->range.length;
}

static void reset_evicted(void)
{
	nevicted = 0;
	evicted_bytes = 0;
}

static struct dmac_cache_range rng(struct dmac_backing b, uint64_t off, uint64_t len, uint64_t va)
{
	struct dmac_cache_range r = {b, off, len, va};

	return r;
}

static struct dmac_cache *make(uint64_t budget)
{
	struct dmac_cache *c = NULL;

	CHECK_RC(dmac_cache_create(budget, on_evict, &evicted, &c), 0);
	CHECK(c);
	CONSISTENT(c);
	return c;
}

static int stats_equal(const struct dmac_cache *c, const struct dmac_cache_stats *x)
{
	struct dmac_cache_stats y;

	dmac_cache_stats(c, &y);
	return memcmp(x, &y, sizeof(y)) == 0;
}

static void test_insert_find(void)
{
	struct dmac_backing f = dmac_backing_file(8, 100), g = dmac_backing_file(8, 101);
	struct dmac_backing id = dmac_backing_id(100);
	struct dmac_cache *c = NULL;
	struct dmac_cache_area *a, *b, *x;
	struct dmac_cache_area_info info;
	struct dmac_cache_stats st, before;
	struct dmac_cache_range r;
	uint64_t iova;

	CHECK_RC(dmac_cache_create(0, NULL, NULL, &c), -EINVAL);
	CHECK_RC(dmac_cache_create(0, on_evict, NULL, NULL), -EINVAL);
	CHECK(c == NULL);
	c = make(UINT64_MAX);
	reset_evicted();

	r = rng(f, 4 * MB, 4 * MB, 0x7f0000000000);
	CHECK_RC(dmac_cache_insert(c, &r, 0x40000000, (void *)1, &a), 0);
	dmac_cache_area_info(a, &info);
	CHECK(info.refs == 1 && info.iova == 0x40000000 && info.priv == (void *)1);
	CHECK(info.range.offset == 4 * MB && info.range.length == 4 * MB);
	/* Adjacent on both sides is fine; same offsets in another object too. */
	r = rng(f, 8 * MB, 2 * MB, 0x7f0000400000);
	CHECK_RC(dmac_cache_insert(c, &r, 0x80000000, (void *)2, &b), 0);
	r = rng(f, 0, 4 * MB, 0x7e0000000000);
	CHECK_RC(dmac_cache_insert(c, &r, 0xc0000000, (void *)3, NULL), 0);
	r = rng(g, 4 * MB, 4 * MB, 0x7d0000000000);
	CHECK_RC(dmac_cache_insert(c, &r, 0x100000000, (void *)4, NULL), 0);
	r = rng(id, 4 * MB, 4 * MB, 0x7c0000000000);
	CHECK_RC(dmac_cache_insert(c, &r, 0x140000000, (void *)5, NULL), 0);
	/* The very end of the offset space. */
	r = rng(g, UINT64_MAX - MB + 1, MB, 0x1000000);
	CHECK_RC(dmac_cache_insert(c, &r, 0x180000000, (void *)6, NULL), 0);
	CONSISTENT(c);

	dmac_cache_stats(c, &before);
	CHECK(before.areas == 6 && before.bytes_pinned == 4 * 4 * MB + 2 * MB + MB);
	CHECK(before.unref_areas == 0 && before.hits == 0 && before.misses == 0);

	/* Errors change nothing. */
	r = rng(f, 5 * MB, 0, 0);
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EINVAL);
	r = rng(f, UINT64_MAX - MB + 2, MB, 0); /* offset + length wraps */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EINVAL);
	r = rng(f, 64 * MB, MB, UINT64_MAX - MB + 2); /* va + length wraps */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EINVAL);
	r = rng(f, 64 * MB, MB, 0);
	CHECK_RC(dmac_cache_insert(c, &r, UINT64_MAX - MB + 2, NULL, NULL), -EINVAL);
	CHECK_RC(dmac_cache_insert(c, NULL, 0, NULL, NULL), -EINVAL);
	r = rng(f, 4 * MB, 4 * MB, 0); /* exact */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EEXIST);
	r = rng(f, 3 * MB, 2 * MB, 0); /* straddles two */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EEXIST);
	r = rng(f, 9 * MB, 2 * MB, 0); /* tail overlap */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EEXIST);
	r = rng(f, 5 * MB, MB, 0); /* inside */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EEXIST);
	r = rng(f, 0, 64 * MB, 0); /* contains all */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EEXIST);
	r = rng(g, UINT64_MAX, 1, 0); /* last byte of the offset space */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, NULL), -EEXIST);
	CHECK_RC(dmac_cache_find(c, f, 0, 0, &x, &iova), -EINVAL);
	CHECK_RC(dmac_cache_find(c, f, UINT64_MAX, 2, &x, &iova), -EINVAL);
	CHECK(stats_equal(c, &before));
	CONSISTENT(c);

	/* Hits: exact, inside, at the end, at the end of the offset space. */
	CHECK_RC(dmac_cache_find(c, f, 4 * MB, 4 * MB, &x, &iova), 0);
	CHECK(x == a && iova == 0x40000000);
	CHECK_RC(dmac_cache_find(c, f, 5 * MB + 4096, 4096, &x, &iova), 0);
	CHECK(x == a && iova == 0x40000000 + MB + 4096);
	CHECK_RC(dmac_cache_find(c, f, 10 * MB - 1, 1, &x, &iova), 0);
	CHECK(x == b && iova == 0x80000000 + 2 * MB - 1);
	CHECK_RC(dmac_cache_find(c, g, UINT64_MAX, 1, NULL, &iova), 0);
	CHECK(iova == 0x180000000 + MB - 1);
	CHECK_RC(dmac_cache_find(c, id, 4 * MB, 1, NULL, &iova), 0);
	CHECK(iova == 0x140000000);
	dmac_cache_area_info(a, &info);
	CHECK(info.refs == 3);
	/* Misses: across two adjacent areas, past the end, before, other object. */
	CHECK_RC(dmac_cache_find(c, f, 7 * MB, 2 * MB, &x, &iova), -ENOENT);
	CHECK_RC(dmac_cache_find(c, f, 10 * MB, 1, &x, &iova), -ENOENT);
	CHECK_RC(dmac_cache_find(c, g, 0, MB, &x, &iova), -ENOENT);
	CHECK_RC(dmac_cache_find(c, dmac_backing_id(101), 4 * MB, 1, &x, &iova), -ENOENT);
	CHECK_RC(dmac_cache_find(c, dmac_backing_file(DMAC_BACKING_DEV_ID - 1, 100), 4 * MB, 1, &x,
				 &iova),
		 -ENOENT);
	dmac_cache_stats(c, &st);
	CHECK(st.hits == 5 && st.misses == 5);

	/* References: put to zero joins the LRU, a hit leaves it. */
	CHECK_RC(dmac_cache_put(c, a), 0);
	CHECK_RC(dmac_cache_put(c, a), 0);
	CHECK_RC(dmac_cache_put(c, a), 0);
	dmac_cache_stats(c, &before);
	CHECK(before.unref_areas == 1 && before.bytes_unref == 4 * MB);
	CHECK_RC(dmac_cache_put(c, a), -EINVAL);
	CHECK(stats_equal(c, &before));
	CONSISTENT(c);
	CHECK_RC(dmac_cache_evict(c, b), -EBUSY);
	CHECK(stats_equal(c, &before));
	dmac_cache_get(c, a);
	dmac_cache_stats(c, &st);
	CHECK(st.unref_areas == 0);
	CHECK_RC(dmac_cache_put(c, a), 0);
	CHECK_RC(dmac_cache_evict(c, a), 0);
	CHECK(nevicted == 1 && evicted[0] == 1);
	CHECK_RC(dmac_cache_find(c, f, 4 * MB, 1, &x, &iova), -ENOENT);
	dmac_cache_stats(c, &st);
	CHECK(st.evictions == 1 && st.areas == 5);
	CONSISTENT(c);
	/* Destroy with areas left calls no callback. */
	dmac_cache_destroy(c);
	CHECK(nevicted == 1);
	dmac_cache_destroy(NULL);
}

/* LRU order: eviction takes the least recently released area first. */
static void test_lru_budget(void)
{
	struct dmac_backing f = dmac_backing_id(7);
	struct dmac_cache_area *ar[8];
	struct dmac_cache_stats st;
	struct dmac_cache_range r;
	struct dmac_cache *c = make(UINT64_MAX);
	static const int put_order[] = {2, 0, 4, 1, 3};
	int i;

	reset_evicted();
	for (i = 0; i < 5; i++) {
		r = rng(f, (uint64_t)i * 2 * MB, MB, 0x10000000 + (uint64_t)i * MB);
		CHECK_RC(dmac_cache_insert(c, &r, (uint64_t)i << 30, (void *)(uintptr_t)i, &ar[i]),
			 0);
	}
	for (i = 0; i < 5; i++)
		CHECK_RC(dmac_cache_put(c, ar[put_order[i]]), 0);
	/* A hit on 0 takes it off the LRU; releasing it makes it the newest. */
	CHECK_RC(dmac_cache_find(c, f, 0, 1, NULL, NULL), 0);
	CHECK_RC(dmac_cache_put(c, ar[0]), 0);
	CONSISTENT(c);
	CHECK(nevicted == 0);
	/* LRU is now 2, 4, 1, 3, 0. A budget of 2 areas evicts 2, 4, 1. */
	dmac_cache_set_budget(c, 2 * MB);
	CHECK(nevicted == 3 && evicted[0] == 2 && evicted[1] == 4 && evicted[2] == 1);
	CONSISTENT(c);
	/* A new (referenced) area pushes the oldest unreferenced one out. */
	r = rng(f, 100 * MB, MB, 0x20000000);
	CHECK_RC(dmac_cache_insert(c, &r, 1ull << 40, (void *)5, &ar[5]), 0);
	CHECK(nevicted == 4 && evicted[3] == 3);
	/* Budget 0: every unreferenced area goes; the referenced one stays. */
	dmac_cache_set_budget(c, 0);
	CHECK(nevicted == 5 && evicted[4] == 0);
	dmac_cache_stats(c, &st);
	CHECK(st.areas == 1 && st.bytes_pinned == MB && st.budget == 0 && st.evictions == 5);
	CONSISTENT(c); /* over budget, but nothing is evictable */
	/* More references beyond the budget are still fine. */
	r = rng(f, 200 * MB, MB, 0x30000000);
	CHECK_RC(dmac_cache_insert(c, &r, 2ull << 40, (void *)6, &ar[6]), 0);
	CHECK(nevicted == 5);
	/* Releasing the last reference over budget evicts at once. */
	CHECK_RC(dmac_cache_put(c, ar[5]), 0);
	CHECK(nevicted == 6 && evicted[5] == 5);
	dmac_cache_set_budget(c, UINT64_MAX);
	CHECK_RC(dmac_cache_put(c, ar[6]), 0);
	CHECK(nevicted == 6);
	dmac_cache_stats(c, &st);
	CHECK(st.unref_areas == 1 && st.bytes_pinned == MB);
	CHECK(dmac_cache_evict_all(c) == 1);
	CHECK(nevicted == 7 && evicted[6] == 6);
	CHECK(dmac_cache_evict_all(c) == 0);
	dmac_cache_stats(c, &st);
	CHECK(st.areas == 0 && st.bytes_pinned == 0 && st.bytes_unref == 0);
	CONSISTENT(c);
	dmac_cache_destroy(c);
}

struct walk {
	struct dmac_cache *c;
	uint64_t seen[16];
	int n;
	int stop_at;
	int evict;
};

static int walker(void *arg, struct dmac_cache_area *area, const struct dmac_cache_area_info *info)
{
	struct walk *w = arg;

	CHECK(w->n < 16);
	w->seen[w->n++] = (uint64_t)(uintptr_t)info->priv;
	if (w->evict) {
		if (info->refs)
			CHECK_RC(dmac_cache_put(w->c, area), 0); /* may evict it (budget 0) */
		else
			CHECK_RC(dmac_cache_evict(w->c, area), 0);
	}
	return w->n == w->stop_at ? 42 : 0;
}

static void test_foreach(void)
{
	struct dmac_cache *c = make(UINT64_MAX);
	struct dmac_cache_range r;
	struct walk w = {.c = c};
	struct dmac_cache_stats st;
	static const uint64_t ino[] = {3, 1, 2, 1, 3};
	static const uint64_t off[] = {0, 8, 0, 0, 8};
	int i;

	reset_evicted();
	for (i = 0; i < 5; i++) {
		r = rng(dmac_backing_file(1, ino[i]), off[i] * MB, MB, 0);
		CHECK_RC(dmac_cache_insert(c, &r, 0, (void *)(uintptr_t)(i + 1), NULL), 0);
	}
	/* Order: (1,0)=4, (1,8)=2, (2,0)=3, (3,0)=1, (3,8)=5. */
	CHECK_RC(dmac_cache_foreach(c, walker, &w), 0);
	CHECK(w.n == 5 && w.seen[0] == 4 && w.seen[1] == 2 && w.seen[2] == 3 && w.seen[3] == 1 &&
	      w.seen[4] == 5);
	w.n = 0;
	w.stop_at = 2;
	CHECK_RC(dmac_cache_foreach(c, walker, &w), 42);
	CHECK(w.n == 2);
	/* Shutdown walk: drop each reference, which evicts under budget 0. */
	dmac_cache_set_budget(c, 0);
	w.n = 0;
	w.stop_at = 0;
	w.evict = 1;
	CHECK_RC(dmac_cache_foreach(c, walker, &w), 0);
	CHECK(w.n == 5 && nevicted == 5);
	dmac_cache_stats(c, &st);
	CHECK(st.areas == 0);
	CONSISTENT(c);
	dmac_cache_destroy(c);
}

/* foreach_overlap visits exactly the areas of one backing that overlap a range. */
static void test_foreach_overlap(void)
{
	struct dmac_cache *c = make(UINT64_MAX);
	struct dmac_backing f = dmac_backing_file(1, 7), g = dmac_backing_file(1, 8);
	struct dmac_cache_range r;
	struct walk w = {.c = c};
	/* f: [0,1M)=1 [2M,4M)=2 [4M,5M)=3 [8M,9M)=4; g: [0,16M)=5 */
	static const uint64_t off[] = {0, 2, 4, 8}, len[] = {1, 2, 1, 1};

	reset_evicted();
	for (int i = 0; i < 4; i++) {
		r = rng(f, off[i] * MB, len[i] * MB, 0);
		CHECK_RC(dmac_cache_insert(c, &r, 0, (void *)(uintptr_t)(i + 1), NULL), 0);
	}
	r = rng(g, 0, 16 * MB, 0);
	CHECK_RC(dmac_cache_insert(c, &r, 0, (void *)(uintptr_t)5, NULL), 0);
	/* [3M, 4M + 1): 2 (starts before) and 3 */
	CHECK_RC(dmac_cache_foreach_overlap(c, f, 3 * MB, MB + 1, walker, &w), 0);
	CHECK(w.n == 2 && w.seen[0] == 2 && w.seen[1] == 3);
	/* [1M, 2M): touches none (end exclusive, area 1 ends at 1M) */
	w.n = 0;
	CHECK_RC(dmac_cache_foreach_overlap(c, f, MB, MB, walker, &w), 0);
	CHECK(w.n == 0);
	/* everything of f, nothing of g */
	w.n = 0;
	CHECK_RC(dmac_cache_foreach_overlap(c, f, 0, UINT64_MAX, walker, &w), 0);
	CHECK(w.n == 4 && w.seen[0] == 1 && w.seen[3] == 4);
	/* the callback may evict as it goes */
	w.n = 0;
	w.evict = 1;
	CHECK_RC(dmac_cache_foreach_overlap(c, f, 0, 9 * MB, walker, &w), 0);
	CHECK(w.n == 4);
	w.evict = 0;
	CHECK_RC(dmac_cache_foreach_overlap(c, f, 0, 2, walker, &w), 0);
	CHECK_RC(dmac_cache_foreach_overlap(c, f, 1, 0, walker, &w), -EINVAL);
	CHECK_RC(dmac_cache_foreach_overlap(c, f, UINT64_MAX, 2, walker, &w), -EINVAL);
	CONSISTENT(c);
	dmac_cache_evict_all(c);
	dmac_cache_destroy(c);
}

static void test_coalesce(void)
{
	struct dmac_backing f = dmac_backing_id(1), g = dmac_backing_id(2);
	struct dmac_cache_range in[8], out[8];
	size_t n = 99;

	/* f: [0,2M)@A [2M,4M)@A+2M [4M,6M)@elsewhere [6M,8M) contiguous with it; g: one. */
	in[0] = rng(f, 2 * MB, 2 * MB, 0x10200000);
	in[1] = rng(g, 0, MB, 0x90000000);
	in[2] = rng(f, 0, 2 * MB, 0x10000000);
	in[3] = rng(f, 6 * MB, 2 * MB, 0x50200000);
	in[4] = rng(f, 4 * MB, 2 * MB, 0x50000000);
	in[5] = rng(f, 9 * MB, MB, 0x50500000); /* gap in offset: separate */
	CHECK_RC(dmac_cache_coalesce(in, 6, out, &n), 0);
	CHECK(n == 4);
	CHECK(out[0].offset == 0 && out[0].length == 4 * MB && out[0].va == 0x10000000);
	CHECK(out[1].offset == 4 * MB && out[1].length == 4 * MB && out[1].va == 0x50000000);
	CHECK(out[2].offset == 9 * MB && out[2].length == MB);
	CHECK(out[3].backing.ino == 2 && out[3].length == MB);
	/* In place. */
	CHECK_RC(dmac_cache_coalesce(in, 6, in, &n), 0);
	CHECK(n == 4 && memcmp(in, out, 4 * sizeof(in[0])) == 0);
	/* Errors leave *nout alone. */
	n = 99;
	CHECK_RC(dmac_cache_coalesce(in, 0, out, &n), -EINVAL);
	in[0] = rng(f, 0, 2 * MB, 0);
	in[1] = rng(f, MB, 2 * MB, 0); /* overlap */
	CHECK_RC(dmac_cache_coalesce(in, 2, out, &n), -EINVAL);
	in[1] = rng(f, 2 * MB, 0, 0); /* length 0 */
	CHECK_RC(dmac_cache_coalesce(in, 2, out, &n), -EINVAL);
	in[1] = rng(f, UINT64_MAX, 2, 0); /* offset wraps */
	CHECK_RC(dmac_cache_coalesce(in, 2, out, &n), -EINVAL);
	in[1] = rng(f, 2 * MB, 2, UINT64_MAX); /* va wraps */
	CHECK_RC(dmac_cache_coalesce(in, 2, out, &n), -EINVAL);
	CHECK(n == 99);
	/* Up to the end of both spaces; VA contiguity does not wrap around. */
	in[0] = rng(f, UINT64_MAX - 2 * MB + 1, MB, UINT64_MAX - MB + 1);
	in[1] = rng(f, UINT64_MAX - MB + 1, MB, 0);
	CHECK_RC(dmac_cache_coalesce(in, 2, out, &n), 0);
	CHECK(n == 2);
	in[1].va = UINT64_MAX - MB + 1;
	in[0].va = UINT64_MAX - 2 * MB + 1;
	CHECK_RC(dmac_cache_coalesce(in, 2, out, &n), 0);
	CHECK(n == 1 && out[0].length == 2 * MB && out[0].offset == UINT64_MAX - 2 * MB + 1);
}

static void test_faults(void)
{
	struct dmac_cache *c;
	struct dmac_cache_stats before;
	struct dmac_cache_area *a;
	struct dmac_cache_range r = rng(dmac_backing_id(1), 0, MB, 0);
	int64_t base = dmac__alloc_outstanding();
	uint64_t n;
	int rc, fired;

	for (n = 1;; n++) {
		c = NULL;
		dmac__fault_alloc_arm(n);
		rc = dmac_cache_create(MB, on_evict, &evicted, &c);
		fired = dmac__fault_alloc_fired();
		dmac__fault_alloc_arm(0);
		if (!rc) {
			CHECK(!fired);
			break;
		}
		CHECK_RC(rc, -ENOMEM);
		CHECK(fired && c == NULL && dmac__alloc_outstanding() == base);
	}
	/* Insert into a cache whose budget forces an eviction: a failed insert evicts nothing. */
	CHECK_RC(dmac_cache_insert(c, &r, 0, NULL, &a), 0);
	CHECK_RC(dmac_cache_put(c, a), 0);
	reset_evicted();
	r.offset = 4 * MB;
	for (n = 1;; n++) {
		dmac_cache_stats(c, &before);
		dmac__fault_alloc_arm(n);
		rc = dmac_cache_insert(c, &r, MB, NULL, &a);
		fired = dmac__fault_alloc_fired();
		dmac__fault_alloc_arm(0);
		CONSISTENT(c);
		if (!rc) {
			CHECK(!fired);
			break;
		}
		CHECK_RC(rc, -ENOMEM);
		CHECK(fired && nevicted == 0 && stats_equal(c, &before));
	}
	CHECK(nevicted == 1);
	CHECK_RC(dmac_cache_put(c, a), 0);
	CHECK(nevicted == 1); /* exactly at budget */
	dmac_cache_destroy(c);
	CHECK(dmac__alloc_outstanding() == base);
}

/*
 * Randomized model test: the model keeps every area with its refcount and the
 * time of its last release; the cache must evict exactly the unreferenced
 * areas with the oldest release times while over budget.
 */
#define MAXA 64

struct marea {
	int live;
	uint64_t off, len, refs, released;
	struct dmac_cache_area *h;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void model_enforce(struct marea *m, uint64_t budget, uint64_t *pinned, uintptr_t *exp,
			  size_t *nexp)
{
	while (*pinned > budget) {
		int best = -1;

		for (int i = 0; i < MAXA; i++)
			if (m[i].live && !m[i].refs &&
			    (best < 0 || m[i].released < m[best].released))
				best = i;
		if (best < 0)
			return;
		m[best].live = 0;
		*pinned -= m[best].len;
		exp[(*nexp)++] = (uintptr_t)best + 1;
	}
}

static void test_model(uint64_t seed, unsigned long ops)
{
	static struct marea m[MAXA];
	static uintptr_t exp[1 << 20];
	struct dmac_backing b = dmac_backing_id(9);
	struct dmac_cache *c = make(16 * MB);
	struct dmac_cache_stats st;
	uint64_t budget = 16 * MB, pinned = 0, clock = 0, hits = 0, misses = 0;
	size_t nexp = 0;
	unsigned long op;

	g_seed = seed;
	rng_state = seed;
	memset(m, 0, sizeof(m));
	reset_evicted();
	for (op = 0; op < ops; op++) {
		int i = (int)(rnd() % MAXA), k = (int)(rnd() % 100);
		struct marea *x = &m[i];

		/* Slot i covers offsets [i * 4M, (i + 1) * 4M); areas are 1..4 MiB. */
		if (k < 35) {
			uint64_t iova;
			struct dmac_cache_area *h;
			uint64_t o = (uint64_t)i * 4 * MB + rnd() % (4 * MB);
			int rc = dmac_cache_find(c, b, o, 1, &h, &iova);

			if (x->live && o < x->off + x->len) {
				CHECK_RC(rc, 0);
				CHECK(h == x->h && iova == (uint64_t)i * MB * 1024 + (o - x->off));
				x->refs++;
				hits++;
			} else {
				CHECK_RC(rc, -ENOENT);
				misses++;
			}
		} else if (k < 60) {
			uint64_t len = (1 + rnd() % 4) * MB;
			struct dmac_cache_range r = rng(b, (uint64_t)i * 4 * MB, len, 0);
			int rc = dmac_cache_insert(c, &r, (uint64_t)i * MB * 1024,
						   (void *)(uintptr_t)(i + 1), &x->h);

			if (x->live) {
				CHECK_RC(rc, -EEXIST);
			} else {
				CHECK_RC(rc, 0);
				x->live = 1;
				x->off = r.offset;
				x->len = len;
				x->refs = 1;
				pinned += len;
				model_enforce(m, budget, &pinned, exp, &nexp);
			}
		} else if (k < 95) {
			if (!x->live || !x->refs)
				continue;
			CHECK_RC(dmac_cache_put(c, x->h), 0);
			if (--x->refs == 0) {
				x->released = ++clock;
				model_enforce(m, budget, &pinned, exp, &nexp);
			}
		} else if (k < 98) {
			budget = (rnd() % 64) * MB;
			dmac_cache_set_budget(c, budget);
			model_enforce(m, budget, &pinned, exp, &nexp);
		} else if (x->live) {
			CHECK_RC(dmac_cache_evict(c, x->h), x->refs ? -EBUSY : 0);
			if (!x->refs) {
				x->live = 0;
				pinned -= x->len;
				exp[nexp++] = (uintptr_t)i + 1;
			}
		}
		CHECK(nexp == nevicted);
		CHECK(nexp < ARR(exp) && nevicted < ARR(evicted));
		for (size_t j = 0; j < nexp; j++)
			CHECK(exp[j] == evicted[j]);
		nexp = 0;
		reset_evicted();
		dmac_cache_stats(c, &st);
		CHECK(st.bytes_pinned == pinned && st.hits == hits && st.misses == misses);
		if ((op & 15) == 0)
			CONSISTENT(c);
	}
	CONSISTENT(c);
	dmac_cache_stats(c, &st);
	printf("model: %lu ops, %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " evictions\n", ops,
	       st.hits, st.misses, st.evictions);
	CHECK(st.hits > ops / 20 && st.evictions > ops / 100);
	for (int i = 0; i < MAXA; i++)
		while (m[i].live && m[i].refs--)
			CHECK_RC(dmac_cache_put(c, m[i].h), 0);
	dmac_cache_evict_all(c);
	dmac_cache_stats(c, &st);
	CHECK(st.areas == 0 && st.bytes_pinned == 0);
	dmac_cache_destroy(c);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();
	const char *env = getenv("DMAC_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : UINT64_C(0xcac4e);

	test_insert_find();
	test_lru_budget();
	test_foreach();
	test_foreach_overlap();
	test_coalesce();
	test_faults();
	test_model(seed, 100000);
	CHECK(dmac__alloc_outstanding() == base);
	printf("cache: all tests passed (seed %" PRIu64 ")\n", seed);
	return 0;
}
