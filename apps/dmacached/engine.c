/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dmacached engine (see engine.h).
 *
 * Threading and lock order: there is none to keep. One thread, the daemon's
 * event loop, owns the engine and makes every call; the cache, the lease
 * table and the IOVA allocator are "caller serializes" modules and this thread
 * is their only caller. Nothing here blocks for longer than its syscalls.
 *
 * Object model and invariants:
 * - A master area (struct dmac_cache_area, priv = struct dmd_area) is one
 *   backend map of [offset, offset + length) of one backing object into the
 *   master space, at an IOVA from the master allocator. It owns a dup of the
 *   client's fd and a MAP_SHARED mapping of that range in the daemon. The VA is
 *   munmapped only in the eviction callback, after the area has been unmapped
 *   from the master space, and an area is evicted only when unreferenced: the
 *   daemon never munmaps a VA that is mapped in any space.
 * - Area references: one per registration using it, one per tenant copy made
 *   from it, plus transient references held by a REGISTER batch in progress.
 * - A registration belongs to one session and covers
 *   [reg->iova, reg->iova + length) inside its area.
 * - A tenant copy (struct dmd_copy) is one backend copy of [iova, iova +
 *   length) from the master space into the tenant's space at the SAME IOVA;
 *   its refs count the leases using it; the last lease gone unmaps it. Copies
 *   of one tenant never overlap: a lease either matches an existing copy
 *   exactly (shared) or overlaps none (new copy); a partial overlap is refused
 *   with -EEXIST.
 * - A lease (struct dmd_lease) is in the lease table (tenant id, quotas) and
 *   in its session's list (creation order, seq increasing), holds one
 *   reference on its copy and counts in its registration's nleases (a
 *   registration with leases cannot be dropped).
 * - Tenant quotas: quota_pinned_bytes bounds both the bytes the tenant's
 *   sessions have registered (checked at REGISTER, before any kernel call)
 *   and the bytes it holds leased (lease table); quota_leases the lease count.
 * - Every failing call unwinds in reverse order what it did (labels named for
 *   what they undo): a batch is all or nothing, and a REGISTER batch that fails
 *   evicts the areas it created, so nothing stays half-mapped.
 * - Reclaim order (session close; SPEC section 8, docs/security.md):
 *   1. stop the DMA of every device the session claimed with DEVICE (bus
 *      master off, reset when supported, interrupts off), so nothing can
 *      still target memory about to be unmapped;
 *   2. leases newest first (tenant copy unmapped when its last lease goes,
 *      then the master reference dropped);
 *   3. registrations (master references dropped; areas stay cached, LRU,
 *      until the pinned budget evicts them);
 *   4. bus master on again for those devices, claim released, so the next
 *      session of the tenant can use them.
 * - A device is claimed by at most one session (dev_owner) at a time.
 * - A tenant's devices (config key 'devices') are opened, attached to its
 *   space and made bus masters when the tenant is created, before any lease
 *   exists; they are taken back (bus master off, detach, close) when it is
 *   freed, before its space is destroyed. Their fds never leave the daemon.
 * - All heap memory goes through dmac__* so tests can fail the Nth allocation.
 * - Every lease is also on the engine's list of all leases (ahead..atail), in
 *   creation order with aseq strictly increasing: the stable cursor of
 *   ADMIN_LEASES (a cursor is the aseq of the next lease to list; leases
 *   created after a page was read appear later, released ones just vanish).
 *   Tenants are listed by id (increasing, never reused) for the same reason.
 * - An admin session (HELLO as "@admin" from uid 0 or an admin gid) has no
 *   tenant, hence no registration and no lease: everything that takes a
 *   tenant refuses it with -EPERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "bk.h"
#include "dmac/cache.h"
#include "dmac/iova_alloc.h"
#include "dmac/lease.h"
#include "dmac_alloc.h"
#include "engine.h"
#include "log.h"
#include "numa.h"

_Static_assert(DMD_PROT_READ == DMAC_LEASE_PROT_READ, "prot read");
_Static_assert(DMD_PROT_WRITE == DMAC_LEASE_PROT_WRITE, "prot write");

#define DMD_MAX_RANGES 64

struct dmd_area {
	int fd;
	void *va;
	uint64_t born; /* REGISTER batch that created it (engine->reg_batch) */
	int doomed;    /* created by a failing REGISTER batch: evict when unreferenced */
};

struct dmd_copy {
	struct dmd_copy *next;
	uint64_t iova, length;
	uint32_t prot;
	uint64_t refs;
	struct dmac_cache_area *area;
};

struct dmd_tenant {
	struct dmd_tenant *next;
	struct dmd_tenant_config cfg;
	uint64_t id;
	uint32_t space;
	uint64_t nsessions;
	int removed;	    /* gone from the config; freed when its last session ends */
	uint64_t reg_bytes; /* bytes registered by its sessions (quota_pinned_bytes) */
	struct dmd_copy *copies;
	/* devices opened at tenant creation, attached to 'space', bus master on;
	 * the set is fixed for the tenant's life (a reload does not change it) */
	struct dmd_bk_dev *devs[DMD_CONFIG_MAX_DEVICES];
	unsigned int ndevs;
	/* the session that claimed devs[i] with DEVICE, or NULL */
	struct dmd_session *dev_owner[DMD_CONFIG_MAX_DEVICES];
};

struct dmd_reg {
	struct dmd_reg *next;
	uint64_t id;
	struct dmac_cache_area *area;
	uint64_t iova; /* master IOVA of offset */
	uint64_t offset, length;
	uint32_t prot, page_shift;
	uint64_t nleases;
};

struct dmd_lease {
	struct dmd_lease *prev, *next;	 /* session's list */
	struct dmd_lease *aprev, *anext; /* engine's list of all leases */
	struct dmd_session *session;
	uint64_t id, generation, iova, length, seq, reg_offset;
	uint64_t aseq; /* position in the engine's list (ADMIN_LEASES cursor) */
	uint32_t prot;
	struct dmd_reg *reg;
	struct dmd_copy *copy;
};

struct dmd_session {
	struct dmd_session *prev, *next;
	uint64_t id;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct dmd_tenant *tenant;
	int admin; /* HELLO as "@admin" accepted: no tenant */
	struct dmd_reg *regs;
	struct dmd_lease *lhead, *ltail;
	uint64_t next_seq;
};

struct dmd_engine {
	struct dmd_bk *bk;
	uint32_t master;
	struct dmac_iova_alloc *alloc;
	struct dmac_cache *cache;
	struct dmac_lease_table *leases;
	struct dmd_tenant *tenants;
	uint64_t ntenants, next_tenant_id;
	struct dmd_session *sessions;
	uint64_t nsessions, next_session_id;
	uint64_t nregs;
	uint64_t ncopies;
	uint64_t reg_batch;
	int numa_bound;
	struct dmd_lease *ahead, *atail; /* every lease, creation order */
	uint64_t next_aseq;
	gid_t admin_gids[DMD_CONFIG_MAX_IDS];
	unsigned int nadmin_gids;
};

static void dmd__admin_set(struct dmd_engine *e, const struct dmd_config *cfg)
{
	memcpy(e->admin_gids, cfg->admin_gids, sizeof(e->admin_gids));
	e->nadmin_gids = cfg->nadmin_gids;
}

/* ---- master areas ------------------------------------------------------- */

static void dmd__evict(void *arg, const struct dmac_cache_area_info *a)
{
	struct dmd_engine *e = arg;
	struct dmd_area *p = a->priv;
	uint64_t len = a->range.length;

	if (dmd_bk_unmap(e->bk, e->master, a->iova, len)) {
		/* Still mapped: keep the VA and the IOVA rather than unmap a VA the
		 * IOMMU may still reach. Leaked until the backend closes. */
		dmd_err("evict: master area at iova 0x%" PRIx64 " kept (va and fd leaked)",
			a->iova);
		dmac__free(p);
		return;
	}
	dmac_iova_alloc_free(e->alloc, a->iova, len);
	munmap(p->va, len);
	close(p->fd);
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

static int dmd__area_create(struct dmd_engine *e, struct dmd_tenant *t, int fd,
			    const struct dmac_cache_range *range, uint64_t page_size,
			    struct dmac_cache_area **out)
{
	struct dmac_cache_range r = *range;
	struct dmd_area *p;
	uint64_t iova;
	int node, rc;

	p = dmac__calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->born = e->reg_batch;
	p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (p->fd < 0) {
		rc = -errno;
		goto err_free_area;
	}
	p->va = mmap(NULL, r.length, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, (off_t)r.offset);
	if (p->va == MAP_FAILED) {
		rc = -errno;
		dmd_warn("mmap of object (%" PRIu64 ",%" PRIu64 ") offset 0x%" PRIx64
			 " length 0x%" PRIx64 ": %s",
			 r.backing.dev, r.backing.ino, r.offset, r.length, strerror(-rc));
		goto err_close_fd;
	}
	rc = dmd__iova_alloc(e, t, r.length, page_size, &iova);
	if (rc)
		goto err_munmap;
	rc = dmd_bk_map(e->bk, e->master, p->va, r.length, iova, DMD_PROT_ALL);
	if (rc)
		goto err_free_iova;
	r.va = (uint64_t)(uintptr_t)p->va;
	rc = dmac_cache_insert(e->cache, &r, iova, p, out);
	if (rc)
		goto err_unmap;

	node = dmd_numa_node_of(p->va, r.length);
	dmd_info("master area: object (%" PRIu64 ",%" PRIu64 ") offset 0x%" PRIx64
		 " length 0x%" PRIx64 " at iova 0x%" PRIx64 ", NUMA node %d%s",
		 r.backing.dev, r.backing.ino, r.offset, r.length, iova, node,
		 node < 0 ? " (unknown)" : "");
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
err_close_fd:
	close(p->fd);
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
		dmd_info("object (%" PRIu64 ",%" PRIu64 ") range 0x%" PRIx64 "+0x%" PRIx64
			 " partially overlaps an area in use",
			 r->backing.dev, r->backing.ino, r->offset, r->length);
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

/* ---- tenants ------------------------------------------------------------ */

static int dmd__tenant_add(struct dmd_engine *e, const struct dmd_tenant_config *cfg)
{
	struct dmd_tenant *t;
	int rc;

	t = dmac__calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->id = ++e->next_tenant_id;
	rc = dmd_bk_space_alloc(e->bk, &t->space);
	if (rc)
		goto err_free_tenant;
	for (t->ndevs = 0; t->ndevs < cfg->ndevices; t->ndevs++) {
		const char *bdf = cfg->devices[t->ndevs];

		rc = dmd_bk_device_open(e->bk, bdf, t->space, &t->devs[t->ndevs]);
		if (rc) {
			dmd_err("tenant %s: device %s: %s", cfg->name, bdf,
				rc == -ENODEV	? "no such device bound to vfio-pci"
				: rc == -EINVAL ? "already open (another tenant or process?)"
						: dmd_bk_strerror(e->bk, rc));
			goto err_close_devices;
		}
		dmd_info("tenant %s: device %s attached to space %u, bus master on", cfg->name, bdf,
			 t->space);
	}
	rc = dmac_lease_tenant_add(e->leases, t->id, cfg->quota_leases, cfg->quota_pinned_bytes);
	if (rc)
		goto err_close_devices;
	t->next = e->tenants;
	e->tenants = t;
	e->ntenants++;
	dmd_info("tenant %s: space %u, window [0x%" PRIx64 ", 0x%" PRIx64 "], %u device(s)",
		 cfg->name, t->space, cfg->iova_start, cfg->iova_last, t->ndevs);
	return 0;

err_close_devices:
	while (t->ndevs)
		dmd_bk_device_close(e->bk, t->devs[--t->ndevs]);
	dmd_bk_space_destroy(e->bk, t->space);
err_free_tenant:
	dmac__free(t);
	return rc;
}

/* Unlink and free a tenant with no session (hence no lease, no copy). */
static void dmd__tenant_free(struct dmd_engine *e, struct dmd_tenant *t)
{
	struct dmd_tenant **pp;

	for (pp = &e->tenants; *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	e->ntenants--;
	dmac_lease_tenant_remove(e->leases, t->id);
	while (t->ndevs) {
		struct dmd_bk_dev *d = t->devs[--t->ndevs];

		dmd_info("tenant %s: device %s bus master off, detached, closed", t->cfg.name,
			 dmd_bk_device_bdf(d));
		dmd_bk_device_close(e->bk, d);
	}
	dmd_bk_space_destroy(e->bk, t->space);
	dmd_info("tenant %s removed", t->cfg.name);
	dmac__free(t);
}

static struct dmd_tenant *dmd__tenant_find(struct dmd_engine *e, const char *name)
{
	for (struct dmd_tenant *t = e->tenants; t; t = t->next)
		if (!strcmp(t->cfg.name, name))
			return t;
	return NULL;
}

/* ---- tenant copies ------------------------------------------------------ */

static void dmd__copy_put(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c)
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
static int dmd__copy_get(struct dmd_engine *e, struct dmd_tenant *t, struct dmac_cache_area *area,
			 uint64_t iova, uint64_t length, uint32_t prot, struct dmd_copy **out)
{
	struct dmd_copy *c;
	int rc;

	for (c = t->copies; c; c = c->next) {
		if (c->iova == iova && c->length == length) {
			if (prot & ~c->prot) {
				dmd_info("tenant %s: lease at iova 0x%" PRIx64
					 " asks for more prot than the existing copy",
					 t->cfg.name, iova);
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

/* ---- engine ------------------------------------------------------------- */

/*
 * No IOVA below 2 MiB is ever handed out, in any space (tenant copies sit at
 * the master IOVA, so clipping the master allocator covers them): many
 * drivers treat IOVA 0 as NULL (an NVMe PRP entry of 0, DPDK code testing an
 * IOVA against 0), and a whole 2 MiB keeps the first area 2 MiB aligned.
 */
#define DMD_IOVA_FLOOR (2ULL << 20)

int dmd_engine_create(const struct dmd_config *cfg, struct dmd_engine **out)
{
	struct dmd_bk_range br[DMD_MAX_RANGES];
	struct dmac_iova_range ir[DMD_MAX_RANGES];
	uint32_t nr = DMD_MAX_RANGES, nir = 0;
	struct dmd_engine *e;
	int rc;

	e = dmac__calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	rc = dmd_bk_open(cfg->backend, &e->bk);
	if (rc)
		goto err_free_engine;
	rc = dmd_bk_space_alloc(e->bk, &e->master);
	if (rc)
		goto err_close_bk;
	rc = dmd_bk_iova_ranges(e->bk, e->master, br, &nr);
	if (rc)
		goto err_destroy_master;
	/* Clip [0, DMD_IOVA_FLOOR) out of the usable ranges: see DMD_IOVA_FLOOR. */
	for (uint32_t i = 0; i < nr; i++) {
		if (br[i].last < DMD_IOVA_FLOOR)
			continue;
		ir[nir].start = br[i].start < DMD_IOVA_FLOOR ? DMD_IOVA_FLOOR : br[i].start;
		ir[nir].last = br[i].last;
		nir++;
	}
	rc = nir ? dmac_iova_alloc_create(ir, nir, &e->alloc) : -ENOSPC;
	if (rc)
		goto err_destroy_master;
	rc = dmac_cache_create(cfg->pinned_budget, dmd__evict, e, &e->cache);
	if (rc)
		goto err_destroy_alloc;
	rc = dmac_lease_table_create(&e->leases);
	if (rc)
		goto err_destroy_cache;
	dmd__admin_set(e, cfg);
	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		rc = dmd__tenant_add(e, &cfg->tenants[i]);
		if (rc)
			goto err_remove_tenants;
	}
	dmd_info("engine: backend %s, master space %u, %u IOVA range(s), budget %" PRIu64
		 " bytes, %u tenant(s)",
		 dmd_bk_name(e->bk), e->master, nir, cfg->pinned_budget, cfg->ntenants);
	*out = e;
	return 0;

err_remove_tenants:
	while (e->tenants)
		dmd__tenant_free(e, e->tenants);
	dmac_lease_table_destroy(e->leases);
err_destroy_cache:
	dmac_cache_destroy(e->cache);
err_destroy_alloc:
	dmac_iova_alloc_destroy(e->alloc);
err_destroy_master:
	dmd_bk_space_destroy(e->bk, e->master);
err_close_bk:
	dmd_bk_close(e->bk);
err_free_engine:
	dmac__free(e);
	return rc;
}

void dmd_engine_destroy(struct dmd_engine *e)
{
	if (!e)
		return;
	while (e->sessions)
		dmd_engine_session_close(e, e->sessions);
	dmac_cache_evict_all(e->cache);
	while (e->tenants)
		dmd__tenant_free(e, e->tenants);
	dmac_lease_table_destroy(e->leases);
	dmac_cache_destroy(e->cache);
	dmac_iova_alloc_destroy(e->alloc);
	dmd_bk_space_destroy(e->bk, e->master);
	dmd_bk_close(e->bk);
	dmac__free(e);
}

int dmd_engine_reload(struct dmd_engine *e, const struct dmd_config *cfg)
{
	struct dmd_tenant *t, *next;
	int rc;

	dmac_cache_set_budget(e->cache, cfg->pinned_budget);
	dmd__admin_set(e, cfg);
	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		const struct dmd_tenant_config *tc = &cfg->tenants[i];

		t = dmd__tenant_find(e, tc->name);
		if (!t) {
			rc = dmd__tenant_add(e, tc);
			if (rc)
				return rc;
			continue;
		}
		if (tc->ndevices != t->cfg.ndevices ||
		    memcmp(tc->devices, t->cfg.devices, sizeof(tc->devices)))
			dmd_warn("tenant %s: devices changed in the config; the change takes "
				 "effect at the next start",
				 tc->name);
		t->cfg = *tc;
		t->removed = 0;
		dmac_lease_tenant_set_quota(e->leases, t->id, tc->quota_leases,
					    tc->quota_pinned_bytes);
		dmd_info("tenant %s: updated (quotas %" PRIu64 " bytes, %" PRIu64 " leases)",
			 tc->name, tc->quota_pinned_bytes, tc->quota_leases);
	}
	for (t = e->tenants; t; t = next) {
		next = t->next;
		if (dmd_config_tenant(cfg, t->cfg.name))
			continue;
		if (t->nsessions) {
			t->removed = 1;
			dmd_warn("tenant %s: gone from the config but has %" PRIu64
				 " live session(s); kept until they end, new HELLOs refused",
				 t->cfg.name, t->nsessions);
			continue;
		}
		dmd__tenant_free(e, t);
	}
	return 0;
}

/* ---- sessions ----------------------------------------------------------- */

int dmd_engine_session_open(struct dmd_engine *e, uid_t uid, gid_t gid, pid_t pid,
			    struct dmd_session **out)
{
	struct dmd_session *s = dmac__calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->id = ++e->next_session_id;
	s->uid = uid;
	s->gid = gid;
	s->pid = pid;
	s->next_seq = 1;
	s->next = e->sessions;
	if (e->sessions)
		e->sessions->prev = s;
	e->sessions = s;
	e->nsessions++;
	*out = s;
	return 0;
}

static void dmd__lease_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_lease *l)
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
	dmd__copy_put(e, s->tenant, l->copy);
	dmac__free(l);
}

static void dmd__reg_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_reg *r)
{
	struct dmd_reg **pp;

	for (pp = &s->regs; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	e->nregs--;
	s->tenant->reg_bytes -= r->length;
	dmac_cache_put(e->cache, r->area);
	dmac__free(r);
}

void dmd_engine_session_close(struct dmd_engine *e, struct dmd_session *s)
{
	struct dmd_tenant *t = s->tenant;

	/* 1. Stop the DMA of the devices this session drives: FIRST. */
	for (unsigned int i = 0; t && i < t->ndevs; i++)
		if (t->dev_owner[i] == s)
			dmd_bk_device_stop(e->bk, t->devs[i]);
	/* 2. Then unmap the tenant copies of its leases, 3. drop references. */
	while (s->ltail)
		dmd__lease_drop(e, s, s->ltail);
	while (s->regs)
		dmd__reg_drop(e, s, s->regs);
	/* 4. The devices are idle and back with the tenant: usable again. */
	for (unsigned int i = 0; t && i < t->ndevs; i++) {
		if (t->dev_owner[i] != s)
			continue;
		t->dev_owner[i] = NULL;
		dmd_bk_device_restart(e->bk, t->devs[i]);
		dmd_info("tenant %s: device %s released by session %" PRIu64, t->cfg.name,
			 dmd_bk_device_bdf(t->devs[i]), s->id);
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		e->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	e->nsessions--;
	if (t && --t->nsessions == 0 && t->removed)
		dmd__tenant_free(e, t);
	dmd_debug("session %" PRIu64 " (pid %d) reclaimed", s->id, (int)s->pid);
	dmac__free(s);
}

int dmd_engine_device(struct dmd_engine *e, struct dmd_session *s, uint32_t index, const char *bdf,
		      unsigned int max_fds, struct dmd_bk_dev_info *info, bool *trusted)
{
	struct dmd_tenant *t = s->tenant;
	char full[DMD_CONFIG_BDF_MAX];
	int rc;

	if (!t)
		return -EPERM;
	if (bdf) {
		if (dmd_config_parse_bdf(bdf, full))
			return -ENOENT;
		for (index = 0; index < t->ndevs; index++)
			if (!strcmp(dmd_bk_device_bdf(t->devs[index]), full))
				break;
	}
	if (index >= t->ndevs)
		return -ENOENT;
	if (t->dev_owner[index])
		return t->dev_owner[index] == s ? -EALREADY : -EBUSY;
	rc = dmd_bk_device_export(e->bk, t->devs[index], t->cfg.trusted, max_fds, info);
	if (rc)
		return rc;
	t->dev_owner[index] = s;
	*trusted = t->cfg.trusted;
	dmd_info("tenant %s: device %s claimed by session %" PRIu64 " (pid %d, %s mode)",
		 t->cfg.name, info->bdf, s->id, (int)s->pid, t->cfg.trusted ? "trusted" : "strict");
	return 0;
}

void dmd_engine_device_unclaim(struct dmd_engine *e, struct dmd_session *s, const char *bdf)
{
	struct dmd_tenant *t = s->tenant;

	for (unsigned int i = 0; t && i < t->ndevs; i++) {
		if (t->dev_owner[i] != s || strcmp(dmd_bk_device_bdf(t->devs[i]), bdf))
			continue;
		dmd_bk_device_stop(e->bk, t->devs[i]);
		dmd_bk_device_restart(e->bk, t->devs[i]);
		t->dev_owner[i] = NULL;
	}
}

int dmd_engine_session_bound(const struct dmd_session *s)
{
	return s->tenant != NULL || s->admin;
}

uint64_t dmd_engine_session_id(const struct dmd_session *s)
{
	return s->id;
}

int dmd_engine_hello(struct dmd_engine *e, struct dmd_session *s, const char *tenant,
		     struct dmd_hello_out *out)
{
	struct dmd_tenant *t;

	if (s->tenant || s->admin)
		return -EALREADY;
	if (!strcmp(tenant, DMD_ADMIN_TENANT)) {
		unsigned int i;

		for (i = 0; i < e->nadmin_gids && e->admin_gids[i] != s->gid; i++)
			;
		if (s->uid != 0 && i == e->nadmin_gids) {
			dmd_warn("session %" PRIu64 ": uid %u gid %u (pid %d) refused an admin "
				 "session (not root, gid not in admin_gids)",
				 s->id, (unsigned int)s->uid, (unsigned int)s->gid, (int)s->pid);
			return -EACCES;
		}
		s->admin = 1;
		*out = (struct dmd_hello_out){.session_id = s->id, .iova_last = UINT64_MAX};
		dmd_info("session %" PRIu64 ": pid %d uid %u opened an admin session", s->id,
			 (int)s->pid, (unsigned int)s->uid);
		return 0;
	}
	t = dmd__tenant_find(e, tenant);
	if (!t || t->removed)
		return -ENOENT;
	if (!dmd_config_allows(&t->cfg, s->uid, s->gid)) {
		dmd_warn("session %" PRIu64 ": uid %u gid %u (pid %d) not allowed for tenant %s",
			 s->id, (unsigned int)s->uid, (unsigned int)s->gid, (int)s->pid, tenant);
		return -EACCES;
	}
	s->tenant = t;
	t->nsessions++;
	out->session_id = s->id;
	out->quota_pinned_bytes = t->cfg.quota_pinned_bytes;
	out->quota_leases = t->cfg.quota_leases;
	out->iova_start = t->cfg.iova_start;
	out->iova_last = t->cfg.iova_last;
	dmd_info("session %" PRIu64 ": pid %d uid %u bound to tenant %s", s->id, (int)s->pid,
		 (unsigned int)s->uid, tenant);
	return 0;
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
	uint32_t i = 0;
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
	for (i = 0; i < n; i++) {
		ranges[i].backing = dmac_backing_file(in[i].dev, in[i].ino);
		ranges[i].offset = in[i].offset;
		ranges[i].length = in[i].length;
		ranges[i].va = in[i].offset; /* coalesce by offset only: mmap comes after */
	}
	rc = dmac_cache_coalesce(ranges, n, merged, &m);
	if (rc)
		goto err_free_regs;

	/* One area reference per merged range: a hit (no pin) or a new area. */
	for (j = 0; j < m; j++) {
		rc = dmac_cache_find(e->cache, merged[j].backing, merged[j].offset,
				     merged[j].length, &areas[j], NULL);
		if (rc == -ENOENT) {
			for (i = 0; i < n; i++)
				if (in[i].dev == merged[j].backing.dev &&
				    in[i].ino == merged[j].backing.ino)
					break;
			rc = dmd__clear_overlaps(e, &merged[j]);
			if (!rc)
				rc = dmd__area_create(e, s->tenant, in[i].fd, &merged[j],
						      in[i].page_size, &areas[j]);
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
			if (info.range.backing.dev == in[i].dev &&
			    info.range.backing.ino == in[i].ino &&
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
		s->tenant->reg_bytes += regs[i]->length;
		out[i].reg_id = regs[i]->id;
		out[i].page_shift = regs[i]->page_shift;
	}
	for (j = 0; j < m; j++)
		dmac_cache_put(e->cache, areas[j]);
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
err_free_regs:
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

	for (r = s->regs; r; r = r->next)
		if (r->id == in->reg_id)
			break;
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
	if (ts.leases >= ts.max_leases || ts.bytes > ts.max_bytes ||
	    in->length > ts.max_bytes - ts.bytes)
		return -EDQUOT;

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
	for (l = s->lhead; l && l->seq < cursor; l = l->next)
		;
	for (; l && k < max; l = l->next, k++)
		dmd__lease_view(l, &out[k]);
	*n = k;
	*next = l ? l->seq : 0;
	return 0;
}

int dmd_engine_admin_tenants(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			     uint32_t max, struct dmd_tenant_view *out, uint32_t *n, uint64_t *next)
{
	uint64_t from = cursor;
	uint32_t k = 0;

	if (!s->admin)
		return -EPERM;
	if (cursor > e->next_tenant_id)
		return -EINVAL; /* never issued */
	*next = 0;
	/* The list is newest first; list by id, increasing: pick the smallest id
	 * >= from each time (a handful of configured tenants). */
	for (;;) {
		const struct dmd_tenant *best = NULL;
		struct dmac_lease_tenant_stats ts;

		for (const struct dmd_tenant *t = e->tenants; t; t = t->next)
			if (t->id >= from && (!best || t->id < best->id))
				best = t;
		if (!best)
			break;
		if (k == max) {
			*next = best->id;
			break;
		}
		memset(&out[k], 0, sizeof(out[k]));
		memcpy(out[k].name, best->cfg.name, sizeof(out[k].name));
		out[k].sessions = best->nsessions;
		if (dmac_lease_tenant_stats(e->leases, best->id, &ts) == 0) {
			out[k].leases = ts.leases;
			out[k].bytes_leased = ts.bytes;
		}
		out[k].quota_pinned_bytes = best->cfg.quota_pinned_bytes;
		out[k].quota_leases = best->cfg.quota_leases;
		out[k].iova_start = best->cfg.iova_start;
		out[k].iova_last = best->cfg.iova_last;
		k++;
		from = best->id + 1;
	}
	*n = k;
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

void dmd_engine_stats(const struct dmd_engine *e, struct dmd_engine_stats *st)
{
	struct dmac_cache_stats cs;
	struct dmac_lease_stats ls;

	dmac_cache_stats(e->cache, &cs);
	dmac_lease_stats(e->leases, &ls);
	st->cache_hits = cs.hits;
	st->cache_misses = cs.misses;
	st->evictions = cs.evictions;
	st->bytes_pinned = cs.bytes_pinned;
	st->areas = cs.areas;
	st->leases = ls.leases;
	st->tenants = e->ntenants;
	st->sessions = e->nsessions;
	st->registrations = e->nregs;
	st->tenant_copies = e->ncopies;
}

void dmd_engine_dump(const struct dmd_engine *e, FILE *f)
{
	struct dmd_engine_stats st;

	dmd_engine_stats(e, &st);
	fprintf(f,
		"cache_hits %" PRIu64 "\ncache_misses %" PRIu64 "\nevictions %" PRIu64
		"\nbytes_pinned %" PRIu64 "\nareas %" PRIu64 "\nleases %" PRIu64
		"\ntenants %" PRIu64 "\nsessions %" PRIu64 "\nregistrations %" PRIu64
		"\ntenant_copies %" PRIu64 "\nmaster_space %u\n",
		st.cache_hits, st.cache_misses, st.evictions, st.bytes_pinned, st.areas, st.leases,
		st.tenants, st.sessions, st.registrations, st.tenant_copies, e->master);
	for (const struct dmd_tenant *t = e->tenants; t; t = t->next)
		fprintf(f, "tenant %s %u %" PRIu64 "\n", t->cfg.name, t->space, t->nsessions);
	fprintf(f, "cache_check %d\nlease_check %d\nalloc_check %d\n", dmac__cache_check(e->cache),
		dmac__lease_check(e->leases), dmac__iova_alloc_check(e->alloc));
}
