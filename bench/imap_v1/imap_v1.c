/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Benchmark peer only: the previous design of dmac_imap (lib/iova_cache/imap.c and
 * dmac/imap.h as of commit 24e36e4: a sorted array copied per batch and a radix index
 * of 12 KiB nodes), frozen with its symbols renamed dmacv1_* so that dmacache-bench
 * measures the old and the new map in the same run. Deliberately a copy: not built
 * into any library, not maintained; delete it with the comparison rows.
 */
/*
 * dmacv1_imap: RCU-protected interval map (see dmac/imap.h and docs/imap.md).
 *
 * Invariants:
 * - Intervals are [start, last], 'last' inclusive; records never overlap; a record
 *   is immutable once created and is shared by every version that contains it.
 * - A version is immutable once published in m->h.cur. It holds:
 *   (a) 'sorted': the record pointers ordered by start (so also by last), n of them;
 *   (b) 'top': level 0 of a radix index over keys < 2^48 (IMAP_WINDOW_BITS).
 *   Level 0 entries cover 2^39 bytes, level 1 entries 2^30, level 2 entries 2^21
 *   (a 2 MiB slot). A level is three parallel arrays (struct ilevel: e, run, rec).
 *   Each entry describes exactly the records intersecting its region:
 *     EMPTY  no record intersects it;
 *     FULL   one record covers all of it and value - start is a multiple of 8:
 *            e = (value - start) | 1, translation = addr + e - 1;
 *     FULLR  one record covers all of it, value - start not a multiple of 8;
 *     ONE    one record intersects part of it (check the record's bounds);
 *     NODE   (levels 0 and 1 only) two or more records: e is a child node;
 *     MANY   (level 2 only) two or more records: binary search 'sorted'.
 *   FULL, FULLR and ONE entries have rec = the record and run = the last byte of the
 *   run of records that continue one another (key and value; see continues())
 *   holding it, so a ranged translate needs no walk. Keys >= 2^48 are found by
 *   binary search of 'sorted'.
 * - At commit, each op's range [start, last] is dirty and is extended back over the
 *   run (in the new sorted array) holding the record that contains start - 1: those
 *   are exactly the records whose 'run' may have changed (the first record of the
 *   two versions' runs from X that differ is followed, in one version, by a record
 *   an op inserted or removed at its last + 1). Dirty ranges are sorted and merged
 *   first, so every index entry is recomputed at most once per commit.
 * - Readers load m->h.cur once per call (acquire); a snapshot is that pointer.
 * - Index nodes are copy-on-write: a node reachable from a published version is never
 *   written again. A node whose 'gen' equals the open batch's generation was allocated
 *   by that batch and is not published yet, so the batch may write it in place.
 * - Memory reachable only from a replaced version (old nodes, removed records, the old
 *   sorted array, the version itself) is freed by a call_rcu() callback, after a grace
 *   period; memory allocated by a batch and never published is freed at once.
 * - The writer mutex is held from batch_begin to commit/abort; only its holder touches
 *   m->batch, m->gen and writes m->h.cur.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "dmac/common.h"
#include "imap_v1.h"
#include "dmac_alloc.h"

#define IMAP_WINDOW_BITS 48
#define IMAP_WINDOW	 (1ULL << IMAP_WINDOW_BITS)
#define IMAP_FANOUT_BITS 9
#define IMAP_FANOUT	 (1U << IMAP_FANOUT_BITS)
#define IMAP_LEVELS	 3

/*
 * Entry kinds, in the low 3 bits of an entry word e[i] (see struct ilevel):
 *   T_NODE  e is a struct inode * (non-NULL, 64-byte aligned);
 *   T_FULL  e = (value - start) | 1, when value - start is a multiple of 8:
 *           translation = addr + e - 1 (mod 2^64), with no other load;
 *   T_FULLR a FULL slot whose value - start is not a multiple of 8: see rec[i];
 *   T_ONE, T_MANY, T_EMPTY as in the file comment.
 */
#define T_NODE	DMACV1__IMAP_T_NODE
#define T_FULL	DMACV1__IMAP_T_FULL
#define T_FULLR 2
#define T_ONE	3
#define T_EMPTY DMACV1__IMAP_T_EMPTY
#define T_MANY	5
#define T_KIND	DMACV1__IMAP_T_KIND

struct irec {
	uint64_t start, last, value;
	uint64_t gen; /* generation of the batch that created it */
};

_Static_assert(sizeof(struct irec) <= 64, "an interval record must fit in 64 bytes");
/* Records are 32-byte aligned: the low 4 bits of an entry's pointer are tags. */
#define IREC_ALIGN 32
_Static_assert(sizeof(struct irec) <= IREC_ALIGN, "a record must not straddle cache lines");
_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "keys are stored in pointer vectors");

/*
 * One level of the index (the version's top, or a node): three parallel arrays, so
 * that the single translate reads only e[] (8 bytes a slot, as dense as a plain
 * radix table), the ranged one also run[], and lookup rec[].
 *   e[i]    kind and, for T_FULL, the translation delta (see T_NODE..T_MANY);
 *   run[i]  T_FULL, T_FULLR, T_ONE: the last byte of the contiguous run holding
 *           rec[i]; otherwise 0;
 *   rec[i]  T_FULL, T_FULLR, T_ONE: the record; otherwise NULL.
 */
struct ilevel {
	uint64_t e[IMAP_FANOUT];
	uint64_t run[IMAP_FANOUT];
	struct irec *rec[IMAP_FANOUT];
};
_Static_assert(IMAP_WINDOW_BITS == DMACV1__IMAP_WINDOW_BITS, "header and index agree");
_Static_assert(IMAP_FANOUT_BITS == DMACV1__IMAP_FANOUT_BITS, "header and index agree");

struct inode {
	struct ilevel l;
	uint64_t gen; /* generation of the batch that allocated it */
	bool dead;    /* allocated by the open batch, then dropped from its tree */
};

struct pvec {
	void **a;
	size_t n, cap;
};

/* The version is what readers see as a struct dmacv1_imap_snap. */
#define iver dmacv1_imap_snap
struct iver {
	struct ilevel top;
	struct irec **sorted;
	size_t n, cap;
	size_t nnodes;
	struct rcu_head rcu;
	struct pvec retired; /* set when this version is replaced */
};

struct dmacv1_imap_batch {
	struct dmacv1_imap *m;
	uint64_t gen;
	int err;	     /* first error; poisons the batch */
	struct irec **work;  /* working sorted array, copied on the first op */
	size_t hint;	     /* of lower_last_hint() */
	size_t run_i, run_j; /* of run_last(): work[run_i..run_j] is one whole run */
	bool run_ok;	     /* run_i, run_j are valid (reset at commit) */
	size_t n, cap;	     /* of work */
	struct pvec dirty;   /* pairs (start, last) cast to void *, of every op */
	struct pvec fresh;   /* records allocated by this batch */
	struct pvec removed; /* records removed by this batch */
	struct pvec nodes;   /* index nodes allocated by this batch */
	struct pvec retire;  /* old-version nodes no longer reachable */
};

_Static_assert(offsetof(struct iver, top) == 0, "the inline walk reads top first");
_Static_assert(offsetof(struct inode, l) == 0, "the inline walk reads e first");
_Static_assert(offsetof(struct ilevel, run) == offsetof(struct dmacv1__imap_node_head, run),
	       "header and index agree");

struct dmacv1_imap {
	struct dmacv1__imap_head h; /* h.cur: the published version; atomic accesses only */
	pthread_mutex_t lock;
	uint64_t gen;
	struct dmacv1_imap_batch batch;
};

static const unsigned level_shift[IMAP_LEVELS] = {39, 30, 21};

/* ---------------------------------------------------------------- TSan model */

#ifdef DMACV1_IMAP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
/*
 * liburcu's grace periods are invisible to TSan. One token models them: every reader
 * releases it when leaving a read-side section and the writer releases it before
 * call_rcu(); the deferred free acquires it. Everything a reader did before its unlock
 * therefore happens-before the free, which is what the grace period guarantees.
 */
static char tsan_token;

void dmacv1__imap_tsan_reader_exit(void)
{
	__tsan_release(&tsan_token);
}
#define tsan_release_token() __tsan_release(&tsan_token)
#define tsan_acquire_token() __tsan_acquire(&tsan_token)
#else
#define tsan_release_token() ((void)0)
#define tsan_acquire_token() ((void)0)
#endif

/* ---------------------------------------------------------------- readers */

/* The latest published version. */
static inline struct iver *ver_load(const struct dmacv1_imap *m)
{
	/* Acquire pairs with the release store of commit: the version is complete. */
	return (struct iver *)__atomic_load_n(&m->h.cur, __ATOMIC_ACQUIRE);
}

/* The writer's own view of m->h.cur (only the writer stores it). */
static inline struct iver *ver_cur_w(const struct dmacv1_imap *m)
{
	return (struct iver *)__atomic_load_n(&m->h.cur, __ATOMIC_RELAXED);
}

/* The level a T_NODE entry word points to. */
static inline const struct ilevel *child(uint64_t e)
{
	return &((const struct inode *)(uintptr_t)e)->l;
}

/* Index of the first record with start > addr. */
static size_t upper_start(struct irec *const *a, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid]->start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first record with last >= addr. */
static size_t lower_last(struct irec *const *a, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid]->last < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* nx starts right after r and its value continues r's. */
static inline bool continues(const struct irec *r, const struct irec *nx)
{
	uint64_t end_val = r->value + (r->last - r->start); /* no wrap: checked at insert */

	return r->last != UINT64_MAX && end_val != UINT64_MAX && nx->start == r->last + 1 &&
	       nx->value == end_val + 1;
}

/*
 * What find() knows about the record it returns: cont (its successor continues it)
 * and, when the index entry said so (known), run = the last byte of its run.
 */
struct found {
	bool cont, known;
	uint64_t run;
};

static const struct irec *slow_find(const struct iver *v, uint64_t addr, struct found *f)
{
	size_t i = upper_start(v->sorted, v->n, addr);
	const struct irec *r;

	if (i == 0)
		return NULL;
	r = v->sorted[i - 1];
	if (addr > r->last)
		return NULL;
	f->cont = i < v->n && continues(r, v->sorted[i]);
	f->known = false;
	return r;
}

/* The leaf-most level holding addr (< IMAP_WINDOW); *idx: the entry's index. */
static inline const struct ilevel *walk(const struct iver *v, uint64_t addr, unsigned *idx)
{
	const struct ilevel *l = &v->top;
	unsigned i = addr >> 39;

	if (l->e[i] & T_KIND)
		goto out;
	l = child(l->e[i]);
	i = (addr >> 30) & (IMAP_FANOUT - 1);
	if (l->e[i] & T_KIND)
		goto out;
	l = child(l->e[i]);
	i = (addr >> 21) & (IMAP_FANOUT - 1);
out:
	*idx = i;
	return l;
}

/* The record containing addr, or NULL; *f: what is known about its run. */
static inline const struct irec *find(const struct iver *v, uint64_t addr, struct found *f)
{
	if (dmac_likely(addr < IMAP_WINDOW)) {
		unsigned i;
		const struct ilevel *l = walk(v, addr, &i);
		const struct irec *r;

		switch (l->e[i] & T_KIND) {
		case T_FULL:
		case T_FULLR:
		case T_ONE:
			r = l->rec[i];
			if (addr < r->start || addr > r->last)
				return NULL;
			f->cont = false; /* not needed: run is known */
			f->known = true;
			f->run = l->run[i];
			return r;
		case T_EMPTY:
			return NULL;
		default:
			break;
		}
	}
	return slow_find(v, addr, f);
}

/*
 * Bytes - 1 contiguous in key and value from addr inside r, following successors
 * that continue it (f: what find() said of r), clipped to max_len - 1 when
 * max_len != 0. Only records found by binary search (MANY slots, keys >= 2^48) are
 * followed one by one; an index entry ends the walk with its 'run'.
 */
static uint64_t contig_from(const struct iver *v, const struct irec *r, struct found f,
			    uint64_t addr, uint64_t max_len)
{
	uint64_t c = (f.known ? f.run : r->last) - addr;

	while (!f.known && f.cont && (max_len == 0 || c < max_len - 1)) {
		r = find(v, r->last + 1, &f);
		if (!r) /* cannot happen in an immutable version; be defensive */
			break;
		c = (f.known ? f.run : r->last) - addr;
	}
	if (max_len != 0 && c > max_len - 1)
		c = max_len - 1;
	return c;
}

static inline uint64_t contig_len(uint64_t c)
{
	return c == UINT64_MAX ? UINT64_MAX : c + 1;
}

DMAC_EXPORT uint64_t dmacv1__imap_translate_slow(const struct dmacv1_imap_snap *s, uint64_t addr,
					       uint64_t max_len, uint64_t *len)
{
	struct found f;
	const struct irec *r;

	if (!s)
		return DMACV1_IMAP_NONE;
	r = find(s, addr, &f);
	if (!r)
		return DMACV1_IMAP_NONE;
	if (len)
		*len = contig_len(contig_from(s, r, f, addr, max_len));
	return r->value + (addr - r->start);
}

static void rec_out(const struct irec *r, struct dmacv1_imap_entry *out)
{
	out->start = r->start;
	out->last = r->last;
	out->value = r->value;
}


DMAC_EXPORT int dmacv1_imap_lookup(const struct dmacv1_imap *m, uint64_t addr,
				 struct dmacv1_imap_entry *out)
{
	return dmacv1_imap_snap_lookup(dmacv1_imap_snapshot(m), addr, out);
}

DMAC_EXPORT int dmacv1_imap_snap_lookup_range(const struct dmacv1_imap_snap *s, uint64_t addr,
					    uint64_t max_len, struct dmacv1_imap_entry *out,
					    uint64_t *contig)
{
	const struct irec *r;
	struct found f;

	if (!s || !out)
		return -EINVAL;
	r = find(s, addr, &f);
	if (!r)
		return -ENOENT;
	rec_out(r, out);
	if (contig)
		*contig = contig_len(contig_from(s, r, f, addr, max_len));
	return 0;
}

/* A lookup is a range lookup that does not ask for the contiguous length. */
DMAC_EXPORT int dmacv1_imap_snap_lookup(const struct dmacv1_imap_snap *s, uint64_t addr,
				      struct dmacv1_imap_entry *out)
{
	return dmacv1_imap_snap_lookup_range(s, addr, 0, out, NULL);
}

DMAC_EXPORT int dmacv1_imap_lookup_range(const struct dmacv1_imap *m, uint64_t addr, uint64_t max_len,
				       struct dmacv1_imap_entry *out, uint64_t *contig)
{
	return dmacv1_imap_snap_lookup_range(dmacv1_imap_snapshot(m), addr, max_len, out, contig);
}

DMAC_EXPORT int dmacv1_imap_snap_next(const struct dmacv1_imap_snap *s, uint64_t addr,
				    struct dmacv1_imap_entry *out)
{
	size_t i;

	if (!s || !out)
		return -EINVAL;
	/* First record with start >= addr: first with last >= addr, or the one after. */
	i = lower_last(s->sorted, s->n, addr);
	if (i < s->n && s->sorted[i]->start < addr)
		i++;
	if (i >= s->n)
		return -ENOENT;
	rec_out(s->sorted[i], out);
	return 0;
}

DMAC_EXPORT int dmacv1_imap_next(const struct dmacv1_imap *m, uint64_t addr,
			       struct dmacv1_imap_entry *out)
{
	return dmacv1_imap_snap_next(dmacv1_imap_snapshot(m), addr, out);
}

DMAC_EXPORT size_t dmacv1_imap_snap_count(const struct dmacv1_imap_snap *s)
{
	return s ? s->n : 0;
}

DMAC_EXPORT size_t dmacv1_imap_count(const struct dmacv1_imap *m)
{
	return dmacv1_imap_snap_count(dmacv1_imap_snapshot(m));
}

static void ver_stats(const struct iver *v, struct dmacv1_imap_stats *s)
{
	s->intervals = v->n;
	s->index_nodes = v->nnodes;
	s->record_bytes = v->n * sizeof(struct irec);
	s->index_bytes = sizeof(v->top) + v->nnodes * sizeof(struct inode);
	s->sorted_bytes = v->cap * sizeof(struct irec *);
	s->version_bytes = sizeof(*v) - sizeof(v->top);
}

DMAC_EXPORT int dmacv1_imap_stats(const struct dmacv1_imap *m, struct dmacv1_imap_stats *out)
{
	if (!m || !out)
		return -EINVAL;
	ver_stats(ver_load(m), out);
	return 0;
}

DMAC_EXPORT size_t dmacv1_imap_memory(const struct dmacv1_imap *m)
{
	struct dmacv1_imap_stats s;

	if (!m)
		return 0;
	ver_stats(ver_load(m), &s);
	return s.record_bytes + s.index_bytes + s.sorted_bytes + s.version_bytes;
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

static void level_set_empty(struct ilevel *l)
{
	for (size_t i = 0; i < IMAP_FANOUT; i++) {
		l->e[i] = T_EMPTY;
		l->run[i] = 0;
		l->rec[i] = NULL;
	}
}

static struct iver *ver_alloc(void)
{
	return dmac__aligned_alloc(64, sizeof(struct iver));
}

/* Free nd (holding entries of the given level) and its subtree (destroy path). */
static void node_free_tree(struct inode *nd, unsigned level)
{
	if (level < IMAP_LEVELS - 1) {
		for (unsigned i = 0; i < IMAP_FANOUT; i++)
			if ((nd->l.e[i] & T_KIND) == T_NODE)
				node_free_tree((struct inode *)(uintptr_t)nd->l.e[i], level + 1);
	}
	dmac__free(nd);
}

DMAC_EXPORT void dmacv1_imap_synchronize(void)
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
	pvec_free(&v->retired);
	dmac__free(v);
}

/* ---------------------------------------------------------------- writers */

enum { C_EMPTY, C_FULL, C_ONE, C_MANY };

/*
 * lower_last() over the batch's working array, starting from the previous answer:
 * the regions of a node are classified in increasing order, so the answer usually
 * is the hint or a few records after it (galloping search), which turns building a
 * node from O(512 log n) into O(512 + records in it).
 */
static size_t lower_last_hint(struct dmacv1_imap_batch *b, uint64_t base)
{
	size_t h = b->hint, step = 1, lo, hi;

	if (h > b->n || (h > 0 && b->work[h - 1]->last >= base)) {
		b->hint = lower_last(b->work, b->n, base);
		return b->hint;
	}
	/* Every record before h ends before base: gallop forward from h. */
	while (h + step - 1 < b->n && b->work[h + step - 1]->last < base)
		step *= 2;
	lo = h + step / 2;
	hi = h + step - 1 < b->n ? h + step - 1 : b->n;
	b->hint = lo + lower_last(b->work + lo, hi - lo, base);
	return b->hint;
}

/*
 * Which records of the batch's working array intersect [base, rl]; for C_FULL and
 * C_ONE, *rec is the record and *cont tells whether its successor continues it.
 */
/*
 * The last byte of the run holding work[i] (records continuing one another from a
 * record that does not continue its predecessor). The last answer is cached, so the
 * slots of one run cost one walk over its records at each commit.
 */
static uint64_t run_last(struct dmacv1_imap_batch *b, size_t i)
{
	size_t j;

	if (b->run_ok && i >= b->run_i && i <= b->run_j)
		return b->work[b->run_j]->last;
	for (j = i; j + 1 < b->n && continues(b->work[j], b->work[j + 1]);)
		j++;
	/* i may not be its run's first record: only [i, j] is known to be one run's tail. */
	b->run_i = i;
	b->run_j = j;
	b->run_ok = true;
	return b->work[j]->last;
}

static int classify(struct dmacv1_imap_batch *b, uint64_t base, uint64_t rl, struct irec **rec,
		    uint64_t *run)
{
	size_t i = lower_last_hint(b, base);
	struct irec *r;

	if (i == b->n || b->work[i]->start > rl)
		return C_EMPTY;
	r = b->work[i];
	*rec = r;
	*run = run_last(b, i);
	if (r->start <= base && r->last >= rl)
		return C_FULL;
	if (i + 1 < b->n && b->work[i + 1]->start <= rl)
		return C_MANY;
	return C_ONE;
}

static struct inode *node_new(struct dmacv1_imap_batch *b)
{
	struct inode *nd;

	if (pvec_reserve(&b->nodes, 1))
		return NULL;
	nd = dmac__aligned_alloc(64, sizeof(*nd));
	if (!nd)
		return NULL;
	nd->gen = b->gen;
	nd->dead = false;
	pvec_push(&b->nodes, nd);
	return nd;
}

/* Take the subtree of nd (level of its entries = level) out of the new version. */
static int node_drop(struct dmacv1_imap_batch *b, struct inode *nd, unsigned level)
{
	int rc;

	if (level < IMAP_LEVELS - 1) {
		for (unsigned i = 0; i < IMAP_FANOUT; i++) {
			if ((nd->l.e[i] & T_KIND) != T_NODE)
				continue;
			rc = node_drop(b, (struct inode *)(uintptr_t)nd->l.e[i], level + 1);
			if (rc)
				return rc;
		}
	}
	if (nd->gen == b->gen) {
		nd->dead = true;
		return 0;
	}
	if (pvec_reserve(&b->retire, 1))
		return -ENOMEM;
	pvec_push(&b->retire, nd);
	return 0;
}

/*
 * Recompute entry i of level l, at the given depth (region [base, base + 2^shift - 1])
 * for the dirty range [ds, dl], which intersects the region. l belongs to the new
 * version.
 */
static int ent_update(struct dmacv1_imap_batch *b, struct ilevel *l, unsigned i, unsigned level,
		      uint64_t base, uint64_t ds, uint64_t dl)
{
	unsigned shift = level_shift[level];
	uint64_t rl = base + ((1ULL << shift) - 1);
	struct irec *r = NULL;
	struct inode *nd;
	uint64_t cs, cl;
	unsigned cshift;
	uint64_t run = 0;
	int cls, rc;

	cls = classify(b, base, rl, &r, &run);
	if (cls != C_MANY || level == IMAP_LEVELS - 1) {
		uint64_t ne, nrun = 0, d;
		struct irec *nrec = NULL;

		switch (cls) {
		case C_EMPTY:
			ne = T_EMPTY;
			break;
		case C_FULL:
		case C_ONE:
			d = r->value - r->start; /* translation = addr + d, mod 2^64 */
			if (cls == C_FULL)
				ne = (d & T_KIND) == 0 ? d | T_FULL : T_FULLR;
			else
				ne = T_ONE;
			nrun = run;
			nrec = r;
			break;
		default:
			ne = T_MANY;
			break;
		}
		if ((l->e[i] & T_KIND) == T_NODE) {
			rc = node_drop(b, (struct inode *)(uintptr_t)l->e[i], level + 1);
			if (rc)
				return rc;
		}
		l->e[i] = ne;
		l->run[i] = nrun;
		l->rec[i] = nrec;
		return 0;
	}
	if ((l->e[i] & T_KIND) == T_NODE) {
		nd = (struct inode *)(uintptr_t)l->e[i];
		if (nd->gen != b->gen) {
			struct inode *old = nd;

			if (pvec_reserve(&b->retire, 1))
				return -ENOMEM;
			nd = node_new(b);
			if (!nd)
				return -ENOMEM;
			memcpy(&nd->l, &old->l, sizeof(nd->l));
			pvec_push(&b->retire, old); /* the node only: its children move to nd */
			l->e[i] = (uintptr_t)nd;
		}
	} else {
		/* The region had a summary entry: build all of its children. */
		nd = node_new(b);
		if (!nd)
			return -ENOMEM;
		level_set_empty(&nd->l);
		l->e[i] = (uintptr_t)nd;
		l->run[i] = 0;
		l->rec[i] = NULL;
		ds = base;
		dl = rl;
	}
	cs = ds > base ? ds : base;
	cl = dl < rl ? dl : rl;
	cshift = level_shift[level + 1];
	for (uint64_t j = (cs - base) >> cshift; j <= (cl - base) >> cshift; j++) {
		rc = ent_update(b, &nd->l, j, level + 1, base + (j << cshift), cs, cl);
		if (rc)
			return rc;
	}
	return 0;
}

static void batch_release(struct dmacv1_imap_batch *b)
{
	struct dmacv1_imap *m = b->m;

	pvec_free(&b->dirty);
	pvec_free(&b->fresh);
	pvec_free(&b->removed);
	pvec_free(&b->nodes);
	pvec_free(&b->retire);
	b->work = NULL;
	b->n = b->cap = 0;
	b->err = 0;
	b->m = NULL;
	pthread_mutex_unlock(&m->lock);
}

/* Throw away everything the batch allocated; the published version is untouched. */
static void batch_discard(struct dmacv1_imap_batch *b)
{
	for (size_t i = 0; i < b->nodes.n; i++)
		dmac__free(b->nodes.a[i]);
	for (size_t i = 0; i < b->fresh.n; i++)
		dmac__free(b->fresh.a[i]);
	dmac__free(b->work);
	batch_release(b);
}

DMAC_EXPORT int dmacv1_imap_batch_begin(struct dmacv1_imap *m, struct dmacv1_imap_batch **out)
{
	struct dmacv1_imap_batch *b;

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

DMAC_EXPORT void dmacv1_imap_batch_abort(struct dmacv1_imap_batch *b)
{
	if (b)
		batch_discard(b);
}

/* Copy the published sorted array into the batch on its first op. */
static int batch_work(struct dmacv1_imap_batch *b)
{
	struct iver *v;
	size_t cap;

	if (b->work)
		return 0;
	v = ver_cur_w(b->m);
	cap = v->n < 8 ? 16 : v->n + v->n / 8;
	b->work = dmac__malloc(cap * sizeof(*b->work));
	if (!b->work)
		return -ENOMEM;
	if (v->n)
		memcpy(b->work, v->sorted, v->n * sizeof(*b->work));
	b->n = v->n;
	b->cap = cap;
	return 0;
}

/* Only after pvec_reserve(&b->dirty, 2) made room. */
static void dirty_push(struct dmacv1_imap_batch *b, uint64_t start, uint64_t last)
{
	pvec_push(&b->dirty, (void *)(uintptr_t)start);
	pvec_push(&b->dirty, (void *)(uintptr_t)last);
}

static int batch_fail(struct dmacv1_imap_batch *b, int err)
{
	b->err = err;
	return err;
}

DMAC_EXPORT int dmacv1_imap_batch_insert(struct dmacv1_imap_batch *b, uint64_t start, uint64_t last,
				       uint64_t value)
{
	struct irec *r;
	size_t i;

	if (!b)
		return -EINVAL;
	if (b->err)
		return b->err;
	if (start > last || value > UINT64_MAX - (last - start))
		return batch_fail(b, -EINVAL);
	if (batch_work(b))
		return batch_fail(b, -ENOMEM);
	i = upper_start(b->work, b->n, start);
	if ((i > 0 && b->work[i - 1]->last >= start) || (i < b->n && b->work[i]->start <= last))
		return batch_fail(b, -EEXIST);
	if (b->n == b->cap) {
		size_t cap = b->cap * 2;
		struct irec **a = dmac__realloc(b->work, cap * sizeof(*a));

		if (!a)
			return batch_fail(b, -ENOMEM);
		b->work = a;
		b->cap = cap;
	}
	if (pvec_reserve(&b->dirty, 2) || pvec_reserve(&b->fresh, 1))
		return batch_fail(b, -ENOMEM);
	r = dmac__aligned_alloc(IREC_ALIGN, sizeof(*r));
	if (!r)
		return batch_fail(b, -ENOMEM);
	r->start = start;
	r->last = last;
	r->value = value;
	r->gen = b->gen;
	pvec_push(&b->fresh, r);
	memmove(&b->work[i + 1], &b->work[i], (b->n - i) * sizeof(*b->work));
	b->work[i] = r;
	b->n++;
	dirty_push(b, start, last);
	return 0;
}

DMAC_EXPORT int dmacv1_imap_batch_remove(struct dmacv1_imap_batch *b, uint64_t start, uint64_t last)
{
	struct irec *r;
	size_t i;

	if (!b)
		return -EINVAL;
	if (b->err)
		return b->err;
	if (start > last)
		return batch_fail(b, -EINVAL);
	if (batch_work(b))
		return batch_fail(b, -ENOMEM);
	i = upper_start(b->work, b->n, start);
	if (i == 0 || b->work[i - 1]->start != start || b->work[i - 1]->last != last)
		return batch_fail(b, -ENOENT);
	i--;
	r = b->work[i];
	if (pvec_reserve(&b->dirty, 2) || pvec_reserve(&b->removed, 1))
		return batch_fail(b, -ENOMEM);
	pvec_push(&b->removed, r);
	memmove(&b->work[i], &b->work[i + 1], (b->n - i - 1) * sizeof(*b->work));
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
 * Sort the dirty ranges, extend each back over the run (in the final working array)
 * of the record containing its start - 1, and merge those that overlap or touch, so
 * that commit recomputes each index entry once. The walk back stops at the previous
 * merged range: the walks of one commit visit each record at most once.
 */
static void dirty_merge(struct dmacv1_imap_batch *b)
{
	uintptr_t *d = (uintptr_t *)b->dirty.a;
	size_t nd = b->dirty.n / 2, out = 0;

	qsort(d, nd, 2 * sizeof(*d), dirty_cmp);
	for (size_t i = 0; i < nd; i++) {
		uint64_t ds = d[2 * i], dl = d[2 * i + 1];
		bool have_prev = out > 0;
		uint64_t pl = have_prev ? d[2 * out - 1] : 0;
		size_t k;

		if (have_prev && (pl == UINT64_MAX || ds <= pl + 1)) {
			if (dl > pl)
				d[2 * out - 1] = dl;
			continue;
		}
		if (ds > 0) {
			k = upper_start(b->work, b->n, ds - 1);
			if (k > 0 && b->work[k - 1]->last >= ds - 1) {
				k--;
				while (k > 0 && !(have_prev && b->work[k]->start <= pl + 1) &&
				       continues(b->work[k - 1], b->work[k]))
					k--;
				if (b->work[k]->start < ds)
					ds = b->work[k]->start;
			}
		}
		if (have_prev && ds <= pl + 1) {
			if (dl > pl)
				d[2 * out - 1] = dl;
			continue;
		}
		d[2 * out] = ds;
		d[2 * out + 1] = dl;
		out++;
	}
	b->dirty.n = 2 * out;
}

DMAC_EXPORT int dmacv1_imap_batch_commit(struct dmacv1_imap_batch *b)
{
	struct dmacv1_imap *m;
	struct iver *old, *nv;
	size_t live = 0, old_removed = 0;
	int rc;

	if (!b)
		return -EINVAL;
	if (b->err) {
		rc = b->err;
		goto fail_discard;
	}
	if (!b->work) {
		/* No op: nothing to publish. */
		batch_release(b);
		return 0;
	}
	m = b->m;
	old = ver_cur_w(m);
	nv = ver_alloc();
	if (!nv) {
		rc = -ENOMEM;
		goto fail_discard;
	}
	memcpy(&nv->top, &old->top, sizeof(nv->top));
	dirty_merge(b);
	b->run_ok = false;
	for (size_t i = 0; i < b->dirty.n; i += 2) {
		uint64_t ds = (uintptr_t)b->dirty.a[i], dl = (uintptr_t)b->dirty.a[i + 1];

		if (ds >= IMAP_WINDOW)
			continue;
		if (dl >= IMAP_WINDOW)
			dl = IMAP_WINDOW - 1;
		for (uint64_t j = ds >> 39; j <= dl >> 39; j++) {
			rc = ent_update(b, &nv->top, j, 0, j << 39, ds, dl);
			if (rc)
				goto fail_version;
		}
	}
	for (size_t i = 0; i < b->removed.n; i++)
		if (((struct irec *)b->removed.a[i])->gen != b->gen)
			old_removed++;
	rc = pvec_reserve(&b->retire, old_removed + 1);
	if (rc)
		goto fail_version;

	/* Nothing can fail from here on. */
	for (size_t i = 0; i < b->nodes.n; i++) {
		struct inode *nd = b->nodes.a[i];

		if (nd->dead)
			dmac__free(nd);
		else
			live++;
	}
	nv->nnodes = old->nnodes + live - b->retire.n;
	for (size_t i = 0; i < b->removed.n; i++) {
		struct irec *r = b->removed.a[i];

		if (r->gen == b->gen)
			dmac__free(r); /* inserted and removed by this batch: never published */
		else
			pvec_push(&b->retire, r);
	}
	if (old->sorted)
		pvec_push(&b->retire, old->sorted);
	nv->sorted = b->work;
	nv->n = b->n;
	nv->cap = b->cap;
	nv->retired.a = NULL;
	nv->retired.n = nv->retired.cap = 0;
	b->work = NULL;

	/* Release pairs with the readers' acquire load: nv is complete before it shows. */
	__atomic_store_n(&m->h.cur, nv, __ATOMIC_RELEASE);

	old->retired = b->retire; /* readers never look at 'retired' */
	b->retire.a = NULL;
	b->retire.n = b->retire.cap = 0;
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

DMAC_EXPORT int dmacv1_imap_insert(struct dmacv1_imap *m, uint64_t start, uint64_t last, uint64_t value)
{
	struct dmacv1_imap_batch *b;
	int rc;

	rc = dmacv1_imap_batch_begin(m, &b);
	if (rc)
		return rc;
	rc = dmacv1_imap_batch_insert(b, start, last, value);
	if (rc) {
		dmacv1_imap_batch_abort(b);
		return rc;
	}
	return dmacv1_imap_batch_commit(b);
}

DMAC_EXPORT int dmacv1_imap_remove(struct dmacv1_imap *m, uint64_t start, uint64_t last)
{
	struct dmacv1_imap_batch *b;
	int rc;

	rc = dmacv1_imap_batch_begin(m, &b);
	if (rc)
		return rc;
	rc = dmacv1_imap_batch_remove(b, start, last);
	if (rc) {
		dmacv1_imap_batch_abort(b);
		return rc;
	}
	return dmacv1_imap_batch_commit(b);
}

/* ---------------------------------------------------------------- life cycle */

DMAC_EXPORT int dmacv1_imap_create(struct dmacv1_imap **out)
{
	struct dmacv1_imap *m;
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
	level_set_empty(&v->top);
	rc = pthread_mutex_init(&m->lock, NULL);
	if (rc) {
		rc = -rc;
		goto free_version;
	}
	__atomic_store_n(&m->h.cur, v, __ATOMIC_RELAXED); /* not shared yet */
	*out = m;
	return 0;

free_version:
	dmac__free(v);
free_map:
	dmac__free(m);
	return rc;
}

DMAC_EXPORT void dmacv1_imap_destroy(struct dmacv1_imap *m)
{
	struct iver *v;

	if (!m)
		return;
	/* Every version but the current one is in a pending call_rcu callback. */
	urcu_memb_barrier();
	v = ver_cur_w(m);
	for (unsigned i = 0; i < IMAP_FANOUT; i++)
		if ((v->top.e[i] & T_KIND) == T_NODE)
			node_free_tree((struct inode *)(uintptr_t)v->top.e[i], 1);
	for (size_t i = 0; i < v->n; i++)
		dmac__free(v->sorted[i]);
	dmac__free(v->sorted);
	dmac__free(v);
	pthread_mutex_destroy(&m->lock);
	dmac__free(m);
}
