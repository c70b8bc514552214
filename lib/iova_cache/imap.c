/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_imap: RCU-protected interval map (see dmac/imap.h and docs/imap.md).
 *
 * Invariants:
 * - Intervals are [start, last], 'last' inclusive; records never overlap; a record
 *   (struct irec) is immutable once created and is shared by every version that
 *   contains it.
 * - A version (struct iver) is immutable once published in m->h.cur, but for its dead
 *   flag (below). It holds two persistent trees that share their unchanged nodes with
 *   older versions, and it names the flat index current at its publication:
 *   (a) a B+tree of the records ordered by start (struct bnode, BT_B entries a node;
 *       internal keys are the smallest start of each child's subtree; every node but
 *       the root holds at least BT_MIN entries): lookups, ordered iteration, counts,
 *       the contiguous length of runs, and translations the indexes cannot answer;
 *   (b) a radix index of 64-entry nodes (struct rnode), the source of truth of
 *       translate: see the entry kinds in dmac/imap.h. A node whose entries have shift
 *       s covers 2^(s + 6) bytes; s is 21 + 6k (2 MiB, 128 MiB, ..., 2^63). An entry
 *       describes the records intersecting its region: EMPTY (none), FULL (one covers
 *       all of it and value - start is 4 KiB-aligned), ONE (exactly one), NODE (two or
 *       more, above 2 MiB), SRCH (two or more in a 2 MiB region). The k and MORE bits
 *       of a FULL entry are a function of the entries after it in its node and of the
 *       record continuing the byte after its run (see rpass()).
 *       The version's root is one entry covering the smallest region (of a node entry,
 *       or all 2^64 keys) that holds every interval: a root with a single child is
 *       replaced by that child at commit, so the walk starts where the intervals are.
 *   (c) the flat index, the accelerator of translate, NOT persistent: a top of F
 *       slots (v->h.ftab, F = v->h.fn) of 1 GiB from v->h.fbase, each EMPTY, FULL, ONE
 *       or a table (NODE) of 512 entries of 2 MiB (EMPTY, FULL, ONE, SRCH); every word
 *       is what the version's trees say of its region (a table entry is exact where
 *       the radix tree stopped at a ONE entry of a larger region), with k and MORE
 *       counted in its own array and saturating at k = 63. The window holds every
 *       interval of the version, or the version has none (F = 0: empty map, or the
 *       intervals spread over more slots than F_PER_N per interval). Consecutive
 *       versions share the top and the tables: a commit rewrites the words its ops
 *       change in place, creates or retires tables, and makes a new top only when the
 *       window moves (carrying the tables over). Tables come from the map's pool of
 *       chunks (struct tpool): dense, and in 2 MiB chunks advised for huge pages, since
 *       the table entry is the load every translate waits on.
 * - Persistence (trees): a node or record reachable from a published version is never
 *   written again. A node whose gen equals the open batch's was allocated by that
 *   batch and is not published yet, so the batch writes it in place ("owns" it); any
 *   other node the batch changes is copied first (path copying) and the original is
 *   retired. gen == 0 marks an object the open batch allocated and then dropped.
 * - The dead flag: a commit sets the replaced version's dead flag (atomic) before its
 *   first store to the flat index, and stores every flat word with release; flat words
 *   are stored by commits only. So a reader of v that loads its flat words with
 *   acquire (the slot, then the table entry) and then finds v's dead flag clear has
 *   read v's words: a word stored by a later commit would carry the flag with it (the
 *   store is sequenced after the flag, the reader's load synchronizes with the store),
 *   and every store that made v's words happens before v's publication, which the
 *   reader's acquire load of m->h.cur synchronizes with. A reader that finds the flag
 *   set walks v's radix tree instead (immutable), so a snapshot of v answers from v
 *   for as long as its read-side section lasts, whatever commits since.
 * - Readers load m->h.cur once per call (acquire); a snapshot is that pointer.
 * - Memory reachable only from a replaced version (retired nodes, removed records, the
 *   version itself, and the tables and top the commit took out of the flat index) is
 *   freed by a call_rcu() callback, after a grace period that starts after the
 *   replacing version is published: a reader that can still hold a pointer to it
 *   (even one it read from the flat index before checking the dead flag) entered its
 *   read-side section before the pointer was unlinked. Retired tables go back to the
 *   pool at that point rather than to the allocator (the pool's chunks are freed by
 *   destroy). Memory allocated by a batch and never published is freed at once (at
 *   commit if dropped, or everything the batch allocated when it fails or is aborted;
 *   tables back to the pool).
 * - The writer mutex is held from batch_begin to commit/abort; only its holder touches
 *   m->batch, m->gen, stores to the flat index and writes m->h.cur.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <urcu/urcu-memb.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define tab_poison(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define tab_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define tab_poison(p, n)   ((void)(p), (void)(n))
#define tab_unpoison(p, n) ((void)(p), (void)(n))
#endif

#include "dmac/common.h"
#include "dmac/imap.h"
#include "dmac_alloc.h"

#define BT_B	 16		   /* entries of a B-tree node */
#define BT_MIN	 (BT_B / 2)	   /* fewest entries of a B-tree node other than the root */
#define BT_MAXD	 32		   /* deeper than any B-tree of 2^64 records (BT_MIN^21) */
#define RN_F	 64		   /* entries of a radix node */
#define RN_LOW	 21		   /* shift of the lowest level: 2 MiB regions */
#define R_ALL	 (RN_LOW + 48)	   /* "shift" of the root region when it is all 2^64 keys */
#define FS	 DMAC__IMAP_FSHIFT /* a slot of the flat top covers 2^FS bytes (1 GiB) */
#define TS	 DMAC__IMAP_LSHIFT /* an entry of a flat table covers 2^TS bytes (2 MiB) */
#define TE	 (1U << (FS - TS)) /* entries of a flat table (512: 4 KiB) */
#define F_MIN	 16		   /* slots of the smallest top */
#define F_CAPMIN 4096		   /* a top may always have this many slots ... */
#define F_PER_N	 16		   /* ... or this many per interval ... */
#define F_MAX	 (1U << 17)	   /* ... but never more (1 MiB, 2^47 bytes of keys) */
#define F_KEYS	 (UINT64_C(1) << (64 - FS)) /* slots in the whole key space */

#define E_EMPTY DMAC__IMAP_E_EMPTY
#define E_SRCH	DMAC__IMAP_E_SRCH
#define E_FULL	DMAC__IMAP_E_FULL
#define E_MORE	DMAC__IMAP_E_MORE
#define E_DMASK DMAC__IMAP_E_DMASK
#define E_ONE	DMAC__IMAP_E_ONE
#define E_KMORE 0xffeU /* k and MORE bits of a FULL entry */

struct irec {
	uint64_t start, last, value;
	uint64_t gen; /* batch that created it; 0: created and dropped by the open batch */
};
_Static_assert(sizeof(struct irec) <= 64, "an interval record must fit in 64 bytes");
_Static_assert(offsetof(struct irec, start) == offsetof(struct dmac__imap_rec, start) &&
		   offsetof(struct irec, last) == offsetof(struct dmac__imap_rec, last) &&
		   offsetof(struct irec, value) == offsetof(struct dmac__imap_rec, value),
	       "header and records agree");
#define IREC_ALIGN 32 /* low 5 bits of a record pointer are free for the ONE tag */
_Static_assert(sizeof(struct irec) <= IREC_ALIGN, "a record must not straddle cache lines");
_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "entries hold pointers");

struct bnode {
	uint64_t key[BT_B]; /* leaf: start of p[i]; internal: smallest start under p[i] */
	void *p[BT_B];	    /* leaf: struct irec *; internal: struct bnode * */
	uint64_t gen;
	uint32_t n;
	uint32_t leaf;
};

struct rnode {
	uint64_t e[RN_F]; /* first: a NODE entry points at e[0] */
	uint64_t gen;
} __attribute__((aligned(64)));
_Static_assert(offsetof(struct rnode, e) == 0, "the inline walk indexes the node itself");

struct pvec {
	void **a;
	size_t n, cap;
};

/*
 * The flat tables' memory: chunks of TP_FIRST tables, then as many as the pool has,
 * up to TP_BIG tables (2 MiB, aligned, advised for a transparent huge page: the
 * tables are the data every translate misses on, so density and TLB reach are its
 * speed); so the pool holds at most twice the most tables the map had at once (in
 * use, or retired and waiting for their grace period), plus one chunk. Free tables
 * are linked through their first word: 'free' is the writer's (under the writer
 * mutex); 'back' is a stack the RCU callbacks push retired tables on (any thread,
 * lock-free), which the writer empties all at once (one exchange, so no
 * ABA). Chunks are freed by destroy only: the pool keeps its high-water mark.
 */
#define TP_FIRST 4
#define TP_BIG	 512
struct tpool {
	void *free;	    /* the writer's free tables */
	void *back;	    /* tables given back by callbacks; atomic accesses only */
	struct pvec chunks; /* every chunk */
	size_t ntab;	    /* tables in the chunks; written by the writer, atomic accesses */
};

/* The version is what readers see as a struct dmac_imap_snap. */
#define iver dmac_imap_snap
struct iver {
	struct dmac__imap_vhead h; /* first: the root node, read by the inline walk */
	unsigned shift;		   /* of the root node's entries */
	struct bnode *broot;	   /* NULL when empty */
	size_t n, nbn, nrn;	   /* intervals, B-tree nodes, radix nodes */
	struct tpool *pool;	   /* where retired tables go back */
	struct rcu_head rcu;
	struct pvec retired;	 /* set when this version is replaced */
	struct pvec retired_tab; /* flat tables among them: back to the pool */
};
_Static_assert(offsetof(struct iver, h) == 0, "the inline walk reads the header first");
_Static_assert(sizeof(((struct dmac__imap_vhead *)0)->e) == RN_F * sizeof(uint64_t),
	       "the root is a node");
_Static_assert(offsetof(struct dmac__imap_vhead, e) == 64, "header in one cache line");
_Static_assert(TS == RN_LOW && DMAC__IMAP_TMASK == TE - 1, "tables of 2 MiB entries");

struct dmac_imap_batch {
	struct dmac_imap *m;
	uint64_t gen;
	int err;	     /* first error; poisons the batch */
	bool touched;	     /* an op was applied: the fields below are the working version */
	struct bnode *broot; /* working B-tree */
	size_t n, nbn, nrn;
	struct pvec dirty;	/* pairs (start, last) of every op, cast to void * */
	struct pvec fresh_r;	/* records allocated by this batch */
	struct pvec fresh_bn;	/* B-tree nodes allocated by this batch */
	struct pvec fresh_rn;	/* radix nodes allocated by this batch */
	struct pvec retire;	/* published objects the working version no longer reaches */
	struct pvec retire_tab; /* flat tables the working version no longer reaches */
	struct pvec fresh_top;	/* the flat top allocated by the commit */
	struct pvec fresh_tab;	/* flat tables taken from the pool by the commit */
	struct pvec fslot;	/* pairs (slot, new word) of the slots the commit changes */
};

struct dmac_imap {
	struct dmac__imap_head h; /* h.cur: the published version; atomic accesses only */
	pthread_mutex_t lock;
	uint64_t gen;
	struct dmac_imap_batch batch;
	struct tpool pool;
};

/* ---------------------------------------------------------------- TSan model */

#ifdef DMAC_IMAP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
/*
 * liburcu's grace periods are invisible to TSan. One token models them: every reader
 * releases it when leaving a read-side section and the writer releases it before
 * call_rcu(); the deferred free acquires it. Everything a reader did before its unlock
 * therefore happens-before the free, which is what the grace period guarantees. The
 * deferred free also releases it when done and destroy acquires it after
 * rcu_barrier(): the callbacks' last touches of the map (tables given back to its
 * pool) happen-before the map is freed, which is what rcu_barrier() guarantees.
 */
static char tsan_token;

void dmac__imap_tsan_reader_exit(void)
{
	__tsan_release(&tsan_token);
}
#define tsan_release_token() __tsan_release(&tsan_token)
#define tsan_acquire_token() __tsan_acquire(&tsan_token)
#else
#define tsan_release_token() ((void)0)
#define tsan_acquire_token() ((void)0)
#endif

/* ---------------------------------------------------------------- B-tree readers */

/* A position in a B-tree: the path from the root; i[d] == -1 at the leaf: before all. */
struct bcur {
	const struct bnode *n[BT_MAXD];
	int i[BT_MAXD];
	int d; /* depth of the leaf, -1: empty tree */
};

/* Number of keys key[1..n-1] <= x: the child (or record) to follow when key[0] <= x. */
static inline unsigned bt_idx(const struct bnode *n, uint64_t x)
{
	unsigned i = 0;

	for (unsigned j = 1; j < n->n; j++)
		i += n->key[j] <= x;
	return i;
}

/*
 * Position c at the last record with start <= x and return it; NULL if there is none
 * (then c is before the first record, so bt_next() returns the first).
 */
static const struct irec *bt_seek(const struct bnode *root, uint64_t x, struct bcur *c)
{
	const struct bnode *n = root;
	bool before;
	int d = 0;

	c->d = -1;
	if (!n)
		return NULL;
	before = n->key[0] > x;
	for (;;) {
		c->n[d] = n;
		c->i[d] = before ? 0 : (int)bt_idx(n, x);
		if (n->leaf)
			break;
		n = n->p[c->i[d]];
		d++;
	}
	c->d = d;
	if (before) {
		c->i[d] = -1;
		return NULL;
	}
	return n->p[c->i[d]];
}

/* The record after the cursor's, or NULL (the cursor then stays at the end). */
static const struct irec *bt_next(struct bcur *c)
{
	int d = c->d;

	if (d < 0)
		return NULL;
	if (c->i[d] + 1 < (int)c->n[d]->n)
		return c->n[d]->p[++c->i[d]];
	while (d > 0) {
		d--;
		if (c->i[d] + 1 < (int)c->n[d]->n) {
			const struct bnode *n = c->n[d]->p[++c->i[d]];

			for (d++; d <= c->d; d++) {
				c->n[d] = n;
				c->i[d] = 0;
				if (!n->leaf)
					n = n->p[0];
			}
			return c->n[c->d]->p[0];
		}
	}
	return NULL;
}

/* The record containing x, or NULL. */
static const struct irec *bt_find(const struct bnode *root, uint64_t x)
{
	const struct bnode *n = root;
	const struct irec *r;

	if (!n || n->key[0] > x)
		return NULL;
	while (!n->leaf)
		n = n->p[bt_idx(n, x)];
	r = n->p[bt_idx(n, x)];
	return x <= r->last ? r : NULL;
}

/* nx starts right after r and its value continues r's. */
static inline bool continues(const struct irec *r, const struct irec *nx)
{
	uint64_t end_val = r->value + (r->last - r->start); /* no wrap: checked at insert */

	return r->last != UINT64_MAX && end_val != UINT64_MAX && nx->start == r->last + 1 &&
	       nx->value == end_val + 1;
}

/*
 * Bytes - 1 contiguous in key and value from addr (inside r), following successors
 * that continue r, clipped to max_len - 1 when max_len != 0. O(records walked).
 */
static uint64_t contig_m1(const struct bnode *root, const struct irec *r, uint64_t addr,
			  uint64_t max_len)
{
	uint64_t c = r->last - addr;
	struct bcur cur;

	if (max_len != 0 && c >= max_len - 1)
		return max_len - 1;
	if (r->last == UINT64_MAX)
		return c;
	bt_seek(root, r->start, &cur);
	for (;;) {
		const struct irec *nx = bt_next(&cur);

		if (!nx || !continues(r, nx))
			return c;
		r = nx;
		c = r->last - addr;
		if (max_len != 0 && c >= max_len - 1)
			return max_len - 1;
	}
}

static inline uint64_t contig_len(uint64_t c)
{
	return c == UINT64_MAX ? UINT64_MAX : c + 1;
}

/* ---------------------------------------------------------------- readers */

/* The version of a snapshot (the published pointer is the version's address). */
static inline const struct iver *snap_ver(const struct dmac_imap_snap *s)
{
	return (const struct iver *)s;
}

static inline const struct dmac_imap_snap *ver_snap(const struct iver *v)
{
	return (const struct dmac_imap_snap *)v;
}

static inline const struct iver *ver_load(const struct dmac_imap *m)
{
	/* Acquire pairs with the release store of commit: the version is complete. */
	return snap_ver(__atomic_load_n(&m->h.cur, __ATOMIC_ACQUIRE));
}

/* The writer's own view of m->h.cur (only the writer stores it). */
static inline struct iver *ver_cur_w(const struct dmac_imap *m)
{
	return (struct iver *)snap_ver(__atomic_load_n(&m->h.cur, __ATOMIC_RELAXED));
}

static inline bool is_node(uint64_t e)
{
	return (e & 63) == 0;
}

static inline struct rnode *node_of(uint64_t e)
{
	return (struct rnode *)(uintptr_t)e;
}

/* The flat table (TE entries, not a struct rnode) a NODE word of the flat index names. */
static inline uint64_t *tab_of(uint64_t e)
{
	return (uint64_t *)(uintptr_t)e;
}

static inline struct irec *rec_of(uint64_t e)
{
	return (struct irec *)(uintptr_t)(e & ~(uint64_t)(IREC_ALIGN - 1));
}

/* The entry holding addr (under the root), and its region's shift in *sh2. */
static uint64_t walk(const struct iver *v, uint64_t addr, unsigned *sh2)
{
	unsigned sh = v->shift;
	uint64_t e = v->h.e[(addr >> sh) & (RN_F - 1)];

	if ((addr & v->h.mask) != v->h.base)
		return E_EMPTY;
	sh -= 6;
	while (is_node(e)) {
		e = node_of(e)->e[(addr >> sh) & (RN_F - 1)];
		sh -= 6;
	}
	*sh2 = sh + 6;
	return e;
}

/*
 * The entry holding addr in v, as the inline reader finds it: from v's slot when addr
 * is in the window and v is still the version the slots describe (same protocol as
 * the inline reader: the slot with acquire, then the dead flag), else from the tree.
 */
static uint64_t entry_at(const struct iver *v, uint64_t addr, unsigned *sh2)
{
	uint64_t i = (addr - v->h.fbase) >> FS, e;

	if (i < v->h.fn) {
		unsigned sh = FS;

		e = __atomic_load_n(&v->h.ftab[i], __ATOMIC_ACQUIRE);
		if (is_node(e)) {
			e = __atomic_load_n(&tab_of(e)[(addr >> TS) & (TE - 1)],
					    __ATOMIC_ACQUIRE);
			sh = TS;
		}
		if (!__atomic_load_n(&v->h.dead, __ATOMIC_RELAXED)) {
			*sh2 = sh;
			return e;
		}
	}
	return walk(v, addr, sh2);
}

/* Bytes - 1 of the run of equal FULL entries from addr (e at region shift sh2 <= 57). */
static inline uint64_t full_avail(uint64_t e, unsigned sh2, uint64_t addr)
{
	return ((((e >> 1) & 63) + 1) << sh2) - (addr & ((UINT64_C(1) << sh2) - 1)) - 1;
}

/*
 * Bytes - 1 contiguous from addr, which the FULL entry e (region shift sh2) holds:
 * follows the runs of FULL entries of the same translation through the index (across
 * nodes), and the records where the index cannot tell.
 */
static uint64_t full_contig_m1(const struct iver *v, uint64_t e, unsigned sh2, uint64_t addr,
			       uint64_t max_len)
{
	uint64_t lim = max_len - 1, d = e & E_DMASK, c = 0, p = addr;

	for (;;) {
		const struct irec *r;
		uint64_t a;

		if (sh2 > 57)
			break;
		a = full_avail(e, sh2, p);
		if (a >= lim - c)
			return lim;
		c += a;
		if (!(e & E_MORE))
			return c;
		/* p + a + 1 continues the run: look it up in the index. */
		c++;
		p += a + 1;
		e = entry_at(v, p, &sh2);
		if ((e & E_FULL) && (e & E_DMASK) == d)
			continue;
		r = bt_find(v->broot, p);
		if (!r) /* cannot happen: MORE said p is mapped */
			return c - 1;
		a = contig_m1(v->broot, r, p, max_len ? max_len - c : 0);
		return a >= lim - c ? lim : c + a;
	}
	/* Regions of 2^63 and more: only the records can say. */
	return c + contig_m1(v->broot, bt_find(v->broot, p), p, max_len ? max_len - c : 0);
}

DMAC_EXPORT uint64_t dmac__imap_run_slow(const struct dmac_imap_snap *snap, uint64_t e,
					 unsigned shift, uint64_t addr, uint64_t max_len)
{
	return contig_len(full_contig_m1(snap_ver(snap), e, shift, addr, max_len));
}

DMAC_EXPORT uint64_t dmac__imap_translate_slow(const struct dmac_imap_snap *snap, uint64_t addr,
					       uint64_t max_len, uint64_t *len)
{
	const struct iver *s = snap_ver(snap);
	const struct irec *r;
	unsigned sh2;
	uint64_t e;

	if (!s)
		return DMAC_IMAP_NONE;
	e = walk(s, addr, &sh2);
	if (e == E_EMPTY)
		return DMAC_IMAP_NONE;
	if (e & E_FULL) {
		if (len)
			*len = contig_len(full_contig_m1(s, e, sh2, addr, max_len));
		return addr + (e & E_DMASK);
	}
	if ((e & 7) == E_ONE) {
		r = rec_of(e);
		if (addr < r->start || addr > r->last)
			return DMAC_IMAP_NONE;
	} else {
		r = bt_find(s->broot, addr); /* SRCH: the tree knows */
		if (!r)
			return DMAC_IMAP_NONE;
	}
	if (len)
		*len = contig_len(contig_m1(s->broot, r, addr, max_len));
	return r->value + (addr - r->start);
}

static void rec_out(const struct irec *r, struct dmac_imap_entry *out)
{
	out->start = r->start;
	out->last = r->last;
	out->value = r->value;
}

DMAC_EXPORT int dmac_imap_snap_lookup_range(const struct dmac_imap_snap *snap, uint64_t addr,
					    uint64_t max_len, struct dmac_imap_entry *out,
					    uint64_t *contig)
{
	const struct iver *s = snap_ver(snap);
	const struct irec *r;

	if (!s || !out)
		return -EINVAL;
	r = bt_find(s->broot, addr);
	if (!r)
		return -ENOENT;
	rec_out(r, out);
	if (contig)
		*contig = contig_len(contig_m1(s->broot, r, addr, max_len));
	return 0;
}

DMAC_EXPORT int dmac_imap_snap_lookup(const struct dmac_imap_snap *s, uint64_t addr,
				      struct dmac_imap_entry *out)
{
	return dmac_imap_snap_lookup_range(s, addr, 0, out, NULL);
}

DMAC_EXPORT int dmac_imap_lookup(const struct dmac_imap *m, uint64_t addr,
				 struct dmac_imap_entry *out)
{
	return dmac_imap_snap_lookup(dmac_imap_snapshot(m), addr, out);
}

DMAC_EXPORT int dmac_imap_lookup_range(const struct dmac_imap *m, uint64_t addr, uint64_t max_len,
				       struct dmac_imap_entry *out, uint64_t *contig)
{
	return dmac_imap_snap_lookup_range(dmac_imap_snapshot(m), addr, max_len, out, contig);
}

DMAC_EXPORT int dmac_imap_snap_next(const struct dmac_imap_snap *snap, uint64_t addr,
				    struct dmac_imap_entry *out)
{
	const struct iver *s = snap_ver(snap);
	const struct irec *r;
	struct bcur c;

	if (!s || !out)
		return -EINVAL;
	r = bt_seek(s->broot, addr, &c);
	if (!r || r->start != addr)
		r = bt_next(&c);
	if (!r)
		return -ENOENT;
	rec_out(r, out);
	return 0;
}

DMAC_EXPORT int dmac_imap_next(const struct dmac_imap *m, uint64_t addr,
			       struct dmac_imap_entry *out)
{
	return dmac_imap_snap_next(dmac_imap_snapshot(m), addr, out);
}

DMAC_EXPORT size_t dmac_imap_snap_count(const struct dmac_imap_snap *snap)
{
	return snap ? snap_ver(snap)->n : 0;
}

DMAC_EXPORT size_t dmac_imap_count(const struct dmac_imap *m)
{
	return dmac_imap_snap_count(dmac_imap_snapshot(m));
}

static void ver_stats(const struct iver *v, struct dmac_imap_stats *s)
{
	s->intervals = v->n;
	s->index_nodes = v->nrn;
	s->tree_nodes = v->nbn;
	s->record_bytes = v->n * sizeof(struct irec);
	/*
	 * The radix tree, and the flat index: the version's top and the map's table pool
	 * (every table it holds, in use or free: the memory the flat index keeps).
	 */
	s->index_bytes = v->nrn * sizeof(struct rnode) + v->h.fn * sizeof(uint64_t) +
			 __atomic_load_n(&v->pool->ntab, __ATOMIC_RELAXED) * TE * sizeof(uint64_t);
	s->tree_bytes = v->nbn * sizeof(struct bnode);
	s->version_bytes = sizeof(*v);
}

DMAC_EXPORT int dmac_imap_stats(const struct dmac_imap *m, struct dmac_imap_stats *out)
{
	if (!m || !out)
		return -EINVAL;
	ver_stats(ver_load(m), out);
	return 0;
}

DMAC_EXPORT size_t dmac_imap_memory(const struct dmac_imap *m)
{
	struct dmac_imap_stats s;

	if (!m)
		return 0;
	ver_stats(ver_load(m), &s);
	return s.record_bytes + s.index_bytes + s.tree_bytes + s.version_bytes;
}

/* ---------------------------------------------------------------- memory */

static int pvec_reserve(struct pvec *pv, size_t extra)
{
	size_t cap;
	void **a;

	if (pv->cap - pv->n >= extra)
		return 0;
	cap = pv->cap ? pv->cap * 2 : 16;
	while (cap - pv->n < extra)
		cap *= 2;
	a = dmac__realloc(pv->a, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	pv->a = a;
	pv->cap = cap;
	return 0;
}

/* Only after pvec_reserve() made room. */
static void pvec_push(struct pvec *pv, void *p)
{
	pv->a[pv->n++] = p;
}

static void pvec_free(struct pvec *pv)
{
	dmac__free(pv->a);
	pv->a = NULL;
	pv->n = pv->cap = 0;
}

/* Writer: table t (4 KiB) to the free list. */
static void tp_put(struct tpool *p, uint64_t *t)
{
	t[0] = (uint64_t)(uintptr_t)p->free;
	p->free = t;
	tab_poison(t + 1, (TE - 1) * sizeof(uint64_t));
}

/* Any thread (an RCU callback): table t, which no reader can reach, back to the pool. */
static void tp_give(struct tpool *p, uint64_t *t)
{
	void *h = __atomic_load_n(&p->back, __ATOMIC_RELAXED);

	tab_poison(t + 1, (TE - 1) * sizeof(uint64_t));
	do
		t[0] = (uint64_t)(uintptr_t)h;
	while (!__atomic_compare_exchange_n(&p->back, &h, t, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

/* Writer: a chunk more (see struct tpool). 0 or -ENOMEM. */
static int tp_grow(struct tpool *p)
{
	size_t n = p->ntab ? (p->ntab < TP_BIG ? p->ntab : TP_BIG) : TP_FIRST;
	size_t bytes = n * TE * sizeof(uint64_t);
	uint64_t *c;

	if (pvec_reserve(&p->chunks, 1))
		return -ENOMEM;
	c = dmac__aligned_alloc(n == TP_BIG ? bytes : TE * sizeof(uint64_t), bytes);
	if (!c)
		return -ENOMEM;
#ifdef MADV_HUGEPAGE
	if (n == TP_BIG)
		(void)madvise(c, bytes, MADV_HUGEPAGE); /* advice: failing changes nothing */
#endif
	pvec_push(&p->chunks, c);
	for (size_t i = n; i-- > 0;)
		tp_put(p, c + i * TE);
	__atomic_store_n(&p->ntab, p->ntab + n, __ATOMIC_RELAXED); /* stats read it */
	return 0;
}

/* Writer: a table (contents undefined), or NULL (-ENOMEM). */
static uint64_t *tp_get(struct tpool *p)
{
	uint64_t *t;

	if (!p->free) /* acquire: the callbacks' links and poisoning */
		p->free = __atomic_exchange_n(&p->back, NULL, __ATOMIC_ACQUIRE);
	if (!p->free && tp_grow(p))
		return NULL;
	t = p->free;
	tab_unpoison(t, TE * sizeof(uint64_t));
	p->free = (void *)(uintptr_t)t[0];
	return t;
}

/* destroy: every chunk (the tables still in use included). */
static void tp_destroy(struct tpool *p)
{
	for (size_t i = 0; i < p->chunks.n; i++) {
		tab_unpoison(p->chunks.a[i], 1); /* ASan keeps poison of freed memory itself */
		dmac__free(p->chunks.a[i]);
	}
	pvec_free(&p->chunks);
}

static struct iver *ver_alloc(void)
{
	return dmac__aligned_alloc(64, sizeof(struct iver));
}

/* Free a radix subtree (entries of nd have shift sh) and a B-tree (destroy path). */
static void rn_free_tree(struct rnode *nd, unsigned sh)
{
	if (sh > RN_LOW)
		for (unsigned j = 0; j < RN_F; j++)
			if (is_node(nd->e[j]))
				rn_free_tree(node_of(nd->e[j]), sh - 6);
	dmac__free(nd);
}

static void bn_free_tree(struct bnode *n)
{
	for (unsigned i = 0; i < n->n; i++) {
		if (n->leaf)
			dmac__free(n->p[i]);
		else
			bn_free_tree(n->p[i]);
	}
	dmac__free(n);
}

DMAC_EXPORT void dmac_imap_synchronize(void)
{
	urcu_memb_synchronize_rcu();
	tsan_acquire_token();
}

/* Deferred free of a replaced version: runs in the call_rcu thread. */
static void ver_free_cb(struct rcu_head *head)
{
	struct iver *v = caa_container_of(head, struct iver, rcu);

	tsan_acquire_token();
	for (size_t i = 0; i < v->retired.n; i++)
		dmac__free(v->retired.a[i]);
	for (size_t i = 0; i < v->retired_tab.n; i++)
		tp_give(v->pool, v->retired_tab.a[i]);
	pvec_free(&v->retired);
	pvec_free(&v->retired_tab);
	dmac__free(v);
	tsan_release_token(); /* for destroy, after rcu_barrier() */
}

/* ---------------------------------------------------------------- writer: B-tree */

static struct bnode *bn_new(struct dmac_imap_batch *b, bool leaf)
{
	struct bnode *n;

	if (pvec_reserve(&b->fresh_bn, 1))
		return NULL;
	n = dmac__aligned_alloc(64, sizeof(*n));
	if (!n)
		return NULL;
	n->gen = b->gen;
	n->n = 0;
	n->leaf = leaf;
	pvec_push(&b->fresh_bn, n);
	b->nbn++;
	return n;
}

/* n itself if the batch owns it, else a copy the batch owns (n is retired). */
static struct bnode *bn_own(struct dmac_imap_batch *b, struct bnode *n)
{
	struct bnode *c;

	if (n->gen == b->gen)
		return n;
	if (pvec_reserve(&b->retire, 1))
		return NULL;
	c = bn_new(b, n->leaf);
	if (!c)
		return NULL;
	memcpy(c->key, n->key, n->n * sizeof(c->key[0]));
	memcpy(c->p, n->p, n->n * sizeof(c->p[0]));
	c->n = n->n;
	pvec_push(&b->retire, n);
	b->nbn--;
	return c;
}

/* An owned node left the working tree. */
static void bn_kill(struct dmac_imap_batch *b, struct bnode *n)
{
	n->gen = 0;
	b->nbn--;
}

/* Split the full child i of par (owned, not full) into two halves. */
static int bt_split_child(struct dmac_imap_batch *b, struct bnode *par, unsigned i)
{
	struct bnode *c = bn_own(b, par->p[i]), *s;
	unsigned h;

	if (!c)
		return -ENOMEM;
	par->p[i] = c;
	s = bn_new(b, c->leaf);
	if (!s)
		return -ENOMEM;
	h = c->n / 2;
	s->n = c->n - h;
	memcpy(s->key, c->key + h, s->n * sizeof(s->key[0]));
	memcpy(s->p, c->p + h, s->n * sizeof(s->p[0]));
	c->n = h;
	memmove(par->key + i + 2, par->key + i + 1, (par->n - i - 1) * sizeof(par->key[0]));
	memmove(par->p + i + 2, par->p + i + 1, (par->n - i - 1) * sizeof(par->p[0]));
	par->key[i + 1] = s->key[0];
	par->p[i + 1] = s;
	par->n++;
	return 0;
}

/* Insert r (no overlap, checked) into the working tree, splitting full nodes top-down. */
static int bt_insert(struct dmac_imap_batch *b, struct irec *r)
{
	uint64_t x = r->start;
	struct bnode *n;

	if (!b->broot) {
		n = bn_new(b, true);
		if (!n)
			return -ENOMEM;
		n->key[0] = x;
		n->p[0] = r;
		n->n = 1;
		b->broot = n;
		return 0;
	}
	n = bn_own(b, b->broot);
	if (!n)
		return -ENOMEM;
	b->broot = n;
	if (n->n == BT_B) {
		struct bnode *nr = bn_new(b, false);

		if (!nr)
			return -ENOMEM;
		nr->key[0] = n->key[0];
		nr->p[0] = n;
		nr->n = 1;
		b->broot = nr;
		if (bt_split_child(b, nr, 0))
			return -ENOMEM;
		n = nr;
	}
	for (;;) {
		unsigned i = n->key[0] > x ? 0 : bt_idx(n, x);
		struct bnode *c;

		if (n->leaf) {
			if (n->key[0] <= x)
				i++;
			memmove(n->key + i + 1, n->key + i, (n->n - i) * sizeof(n->key[0]));
			memmove(n->p + i + 1, n->p + i, (n->n - i) * sizeof(n->p[0]));
			n->key[i] = x;
			n->p[i] = r;
			n->n++;
			return 0;
		}
		if (x < n->key[i])
			n->key[i] = x; /* new smallest start of the subtree */
		if (((struct bnode *)n->p[i])->n == BT_B) {
			if (bt_split_child(b, n, i))
				return -ENOMEM;
			if (x >= n->key[i + 1])
				i++;
		}
		c = bn_own(b, n->p[i]);
		if (!c)
			return -ENOMEM;
		n->p[i] = c;
		n = c;
	}
}

/* Child i of n (owned) has fewer than BT_MIN entries: borrow from or merge with a sibling. */
static int bt_fix(struct dmac_imap_batch *b, struct bnode *n, unsigned i)
{
	unsigned j = i + 1 < n->n ? i + 1 : i - 1, l = i < j ? i : j, r = i < j ? j : i;
	struct bnode *s = bn_own(b, n->p[j]), *L, *R;

	if (!s)
		return -ENOMEM;
	n->p[j] = s;
	L = n->p[l];
	R = n->p[r];
	if (s->n > BT_MIN) {
		if (j == r) { /* first of R to the end of L */
			L->key[L->n] = R->key[0];
			L->p[L->n] = R->p[0];
			L->n++;
			memmove(R->key, R->key + 1, (R->n - 1) * sizeof(R->key[0]));
			memmove(R->p, R->p + 1, (R->n - 1) * sizeof(R->p[0]));
			R->n--;
		} else { /* last of L to the front of R */
			memmove(R->key + 1, R->key, R->n * sizeof(R->key[0]));
			memmove(R->p + 1, R->p, R->n * sizeof(R->p[0]));
			R->key[0] = L->key[L->n - 1];
			R->p[0] = L->p[L->n - 1];
			R->n++;
			L->n--;
		}
		n->key[l] = L->key[0];
		n->key[r] = R->key[0];
		return 0;
	}
	memcpy(L->key + L->n, R->key, R->n * sizeof(L->key[0]));
	memcpy(L->p + L->n, R->p, R->n * sizeof(L->p[0]));
	L->n += R->n;
	bn_kill(b, R);
	memmove(n->key + r, n->key + r + 1, (n->n - r - 1) * sizeof(n->key[0]));
	memmove(n->p + r, n->p + r + 1, (n->n - r - 1) * sizeof(n->p[0]));
	n->n--;
	n->key[l] = L->key[0];
	return 0;
}

/* Remove the record starting at x (it exists) from the subtree at *slot. */
static int bt_del(struct dmac_imap_batch *b, struct bnode **slot, uint64_t x)
{
	struct bnode *n = bn_own(b, *slot), *c;
	unsigned i;
	int rc;

	if (!n)
		return -ENOMEM;
	*slot = n;
	i = bt_idx(n, x);
	if (n->leaf) {
		memmove(n->key + i, n->key + i + 1, (n->n - i - 1) * sizeof(n->key[0]));
		memmove(n->p + i, n->p + i + 1, (n->n - i - 1) * sizeof(n->p[0]));
		n->n--;
		return 0;
	}
	rc = bt_del(b, (struct bnode **)&n->p[i], x);
	if (rc)
		return rc;
	c = n->p[i];
	if (c->n)
		n->key[i] = c->key[0];
	return c->n < BT_MIN ? bt_fix(b, n, i) : 0;
}

static int bt_remove(struct dmac_imap_batch *b, uint64_t x)
{
	struct bnode *root;
	int rc = bt_del(b, &b->broot, x);

	if (rc)
		return rc;
	root = b->broot;
	if (!root->leaf && root->n == 1) {
		b->broot = root->p[0];
		bn_kill(b, root);
	} else if (root->leaf && root->n == 0) {
		b->broot = NULL;
		bn_kill(b, root);
	}
	return 0;
}

/* ---------------------------------------------------------------- writer: radix index */

static struct rnode *rn_new(struct dmac_imap_batch *b)
{
	struct rnode *nd;

	if (pvec_reserve(&b->fresh_rn, 1))
		return NULL;
	nd = dmac__aligned_alloc(64, sizeof(*nd));
	if (!nd)
		return NULL;
	nd->gen = b->gen;
	pvec_push(&b->fresh_rn, nd);
	b->nrn++;
	return nd;
}

/* nd if owned, else a fresh node (nd is retired); its entries are the caller's to fill. */
static struct rnode *rn_own(struct dmac_imap_batch *b, struct rnode *nd)
{
	struct rnode *c;

	if (nd->gen == b->gen)
		return nd;
	if (pvec_reserve(&b->retire, 1))
		return NULL;
	c = rn_new(b);
	if (!c)
		return NULL;
	pvec_push(&b->retire, nd);
	b->nrn--;
	return c;
}

/* Take the subtree of NODE entry e (entries of shift sh) out of the working version. */
static int rn_drop(struct dmac_imap_batch *b, uint64_t e, unsigned sh)
{
	struct rnode *nd = node_of(e);
	int rc;

	if (sh > RN_LOW)
		for (unsigned j = 0; j < RN_F; j++) {
			if (!is_node(nd->e[j]))
				continue;
			rc = rn_drop(b, nd->e[j], sh - 6);
			if (rc)
				return rc;
		}
	if (nd->gen == b->gen) {
		nd->gen = 0;
	} else {
		if (pvec_reserve(&b->retire, 1))
			return -ENOMEM;
		pvec_push(&b->retire, nd);
	}
	b->nrn--;
	return 0;
}

enum { C_EMPTY, C_FULL, C_ONE, C_MANY };

/* Which records of the working tree intersect [base, rl]; *rec: the first of them. */
static int classify(struct dmac_imap_batch *b, uint64_t base, uint64_t rl, struct irec **rec)
{
	const struct irec *r, *nx;
	struct bcur c;

	r = bt_seek(b->broot, base, &c);
	if (!r || r->last < base)
		r = bt_next(&c);
	if (!r || r->start > rl)
		return C_EMPTY;
	*rec = (struct irec *)r;
	if (r->start <= base && r->last >= rl)
		return C_FULL;
	if (r->last >= rl)
		return C_ONE;
	nx = bt_next(&c);
	return nx && nx->start <= rl ? C_MANY : C_ONE;
}

/* Byte x translates to x + d; is x + 1 mapped, continuing it (same run)? */
static bool cont_after(struct dmac_imap_batch *b, uint64_t x, uint64_t d)
{
	const struct irec *r;

	if (x == UINT64_MAX)
		return false;
	r = bt_find(b->broot, x + 1);
	return r && r->value + (x + 1 - r->start) == x + 1 + d;
}

/*
 * The k and MORE bits of every FULL entry of a node (entries of shift sh from base):
 * k = how many entries right after it hold the same translation (same word), MORE =
 * whether the byte after the last of them continues the run. A reader may then take
 * ((k + 1) << (sh)) - offset bytes as contiguous, and when MORE is clear that is
 * exactly where contiguity ends.
 */
static void rpass(struct dmac_imap_batch *b, uint64_t *buf, unsigned sh, uint64_t base)
{
	for (int j = RN_F - 1; j >= 0; j--) {
		uint64_t e = buf[j], nx = j + 1 < RN_F ? buf[j + 1] : 0, d, x;
		bool more;

		if (!(e & E_FULL))
			continue;
		e &= ~(uint64_t)E_KMORE;
		d = e & E_DMASK;
		if ((nx & E_FULL) && (nx & E_DMASK) == d) {
			buf[j] = e | ((((nx >> 1) & 63) + 1) << 1) | (nx & E_MORE);
			continue;
		}
		x = base + ((uint64_t)j << sh) + ((UINT64_C(1) << sh) - 1); /* last byte of j */
		if (x == UINT64_MAX || (j + 1 < RN_F && (nx == E_EMPTY || (nx & E_FULL)))) {
			more = false;
		} else if (j + 1 < RN_F && (nx & 7) == E_ONE) {
			const struct irec *r = rec_of(nx); /* may begin before x + 1 */

			more = r->start <= x + 1 && x + 1 <= r->last &&
			       r->value + (x + 1 - r->start) == x + 1 + d;
		} else {
			more = cont_after(b, x, d);
		}
		buf[j] = e | (more ? E_MORE : 0);
	}
}

/*
 * The new entry (*out) of the region [base, base + 2^sh - 1] whose entry was old,
 * when the records in [ds, dl] (which meets the region) may have changed. Nodes are
 * copied bottom-up only when their entries change (path copying).
 */
static int rslot(struct dmac_imap_batch *b, uint64_t old, unsigned sh, uint64_t base, uint64_t ds,
		 uint64_t dl, uint64_t *out)
{
	uint64_t rl = sh >= 64 ? UINT64_MAX : base + ((UINT64_C(1) << sh) - 1);
	uint64_t buf[RN_F], lo, hi;
	struct irec *r = NULL;
	struct rnode *nd;
	unsigned cs, j0, j1;
	bool fresh;
	int cls, rc;

	cls = classify(b, base, rl, &r);
	if (cls != C_MANY || sh == RN_LOW) {
		uint64_t ne = E_SRCH, d;

		if (cls == C_EMPTY) {
			ne = E_EMPTY;
		} else if (cls == C_FULL || cls == C_ONE) {
			d = r->value - r->start; /* translation = addr + d, mod 2^64 */
			ne = cls == C_FULL && !(d & ~E_DMASK) ? d | E_FULL
							      : (uint64_t)(uintptr_t)r | E_ONE;
		}
		if (is_node(old)) {
			rc = rn_drop(b, old, sh - 6);
			if (rc)
				return rc;
		}
		*out = ne;
		return 0;
	}
	cs = sh - 6;
	fresh = !is_node(old);
	if (fresh) {
		for (unsigned j = 0; j < RN_F; j++)
			buf[j] = E_EMPTY;
		ds = base;
		dl = rl;
	} else {
		memcpy(buf, node_of(old)->e, sizeof(buf));
	}
	lo = ds > base ? ds : base;
	hi = dl < rl ? dl : rl;
	j0 = (unsigned)((lo - base) >> cs);
	j1 = (unsigned)((hi - base) >> cs);
	for (unsigned j = j0; j <= j1; j++) {
		rc = rslot(b, buf[j], cs, base + ((uint64_t)j << cs), lo, hi, &buf[j]);
		if (rc)
			return rc;
	}
	rpass(b, buf, cs, base);
	if (!fresh && !memcmp(buf, node_of(old)->e, sizeof(buf))) {
		*out = old;
		return 0;
	}
	nd = fresh ? rn_new(b) : rn_own(b, node_of(old));
	if (!nd)
		return -ENOMEM;
	memcpy(nd->e, buf, sizeof(buf));
	*out = (uint64_t)(uintptr_t)nd;
	return 0;
}

static inline uint64_t region_mask(unsigned rs)
{
	return rs >= 64 ? 0 : ~((UINT64_C(1) << rs) - 1);
}

/* The working root node: its entries (the new version's), their shift and its base. */
struct rroot {
	uint64_t e[RN_F];
	uint64_t base;
	unsigned sh;
};

/* Widen the root's region until it holds [ds, dl]: the root becomes a child. */
static int root_grow(struct dmac_imap_batch *b, struct rroot *rt, uint64_t ds, uint64_t dl)
{
	while (rt->sh < 63 && ((ds & region_mask(rt->sh + 6)) != rt->base ||
			       (dl & region_mask(rt->sh + 6)) != rt->base)) {
		unsigned j = 0, nsh = rt->sh + 6;
		struct rnode *nd;

		while (j < RN_F && rt->e[j] == E_EMPTY)
			j++;
		if (j < RN_F) {
			nd = rn_new(b);
			if (!nd)
				return -ENOMEM;
			memcpy(nd->e, rt->e, sizeof(nd->e));
			for (j = 0; j < RN_F; j++)
				rt->e[j] = E_EMPTY;
			rt->e[(rt->base >> nsh) & (RN_F - 1)] = (uint64_t)(uintptr_t)nd;
		} else {
			nsh = 63; /* an empty root holds any region */
		}
		rt->sh = nsh;
		rt->base &= region_mask(nsh + 6);
	}
	return 0;
}

/* Narrow the root while its only non-empty entry is a node: that node's entries. */
static int root_shrink(struct dmac_imap_batch *b, struct rroot *rt)
{
	for (;;) {
		unsigned one = RN_F, cnt = 0;
		struct rnode *nd;

		for (unsigned j = 0; j < RN_F; j++)
			if (rt->e[j] != E_EMPTY) {
				cnt++;
				one = j;
			}
		if (cnt == 0) {
			rt->sh = 63;
			rt->base = 0;
			return 0;
		}
		if (cnt != 1 || !is_node(rt->e[one]))
			return 0;
		nd = node_of(rt->e[one]);
		if (nd->gen == b->gen) {
			nd->gen = 0;
		} else {
			if (pvec_reserve(&b->retire, 1))
				return -ENOMEM;
			pvec_push(&b->retire, nd);
		}
		b->nrn--;
		rt->base += (uint64_t)one << rt->sh;
		rt->sh -= 6;
		memcpy(rt->e, nd->e, sizeof(rt->e));
	}
}

/* ---------------------------------------------------------------- writer: flat index */

/*
 * The flat index (see the file comment): slot i of the top covers the 1 GiB at
 * fbase + (i << FS) and holds EMPTY, FULL, ONE, or a table (NODE) when two or more
 * intervals meet the region; a table's entry j covers the 2 MiB at the slot's key +
 * (j << TS) and holds EMPTY, FULL, ONE or SRCH. Every word is derived from the
 * version's trees; the k and MORE bits of a FULL word count the words after it in
 * its own array (top or table), saturating at 63. Tables are written in place by
 * later commits; a table is referenced by exactly one slot of the current top.
 */

/* A FULL, ONE or EMPTY word for a region met by the records cls/r describe. */
static uint64_t class_word(int cls, const struct irec *r)
{
	uint64_t d;

	if (cls == C_EMPTY)
		return E_EMPTY;
	d = r->value - r->start;
	if (cls == C_FULL && !(d & ~E_DMASK))
		return d | E_FULL;
	return (uint64_t)(uintptr_t)r | E_ONE;
}

/*
 * The table entry of the 2 MiB region at key in v, no k/MORE: the radix tree's entry,
 * made exact for the 2 MiB when the tree stopped at a ONE entry of a larger region
 * (FULL when its record covers the 2 MiB with a 4 KiB-aligned delta, EMPTY when it
 * misses them), so that most lookups need no record.
 */
static uint64_t tab_base(const struct iver *v, uint64_t key)
{
	uint64_t e, kl = key + ((UINT64_C(1) << TS) - 1);
	const struct irec *r;
	unsigned sh2;

	e = walk(v, key, &sh2);
	if (e & E_FULL)
		return e & ~(uint64_t)E_KMORE;
	if ((e & 7) != E_ONE || sh2 == TS)
		return e;
	r = rec_of(e);
	if (r->last < key || r->start > kl)
		return E_EMPTY;
	return class_word(r->start <= key && r->last >= kl ? C_FULL : C_ONE, r);
}

/*
 * The k and MORE bits of the FULL word w (none yet) of the region [key, key + 2^sh -
 * 1], whose successor in its array is nx (has_nx false: w is the last): as rpass(),
 * with k saturating at 63 (then MORE: the word 64 places on continues the run).
 */
static uint64_t kmore(struct dmac_imap_batch *b, uint64_t w, uint64_t nx, bool has_nx, uint64_t key,
		      unsigned sh)
{
	uint64_t d = w & E_DMASK, x = key + ((UINT64_C(1) << sh) - 1);
	bool more;

	if (has_nx && (nx & E_FULL) && (nx & E_DMASK) == d) {
		uint64_t k = (nx >> 1) & 63;

		if (k == 63)
			return w | (63 << 1) | E_MORE;
		return w | ((k + 1) << 1) | (nx & E_MORE);
	}
	if (x == UINT64_MAX || (has_nx && (nx == E_EMPTY || (nx & E_FULL)))) {
		more = false;
	} else if (has_nx && (nx & 7) == E_ONE) {
		const struct irec *r = rec_of(nx);

		more = r->start <= x + 1 && x + 1 <= r->last &&
		       r->value + (x + 1 - r->start) == x + 1 + d;
	} else {
		more = cont_after(b, x, d);
	}
	return w | (more ? E_MORE : 0);
}

static inline uint64_t fget(const uint64_t *a, uint64_t j)
{
	return __atomic_load_n(&a[j], __ATOMIC_RELAXED);
}

/*
 * Word w for place j of the flat array a (n words of regions of 2^sh bytes, word j at
 * key): a FULL word gets its k and MORE bits from word j + 1; other words are final.
 */
static uint64_t with_kmore(struct dmac_imap_batch *b, const uint64_t *a, uint64_t n, uint64_t j,
			   uint64_t w, uint64_t key, unsigned sh)
{
	if (!(w & E_FULL))
		return w;
	return kmore(b, w & ~(uint64_t)E_KMORE, j + 1 < n ? fget(a, j + 1) : 0, j + 1 < n, key, sh);
}

/*
 * Word j of the flat array a (regions of 2^sh bytes from key0) may have changed: the
 * k/MORE bits of the FULL words before it, while they change (a word depends only on
 * its region and on the next word, so the first unchanged one ends the pass). Release
 * stores, after the dead flag.
 */
static void kmore_back(struct dmac_imap_batch *b, uint64_t *a, uint64_t n, uint64_t j,
		       uint64_t key0, unsigned sh)
{
	while (j-- > 0) {
		uint64_t w = fget(a, j), nw;

		if (!(w & E_FULL))
			return;
		nw = with_kmore(b, a, n, j, w, key0 + (j << sh), sh);
		if (nw == w)
			return;
		__atomic_store_n(&a[j], nw, __ATOMIC_RELEASE);
	}
}

/* Fill a new table (not published: plain stores) for the 1 GiB at key from v. */
static void tab_fill(struct dmac_imap_batch *b, const struct iver *v, uint64_t *t, uint64_t key)
{
	for (unsigned j = TE; j-- > 0;) {
		uint64_t k = key + ((uint64_t)j << TS);

		t[j] = with_kmore(b, t, TE, j, tab_base(v, k), k, TS);
	}
}

/*
 * Bring the entries [j0, j1] of the table t (1 GiB at key, shared with readers) up to
 * v, from the last (the word after each one is final when its k/MORE bits are
 * computed), then the k/MORE bits before them. Release stores, after the dead flag.
 */
static void tab_update(struct dmac_imap_batch *b, const struct iver *v, uint64_t *t, uint64_t key,
		       unsigned j0, unsigned j1)
{
	for (unsigned j = j1 + 1; j-- > j0;) {
		uint64_t k = key + ((uint64_t)j << TS), w;

		w = with_kmore(b, t, TE, j, tab_base(v, k), k, TS);
		if (w != fget(t, j))
			__atomic_store_n(&t[j], w, __ATOMIC_RELEASE);
	}
	kmore_back(b, t, TE, j0, key, TS);
}

/* The first and last byte of the intervals of a non-empty B-tree. */
static void bt_span(const struct bnode *n, uint64_t *lo, uint64_t *hi)
{
	const struct bnode *l = n;

	while (!l->leaf)
		l = l->p[0];
	*lo = ((const struct irec *)l->p[0])->start;
	while (!n->leaf)
		n = n->p[n->n - 1];
	*hi = ((const struct irec *)n->p[n->n - 1])->last;
}

enum { F_NONE, F_KEEP, F_NEW };

/* What a commit does with the flat index: decided and allocated before it publishes. */
struct fplan {
	int mode;
	uint64_t *top; /* the new version's top (F_NEW: not published yet) */
	uint64_t base, n;
	bool all; /* recompute every slot (the old version had no window) */
};

/* The old version's word for the slot at key (EMPTY outside its window). */
static uint64_t old_slot(const struct iver *old, uint64_t key)
{
	uint64_t i = (key - old->h.fbase) >> FS;

	return i < old->h.fn ? fget(old->h.ftab, i) : E_EMPTY;
}

/*
 * The ranges of keys whose flat words a commit recomputes: the dirty ranges, or the
 * whole new window when the old version had none (its intervals are then nowhere in
 * the flat index; with a window, the old one held every interval of the old version).
 */
static size_t franges(const struct dmac_imap_batch *b, const struct fplan *fp)
{
	return fp->all ? 1 : b->dirty.n / 2;
}

/* Range r of franges(): its keys [*ds, *dl] and the slots [*i0, *i1] it meets, if any. */
static bool frange(const struct dmac_imap_batch *b, size_t r, const struct fplan *fp, uint64_t *ds,
		   uint64_t *dl, uint64_t *i0, uint64_t *i1)
{
	uint64_t fl = fp->base + ((fp->n << FS) - 1);

	if (fp->mode == F_NONE)
		return false;
	*ds = fp->all ? fp->base : (uintptr_t)b->dirty.a[2 * r];
	*dl = fp->all ? fl : (uintptr_t)b->dirty.a[2 * r + 1];
	if (*dl < fp->base || *ds > fl)
		return false;
	*i0 = ((*ds < fp->base ? fp->base : *ds) - fp->base) >> FS;
	*i1 = ((*dl > fl ? fl : *dl) - fp->base) >> FS;
	return true;
}

/*
 * Choose the new version's window: none when the map is empty or its intervals spread
 * over more slots than the map may spend (F_PER_N per interval, at least F_CAPMIN, at
 * most F_MAX); else the old window if it covers every interval and is not much larger
 * than needed; else a new one of about twice the span, so that a map growing at one
 * end changes window O(log) times. The window covers every interval, so a key outside
 * it is a miss.
 */
static void flat_window(const struct dmac_imap_batch *b, const struct iver *old, struct fplan *fp)
{
	uint64_t lo, hi, ulo, need, cap, n;

	fp->mode = F_NONE;
	fp->top = NULL;
	fp->base = fp->n = 0;
	fp->all = false;
	if (b->n == 0)
		return;
	bt_span(b->broot, &lo, &hi);
	ulo = lo >> FS;
	need = (hi >> FS) - ulo + 1;
	cap = b->n > F_MAX / F_PER_N ? F_MAX : b->n * F_PER_N;
	cap = cap < F_CAPMIN ? F_CAPMIN : cap;
	if (need > cap)
		return;
	if (old->h.fn && ulo >= (old->h.fbase >> FS) &&
	    (hi >> FS) - (old->h.fbase >> FS) < old->h.fn && old->h.fn <= cap &&
	    (old->h.fn <= F_MIN || old->h.fn <= 4 * need)) {
		fp->mode = F_KEEP;
		fp->top = (uint64_t *)(uintptr_t)old->h.ftab;
		fp->base = old->h.fbase;
		fp->n = old->h.fn;
		return;
	}
	n = 2 * need < F_MIN ? F_MIN : 2 * need;
	n = n > cap ? cap : n;
	ulo -= (n - need) / 2 < ulo ? (n - need) / 2 : ulo;
	if (ulo > F_KEYS - n)
		ulo = F_KEYS - n;
	fp->mode = F_NEW;
	fp->base = ulo << FS;
	fp->n = n;
}

/*
 * The part of a commit that may fail: choose the window, allocate a new top, and for
 * every slot a dirty range meets, compute its new word into b->fslot (pairs: slot,
 * word; a region that needs a table keeps the one it has, or gets a new table filled
 * from v); reserve room to retire every table and top that leaves. Nothing shared is
 * written. On failure everything allocated here is freed (by batch_discard()).
 */
static int flat_prepare(struct dmac_imap_batch *b, const struct iver *old, const struct iver *v,
			struct fplan *fp)
{
	uint64_t last = UINT64_MAX, ds, dl, i0, i1;
	size_t leave = 0; /* tables that leave */

	flat_window(b, old, fp);
	fp->all = fp->mode == F_NEW && !old->h.fn;
	if (fp->mode == F_NEW) {
		fp->top = dmac__aligned_alloc(64, fp->n * sizeof(uint64_t));
		if (!fp->top || pvec_reserve(&b->fresh_top, 1)) {
			dmac__free(fp->top);
			return -ENOMEM;
		}
		pvec_push(&b->fresh_top, fp->top);
	}
	for (size_t r = 0; r < franges(b, fp); r++) {
		if (!frange(b, r, fp, &ds, &dl, &i0, &i1))
			continue;
		for (uint64_t i = i0; i <= i1; i++) {
			uint64_t key = fp->base + (i << FS), ow = old_slot(old, key), w;
			struct irec *rec = NULL;
			int cls;

			if (i == last)
				continue; /* shared with the previous range */
			last = i;
			cls = classify(b, key, key + ((UINT64_C(1) << FS) - 1), &rec);
			if (cls != C_MANY) {
				w = class_word(cls, rec);
			} else if (is_node(ow)) {
				w = ow; /* the table stays, updated in place */
			} else {
				uint64_t *t;

				if (pvec_reserve(&b->fresh_tab, 1))
					return -ENOMEM;
				t = tp_get(&b->m->pool);
				if (!t)
					return -ENOMEM;
				pvec_push(&b->fresh_tab, t);
				tab_fill(b, v, t, key);
				w = (uint64_t)(uintptr_t)t;
			}
			leave += is_node(ow) && ow != w;
			if (pvec_reserve(&b->fslot, 2))
				return -ENOMEM;
			pvec_push(&b->fslot, (void *)(uintptr_t)i);
			pvec_push(&b->fslot, (void *)(uintptr_t)w);
		}
	}
	if (fp->mode != F_KEEP && old->h.fn) {
		/* Tables of regions out of the new window (all of them without one) leave. */
		for (uint64_t i = 0; i < old->h.fn; i++) {
			uint64_t key = old->h.fbase + (i << FS);

			leave += is_node(fget(old->h.ftab, i)) &&
				 (fp->mode == F_NONE || key < fp->base ||
				  (key - fp->base) >> FS >= fp->n);
		}
		if (pvec_reserve(&b->retire, 1)) /* the old top */
			return -ENOMEM;
	}
	return pvec_reserve(&b->retire_tab, leave);
}

/* The word flat_prepare() computed for slot i (which a dirty range meets). */
static uint64_t fslot_word(const struct dmac_imap_batch *b, uint64_t i)
{
	size_t lo = 0, hi = b->fslot.n / 2;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)b->fslot.a[2 * mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uintptr_t)b->fslot.a[2 * lo + 1];
}

/* Set slot j of top to w (release), retiring the table it replaces. */
static void slot_set(struct dmac_imap_batch *b, uint64_t *top, uint64_t j, uint64_t w)
{
	uint64_t cur = fget(top, j);

	if (is_node(cur))
		pvec_push(&b->retire_tab, (void *)(uintptr_t)cur);
	__atomic_store_n(&top[j], w, __ATOMIC_RELEASE);
}

/*
 * The part of a commit that cannot fail, after nv is complete and before it is
 * published: the old version's readers leave the flat index (dead first; every store
 * below is a release), then the slots and tables the dirty ranges meet are brought up
 * to v (from the last range to the first, so that the word after each one is final
 * when its k/MORE bits are computed), and whatever leaves is retired.
 */
static void flat_apply(struct dmac_imap_batch *b, struct iver *old, const struct iver *v,
		       const struct fplan *fp)
{
	uint64_t *top = fp->top, i0, i1;

	__atomic_store_n(&old->h.dead, 1, __ATOMIC_RELAXED);
	if (fp->mode == F_NEW)
		for (uint64_t i = 0; i < fp->n; i++) /* not published: plain stores */
			top[i] = old_slot(old, fp->base + (i << FS));
	for (size_t r = franges(b, fp); r-- > 0;) {
		uint64_t ds, dl;

		if (!frange(b, r, fp, &ds, &dl, &i0, &i1))
			continue;
		for (uint64_t j = i1 + 1; j-- > i0;) {
			uint64_t key = fp->base + (j << FS), kl = key + ((UINT64_C(1) << FS) - 1);
			uint64_t w = fslot_word(b, j);

			if (is_node(w) && w == fget(top, j)) /* a table that stays */
				tab_update(b, v, (uint64_t *)(uintptr_t)w, key,
					   (unsigned)(((ds < key ? key : ds) - key) >> TS),
					   (unsigned)(((dl > kl ? kl : dl) - key) >> TS));
			w = with_kmore(b, top, fp->n, j, w, key, FS);
			if (w != fget(top, j))
				slot_set(b, top, j, w);
		}
		kmore_back(b, top, fp->n, i0, fp->base, FS);
	}
	if (fp->mode == F_NEW) /* the window's edges moved: every FULL slot's k/MORE */
		for (uint64_t j = fp->n; j-- > 0;)
			top[j] = with_kmore(b, top, fp->n, j, top[j], fp->base + (j << FS), FS);
	if (fp->mode != F_KEEP && old->h.fn) {
		for (uint64_t i = 0; i < old->h.fn; i++) {
			uint64_t key = old->h.fbase + (i << FS), w = fget(old->h.ftab, i);

			if (is_node(w) && (fp->mode == F_NONE || key < fp->base ||
					   (key - fp->base) >> FS >= fp->n))
				pvec_push(&b->retire_tab, (void *)(uintptr_t)w);
		}
		pvec_push(&b->retire, (void *)(uintptr_t)old->h.ftab);
	}
}

/* ---------------------------------------------------------------- writer: batches */

static void batch_release(struct dmac_imap_batch *b)
{
	struct dmac_imap *m = b->m;

	pvec_free(&b->dirty);
	pvec_free(&b->fresh_r);
	pvec_free(&b->fresh_bn);
	pvec_free(&b->fresh_rn);
	pvec_free(&b->retire);
	pvec_free(&b->retire_tab);
	pvec_free(&b->fresh_top);
	pvec_free(&b->fresh_tab);
	pvec_free(&b->fslot);
	b->err = 0;
	b->touched = false;
	b->m = NULL;
	pthread_mutex_unlock(&m->lock);
}

/* Throw away everything the batch allocated; the published version is untouched. */
static void batch_discard(struct dmac_imap_batch *b)
{
	for (size_t i = 0; i < b->fresh_rn.n; i++)
		dmac__free(b->fresh_rn.a[i]);
	for (size_t i = 0; i < b->fresh_bn.n; i++)
		dmac__free(b->fresh_bn.a[i]);
	for (size_t i = 0; i < b->fresh_r.n; i++)
		dmac__free(b->fresh_r.a[i]);
	for (size_t i = 0; i < b->fresh_top.n; i++)
		dmac__free(b->fresh_top.a[i]);
	for (size_t i = 0; i < b->fresh_tab.n; i++)
		tp_put(&b->m->pool, b->fresh_tab.a[i]);
	batch_release(b);
}

DMAC_EXPORT int dmac_imap_batch_begin(struct dmac_imap *m, struct dmac_imap_batch **out)
{
	struct dmac_imap_batch *b;

	if (!m || !out)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	b = &m->batch;
	memset(b, 0, sizeof(*b));
	b->m = m;
	b->gen = ++m->gen;
	*out = b;
	return 0;
}

DMAC_EXPORT void dmac_imap_batch_abort(struct dmac_imap_batch *b)
{
	if (b)
		batch_discard(b);
}

/* The working version starts as the published one. */
static void batch_touch(struct dmac_imap_batch *b)
{
	struct iver *v;

	if (b->touched)
		return;
	v = ver_cur_w(b->m);
	b->broot = v->broot;
	b->n = v->n;
	b->nbn = v->nbn;
	b->nrn = v->nrn;
	b->touched = true;
}

/* Only after pvec_reserve(&b->dirty, 2) made room. */
static void dirty_push(struct dmac_imap_batch *b, uint64_t start, uint64_t last)
{
	pvec_push(&b->dirty, (void *)(uintptr_t)start);
	pvec_push(&b->dirty, (void *)(uintptr_t)last);
}

static int batch_fail(struct dmac_imap_batch *b, int err)
{
	b->err = err;
	return err;
}

DMAC_EXPORT int dmac_imap_batch_insert(struct dmac_imap_batch *b, uint64_t start, uint64_t last,
				       uint64_t value)
{
	const struct irec *p;
	struct irec *r;
	struct bcur c;

	if (!b)
		return -EINVAL;
	if (b->err)
		return b->err;
	if (start > last || value > UINT64_MAX - (last - start))
		return batch_fail(b, -EINVAL);
	batch_touch(b);
	/* The record with the greatest start <= last is the only one that may overlap. */
	p = bt_seek(b->broot, last, &c);
	if (p && p->last >= start)
		return batch_fail(b, -EEXIST);
	if (pvec_reserve(&b->dirty, 2) || pvec_reserve(&b->fresh_r, 1))
		return batch_fail(b, -ENOMEM);
	r = dmac__aligned_alloc(IREC_ALIGN, sizeof(*r));
	if (!r)
		return batch_fail(b, -ENOMEM);
	r->start = start;
	r->last = last;
	r->value = value;
	r->gen = b->gen;
	pvec_push(&b->fresh_r, r);
	if (bt_insert(b, r))
		return batch_fail(b, -ENOMEM);
	b->n++;
	dirty_push(b, start, last);
	return 0;
}

DMAC_EXPORT int dmac_imap_batch_remove(struct dmac_imap_batch *b, uint64_t start, uint64_t last)
{
	struct irec *r;
	struct bcur c;

	if (!b)
		return -EINVAL;
	if (b->err)
		return b->err;
	if (start > last)
		return batch_fail(b, -EINVAL);
	batch_touch(b);
	r = (struct irec *)bt_seek(b->broot, start, &c);
	if (!r || r->start != start || r->last != last)
		return batch_fail(b, -ENOENT);
	if (pvec_reserve(&b->dirty, 2))
		return batch_fail(b, -ENOMEM);
	/* bt_remove() uses the room it reserves in retire: reserve the record's after. */
	if (bt_remove(b, start) || pvec_reserve(&b->retire, 1))
		return batch_fail(b, -ENOMEM);
	if (r->gen == b->gen)
		r->gen = 0; /* inserted by this batch: never published, freed at commit */
	else
		pvec_push(&b->retire, r);
	b->n--;
	dirty_push(b, start, last);
	return 0;
}

static int dirty_cmp(const void *x, const void *y)
{
	uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * Extend each dirty range [s, l] to [s - 1, l] (the run of the byte before may have
 * changed: its MORE bit looks at s), sort and merge those that overlap or touch, so
 * that commit visits each index entry once per range.
 */
static void dirty_merge(struct dmac_imap_batch *b)
{
	uintptr_t *d = (uintptr_t *)b->dirty.a;
	size_t nd = b->dirty.n / 2, out = 0;

	for (size_t i = 0; i < nd; i++)
		if (d[2 * i] > 0)
			d[2 * i]--;
	qsort(d, nd, 2 * sizeof(*d), dirty_cmp);
	for (size_t i = 0; i < nd; i++) {
		if (out > 0 && (d[2 * out - 1] == UINTPTR_MAX || d[2 * i] <= d[2 * out - 1] + 1)) {
			if (d[2 * i + 1] > d[2 * out - 1])
				d[2 * out - 1] = d[2 * i + 1];
			continue;
		}
		d[2 * out] = d[2 * i];
		d[2 * out + 1] = d[2 * i + 1];
		out++;
	}
	b->dirty.n = 2 * out;
}

DMAC_EXPORT int dmac_imap_batch_commit(struct dmac_imap_batch *b)
{
	struct dmac_imap *m;
	struct iver *old, *nv;
	struct fplan fp;
	struct rroot rt;
	bool any = false;
	int rc;

	if (!b)
		return -EINVAL;
	if (b->err) {
		rc = b->err;
		goto fail_discard;
	}
	if (!b->touched) {
		batch_release(b); /* no op: nothing to publish */
		return 0;
	}
	m = b->m;
	old = ver_cur_w(m);
	nv = ver_alloc();
	if (!nv) {
		rc = -ENOMEM;
		goto fail_discard;
	}
	memcpy(rt.e, old->h.e, sizeof(rt.e));
	rt.sh = old->shift;
	rt.base = old->h.base;
	dirty_merge(b);
	for (size_t i = 0; i < b->dirty.n; i += 2) {
		uint64_t ds = (uintptr_t)b->dirty.a[i], dl = (uintptr_t)b->dirty.a[i + 1], rl;
		unsigned j0, j1;

		rc = root_grow(b, &rt, ds, dl);
		if (rc)
			goto fail_version;
		rl = rt.base +
		     (rt.sh >= 58 ? UINT64_MAX - rt.base : (UINT64_C(1) << (rt.sh + 6)) - 1);
		if (ds < rt.base)
			ds = rt.base;
		if (dl > rl)
			dl = rl;
		j0 = (unsigned)((ds - rt.base) >> rt.sh);
		j1 = (unsigned)((dl - rt.base) >> rt.sh);
		for (unsigned j = j0; j <= j1; j++) {
			rc = rslot(b, rt.e[j], rt.sh, rt.base + ((uint64_t)j << rt.sh), ds, dl,
				   &rt.e[j]);
			if (rc)
				goto fail_version;
		}
		any = true;
	}
	if (any)
		rpass(b, rt.e, rt.sh, rt.base);
	rc = root_shrink(b, &rt);
	if (rc)
		goto fail_version;

	memset(nv, 0, sizeof(*nv));
	memcpy(nv->h.e, rt.e, sizeof(nv->h.e));
	nv->shift = rt.sh;
	nv->h.mask = region_mask(rt.sh + 6);
	nv->h.base = rt.base;
	nv->broot = b->broot;
	nv->n = b->n;
	nv->nbn = b->nbn;
	nv->nrn = b->nrn;
	nv->pool = &m->pool;
	rc = flat_prepare(b, old, nv, &fp); /* reads nv's trees */
	if (rc)
		goto fail_version;
	nv->h.ftab = fp.top;
	nv->h.fbase = fp.base;
	nv->h.fn = fp.n;

	/* Nothing can fail from here on. */
	for (size_t i = 0; i < b->fresh_rn.n; i++)
		if (((struct rnode *)b->fresh_rn.a[i])->gen == 0)
			dmac__free(b->fresh_rn.a[i]);
	for (size_t i = 0; i < b->fresh_bn.n; i++)
		if (((struct bnode *)b->fresh_bn.a[i])->gen == 0)
			dmac__free(b->fresh_bn.a[i]);
	for (size_t i = 0; i < b->fresh_r.n; i++)
		if (((struct irec *)b->fresh_r.a[i])->gen == 0)
			dmac__free(b->fresh_r.a[i]);
	flat_apply(b, old, nv, &fp);

	/* Release pairs with the readers' acquire load: nv is complete before it shows. */
	__atomic_store_n(&m->h.cur, ver_snap(nv), __ATOMIC_RELEASE);

	old->retired = b->retire; /* readers never look at 'retired' */
	b->retire.a = NULL;
	b->retire.n = b->retire.cap = 0;
	old->retired_tab = b->retire_tab;
	b->retire_tab.a = NULL;
	b->retire_tab.n = b->retire_tab.cap = 0;
	tsan_release_token();
	urcu_memb_call_rcu(&old->rcu, ver_free_cb);
	batch_release(b);
	return 0;

fail_version:
	dmac__free(nv);
fail_discard:
	batch_discard(b);
	return rc;
}

DMAC_EXPORT int dmac_imap_insert(struct dmac_imap *m, uint64_t start, uint64_t last, uint64_t value)
{
	struct dmac_imap_batch *b;
	int rc;

	rc = dmac_imap_batch_begin(m, &b);
	if (rc)
		return rc;
	rc = dmac_imap_batch_insert(b, start, last, value);
	if (rc) {
		dmac_imap_batch_abort(b);
		return rc;
	}
	return dmac_imap_batch_commit(b);
}

DMAC_EXPORT int dmac_imap_remove(struct dmac_imap *m, uint64_t start, uint64_t last)
{
	struct dmac_imap_batch *b;
	int rc;

	rc = dmac_imap_batch_begin(m, &b);
	if (rc)
		return rc;
	rc = dmac_imap_batch_remove(b, start, last);
	if (rc) {
		dmac_imap_batch_abort(b);
		return rc;
	}
	return dmac_imap_batch_commit(b);
}

/* ---------------------------------------------------------------- life cycle */

DMAC_EXPORT int dmac_imap_create(struct dmac_imap **out)
{
	struct dmac_imap *m;
	struct iver *v;
	int rc;

	if (!out)
		return -EINVAL;
	m = dmac__calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	v = ver_alloc();
	if (!v) {
		rc = -ENOMEM;
		goto free_map;
	}
	memset(v, 0, sizeof(*v));
	for (unsigned j = 0; j < RN_F; j++)
		v->h.e[j] = E_EMPTY;
	v->shift = 63;
	v->h.mask = 0;
	v->h.base = 0;
	v->pool = &m->pool;
	rc = pthread_mutex_init(&m->lock, NULL);
	if (rc) {
		rc = -rc;
		goto free_version;
	}
	__atomic_store_n(&m->h.cur, ver_snap(v), __ATOMIC_RELAXED); /* not shared yet */
	*out = m;
	return 0;

free_version:
	dmac__free(v);
free_map:
	dmac__free(m);
	return rc;
}

DMAC_EXPORT void dmac_imap_destroy(struct dmac_imap *m)
{
	struct iver *v;

	if (!m)
		return;
	/* Every version but the current one is in a pending call_rcu callback. */
	urcu_memb_barrier();
	tsan_acquire_token(); /* the callbacks are done (see the TSan model) */
	v = ver_cur_w(m);
	for (unsigned j = 0; j < RN_F; j++)
		if (is_node(v->h.e[j]))
			rn_free_tree(node_of(v->h.e[j]), v->shift - 6);
	if (v->broot)
		bn_free_tree(v->broot);
	dmac__free((void *)(uintptr_t)v->h.ftab);
	dmac__free(v);
	tp_destroy(&m->pool); /* the current version's tables too */
	pthread_mutex_destroy(&m->lock);
	dmac__free(m);
}
