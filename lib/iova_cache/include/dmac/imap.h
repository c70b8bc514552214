/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * dmac_imap: an RCU-protected map from disjoint 64-bit intervals to 64-bit values.
 *
 * Invariants:
 * - An interval is [start, last] with 'last' INCLUSIVE, start <= last. A length-0
 *   interval cannot be expressed; [0, UINT64_MAX] (2^64 bytes) can.
 * - Intervals of one map never overlap. The value of a byte addr inside [start, last]
 *   is value + (addr - start); an insert is refused if that would wrap past UINT64_MAX.
 * - Published versions are immutable and each call reads one version, so it sees all
 *   of a committed batch or none of it; inside one dmac_imap_read_lock() section all
 *   calls on a map read the same version (see dmac_imap_read_lock()).
 *
 * Concurrency contract:
 * - Readers (lookup, translate, lookup_range, next, count, memory) are lock-free and
 *   must run inside dmac_imap_read_lock()/dmac_imap_read_unlock(), an urcu-memb
 *   read-side section, on a thread registered with rcu_register_thread(). Any number
 *   of reader threads may run concurrently with one writer. Results (including the
 *   record contents copied out) stay valid after the section ends; pointers into the
 *   map are never handed out.
 * - Writers are serialized by a mutex inside the map, taken by dmac_imap_batch_begin()
 *   and released by dmac_imap_batch_commit() or dmac_imap_batch_abort() (insert and
 *   remove are one-op batches). A writer must not be inside a read-side section while
 *   it begins or commits a batch, and should be a registered RCU thread (commit uses
 *   call_rcu()).
 * - A commit publishes the new version with one atomic (release) pointer store. The
 *   old version's replaced index nodes, removed records and old sorted array are freed
 *   by a call_rcu() callback, i.e. only after a grace period, when no reader can
 *   still see them. dmac_imap_destroy() waits for all pending callbacks (rcu_barrier()).
 */
#ifndef DMAC_IMAP_H
#define DMAC_IMAP_H

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

struct dmac_imap;	/* opaque */
struct dmac_imap_batch; /* opaque */

/** One interval and its value; 'last' is inclusive. */
struct dmac_imap_entry {
	uint64_t start, last, value;
};

/** What dmac_imap_translate() returns on a miss. */
#define DMAC_IMAP_NONE UINT64_MAX

/** Statistics of the current version (see dmac_imap_stats()). */
struct dmac_imap_stats {
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
DMAC_EXPORT int dmac_imap_create(struct dmac_imap **out);

/**
 * Destroy a map and every record it holds. Waits (rcu_barrier()) for the pending
 * deferred frees of earlier commits, so all memory is returned when it returns.
 * @param m the map, or NULL (no-op).
 * Concurrency: no reader may still use the map and no batch may be open; must not be
 * called inside a read-side section nor from a call_rcu callback.
 */
DMAC_EXPORT void dmac_imap_destroy(struct dmac_imap *m);

/**
 * Insert [start, last] -> value as a one-op batch (begin, insert, commit).
 * @return 0; -EINVAL (m NULL, start > last, value + (last - start) wraps); -EEXIST
 * (overlaps an existing interval); -ENOMEM. On error the map is unchanged.
 * Concurrency: writer; takes the map's writer mutex for its duration.
 */
DMAC_EXPORT int dmac_imap_insert(struct dmac_imap *m, uint64_t start, uint64_t last,
				 uint64_t value);

/**
 * Remove exactly the interval [start, last] as a one-op batch.
 * @return 0; -EINVAL (m NULL, start > last); -ENOENT (no interval is exactly
 * [start, last]); -ENOMEM. On error the map is unchanged. The record is freed after
 * a grace period.
 * Concurrency: writer; takes the map's writer mutex for its duration.
 */
DMAC_EXPORT int dmac_imap_remove(struct dmac_imap *m, uint64_t start, uint64_t last);

/**
 * Open a batch: takes the map's writer mutex (blocking while another batch is open)
 * and holds it until dmac_imap_batch_commit() or dmac_imap_batch_abort().
 * @return 0, -EINVAL (NULL args). Never -ENOMEM: the batch lives in the map.
 * Concurrency: writer; must not be called by a thread that already holds a batch of
 * the same map (it would deadlock).
 */
DMAC_EXPORT int dmac_imap_batch_begin(struct dmac_imap *m, struct dmac_imap_batch **out);

/**
 * Add an insert to the batch. The overlap check is against the map as the batch has
 * changed it so far (so removing an interval then inserting over it works).
 * @return 0; -EINVAL, -EEXIST, -ENOMEM as dmac_imap_insert(). Any error poisons the
 * batch: later ops return that error and the commit fails with it, publishing nothing.
 * Concurrency: the batch's owner only. Nothing is visible to readers before commit.
 */
DMAC_EXPORT int dmac_imap_batch_insert(struct dmac_imap_batch *b, uint64_t start, uint64_t last,
				       uint64_t value);

/**
 * Add a remove of exactly [start, last] (possibly inserted earlier in this batch).
 * @return 0; -EINVAL, -ENOENT, -ENOMEM as dmac_imap_remove(). Any error poisons the
 * batch, as for dmac_imap_batch_insert().
 * Concurrency: the batch's owner only.
 */
DMAC_EXPORT int dmac_imap_batch_remove(struct dmac_imap_batch *b, uint64_t start, uint64_t last);

/**
 * Publish every op of the batch at once (one atomic pointer store), release the writer
 * mutex and free the batch, whatever the result. Memory that only the previous
 * version used is handed to call_rcu().
 * @return 0; the poisoning error of an earlier op; -ENOMEM. On error nothing is
 * published and the previous version stays current and intact.
 * Concurrency: the batch's owner; not inside a read-side section.
 */
DMAC_EXPORT int dmac_imap_batch_commit(struct dmac_imap_batch *b);

/**
 * Drop every op of the batch, release the writer mutex and free the batch.
 * @param b the batch, or NULL (no-op). Never fails.
 */
DMAC_EXPORT void dmac_imap_batch_abort(struct dmac_imap_batch *b);

#if defined(__SANITIZE_THREAD__)
#define DMAC_IMAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMAC_IMAP_TSAN 1
#endif
#endif

#ifdef DMAC_IMAP_TSAN
/* ThreadSanitizer model of the grace period: see imap.c. Not for direct use. */
DMAC_EXPORT void dmac__imap_tsan_reader_exit(void);
#endif

/** How many maps one read-side section pins a version of (see dmac_imap_read_lock()). */
#define DMAC_IMAP_SECTION_MAPS 4

/*
 * Per-thread read-side state, private to imap.c and the inline wrappers below. Outside
 * a section opened by dmac_imap_read_lock(), state is 0 and slot[0].m is NULL; inside,
 * state - 1 slots hold the version pinned for each map read so far.
 */
struct dmac__imap_tls {
	unsigned int state;
	struct {
		const struct dmac_imap *m;
		const void *v;
	} slot[DMAC_IMAP_SECTION_MAPS];
};
DMAC_EXPORT extern __thread struct dmac__imap_tls dmac__imap_tls
    __attribute__((tls_model("initial-exec")));

/**
 * Enter an urcu-memb read-side section (nests). The thread must be registered with
 * rcu_register_thread(). Inside the outermost such section every call on the same map
 * reads the same version, so several lookups see all of a batch or none of it; this
 * holds for up to DMAC_IMAP_SECTION_MAPS maps per section. Calls on further maps, or
 * inside a section opened with a bare rcu_read_lock(), each read the latest version.
 */
static inline void dmac_imap_read_lock(void)
{
#ifdef DMAC_IMAP_TSAN
	/* Out of line under TSan: the inline version's volatile accesses would be
	 * instrumented, and liburcu's own synchronization is invisible to TSan. */
	urcu_memb_read_lock();
#else
	_urcu_memb_read_lock();
#endif
	if (_urcu_memb_read_ongoing() == 1) /* outermost */
		dmac__imap_tls.state = 1;
}

/** Leave the read-side section entered by dmac_imap_read_lock(). */
static inline void dmac_imap_read_unlock(void)
{
	if (_urcu_memb_read_ongoing() == 1) { /* outermost: unpin */
		dmac__imap_tls.state = 0;
		dmac__imap_tls.slot[0].m = NULL;
	}
#ifdef DMAC_IMAP_TSAN
	dmac__imap_tsan_reader_exit();
	urcu_memb_read_unlock();
#else
	_urcu_memb_read_unlock();
#endif
}

/**
 * Find the interval containing addr.
 * @return 0 and *out filled; -ENOENT (no interval contains addr); -EINVAL (NULL args).
 * Concurrency: reader, inside dmac_imap_read_lock().
 */
DMAC_EXPORT int dmac_imap_lookup(const struct dmac_imap *m, uint64_t addr,
				 struct dmac_imap_entry *out);

/**
 * Translate addr: value + (addr - start) of the interval containing it. The hot path.
 * @param max_len if nonzero, *len is clipped to it.
 * @param len if not NULL, receives the number of bytes from addr that are contiguous
 *        both in key and in value (following adjacent intervals whose value continues
 *        the previous one), saturated at UINT64_MAX; untouched on a miss.
 * @return the translation, or DMAC_IMAP_NONE on a miss (m NULL included). Note that a
 * byte that legitimately translates to UINT64_MAX is indistinguishable from a miss;
 * use dmac_imap_lookup_range() when that matters.
 * Concurrency: reader, inside dmac_imap_read_lock().
 */
DMAC_EXPORT uint64_t dmac_imap_translate(const struct dmac_imap *m, uint64_t addr, uint64_t max_len,
					 uint64_t *len);

/**
 * Find the interval containing addr and the contiguous length from addr (same rule as
 * dmac_imap_translate(), clipped to max_len when nonzero, saturated at UINT64_MAX).
 * @param contig may be NULL.
 * @return 0, -ENOENT, -EINVAL (m or out NULL).
 * Concurrency: reader, inside dmac_imap_read_lock().
 */
DMAC_EXPORT int dmac_imap_lookup_range(const struct dmac_imap *m, uint64_t addr, uint64_t max_len,
				       struct dmac_imap_entry *out, uint64_t *contig);

/**
 * The first interval with start >= addr, for ordered iteration
 * (addr = out->last + 1 until -ENOENT, stopping after last == UINT64_MAX).
 * @return 0, -ENOENT (none), -EINVAL (NULL args).
 * Concurrency: reader; successive calls in different read-side sections may see
 * different versions.
 */
DMAC_EXPORT int dmac_imap_next(const struct dmac_imap *m, uint64_t addr,
			       struct dmac_imap_entry *out);

/** Number of intervals of the current version (0 for NULL). Reader. */
DMAC_EXPORT size_t dmac_imap_count(const struct dmac_imap *m);

/**
 * Bytes held by the current version: records, sorted array, index nodes, version
 * header (logical sizes; allocator overhead not included). Reader.
 */
DMAC_EXPORT size_t dmac_imap_memory(const struct dmac_imap *m);

/**
 * Break dmac_imap_memory() down. @return 0, -EINVAL (NULL args). Reader.
 */
DMAC_EXPORT int dmac_imap_stats(const struct dmac_imap *m, struct dmac_imap_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_IMAP_H */
