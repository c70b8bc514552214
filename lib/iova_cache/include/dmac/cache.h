/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Master mapping cache: the areas of backing objects mapped into the master
 * IOAS, with reference counts, an LRU of unreferenced areas and a budget on
 * pinned bytes.
 *
 * Invariants:
 * - An area covers the byte range [offset, offset + length) of one backing
 *   object ('end' = offset + length is exclusive and never wraps); it is mapped
 *   at [iova, iova + length) in the master IOAS and at [va, va + length) in the
 *   daemon. Areas of one backing object never overlap.
 * - refs counts the users of an area (the copies made from it). An area with
 *   refs == 0 is on the LRU list (oldest first); one with refs > 0 never is,
 *   and is never evicted.
 * - After every call that returns, bytes_pinned <= budget or no area is
 *   unreferenced (the budget only bounds what is cached without users; it
 *   never makes an insert fail).
 * - The cache never maps or unmaps: the caller maps before dmac_cache_insert()
 *   and unmaps in the eviction callback.
 *
 * Concurrency: a cache has no internal lock. The caller serializes every call
 * on one cache (in dmacached: the daemon lock). The eviction callback runs
 * inside the call that evicts, under the caller's serialization, and must not
 * call back into the same cache.
 */
#ifndef DMAC_CACHE_H
#define DMAC_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Backing object: (st_dev, st_ino) of a file, or a 64-bit id (dev = DMAC_BACKING_DEV_ID). */
struct dmac_backing {
	uint64_t dev;
	uint64_t ino;
};

/** The dev value of a backing object named by a 64-bit id rather than a file. */
#define DMAC_BACKING_DEV_ID UINT64_MAX

/** Backing id of a file from its st_dev and st_ino. Pure; never fails. */
static inline struct dmac_backing dmac_backing_file(uint64_t dev, uint64_t ino)
{
	struct dmac_backing b = {dev, ino};

	return b;
}

/** Backing id of an object named by a 64-bit id. Pure; never fails. */
static inline struct dmac_backing dmac_backing_id(uint64_t id)
{
	struct dmac_backing b = {DMAC_BACKING_DEV_ID, id};

	return b;
}

/** A range of a backing object and where the daemon has it mapped. */
struct dmac_cache_range {
	struct dmac_backing backing;
	uint64_t offset; /**< byte offset in the backing object */
	uint64_t length; /**< bytes, > 0; offset + length and va + length must not wrap */
	uint64_t va;	 /**< daemon virtual address of offset */
};

/** A snapshot of one area. */
struct dmac_cache_area_info {
	struct dmac_cache_range range;
	uint64_t iova; /**< master IOAS address of range.offset */
	uint64_t refs;
	void *priv; /**< the caller's pointer given at insert */
};

/** Cache statistics. */
struct dmac_cache_stats {
	uint64_t hits;	       /**< dmac_cache_find() calls that found an area */
	uint64_t misses;       /**< dmac_cache_find() calls that did not */
	uint64_t evictions;    /**< areas evicted (budget, explicit or evict_all) */
	uint64_t bytes_pinned; /**< sum of the lengths of all areas */
	uint64_t bytes_unref;  /**< sum of the lengths of unreferenced areas */
	uint64_t areas;	       /**< all areas */
	uint64_t unref_areas;  /**< areas with refs == 0 (on the LRU) */
	uint64_t budget;       /**< current budget in bytes */
};

struct dmac_cache;
struct dmac_cache_area;

/**
 * Eviction callback: unmaps the area from the master IOAS. Cannot fail. It runs
 * after the area has left every index and before its bookkeeping is freed; it
 * must not call into the cache.
 */
typedef void (*dmac_cache_evict_fn)(void *arg, const struct dmac_cache_area_info *area);

/**
 * Creates an empty cache.
 * @param budget_bytes  pinned-bytes budget (UINT64_MAX: unlimited)
 * @param evict         eviction callback (required)
 * @param arg           its first argument
 * @return 0, -EINVAL (evict or out NULL), -ENOMEM.
 * Concurrency: none needed; the new cache is private to the caller.
 */
DMAC_EXPORT int dmac_cache_create(uint64_t budget_bytes, dmac_cache_evict_fn evict, void *arg,
				  struct dmac_cache **out);

/**
 * Frees the bookkeeping of the cache and of every area left in it, WITHOUT
 * calling the eviction callback: the caller must have unmapped everything
 * (dmac_cache_evict_all() after dropping all references does that). NULL is a
 * no-op. Never fails.
 * Concurrency: no other call on @p c may be in progress or follow.
 */
DMAC_EXPORT void dmac_cache_destroy(struct dmac_cache *c);

/**
 * Records an area the caller has just mapped. The new area is returned with
 * one reference held by the caller. Then the budget is enforced (other,
 * unreferenced areas may be evicted).
 *
 * @param r     the range; r->length > 0, and offset + length, va + length and
 *              iova + length must not wrap
 * @param iova  its master IOAS address
 * @param priv  the caller's pointer, returned in the area info
 * @param out   receives the area (may be NULL)
 * @return 0; -EINVAL (bad range); -EEXIST if it overlaps an area of the same
 *         backing object; -ENOMEM. On error nothing changes (nothing evicted).
 * Concurrency: caller serializes all calls on @p c.
 */
DMAC_EXPORT int dmac_cache_insert(struct dmac_cache *c, const struct dmac_cache_range *r,
				  uint64_t iova, void *priv, struct dmac_cache_area **out);

/**
 * Finds the area of @p backing covering [offset, offset + length) entirely.
 * A hit takes a reference (removing the area from the LRU if it was
 * unreferenced) and counts a hit; a miss counts a miss. A range covered only by
 * several adjacent areas is a miss (one lease is one IOMMU mapping).
 *
 * @param area  receives the area (may be NULL, the reference is taken anyway)
 * @param iova  receives the IOVA of @p offset (may be NULL)
 * @return 0, -ENOENT (miss), -EINVAL (length 0 or offset + length wraps;
 *         counted neither as hit nor miss).
 * Concurrency: caller serializes all calls on @p c.
 */
DMAC_EXPORT int dmac_cache_find(struct dmac_cache *c, struct dmac_backing backing, uint64_t offset,
				uint64_t length, struct dmac_cache_area **area, uint64_t *iova);

/**
 * Takes one more reference on @p area (removing it from the LRU if it had none).
 * Concurrency: caller serializes all calls on @p c; @p area must be in @p c.
 */
DMAC_EXPORT void dmac_cache_get(struct dmac_cache *c, struct dmac_cache_area *area);

/**
 * Drops one reference. When the last goes, the area joins the most-recent end
 * of the LRU (still mapped and findable) and the budget is enforced, which may
 * evict it at once: the caller must not use @p area after dropping its last
 * reference.
 * @return 0, or -EINVAL if the area has no reference (nothing changes).
 * Concurrency: caller serializes all calls on @p c; @p area must be in @p c.
 */
DMAC_EXPORT int dmac_cache_put(struct dmac_cache *c, struct dmac_cache_area *area);

/**
 * Evicts one unreferenced area now (e.g. its backing object is going away):
 * calls the eviction callback and frees the area.
 * @return 0, or -EBUSY if it is referenced (nothing changes).
 * Concurrency: caller serializes all calls on @p c; @p area must be in @p c.
 */
DMAC_EXPORT int dmac_cache_evict(struct dmac_cache *c, struct dmac_cache_area *area);

/**
 * Evicts every unreferenced area, oldest first. Referenced areas stay.
 * @return the number of areas evicted.
 * Concurrency: caller serializes all calls on @p c.
 */
DMAC_EXPORT uint64_t dmac_cache_evict_all(struct dmac_cache *c);

/**
 * Sets the budget and enforces it at once (evicting in LRU order).
 * Concurrency: caller serializes all calls on @p c.
 */
DMAC_EXPORT void dmac_cache_set_budget(struct dmac_cache *c, uint64_t budget_bytes);

/**
 * Fills @p info from @p area. Never fails.
 * Concurrency: caller serializes it with all calls on the cache holding @p area.
 */
DMAC_EXPORT void dmac_cache_area_info(const struct dmac_cache_area *area,
				      struct dmac_cache_area_info *info);

/** Fills @p st. Never fails. Concurrency: caller serializes all calls on @p c. */
DMAC_EXPORT void dmac_cache_stats(const struct dmac_cache *c, struct dmac_cache_stats *st);

/** Iteration callback: return 0 to go on, anything else to stop. */
typedef int (*dmac_cache_iter_fn)(void *arg, struct dmac_cache_area *area,
				  const struct dmac_cache_area_info *info);

/**
 * Calls @p fn for every area in (backing, offset) order. The callback may get,
 * put, evict or insert (it is called outside any internal traversal state: the
 * next area is found by key after it returns); an area inserted during the walk
 * is visited only if it sorts after the current one.
 * @return 0 after a full walk, or the first non-zero value @p fn returned.
 * Concurrency: caller serializes all calls on @p c (the callback runs under it).
 */
DMAC_EXPORT int dmac_cache_foreach(struct dmac_cache *c, dmac_cache_iter_fn fn, void *arg);

/**
 * Calls @p fn for every area of @p backing that overlaps [offset, offset +
 * length), in offset order, with the same freedom as dmac_cache_foreach()
 * (the callback may get, put, evict or insert).
 * @return 0 after the walk, the first non-zero value of @p fn, or -EINVAL
 * (length 0, the range wraps, NULL c or fn).
 * Concurrency: caller serializes all calls on @p c (the callback runs under it).
 */
DMAC_EXPORT int dmac_cache_foreach_overlap(struct dmac_cache *c, struct dmac_backing backing,
					   uint64_t offset, uint64_t length, dmac_cache_iter_fn fn,
					   void *arg);

/**
 * Coalesces ranges registered together: sorts them by (backing, offset) and
 * merges every run that is contiguous both in offset and in daemon VA, so one
 * IOMMU mapping can cover it. Pure function: touches no cache.
 *
 * @param in    @p n ranges, any order
 * @param out   room for @p n ranges; may be the same array as @p in
 * @param nout  receives the number of ranges written to @p out
 * @return 0; -EINVAL if n == 0, a range has length 0, offset + length or
 *         va + length wraps, or two ranges of one backing object overlap. On
 *         error *nout is unchanged and the content of @p out is unspecified.
 * Concurrency: none (reentrant).
 */
DMAC_EXPORT int dmac_cache_coalesce(const struct dmac_cache_range *in, size_t n,
				    struct dmac_cache_range *out, size_t *nout);

/**
 * Internal (tests only): checks every invariant of @p c.
 * @return 0 if consistent, otherwise a negative number naming the broken one.
 */
int dmac__cache_check(const struct dmac_cache *c);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_CACHE_H */
