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
 * - Published versions are immutable. Every read call loads the current version once
 *   (one atomic acquire load), so one call sees all of a committed batch or none of
 *   it. Several calls see one version when they go through one snapshot
 *   (dmac_imap_snapshot() and the dmac_imap_snap_* readers).
 *
 * Concurrency contract:
 * - Readers (lookup, translate, translate_burst, lookup_range, next, count, memory,
 *   snapshot and the dmac_imap_snap_* calls) are lock-free and
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
 *   old version's replaced index and tree nodes and removed records are freed
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
	size_t index_nodes;   /**< radix index nodes (the root entry is in the version) */
	size_t tree_nodes;    /**< B-tree nodes (the ordered records) */
	size_t record_bytes;  /**< bytes of interval records */
	size_t index_bytes;   /**< bytes of the radix index nodes, the flat top and the whole
				   table pool (tables in use, retired and free) */
	size_t tree_bytes;    /**< bytes of the B-tree nodes */
	size_t version_bytes; /**< bytes of the version header */
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

/*
 * Private layout, shared by imap.c and the inline readers below; not API (names with
 * dmac__ may change at any time). See imap.c and docs/imap.md for the invariants.
 *
 * Each version holds a radix tree of 64-entry nodes over the whole 64-bit key space
 * (a node whose entries have shift s covers 2^(s + 6) bytes, s in {21, 27, ..., 63}),
 * persistent and immutable, and shares with the versions before and after it a flat
 * table of 1 GiB slots over a window of keys (the accelerator translate reads), a
 * slot holding a word or a table of 512 entries of 2 MiB.
 * An entry (of a node or of a slot) is one 64-bit word:
 *   (e & 1) == 1     FULL: one interval covers the entry's whole region and
 *                    value - start is a multiple of 4096: translation = addr +
 *                    (e & ~0xfff); bits 1..6 (k): the next k entries (of the same
 *                    node, or slots) hold the same translation, so the bytes are
 *                    contiguous in key and value up to the end of the k-th; bit 7
 *                    (MORE): the run goes on past the last of them;
 *   (e & 63) == 0    NODE: a node (64-byte aligned) of the next level's entries; a
 *                    slot's node has 2 MiB entries;
 *   (e & 7) == 2     ONE: e & ~31 is the only record intersecting the region;
 *   EMPTY, SRCH      no interval; two or more (2 MiB level only): search the tree.
 * A version's header (read by the inline walk) says where its slots are (ftab, fbase,
 * fn: slot i covers the 1 GiB from fbase + i * 1 GiB; fn == 0: none) and whether
 * it is still the newest version the slots describe (dead == 0). Slots are written in
 * place; a commit sets the replaced version's dead flag before its first slot write,
 * so a reader that loads a slot (acquire) and then sees dead == 0 has read the slot of
 * its own version. Otherwise, and outside the window, the reader walks its version's
 * tree (out of line): the root node's entries follow the header. The published
 * pointer is the version's address.
 */
#define DMAC__IMAP_E_EMPTY 4U
#define DMAC__IMAP_E_SRCH  6U
#define DMAC__IMAP_E_FULL  1U
#define DMAC__IMAP_E_MORE  0x80U
#define DMAC__IMAP_E_DMASK (~(uint64_t)0xfff)
#define DMAC__IMAP_E_ONE   2U
#define DMAC__IMAP_FSHIFT  30  /* a slot of the flat top covers 1 GiB */
#define DMAC__IMAP_LSHIFT  21  /* an entry of a flat table covers 2 MiB */
#define DMAC__IMAP_TMASK   511 /* entries of a flat table - 1 */

/* The start of an interval record (a ONE entry points to it). */
struct dmac__imap_rec {
	uint64_t start, last, value;
};

/* First member of struct dmac_imap: the published version (a dmac_imap_snap). */
struct dmac__imap_head {
	const struct dmac_imap_snap *cur;
};

/* The start of every version: the flat window, the dead flag, the root node. */
struct dmac__imap_vhead {
	const uint64_t *ftab; /* the slots (shared with other versions; atomic loads) */
	uint64_t fbase;	      /* key of slot 0, 1 GiB-aligned */
	uint64_t fn;	      /* number of slots; 0: no window */
	uint64_t dead;	      /* set once a newer version may write the slots; atomic */
	uint64_t mask, base;  /* the root's region: keys k with (k & mask) == base */
	uint64_t pad[2];
	uint64_t e[64]; /* the root node's entries */
};

/** A published version of a map, as returned by dmac_imap_snapshot(). Opaque. */
struct dmac_imap_snap;

/**
 * Enter an urcu-memb read-side section (nests). The thread must be registered with
 * rcu_register_thread(). Equivalent to rcu_read_lock() of the memb flavour.
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
}

/**
 * Wait for a grace period: when this returns, every read-side section that was
 * active when it was called has ended, so memory those readers could reach and
 * that the caller has since unpublished may be freed or reused (the urcu-memb
 * synchronize_rcu(), plus the ThreadSanitizer model of that guarantee).
 * Concurrency: any registered thread outside a read-side section; blocks.
 */
DMAC_EXPORT void dmac_imap_synchronize(void);

/** Leave the read-side section entered by dmac_imap_read_lock(). */
static inline void dmac_imap_read_unlock(void)
{
#ifdef DMAC_IMAP_TSAN
	dmac__imap_tsan_reader_exit();
	urcu_memb_read_unlock();
#else
	_urcu_memb_read_unlock();
#endif
}

/**
 * The current version of m, for several reads that must all see the same version
 * (all of a committed batch or none of it). One atomic acquire load.
 * @return the snapshot, or NULL if m is NULL.
 * Concurrency: reader, inside dmac_imap_read_lock(); the snapshot (and everything
 * read through it) may be used only until that read-side section ends: after it,
 * the version may be freed at any time.
 */
static inline const struct dmac_imap_snap *dmac_imap_snapshot(const struct dmac_imap *m)
{
	if (dmac_unlikely(!m))
		return NULL;
	/* Acquire pairs with the release store of commit: the version is complete. */
	return __atomic_load_n(&((const struct dmac__imap_head *)m)->cur, __ATOMIC_ACQUIRE);
}

/* The out-of-line rest of dmac_imap_snap_translate(); not for direct use. */
DMAC_EXPORT uint64_t dmac__imap_translate_slow(const struct dmac_imap_snap *s, uint64_t addr,
					       uint64_t max_len, uint64_t *len);
/* The length of a FULL entry's run past what the entry says; not for direct use. */
DMAC_EXPORT uint64_t dmac__imap_run_slow(const struct dmac_imap_snap *s, uint64_t e, unsigned shift,
					 uint64_t addr, uint64_t max_len);

/*
 * The translation of addr by the FULL entry e, whose region has 2^sh bytes (a
 * constant at each call), and in *len (if len) the contiguous length: with the k
 * entries after e that hold the same translation, c + 1 bytes from addr are
 * contiguous (sh <= 30: no overflow), and exactly those unless MORE. MORE is tested
 * first: it is rare, so the branch is predicted, and the clip to max_len (lim =
 * UINT64_MAX when 0) is a plain min. Not for direct use.
 */
static inline __attribute__((always_inline)) uint64_t
dmac__imap_full(const struct dmac_imap_snap *s, uint64_t e, unsigned sh, uint64_t addr,
		uint64_t max_len, uint64_t *len)
{
	if (len) {
		uint64_t lim = max_len - 1, mask = (UINT64_C(1) << sh) - 1, c;

		/* ((k + 1) << sh) - 1 - (addr & mask), with k in bits 1..6 of e. */
		c = (((e & 0x7e) << (sh - 1)) | mask) - (addr & mask);
		if (dmac_unlikely((e & DMAC__IMAP_E_MORE) && c < lim))
			*len = dmac__imap_run_slow(s, e, sh, addr, max_len);
		else
			*len = (c < lim ? c : lim) + 1;
	}
	return addr + (e & DMAC__IMAP_E_DMASK);
}

/* dmac_imap_snap_translate() of a non-NULL snapshot; not for direct use. */
static inline __attribute__((always_inline)) uint64_t
dmac__imap_translate_v(const struct dmac_imap_snap *s, uint64_t addr, uint64_t max_len,
		       uint64_t *len)
{
	const struct dmac__imap_vhead *v = (const struct dmac__imap_vhead *)s;
	uint64_t i = (addr - v->fbase) >> DMAC__IMAP_FSHIFT, e;

	if (dmac_unlikely(i >= v->fn))
		return dmac__imap_translate_slow(s, addr, max_len, len);
	/*
	 * The slot (and its table's entry), then the version's dead flag: acquire orders
	 * the loads, so a word that a newer commit wrote comes with dead set (the commit
	 * set it before its first store). The hot path: a region wholly inside one
	 * interval, translation inline.
	 */
	e = __atomic_load_n(&v->ftab[i], __ATOMIC_ACQUIRE);
	if (dmac_likely((e & 63) == 0)) { /* NODE: a table of 2 MiB entries (the common case) */
		e = __atomic_load_n(&((const uint64_t *)(uintptr_t)
					  e)[(addr >> DMAC__IMAP_LSHIFT) & DMAC__IMAP_TMASK],
				    __ATOMIC_ACQUIRE);
		if (dmac_unlikely(__atomic_load_n(&v->dead, __ATOMIC_RELAXED)))
			return dmac__imap_translate_slow(s, addr, max_len, len);
		if (dmac_likely(e & DMAC__IMAP_E_FULL))
			return dmac__imap_full(s, e, DMAC__IMAP_LSHIFT, addr, max_len, len);
	} else {
		if (dmac_unlikely(__atomic_load_n(&v->dead, __ATOMIC_RELAXED)))
			return dmac__imap_translate_slow(s, addr, max_len, len);
		if (dmac_likely(e & DMAC__IMAP_E_FULL))
			return dmac__imap_full(s, e, DMAC__IMAP_FSHIFT, addr, max_len, len);
	}
	if (e == DMAC__IMAP_E_EMPTY)
		return DMAC_IMAP_NONE;
	if ((e & 7) == DMAC__IMAP_E_ONE) {
		/* The only interval meeting the region: check its bounds. */
		const struct dmac__imap_rec *r =
		    (const struct dmac__imap_rec *)(uintptr_t)(e & ~(uint64_t)31);
		uint64_t off = addr - r->start;

		if (off > r->last - r->start)
			return DMAC_IMAP_NONE;
		/* A length that ends inside the record needs no neighbour. */
		if (len && (max_len == 0 || r->last - addr < max_len - 1))
			return dmac__imap_translate_slow(s, addr, max_len, len);
		if (len)
			*len = max_len;
		return r->value + off;
	}
	return dmac__imap_translate_slow(s, addr, max_len, len);
}

/**
 * dmac_imap_translate() on a snapshot (see there for the arguments and result).
 * @param s a snapshot from dmac_imap_snapshot(), or NULL (a miss).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
static inline uint64_t dmac_imap_snap_translate(const struct dmac_imap_snap *s, uint64_t addr,
						uint64_t max_len, uint64_t *len)
{
	if (dmac_unlikely(!s))
		return DMAC_IMAP_NONE;
	return dmac__imap_translate_v(s, addr, max_len, len);
}

/**
 * Translate @p n addresses through one snapshot (a burst, as a dataplane translates
 * the buffers of a batch of packets or the pages of an I/O): iova[i] is
 * dmac_imap_snap_translate(s, addr[i], len ? len[i] : 0, len ? &len[i] : NULL),
 * except that len[i] is set to 0 on a miss.
 * @param len NULL, or n lengths: in, max_len of each address (0: no clip); out, the
 *        contiguous length (0 on a miss)
 * @return the number of addresses that hit (0 if s is NULL; then every iova[i] is
 *  DMAC_IMAP_NONE).
 * Concurrency: reader, inside the read-side section that took the snapshot; all n
 * translations come from that one version.
 */
static inline size_t dmac_imap_snap_translate_burst(const struct dmac_imap_snap *s,
						    const uint64_t *addr, uint64_t *iova,
						    uint64_t *len, size_t n)
{
	size_t hits = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t t;

		if (dmac_unlikely(!s)) {
			iova[i] = DMAC_IMAP_NONE;
			if (len)
				len[i] = 0;
			continue;
		}
		if (len) {
			t = dmac__imap_translate_v(s, addr[i], len[i], &len[i]);
			if (t == DMAC_IMAP_NONE)
				len[i] = 0;
		} else {
			t = dmac__imap_translate_v(s, addr[i], 0, NULL);
		}
		iova[i] = t;
		hits += t != DMAC_IMAP_NONE;
	}
	return hits;
}

/**
 * dmac_imap_snap_translate_burst() on the current version of @p m: one acquire load
 * for the whole burst, so all n translations see one version.
 * Concurrency: reader, inside dmac_imap_read_lock() (one section around the burst
 * is the point: its cost is paid once for n lookups).
 */
static inline size_t dmac_imap_translate_burst(const struct dmac_imap *m, const uint64_t *addr,
					       uint64_t *iova, uint64_t *len, size_t n)
{
	return dmac_imap_snap_translate_burst(dmac_imap_snapshot(m), addr, iova, len, n);
}

/**
 * Translate addr: value + (addr - start) of the interval containing it. The hot path
 * (inline: one acquire load of the current version, then the index walk).
 * @param max_len if nonzero, *len is clipped to it.
 * @param len if not NULL, receives the number of bytes from addr that are contiguous
 *        both in key and in value (following adjacent intervals whose value continues
 *        the previous one), saturated at UINT64_MAX; untouched on a miss.
 * @return the translation, or DMAC_IMAP_NONE on a miss (m NULL included). Note that a
 * byte that legitimately translates to UINT64_MAX is indistinguishable from a miss;
 * use dmac_imap_lookup_range() when that matters.
 * Concurrency: reader, inside dmac_imap_read_lock(). The call reads one version: the
 * translation and the contiguous length see all of a committed batch or none of it.
 * Two calls may see two versions; use a snapshot when they must not.
 */
static inline uint64_t dmac_imap_translate(const struct dmac_imap *m, uint64_t addr,
					   uint64_t max_len, uint64_t *len)
{
	if (dmac_unlikely(!m))
		return DMAC_IMAP_NONE;
	/* A published version is never NULL. Acquire: see dmac_imap_snapshot(). */
	return dmac__imap_translate_v(
	    __atomic_load_n(&((const struct dmac__imap_head *)m)->cur, __ATOMIC_ACQUIRE), addr,
	    max_len, len);
}

/**
 * Find the interval containing addr.
 * @return 0 and *out filled; -ENOENT (no interval contains addr); -EINVAL (NULL args).
 * Concurrency: reader, inside dmac_imap_read_lock(); the call reads one version.
 */
DMAC_EXPORT int dmac_imap_lookup(const struct dmac_imap *m, uint64_t addr,
				 struct dmac_imap_entry *out);

/**
 * Find the interval containing addr and the contiguous length from addr (same rule as
 * dmac_imap_translate(), clipped to max_len when nonzero, saturated at UINT64_MAX).
 * @param contig may be NULL.
 * @return 0, -ENOENT, -EINVAL (m or out NULL).
 * Concurrency: reader, inside dmac_imap_read_lock(); the call (entry and contiguous
 * length) reads one version.
 */
DMAC_EXPORT int dmac_imap_lookup_range(const struct dmac_imap *m, uint64_t addr, uint64_t max_len,
				       struct dmac_imap_entry *out, uint64_t *contig);

/**
 * The first interval with start >= addr, for ordered iteration
 * (addr = out->last + 1 until -ENOENT, stopping after last == UINT64_MAX).
 * @return 0, -ENOENT (none), -EINVAL (NULL args).
 * Concurrency: reader, inside dmac_imap_read_lock(). Each call reads one version;
 * successive calls may see different versions (iterate with dmac_imap_snap_next() on
 * one snapshot to visit exactly one version).
 */
DMAC_EXPORT int dmac_imap_next(const struct dmac_imap *m, uint64_t addr,
			       struct dmac_imap_entry *out);

/**
 * dmac_imap_lookup() on a snapshot. @return 0, -ENOENT, -EINVAL (s or out NULL).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
DMAC_EXPORT int dmac_imap_snap_lookup(const struct dmac_imap_snap *s, uint64_t addr,
				      struct dmac_imap_entry *out);

/**
 * dmac_imap_lookup_range() on a snapshot. @return 0, -ENOENT, -EINVAL (s or out NULL).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
DMAC_EXPORT int dmac_imap_snap_lookup_range(const struct dmac_imap_snap *s, uint64_t addr,
					    uint64_t max_len, struct dmac_imap_entry *out,
					    uint64_t *contig);

/**
 * dmac_imap_next() on a snapshot: iterating with one snapshot visits one version.
 * @return 0, -ENOENT, -EINVAL (s or out NULL).
 * Concurrency: reader, inside the read-side section that took the snapshot.
 */
DMAC_EXPORT int dmac_imap_snap_next(const struct dmac_imap_snap *s, uint64_t addr,
				    struct dmac_imap_entry *out);

/** Number of intervals of the snapshot (0 for NULL). Reader, as dmac_imap_snap_lookup(). */
DMAC_EXPORT size_t dmac_imap_snap_count(const struct dmac_imap_snap *s);

/** Number of intervals of the current version (0 for NULL). Reader. */
DMAC_EXPORT size_t dmac_imap_count(const struct dmac_imap *m);

/**
 * Bytes held by the current version: records, B-tree nodes, index nodes, version
 * header, and the map's flat top and whole table pool (logical sizes; allocator
 * overhead not included). Reader.
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
