/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Benchmark peer only: the previous design of dmac_imap (lib/iova_cache/imap.c and
 * dmac/imap.h as of commit 24e36e4: a sorted array copied per batch and a radix index
 * of 12 KiB nodes), frozen with its symbols renamed dmacv1_* so that dmacache-bench
 * measures the old and the new map in the same run. Deliberately a copy: not built
 * into any library, not maintained; delete it with the comparison rows.
 */
/**
 * @file
 * dmacv1_imap: an RCU-protected map from disjoint 64-bit intervals to 64-bit values.
 *
 * Invariants:
 * - An interval is [start, last] with 'last' INCLUSIVE, start <= last. A length-0
 *   interval cannot be expressed; [0, UINT64_MAX] (2^64 bytes) can.
 * - Intervals of one map never overlap. The value of a byte addr inside [start, last]
 *   is value + (addr - start); an insert is refused if that would wrap past UINT64_MAX.
 * - Published versions are immutable. Every read call loads the current version once
 *   (one atomic acquire load), so one call sees all of a committed batch or none of
 *   it. Several calls see one version when they go through one snapshot
 *   (dmacv1_imap_snapshot() and the dmacv1_imap_snap_* readers).
 *
 * Concurrency contract:
 * - Readers (lookup, translate, lookup_range, next, count, memory, snapshot and the
 *   dmacv1_imap_snap_* calls) are lock-free and
 *   must run inside dmacv1_imap_read_lock()/dmacv1_imap_read_unlock(), an urcu-memb
 *   read-side section, on a thread registered with rcu_register_thread(). Any number
 *   of reader threads may run concurrently with one writer. Results (including the
 *   record contents copied out) stay valid after the section ends; pointers into the
 *   map are never handed out.
 * - Writers are serialized by a mutex inside the map, taken by dmacv1_imap_batch_begin()
 *   and released by dmacv1_imap_batch_commit() or dmacv1_imap_batch_abort() (insert and
 *   remove are one-op batches). A writer must not be inside a read-side section while
 *   it begins or commits a batch, and should be a registered RCU thread (commit uses
 *   call_rcu()).
 * - A commit publishes the new version with one atomic (release) pointer store. The
 *   old version's replaced index nodes, removed records and old sorted array are freed
 *   by a call_rcu() callback, i.e. only after a grace period, when no reader can
 *   still see them. dmacv1_imap_destroy() waits for all pending callbacks (rcu_barrier()).
 */
#ifndef DMAC_BENCH_IMAP_V1_H
#define DMAC_BENCH_IMAP_V1_H

#include <stddef.h>
#include <stdint.h>

#include <urcu/urcu-memb.h>
/*
 * The read-side lock and unlock of urcu-memb as static inline functions: liburcu
 * keeps them under ten lines each so that non-LGPL code may inline them (see the
 * comments of urcu/static/urcu-memb.h). Out of line they cost two calls into the
 * shared library and its TLS lookups on every translate.
 */
#include <urcu/static/urcu-memb.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dmacv1_imap;	/* opaque */
struct dmacv1_imap_batch; /* opaque */

/** One interval and its value; 'last' is inclusive. */
struct dmacv1_imap_entry {
	uint64_t start, last, value;
};

/** What dmacv1_imap_translate() returns on a miss. */
#define DMACV1_IMAP_NONE UINT64_MAX

/** Statistics of the current version (see dmacv1_imap_stats()). */
struct dmacv1_imap_stats {
	size_t intervals;     /**< number of intervals */
	size_t index_nodes;   /**< radix index nodes (excluding the top, inline in the version) */
	size_t record_bytes;  /**< bytes of interval records */
	size_t index_bytes;   /**< bytes of the radix index, top included */
	size_t sorted_bytes;  /**< bytes of the sorted record-pointer array (capacity) */
	size_t version_bytes; /**< bytes of the version header outside the top */
};

/**
 * Create an empty map.
 * @param out receives the map.
 * @return 0, -EINVAL (out NULL), -ENOMEM.
 * Concurrency: none (the map is not shared yet).
 */
DMAC_EXPORT int dmacv1_imap_create(struct dmacv1_imap **out);

/**
 * Destroy a map and every record it holds. Waits (rcu_barrier()) for the pending
 * deferred frees of earlier commits, so all memory is returned when it returns.
 * @param m the map, or NULL (no-op).
 * Concurrency: no reader may still use the map and no batch may be open; must not be
 * called inside a read-side section nor from a call_rcu callback.
 */
DMAC_EXPORT void dmacv1_imap_destroy(struct dmacv1_imap *m);

/**
 * Insert [start, last] -> value as a one-op batch (begin, insert, commit).
 * @return 0; -EINVAL (m NULL, start > last, value + (last - start) wraps); -EEXIST
 * (overlaps an existing interval); -ENOMEM. On error the map is unchanged.
 * Concurrency: writer; takes the map's writer mutex for its duration.
 */
DMAC_EXPORT int dmacv1_imap_insert(struct dmacv1_imap *m, uint64_t start, uint64_t last,
				 uint64_t value);

/**
 * Remove exactly the interval [start, last] as a one-op batch.
 * @return 0; -EINVAL (m NULL, start > last); -ENOENT (no interval is exactly
 * [start, last]); -ENOMEM. On error the map is unchanged. The record is freed after
 * a grace period.
 * Concurrency: writer; takes the map's writer mutex for its duration.
 */
DMAC_EXPORT int dmacv1_imap_remove(struct dmacv1_imap *m, uint64_t start, uint64_t last);

/**
 * Open a batch: takes the map's writer mutex (blocking while another batch is open)
 * and holds it until dmacv1_imap_batch_commit() or dmacv1_imap_batch_abort().
 * @return 0, -EINVAL (NULL args). Never -ENOMEM: the batch lives in the map.
 * Concurrency: writer; must not be called by a thread that already holds a batch of
 * the same map (it would deadlock).
 */
DMAC_EXPORT int dmacv1_imap_batch_begin(struct dmacv1_imap *m, struct dmacv1_imap_batch **out);

/**
 * Add an insert to the batch. The overlap check is against the map as the batch has
 * changed it so far (so removing an interval then inserting over it works).
 * @return 0; -EINVAL, -EEXIST, -ENOMEM as dmacv1_imap_insert(). Any error poisons the
 * batch: later ops return that error and the commit fails with it, publishing nothing.
 * Concurrency: the batch's owner only. Nothing is visible to readers before commit.
 */
DMAC_EXPORT int dmacv1_imap_batch_insert(struct dmacv1_imap_batch *b, uint64_t start, uint64_t last,
				       uint64_t value);

/**
 * Add a remove of exactly [start, last] (possibly inserted earlier in this batch).
 * @return 0; -EINVAL, -ENOENT, -ENOMEM as dmacv1_imap_remove(). Any error poisons the
 * batch, as for dmacv1_imap_batch_insert().
 * Concurrency: the batch's owner only.
 */
DMAC_EXPORT int dmacv1_imap_batch_remove(struct dmacv1_imap_batch *b, uint64_t start, uint64_t last);

/**
 * Publish every op of the batch at once (one atomic pointer store), release the writer
 * mutex and free the batch, whatever the result. Memory that only the previous
 * version used is handed to call_rcu().
 * @return 0; the poisoning error of an earlier op; -ENOMEM. On error nothing is
 * published and the previous version stays current and intact.
 * Concurrency: the batch's owner; not inside a read-side section.
 */
DMAC_EXPORT int dmacv1_imap_batch_commit(struct dmacv1_imap_batch *b);

/**
 * Drop every op of the batch, release the writer mutex and free the batch.
 * @param b the batch, or NULL (no-op). Never fails.
 */
DMAC_EXPORT void dmacv1_imap_batch_abort(struct dmacv1_imap_batch *b);

#if defined(__SANITIZE_THREAD__)
#define DMACV1_IMAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMACV1_IMAP_TSAN 1
#endif
#endif

#ifdef DMACV1_IMAP_TSAN
/* ThreadSanitizer model of the grace period: see imap.c. Not for direct use. */
DMAC_EXPORT void dmacv1__imap_tsan_reader_exit(void);
#endif

/*
 * Private layout, shared by imap.c and the inline readers below; not API (names with
 * dmac__ may change at any time). See imap.c for the invariants of the index.
 */
#define DMACV1__IMAP_WINDOW_BITS 48 /* keys below 2^48 are indexed */
#define DMACV1__IMAP_FANOUT_BITS 9
#define DMACV1__IMAP_T_KIND      7 /* kind bits of an entry word e[i] */
#define DMACV1__IMAP_T_NODE      0
#define DMACV1__IMAP_T_FULL      1
#define DMACV1__IMAP_T_EMPTY     4

/* First member of struct dmacv1_imap: the published version (a dmacv1_imap_snap). */
struct dmacv1__imap_head {
	const struct dmacv1_imap_snap *cur;
};

/*
 * First member of every version and index node. e[i]: kind in the low 3 bits; a
 * child node (T_NODE), or for T_FULL (value - start) | 1. run[i] (T_FULL): the last
 * byte of the key-and-value-contiguous run holding the slot's interval.
 */
struct dmacv1__imap_node_head {
	uint64_t e[1U << DMACV1__IMAP_FANOUT_BITS];
	uint64_t run[1U << DMACV1__IMAP_FANOUT_BITS];
};

/** A published version of a map, as returned by dmacv1_imap_snapshot(). Opaque. */
struct dmacv1_imap_snap;

/**
 * Enter an urcu-memb read-side section (nests). The thread must be registered with
 * rcu_register_thread(). Equivalent to rcu_read_lock() of the memb flavour.
 */
static inline void dmacv1_imap_read_lock(void)
{
#ifdef DMACV1_IMAP_TSAN
	/* Out of line under TSan: the inline version's volatile accesses would be
	 * instrumented, and liburcu's own synchronization is invisible to TSan. */
	urcu_memb_read_lock();
#else
	_urcu_memb_read_lock();
#endif
}

/**
 * Wait for a grace period: when this returns, every read-side section that was
 * active when it was called has ended, so memory those readers could reach and
 * that the caller has since unpublished may be freed or reused (the urcu-memb
 * synchronize_rcu(), plus the ThreadSanitizer model of that guarantee).
 * Concurrency: any registered thread outside a read-side section; blocks.
 */
DMAC_EXPORT void dmacv1_imap_synchronize(void);

/** Leave the read-side section entered by dmacv1_imap_read_lock(). */
static inline void dmacv1_imap_read_unlock(void)
{
#ifdef DMACV1_IMAP_TSAN
	dmacv1__imap_tsan_reader_exit();
	urcu_memb_read_unlock();
#else
	_urcu_memb_read_unlock();
#endif
}

/**
 * The current version of m, for several reads that must all see the same version
 * (all of a committed batch or none of it). One atomic acquire load.
 * @return the snapshot, or NULL if m is NULL.
 * Concurrency: reader, inside dmacv1_imap_read_lock(); the snapshot (and everything
 * read through it) may be used only until that read-side section ends: after it,
 * the version may be freed at any time.
 */
static inline const struct dmacv1_imap_snap *dmacv1_imap_snapshot(const struct dmacv1_imap *m)
{
	if (dmac_unlikely(!m))
		return NULL;
	/* Acquire pairs with the release store of commit: the version is complete. */
	return __atomic_load_n(&((const struct dmacv1__imap_head *)m)->cur, __ATOMIC_ACQUIRE);
}

/* The out-of-line rest of dmacv1_imap_snap_translate(); not for direct use. */
DMAC_EXPORT uint64_t dmacv1__imap_translate_slow(const struct dmacv1_imap_snap *s, uint64_t addr,
					       uint64_t max_len, uint64_t *len);

/* dmacv1_imap_snap_translate() of a non-NULL snapshot; not for direct use. */
static inline uint64_t dmacv1__imap_translate_v(const struct dmacv1_imap_snap *s, uint64_t addr,
					      uint64_t max_len, uint64_t *len)
{
	const struct dmacv1__imap_node_head *l = (const struct dmacv1__imap_node_head *)s;
	const unsigned mask = (1U << DMACV1__IMAP_FANOUT_BITS) - 1;
	unsigned i;
	uint64_t e;

	if (dmac_likely(!(addr >> DMACV1__IMAP_WINDOW_BITS))) {
		/* Levels of 2^39, 2^30 and 2^21 (2 MiB) bytes; see imap.c. */
		i = addr >> 39;
		e = l->e[i];
		if (dmac_likely((e & DMACV1__IMAP_T_KIND) == DMACV1__IMAP_T_NODE)) {
			l = (const struct dmacv1__imap_node_head *)(uintptr_t)e;
			i = (addr >> 30) & mask;
			e = l->e[i];
			if (dmac_likely((e & DMACV1__IMAP_T_KIND) == DMACV1__IMAP_T_NODE)) {
				l = (const struct dmacv1__imap_node_head *)(uintptr_t)e;
				i = (addr >> 21) & mask;
				e = l->e[i];
			}
		}
		/* The hot path: a 2 MiB slot wholly inside one interval. */
		if (dmac_likely((e & DMACV1__IMAP_T_KIND) == DMACV1__IMAP_T_FULL)) {
			if (len) {
				/* Branch-free: lim is UINT64_MAX when max_len is 0 (no clip). */
				uint64_t c = l->run[i] - addr, lim = max_len - 1;

				c = c < lim ? c : lim;
				*len = c + (c != UINT64_MAX);
			}
			return addr + (e - DMACV1__IMAP_T_FULL);
		}
		if ((e & DMACV1__IMAP_T_KIND) == DMACV1__IMAP_T_EMPTY)
			return DMACV1_IMAP_NONE;
	}
	return dmacv1__imap_translate_slow(s, addr, max_len, len);
}

/**
 * dmacv1_imap_translate() on a snapshot (see there for the arguments and result).
 * @param s a snapshot from dmacv1_imap_snapshot(), or NULL (a miss).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
static inline uint64_t dmacv1_imap_snap_translate(const struct dmacv1_imap_snap *s, uint64_t addr,
						uint64_t max_len, uint64_t *len)
{
	if (dmac_unlikely(!s))
		return DMACV1_IMAP_NONE;
	return dmacv1__imap_translate_v(s, addr, max_len, len);
}

/**
 * Translate addr: value + (addr - start) of the interval containing it. The hot path
 * (inline: one acquire load of the current version, then the index walk).
 * @param max_len if nonzero, *len is clipped to it.
 * @param len if not NULL, receives the number of bytes from addr that are contiguous
 *        both in key and in value (following adjacent intervals whose value continues
 *        the previous one), saturated at UINT64_MAX; untouched on a miss.
 * @return the translation, or DMACV1_IMAP_NONE on a miss (m NULL included). Note that a
 * byte that legitimately translates to UINT64_MAX is indistinguishable from a miss;
 * use dmacv1_imap_lookup_range() when that matters.
 * Concurrency: reader, inside dmacv1_imap_read_lock(). The call reads one version: the
 * translation and the contiguous length see all of a committed batch or none of it.
 * Two calls may see two versions; use a snapshot when they must not.
 */
static inline uint64_t dmacv1_imap_translate(const struct dmacv1_imap *m, uint64_t addr,
					   uint64_t max_len, uint64_t *len)
{
	if (dmac_unlikely(!m))
		return DMACV1_IMAP_NONE;
	/* A published version is never NULL. Acquire: see dmacv1_imap_snapshot(). */
	return dmacv1__imap_translate_v(
	    __atomic_load_n(&((const struct dmacv1__imap_head *)m)->cur, __ATOMIC_ACQUIRE), addr,
	    max_len, len);
}

/**
 * Find the interval containing addr.
 * @return 0 and *out filled; -ENOENT (no interval contains addr); -EINVAL (NULL args).
 * Concurrency: reader, inside dmacv1_imap_read_lock(); the call reads one version.
 */
DMAC_EXPORT int dmacv1_imap_lookup(const struct dmacv1_imap *m, uint64_t addr,
				 struct dmacv1_imap_entry *out);

/**
 * Find the interval containing addr and the contiguous length from addr (same rule as
 * dmacv1_imap_translate(), clipped to max_len when nonzero, saturated at UINT64_MAX).
 * @param contig may be NULL.
 * @return 0, -ENOENT, -EINVAL (m or out NULL).
 * Concurrency: reader, inside dmacv1_imap_read_lock(); the call (entry and contiguous
 * length) reads one version.
 */
DMAC_EXPORT int dmacv1_imap_lookup_range(const struct dmacv1_imap *m, uint64_t addr, uint64_t max_len,
				       struct dmacv1_imap_entry *out, uint64_t *contig);

/**
 * The first interval with start >= addr, for ordered iteration
 * (addr = out->last + 1 until -ENOENT, stopping after last == UINT64_MAX).
 * @return 0, -ENOENT (none), -EINVAL (NULL args).
 * Concurrency: reader, inside dmacv1_imap_read_lock(). Each call reads one version;
 * successive calls may see different versions (iterate with dmacv1_imap_snap_next() on
 * one snapshot to visit exactly one version).
 */
DMAC_EXPORT int dmacv1_imap_next(const struct dmacv1_imap *m, uint64_t addr,
			       struct dmacv1_imap_entry *out);

/**
 * dmacv1_imap_lookup() on a snapshot. @return 0, -ENOENT, -EINVAL (s or out NULL).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
DMAC_EXPORT int dmacv1_imap_snap_lookup(const struct dmacv1_imap_snap *s, uint64_t addr,
				      struct dmacv1_imap_entry *out);

/**
 * dmacv1_imap_lookup_range() on a snapshot. @return 0, -ENOENT, -EINVAL (s or out NULL).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
DMAC_EXPORT int dmacv1_imap_snap_lookup_range(const struct dmacv1_imap_snap *s, uint64_t addr,
					    uint64_t max_len, struct dmacv1_imap_entry *out,
					    uint64_t *contig);

/**
 * dmacv1_imap_next() on a snapshot: iterating with one snapshot visits one version.
 * @return 0, -ENOENT, -EINVAL (s or out NULL).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
DMAC_EXPORT int dmacv1_imap_snap_next(const struct dmacv1_imap_snap *s, uint64_t addr,
				    struct dmacv1_imap_entry *out);

/** Number of intervals of the snapshot (0 for NULL). Reader, as dmacv1_imap_snap_lookup(). */
DMAC_EXPORT size_t dmacv1_imap_snap_count(const struct dmacv1_imap_snap *s);

/** Number of intervals of the current version (0 for NULL). Reader. */
DMAC_EXPORT size_t dmacv1_imap_count(const struct dmacv1_imap *m);

/**
 * Bytes held by the current version: records, sorted array, index nodes, version
 * header (logical sizes; allocator overhead not included). Reader.
 */
DMAC_EXPORT size_t dmacv1_imap_memory(const struct dmacv1_imap *m);

/**
 * Break dmacv1_imap_memory() down. @return 0, -EINVAL (NULL args). Reader.
 */
DMAC_EXPORT int dmacv1_imap_stats(const struct dmacv1_imap *m, struct dmacv1_imap_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_BENCH_IMAP_V1_H */
