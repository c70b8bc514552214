/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The "dmacache" DPDK mempool driver: every memory chunk of a pool is a lease
 * from dmacached, and every object's IOVA is the leased IOVA (never DPDK's own).
 * docs/dpdk.md is the user's guide.
 *
 * Invariants of this header:
 * - The driver registers itself under DMAC_DPDK_MEMPOOL_OPS when its shared
 *   object is loaded (EAL's `-d librte_mempool_dmacache.so`, or linking it).
 * - One libdmacache connection per process, shared by every pool of the driver;
 *   it is opened by the first pool that needs it and kept until the process
 *   exits. Its socket path and tenant are fixed by that first pool: a later pool
 *   that asks for another socket or tenant is refused (-EINVAL).
 * - Configuration precedence, per field: the pool's config pointer
 *   (rte_mempool_set_ops_byname(mp, "dmacache", &cfg)), then
 *   dmac_dpdk_mempool_configure(), then the environment (DMACACHE_SOCKET,
 *   DMACACHE_TENANT), then DMAC_CLIENT_DEFAULT_SOCKET for the socket; the tenant
 *   has no default.
 */
#ifndef DMAC_RTE_MEMPOOL_DMACACHE_H
#define DMAC_RTE_MEMPOOL_DMACACHE_H

#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dmac_client;

/** The mempool ops name of the driver. */
#define DMAC_DPDK_MEMPOOL_OPS "dmacache"
/** Environment variable naming the daemon's socket. */
#define DMAC_DPDK_ENV_SOCKET "DMACACHE_SOCKET"
/** Environment variable naming the tenant. */
#define DMAC_DPDK_ENV_TENANT "DMACACHE_TENANT"

/**
 * Per-pool (or per-process, see dmac_dpdk_mempool_configure()) configuration.
 * A NULL field means "not set here": the next source in the precedence order
 * is used. Strings are copied when the pool's memory is first populated (the
 * ops' alloc callback); the struct and its strings must stay valid until then.
 */
struct dmac_dpdk_mempool_config {
	const char *socket_path; /**< dmacached's socket, or NULL */
	const char *tenant;	 /**< tenant name (1..63 chars), or NULL */
};

/**
 * Set the process-wide configuration used by pools that have no config pointer
 * (e.g. pools made by rte_pktmbuf_pool_create_by_ops()). The strings are copied.
 * @param cfg the configuration, or NULL to clear it
 * @return 0, -ENAMETOOLONG (a string does not fit: socket paths are at most
 *  107 bytes, tenants 63), -EBUSY (the shared connection is already open: the
 *  configuration can no longer change).
 * Concurrency: any thread; serialized with pool creation by the driver's mutex.
 */
DMAC_EXPORT int dmac_dpdk_mempool_configure(const struct dmac_dpdk_mempool_config *cfg);

/**
 * The driver's shared libdmacache connection, for translating addresses of
 * pool memory (dmac_client_translate()) or querying its leases.
 * @return the client, or NULL when no pool has opened it yet.
 * Concurrency: any thread. The client lives until the process exits; the caller
 *  must not close it.
 */
DMAC_EXPORT struct dmac_client *dmac_dpdk_mempool_client(void);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_RTE_MEMPOOL_DMACACHE_H */
