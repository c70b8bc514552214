/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tenant copies: the mappings of a tenant's IOAS.
 *
 * A copy (struct dmd_copy) is one backend copy of [iova, iova + length) from
 * the master space into the tenant's space at the SAME IOVA, with one prot.
 * Every copy holds one reference on its master area while it exists, so the
 * area (its pages, VA and master IOVA) outlives every mapping of it.
 *
 * States:
 * - LIVE: leases use it (refs > 0).
 * - KEPT: released under the tenant's 'release = lazy' policy and still
 *   mapped, so that a later lease of the same range with the same prot is
 *   bookkeeping only (no IOAS_COPY, no IOAS_UNMAP). Kept copies are on the
 *   tenant's LRU, counted in kept_bytes, bounded by copy_cache_bytes and
 *   charged to the tenant's quota_pinned_bytes together with its leased bytes.
 * - ZOMBIE: its unmap failed; it stays exactly as mapped (in the tree, so its
 *   IOVA range is never handed out again in this space; its area reference
 *   kept, so the master IOVA and the pages stay) until a retry unmaps it
 *   (dmd_engine_retry()). Counted in unmap_failures.
 *
 * Invariants:
 * - The copies of a tenant never overlap; they are in its tree by iova
 *   (O(log n) lookups, O(log n + k) range queries).
 * - A lease either matches a LIVE copy exactly, range and prot (shared), or a
 *   KEPT one exactly (reused), or overlaps no LIVE or ZOMBIE copy (a new
 *   copy; KEPT copies in the way are unmapped first). Anything else is EEXIST.
 *   So a copy's prot is exactly the prot of each of its leases: a READ lease
 *   never gets a mapping that is writable because of another lease.
 * - Lazy mapping never outlives permission: the KEPT copies overlapping a
 *   registration are unmapped when that registration goes (UNREGISTER,
 *   session end, reclaim, revocation), before the call returns; with
 *   'release = strict' a released copy is unmapped before RELEASE's reply.
 * - Unmaps are batched: KEPT copies that are adjacent in IOVA go with one
 *   backend unmap (the kernel unmaps every mapping entirely inside a range).
 * Concurrency: event-loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "log.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static int dmd__copy_cmp(const struct dmac__avl *a, const struct dmac__avl *b)
{
	const struct dmd_copy *x = container_of(a, struct dmd_copy, node);
	const struct dmd_copy *y = container_of(b, struct dmd_copy, node);

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/* The copy with the greatest iova <= @p iova (LE) or >= it (GE), or NULL. */
static struct dmd_copy *dmd__copy_search(struct dmd_tenant *t, uint64_t iova,
					 enum dmac__avl_mode mode)
{
	struct dmd_copy key = {.iova = iova};
	struct dmac__avl *n = dmac__avl_search(t->copies, &key.node, dmd__copy_cmp, mode);

	return n ? container_of(n, struct dmd_copy, node) : NULL;
}

static void dmd__kept_unlink(struct dmd_tenant *t, struct dmd_copy *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		t->kept_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		t->kept_tail = c->lprev;
	c->lprev = c->lnext = NULL;
	t->kept_bytes -= c->length;
}

/* Most recently released at the tail. */
static void dmd__kept_link(struct dmd_tenant *t, struct dmd_copy *c)
{
	c->lnext = NULL;
	c->lprev = t->kept_tail;
	if (t->kept_tail)
		t->kept_tail->lnext = c;
	else
		t->kept_head = c;
	t->kept_tail = c;
	t->kept_bytes += c->length;
}

/* Forget a copy whose mapping is gone: out of the tree, area reference dropped. */
static void dmd__copy_free(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c)
{
	if (dmac__avl_erase(&t->copies, &c->node, dmd__copy_cmp))
		dmd_err("tenant %s: copy at iova 0x%" PRIx64 " missing from its tree", t->cfg.name,
			c->iova);
	t->ncopies--;
	e->ncopies--;
	dmd__area_put(e, c->area);
	dmac__free(c);
}

static void dmd__zombie_link(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c)
{
	c->state = DMD_COPY_ZOMBIE;
	c->lprev = NULL;
	c->lnext = t->zombies;
	if (t->zombies)
		t->zombies->lprev = c;
	t->zombies = c;
	t->unmap_failures++;
	e->unmap_failures++;
}

static void dmd__zombie_unlink(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		t->zombies = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
	t->unmap_failures--;
	e->unmap_failures--;
}

/*
 * Unmap a run of copies [first..last] (adjacent in IOVA, in tree order, none
 * LIVE) with one backend call, then forget them; if the unmap fails they
 * become ZOMBIEs (still mapped, IOVA and area kept) and are retried later.
 * KEPT copies of the run must have left the LRU already.
 */
static void dmd__unmap_run(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy **run,
			   size_t n)
{
	uint64_t start = run[0]->iova, len = run[n - 1]->iova + run[n - 1]->length - start;
	int rc;

	t->kernel_unmaps++;
	rc = dmd_bk_unmap(e->bk, t->space, start, len);
	for (size_t i = 0; i < n; i++) {
		if (!rc) {
			dmd__copy_free(e, t, run[i]);
		} else if (run[i]->state != DMD_COPY_ZOMBIE) {
			dmd__zombie_link(e, t, run[i]);
		}
	}
	if (rc)
		dmd_err("tenant %s: unmap of [0x%" PRIx64 ", +0x%" PRIx64 ") failed (%s): %zu "
			"mapping(s) kept, IOVA not reused, retried later",
			t->cfg.name, start, len, strerror(-rc), n);
}

/*
 * Unmap KEPT copies, batching adjacent ones: the copies in @p victims
 * (n of them, each already off the LRU), in any order.
 */
#define DMD_RUN_MAX 64
static void dmd__unmap_kept(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy **victims,
			    size_t n)
{
	/* sort by iova (insertion sort: n is small, <= DMD_RUN_MAX) */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && victims[j - 1]->iova > victims[j]->iova; j--) {
			struct dmd_copy *x = victims[j];

			victims[j] = victims[j - 1];
			victims[j - 1] = x;
		}
	for (size_t i = 0; i < n;) {
		size_t k = i + 1;

		while (k < n && victims[k - 1]->iova + victims[k - 1]->length == victims[k]->iova)
			k++;
		dmd__unmap_run(e, t, victims + i, k - i);
		i = k;
	}
}

/*
 * Evict KEPT copies, oldest first, until kept_bytes <= @p target. With
 * @p whole_batches each round takes a full batch (DMD_RUN_MAX copies, or all
 * that are kept) even past the target: under churn the copies released one
 * after another are adjacent, so a full batch is one unmap for DMD_RUN_MAX
 * releases.
 */
static void dmd__kept_shrink(struct dmd_engine *e, struct dmd_tenant *t, uint64_t target,
			     bool whole_batches)
{
	struct dmd_copy *v[DMD_RUN_MAX];

	while (t->kept_bytes > target) {
		size_t n = 0;

		while (n < DMD_RUN_MAX && (whole_batches || t->kept_bytes > target) &&
		       t->kept_head) {
			struct dmd_copy *c = t->kept_head;

			dmd__kept_unlink(t, c);
			v[n++] = c;
		}
		dmd__unmap_kept(e, t, v, n);
	}
}

void dmd__copy_evict_range(struct dmd_engine *e, struct dmd_tenant *t, uint64_t iova,
			   uint64_t length)
{
	struct dmd_copy *v[DMD_RUN_MAX], *c;
	uint64_t end = iova + length, cur = iova;

	for (;;) {
		size_t n = 0;

		/* the first copy that may overlap: the one before iova, then on */
		c = dmd__copy_search(t, cur, DMAC__AVL_LE);
		if (!c || c->iova + c->length <= cur)
			c = dmd__copy_search(t, cur, DMAC__AVL_GE);
		while (c && c->iova < end && n < DMD_RUN_MAX) {
			struct dmd_copy *next = dmd__copy_search(t, c->iova + 1, DMAC__AVL_GE);

			if (c->state == DMD_COPY_KEPT) {
				dmd__kept_unlink(t, c);
				v[n++] = c;
			}
			cur = c->iova + c->length;
			c = next;
		}
		if (!n)
			return;
		dmd__unmap_kept(e, t, v, n);
		if (!c || c->iova >= end)
			return;
	}
}

void dmd__copy_evict_all(struct dmd_engine *e, struct dmd_tenant *t)
{
	dmd__kept_shrink(e, t, 0, false);
}

int dmd__copy_make_room(struct dmd_engine *e, struct dmd_tenant *t, uint64_t leased,
			uint64_t length)
{
	uint64_t quota = t->cfg.quota_pinned_bytes, used;

	if (__builtin_add_overflow(leased, length, &used) || used > quota)
		return -EDQUOT;
	if (t->kept_bytes > quota - used)
		dmd__kept_shrink(e, t, quota - used, false);
	return 0;
}

void dmd__copy_put(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c)
{
	if (--c->refs)
		return;
	if (t->cfg.release_lazy && t->cfg.copy_cache_bytes >= c->length && !t->leaving) {
		/* keep it mapped: a later lease of it is bookkeeping only */
		c->state = DMD_COPY_KEPT;
		dmd__kept_link(t, c);
		if (t->kept_bytes > t->cfg.copy_cache_bytes)
			dmd__kept_shrink(e, t, t->cfg.copy_cache_bytes, true);
		return;
	}
	c->state = DMD_COPY_KEPT; /* transiently: unmapped at once */
	dmd__unmap_run(e, t, &c, 1);
}

/* Find or make the copy of [iova, iova + length) in t's space; takes a ref. */
int dmd__copy_get(struct dmd_engine *e, struct dmd_tenant *t, struct dmac_cache_area *area,
		  uint64_t iova, uint64_t length, uint32_t prot, struct dmd_copy **out)
{
	uint64_t end = iova + length;
	struct dmd_copy *c;
	int rc;

	c = dmd__copy_search(t, iova, DMAC__AVL_EQ);
	if (c && c->length == length && c->prot == prot && c->state != DMD_COPY_ZOMBIE) {
		if (c->state == DMD_COPY_KEPT) {
			dmd__kept_unlink(t, c);
			c->state = DMD_COPY_LIVE;
		}
		c->refs++;
		t->copy_hits++;
		*out = c;
		return 0;
	}
	/* Anything LIVE or ZOMBIE in the way is a refusal; KEPT copies in the
	 * way are unmapped (the checks come first: a refusal changes nothing). */
	c = dmd__copy_search(t, iova, DMAC__AVL_LE);
	if (!c || c->iova + c->length <= iova)
		c = dmd__copy_search(t, iova, DMAC__AVL_GE);
	for (; c && c->iova < end; c = dmd__copy_search(t, c->iova + 1, DMAC__AVL_GE)) {
		if (c->state == DMD_COPY_KEPT)
			continue;
		if (c->iova == iova && c->length == length && c->state == DMD_COPY_LIVE)
			dmd_info("tenant %s: lease at iova 0x%" PRIx64
				 " asks prot 0x%x, the existing copy has 0x%x",
				 t->cfg.name, iova, prot, c->prot);
		else
			dmd_info("tenant %s: lease [0x%" PRIx64 ", +0x%" PRIx64
				 ") overlaps its %s mapping [0x%" PRIx64 ", +0x%" PRIx64 ")",
				 t->cfg.name, iova, length,
				 c->state == DMD_COPY_ZOMBIE ? "unreleasable" : "leased", c->iova,
				 c->length);
		return -EEXIST;
	}
	dmd__copy_evict_range(e, t, iova, length);

	c = dmac__calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	t->copy_misses++;
	t->kernel_copies++;
	rc = dmd_bk_copy(e->bk, t->space, e->master, iova, length, prot);
	if (rc)
		goto err_free_copy;
	c->iova = iova;
	c->length = length;
	c->prot = prot;
	c->refs = 1;
	c->area = area;
	c->state = DMD_COPY_LIVE;
	if (dmac__avl_insert(&t->copies, &c->node, dmd__copy_cmp)) {
		/* cannot happen: nothing overlaps (checked above) */
		dmd_err("tenant %s: copy at 0x%" PRIx64 " already in the tree", t->cfg.name, iova);
		rc = -EEXIST;
		goto err_unmap;
	}
	dmd__area_get(e, area);
	t->ncopies++;
	e->ncopies++;
	*out = c;
	return 0;

err_unmap:
	/* never orphaned: a failing unmap here keeps the copy as a zombie */
	if (dmd_bk_unmap(e->bk, t->space, iova, length) == 0)
		goto err_free_copy;
	dmd_err("tenant %s: cannot undo a copy at 0x%" PRIx64 ": leaked", t->cfg.name, iova);
	return rc;
err_free_copy:
	dmac__free(c);
	return rc;
}

void dmd__copy_retry(struct dmd_engine *e, struct dmd_tenant *t)
{
	struct dmd_copy *c = t->zombies, *next;

	for (; c; c = next) {
		next = c->lnext;
		if (dmd_bk_unmap(e->bk, t->space, c->iova, c->length))
			continue;
		t->kernel_unmaps++;
		dmd_info("tenant %s: retried unmap of [0x%" PRIx64 ", +0x%" PRIx64 ") succeeded",
			 t->cfg.name, c->iova, c->length);
		dmd__zombie_unlink(e, t, c);
		dmd__copy_free(e, t, c);
	}
}

void dmd__copy_destroy_all(struct dmd_engine *e, struct dmd_tenant *t)
{
	/* the space is about to be destroyed, which unmaps everything in it */
	while (t->copies) {
		struct dmd_copy *c = container_of(t->copies, struct dmd_copy, node);

		if (c->state == DMD_COPY_KEPT)
			dmd__kept_unlink(t, c);
		else if (c->state == DMD_COPY_ZOMBIE)
			dmd__zombie_unlink(e, t, c);
		else
			dmd_err("tenant %s: live copy at 0x%" PRIx64 " at tenant removal",
				t->cfg.name, c->iova);
		dmd__copy_free(e, t, c);
	}
}

/*
 * Test dump: the KEPT copies that lie in no live registration of their
 * tenant (any session): each one would be a mapping outliving the permission
 * that allowed it (the lazy guarantee, top of this file). 0 when the
 * invariant holds. O(kept copies x registrations): the test build's dump only.
 */
uint64_t dmd__copy_check(const struct dmd_engine *e)
{
	uint64_t bad = 0;

	for (const struct dmd_tenant *t = e->tenants; t; t = t->next)
		for (const struct dmd_copy *c = t->kept_head; c; c = c->lnext) {
			bool covered = false;

			for (const struct dmd_session *s = e->sessions; s && !covered; s = s->next) {
				if (s->tenant != t)
					continue;
				for (const struct dmd_reg *r = s->regs; r && !covered; r = r->next)
					covered = r->iova <= c->iova &&
						  c->iova - r->iova + c->length <= r->length;
			}
			if (!covered)
				bad++;
		}
	return bad;
}
