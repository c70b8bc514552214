/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * An environment for the NVMe driver through dmacached (strict mode): the
 * process never opens the device, the iommufd or /dev/vfio. It connects to
 * the daemon as a tenant, claims the tenant's device with DEVICE
 * (dmac_client_device_get()) and builds the driver's struct dmac_nvme_ops:
 * - BAR0: mmap of the received sysfs resource0 fd;
 * - interrupts: the received MSI-X eventfd of vector 1 (the I/O queue's; 0
 *   with a single vector), or polling; INTx is not usable without the device
 *   fd (its re-arm needs VFIO_DEVICE_SET_IRQS UNMASK), so it means polling;
 * - DMA memory: one sealed memfd pool (hugepages when available, else 4 KiB
 *   shmem), registered and leased whole; dma_alloc() hands out 4 KiB-granular
 *   pieces (first fit over a page bitmap, under a mutex);
 * - vtophys: dmac_vtophys() over the client's lock-free lease table.
 *
 * Invariants: the pool is [pool_va, pool_va + pool_len) leased at one IOVA
 * run [pool_iova, pool_iova + pool_len); close undoes open in reverse and the
 * daemon stops the device's DMA when the session ends, before it unmaps.
 * Concurrency: open/close from one thread; vtophys lock-free from threads
 * registered with urcu-memb (libdmacache registers them lazily); dma_alloc
 * and dma_free take the environment's mutex.
 */
#ifndef DMAC_NVME_ENV_DAEMON_H
#define DMAC_NVME_ENV_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "dmac/dmacache.h"
#include "nvme.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Configuration of dmac_nvme_denv_open(). Zero-initialize. */
struct dmac_nvme_denv_cfg {
	const char *socket; /**< daemon socket (NULL: DMAC_CLIENT_DEFAULT_SOCKET) */
	const char *tenant; /**< required */
	const char *bdf;    /**< the tenant's device by address, or NULL: its first */
	int poll;	    /**< 1: no interrupt, completions by polling */
	size_t pool_len;    /**< DMA pool bytes (default 8 MiB; rounded up to 2 MiB) */
};

struct dmac_nvme_denv; /* opaque */

/**
 * Connect, claim the device, map BAR0, lease the pool, build the ops.
 * @return 0 and *out; -EINVAL (no tenant); the errors of
 *  dmac_client_connect() and dmac_client_device_get() (-EBUSY: another
 *  session holds the device); -EOPNOTSUPP BAR0 not mappable; -errno of
 *  memfd_create/mmap; the errors of register/lease (-EDQUOT, ...).
 *  Everything done is undone on failure.
 */
int dmac_nvme_denv_open(const struct dmac_nvme_denv_cfg *cfg, struct dmac_nvme_denv **out);

/** Undo open (the controller must be closed first). NULL is a no-op. */
void dmac_nvme_denv_close(struct dmac_nvme_denv *e);

/** The driver's ops (valid until close). */
const struct dmac_nvme_ops *dmac_nvme_denv_ops(struct dmac_nvme_denv *e);

/** The client (for stats, or more leases); owned by the environment. */
struct dmac_client *dmac_nvme_denv_client(struct dmac_nvme_denv *e);

/** What the daemon handed over (fds owned by the environment). */
const struct dmac_client_device *dmac_nvme_denv_device(const struct dmac_nvme_denv *e);

/** The pool's lease (IOVA run). */
void dmac_nvme_denv_pool(const struct dmac_nvme_denv *e, uint64_t *iova, size_t *len, int *huge);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_NVME_ENV_DAEMON_H */
