/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * A hash map from 64-bit keys to pointers: open addressing, linear probing,
 * deletion by backward shift (no tombstones), so lookups stay short under
 * any insert/delete churn.
 *
 * Invariants:
 * - Every key appears at most once; any 64-bit value is a valid key.
 * - The slot array has a power-of-two size and is at most 3/4 full after
 *   every call that returns; a key sits at its home slot or after it in probe
 *   order with no empty slot in between (what the backward shift keeps true).
 * - Growing doubles the array and happens only inside dmac_hmap_put(); a map
 *   never shrinks below what its high-water mark needed, except through
 *   dmac_hmap_clear().
 * - Keys are mixed with a fixed 64-bit finalizer: they may come from a peer
 *   (lease ids, wire values) without making the probe sequences degrade,
 *   as long as the peer cannot see slot positions (it cannot: nothing about
 *   the layout leaves the process).
 *
 * Costs: get, put, del O(1) expected; put may grow the array (O(n), amortized
 * O(1)); foreach O(capacity).
 *
 * Concurrency: a map has no internal lock; the caller serializes every call
 * on one map.
 */
#ifndef DMAC_HMAP_H
#define DMAC_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dmac_hmap_slot {
	uint64_t key;
	void *val; /**< NULL marks an empty slot: values must not be NULL */
};

/** A map; zero-initialised (= DMAC_HMAP_INIT) it is empty and valid. */
struct dmac_hmap {
	struct dmac_hmap_slot *slots;
	size_t mask;  /**< capacity - 1, or 0 with no array */
	size_t count; /**< keys held */
};

#define DMAC_HMAP_INIT                                                                             \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/**
 * The value of @p key, or NULL when absent.
 * Concurrency: caller serializes calls on @p m.
 */
DMAC_EXPORT void *dmac_hmap_get(const struct dmac_hmap *m, uint64_t key);

/**
 * Insert @p key -> @p val, or replace the value of an existing key.
 * @param val  non-NULL
 * @param old  receives the replaced value, or NULL when the key was new
 *             (may be NULL)
 * @return 0; -EINVAL (val NULL); -ENOMEM (growing failed: nothing changed).
 * Concurrency: caller serializes calls on @p m.
 */
DMAC_EXPORT int dmac_hmap_put(struct dmac_hmap *m, uint64_t key, void *val, void **old);

/**
 * Make room for @p n keys in total, so that the next puts up to that count
 * cannot fail.
 * @return 0 or -ENOMEM (nothing changed).
 * Concurrency: caller serializes calls on @p m.
 */
DMAC_EXPORT int dmac_hmap_reserve(struct dmac_hmap *m, size_t n);

/**
 * Remove @p key.
 * @return its value, or NULL when absent (nothing changed). Never fails.
 * Concurrency: caller serializes calls on @p m.
 */
DMAC_EXPORT void *dmac_hmap_del(struct dmac_hmap *m, uint64_t key);

/** Keys held. Concurrency: caller serializes calls on @p m. */
static inline size_t dmac_hmap_count(const struct dmac_hmap *m)
{
	return m->count;
}

/** Iteration callback: return 0 to go on, anything else to stop. */
typedef int (*dmac_hmap_iter_fn)(void *arg, uint64_t key, void *val);

/**
 * Call @p fn for every key, in no particular order. The callback must not
 * change the map.
 * @return 0 after a full walk, or the first non-zero value of @p fn.
 * Concurrency: caller serializes calls on @p m.
 */
DMAC_EXPORT int dmac_hmap_foreach(const struct dmac_hmap *m, dmac_hmap_iter_fn fn, void *arg);

/**
 * Remove every key and free the array (the values are the caller's). The map
 * is empty and valid afterwards. Never fails.
 * Concurrency: caller serializes calls on @p m.
 */
DMAC_EXPORT void dmac_hmap_clear(struct dmac_hmap *m);

/**
 * Internal (tests only): check every invariant.
 * @return 0 if consistent, else a negative number naming the broken one.
 */
int dmac__hmap_check(const struct dmac_hmap *m);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_HMAP_H */
