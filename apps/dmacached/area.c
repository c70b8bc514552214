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
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "dmac/proto.h"
#include "dmac_alloc.h"
#include "engine_internal.h"
#include "ident.h"
#include "log.h"
#include "numa.h"

/*
 * The merged range (dmac_cache_coalesce()'s output: sorted by key = (backing,
 * offset), disjoint per backing) that contains @p r, a range it was merged
 * from: the last one whose key is <= r's. O(log m).
 */
static size_t dmd__merged_index(const struct dmac_cache_range *merged, size_t m,
				const struct dmac_cache_range *r)
{
	size_t lo = 0, hi = m; /* answer in [lo, hi) */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dmac_cache_range *x = &merged[mid];
		int le = x->backing.dev != r->backing.dev   ? x->backing.dev < r->backing.dev
			 : x->backing.ino != r->backing.ino ? x->backing.ino < r->backing.ino
							    : x->offset <= r->offset;

		if (le)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Distinct fds one REGISTER remembers the identity of (dmd_engine_register). */
#define DMD__SEEN_FDS 16

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

/* ---- users and charges ---------------------------------------------------- */

static void dmd__unref_unlink(struct dmd_area *p)
{
	struct dmd_tenant *t = p->owner;

	if (!t)
		return;
	if (p->uprev)
		p->uprev->unext = p->unext;
	else
		t->unref_head = p->unext;
	if (p->unext)
		p->unext->uprev = p->uprev;
	else
		t->unref_tail = p->uprev;
	p->uprev = p->unext = NULL;
	t->unref_bytes -= p->length;
}

static void dmd__unref_link(struct dmd_area *p)
{
	struct dmd_tenant *t = p->owner;

	if (!t)
		return;
	p->unext = NULL;
	p->uprev = t->unref_tail;
	if (t->unref_tail)
		t->unref_tail->unext = p;
	else
		t->unref_head = p;
	t->unref_tail = p;
	t->unref_bytes += p->length;
}

/* A cache hit took a reference: mirror it. */
static void dmd__area_hit(struct dmac_cache_area *area)
{
	struct dmac_cache_area_info info;
	struct dmd_area *p;

	dmac_cache_area_info(area, &info);
	p = info.priv;
	if (p->users++ == 0)
		dmd__unref_unlink(p);
}

void dmd__area_get(struct dmd_engine *e, struct dmac_cache_area *area)
{
	dmac_cache_get(e->cache, area);
	dmd__area_hit(area);
}

void dmd__area_put(struct dmd_engine *e, struct dmac_cache_area *area)
{
	struct dmac_cache_area_info info;
	struct dmd_area *p;

	dmac_cache_area_info(area, &info);
	p = info.priv;
	if (--p->users == 0)
		dmd__unref_link(p);
	dmac_cache_put(e->cache, area); /* may evict it at once (budget) */
}

void dmd__area_disown(struct dmd_engine *e, struct dmd_tenant *t)
{
	(void)e;
	while (t->unref_head) {
		struct dmd_area *p = t->unref_head;

		dmd__unref_unlink(p);
		p->owner = NULL;
	}
}

/*
 * Evict the tenant's own unreferenced areas, oldest first, until its charge
 * (registered bytes + unreferenced areas it brought in) leaves room for
 * @p more bytes under its quota. @return 0 or -EDQUOT.
 */
static int dmd__charge_room(struct dmd_engine *e, struct dmd_tenant *t, uint64_t more)
{
	uint64_t quota = t->cfg.quota_pinned_bytes, used;

	while (!__builtin_add_overflow(t->reg_bytes, t->unref_bytes, &used) &&
	       !__builtin_add_overflow(used, more, &used) && used > quota && t->unref_head)
		dmac_cache_evict(e->cache, t->unref_head->ca); /* unlinks it (dmd__evict) */
	if (__builtin_add_overflow(t->reg_bytes, t->unref_bytes, &used) ||
	    __builtin_add_overflow(used, more, &used) || used > quota)
		return -EDQUOT;
	return 0;
}

/* ---- master areas ------------------------------------------------------- */

/* Unmap an area from the master space and give everything back; 0 or -errno
 * (then nothing was given back). */
static int dmd__area_release(struct dmd_engine *e, struct dmd_area *p)
{
	int rc = dmd_bk_unmap(e->bk, e->master, p->iova, p->length);

	if (rc)
		return rc;
	dmd__iova_free(e, p->iova, p->length);
	/* The watch goes while the mapping still holds the file open: closing
	 * the last reference of a deleted file (every memfd) destroys its
	 * watches with it (ident.h). */
	dmd_ident_put(e->ident, p->ident);
	munmap(p->va, p->length);
	return 0;
}

void dmd__evict(void *arg, const struct dmac_cache_area_info *a)
{
	struct dmd_engine *e = arg;
	struct dmd_area *p = a->priv;

	dmd__unref_unlink(p);
	if (dmd__area_release(e, p)) {
		/* Still mapped: keep the VA, the IOVA and the identity (never
		 * unmap a VA the IOMMU may still reach, never reuse the IOVA),
		 * and retry (dmd_engine_retry()). */
		dmd_err("evict: unmap of master area at iova 0x%" PRIx64
			" failed: kept, retried later",
			a->iova);
		p->owner = NULL;
		p->znext = e->zombie_areas;
		e->zombie_areas = p;
		e->unmap_failures++;
		return;
	}
	dmd_debug("evicted area iova 0x%" PRIx64 " length 0x%" PRIx64, a->iova, a->range.length);
	dmac__free(p);
}

void dmd__area_retry(struct dmd_engine *e)
{
	struct dmd_area **pp = &e->zombie_areas;

	while (*pp) {
		struct dmd_area *p = *pp;

		if (dmd__area_release(e, p)) {
			pp = &p->znext;
			continue;
		}
		dmd_info("retried unmap of master area at iova 0x%" PRIx64 " succeeded", p->iova);
		*pp = p->znext;
		e->unmap_failures--;
		dmac__free(p);
	}
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
	p->owner = t;
	p->users = 1;
	p->length = r.length;
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
	p->iova = iova;
	rc = dmd_bk_map(e->bk, e->master, p->va, r.length, iova, prot);
	if (rc)
		goto err_free_iova;
	r.va = (uint64_t)(uintptr_t)p->va;
	rc = dmac_cache_insert(e->cache, &r, iova, p, out);
	if (rc)
		goto err_unmap;
	p->ca = *out;
	dmd_ident_hold(e->ident, p->ident);

	node = dmd_numa_node_of(p->va, r.length);
	p->node = node;
	/* debug: REGISTER logs one info line for all the areas it created */
	dmd_debug("master area: file (%" PRIu64 ",%" PRIu64 ") identity %" PRIu64
		  " offset 0x%" PRIx64 " length 0x%" PRIx64 " prot %s at iova 0x%" PRIx64
		  ", NUMA node %d%s",
		  p->dev, p->ino, p->ident, r.offset, r.length,
		  prot == DMD_PROT_ALL	  ? "rw"
		  : prot == DMD_PROT_READ ? "r"
					  : "w",
		  iova, node, node < 0 ? " (unknown)" : "");
	if (node >= 0 && !e->numa_bound) {
		dmd_numa_bind(node);
		e->numa_bound = 1;
	}
	return 0;

err_unmap:
	if (dmd_bk_unmap(e->bk, e->master, iova, r.length)) {
		/* never orphaned: kept mapped (VA, IOVA, identity) and retried */
		dmd_err("master area at iova 0x%" PRIx64 ": undo failed, kept and retried", iova);
		dmd_ident_hold(e->ident, p->ident);
		p->owner = NULL;
		p->znext = e->zombie_areas;
		e->zombie_areas = p;
		e->unmap_failures++;
		return rc;
	}
err_free_iova:
	dmd__iova_free(e, iova, r.length);
err_munmap:
	munmap(p->va, r.length);
err_free_area:
	dmac__free(p);
	return rc;
}

struct dmd__overlap {
	struct dmd_engine *e;
	int busy;
};

static int dmd__overlap_cb(void *arg, struct dmac_cache_area *area,
			   const struct dmac_cache_area_info *info)
{
	struct dmd__overlap *o = arg;

	if (info->refs)
		o->busy = 1;
	else
		dmac_cache_evict(o->e->cache, area);
	return 0;
}

/*
 * Before mapping a new area: cached areas of the same key that overlap it
 * but are unused are evicted (a client re-registering a larger range); an
 * overlapping area in use makes the registration fail with -EEXIST before any
 * kernel call (areas of one key never overlap).
 */
static int dmd__clear_overlaps(struct dmd_engine *e, const struct dmac_cache_range *r)
{
	struct dmd__overlap o = {e, 0};

	dmac_cache_foreach_overlap(e->cache, r->backing, r->offset, r->length, dmd__overlap_cb, &o);
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
	struct dmd_tenant *t = s->tenant;

	/* lazy mapping never outlives the registration that allowed it */
	dmd__copy_evict_range(e, t, r->iova, r->length);
	if (r->prev)
		r->prev->next = r->next;
	else
		s->regs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	dmac_hmap_del(&s->reg_by_id, r->id);
	s->nregs--;
	e->nregs--;
	t->nregs--;
	t->reg_bytes -= r->length;
	s->reg_bytes -= r->length;
	dmd__area_put(e, r->area);
	dmac__free(r);
}

/* ---- register ----------------------------------------------------------- */

/* The ids given out by one REGISTER batch so far: an open-addressing set
 * of twice the largest batch (so a probe ends at an empty slot), keyed by
 * the id itself (random, so its low bits are as good as a hash). */
#define DMD__BATCH_IDS (2 * DMAC_PROTO_MAX_VEC)
struct dmd__batch_ids {
	uint64_t slot[DMD__BATCH_IDS]; /* 0: empty (ids are never 0) */
};

/* Add @p id; @return false if the batch has it already. */
static bool dmd__batch_ids_add(struct dmd__batch_ids *b, uint64_t id)
{
	for (uint32_t i = (uint32_t)id % DMD__BATCH_IDS;; i = (i + 1) % DMD__BATCH_IDS) {
		if (b->slot[i] == id)
			return false;
		if (!b->slot[i]) {
			b->slot[i] = id;
			return true;
		}
	}
}

/* A fresh registration id: random (protocol.md: unguessable), non-zero,
 * unique in the session (ids are looked up per session only) and in the
 * batch (@p b, which records it). */
static int dmd__reg_id(struct dmd_engine *e, const struct dmd_session *s, struct dmd__batch_ids *b,
		       uint64_t *out)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t id;
		int rc = dmd__random_u64(e, &id);

		if (rc)
			return rc;
		if (!id || dmac_hmap_get(&s->reg_by_id, id) || !dmd__batch_ids_add(b, id))
			continue;
		*out = id;
		return 0;
	}
	return -EIO;
}

/*
 * One info line per REGISTER (never one per area: a mempool brings in many
 * 2 MiB areas at once): the ranges, the areas it found cached, and the new
 * ones (the master IOVA span they lie in, their NUMA nodes).
 */
static void dmd__register_log(const struct dmd_engine *e, const struct dmd_session *s, uint32_t n,
			      struct dmac_cache_area *const *areas, size_t m)
{
	uint64_t bytes = 0, nbytes = 0, lo = UINT64_MAX, hi = 0;
	unsigned int nnew = 0, nodes_unknown = 0;
	char nodes[64] = "";
	size_t len = 0;
	uint64_t seen = 0; /* nodes 0..63 listed */

	for (size_t j = 0; j < m; j++) {
		struct dmac_cache_area_info info;
		const struct dmd_area *p;

		dmac_cache_area_info(areas[j], &info);
		p = info.priv;
		bytes += info.range.length;
		if (p->born != e->reg_batch)
			continue;
		nnew++;
		nbytes += p->length;
		lo = p->iova < lo ? p->iova : lo;
		hi = p->iova + p->length > hi ? p->iova + p->length : hi;
		if (p->node < 0 || p->node >= 64) {
			nodes_unknown = 1;
		} else if (!(seen & (UINT64_C(1) << p->node)) && len < sizeof(nodes) - 8) {
			seen |= UINT64_C(1) << p->node;
			len += (size_t)snprintf(nodes + len, sizeof(nodes) - len, "%s%d",
						len ? "," : "", p->node);
		}
	}
	if (nodes_unknown && len < sizeof(nodes) - 4)
		snprintf(nodes + len, sizeof(nodes) - len, "%sunknown", len ? "," : "");
	if (nnew)
		dmd_info("session %" PRIu64 " tenant %s: REGISTER of %u range(s): %zu area(s) of "
			 "0x%" PRIx64 " bytes, %zu cached, %u new pinned and mapped (0x%" PRIx64
			 " bytes, master iova 0x%" PRIx64 "..0x%" PRIx64 ", NUMA node %s)",
			 s->id, s->tenant->cfg.name, n, m, bytes, m - nnew, nnew, nbytes, lo,
			 hi - 1, nodes);
	else
		dmd_info("session %" PRIu64 " tenant %s: REGISTER of %u range(s): %zu area(s) of "
			 "0x%" PRIx64 " bytes, all cached, nothing pinned",
			 s->id, s->tenant->cfg.name, n, m, bytes);
}

int dmd_engine_register(struct dmd_engine *e, struct dmd_session *s, const struct dmd_reg_in *in,
			uint32_t n, struct dmd_reg_out *out)
{
	struct dmac_cache_range *ranges, *merged;
	struct dmac_cache_area **areas;
	struct dmd_reg **regs;
	uint32_t *first_of;
	size_t m = 0, j = 0;
	uint32_t i = 0, nident = 0, nseen = 0;
	int rc, doomed = 0;
	struct dmd__batch_ids batch_ids_buf = {{0}}, *batch_ids = &batch_ids_buf;
	/* fds whose identity this batch has asked for (a request carries at
	 * most DMAC_PROTO_MAX_FDS; more distinct fds only cost more calls) */
	struct dmd__seen_fd {
		int fd;
		uint64_t ident;
	} seen[DMD__SEEN_FDS];

	if (!s->tenant)
		return -EPERM;
	if (n == 0 || n > DMAC_PROTO_MAX_VEC)
		return -EINVAL;
	{
		struct dmd_tenant *t = s->tenant;
		uint64_t total = 0;

		if (s->nregs + n > e->max_regs_per_session ||
		    (t->cfg.quota_registrations != UINT64_MAX &&
		     t->nregs + n > t->cfg.quota_registrations)) {
			dmd_info("tenant %s: REGISTER of %u range(s) over the registration caps "
				 "(session %" PRIu64 " of %" PRIu64 ", tenant %" PRIu64
				 " of %" PRIu64 ")",
				 t->cfg.name, n, s->nregs, e->max_regs_per_session, t->nregs,
				 t->cfg.quota_registrations);
			return -EDQUOT;
		}
		for (i = 0; i < n; i++)
			if (__builtin_add_overflow(total, in[i].length, &total))
				return -EDQUOT;
		/* registered bytes and the unused areas it brought in count: its
		 * own unused areas are evicted first, then EDQUOT */
		if (dmd__charge_room(e, t, total)) {
			dmd_info("tenant %s: REGISTER of 0x%" PRIx64
				 " bytes over its pinned-bytes quota",
				 t->cfg.name, total);
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
	first_of = dmac__calloc(n, sizeof(*first_of));
	if (!first_of) {
		rc = -ENOMEM;
		goto err_free_regs_array;
	}
	/* room in the session's map now, so that the commit below cannot fail */
	rc = dmac_hmap_reserve(&s->reg_by_id, s->nregs + n);
	if (rc)
		goto err_free_first_of;
	/* The identity of each range's file (one hold per range, dropped at
	 * the end of the batch: the areas take their own). The kernel is asked
	 * once per fd (an inotify_add_watch() is a path walk through
	 * /proc/self/fd: most of a 256-range REGISTER's cost when asked per
	 * range); a range whose fd an earlier range used takes another hold on
	 * that identity. */
	for (nident = 0; nident < n; nident++) {
		uint64_t ident = 0;
		uint32_t k;

		for (k = 0; k < nseen; k++)
			if (seen[k].fd == in[nident].fd)
				break;
		if (k < nseen) {
			ident = seen[k].ident;
			dmd_ident_hold(e->ident, ident);
		} else {
			rc = dmd_ident_get(e->ident, in[nident].fd, &ident);
			if (rc)
				goto err_put_idents;
			if (nseen < DMD__SEEN_FDS)
				seen[nseen++] = (struct dmd__seen_fd){in[nident].fd, ident};
		}
		ranges[nident].backing = dmd__key(ident, in[nident].prot);
		ranges[nident].offset = in[nident].offset;
		ranges[nident].length = in[nident].length;
		ranges[nident].va = in[nident].offset; /* coalesce by offset: mmap comes after */
	}
	rc = dmac_cache_coalesce(ranges, n, merged, &m);
	if (rc)
		goto err_put_idents;
	/* for each merged range, one input range inside it */
	for (j = 0; j < m; j++)
		first_of[j] = UINT32_MAX;
	for (i = 0; i < n; i++) {
		size_t k = dmd__merged_index(merged, m, &ranges[i]);

		if (first_of[k] == UINT32_MAX)
			first_of[k] = i;
	}

	/* One area reference per merged range: a hit (no pin) or a new area. */
	for (j = 0; j < m; j++) {
		rc = dmac_cache_find(e->cache, merged[j].backing, merged[j].offset,
				     merged[j].length, &areas[j], NULL);
		if (rc == 0) {
			dmd__area_hit(areas[j]);
			s->tenant->cache_hits++;
		} else if (rc == -ENOENT) {
			s->tenant->cache_misses++;
			/* a range of the same file (and prot: the same key), for
			 * its fd and page size */
			i = first_of[dmd__merged_index(merged, m, &merged[j])];
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

		j = dmd__merged_index(merged, m, &ranges[i]);
		dmac_cache_area_info(areas[j], &info);
		r = dmac__calloc(1, sizeof(*r));
		if (!r) {
			rc = -ENOMEM;
			j = m;
			goto err_free_new_regs;
		}
		rc = dmd__reg_id(e, s, batch_ids, &r->id);
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
		dmd__area_get(e, areas[j]);
		regs[i] = r;
	}
	for (i = 0; i < n; i++) {
		regs[i]->prev = NULL;
		regs[i]->next = s->regs;
		if (s->regs)
			s->regs->prev = regs[i];
		s->regs = regs[i];
		dmac_hmap_put(&s->reg_by_id, regs[i]->id, regs[i], NULL); /* reserved */
		s->nregs++;
		e->nregs++;
		s->tenant->nregs++;
		s->tenant->reg_bytes += regs[i]->length;
		s->reg_bytes += regs[i]->length;
		out[i].reg_id = regs[i]->id;
		out[i].page_shift = regs[i]->page_shift;
	}
	dmd__register_log(e, s, n, areas, m);
	for (j = 0; j < m; j++)
		dmd__area_put(e, areas[j]);
	for (i = 0; i < n; i++)
		dmd_ident_put(e->ident, ranges[i].backing.ino);
	dmac__free(first_of);
	dmac__free(regs);
	dmac__free(areas);
	dmac__free(merged);
	dmac__free(ranges);
	return 0;

err_free_new_regs:
	while (i-- > 0) {
		dmd__area_put(e, regs[i]->area);
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
		dmd__area_put(e, areas[j]);
	}
	if (doomed)
		dmac_cache_foreach(e->cache, dmd__evict_doomed, e);
err_put_idents:
	while (nident-- > 0)
		dmd_ident_put(e->ident, ranges[nident].backing.ino);
err_free_first_of:
	dmac__free(first_of);
err_free_regs_array:
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
	r = dmac_hmap_get(&s->reg_by_id, reg_id);
	if (!r)
		return -ENOENT;
	if (r->nleases)
		return -EBUSY;
	dmd__reg_drop(e, s, r);
	return 0;
}
