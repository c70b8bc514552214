/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Master areas and registrations.
 *
 * - A master area (struct dmac_cache_area, priv = struct dmd_area) is one
 *   backend map of [offset, offset + length) of one file into the master
 *   space, at an IOVA from the master allocator, with one protection. It owns
 *   a MAP_SHARED mapping of that range in the daemon (which keeps the file
 *   open: no fd is kept) and one hold on the file's identity (ident.h). The VA
 *   is munmapped only in the eviction callback, after the area has been
 *   unmapped from the master space, and an area is evicted only when
 *   unreferenced: the daemon never munmaps a VA that is mapped in any space.
 * - Cache key: backing = (dev: the area's prot, ino: the file identity).
 *   The identity names one live file and no other (ident.h: not st_dev/st_ino,
 *   which repeat), so a cache hit is granted only for the very file that was
 *   mapped; the prot in the key means a registration only ever shares an area
 *   mapped with exactly its own protection. The master mapping (and the
 *   daemon's VA mapping) therefore never carries more than its registrations
 *   asked: READ-only areas are mapped PROT_READ in the daemon and READ in the
 *   master space. Areas of one file with different prot may overlap (they are
 *   different keys); areas of one key never do.
 * - Who may ask for what was decided before the engine (session.c): the fd's
 *   access mode and write seals bound the prot (dmac_proto_fd_check_prot()).
 * - A registration belongs to one session and covers
 *   [reg->iova, reg->iova + length) inside its area.
 * - Tenant quota: quota_pinned_bytes bounds the bytes the tenant's sessions
 *   have registered (checked at REGISTER, before any kernel call).
 * - A REGISTER batch that fails evicts the areas it created, so nothing stays
 *   half-mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "ident.h"
#include "log.h"
#include "numa.h"

/* The cache key of an area: see the top of this file. */
static struct dmac_backing dmd__key(uint64_t ident, uint32_t prot)
{
	return dmac_backing_file(prot, ident);
}

static uint32_t dmd__key_prot(struct dmac_backing b)
{
	return (uint32_t)b.dev;
}

/* ---- master areas ------------------------------------------------------- */

void dmd__evict(void *arg, const struct dmac_cache_area_info *a)
{
	struct dmd_engine *e = arg;
	struct dmd_area *p = a->priv;
	uint64_t len = a->range.length;

	if (dmd_bk_unmap(e->bk, e->master, a->iova, len)) {
		/* Still mapped: keep the VA, the IOVA and the identity rather than
		 * unmap a VA the IOMMU may still reach. Leaked until the backend
		 * closes. */
		dmd_err("evict: master area at iova 0x%" PRIx64 " kept (va leaked)", a->iova);
		dmac__free(p);
		return;
	}
	dmac_iova_alloc_free(e->alloc, a->iova, len);
	/* The watch goes while the mapping still holds the file open: closing
	 * the last reference of a deleted file (every memfd) destroys its
	 * watches with it (ident.h). */
	dmd_ident_put(e->ident, p->ident);
	munmap(p->va, len);
	dmac__free(p);
	dmd_debug("evicted area iova 0x%" PRIx64 " length 0x%" PRIx64, a->iova, len);
}

/*
 * Master IOVA for a new area registered by tenant t: inside t's window (a
 * lease must lie there). The whole-space window takes the allocator's best
 * fit; a narrower one is searched from its start, jumping over allocations
 * (bounded number of probes). 2 MiB alignment from 2 MiB up (page size if
 * larger), so the IOMMU can use large entries.
 */
static int dmd__iova_alloc(struct dmd_engine *e, const struct dmd_tenant *t, uint64_t length,
			   uint64_t page_size, uint64_t *iova)
{
	uint64_t align = page_size > DMAC_IOVA_ALIGN_2M ? page_size : 0;
	uint64_t start = t->cfg.iova_start, last = t->cfg.iova_last, cand, end;
	int rc;

	if (start == 0 && last == UINT64_MAX)
		return dmac_iova_alloc_alloc(e->alloc, length, align, iova);
	if (!align)
		align = length >= DMAC_IOVA_ALIGN_2M ? DMAC_IOVA_ALIGN_2M : DMAC_IOVA_PAGE;
	if (__builtin_add_overflow(start, align - 1, &cand))
		return -ENOSPC;
	cand &= ~(align - 1);
	for (int probes = 0; probes < 65536; probes++) {
		uint64_t a_start, a_len;

		if (__builtin_add_overflow(cand, length - 1, &end) || end > last)
			break;
		rc = dmac_iova_alloc_reserve(e->alloc, cand, length);
		if (rc == 0) {
			*iova = cand;
			return 0;
		}
		if (rc != -EEXIST && rc != -ENOSPC)
			return rc;
		/* jump past the allocation at the end or the start, else one step */
		if (dmac_iova_alloc_lookup(e->alloc, end, &a_start, &a_len) == 0 ||
		    dmac_iova_alloc_lookup(e->alloc, cand, &a_start, &a_len) == 0) {
			if (__builtin_add_overflow(a_start, a_len + align - 1, &cand))
				break;
			cand &= ~(align - 1);
		} else if (__builtin_add_overflow(cand, align, &cand)) {
			break;
		}
	}
	dmd_info("tenant %s: no IOVA for 0x%" PRIx64 " bytes inside its window", t->cfg.name,
		 length);
	return -ENOSPC;
}

/*
 * Map [range] of the file @p fd (borrowed) into the daemon and the master
 * space with the protection the key carries, and insert it into the cache
 * with one reference for the caller. The area takes its own hold on the
 * file identity in the key.
 */
static int dmd__area_create(struct dmd_engine *e, struct dmd_tenant *t, int fd,
			    const struct dmd_reg_in *src, const struct dmac_cache_range *range,
			    struct dmac_cache_area **out)
{
	struct dmac_cache_range r = *range;
	uint32_t prot = dmd__key_prot(r.backing);
	struct dmd_area *p;
	uint64_t iova;
	int node, rc;

	p = dmac__calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->born = e->reg_batch;
	p->prot = prot;
	p->ident = r.backing.ino;
	p->dev = src->dev;
	p->ino = src->ino;
	p->va = mmap(NULL, r.length, (prot & DMD_PROT_WRITE) ? PROT_READ | PROT_WRITE : PROT_READ,
		     MAP_SHARED, fd, (off_t)r.offset);
	if (p->va == MAP_FAILED) {
		rc = -errno;
		dmd_warn("mmap of file (%" PRIu64 ",%" PRIu64 ") offset 0x%" PRIx64
			 " length 0x%" PRIx64 " prot %u: %s",
			 p->dev, p->ino, r.offset, r.length, prot, strerror(-rc));
		goto err_free_area;
	}
	rc = dmd__iova_alloc(e, t, r.length, src->page_size, &iova);
	if (rc)
		goto err_munmap;
	rc = dmd_bk_map(e->bk, e->master, p->va, r.length, iova, prot);
	if (rc)
		goto err_free_iova;
	r.va = (uint64_t)(uintptr_t)p->va;
	rc = dmac_cache_insert(e->cache, &r, iova, p, out);
	if (rc)
		goto err_unmap;
	dmd_ident_hold(e->ident, p->ident);

	node = dmd_numa_node_of(p->va, r.length);
	dmd_info("master area: file (%" PRIu64 ",%" PRIu64 ") identity %" PRIu64
		 " offset 0x%" PRIx64 " length 0x%" PRIx64 " prot %s at iova 0x%" PRIx64
		 ", NUMA node %d%s",
		 p->dev, p->ino, p->ident, r.offset, r.length,
		 prot == DMD_PROT_ALL	 ? "rw"
		 : prot == DMD_PROT_READ ? "r"
					 : "w",
		 iova, node, node < 0 ? " (unknown)" : "");
	if (node >= 0 && !e->numa_bound) {
		dmd_numa_bind(node);
		e->numa_bound = 1;
	}
	return 0;

err_unmap:
	dmd_bk_unmap(e->bk, e->master, iova, r.length);
err_free_iova:
	dmac_iova_alloc_free(e->alloc, iova, r.length);
err_munmap:
	munmap(p->va, r.length);
err_free_area:
	dmac__free(p);
	return rc;
}

struct dmd__overlap {
	struct dmd_engine *e;
	const struct dmac_cache_range *r;
	int busy;
};

static int dmd__overlap_cb(void *arg, struct dmac_cache_area *area,
			   const struct dmac_cache_area_info *info)
{
	struct dmd__overlap *o = arg;
	const struct dmac_cache_range *a = &info->range, *r = o->r;

	if (a->backing.dev != r->backing.dev || a->backing.ino != r->backing.ino ||
	    a->offset >= r->offset + r->length || r->offset >= a->offset + a->length)
		return 0;
	if (info->refs)
		o->busy = 1;
	else
		dmac_cache_evict(o->e->cache, area);
	return 0;
}

/*
 * Before mapping a new area: cached areas of the same object that overlap it
 * but are unused are evicted (a client re-registering a larger range); an
 * overlapping area in use makes the registration fail with -EEXIST before any
 * kernel call (areas of one object never overlap).
 */
static int dmd__clear_overlaps(struct dmd_engine *e, const struct dmac_cache_range *r)
{
	struct dmd__overlap o = {e, r, 0};

	dmac_cache_foreach(e->cache, dmd__overlap_cb, &o);
	if (o.busy) {
		dmd_info("file identity %" PRIu64 " prot %" PRIu64 " range 0x%" PRIx64 "+0x%" PRIx64
			 " partially overlaps an area in use",
			 r->backing.ino, r->backing.dev, r->offset, r->length);
		return -EEXIST;
	}
	return 0;
}

static int dmd__evict_doomed(void *arg, struct dmac_cache_area *area,
			     const struct dmac_cache_area_info *info)
{
	struct dmd_engine *e = arg;
	struct dmd_area *p = info->priv;

	if (p->doomed && info->refs == 0)
		dmac_cache_evict(e->cache, area);
	return 0;
}

void dmd__reg_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_reg *r)
{
	struct dmd_reg **pp;

	for (pp = &s->regs; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	e->nregs--;
	s->tenant->nregs--;
	s->tenant->reg_bytes -= r->length;
	dmac_cache_put(e->cache, r->area);
	dmac__free(r);
}

/* ---- register ----------------------------------------------------------- */

/* A fresh registration id: random (protocol.md: unguessable), non-zero,
 * unique in the session (ids are looked up per session only). */
static int dmd__reg_id(const struct dmd_session *s, struct dmd_reg *const *batch, uint32_t nbatch,
		       uint64_t *out)
{
	for (int tries = 0; tries < 64; tries++) {
		const struct dmd_reg *r;
		uint64_t id;
		uint32_t i;

		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			return errno ? -errno : -EIO;
		if (!id)
			continue;
		for (r = s->regs; r && r->id != id; r = r->next)
			;
		for (i = 0; i < nbatch && batch[i]->id != id; i++)
			;
		if (!r && i == nbatch) {
			*out = id;
			return 0;
		}
	}
	return -EIO;
}

int dmd_engine_register(struct dmd_engine *e, struct dmd_session *s, const struct dmd_reg_in *in,
			uint32_t n, struct dmd_reg_out *out)
{
	struct dmac_cache_range *ranges, *merged;
	struct dmac_cache_area **areas;
	struct dmd_reg **regs;
	size_t m = 0, j = 0;
	uint32_t i = 0, nident = 0;
	int rc, doomed = 0;

	if (!s->tenant)
		return -EPERM;
	if (n == 0)
		return -EINVAL;
	{
		uint64_t total = 0;

		for (i = 0; i < n; i++)
			if (__builtin_add_overflow(total, in[i].length, &total))
				return -EDQUOT;
		if (total > s->tenant->cfg.quota_pinned_bytes ||
		    s->tenant->reg_bytes > s->tenant->cfg.quota_pinned_bytes - total) {
			dmd_info("tenant %s: REGISTER of 0x%" PRIx64
				 " bytes over its pinned-bytes quota",
				 s->tenant->cfg.name, total);
			return -EDQUOT;
		}
	}
	e->reg_batch++;
	ranges = dmac__calloc(n, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	merged = dmac__calloc(n, sizeof(*merged));
	if (!merged) {
		rc = -ENOMEM;
		goto err_free_ranges;
	}
	areas = dmac__calloc(n, sizeof(*areas));
	if (!areas) {
		rc = -ENOMEM;
		goto err_free_merged;
	}
	regs = dmac__calloc(n, sizeof(*regs));
	if (!regs) {
		rc = -ENOMEM;
		goto err_free_areas;
	}
	/* The identity of each range's file (one hold per range, dropped at
	 * the end of the batch: the areas take their own). */
	for (nident = 0; nident < n; nident++) {
		uint64_t ident;

		rc = dmd_ident_get(e->ident, in[nident].fd, &ident);
		if (rc)
			goto err_put_idents;
		ranges[nident].backing = dmd__key(ident, in[nident].prot);
		ranges[nident].offset = in[nident].offset;
		ranges[nident].length = in[nident].length;
		ranges[nident].va = in[nident].offset; /* coalesce by offset: mmap comes after */
	}
	rc = dmac_cache_coalesce(ranges, n, merged, &m);
	if (rc)
		goto err_put_idents;

	/* One area reference per merged range: a hit (no pin) or a new area. */
	for (j = 0; j < m; j++) {
		rc = dmac_cache_find(e->cache, merged[j].backing, merged[j].offset,
				     merged[j].length, &areas[j], NULL);
		if (rc == 0) {
			s->tenant->cache_hits++;
		} else if (rc == -ENOENT) {
			s->tenant->cache_misses++;
			for (i = 0; i < n; i++)
				if (ranges[i].backing.dev == merged[j].backing.dev &&
				    ranges[i].backing.ino == merged[j].backing.ino)
					break;
			rc = dmd__clear_overlaps(e, &merged[j]);
			if (!rc)
				rc = dmd__area_create(e, s->tenant, in[i].fd, &in[i], &merged[j],
						      &areas[j]);
		}
		if (rc)
			goto err_put_areas;
	}

	/* One registration per requested range, each holding an area reference. */
	for (i = 0; i < n; i++) {
		struct dmac_cache_area_info info;
		struct dmd_reg *r;

		for (j = 0; j < m; j++) {
			dmac_cache_area_info(areas[j], &info);
			if (info.range.backing.dev == ranges[i].backing.dev &&
			    info.range.backing.ino == ranges[i].backing.ino &&
			    info.range.offset <= in[i].offset &&
			    in[i].offset + in[i].length <= info.range.offset + info.range.length)
				break;
		}
		r = dmac__calloc(1, sizeof(*r));
		if (!r) {
			rc = -ENOMEM;
			j = m;
			goto err_free_new_regs;
		}
		rc = dmd__reg_id(s, regs, i, &r->id);
		if (rc) {
			dmac__free(r);
			j = m;
			goto err_free_new_regs;
		}
		r->area = areas[j];
		r->iova = info.iova + (in[i].offset - info.range.offset);
		r->offset = in[i].offset;
		r->length = in[i].length;
		r->prot = in[i].prot;
		r->page_shift = (uint32_t)__builtin_ctzll(in[i].page_size);
		dmac_cache_get(e->cache, areas[j]);
		regs[i] = r;
	}
	for (i = 0; i < n; i++) {
		regs[i]->next = s->regs;
		s->regs = regs[i];
		e->nregs++;
		s->tenant->nregs++;
		s->tenant->reg_bytes += regs[i]->length;
		out[i].reg_id = regs[i]->id;
		out[i].page_shift = regs[i]->page_shift;
	}
	for (j = 0; j < m; j++)
		dmac_cache_put(e->cache, areas[j]);
	for (i = 0; i < n; i++)
		dmd_ident_put(e->ident, ranges[i].backing.ino);
	dmac__free(regs);
	dmac__free(areas);
	dmac__free(merged);
	dmac__free(ranges);
	return 0;

err_free_new_regs:
	while (i-- > 0) {
		dmac_cache_put(e->cache, regs[i]->area);
		dmac__free(regs[i]);
	}
err_put_areas:
	while (j-- > 0) {
		struct dmac_cache_area_info info;

		dmac_cache_area_info(areas[j], &info);
		if (info.refs == 1 && ((struct dmd_area *)info.priv)->born == e->reg_batch) {
			((struct dmd_area *)info.priv)->doomed = 1;
			doomed = 1;
		}
		dmac_cache_put(e->cache, areas[j]);
	}
	if (doomed)
		dmac_cache_foreach(e->cache, dmd__evict_doomed, e);
err_put_idents:
	while (nident-- > 0)
		dmd_ident_put(e->ident, ranges[nident].backing.ino);
	dmac__free(regs);
err_free_areas:
	dmac__free(areas);
err_free_merged:
	dmac__free(merged);
err_free_ranges:
	dmac__free(ranges);
	return rc;
}

int dmd_engine_unregister(struct dmd_engine *e, struct dmd_session *s, uint64_t reg_id)
{
	struct dmd_reg *r;

	if (!s->tenant)
		return -EPERM;
	for (r = s->regs; r; r = r->next) {
		if (r->id != reg_id)
			continue;
		if (r->nleases)
			return -EBUSY;
		dmd__reg_drop(e, s, r);
		return 0;
	}
	return -ENOENT;
}
