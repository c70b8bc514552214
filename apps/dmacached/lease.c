/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Leases.
 *
 * - A lease (struct dmd_lease) is in the lease table (tenant id, quotas) and
 *   in its session's list (creation order, seq increasing), holds one
 *   reference on its copy and counts in its registration's nleases.
 * - Tenant quotas: quota_pinned_bytes also bounds the bytes the tenant holds
 *   leased (lease table); quota_leases the lease count.
 * - Every lease is also on the engine's list of all leases (ahead..atail), in
 *   creation order with aseq strictly increasing: the stable cursor of
 *   ADMIN_LEASES (a cursor is the aseq of the next lease to list; leases
 *   created after a page was read appear later, released ones just vanish).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "log.h"

void dmd__lease_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_lease *l)
{
	dmac_lease_remove(e->leases, s->tenant->id, l->id, NULL);
	if (l->prev)
		l->prev->next = l->next;
	else
		s->lhead = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		s->ltail = l->prev;
	if (l->aprev)
		l->aprev->anext = l->anext;
	else
		e->ahead = l->anext;
	if (l->anext)
		l->anext->aprev = l->aprev;
	else
		e->atail = l->aprev;
	l->reg->nleases--;
	s->nleases--;
	s->lease_bytes -= l->length;
	dmd__copy_put(e, s->tenant, l->copy);
	dmac__free(l);
}

/* ---- lease / release / query ---------------------------------------------- */

static int dmd__lease_one(struct dmd_engine *e, struct dmd_session *s,
			  const struct dmd_lease_in *in, struct dmd_lease_out *out)
{
	struct dmd_tenant *t = s->tenant;
	struct dmac_lease_tenant_stats ts;
	struct dmac_lease_info info;
	struct dmd_lease *l;
	struct dmd_reg *r;
	uint64_t iova;
	int rc;

	r = dmac_hmap_get(&s->reg_by_id, in->reg_id);
	if (!r)
		return -ENOENT;
	if (in->offset >= r->length || in->length > r->length - in->offset)
		return -ERANGE;
	if (in->prot & ~r->prot)
		return -EACCES;
	iova = r->iova + in->offset;
	if (iova < t->cfg.iova_start || iova + in->length - 1 > t->cfg.iova_last)
		return -ENOSPC;
	rc = dmac_lease_tenant_stats(e->leases, t->id, &ts);
	if (rc)
		return rc;
	if (ts.leases >= ts.max_leases)
		return -EDQUOT;
	/* leased bytes and kept (lazily released) copies share quota_pinned_bytes:
	 * kept copies go first */
	rc = dmd__copy_make_room(e, t, ts.bytes, in->length);
	if (rc)
		return rc;

	l = dmac__calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rc = dmd__copy_get(e, t, r->area, iova, in->length, in->prot, &l->copy);
	if (rc)
		goto err_free_lease;
	rc = dmac_lease_create(e->leases, t->id, iova, in->length, in->prot, l, &info);
	if (rc)
		goto err_put_copy;
	l->session = s;
	l->id = info.id;
	l->generation = info.generation;
	l->iova = iova;
	l->length = in->length;
	l->prot = in->prot;
	l->reg = r;
	l->reg_offset = in->offset;
	l->seq = s->next_seq++;
	l->aseq = ++e->next_aseq;
	l->aprev = e->atail;
	if (e->atail)
		e->atail->anext = l;
	else
		e->ahead = l;
	e->atail = l;
	l->prev = s->ltail;
	if (s->ltail)
		s->ltail->next = l;
	else
		s->lhead = l;
	s->ltail = l;
	r->nleases++;
	s->nleases++;
	s->lease_bytes += l->length;
	out->lease_id = l->id;
	out->generation = l->generation;
	out->iova = iova;
	out->length = in->length;
	return 0;

err_put_copy:
	dmd__copy_put(e, t, l->copy);
err_free_lease:
	dmac__free(l);
	return rc;
}

int dmd_engine_lease(struct dmd_engine *e, struct dmd_session *s, const struct dmd_lease_in *in,
		     uint32_t n, struct dmd_lease_out *out)
{
	uint32_t i;
	int rc;

	if (!s->tenant)
		return -EPERM;
	for (i = 0; i < n; i++) {
		rc = dmd__lease_one(e, s, &in[i], &out[i]);
		if (rc)
			goto err_release_leases;
	}
	return 0;

err_release_leases:
	/* the batch's leases are the newest of the session: drop them newest first */
	while (i-- > 0)
		dmd__lease_drop(e, s, s->ltail);
	return rc;
}

int dmd_engine_release(struct dmd_engine *e, struct dmd_session *s, uint64_t lease_id,
		       uint64_t generation)
{
	struct dmac_lease_info info;
	struct dmd_lease *l;
	int rc;

	if (!s->tenant)
		return -EPERM;
	rc = dmac_lease_lookup(e->leases, s->tenant->id, lease_id, &info);
	if (rc)
		return rc;
	l = info.priv;
	if (l->session != s)
		return -ENOENT;
	if (l->generation != generation)
		return -ESTALE;
	dmd__lease_drop(e, s, l);
	return 0;
}

static void dmd__lease_view(const struct dmd_lease *l, struct dmd_lease_view *v)
{
	v->lease_id = l->id;
	v->generation = l->generation;
	v->iova = l->iova;
	v->length = l->length;
	v->reg_id = l->reg->id;
	v->reg_offset = l->reg_offset;
	v->prot = l->prot;
}

int dmd_engine_query(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor, uint32_t max,
		     struct dmd_lease_view *out, uint32_t *n, uint64_t *next)
{
	struct dmd_lease *l;
	uint32_t k = 0;

	if (!s->tenant && !s->admin)
		return -EPERM;
	/* A cursor is the seq of the next lease to list; one above every
	 * cursor this session was given was never issued. */
	if (cursor > s->query_cursor_max)
		return -EINVAL;
	for (l = s->lhead; l && l->seq < cursor; l = l->next)
		;
	for (; l && k < max; l = l->next, k++)
		dmd__lease_view(l, &out[k]);
	*n = k;
	*next = l ? l->seq : 0;
	if (*next > s->query_cursor_max)
		s->query_cursor_max = *next;
	return 0;
}

int dmd_engine_admin_leases(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			    uint32_t max, struct dmd_admin_lease_view *out, uint32_t *n,
			    uint64_t *next)
{
	const struct dmd_lease *l;
	uint32_t k = 0;

	if (!s->admin)
		return -EPERM;
	if (cursor > e->next_aseq)
		return -EINVAL; /* never issued */
	for (l = e->ahead; l && l->aseq < cursor; l = l->anext)
		;
	for (; l && k < max; l = l->anext, k++) {
		dmd__lease_view(l, &out[k].lease);
		out[k].session_id = l->session->id;
		memcpy(out[k].tenant, l->session->tenant->cfg.name, sizeof(out[k].tenant));
	}
	*n = k;
	*next = l ? l->aseq : 0;
	return 0;
}
