/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dmacached engine: backend instance, master space, master IOVA
 * allocator, master cache, tenants (one space each), lease table, sessions.
 * It knows nothing of sockets or of the wire format: the server decodes a
 * request, checks fds with the protocol's fd helpers, and calls in here.
 *
 * Invariants (details at the top of engine.c):
 * - Every call that can fail returns 0 or -errno and leaves the engine, the
 *   backend and the kernel exactly as before (batches are all or nothing).
 * - Ranges: offsets/lengths are byte counts, [offset, offset + length) end
 *   exclusive; IOVA windows carry an inclusive 'last'.
 * - prot values are DMD_PROT_* (bk.h) = the protocol's = the backend's.
 * Concurrency: a single thread (the daemon's event loop) owns the engine and
 * makes every call; nothing here locks.
 */
#ifndef DMD_ENGINE_H
#define DMD_ENGINE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bk.h"
#include "config.h"
#include "hist.h"

struct dmd_engine;
struct dmd_session;

/** One range of a REGISTER request, fd already inspected by the server. */
struct dmd_reg_in {
	int fd;		    /**< borrowed: the engine dups what it keeps */
	uint64_t dev, ino;  /**< backing object identity (st_dev, st_ino) */
	uint64_t page_size; /**< granule of the object (4 KiB, 2 MiB, 1 GiB) */
	uint64_t offset, length;
	uint32_t prot;
};

struct dmd_reg_out {
	uint64_t reg_id;
	uint32_t page_shift;
};

struct dmd_lease_in {
	uint64_t reg_id, offset, length;
	uint32_t prot;
};

struct dmd_lease_out {
	uint64_t lease_id, generation, iova, length;
};

struct dmd_lease_view {
	uint64_t lease_id, generation, iova, length, reg_id, reg_offset;
	uint32_t prot;
};

/** The reserved tenant name of an admin session (protocol.md 6.9). */
#define DMD_ADMIN_TENANT "@admin"

/** One tenant as ADMIN_TENANTS lists it. */
struct dmd_tenant_view {
	char name[DMD_CONFIG_NAME_MAX]; /**< zero-padded */
	uint64_t sessions, leases, bytes_leased;
	uint64_t quota_pinned_bytes, quota_leases;
	uint64_t iova_start, iova_last; /**< last inclusive */
	uint64_t bytes_registered;	/**< by its sessions */
	uint64_t bytes_pinned; /**< charged: bytes_registered + unused areas it brought in */
	uint64_t bytes_kept;   /**< released but still mapped (release = lazy) */
	uint64_t registrations, cache_hits, cache_misses, copy_hits, copy_misses;
	uint64_t lease_requests;
};

/** One session as ADMIN_SESSIONS lists it. */
struct dmd_session_view {
	uint64_t session_id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool pidfd;			  /**< watched with a pidfd */
	char tenant[DMD_CONFIG_NAME_MAX]; /**< its tenant, "@admin", or "" (no HELLO) */
	char comm[16];			  /**< process name at accept, "" unknown */
	uint64_t registrations, bytes_registered, leases, bytes_leased;
};

/** One lease as ADMIN_LEASES lists it. */
struct dmd_admin_lease_view {
	struct dmd_lease_view lease;
	uint64_t session_id;
	char tenant[DMD_CONFIG_NAME_MAX]; /**< zero-padded */
};

struct dmd_hello_out {
	uint64_t session_id;
	uint64_t quota_pinned_bytes, quota_leases;
	uint64_t iova_start, iova_last;
};

struct dmd_engine_stats {
	uint64_t cache_hits, cache_misses, evictions, bytes_pinned, areas;
	uint64_t leases, tenants, sessions, registrations, tenant_copies;
	uint64_t copy_hits, copy_misses, kernel_copies, kernel_unmaps, copies_kept_bytes;
	uint64_t unmap_failures;
};

/** What the engine asks of its owner (the server). */
struct dmd_engine_hooks {
	/**
	 * End the session whose owner handle is @p owner (given at
	 * dmd_engine_session_open()) as if its peer had hung up: the callee
	 * closes the connection and calls dmd_engine_session_close(). Called
	 * by dmd_engine_reload() when the new configuration takes a session's
	 * permission away; the session is not used by the engine after it.
	 */
	void (*end_session)(void *arg, void *owner, const char *why);
	void *arg;
};

/**
 * Open the backend named by cfg->backend, create the master space, its IOVA
 * allocator, the cache (budget cfg->pinned_budget), the lease table, the
 * file-identity instance (ident.h) and every tenant of @p cfg (a space each).
 * @param hooks  callbacks into the owner (copied; may be NULL: no session is
 *               ever ended by a reload then)
 * @return 0 and *out; -errno of the backend (logged); -errno of inotify;
 * -ENOMEM.
 */
int dmd_engine_create(const struct dmd_config *cfg, const struct dmd_engine_hooks *hooks,
		      struct dmd_engine **out);

/**
 * An fd the owner polls for input (EPOLLIN); when readable, call
 * dmd_engine_poll(). Fixed for the engine's life.
 */
int dmd_engine_poll_fd(const struct dmd_engine *e);

/** Drain the engine's own fd (file-identity events). Never fails. */
void dmd_engine_poll(struct dmd_engine *e);

/**
 * Mappings whose unmap failed and that are kept (never orphaned: their IOVA
 * is not reused, their pages stay) until dmd_engine_retry() unmaps them.
 */
uint64_t dmd_engine_unmap_failures(const struct dmd_engine *e);

/** Try those unmaps again (the owner calls it periodically while any are left). */
void dmd_engine_retry(struct dmd_engine *e);

/**
 * Reclaim every session, evict every cached area, destroy every space and
 * close the backend. NULL is a no-op. Never fails.
 */
void dmd_engine_destroy(struct dmd_engine *e);

/**
 * Apply a reloaded config, all or nothing (details at the top of tenant.c's
 * reload section): everything that can fail (new tenants' spaces, devices
 * that must be opened) is done first and undone on failure, leaving the
 * engine exactly as it was; then sessions whose peer the new file no longer
 * allows, or that claim a device their tenant loses, are ended through
 * hooks.end_session (reclaimed as a client death, devices stopped first);
 * devices leave their old tenants (closed, or moved with the backend's
 * replace: removals before additions); new tenants are added and kept ones
 * updated; the budget and admin groups change. socket/backend changes need a
 * restart (the caller's business).
 * @return 0 applied; or -ENOMEM/-errno of the backend: refused, nothing
 * changed (logged with the tenant and device).
 */
int dmd_engine_reload(struct dmd_engine *e, const struct dmd_config *cfg);

/**
 * A new connection with the identity bound at accept. @p owner is the
 * caller's handle for it (the server's connection), given back when the
 * engine asks the caller to end the session (struct dmd_engine_ops).
 * @return 0 and *out, or -ENOMEM.
 */
int dmd_engine_session_open(struct dmd_engine *e, const struct dmd_peer *peer, void *owner,
			    struct dmd_session **out);

/**
 * Reclaim everything the session holds (every lease: tenant copies unmapped,
 * master references dropped; every registration) and free it. Never fails.
 */
void dmd_engine_session_close(struct dmd_engine *e, struct dmd_session *s);

/** Whether HELLO has bound the session (to a tenant, or as an admin session). */
int dmd_engine_session_bound(const struct dmd_session *s);

/** Session id (non-zero). */
uint64_t dmd_engine_session_id(const struct dmd_session *s);

/** Its tenant's name, "@admin" for an admin session, "" before HELLO. */
const char *dmd_engine_session_tenant(const struct dmd_session *s);

/**
 * DEVICE: claim the device of the session's tenant at @p index of its
 * 'devices' list, or (when @p bdf is not NULL; index is then ignored) the one
 * at that PCI address, for this session, and export it (dmd_bk_device_export():
 * BAR fds, eventfds, and the device fd when the tenant is trusted).
 * The claim turns bus master on; it is granted only when no writable open
 * file of the device's BAR files exists anywhere (dmd_bk_device_bars_free()).
 * @return 0, *info (the caller owns its fds) and *trusted; -EPERM admin
 * session; -ENOENT no such device for the tenant (or a malformed @p bdf);
 * -EBUSY claimed by another session, or an earlier holder (any process)
 * still has a BAR file open or mapped; -EALREADY claimed by this one;
 * -ENODEV sysfs unreadable; the -errno of the export (nothing is claimed
 * then, bus master off again).
 * Concurrency: event-loop thread.
 */
int dmd_engine_device(struct dmd_engine *e, struct dmd_session *s, uint32_t index, const char *bdf,
		      unsigned int max_fds, struct dmd_bk_dev_info *info, bool *trusted);

/**
 * Undo a successful dmd_engine_device() whose reply could not be built:
 * stop the device (as at session end) and release the claim.
 * Never fails. Concurrency: event-loop thread.
 */
void dmd_engine_device_unclaim(struct dmd_engine *e, struct dmd_session *s, const char *bdf);

/**
 * Bind a session to a tenant, or, for the name DMD_ADMIN_TENANT, make it an
 * admin session when the peer's uid is 0 or its gid is in the configuration's
 * admin_gids (the reply then carries quotas 0 and the whole IOVA space).
 * @return 0; -EALREADY (already bound); -ENOENT (no such tenant, or being
 * removed); -EACCES (the peer's uid and gid are not allowed for it, or not an
 * admin peer for DMD_ADMIN_TENANT).
 */
int dmd_engine_hello(struct dmd_engine *e, struct dmd_session *s, const char *tenant,
		     struct dmd_hello_out *out);

/**
 * Register @p n ranges (coalescing adjacent ranges of one object; a cache hit
 * pins nothing). All or nothing.
 * @return 0 and out[0..n-1]; -EPERM not bound; -EDQUOT the tenant's registered
 * bytes would pass quota_pinned_bytes; -EINVAL ranges of one object
 * overlap; -EEXIST a range partially overlaps an area already cached;
 * -ENOSPC no IOVA (or none in the tenant's window); -EACCES/-ENODEV... mmap;
 * backend errors; -ENOMEM.
 */
int dmd_engine_register(struct dmd_engine *e, struct dmd_session *s, const struct dmd_reg_in *in,
			uint32_t n, struct dmd_reg_out *out);

/**
 * Drop one registration of the session.
 * @return 0; -EPERM not bound; -ENOENT unknown (or another session's);
 * -EBUSY it still has leases.
 */
int dmd_engine_unregister(struct dmd_engine *e, struct dmd_session *s, uint64_t reg_id);

/**
 * Lease @p n ranges of the session's registrations into its tenant's space.
 * Quotas and the window are checked before any kernel call. All or nothing.
 * @return 0 and out[]; -EPERM not bound; -ENOENT unknown registration;
 * -ERANGE beyond the registration; -EACCES prot not within the
 * registration's; -ENOSPC outside the tenant's IOVA window; -EDQUOT quota;
 * -EEXIST partially overlaps another lease of the tenant (or same range with
 * more prot); backend errors; -ENOMEM.
 */
int dmd_engine_lease(struct dmd_engine *e, struct dmd_session *s, const struct dmd_lease_in *in,
		     uint32_t n, struct dmd_lease_out *out);

/**
 * Release one lease of the session.
 * @return 0; -EPERM not bound; -ENOENT unknown or not this session's; -ESTALE
 * generation mismatch (nothing changes).
 */
int dmd_engine_release(struct dmd_engine *e, struct dmd_session *s, uint64_t lease_id,
		       uint64_t generation);

/**
 * The session's leases in creation order, from @p cursor (0: the first; else
 * a *next of an earlier call on this session). An admin session has none.
 * @return 0, *n filled (<= max) and *next (0: no more); -EPERM not bound;
 * -EINVAL a cursor above every one this session was given (never issued).
 */
int dmd_engine_query(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor, uint32_t max,
		     struct dmd_lease_view *out, uint32_t *n, uint64_t *next);

/**
 * Every tenant (those removed from the config but kept for live sessions
 * included), by tenant id increasing, from @p cursor (0: the first; else a
 * *next of an earlier call). The cursor is stable: a tenant added later
 * comes after every existing one, a removed one is skipped.
 * @return 0, *n filled (<= max) and *next (0: no more); -EPERM not an admin
 * session; -EINVAL a cursor beyond any the engine issued.
 */
int dmd_engine_admin_tenants(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			     uint32_t max, struct dmd_tenant_view *out, uint32_t *n,
			     uint64_t *next);

/**
 * Every lease of every session, in creation order, from @p cursor (0: the
 * first; else a *next of an earlier call). Stable: a lease created between
 * two pages comes after every lease listed before; a released one is skipped.
 * @return 0, *n filled (<= max) and *next (0: no more); -EPERM not an admin
 * session; -EINVAL a cursor beyond any the engine issued.
 */
int dmd_engine_admin_leases(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			    uint32_t max, struct dmd_admin_lease_view *out, uint32_t *n,
			    uint64_t *next);

/**
 * Every session (connection), bound or not, by session id increasing, from
 * @p cursor (0: the first; else a *next of an earlier call). Stable: a
 * session opened later comes after every one listed; an ended one is skipped.
 * @return 0, *n filled (<= max) and *next (0: no more); -EPERM not an admin
 * session; -EINVAL a cursor beyond any the engine issued.
 */
int dmd_engine_admin_sessions(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			      uint32_t max, struct dmd_session_view *out, uint32_t *n,
			      uint64_t *next);

/**
 * Count one LEASE request of @p s that took @p ns nanoseconds in the engine
 * (the server measures dmd_engine_lease()): into the lease-latency histogram
 * and the tenant's lease_requests. Never fails.
 */
void dmd_engine_lease_observed(struct dmd_engine *e, struct dmd_session *s, uint64_t ns);

/**
 * A copy of histogram @p id (DMD_HIST_*) for an admin session.
 * @return 0 and *out; -EPERM not an admin session; -ENOENT no such histogram.
 */
int dmd_engine_admin_histogram(const struct dmd_engine *e, const struct dmd_session *s, uint32_t id,
			       struct dmd_hist *out);

/** Daemon-wide counters. Never fails. */
void dmd_engine_stats(const struct dmd_engine *e, struct dmd_engine_stats *st);

/**
 * The counters a session may see (STATS, protocol.md 6.7): an admin session
 * gets the daemon-wide ones; a tenant session only its tenant's: cache hits
 * and misses of its REGISTER ranges, bytes_pinned = bytes its sessions have
 * registered (what quota_pinned_bytes charges), its leases, sessions and
 * registrations, tenants = 1, and 0 for evictions, areas and tenant_copies
 * (daemon-wide facts that would tell one tenant about another's memory).
 * Never fails.
 */
void dmd_engine_session_stats(const struct dmd_engine *e, const struct dmd_session *s,
			      struct dmd_engine_stats *st);

/** Write the engine's state (test dumps, SIGUSR1 in dmacached-test). */
void dmd_engine_dump(const struct dmd_engine *e, FILE *f);

#endif /* DMD_ENGINE_H */
