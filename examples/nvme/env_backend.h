/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * An environment for the NVMe driver without the daemon: the process opens
 * the controller itself through a dmacache backend (lib/iommufd_backend or
 * lib/vfio_compat), maps a DMA memory pool into a space of its own, and hands
 * the driver a struct dmac_nvme_ops built from it.
 *
 * What it does, in order (dmac_nvme_env_open()):
 * 1. registers both backends and picks one (dmac_backend_choose(): the
 *    configured name, else DMAC_BACKEND, else automatic);
 * 2. opens the device by BDF, allocates a space and attaches the device;
 * 3. maps the memory pool (hugepages, or anonymous 4 KiB pages) into the
 *    space and records VA -> IOVA in a dmac_imap (the same lock-free map
 *    libdmacache keeps on the client side);
 * 4. maps BAR0, through the VFIO device fd's region (VFIO_DEVICE_GET_REGION_INFO,
 *    honouring a sparse-mmap capability) or through the PCI sysfs file
 *    resource0 (how strict-mode tenants will get it);
 * 5. enables memory decoding and bus mastering in the PCI command register
 *    (through the VFIO config region);
 * 6. sets up interrupts with VFIO_DEVICE_SET_IRQS, one eventfd per vector:
 *    MSI-X (vectors 0 and 1; the I/O queue uses 1), else MSI, else INTx
 *    (re-armed with an UNMASK after each delivery), or none (polling).
 *
 * Invariants: the pool is one mapping [pool_va, pool_va + pool_len) at one
 * IOVA run; dma_alloc() hands out 4 KiB-granular pieces of it, zeroed by the
 * driver. Every mapping the environment made is in its dmac_imap and is
 * unmapped at close; close undoes everything open did, in reverse.
 *
 * Concurrency: open/close/map/unmap from one thread. The ops callbacks:
 * vtophys is lock-free and may be called from the thread that opened the
 * environment or any thread registered with urcu-memb (the opening thread is
 * registered by open if it was not); dma_alloc/dma_free take a mutex.
 */
#ifndef DMAC_NVME_ENV_BACKEND_H
#define DMAC_NVME_ENV_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "nvme.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where BAR0 is mapped from. */
enum dmac_nvme_env_bar {
	DMAC_NVME_ENV_BAR_VFIO = 0,  /**< the VFIO device fd's BAR0 region */
	DMAC_NVME_ENV_BAR_SYSFS = 1, /**< /sys/bus/pci/devices/<bdf>/resource0 */
};

/** Interrupt mode wanted. */
enum dmac_nvme_env_irq {
	DMAC_NVME_ENV_IRQ_POLL = 0, /**< no interrupt: completions by polling */
	DMAC_NVME_ENV_IRQ_AUTO = 1, /**< MSI-X, else MSI, else INTx */
	DMAC_NVME_ENV_IRQ_MSIX = 2,
	DMAC_NVME_ENV_IRQ_MSI = 3,
	DMAC_NVME_ENV_IRQ_INTX = 4,
};

/** Configuration of dmac_nvme_env_open(). Zero-initialize. */
struct dmac_nvme_env_cfg {
	const char *bdf;	/**< PCI address, "0000:00:03.0" or "00:03.0" (required) */
	const char *backend;	/**< "iommufd", "vfio", "auto" or NULL */
	uint32_t bar;		/**< enum dmac_nvme_env_bar */
	uint32_t irq;		/**< enum dmac_nvme_env_irq */
	size_t pool_len;	/**< DMA pool bytes (default 8 MiB; rounded up to 2 MiB) */
	int anon;		/**< 1: anonymous 4 KiB pages instead of hugepages */
	const char *sysfs_root; /**< NULL for "/sys" */
};

struct dmac_nvme_env; /* opaque */

/**
 * Open the device and build the environment (steps in the file comment).
 * @return 0 and *out; -EINVAL (no BDF, unknown bar/irq value); the errors of
 *  dmac_backend_choose() (-EINVAL unknown backend, -ENODEV none usable), of
 *  the backend's device_open/space_alloc/device_attach/map; -ENOMEM (pool
 *  mmap: no free hugepages); -EOPNOTSUPP (BAR0 not mmap-able through the
 *  chosen path, or no interrupt of the wanted kind); the -errno of the
 *  failing syscall (open/mmap of resource0, VFIO ioctls, eventfd). On error
 *  nothing is left open.
 * Concurrency: any thread.
 */
int dmac_nvme_env_open(const struct dmac_nvme_env_cfg *cfg, struct dmac_nvme_env **out);

/**
 * Undo open: interrupts off, BAR unmapped, every mapping unmapped, device
 * closed (its DMA blocked), space destroyed, backend closed, pool freed.
 * Close the driver first. Never fails; @p e may be NULL.
 */
void dmac_nvme_env_close(struct dmac_nvme_env *e);

/** The driver's ops (valid until close). */
const struct dmac_nvme_ops *dmac_nvme_env_ops(const struct dmac_nvme_env *e);

/**
 * Map more memory (page-aligned [va, va + len), kept mapped by the caller
 * until unmapped here) into the space and the translation table.
 * @return 0 and *iova (may be NULL); -EINVAL (misaligned, len 0); -ENOSPC
 *  (table of extra mappings full); the backend's map errors; -ENOMEM.
 */
int dmac_nvme_env_map(struct dmac_nvme_env *e, void *va, size_t len, uint64_t *iova);

/** Remove a mapping made by dmac_nvme_env_map(). @return 0, -ENOENT. */
int dmac_nvme_env_unmap(struct dmac_nvme_env *e, void *va, size_t len);

/** An IOVA (2 MiB aligned) that no mapping of this environment covers. */
uint64_t dmac_nvme_env_unmapped_iova(const struct dmac_nvme_env *e);

/** Description of the environment as opened. */
struct dmac_nvme_env_info {
	const char *backend; /**< "iommufd" or "vfio" */
	const char *bar;     /**< "vfio-region" or "sysfs-resource0" */
	const char *irq;     /**< "msix", "msi", "intx" or "poll" */
	size_t bar_len;	     /**< bytes of BAR0 mapped */
	uint64_t bar_size;   /**< size of BAR0 */
	uint32_t msix_count; /**< MSI-X vectors the device has */
	uint64_t pool_iova;
	size_t pool_len;
	int pool_huge; /**< 1 if the pool is hugepages */
};

/** Fill *out. Never fails for a valid environment. */
void dmac_nvme_env_info(const struct dmac_nvme_env *e, struct dmac_nvme_env_info *out);

/**
 * Unmap the DMA pool and every extra mapping from the space, keeping the
 * translation table: the driver still programs those IOVAs and every DMA the
 * device then does faults in the IOMMU. For tests of the driver's timeout and
 * fatal-status paths. (Detaching the device would not do on type1: there a
 * detach closes the device fd, which a BAR0 mapping keeps busy.)
 * @return 0 or the backend's unmap error (the first one).
 */
int dmac_nvme_env_block_dma(struct dmac_nvme_env *e);

/** The backend's VFIO device fd (borrowed; tests). */
int dmac_nvme_env_device_fd(const struct dmac_nvme_env *e);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_NVME_ENV_BACKEND_H */
