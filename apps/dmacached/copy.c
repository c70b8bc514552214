/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tenant copies.
 *
 * - A tenant copy (struct dmd_copy) is one backend copy of [iova, iova +
 *   length) from the master space into the tenant's space at the SAME IOVA;
 *   its refs count the leases using it; the last lease gone unmaps it. Copies
 *   of one tenant never overlap: a lease either matches an existing copy
 *   exactly with the same prot (shared) or overlaps none (new copy); a partial
 *   overlap, or the same range with another prot, is refused with -EEXIST.
 *   So a copy's prot is exactly the prot of each of its leases.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "log.h"

/* ---- tenant copies ------------------------------------------------------ */

void dmd__copy_put(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c)
{
	struct dmd_copy **pp;

	if (--c->refs)
		return;
	dmd_bk_unmap(e->bk, t->space, c->iova, c->length);
	for (pp = &t->copies; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	e->ncopies--;
	dmac_cache_put(e->cache, c->area);
	dmac__free(c);
}

/* Find or make the copy of [iova, iova + length) in t's space; takes a ref. */
int dmd__copy_get(struct dmd_engine *e, struct dmd_tenant *t, struct dmac_cache_area *area,
		  uint64_t iova, uint64_t length, uint32_t prot, struct dmd_copy **out)
{
	struct dmd_copy *c;
	int rc;

	for (c = t->copies; c; c = c->next) {
		if (c->iova == iova && c->length == length) {
			/* Shared only with the same protection: a READ lease never
			 * gets a mapping that is writable because of another lease,
			 * and a copy never outlives the leases that asked its prot. */
			if (prot != c->prot) {
				dmd_info("tenant %s: lease at iova 0x%" PRIx64
					 " asks prot 0x%x, the existing copy has 0x%x",
					 t->cfg.name, iova, prot, c->prot);
				return -EEXIST;
			}
			c->refs++;
			*out = c;
			return 0;
		}
		if (iova < c->iova + c->length && c->iova < iova + length) {
			dmd_info("tenant %s: lease [0x%" PRIx64 ", +0x%" PRIx64
				 ") partially overlaps its lease [0x%" PRIx64 ", +0x%" PRIx64 ")",
				 t->cfg.name, iova, length, c->iova, c->length);
			return -EEXIST;
		}
	}
	c = dmac__calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	rc = dmd_bk_copy(e->bk, t->space, e->master, iova, length, prot);
	if (rc)
		goto err_free_copy;
	c->iova = iova;
	c->length = length;
	c->prot = prot;
	c->refs = 1;
	c->area = area;
	dmac_cache_get(e->cache, area);
	c->next = t->copies;
	t->copies = c;
	e->ncopies++;
	*out = c;
	return 0;

err_free_copy:
	dmac__free(c);
	return rc;
}
