/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine's private object model, shared by its files (one noun each):
 *   engine.c  the engine itself, sessions, HELLO, counters
 *   area.c    master areas (pinned once, cached) and registrations
 *   copy.c    tenant copies (one IOAS_COPY per leased range)
 *   lease.c   leases, RELEASE, QUERY and the admin lease list
 *   tenant.c  tenants, their devices (DEVICE claims), reload
 * The invariants of each object are written at the top of its file; the
 * invariants that tie them together are here.
 *
 * Threading: one thread, the daemon's event loop, owns the engine and makes
 * every call; nothing here locks and nothing blocks for longer than its
 * syscalls.
 * Cross-object invariants:
 * - Area references: one per registration using it, one per tenant copy made
 *   from it, plus transient references held by a REGISTER batch in progress.
 * - A lease holds one reference on its copy and counts in its registration's
 *   nleases (a registration with leases cannot be dropped).
 * - Every failing call unwinds in reverse order what it did (labels named for
 *   what they undo): a batch is all or nothing.
 * - All heap memory goes through dmac__* so tests can fail the Nth allocation.
 */
#ifndef DMD_ENGINE_INTERNAL_H
#define DMD_ENGINE_INTERNAL_H

#include <stdint.h>

#include "bk.h"
#include "dmac/cache.h"
#include "dmac/hmap.h"
#include "dmac/iova_alloc.h"
#include "dmac/lease.h"
#include "dmac_avl.h"
#include "engine.h"
#include "hist.h"
#include "ident.h"

_Static_assert(DMD_PROT_READ == DMAC_LEASE_PROT_READ, "prot read");
_Static_assert(DMD_PROT_WRITE == DMAC_LEASE_PROT_WRITE, "prot write");

#define DMD_MAX_RANGES 64
#define DMD_RANDOM_BUF 64

struct dmd_tenant;

/* area.c */
struct dmd_area {
	void *va;
	uint64_t iova, length; /* master IOVA range (also in the cache's info) */
	uint64_t ident;	       /* file identity held (ident.h): the cache key's ino */
	uint64_t dev, ino;     /* st_dev, st_ino of the file: logs only, never a key */
	uint32_t prot;	       /* DMD_PROT_*: the master map's and the cache key's */
	uint64_t born;	       /* REGISTER batch that created it (engine->reg_batch) */
	int doomed;	       /* created by a failing REGISTER batch: evict when unreferenced */
	int node;	       /* NUMA node of its memory at creation, -1 unknown: logs */
	/* users = the cache's reference count, mirrored: registrations, copies
	 * and transient batch references. At 0 the area is charged to its
	 * owner (the tenant whose REGISTER brought it in) and on its list. */
	uint64_t users;
	struct dmd_tenant *owner; /* NULL once the owner is gone (budget only) */
	struct dmd_area *uprev, *unext;
	struct dmac_cache_area *ca;
	/* its master unmap failed at eviction: kept (VA, IOVA, identity) on the
	 * engine's zombie list and retried */
	struct dmd_area *znext;
};

/* copy.c: see the top of copy.c */
enum dmd_copy_state { DMD_COPY_LIVE, DMD_COPY_KEPT, DMD_COPY_ZOMBIE };

struct dmd_copy {
	struct dmac__avl node;		/* tenant's tree, by iova */
	struct dmd_copy *lprev, *lnext; /* KEPT: tenant's LRU; ZOMBIE: zombie list */
	uint64_t iova, length;
	uint32_t prot;
	uint64_t refs; /* leases using it */
	enum dmd_copy_state state;
	struct dmac_cache_area *area;
};

struct dmd_tenant {
	struct dmd_tenant *next;
	struct dmd_tenant_config cfg;
	uint64_t id;
	uint32_t space;
	uint64_t nsessions;
	int removed;	    /* gone from the config; freed when its last session ends */
	int leaving;	    /* dmd_engine_reload() commit only: not in the new file */
	uint64_t reg_bytes; /* bytes registered by its sessions (quota_pinned_bytes) */
	uint64_t nregs;	    /* registrations of its sessions */
	uint64_t cache_hits, cache_misses; /* its REGISTER ranges (STATS) */
	/* unreferenced cached areas it brought in, LRU (oldest first), and
	 * their bytes, charged to quota_pinned_bytes with reg_bytes */
	struct dmd_area *unref_head, *unref_tail;
	uint64_t unref_bytes;
	/* copies (copy.c) */
	struct dmac__avl *copies;
	uint64_t ncopies;
	struct dmd_copy *kept_head, *kept_tail; /* KEPT copies, LRU */
	uint64_t kept_bytes;
	struct dmd_copy *zombies;
	uint64_t unmap_failures; /* zombie copies now */
	uint64_t copy_hits, copy_misses, kernel_copies, kernel_unmaps;
	uint64_t lease_requests; /* LEASE requests of its sessions (ADMIN_TENANTS) */
	/* devices opened at tenant creation, attached to 'space', bus master
	 * off until claimed; a reload may add, drop or move them */
	struct dmd_bk_dev *devs[DMD_CONFIG_MAX_DEVICES];
	unsigned int ndevs;
	/* the session that claimed devs[i] with DEVICE, or NULL */
	struct dmd_session *dev_owner[DMD_CONFIG_MAX_DEVICES];
};

struct dmd_reg {
	struct dmd_reg *prev, *next; /* session's list */
	uint64_t id;		     /* key of the session's hash map */
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
	struct dmd_peer peer; /* bound at accept, never changes */
	void *owner;	      /* the server's connection (dmd_engine_session_open()) */
	struct dmd_tenant *tenant;
	int admin;		    /* HELLO as "@admin" accepted: no tenant */
	struct dmd_reg *regs;	    /* list, newest first */
	struct dmac_hmap reg_by_id; /* id -> struct dmd_reg */
	uint64_t nregs, reg_bytes;
	struct dmd_lease *lhead, *ltail;
	uint64_t nleases, lease_bytes; /* its leases and their lengths (ADMIN_SESSIONS) */
	uint64_t next_seq;
	uint64_t query_cursor_max; /* largest QUERY cursor issued (0: none) */
};

struct dmd_engine {
	struct dmd_bk *bk;
	uint32_t master;
	struct dmac_iova_alloc *alloc;
	struct dmd_bk_range usable[DMD_MAX_RANGES]; /* every space can map these */
	uint32_t nusable;
	uint64_t hole_bytes;	       /* carved out after a reload narrowed usable */
	struct dmd_area *zombie_areas; /* master unmap failed: kept, retried */
	uint64_t unmap_failures;       /* zombie copies and areas now */
	uint64_t max_regs_per_session;
	uint64_t rnd_buf[DMD_RANDOM_BUF]; /* unused random ids, consumed from the end */
	unsigned int rnd_n;
	struct dmac_cache *cache;
	struct dmac_lease_table *leases;
	struct dmd_ident *ident;
	struct dmd_engine_hooks hooks;
	struct dmd_tenant *tenants;
	uint64_t ntenants, next_tenant_id;
	struct dmd_session *sessions; /* newest (highest id) first */
	uint64_t nsessions, next_session_id;
	uint64_t nadmin; /* admin sessions among them (not in STATS 'sessions') */
	uint64_t nregs;
	uint64_t ncopies;
	uint64_t reg_batch;
	int numa_bound;
	struct dmd_lease *ahead, *atail; /* every lease, creation order */
	uint64_t next_aseq;
	gid_t admin_gids[DMD_CONFIG_MAX_IDS];
	unsigned int nadmin_gids;
	struct dmd_hist lease_hist; /* LEASE processing time, ns (ADMIN_HISTOGRAM) */
};

/* ---- area.c ---- */
void dmd__evict(void *arg, const struct dmac_cache_area_info *a);
void dmd__reg_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_reg *r);
/* one more user of an area (the cache's get, and the owner's charge) */
void dmd__area_get(struct dmd_engine *e, struct dmac_cache_area *area);
/* one user less; the last one leaves the area charged to its owner (it may
 * be evicted at once by the budget: do not touch it afterwards) */
void dmd__area_put(struct dmd_engine *e, struct dmac_cache_area *area);
/* the tenant is going: its unreferenced areas are charged to nobody */
void dmd__area_disown(struct dmd_engine *e, struct dmd_tenant *t);
void dmd__area_retry(struct dmd_engine *e);

/* ---- copy.c ---- */
int dmd__copy_get(struct dmd_engine *e, struct dmd_tenant *t, struct dmac_cache_area *area,
		  uint64_t iova, uint64_t length, uint32_t prot, struct dmd_copy **out);
void dmd__copy_put(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c);
/* unmap (batched) the KEPT copies of t overlapping [iova, iova + length) */
void dmd__copy_evict_range(struct dmd_engine *e, struct dmd_tenant *t, uint64_t iova,
			   uint64_t length);
void dmd__copy_evict_all(struct dmd_engine *e, struct dmd_tenant *t);
/* room in quota_pinned_bytes for @p length more leased bytes (KEPT copies
 * evicted first): 0 or -EDQUOT */
int dmd__copy_make_room(struct dmd_engine *e, struct dmd_tenant *t, uint64_t leased,
			uint64_t length);
void dmd__copy_retry(struct dmd_engine *e, struct dmd_tenant *t);
/* the space goes (it unmaps everything): forget every copy */
void dmd__copy_destroy_all(struct dmd_engine *e, struct dmd_tenant *t);
/* test dump: KEPT copies inside no live registration of their tenant (0) */
uint64_t dmd__copy_check(const struct dmd_engine *e);

/* ---- engine.c ---- */
/* a random u64 from a buffered getrandom(): 0 or -errno */
int dmd__random_u64(struct dmd_engine *e, uint64_t *out);

/* ---- iova.c ---- */
int dmd__iova_setup(struct dmd_engine *e);
void dmd__iova_refresh(struct dmd_engine *e);
int dmd__iova_alloc(struct dmd_engine *e, const struct dmd_tenant *t, uint64_t length,
		    uint64_t page_size, uint64_t *iova);
void dmd__iova_free(struct dmd_engine *e, uint64_t iova, uint64_t length);

/* ---- lease.c ---- */
void dmd__lease_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_lease *l);

/* ---- tenant.c ---- */
int dmd__tenant_add(struct dmd_engine *e, const struct dmd_tenant_config *cfg);
void dmd__tenant_free(struct dmd_engine *e, struct dmd_tenant *t);
struct dmd_tenant *dmd__tenant_find(struct dmd_engine *e, const char *name);
void dmd__admin_set(struct dmd_engine *e, const struct dmd_config *cfg);

#endif /* DMD_ENGINE_INTERNAL_H */
