/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * IOVA allocator over the allowed ranges of one IO address space.
 *
 * Invariants:
 * - Ranges are given as inclusive [start, last] pairs, exactly as
 *   IOMMU_IOAS_IOVA_RANGES reports them; 'last' may be UINT64_MAX.
 * - Every allocation is 4 KiB-granular: its IOVA and length are multiples of
 *   4 KiB, and it lies inside one allowed range.
 * - Every byte of every (4 KiB-trimmed) allowed range is in exactly one extent,
 *   free or allocated; two free extents are never adjacent (frees coalesce).
 *   Hence free extents <= allocations + ranges (the fragmentation bound).
 * - A free must name exactly one allocation (its IOVA and its length).
 *
 * Concurrency: an allocator has no internal lock. The caller serializes all
 * calls on one allocator (in dmacached: the control thread, or the daemon
 * lock). Distinct allocators are independent.
 */
#ifndef DMAC_IOVA_ALLOC_H
#define DMAC_IOVA_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DMAC_IOVA_PAGE	   (UINT64_C(1) << 12) /**< allocation granule: 4 KiB */
#define DMAC_IOVA_ALIGN_2M (UINT64_C(1) << 21)
#define DMAC_IOVA_ALIGN_1G (UINT64_C(1) << 30)
/** Alignment 0: 2 MiB for lengths >= 2 MiB, 4 KiB otherwise. */
#define DMAC_IOVA_ALIGN_DEFAULT 0

/* One allowed range: struct dmac_iova_range, in dmac/common.h. */

/** Allocator statistics; byte counts saturate at UINT64_MAX. */
struct dmac_iova_alloc_stats {
	uint64_t bytes_allocated;    /**< sum of the lengths of live allocations */
	uint64_t bytes_free;	     /**< usable bytes not allocated */
	uint64_t allocations;	     /**< live allocations (allocs + reserves) */
	uint64_t free_extents;	     /**< maximal free extents */
	uint64_t largest_free;	     /**< length of the largest free extent */
	uint64_t largest_free_start; /**< its IOVA (0 if there is none) */
	uint64_t ranges;	     /**< usable ranges after trimming and merging */
};

struct dmac_iova_alloc;

/**
 * Creates an allocator over @p ranges.
 *
 * The array is copied and sorted; adjacent ranges are merged; each range is
 * trimmed inward to whole 4 KiB pages, and ranges with no whole page are dropped.
 *
 * @param ranges  array of @p nr inclusive ranges, in any order
 * @param nr      number of ranges (>= 1)
 * @param out     receives the allocator
 * @return 0, -EINVAL (nr == 0, start > last, overlapping ranges, or no whole
 *         4 KiB page in any range), -ENOMEM.
 * Concurrency: none needed; the new allocator is private to the caller.
 */
DMAC_EXPORT int dmac_iova_alloc_create(const struct dmac_iova_range *ranges, size_t nr,
				       struct dmac_iova_alloc **out);

/**
 * Destroys an allocator, forgetting every allocation. Never fails; NULL is a no-op.
 * Concurrency: no other call on @p a may be in progress or follow.
 */
DMAC_EXPORT void dmac_iova_alloc_destroy(struct dmac_iova_alloc *a);

/**
 * Allocates @p length bytes of IOVA.
 *
 * Policy: address-ordered best fit — the smallest free extent that can hold
 * the aligned request, lowest address among equals; the allocation is placed
 * at the lowest suitably aligned IOVA of that extent.
 *
 * @param length  non-zero multiple of 4 KiB
 * @param align   0 (default: 2 MiB if length >= 2 MiB, else 4 KiB) or a power
 *                of two >= 4 KiB (4 KiB, 2 MiB and 1 GiB are the useful ones)
 * @param iova    receives the IOVA
 * @return 0, -EINVAL (bad length or alignment), -ENOSPC (no free extent can
 *         hold it), -ENOMEM. On error nothing changes.
 * Concurrency: caller serializes all calls on @p a.
 */
DMAC_EXPORT int dmac_iova_alloc_alloc(struct dmac_iova_alloc *a, uint64_t length, uint64_t align,
				      uint64_t *iova);

/**
 * Reserves the fixed range [iova, iova + length) (e.g. a copy placed at the
 * master's IOVA). The reservation is an allocation like any other.
 *
 * @return 0; -EINVAL if iova or length is not a multiple of 4 KiB, length is 0
 *         or the range wraps past 2^64; -ENOSPC if any part of it lies outside
 *         the allowed ranges (or spans a hole between two of them); -EEXIST if it
 *         lies inside an allowed range but some part of it is allocated; -ENOMEM.
 *         On error nothing changes.
 * Concurrency: caller serializes all calls on @p a.
 */
DMAC_EXPORT int dmac_iova_alloc_reserve(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length);

/**
 * Frees the allocation that starts at @p iova and is @p length bytes long,
 * coalescing it with free neighbours. Never allocates, so it cannot fail with
 * -ENOMEM.
 *
 * @return 0; -ENOENT if no allocation starts at @p iova with exactly @p length
 *         bytes (also for a partial free: iommufd refuses to split a mapping,
 *         so a partial free would leave the allocator disagreeing with the IOAS).
 *         On error nothing changes.
 * Concurrency: caller serializes all calls on @p a.
 */
DMAC_EXPORT int dmac_iova_alloc_free(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length);

/**
 * The first free IOVA at or after @p from, and the last byte of the free
 * extent it is in: *start = max(from, the extent's start), *last inclusive.
 * Lets a caller reserve every free part of a range (IOVA holes that appear
 * after an allocator was created) while allocations inside it stay.
 * Cost O(log n) per extent skipped.
 * @return 0; -ENOENT no free IOVA at or after @p from; -EINVAL NULL args.
 * Concurrency: caller serializes all calls on @p a.
 */
DMAC_EXPORT int dmac_iova_alloc_next_free(const struct dmac_iova_alloc *a, uint64_t from,
					  uint64_t *start, uint64_t *last);

/**
 * Finds the allocation containing @p iova.
 * @return 0 and its start and length, or -ENOENT.
 * Concurrency: caller serializes all calls on @p a.
 */
DMAC_EXPORT int dmac_iova_alloc_lookup(const struct dmac_iova_alloc *a, uint64_t iova,
				       uint64_t *start, uint64_t *length);

/**
 * Fills @p st. Never fails. O(log n).
 * Concurrency: caller serializes all calls on @p a.
 */
DMAC_EXPORT void dmac_iova_alloc_stats(const struct dmac_iova_alloc *a,
				       struct dmac_iova_alloc_stats *st);

/**
 * Internal (tests only): checks every invariant of @p a.
 * @return 0 if consistent, otherwise a negative number identifying the broken
 *         invariant.
 */
int dmac__iova_alloc_check(const struct dmac_iova_alloc *a);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_IOVA_ALLOC_H */
