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
#include "dmac/iova_alloc.h"
#include "dmac/lease.h"
#include "engine.h"
#include "ident.h"

_Static_assert(DMD_PROT_READ == DMAC_LEASE_PROT_READ, "prot read");
_Static_assert(DMD_PROT_WRITE == DMAC_LEASE_PROT_WRITE, "prot write");

#define DMD_MAX_RANGES 64

struct dmd_area {
	void *va;
	uint64_t ident;	   /* file identity held (ident.h): the cache key's ino */
	uint64_t dev, ino; /* st_dev, st_ino of the file: logs only, never a key */
	uint32_t prot;	   /* DMD_PROT_*: the master map's and the cache key's */
	uint64_t born;	   /* REGISTER batch that created it (engine->reg_batch) */
	int doomed;	   /* created by a failing REGISTER batch: evict when unreferenced */
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
	int leaving;	    /* dmd_engine_reload() commit only: not in the new file */
	uint64_t reg_bytes; /* bytes registered by its sessions (quota_pinned_bytes) */
	uint64_t nregs;	    /* registrations of its sessions */
	uint64_t cache_hits, cache_misses; /* its REGISTER ranges (STATS) */
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
	struct dmd_peer peer; /* bound at accept, never changes */
	void *owner;	      /* the server's connection (dmd_engine_session_open()) */
	struct dmd_tenant *tenant;
	int admin; /* HELLO as "@admin" accepted: no tenant */
	struct dmd_reg *regs;
	struct dmd_lease *lhead, *ltail;
	uint64_t next_seq;
	uint64_t query_cursor_max; /* largest QUERY cursor issued (0: none) */
};

struct dmd_engine {
	struct dmd_bk *bk;
	uint32_t master;
	struct dmac_iova_alloc *alloc;
	struct dmac_cache *cache;
	struct dmac_lease_table *leases;
	struct dmd_ident *ident;
	struct dmd_engine_hooks hooks;
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

/* ---- area.c ---- */
void dmd__evict(void *arg, const struct dmac_cache_area_info *a);
void dmd__reg_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_reg *r);

/* ---- copy.c ---- */
int dmd__copy_get(struct dmd_engine *e, struct dmd_tenant *t, struct dmac_cache_area *area,
		  uint64_t iova, uint64_t length, uint32_t prot, struct dmd_copy **out);
void dmd__copy_put(struct dmd_engine *e, struct dmd_tenant *t, struct dmd_copy *c);

/* ---- lease.c ---- */
void dmd__lease_drop(struct dmd_engine *e, struct dmd_session *s, struct dmd_lease *l);

/* ---- tenant.c ---- */
int dmd__tenant_add(struct dmd_engine *e, const struct dmd_tenant_config *cfg);
void dmd__tenant_free(struct dmd_engine *e, struct dmd_tenant *t);
struct dmd_tenant *dmd__tenant_find(struct dmd_engine *e, const char *name);
void dmd__admin_set(struct dmd_engine *e, const struct dmd_config *cfg);

#endif /* DMD_ENGINE_INTERNAL_H */
