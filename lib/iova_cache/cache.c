/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Master mapping cache: an AVL tree of areas keyed by (dev, ino, offset) and
 * an intrusive LRU list of the unreferenced ones.
 *
 * Invariants (checked by dmac__cache_check()):
 * - Tree keys are unique; areas of one backing object are disjoint, so the
 *   only candidate to cover an offset is the area with the greatest key <= it
 *   (one O(log n) search serves both find and the overlap test of insert).
 * - 'end' below is exclusive: end = offset + length, which never wraps.
 * - The LRU holds exactly the areas with refs == 0, least recently released at
 *   the head; lru_prev/lru_next are NULL for referenced areas.
 * - bytes_pinned = sum of all lengths; bytes_unref = sum over the LRU.
 * - When a call returns: bytes_pinned <= budget or the LRU is empty.
 *
 * Costs: insert, find O(log n) (+ evictions); get, put O(1) (+ evictions);
 * each eviction O(log n); foreach O(n log n); foreach_overlap O((k + 1)
 * log n) for k areas visited; coalesce O(n log n).
 *
 * Concurrency: none inside; see cache.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/cache.h"
#include "dmac_alloc.h"
#include "dmac_avl.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct dmac_cache_area {
	struct dmac__avl node;
	struct dmac_cache_range range;
	uint64_t iova;
	uint64_t refs;
	void *priv;
	struct dmac_cache_area *lru_prev;
	struct dmac_cache_area *lru_next;
};

struct dmac_cache {
	struct dmac__avl *root;
	struct dmac_cache_area *lru_head; /* oldest */
	struct dmac_cache_area *lru_tail; /* newest */
	dmac_cache_evict_fn evict;
	void *evict_arg;
	struct dmac_cache_stats st;
};

static int cmp_key(const struct dmac_cache_range *x, const struct dmac_cache_range *y)
{
	if (x->backing.dev != y->backing.dev)
		return x->backing.dev < y->backing.dev ? -1 : 1;
	if (x->backing.ino != y->backing.ino)
		return x->backing.ino < y->backing.ino ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_area(const struct dmac__avl *a, const struct dmac__avl *b)
{
	return cmp_key(&container_of(a, const struct dmac_cache_area, node)->range,
		       &container_of(b, const struct dmac_cache_area, node)->range);
}

static struct dmac_cache_area *search(const struct dmac_cache *c, struct dmac_backing b,
				      uint64_t offset, enum dmac__avl_mode mode)
{
	struct dmac_cache_area key = {.range = {.backing = b, .offset = offset}};
	struct dmac__avl *n = dmac__avl_search(c->root, &key.node, cmp_area, mode);

	return n ? container_of(n, struct dmac_cache_area, node) : NULL;
}

static bool same_backing(struct dmac_backing x, struct dmac_backing y)
{
	return x.dev == y.dev && x.ino == y.ino;
}

static void lru_unlink(struct dmac_cache *c, struct dmac_cache_area *a)
{
	if (a->lru_prev)
		a->lru_prev->lru_next = a->lru_next;
	else
		c->lru_head = a->lru_next;
	if (a->lru_next)
		a->lru_next->lru_prev = a->lru_prev;
	else
		c->lru_tail = a->lru_prev;
	a->lru_prev = a->lru_next = NULL;
	c->st.unref_areas--;
	c->st.bytes_unref -= a->range.length;
}

static void lru_append(struct dmac_cache *c, struct dmac_cache_area *a)
{
	a->lru_next = NULL;
	a->lru_prev = c->lru_tail;
	if (c->lru_tail)
		c->lru_tail->lru_next = a;
	else
		c->lru_head = a;
	c->lru_tail = a;
	c->st.unref_areas++;
	c->st.bytes_unref += a->range.length;
}

static void fill_info(const struct dmac_cache_area *a, struct dmac_cache_area_info *info)
{
	info->range = a->range;
	info->iova = a->iova;
	info->refs = a->refs;
	info->priv = a->priv;
}

/* Removes an unreferenced area from every index, calls the callback, frees it. */
static void evict_one(struct dmac_cache *c, struct dmac_cache_area *a)
{
	struct dmac_cache_area_info info;

	lru_unlink(c, a);
	if (dmac__avl_erase(&c->root, &a->node, cmp_area))
		abort(); /* an area not in its tree: memory corruption */
	c->st.areas--;
	c->st.bytes_pinned -= a->range.length;
	c->st.evictions++;
	fill_info(a, &info);
	c->evict(c->evict_arg, &info);
	dmac__free(a);
}

static void enforce_budget(struct dmac_cache *c)
{
	while (c->st.bytes_pinned > c->st.budget && c->lru_head)
		evict_one(c, c->lru_head);
}

int dmac_cache_create(uint64_t budget_bytes, dmac_cache_evict_fn evict, void *arg,
		      struct dmac_cache **out)
{
	struct dmac_cache *c;

	if (!evict || !out)
		return -EINVAL;
	c = dmac__calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->evict = evict;
	c->evict_arg = arg;
	c->st.budget = budget_bytes;
	*out = c;
	return 0;
}

static void free_tree(struct dmac__avl *n)
{
	if (!n)
		return;
	free_tree(n->left);
	free_tree(n->right);
	dmac__free(container_of(n, struct dmac_cache_area, node));
}

void dmac_cache_destroy(struct dmac_cache *c)
{
	if (!c)
		return;
	free_tree(c->root);
	dmac__free(c);
}

static bool range_valid(const struct dmac_cache_range *r)
{
	return r->length && r->length - 1 <= UINT64_MAX - r->offset &&
	       r->length - 1 <= UINT64_MAX - r->va;
}

int dmac_cache_insert(struct dmac_cache *c, const struct dmac_cache_range *r, uint64_t iova,
		      void *priv, struct dmac_cache_area **out)
{
	struct dmac_cache_area *a, *prev;

	if (!c || !r || !range_valid(r) || r->length - 1 > UINT64_MAX - iova)
		return -EINVAL;
	/* The area with the greatest offset <= our last byte is the only candidate. */
	prev = search(c, r->backing, r->offset + (r->length - 1), DMAC__AVL_LE);
	if (prev && same_backing(prev->range.backing, r->backing) &&
	    prev->range.offset + (prev->range.length - 1) >= r->offset)
		return -EEXIST;
	a = dmac__calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->range = *r;
	a->iova = iova;
	a->priv = priv;
	a->refs = 1;
	if (dmac__avl_insert(&c->root, &a->node, cmp_area))
		abort(); /* excluded by the overlap test above */
	c->st.areas++;
	c->st.bytes_pinned += r->length;
	enforce_budget(c);
	if (out)
		*out = a;
	return 0;
}

int dmac_cache_find(struct dmac_cache *c, struct dmac_backing backing, uint64_t offset,
		    uint64_t length, struct dmac_cache_area **area, uint64_t *iova)
{
	struct dmac_cache_area *a;

	if (!c || !length || length - 1 > UINT64_MAX - offset)
		return -EINVAL;
	a = search(c, backing, offset, DMAC__AVL_LE);
	if (!a || !same_backing(a->range.backing, backing) ||
	    a->range.offset + (a->range.length - 1) < offset + (length - 1)) {
		c->st.misses++;
		return -ENOENT;
	}
	c->st.hits++;
	dmac_cache_get(c, a);
	if (area)
		*area = a;
	if (iova)
		*iova = a->iova + (offset - a->range.offset);
	return 0;
}

void dmac_cache_get(struct dmac_cache *c, struct dmac_cache_area *area)
{
	if (area->refs++ == 0)
		lru_unlink(c, area);
}

int dmac_cache_put(struct dmac_cache *c, struct dmac_cache_area *area)
{
	if (!area->refs)
		return -EINVAL;
	if (--area->refs == 0) {
		lru_append(c, area);
		enforce_budget(c);
	}
	return 0;
}

int dmac_cache_evict(struct dmac_cache *c, struct dmac_cache_area *area)
{
	if (area->refs)
		return -EBUSY;
	evict_one(c, area);
	return 0;
}

uint64_t dmac_cache_evict_all(struct dmac_cache *c)
{
	uint64_t n = 0;

	while (c->lru_head) {
		evict_one(c, c->lru_head);
		n++;
	}
	return n;
}

void dmac_cache_set_budget(struct dmac_cache *c, uint64_t budget_bytes)
{
	c->st.budget = budget_bytes;
	enforce_budget(c);
}

void dmac_cache_area_info(const struct dmac_cache_area *area, struct dmac_cache_area_info *info)
{
	fill_info(area, info);
}

void dmac_cache_stats(const struct dmac_cache *c, struct dmac_cache_stats *st)
{
	*st = c->st;
}

int dmac_cache_foreach(struct dmac_cache *c, dmac_cache_iter_fn fn, void *arg)
{
	struct dmac_cache_area_info info;
	struct dmac_cache_area *a;
	struct dmac__avl *n = dmac__avl_first(c->root);
	int rc;

	a = n ? container_of(n, struct dmac_cache_area, node) : NULL;
	while (a) {
		fill_info(a, &info);
		rc = fn(arg, a, &info);
		if (rc)
			return rc;
		/* 'a' may be gone: continue from its key. */
		a = search(c, info.range.backing, info.range.offset, DMAC__AVL_GT);
	}
	return 0;
}

int dmac_cache_foreach_overlap(struct dmac_cache *c, struct dmac_backing backing, uint64_t offset,
			       uint64_t length, dmac_cache_iter_fn fn, void *arg)
{
	struct dmac_cache_area_info info;
	struct dmac_cache_area *a;
	uint64_t last;
	int rc;

	if (!c || !fn || !length || __builtin_add_overflow(offset, length - 1, &last))
		return -EINVAL;
	/* areas of one backing are disjoint: only the one at or before offset
	 * can start earlier and still reach into the range */
	a = search(c, backing, offset, DMAC__AVL_LE);
	if (!a || !same_backing(a->range.backing, backing) ||
	    a->range.offset + (a->range.length - 1) < offset)
		a = search(c, backing, offset, DMAC__AVL_GT);
	while (a && same_backing(a->range.backing, backing) && a->range.offset <= last) {
		fill_info(a, &info);
		rc = fn(arg, a, &info);
		if (rc)
			return rc;
		/* 'a' may be gone: continue from its key */
		a = search(c, info.range.backing, info.range.offset, DMAC__AVL_GT);
	}
	return 0;
}

static int cmp_range_sort(const void *x, const void *y)
{
	return cmp_key(x, y);
}

int dmac_cache_coalesce(const struct dmac_cache_range *in, size_t n, struct dmac_cache_range *out,
			size_t *nout)
{
	size_t i, k = 0;

	if (!in || !out || !nout || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!range_valid(&in[i]))
			return -EINVAL;
	if (out != in)
		memmove(out, in, n * sizeof(*in));
	qsort(out, n, sizeof(*out), cmp_range_sort);
	for (i = 0; i < n; i++) {
		struct dmac_cache_range *p = k ? &out[k - 1] : NULL;

		if (p && same_backing(p->backing, out[i].backing)) {
			uint64_t pend = p->offset + p->length; /* exclusive; may be 2^64 = 0 */

			if (p->offset + (p->length - 1) >= out[i].offset)
				return -EINVAL; /* overlap */
			/* Contiguous in offset and VA; the merged length must fit. */
			if (pend == out[i].offset && p->length - 1 < UINT64_MAX - p->va &&
			    p->va + p->length == out[i].va &&
			    p->length <= UINT64_MAX - out[i].length) {
				p->length += out[i].length;
				continue;
			}
		}
		out[k++] = out[i];
	}
	*nout = k;
	return 0;
}

int dmac__cache_check(const struct dmac_cache *c)
{
	uint64_t areas = 0, pinned = 0, unref = 0, unref_bytes = 0;
	const struct dmac_cache_area *a, *prev = NULL, *l;
	size_t count = 0;

	if (dmac__avl_check(c->root, cmp_area, NULL, NULL, &count) < 0)
		return -1;
	for (a = search(c, (struct dmac_backing){0, 0}, 0, DMAC__AVL_GE); a;
	     a = search(c, a->range.backing, a->range.offset, DMAC__AVL_GT)) {
		if (!range_valid(&a->range) || a->range.length - 1 > UINT64_MAX - a->iova)
			return -2;
		if (prev && same_backing(prev->range.backing, a->range.backing) &&
		    prev->range.offset + (prev->range.length - 1) >= a->range.offset)
			return -3; /* overlap */
		if (!a->refs) {
			unref++;
			unref_bytes += a->range.length;
		} else if (a->lru_prev || a->lru_next || c->lru_head == a) {
			return -4; /* referenced area on the LRU */
		}
		areas++;
		pinned += a->range.length;
		prev = a;
	}
	if (areas != count || areas != c->st.areas || pinned != c->st.bytes_pinned)
		return -5;
	if (unref != c->st.unref_areas || unref_bytes != c->st.bytes_unref)
		return -6;
	count = 0;
	for (l = c->lru_head, prev = NULL; l; prev = l, l = l->lru_next) {
		if (l->refs || l->lru_prev != prev)
			return -7;
		if (search(c, l->range.backing, l->range.offset, DMAC__AVL_EQ) != l)
			return -8;
		count++;
	}
	if (prev != c->lru_tail || count != unref)
		return -9;
	if (c->st.bytes_pinned > c->st.budget && c->lru_head)
		return -10; /* budget not enforced */
	return 0;
}
