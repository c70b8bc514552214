/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Lease table: the IOVA leases handed to tenants, by unguessable 64-bit id,
 * with per-tenant ownership, quotas and counters.
 *
 * Invariants:
 * - A lease covers [iova, iova + length) (end exclusive; iova + length - 1
 *   never wraps, so the last byte may be UINT64_MAX) and belongs to exactly one
 *   registered tenant.
 * - Lease ids are non-zero, unique in the table, and drawn from getrandom();
 *   there is no fallback to a weaker source.
 * - The table's generation counter increases by one on every successful lease
 *   creation and each lease stores the value it got, so an IOVA reused by a
 *   later lease carries a different generation.
 * - For every tenant: leases <= max_leases and bytes <= max_bytes held when
 *   each lease was created (lowering a quota never revokes leases).
 * - A lease is visible only to its owner: every call naming a tenant answers
 *   -ENOENT for another tenant's lease id, exactly as for an unknown one, so
 *   ids cannot be probed across tenants.
 *
 * Concurrency: a table has no internal lock. The caller serializes every call
 * on one table (in dmacached: the daemon lock). Returned infos are copies and
 * stay valid after the lease goes.
 */
#ifndef DMAC_LEASE_H
#define DMAC_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DMAC_LEASE_PROT_READ  (1u << 0) /**< the device may read the memory */
#define DMAC_LEASE_PROT_WRITE (1u << 1) /**< the device may write the memory */
#define DMAC_LEASE_PROT_MASK  (DMAC_LEASE_PROT_READ | DMAC_LEASE_PROT_WRITE)

/** Tenant id that matches every tenant in dmac_lease_lookup(); not a valid tenant id. */
#define DMAC_LEASE_TENANT_ANY UINT64_MAX
/** Quota value meaning "no limit". */
#define DMAC_LEASE_UNLIMITED UINT64_MAX

/** A snapshot of one lease. */
struct dmac_lease_info {
	uint64_t id;	     /**< non-zero, unguessable */
	uint64_t tenant;     /**< owning tenant */
	uint64_t iova;	     /**< first byte */
	uint64_t length;     /**< bytes, > 0 */
	uint64_t generation; /**< table generation when created (>= 1) */
	uint32_t prot;	     /**< DMAC_LEASE_PROT_* */
	void *priv;	     /**< the daemon's pointer (e.g. the master area) */
};

/** Per-tenant counters and quotas. */
struct dmac_lease_tenant_stats {
	uint64_t leases;
	uint64_t bytes;
	uint64_t max_leases;
	uint64_t max_bytes;
};

/** Table-wide counters. */
struct dmac_lease_stats {
	uint64_t leases;
	uint64_t tenants;
	uint64_t generation; /**< generation of the last lease created (0: none yet) */
	uint64_t id_retries; /**< random draws rejected (0 or already in use) */
};

struct dmac_lease_table;

/**
 * Creates an empty table.
 * @return 0, -EINVAL (out NULL), -ENOMEM.
 * Concurrency: none needed; the new table is private to the caller.
 */
DMAC_EXPORT int dmac_lease_table_create(struct dmac_lease_table **out);

/**
 * Frees the table, its tenants and its leases (no callback: the caller has
 * already revoked whatever the leases stood for). NULL is a no-op. Never fails.
 * Concurrency: no other call on @p t may be in progress or follow.
 */
DMAC_EXPORT void dmac_lease_table_destroy(struct dmac_lease_table *t);

/**
 * Registers a tenant with its quotas (DMAC_LEASE_UNLIMITED for none; 0 allows
 * no lease at all).
 * @return 0, -EINVAL (tenant == DMAC_LEASE_TENANT_ANY), -EEXIST, -ENOMEM.
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_tenant_add(struct dmac_lease_table *t, uint64_t tenant,
				      uint64_t max_leases, uint64_t max_bytes);

/**
 * Unregisters a tenant.
 * @return 0, -ENOENT (unknown), -EBUSY (it still holds leases; nothing changes).
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_tenant_remove(struct dmac_lease_table *t, uint64_t tenant);

/**
 * Changes a tenant's quotas. Existing leases are kept even above the new
 * quotas; only later creations are refused.
 * @return 0, -ENOENT.
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_tenant_set_quota(struct dmac_lease_table *t, uint64_t tenant,
					    uint64_t max_leases, uint64_t max_bytes);

/**
 * Reads a tenant's counters and quotas.
 * @return 0, -ENOENT.
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_tenant_stats(const struct dmac_lease_table *t, uint64_t tenant,
					struct dmac_lease_tenant_stats *st);

/**
 * Creates a lease for @p tenant with a fresh random id and the next generation.
 *
 * @param prot  non-empty subset of DMAC_LEASE_PROT_MASK
 * @param out   receives the new lease (may be NULL)
 * @return 0; -EINVAL (length 0, iova + length wraps past 2^64, bad prot,
 *         tenant == DMAC_LEASE_TENANT_ANY); -ENOENT (unknown tenant); -EDQUOT
 *         (the tenant's lease count or byte quota would be exceeded); -ENOMEM;
 *         the -errno of a failing getrandom(); -EIO if 64 draws in a row are 0
 *         or in use (a broken random source). On error nothing changes, the
 *         generation included.
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_create(struct dmac_lease_table *t, uint64_t tenant, uint64_t iova,
				  uint64_t length, uint32_t prot, void *priv,
				  struct dmac_lease_info *out);

/**
 * Looks a lease up by id, O(1) expected.
 * @param tenant  the asking tenant, or DMAC_LEASE_TENANT_ANY (daemon-internal)
 * @return 0 and a copy in @p out (may be NULL); -ENOENT if the id is unknown
 *         or the lease belongs to another tenant.
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_lookup(const struct dmac_lease_table *t, uint64_t tenant, uint64_t id,
				  struct dmac_lease_info *out);

/**
 * Removes a lease on behalf of its owner, O(1) expected. Never allocates.
 * @param out  receives a copy of the removed lease (may be NULL)
 * @return 0; -ENOENT if the id is unknown OR owned by another tenant (not
 *         -EPERM: a tenant must not learn that another tenant's id exists);
 *         -EINVAL for DMAC_LEASE_TENANT_ANY. On error nothing changes.
 * Concurrency: caller serializes all calls on @p t.
 */
DMAC_EXPORT int dmac_lease_remove(struct dmac_lease_table *t, uint64_t tenant, uint64_t id,
				  struct dmac_lease_info *out);

/** Iteration callback: return 0 to go on, anything else to stop. */
typedef int (*dmac_lease_iter_fn)(void *arg, const struct dmac_lease_info *lease);

/**
 * Calls @p fn for each lease of @p tenant, oldest first. The callback may
 * remove the lease it is given (dmac_lease_remove()) but no other lease, and
 * must not remove the tenant. Leases created during the walk may or may
 * not be visited.
 * @return 0 after a full walk, the first non-zero value of @p fn, or -ENOENT
 *         (unknown tenant; nothing called).
 * Concurrency: caller serializes all calls on @p t (the callback runs under it).
 */
DMAC_EXPORT int dmac_lease_foreach_tenant(struct dmac_lease_table *t, uint64_t tenant,
					  dmac_lease_iter_fn fn, void *arg);

/** Fills @p st. Concurrency: caller serializes all calls on @p t. */
DMAC_EXPORT void dmac_lease_stats(const struct dmac_lease_table *t, struct dmac_lease_stats *st);

/**
 * Internal (tests only): checks every invariant of @p t.
 * @return 0 if consistent, otherwise a negative number naming the broken one.
 */
int dmac__lease_check(const struct dmac_lease_table *t);

/**
 * Internal: replaces getrandom() for @p t by @p fn, which fills @p len bytes
 * and returns 0 or -errno; NULL restores getrandom(). dmacached passes its
 * buffered getrandom() (one system call per many ids, apps/dmacached/engine.c);
 * tests pass a scripted source. @p fn must draw from a CSPRNG outside tests:
 * lease ids are unguessable by contract.
 */
void dmac__lease_set_random(struct dmac_lease_table *t, int (*fn)(void *arg, void *buf, size_t len),
			    void *arg);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_LEASE_H */
