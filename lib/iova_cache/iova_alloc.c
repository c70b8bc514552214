/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOVA allocator: address-ordered best fit over a free-extent tree.
 *
 * Invariants (checked by dmac__iova_alloc_check()):
 * - ranges[] is sorted, non-overlapping, non-adjacent, page-trimmed; every
 *   'last' is inclusive and (last + 1) is a multiple of 4 KiB (or last is
 *   UINT64_MAX).
 * - Extents are inclusive [start, last], page-granular, and tile every range
 *   exactly: the address tree holds every extent (free or allocated) keyed by
 *   start; consecutive extents of a range touch (prev.last + 1 == next.start).
 * - The size tree holds exactly the free extents, keyed by (pages, start).
 * - No two free extents are adjacent: a free coalesces with both neighbours.
 *   So every free extent is bounded by allocations or range ends, which gives
 *   free_extents <= allocations + ranges.
 * - Sizes are kept in pages ((last - start) >> 12) + 1, which cannot overflow
 *   even for [0, UINT64_MAX]; bytes are derived and saturate.
 *
 * Costs (n = extents in the tree, r = ranges): alloc O(log n) when some free
 * extent is at least (length + align - 4 KiB) long (at most FIT_SCAN
 * misaligned candidates are tried before jumping to such an extent); when none
 * is, O((1 + k) log n), k being the free extents of a size between length and
 * length + align - 4 KiB that cannot hold it once aligned (k = 0 for 4 KiB
 * alignment). reserve O(log n + log r); free, lookup, stats O(log n).
 *
 * Concurrency: none inside; see iova_alloc.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/iova_alloc.h"
#include "dmac_alloc.h"
#include "dmac_avl.h"

#define PAGE_SHIFT 12
#define PAGE_MASK  (DMAC_IOVA_PAGE - 1)
#define MAX_PAGES  (UINT64_C(1) << (64 - PAGE_SHIFT)) /* pages in 2^64 bytes */
#define FIT_SCAN   16 /* misaligned extents tried before jumping to a sure fit */

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct ext {
	struct dmac__avl by_addr;
	struct dmac__avl by_size; /* linked only while free */
	uint64_t start;
	uint64_t last; /* inclusive */
	bool free;
};

struct dmac_iova_alloc {
	struct dmac__avl *addr_root;
	struct dmac__avl *size_root;
	struct dmac_iova_range *ranges;
	size_t nranges;
	uint64_t pages_total;
	uint64_t pages_allocated;
	uint64_t nalloc;
	uint64_t nfree;
};

static inline uint64_t ext_pages(const struct ext *e)
{
	return ((e->last - e->start) >> PAGE_SHIFT) + 1;
}

static inline uint64_t pages_to_bytes(uint64_t pages)
{
	return pages >= (UINT64_C(1) << (64 - PAGE_SHIFT)) ? UINT64_MAX : pages << PAGE_SHIFT;
}

static int cmp_addr(const struct dmac__avl *a, const struct dmac__avl *b)
{
	const struct ext *x = container_of(a, const struct ext, by_addr);
	const struct ext *y = container_of(b, const struct ext, by_addr);

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_size(const struct dmac__avl *a, const struct dmac__avl *b)
{
	const struct ext *x = container_of(a, const struct ext, by_size);
	const struct ext *y = container_of(b, const struct ext, by_size);
	uint64_t px = ext_pages(x), py = ext_pages(y);

	if (px != py)
		return px < py ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static struct ext *addr_search(const struct dmac_iova_alloc *a, uint64_t start,
			       enum dmac__avl_mode mode)
{
	struct ext key = {.start = start};
	struct dmac__avl *n = dmac__avl_search(a->addr_root, &key.by_addr, cmp_addr, mode);

	return n ? container_of(n, struct ext, by_addr) : NULL;
}

static void tree_insert(struct dmac__avl **root, struct dmac__avl *n, dmac__avl_cmp_fn cmp)
{
	int rc = dmac__avl_insert(root, n, cmp);

	/* Keys are unique by construction (extents are disjoint). */
	if (rc)
		abort();
}

static void tree_erase(struct dmac__avl **root, struct dmac__avl *n, dmac__avl_cmp_fn cmp)
{
	if (dmac__avl_erase(root, n, cmp))
		abort();
}

static int cmp_range(const void *x, const void *y)
{
	const struct dmac_iova_range *a = x, *b = y;

	return a->start < b->start ? -1 : a->start > b->start;
}

static void free_tree(struct dmac__avl *n)
{
	if (!n)
		return;
	free_tree(n->left);
	free_tree(n->right);
	dmac__free(container_of(n, struct ext, by_addr));
}

void dmac_iova_alloc_destroy(struct dmac_iova_alloc *a)
{
	if (!a)
		return;
	free_tree(a->addr_root);
	dmac__free(a->ranges);
	dmac__free(a);
}

/* Sorts, validates, merges adjacent ranges and trims to pages; returns the count kept. */
static int normalize_ranges(struct dmac_iova_range *r, size_t nr, size_t *kept)
{
	size_t i, n = 0;

	for (i = 0; i < nr; i++)
		if (r[i].start > r[i].last)
			return -EINVAL;
	qsort(r, nr, sizeof(*r), cmp_range);
	for (i = 1; i < nr; i++)
		if (r[i - 1].last >= r[i].start)
			return -EINVAL;
	/* Merge adjacent ranges (before trimming, so a page spanning both survives). */
	for (i = 0; i < nr; i++) {
		if (n && r[n - 1].last + 1 == r[i].start)
			r[n - 1].last = r[i].last;
		else
			r[n++] = r[i];
	}
	nr = n;
	n = 0;
	for (i = 0; i < nr; i++) {
		uint64_t s = r[i].start, l = r[i].last;

		if (s & PAGE_MASK) {
			if (s > UINT64_MAX - PAGE_MASK)
				continue;
			s = (s + PAGE_MASK) & ~PAGE_MASK;
		}
		if (l != UINT64_MAX && ((l + 1) & PAGE_MASK)) {
			if (((l + 1) & ~PAGE_MASK) == 0)
				continue;
			l = ((l + 1) & ~PAGE_MASK) - 1;
		}
		if (s > l)
			continue;
		r[n].start = s;
		r[n].last = l;
		n++;
	}
	if (!n)
		return -EINVAL;
	*kept = n;
	return 0;
}

int dmac_iova_alloc_create(const struct dmac_iova_range *ranges, size_t nr,
			   struct dmac_iova_alloc **out)
{
	struct dmac_iova_alloc *a;
	size_t i, kept;
	int rc;

	if (!ranges || !nr || !out || nr > SIZE_MAX / sizeof(*ranges))
		return -EINVAL;
	a = dmac__calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ranges = dmac__malloc(nr * sizeof(*ranges));
	if (!a->ranges) {
		rc = -ENOMEM;
		goto err_free_alloc;
	}
	memcpy(a->ranges, ranges, nr * sizeof(*ranges));
	rc = normalize_ranges(a->ranges, nr, &kept);
	if (rc)
		goto err_free_alloc;
	a->nranges = kept;
	for (i = 0; i < kept; i++) {
		struct ext *e = dmac__calloc(1, sizeof(*e));

		if (!e) {
			rc = -ENOMEM;
			goto err_free_alloc;
		}
		e->start = a->ranges[i].start;
		e->last = a->ranges[i].last;
		e->free = true;
		tree_insert(&a->addr_root, &e->by_addr, cmp_addr);
		tree_insert(&a->size_root, &e->by_size, cmp_size);
		a->nfree++;
		a->pages_total += ext_pages(e);
	}
	*out = a;
	return 0;

err_free_alloc:
	dmac_iova_alloc_destroy(a);
	return rc;
}

/*
 * Carves [start, start + pages) out of the free extent e, which must contain it.
 * Allocates the (up to two) leftover pieces first, so on -ENOMEM nothing changed.
 */
static int carve(struct dmac_iova_alloc *a, struct ext *e, uint64_t start, uint64_t pages)
{
	uint64_t last = start + ((pages - 1) << PAGE_SHIFT) + PAGE_MASK;
	struct ext *left = NULL, *right = NULL;

	if (start > e->start) {
		left = dmac__calloc(1, sizeof(*left));
		if (!left)
			return -ENOMEM;
	}
	if (last < e->last) {
		right = dmac__calloc(1, sizeof(*right));
		if (!right)
			goto err_free_left;
	}
	tree_erase(&a->size_root, &e->by_size, cmp_size);
	a->nfree--;
	if (left) {
		left->start = e->start;
		left->last = start - 1;
		left->free = true;
		/* e's address key changes: take it out, left takes its place. */
		tree_erase(&a->addr_root, &e->by_addr, cmp_addr);
		tree_insert(&a->addr_root, &left->by_addr, cmp_addr);
		tree_insert(&a->size_root, &left->by_size, cmp_size);
		a->nfree++;
		e->start = start;
		tree_insert(&a->addr_root, &e->by_addr, cmp_addr);
	}
	if (right) {
		right->start = last + 1;
		right->last = e->last;
		right->free = true;
		tree_insert(&a->addr_root, &right->by_addr, cmp_addr);
		tree_insert(&a->size_root, &right->by_size, cmp_size);
		a->nfree++;
	}
	e->last = last;
	e->free = false;
	a->nalloc++;
	a->pages_allocated += pages;
	return 0;

err_free_left:
	dmac__free(left);
	return -ENOMEM;
}

/* Lowest IOVA in e aligned to align with room for pages pages, if any. */
static bool fit_in(const struct ext *e, uint64_t align, uint64_t pages, uint64_t *iova)
{
	uint64_t s;

	if (e->start > UINT64_MAX - (align - 1))
		return false;
	s = (e->start + (align - 1)) & ~(align - 1);
	if (s > e->last || ((e->last - s) >> PAGE_SHIFT) + 1 < pages)
		return false;
	*iova = s;
	return true;
}

int dmac_iova_alloc_alloc(struct dmac_iova_alloc *a, uint64_t length, uint64_t align,
			  uint64_t *iova)
{
	struct ext key = {0}, *e;
	struct dmac__avl *n;
	uint64_t pages, sure, s;
	unsigned int steps = 0;
	int rc;

	if (!a || !iova || !length || (length & PAGE_MASK))
		return -EINVAL;
	if (align == DMAC_IOVA_ALIGN_DEFAULT)
		align = length >= DMAC_IOVA_ALIGN_2M ? DMAC_IOVA_ALIGN_2M : DMAC_IOVA_PAGE;
	if (align < DMAC_IOVA_PAGE || (align & (align - 1)))
		return -EINVAL;
	pages = length >> PAGE_SHIFT;
	/* Any free extent of at least 'sure' pages holds the request once aligned. */
	sure = pages + (align >> PAGE_SHIFT) - 1;

	/*
	 * Best fit: the smallest free extent of at least 'pages' pages that holds
	 * the request once aligned, scanning up in size. Extents smaller than
	 * 'sure' may fail the alignment; after FIT_SCAN of them, jump to the
	 * smallest extent of 'sure' pages, which cannot fail. Only when none
	 * exists does the scan go on through the whole window (to stay complete:
	 * -ENOSPC means no extent can hold the request).
	 */
	key.last = (pages - 1) << PAGE_SHIFT;
	n = dmac__avl_search(a->size_root, &key.by_size, cmp_size, DMAC__AVL_GE);
	while (n) {
		e = container_of(n, struct ext, by_size);
		if (fit_in(e, align, pages, &s))
			goto found;
		if (++steps == FIT_SCAN && sure <= MAX_PAGES) {
			key.last = (sure - 1) << PAGE_SHIFT;
			n = dmac__avl_search(a->size_root, &key.by_size, cmp_size, DMAC__AVL_GE);
			if (n) {
				e = container_of(n, struct ext, by_size);
				if (!fit_in(e, align, pages, &s))
					abort(); /* excluded by arithmetic */
				goto found;
			}
			n = &e->by_size;
		}
		n = dmac__avl_search(a->size_root, n, cmp_size, DMAC__AVL_GT);
	}
	return -ENOSPC;

found:
	rc = carve(a, e, s, pages);
	if (rc)
		return rc;
	*iova = s;
	return 0;
}

/* Index of the range containing iova, or -1. O(log r). */
static long range_of(const struct dmac_iova_alloc *a, uint64_t iova)
{
	size_t lo = 0, hi = a->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->ranges[mid].start <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || a->ranges[lo - 1].last < iova)
		return -1;
	return (long)(lo - 1);
}

int dmac_iova_alloc_reserve(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length)
{
	uint64_t last;
	struct ext *e;
	long r;

	if (!a || !length || (length & PAGE_MASK) || (iova & PAGE_MASK) ||
	    length - 1 > UINT64_MAX - iova)
		return -EINVAL;
	last = iova + (length - 1);
	r = range_of(a, iova);
	if (r < 0 || a->ranges[r].last < last)
		return -ENOSPC;
	e = addr_search(a, iova, DMAC__AVL_LE);
	if (!e || !e->free || e->last < last)
		return -EEXIST;
	return carve(a, e, iova, length >> PAGE_SHIFT);
}

int dmac_iova_alloc_free(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length)
{
	struct ext *e, *prev, *next;

	if (!a || !length || (length & PAGE_MASK))
		return -EINVAL;
	e = addr_search(a, iova, DMAC__AVL_EQ);
	if (!e || e->free || ext_pages(e) != length >> PAGE_SHIFT)
		return -ENOENT;

	a->nalloc--;
	a->pages_allocated -= ext_pages(e);
	e->free = true;
	a->nfree++;

	prev = addr_search(a, e->start, DMAC__AVL_LT);
	if (prev && prev->free && prev->last + 1 == e->start) {
		tree_erase(&a->size_root, &prev->by_size, cmp_size);
		tree_erase(&a->addr_root, &e->by_addr, cmp_addr);
		prev->last = e->last;
		dmac__free(e);
		e = prev;
		a->nfree--;
	}
	next = addr_search(a, e->start, DMAC__AVL_GT);
	if (next && next->free && e->last != UINT64_MAX && e->last + 1 == next->start) {
		tree_erase(&a->size_root, &next->by_size, cmp_size);
		tree_erase(&a->addr_root, &next->by_addr, cmp_addr);
		e->last = next->last;
		dmac__free(next);
		a->nfree--;
	}
	tree_insert(&a->size_root, &e->by_size, cmp_size);
	return 0;
}

int dmac_iova_alloc_lookup(const struct dmac_iova_alloc *a, uint64_t iova, uint64_t *start,
			   uint64_t *length)
{
	struct ext *e;

	if (!a)
		return -EINVAL;
	e = addr_search(a, iova, DMAC__AVL_LE);
	if (!e || e->free || e->last < iova)
		return -ENOENT;
	if (start)
		*start = e->start;
	if (length)
		*length = pages_to_bytes(ext_pages(e));
	return 0;
}

int dmac_iova_alloc_next_free(const struct dmac_iova_alloc *a, uint64_t from, uint64_t *start,
			      uint64_t *last)
{
	struct ext *e;

	if (!a || !start || !last)
		return -EINVAL;
	e = addr_search(a, from, DMAC__AVL_LE);
	if (!e || e->last < from)
		e = addr_search(a, from, DMAC__AVL_GE);
	while (e && !e->free) {
		if (e->last == UINT64_MAX)
			return -ENOENT;
		e = addr_search(a, e->last + 1, DMAC__AVL_GE);
	}
	if (!e)
		return -ENOENT;
	*start = e->start > from ? e->start : from;
	*last = e->last;
	return 0;
}

void dmac_iova_alloc_stats(const struct dmac_iova_alloc *a, struct dmac_iova_alloc_stats *st)
{
	struct dmac__avl *n = dmac__avl_last(a->size_root);

	memset(st, 0, sizeof(*st));
	st->bytes_allocated = pages_to_bytes(a->pages_allocated);
	st->bytes_free = pages_to_bytes(a->pages_total - a->pages_allocated);
	st->allocations = a->nalloc;
	st->free_extents = a->nfree;
	st->ranges = a->nranges;
	if (n) {
		struct ext *e = container_of(n, struct ext, by_size);
		struct ext key = {.start = 0, .last = e->last - e->start};

		/* Among equally large extents, report the lowest one. */
		n = dmac__avl_search(a->size_root, &key.by_size, cmp_size, DMAC__AVL_GE);
		e = container_of(n, struct ext, by_size);
		st->largest_free = pages_to_bytes(ext_pages(e));
		st->largest_free_start = e->start;
	}
}

int dmac__iova_alloc_check(const struct dmac_iova_alloc *a)
{
	uint64_t nalloc = 0, nfree = 0, pages_alloc = 0, pages_total = 0;
	size_t count = 0, i;
	struct ext *e, *prev = NULL;

	if (dmac__avl_check(a->addr_root, cmp_addr, NULL, NULL, &count) < 0)
		return -1;
	if (count != a->nalloc + a->nfree)
		return -2;
	count = 0;
	if (dmac__avl_check(a->size_root, cmp_size, NULL, NULL, &count) < 0)
		return -3;
	if (count != a->nfree)
		return -4;
	if (!a->nranges)
		return -5;
	for (i = 0; i < a->nranges; i++) {
		const struct dmac_iova_range *r = &a->ranges[i];

		if (r->start > r->last || (r->start & PAGE_MASK) ||
		    (r->last != UINT64_MAX && ((r->last + 1) & PAGE_MASK)))
			return -6;
		if (i && a->ranges[i - 1].last + 1 >= r->start)
			return -7;
		pages_total += ((r->last - r->start) >> PAGE_SHIFT) + 1;
	}
	if (pages_total != a->pages_total)
		return -8;

	/* Walk the extents in address order, range by range. */
	e = addr_search(a, 0, DMAC__AVL_GE);
	for (i = 0; i < a->nranges; i++) {
		const struct dmac_iova_range *r = &a->ranges[i];
		uint64_t expect = r->start;

		prev = NULL;
		for (;;) {
			if (!e || e->start != expect || e->last < e->start || e->last > r->last ||
			    ((e->last + 1) & PAGE_MASK))
				return -9;
			if (prev && prev->free && e->free)
				return -10; /* not coalesced */
			if (e->free) {
				nfree++;
				if (dmac__avl_search(a->size_root, &e->by_size, cmp_size,
						     DMAC__AVL_EQ) != &e->by_size)
					return -11;
			} else {
				nalloc++;
				pages_alloc += ext_pages(e);
			}
			prev = e;
			e = addr_search(a, e->start, DMAC__AVL_GT);
			if (prev->last == r->last)
				break;
			expect = prev->last + 1;
		}
	}
	if (e)
		return -12; /* extent outside every range */
	if (nfree != a->nfree || nalloc != a->nalloc || pages_alloc != a->pages_allocated)
		return -13;
	if (a->nfree > a->nalloc + a->nranges)
		return -14; /* the fragmentation bound */
	return 0;
}
