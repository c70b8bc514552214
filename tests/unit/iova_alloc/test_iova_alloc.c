/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of dmac_iova_alloc.
 *
 * Invariants of this file: every allocator built here is checked with
 * dmac__iova_alloc_check() after each mutating call that may fail; every test
 * destroys what it created, and main() checks dmac__alloc_outstanding() is back
 * to its starting value. Ranges are inclusive [start, last]; lengths are bytes.
 *
 * The randomized tests are seeded: DMAC_TEST_SEED=<n> reproduces a run, and
 * the seed is printed on any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/iova_alloc.h"
#include "dmac_alloc.h"

/* CHECK and CHECK_RC abort at the first failure, printing the seed (see ../check.h). */
#define CHECK_ABORT
#define CHECK_SEED g_seed
#include "../check.h"

#define K4     UINT64_C(0x1000)
#define M2     UINT64_C(0x200000)
#define G1     UINT64_C(0x40000000)
#define ARR(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t g_seed;

#define CONSISTENT(a) CHECK_RC(dmac__iova_alloc_check(a), 0)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static int stats_equal(const struct dmac_iova_alloc_stats *x, const struct dmac_iova_alloc_stats *y)
{
	return memcmp(x, y, sizeof(*x)) == 0;
}

/* x86-like layout: [0, 0xfedfffff] and [0xfef00000, 2^48 - 1], MSI window between. */
static const struct dmac_iova_range x86_ranges[] = {
    {0xfef00000, (UINT64_C(1) << 48) - 1},
    {0, 0xfedfffff},
};

static struct dmac_iova_alloc *make(const struct dmac_iova_range *r, size_t n)
{
	struct dmac_iova_alloc *a = NULL;

	CHECK_RC(dmac_iova_alloc_create(r, n, &a), 0);
	CHECK(a);
	CONSISTENT(a);
	return a;
}

static void test_create(void)
{
	struct dmac_iova_alloc *a = NULL;
	struct dmac_iova_alloc_stats st;
	struct dmac_iova_range bad_order[] = {{0x2000, 0x1000}};
	struct dmac_iova_range overlap[] = {{0x10000, 0x1ffff}, {0x1f000, 0x2ffff}};
	struct dmac_iova_range overlap_unsorted[] = {{0x1f000, 0x2ffff}, {0x10000, 0x1ffff}};
	struct dmac_iova_range tiny[] = {{0x1001, 0x1ffe}, {0x3000, 0x3ffe}};
	struct dmac_iova_range all[] = {{0, UINT64_MAX}};
	struct dmac_iova_range adjacent[] = {{0x1800, 0x27ff}, {0x800, 0x17ff}};
	struct dmac_iova_range top[] = {{UINT64_MAX - 0x800, UINT64_MAX}};
	struct dmac_iova_range trim[] = {{0x10001, 0x20fff}, {0x30000, 0x40ffe}};

	CHECK_RC(dmac_iova_alloc_create(x86_ranges, 0, &a), -EINVAL);
	CHECK_RC(dmac_iova_alloc_create(NULL, 1, &a), -EINVAL);
	CHECK_RC(dmac_iova_alloc_create(bad_order, 1, &a), -EINVAL);
	CHECK_RC(dmac_iova_alloc_create(overlap, 2, &a), -EINVAL);
	CHECK_RC(dmac_iova_alloc_create(overlap_unsorted, 2, &a), -EINVAL);
	CHECK_RC(dmac_iova_alloc_create(tiny, 2, &a), -EINVAL);
	CHECK_RC(dmac_iova_alloc_create(top, 1, &a), -EINVAL);
	CHECK(a == NULL);

	/* Unsorted input is sorted. */
	a = make(x86_ranges, ARR(x86_ranges));
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.ranges == 2 && st.free_extents == 2 && st.allocations == 0);
	CHECK(st.bytes_allocated == 0);
	CHECK(st.bytes_free == (UINT64_C(1) << 48) - 0x100000);
	CHECK(st.largest_free == (UINT64_C(1) << 48) - 0xfef00000);
	CHECK(st.largest_free_start == 0xfef00000);
	dmac_iova_alloc_destroy(a);

	/* The whole 64-bit space: sizes saturate rather than wrap. */
	a = make(all, 1);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.bytes_free == UINT64_MAX && st.largest_free == UINT64_MAX);
	CHECK(st.free_extents == 1);
	dmac_iova_alloc_destroy(a);

	/* Two adjacent unaligned ranges merge, then trim to [0x1000, 0x1fff]. */
	a = make(adjacent, 2);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.ranges == 1 && st.bytes_free == K4 && st.largest_free_start == 0x1000);
	dmac_iova_alloc_destroy(a);

	/* Trimming inward to whole pages. */
	a = make(trim, 2);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.ranges == 2);
	CHECK(st.bytes_free == 0x10000 + 0x10000);
	dmac_iova_alloc_destroy(a);

	dmac_iova_alloc_destroy(NULL);
}

static void test_alloc_args(void)
{
	struct dmac_iova_alloc *a = make(x86_ranges, ARR(x86_ranges));
	struct dmac_iova_alloc_stats before, after;
	uint64_t iova = 0x1234, align;
	unsigned int shift;

	dmac_iova_alloc_stats(a, &before);
	CHECK_RC(dmac_iova_alloc_alloc(a, 0, 0, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, 100, 0, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4 + 1, 0, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, UINT64_MAX, 0, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 2048, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 3 * K4, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 1, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, UINT64_MAX, &iova), -EINVAL);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, K4, NULL), -EINVAL);
	/* Larger than the whole space, and an alignment no extent can meet. */
	CHECK_RC(dmac_iova_alloc_alloc(a, UINT64_MAX & ~(K4 - 1), K4, &iova), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_alloc(a, UINT64_C(1) << 48, K4, &iova), -ENOSPC);
	CHECK(iova == 0x1234);
	dmac_iova_alloc_stats(a, &after);
	CHECK(stats_equal(&before, &after));
	CONSISTENT(a);

	/* Every power-of-two alignment from 4 KiB to 2^47 is honoured. */
	for (shift = 12; shift <= 47; shift++) {
		align = UINT64_C(1) << shift;
		CHECK_RC(dmac_iova_alloc_alloc(a, K4, align, &iova), 0);
		CHECK((iova & (align - 1)) == 0);
		CHECK(iova + K4 - 1 <= 0xfedfffff || iova >= 0xfef00000);
		CONSISTENT(a);
	}
	/* 2^48 alignment: only IOVA 0 qualifies and it is taken by the first one. */
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, UINT64_C(1) << 48, &iova), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, UINT64_C(1) << 63, &iova), -ENOSPC);
	dmac_iova_alloc_stats(a, &after);
	CHECK(after.allocations == 36 && after.bytes_allocated == 36 * K4);
	dmac_iova_alloc_destroy(a);
}

static void test_default_alignment(void)
{
	/* Start the space at 4 KiB so a 4 KiB-aligned result is not 2 MiB aligned. */
	struct dmac_iova_range r[] = {{K4, 4 * G1 - 1}};
	struct dmac_iova_alloc *a = make(r, 1);
	uint64_t iova, len;

	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 0, &iova), 0);
	CHECK(iova == K4);
	CHECK_RC(dmac_iova_alloc_alloc(a, M2 - K4, 0, &iova), 0);
	CHECK(iova == 2 * K4); /* below 2 MiB: 4 KiB alignment */
	CHECK_RC(dmac_iova_alloc_alloc(a, M2, 0, &iova), 0);
	CHECK(iova == 2 * M2); /* [M2, 2 M2) has one page taken by the previous one */
	CHECK_RC(dmac_iova_alloc_alloc(a, 3 * M2 + K4, 0, &iova), 0);
	CHECK((iova & (M2 - 1)) == 0);
	CHECK_RC(dmac_iova_alloc_alloc(a, G1, DMAC_IOVA_ALIGN_1G, &iova), 0);
	CHECK(iova == G1);
	CHECK_RC(dmac_iova_alloc_lookup(a, G1 + 12345, &iova, &len), 0);
	CHECK(iova == G1 && len == G1);
	CHECK_RC(dmac_iova_alloc_lookup(a, 0, &iova, &len), -ENOENT);
	CHECK_RC(dmac_iova_alloc_lookup(a, 2 * G1, &iova, &len), -ENOENT);
	CONSISTENT(a);
	dmac_iova_alloc_destroy(a);
}

static void test_best_fit_and_holes(void)
{
	struct dmac_iova_alloc *a = make(x86_ranges, ARR(x86_ranges));
	struct dmac_iova_alloc_stats st;
	uint64_t iova, x[4];
	int i;

	/* Fill [0, 0xfedfffff] except for a 3-page hole and a 1-page hole. */
	CHECK_RC(dmac_iova_alloc_reserve(a, 0, 0x100000), 0);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x100000 + 3 * K4, K4), 0);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x100000 + 5 * K4, 0xfee00000 - 0x100000 - 5 * K4), 0);
	CONSISTENT(a);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.free_extents == 3);
	/* Best fit: 1 page goes to the 1-page hole, not the 3-page one. */
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, K4, &iova), 0);
	CHECK(iova == 0x100000 + 4 * K4);
	CHECK_RC(dmac_iova_alloc_alloc(a, 2 * K4, K4, &iova), 0);
	CHECK(iova == 0x100000);
	CHECK_RC(dmac_iova_alloc_alloc(a, 2 * K4, K4, &iova), 0);
	CHECK(iova == 0xfef00000); /* the MSI window is skipped */
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.free_extents == 2);
	/* Nothing may land in the MSI window. */
	CHECK_RC(dmac_iova_alloc_reserve(a, 0xfee00000, K4), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0xfeeff000, 2 * K4), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0xfedff000, 2 * K4), -ENOSPC);
	for (i = 0; i < 4; i++) {
		CHECK_RC(dmac_iova_alloc_alloc(a, M2, 0, &x[i]), 0);
		CHECK(x[i] >= 0xfef00000 && (x[i] & (M2 - 1)) == 0);
	}
	/* Free the middle two, then the outer ones: everything coalesces back. */
	CHECK_RC(dmac_iova_alloc_free(a, x[1], M2), 0);
	CHECK_RC(dmac_iova_alloc_free(a, x[2], M2), 0);
	CONSISTENT(a);
	CHECK_RC(dmac_iova_alloc_free(a, x[0], M2), 0);
	CHECK_RC(dmac_iova_alloc_free(a, x[3], M2), 0);
	CHECK_RC(dmac_iova_alloc_free(a, 0xfef00000, 2 * K4), 0);
	CONSISTENT(a);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.largest_free == (UINT64_C(1) << 48) - 0xfef00000);
	dmac_iova_alloc_destroy(a);
}

static void test_reserve_free_errors(void)
{
	struct dmac_iova_range r[] = {{0x100000, 0x1fffff}, {UINT64_MAX - G1 + 1, UINT64_MAX}};
	struct dmac_iova_alloc *a = make(r, 2);
	struct dmac_iova_alloc_stats before, after;
	uint64_t iova;

	CHECK_RC(dmac_iova_alloc_reserve(a, 0x140000, 0x10000), 0);
	dmac_iova_alloc_stats(a, &before);
	CHECK(before.free_extents == 2 + 1);

	/* -EINVAL: malformed. */
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x100000, 0), -EINVAL);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x100001, K4), -EINVAL);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x100000, K4 - 1), -EINVAL);
	CHECK_RC(dmac_iova_alloc_reserve(a, UINT64_MAX - K4 + 1, 2 * K4), -EINVAL); /* wraps */
	CHECK_RC(dmac_iova_alloc_reserve(a, 2 * K4, UINT64_MAX - K4 + 1), -EINVAL); /* wraps */
	/* -ENOSPC: outside the allowed ranges or across a hole. */
	CHECK_RC(dmac_iova_alloc_reserve(a, 0, K4), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0xff000, 2 * K4), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x1ff000, 2 * K4), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x200000, K4), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_reserve(a, UINT64_MAX - G1 + 1 - K4, 2 * K4), -ENOSPC);
	/* -EEXIST: inside, but some part allocated. */
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x140000, 0x10000), -EEXIST);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x13f000, 2 * K4), -EEXIST);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x14f000, 2 * K4), -EEXIST);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x145000, K4), -EEXIST);
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x100000, 0x100000), -EEXIST);
	/* Free: malformed, then -ENOENT for anything but an exact allocation. */
	CHECK_RC(dmac_iova_alloc_free(a, 0x140000, 0), -EINVAL);
	CHECK_RC(dmac_iova_alloc_free(a, 0x140000, 100), -EINVAL);
	CHECK_RC(dmac_iova_alloc_free(a, 0x140000, K4), -ENOENT);	     /* partial */
	CHECK_RC(dmac_iova_alloc_free(a, 0x140000, 0x20000), -ENOENT);	     /* too long */
	CHECK_RC(dmac_iova_alloc_free(a, 0x141000, 0xf000), -ENOENT);	     /* tail */
	CHECK_RC(dmac_iova_alloc_free(a, 0x100000, 0x40000), -ENOENT);	     /* free space */
	CHECK_RC(dmac_iova_alloc_free(a, 0, K4), -ENOENT);		     /* outside */
	CHECK_RC(dmac_iova_alloc_free(a, UINT64_MAX - K4 + 1, K4), -ENOENT); /* top */
	dmac_iova_alloc_stats(a, &after);
	CHECK(stats_equal(&before, &after));
	CONSISTENT(a);

	/* The very last page of the 64-bit space. */
	CHECK_RC(dmac_iova_alloc_reserve(a, UINT64_MAX - K4 + 1, K4), 0);
	CHECK_RC(dmac_iova_alloc_lookup(a, UINT64_MAX, &iova, NULL), 0);
	CHECK(iova == UINT64_MAX - K4 + 1);
	CHECK_RC(dmac_iova_alloc_alloc(a, G1, DMAC_IOVA_ALIGN_1G, &iova), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_free(a, UINT64_MAX - K4 + 1, K4), 0);
	CHECK_RC(dmac_iova_alloc_free(a, UINT64_MAX - K4 + 1, K4), -ENOENT); /* twice */
	CHECK_RC(dmac_iova_alloc_alloc(a, G1, DMAC_IOVA_ALIGN_1G, &iova), 0);
	CHECK(iova == UINT64_MAX - G1 + 1);
	CHECK_RC(dmac_iova_alloc_reserve(a, UINT64_MAX - K4 + 1, K4), -EEXIST);
	CHECK_RC(dmac_iova_alloc_free(a, iova, G1), 0);
	CHECK_RC(dmac_iova_alloc_free(a, 0x140000, 0x10000), 0);
	dmac_iova_alloc_stats(a, &after);
	CHECK(after.allocations == 0 && after.free_extents == 2 && after.bytes_allocated == 0);
	CONSISTENT(a);
	dmac_iova_alloc_destroy(a);
}

/*
 * Alignment window: many free extents large enough for the length but not once
 * aligned. With a sure fit available the allocator stops scanning them and
 * takes it; without one it still finds the one aligned fit at the window's end.
 */
static void test_alignment_window(void)
{
	struct dmac_iova_range r[] = {{0, 4096 * K4 - 1}};
	struct dmac_iova_alloc *a = make(r, 1);
	uint64_t iova, k;

	for (k = 0; k < 20; k++) {
		CHECK_RC(dmac_iova_alloc_reserve(a, 8 * k * K4, K4), 0);
		CHECK_RC(dmac_iova_alloc_reserve(a, (8 * k + 4) * K4, 4 * K4), 0);
	}
	/* Pages [160, 1000) and [1003, 2048) taken: [1000, 1003) is the aligned 3-page fit. */
	CHECK_RC(dmac_iova_alloc_reserve(a, 160 * K4, 840 * K4), 0);
	CHECK_RC(dmac_iova_alloc_reserve(a, 1003 * K4, 1045 * K4), 0);
	CONSISTENT(a);
	/* Free 3-page extents at 8k+1 (20 of them, misaligned for 16 KiB), 1000, and [2048, 4096).
	 */
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 4 * K4, &iova), 0);
	CHECK(iova == 2048 * K4); /* jumped to the sure fit */
	CHECK_RC(dmac_iova_alloc_free(a, iova, K4), 0);
	CHECK_RC(dmac_iova_alloc_reserve(a, 2048 * K4, 2048 * K4), 0);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 4 * K4, &iova), 0);
	CHECK(iova == 1000 * K4); /* no sure fit: scanned the whole window */
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 4 * K4, &iova), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_alloc(a, K4, 2 * K4, &iova), 0);
	CHECK(iova == 1002 * K4); /* best fit: the 2-page leftover [1001, 1003), aligned */
	CONSISTENT(a);
	dmac_iova_alloc_destroy(a);
}

/*
 * Fault injection: fail the nth allocation for n = 1, 2, ... until the
 * operation completes without a fault; after every -ENOMEM the allocator is
 * consistent and unchanged.
 */
static void test_faults(void)
{
	struct dmac_iova_alloc *a;
	struct dmac_iova_alloc_stats before, after;
	int64_t base = dmac__alloc_outstanding();
	uint64_t n, iova;
	int rc, fired;

	for (n = 1;; n++) {
		a = NULL;
		dmac__fault_alloc_arm(n);
		rc = dmac_iova_alloc_create(x86_ranges, ARR(x86_ranges), &a);
		fired = dmac__fault_alloc_fired();
		dmac__fault_alloc_arm(0); /* also clears the fired flag */
		if (rc == 0) {
			CHECK(a);
			CONSISTENT(a);
			dmac_iova_alloc_destroy(a);
			if (!fired)
				break;
		} else {
			CHECK_RC(rc, -ENOMEM);
			CHECK(a == NULL);
		}
		CHECK(dmac__alloc_outstanding() == base);
	}
	CHECK(n > 1);

	a = make(x86_ranges, ARR(x86_ranges));
	CHECK_RC(dmac_iova_alloc_reserve(a, 0x200000, M2), 0);
	/* Each kind of split: both sides, left only, right only, none. */
	for (int kind = 0; kind < 6; kind++) {
		for (n = 1;; n++) {
			dmac_iova_alloc_stats(a, &before);
			dmac__fault_alloc_arm(n);
			switch (kind) {
			case 0: /* reserve in the middle of a free extent */
				rc = dmac_iova_alloc_reserve(a, 0x10000000, M2);
				break;
			case 1: /* reserve at the start of a free extent */
				rc = dmac_iova_alloc_reserve(a, 0x400000, K4);
				break;
			case 2: /* exact fit: no new piece */
				rc = dmac_iova_alloc_reserve(a, 0, 0x200000);
				break;
			case 3: /* aligned alloc past the start: left piece and right piece */
				rc = dmac_iova_alloc_alloc(a, K4, G1, &iova);
				break;
			case 4: /* reserve at the end of a free extent */
				rc = dmac_iova_alloc_reserve(a, 0xfedff000, K4);
				break;
			default: /* plain alloc */
				rc = dmac_iova_alloc_alloc(a, 5 * K4, 0, &iova);
				break;
			}
			fired = dmac__fault_alloc_fired();
			dmac__fault_alloc_arm(0);
			CONSISTENT(a);
			if (rc == 0) {
				CHECK(!fired);
				break;
			}
			CHECK_RC(rc, -ENOMEM);
			CHECK(fired);
			dmac_iova_alloc_stats(a, &after);
			CHECK(stats_equal(&before, &after));
		}
	}
	/* Frees never allocate: arm the first allocation and it must not fire. */
	dmac__fault_alloc_arm(1);
	CHECK_RC(dmac_iova_alloc_free(a, 0x10000000, M2), 0);
	CHECK_RC(dmac_iova_alloc_free(a, 0x400000, K4), 0);
	CHECK_RC(dmac_iova_alloc_free(a, 0, 0x200000), 0);
	fired = dmac__fault_alloc_fired();
	dmac__fault_alloc_arm(0);
	CHECK(!fired);
	CONSISTENT(a);
	dmac_iova_alloc_destroy(a);
	CHECK(dmac__alloc_outstanding() == base);
}

/*
 * Differential test against a page bitmap over a small space. The model
 * decides what every call must return: alloc succeeds iff some aligned run of
 * free pages exists (best fit is complete), the result must be aligned, free
 * and inside a range; reserve/free/lookup are predicted exactly; statistics
 * are recomputed from the bitmap.
 */
#define MPAGES 2048

struct model {
	unsigned char allowed[MPAGES];
	unsigned char used[MPAGES];
	uint32_t owner_start[MPAGES]; /* for used pages: first page of the allocation */
	uint32_t alloc_len[MPAGES];   /* at an allocation's first page: its length in pages */
	uint32_t live[MPAGES];	      /* first pages of live allocations */
	uint32_t nlive;
};

static struct model M;

static int model_fits(uint64_t p, uint64_t n)
{
	uint64_t i;

	if (p + n > MPAGES)
		return 0;
	for (i = p; i < p + n; i++)
		if (!M.allowed[i] || M.used[i])
			return 0;
	return 1;
}

static int model_can_alloc(uint64_t n, uint64_t align_pages)
{
	uint64_t p;

	for (p = 0; p < MPAGES; p += align_pages)
		if (model_fits(p, n))
			return 1;
	return 0;
}

static void model_mark(uint64_t p, uint64_t n, int used)
{
	uint64_t i;

	for (i = p; i < p + n; i++) {
		M.used[i] = (unsigned char)used;
		M.owner_start[i] = (uint32_t)p;
	}
	M.alloc_len[p] = used ? (uint32_t)n : 0;
	if (used) {
		M.live[M.nlive++] = (uint32_t)p;
	} else {
		for (i = 0; i < M.nlive; i++)
			if (M.live[i] == p) {
				M.live[i] = M.live[--M.nlive];
				break;
			}
	}
}

static void model_stats(struct dmac_iova_alloc_stats *st)
{
	uint64_t p, run = 0, runs = 0, best = 0, best_start = 0, alloc = 0, freep = 0;

	for (p = 0; p <= MPAGES; p++) {
		if (p < MPAGES && M.allowed[p] && !M.used[p]) {
			run++;
			freep++;
			continue;
		}
		if (p < MPAGES && M.used[p])
			alloc++;
		if (run) {
			runs++;
			if (run > best) {
				best = run;
				best_start = p - run;
			}
		}
		run = 0;
	}
	memset(st, 0, sizeof(*st));
	st->bytes_allocated = alloc * K4;
	st->bytes_free = freep * K4;
	st->allocations = M.nlive;
	st->free_extents = runs;
	st->largest_free = best * K4;
	/* Ties between equal largest runs: the allocator reports the lowest address. */
	st->largest_free_start = best ? best_start * K4 : 0;
}

static void compare_stats(const struct dmac_iova_alloc *a, uint64_t nranges)
{
	struct dmac_iova_alloc_stats got, want;

	dmac_iova_alloc_stats(a, &got);
	model_stats(&want);
	want.ranges = nranges;
	if (!stats_equal(&got, &want)) {
		fprintf(stderr,
			"stats: got alloc %" PRIu64 " free %" PRIu64 " n %" PRIu64 " ext %" PRIu64
			" big %" PRIu64 "@%" PRIx64 "; want %" PRIu64 " %" PRIu64 " %" PRIu64
			" %" PRIu64 " %" PRIu64 "@%" PRIx64 "\n",
			got.bytes_allocated, got.bytes_free, got.allocations, got.free_extents,
			got.largest_free, got.largest_free_start, want.bytes_allocated,
			want.bytes_free, want.allocations, want.free_extents, want.largest_free,
			want.largest_free_start);
		CHECK(0);
	}
}

static void test_differential(uint64_t seed, unsigned long ops)
{
	/* Pages [0, 2048) = 8 MiB, allowed: [1, 700), [704, 1536), [1537, 2048). */
	static const struct {
		uint64_t s, e;
	} R[] = {{1, 700}, {704, 1536}, {1537, 2048}};
	struct dmac_iova_range r[3];
	static const uint64_t aligns[] = {0, 1, 1, 2, 4, 16, 512};
	struct dmac_iova_alloc *a;
	unsigned long op;
	uint64_t i;

	g_seed = seed;
	rng_state = seed;
	memset(&M, 0, sizeof(M));
	for (i = 0; i < ARR(R); i++) {
		r[i].start = R[i].s * K4;
		r[i].last = R[i].e * K4 - 1;
		memset(&M.allowed[R[i].s], 1, R[i].e - R[i].s);
	}
	a = make(r, ARR(r));

	for (op = 0; op < ops; op++) {
		uint64_t kind = rnd_below(100), n, al, p, iova = 0, start, len;
		int rc, want;

		/* Bias the live set towards a bounded size so the space churns. */
		if (kind < 45 && M.nlive > 200)
			kind += 45;
		if (kind < 40) {
			/* alloc */
			n = rnd_below(8) == 0 ? 1 + rnd_below(600) : 1 + rnd_below(24);
			al = aligns[rnd_below(ARR(aligns))];
			uint64_t align_pages = al ? al : (n >= 512 ? 512 : 1);
			rc = dmac_iova_alloc_alloc(a, n * K4, al * K4, &iova);
			want = model_can_alloc(n, align_pages) ? 0 : -ENOSPC;
			CHECK_RC(rc, want);
			if (!rc) {
				p = iova / K4;
				CHECK(iova % (align_pages * K4) == 0);
				CHECK(model_fits(p, n));
				model_mark(p, n, 1);
			}
		} else if (kind < 45) {
			/* reserve anywhere, possibly outside, overlapping or wrapping */
			p = rnd_below(MPAGES + 16);
			n = 1 + rnd_below(32);
			rc = dmac_iova_alloc_reserve(a, p * K4, n * K4);
			want = 0;
			for (i = p; i < p + n; i++)
				if (i >= MPAGES || !M.allowed[i])
					want = -ENOSPC;
			if (!want)
				for (i = p; i < p + n; i++)
					if (M.used[i])
						want = -EEXIST;
			CHECK_RC(rc, want);
			if (!rc)
				model_mark(p, n, 1);
		} else if (kind < 85) {
			/* free a live allocation */
			if (!M.nlive)
				continue;
			p = M.live[rnd_below(M.nlive)];
			n = M.alloc_len[p];
			CHECK_RC(dmac_iova_alloc_free(a, p * K4, n * K4), 0);
			model_mark(p, n, 0);
		} else if (kind < 92) {
			/* bogus free: random page and length */
			p = rnd_below(MPAGES);
			n = 1 + rnd_below(16);
			want = (M.used[p] && M.owner_start[p] == p && M.alloc_len[p] == n)
				   ? 0
				   : -ENOENT;
			CHECK_RC(dmac_iova_alloc_free(a, p * K4, n * K4), want);
			if (!want)
				model_mark(p, n, 0);
		} else {
			/* lookup */
			p = rnd_below(MPAGES);
			rc = dmac_iova_alloc_lookup(a, p * K4 + rnd_below(K4), &start, &len);
			if (M.used[p]) {
				CHECK_RC(rc, 0);
				CHECK(start == M.owner_start[p] * K4);
				CHECK(len == M.alloc_len[M.owner_start[p]] * K4);
			} else {
				CHECK_RC(rc, -ENOENT);
			}
		}
		compare_stats(a, ARR(r));
		if ((op & 31) == 0)
			CONSISTENT(a);
	}
	CONSISTENT(a);
	while (M.nlive) {
		uint64_t p = M.live[0];

		CHECK_RC(dmac_iova_alloc_free(a, p * K4, M.alloc_len[p] * K4), 0);
		model_mark(p, M.alloc_len[p], 0);
	}
	compare_stats(a, ARR(r));
	dmac_iova_alloc_destroy(a);
}

/*
 * Fragmentation under churn on an x86 layout: a bounded live set of mixed
 * sizes (4 KiB .. 64 MiB) over 64 GiB. Afterwards the bound
 * free_extents <= allocations + ranges holds, the largest free extent the
 * statistics report can really be allocated (4 KiB- and 2 MiB-aligned), and
 * freeing everything restores one free extent per range.
 */
static void test_churn(uint64_t seed, unsigned long ops)
{
	struct dmac_iova_range r[] = {{0, 0xfedfffff}, {0xfef00000, 64 * G1 - 1}};
	struct dmac_iova_alloc_stats st;
	enum { LIVE = 512 };
	uint64_t live_iova[LIVE], live_len[LIVE], iova, s2, end;
	struct dmac_iova_alloc *a;
	unsigned long op;
	unsigned int nlive = 0, i;
	double worst = 1.0;

	g_seed = seed;
	rng_state = seed;
	a = make(r, 2);
	for (op = 0; op < ops; op++) {
		if (nlive < LIVE && (nlive < LIVE / 2 || rnd_below(2))) {
			uint64_t len;
			unsigned int cls = (unsigned int)rnd_below(10);

			if (cls < 5)
				len = (1 + rnd_below(64)) * K4;
			else if (cls < 9)
				len = (1 + rnd_below(8)) * M2;
			else
				len = (1 + rnd_below(32)) * M2;
			CHECK_RC(dmac_iova_alloc_alloc(a, len, 0, &iova), 0);
			live_iova[nlive] = iova;
			live_len[nlive++] = len;
		} else if (nlive) {
			i = (unsigned int)rnd_below(nlive);
			CHECK_RC(dmac_iova_alloc_free(a, live_iova[i], live_len[i]), 0);
			live_iova[i] = live_iova[--nlive];
			live_len[i] = live_len[nlive];
		}
		if ((op & 1023) == 0) {
			dmac_iova_alloc_stats(a, &st);
			CHECK(st.free_extents <= st.allocations + st.ranges);
			if (st.bytes_free &&
			    (double)st.largest_free / (double)st.bytes_free < worst)
				worst = (double)st.largest_free / (double)st.bytes_free;
		}
	}
	CONSISTENT(a);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.allocations == nlive);
	CHECK(st.free_extents <= st.allocations + st.ranges);
	CHECK(st.largest_free >= st.bytes_free / (st.allocations + st.ranges));
	printf("churn: %lu ops, %u live, %" PRIu64 " free extents, largest free %" PRIu64
	       " MiB of %" PRIu64 " MiB free (worst sampled ratio %.3f)\n",
	       ops, nlive, st.free_extents, st.largest_free >> 20, st.bytes_free >> 20, worst);

	/* The largest 2 MiB-aligned piece of the largest free extent can be allocated... */
	s2 = (st.largest_free_start + M2 - 1) & ~(M2 - 1);
	end = st.largest_free_start + st.largest_free;
	CHECK(end > s2 && end - s2 >= M2);
	CHECK_RC(dmac_iova_alloc_alloc(a, (end - s2) & ~(M2 - 1), DMAC_IOVA_ALIGN_2M, &iova), 0);
	CHECK_RC(dmac_iova_alloc_free(a, iova, (end - s2) & ~(M2 - 1)), 0);
	/* ... and so can the whole extent at 4 KiB alignment, but nothing larger. */
	CHECK_RC(dmac_iova_alloc_alloc(a, st.largest_free + K4, K4, &iova), -ENOSPC);
	CHECK_RC(dmac_iova_alloc_alloc(a, st.largest_free, K4, &iova), 0);
	CHECK(iova == st.largest_free_start);
	CHECK_RC(dmac_iova_alloc_free(a, iova, st.largest_free), 0);

	for (i = 0; i < nlive; i++)
		CHECK_RC(dmac_iova_alloc_free(a, live_iova[i], live_len[i]), 0);
	dmac_iova_alloc_stats(a, &st);
	CHECK(st.allocations == 0 && st.free_extents == 2 && st.bytes_allocated == 0);
	CHECK(st.largest_free == 64 * G1 - 0xfef00000);
	CONSISTENT(a);
	dmac_iova_alloc_destroy(a);
}

/* next_free: walks the free parts; a hole reserved part by part leaves the
 * allocations inside it in place. */
static void test_next_free(void)
{
	const struct dmac_iova_range r[] = {{0, 64 * M2 - 1}, {128 * M2, 160 * M2 - 1}};
	struct dmac_iova_alloc *a = NULL;
	uint64_t s, l, cur;

	CHECK_RC(dmac_iova_alloc_create(r, ARR(r), &a), 0);
	CHECK_RC(dmac_iova_alloc_next_free(a, 0, &s, &l), 0);
	CHECK(s == 0 && l == 64 * M2 - 1);
	CHECK_RC(dmac_iova_alloc_next_free(a, 5 * K4, &s, &l), 0);
	CHECK(s == 5 * K4 && l == 64 * M2 - 1);
	CHECK_RC(dmac_iova_alloc_next_free(a, 64 * M2, &s, &l), 0);
	CHECK(s == 128 * M2 && l == 160 * M2 - 1);
	CHECK_RC(dmac_iova_alloc_next_free(a, 160 * M2, &s, &l), -ENOENT);
	CHECK_RC(dmac_iova_alloc_next_free(NULL, 0, &s, &l), -EINVAL);
	/* allocations at [4, 5) and [10, 11) (in 2 MiB units): the hole [1, 8)
	 * reserved part by part around the first */
	CHECK_RC(dmac_iova_alloc_reserve(a, 4 * M2, M2), 0);
	CHECK_RC(dmac_iova_alloc_reserve(a, 10 * M2, M2), 0);
	CHECK_RC(dmac_iova_alloc_next_free(a, 4 * M2, &s, &l), 0);
	CHECK(s == 5 * M2);
	for (cur = 1 * M2; cur < 8 * M2;) {
		uint64_t end;

		if (dmac_iova_alloc_next_free(a, cur, &s, &l) || s >= 8 * M2)
			break;
		end = l < 8 * M2 - 1 ? l : 8 * M2 - 1;
		CHECK_RC(dmac_iova_alloc_reserve(a, s, end - s + 1), 0);
		cur = end + 1;
	}
	CONSISTENT(a);
	CHECK_RC(dmac_iova_alloc_next_free(a, M2, &s, &l), 0);
	CHECK(s == 8 * M2 && l == 10 * M2 - 1);
	CHECK_RC(dmac_iova_alloc_next_free(a, 0, &s, &l), 0);
	CHECK(s == 0 && l == M2 - 1);
	/* the two allocations are still there, whole */
	CHECK_RC(dmac_iova_alloc_lookup(a, 4 * M2, &s, &l), 0);
	CHECK(s == 4 * M2 && l == M2);
	CHECK_RC(dmac_iova_alloc_free(a, 10 * M2, M2), 0);
	CONSISTENT(a);
	dmac_iova_alloc_destroy(a);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();
	const char *env = getenv("DMAC_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : UINT64_C(0x5eed1a110c);

	test_create();
	test_alloc_args();
	test_default_alignment();
	test_best_fit_and_holes();
	test_alignment_window();
	test_reserve_free_errors();
	test_next_free();
	test_faults();
	test_differential(seed, 120000);
	test_churn(seed + 1, 200000);
	CHECK(dmac__alloc_outstanding() == base);
	printf("iova_alloc: all tests passed (seed %" PRIu64 ")\n", seed);
	return 0;
}
