/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * An SPDK-compatible translation entry point over libdmacache:
 * dmac_vtophys(vaddr, &size) behaves as spdk_vtophys() does, translating from
 * the process-default client's local lease table (dmac_client_translate(),
 * lock-free, no IPC).
 *
 * Invariants:
 * - DMAC_VTOPHYS_ERROR (UINT64_MAX) is returned for any address no lease of
 *   the default client covers, and when no default client is set.
 * - *size (when size is non-NULL) is in: bytes wanted, out: bytes contiguous
 *   in VA and IOVA from vaddr, never more than wanted (clipped to the
 *   contiguous run). On a miss *size is left unchanged (as SPDK does).
 *   A wanted size of 0 asks for the whole contiguous run.
 *
 * Concurrency: dmac_vtophys() is lock-free and may run on any number of
 * threads (each registered with urcu-memb lazily by libdmacache).
 * dmac_vtophys_set_client() publishes the pointer with a release store; the
 * previous client must not be closed while a dmac_vtophys() call may still
 * use it (set NULL, then make sure no thread is translating, then close).
 */
#ifndef DMAC_VTOPHYS_H
#define DMAC_VTOPHYS_H

#include <stdint.h>

#include "dmac/dmacache.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DMAC_VTOPHYS_ERROR
/** The translation error sentinel (SPDK_VTOPHYS_ERROR's value). */
#define DMAC_VTOPHYS_ERROR UINT64_MAX
#endif

/**
 * Set (or clear, with NULL) the process-default client dmac_vtophys() uses.
 * Never fails. Concurrency: any thread; see the file comment for closing.
 */
void dmac_vtophys_set_client(struct dmac_client *client);

/** The current process-default client (NULL if none). Any thread. */
struct dmac_client *dmac_vtophys_get_client(void);

/**
 * Translate a virtual address to the IOVA the device must use.
 * @param vaddr any address
 * @param size  NULL (one byte), or in: bytes wanted (0: the whole contiguous
 *              run); out: contiguous bytes from vaddr, at most the bytes wanted
 * @return the IOVA, or DMAC_VTOPHYS_ERROR (no default client, or no lease
 *  covers vaddr; *size then unchanged).
 * Concurrency: lock-free, any thread.
 */
uint64_t dmac_vtophys(const void *vaddr, uint64_t *size);

/**
 * dmac_vtophys() in the shape of struct dmac_nvme_ops::vtophys (ctx ignored),
 * so the NVMe driver can run on leases: ops.vtophys = dmac_vtophys_cb.
 */
uint64_t dmac_vtophys_cb(void *ctx, const void *vaddr, uint64_t *size);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_VTOPHYS_H */
