/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * A small userspace NVMe driver in the style of SPDK's: one admin queue pair
 * and one I/O queue pair, PRP entries and PRP lists built from IOVAs that a
 * translation callback supplies, completion by polling the phase bit or by
 * waiting on an interrupt eventfd. docs/nvme.md is the user's guide.
 *
 * The driver owns no kernel object: where the registers, the IOVAs, the
 * DMA-able memory and the interrupt come from is the business of the
 * environment (struct dmac_nvme_ops): the VFIO backend environment of
 * env_backend.h today, the daemon (leases from libdmacache, BARs through
 * sysfs, eventfds from dmacached) later.
 *
 * Invariants:
 * - Logical block ranges are [lba, lba + nlb): 'nlb' blocks from 'lba'; a
 *   range must lie inside the namespace (-ERANGE otherwise, checked before
 *   anything is submitted) and nlb > 0.
 * - Every byte of a data buffer must be translatable by ops->vtophys() for the
 *   whole duration of the I/O; the buffer must be 4-byte aligned (PRP rule).
 * - Queue memory and PRP list pages come from ops->dma_alloc() and are
 *   returned with ops->dma_free() at dmac_nvme_ctrl_close().
 * - A command that gets no completion within the timeout, or a controller
 *   fatal status (CSTS.CFS, checked while waiting) leaves the controller
 *   "failed": every later I/O returns -EIO (the device may still own that
 *   command's buffers; only a reset, i.e. close and open, ends that).
 *
 * Concurrency: a controller is single-threaded: every call on one controller
 * must be serialized by the caller (SPDK's qpair rule). Controllers opened on
 * different environments are independent.
 */
#ifndef DMAC_NVME_H
#define DMAC_NVME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a vtophys callback returns for an address it cannot translate. */
#define DMAC_VTOPHYS_ERROR UINT64_MAX

/**
 * The environment the driver runs in. Zero-initialize; every member except
 * the optional ones must be set.
 */
struct dmac_nvme_ops {
	/** Passed to every callback. */
	void *ctx;
	/** BAR0 mapped into this process (registers and doorbells). */
	void *bar0;
	/** Bytes mapped at bar0: at least 0x1000 + the doorbells of 2 queue pairs. */
	size_t bar0_len;
	/**
	 * Translate a VA the device will access into its IOVA.
	 * @param len NULL, or in: bytes wanted; out: bytes contiguous in IOVA
	 * from @p va (at most the bytes wanted).
	 * @return the IOVA, or DMAC_VTOPHYS_ERROR on a miss.
	 * Called from the thread using the controller.
	 */
	uint64_t (*vtophys)(void *ctx, const void *va, uint64_t *len);
	/**
	 * Allocate zeroed DMA-able memory (translatable by vtophys, contiguous in
	 * IOVA) of @p len bytes aligned to @p align (a power of two). NULL on
	 * failure.
	 */
	void *(*dma_alloc)(void *ctx, size_t len, size_t align);
	/** Return memory from dma_alloc(); @p va may be NULL. Never fails. */
	void (*dma_free)(void *ctx, void *va, size_t len);
	/**
	 * eventfd signalled by the I/O completion queue's interrupt, or -1 to
	 * complete by polling only.
	 */
	int irq_eventfd;
	/** Interrupt vector of the I/O completion queue (MSI-X 1; 0 for MSI/INTx). */
	uint16_t irq_vector;
	/**
	 * Optional (NULL: not needed): re-arm a level-triggered interrupt after
	 * the eventfd was read (INTx: VFIO masks it on delivery). @return 0 or
	 * -errno.
	 */
	int (*irq_rearm)(void *ctx);
};

/** Driver options. Zero-initialize: zeros mean the defaults. */
struct dmac_nvme_opts {
	/** I/O queue depth wanted (default 64; clipped to CAP.MQES + 1). */
	uint32_t io_queue_depth;
	/** Per-command completion timeout in ms (default 10000). */
	uint32_t timeout_ms;
	/** Largest transfer per command in bytes (default and cap: MDTS, 2 MiB). */
	uint32_t max_xfer;
};

/** What Identify and the registers told (dmac_nvme_ctrl_info()). */
struct dmac_nvme_info {
	char model[41]; /**< NUL terminated, trailing spaces removed */
	char serial[21];
	char firmware[9];
	uint16_t vid; /**< PCI vendor id */
	uint16_t cntlid;
	uint32_t version;    /**< VS register: major 31:16, minor 15:8 */
	uint32_t mqes;	     /**< CAP.MQES + 1: most entries per queue */
	uint32_t dstrd;	     /**< CAP.DSTRD: doorbell stride 4 << dstrd bytes */
	uint32_t timeout_ms; /**< CAP.TO in ms */
	uint32_t page_size;  /**< memory page size the driver uses (CC.MPS) */
	uint32_t mdts;	     /**< Identify MDTS (0: no limit) */
	uint32_t max_xfer;   /**< bytes per command the driver uses */
	uint32_t io_depth;   /**< I/O queue depth in use */
	uint32_t nsid;	     /**< the namespace used: the first active one */
	uint32_t lba_size;   /**< bytes per logical block (active LBA format) */
	uint64_t nsze;	     /**< namespace size in logical blocks */
	int irq;	     /**< 1: I/O completions by interrupt eventfd; 0: polled */
};

/** Counters (dmac_nvme_ctrl_stats()). */
struct dmac_nvme_stats {
	uint64_t commands;	/**< I/O commands completed */
	uint64_t prp_lists;	/**< I/O commands that needed a PRP list */
	uint64_t splits;	/**< extra commands made by MDTS splitting */
	uint64_t interrupts;	/**< eventfd reads with a non-zero count */
	uint64_t empty_wakeups; /**< eventfd reads after which nothing was reaped */
};

struct dmac_nvme_ctrl; /* opaque */

/**
 * Reset and enable the controller, identify it and its first active
 * namespace, and create one I/O queue pair (interrupts enabled on its CQ with
 * ops->irq_vector when ops->irq_eventfd >= 0).
 *
 * Steps: CC.EN = 0 and wait for CSTS.RDY = 0; admin queues at IOVAs from
 * dma_alloc; CC with EN, the NVM command set, page size 2^(12 + CAP.MPSMIN)
 * (at least 4 KiB), 64-byte SQ / 16-byte CQ entries; wait for CSTS.RDY = 1
 * (each wait bounded by CAP.TO); Identify Controller, active namespace list,
 * Identify Namespace; Set Features Number of Queues; Create I/O CQ; Create
 * I/O SQ.
 * @param ops  the environment (copied; ops->ctx must outlive the controller)
 * @param opts NULL for the defaults
 * @return 0 and *out; -EINVAL (missing callbacks, bar0_len too small, bad
 *  opts); -EOPNOTSUPP (no NVM command set, page size unsupported, no active
 *  namespace, LBA format with metadata); -ETIMEDOUT (CSTS.RDY did not change
 *  within CAP.TO, or an admin command did not complete); -EIO (CSTS.CFS, or
 *  an admin command failed: its status is logged); -ENOMEM; -EFAULT (a DMA
 *  buffer from dma_alloc did not translate). On error the controller is left
 *  disabled and everything allocated is freed.
 * Concurrency: any thread; the new controller belongs to the caller.
 */
int dmac_nvme_ctrl_open(const struct dmac_nvme_ops *ops, const struct dmac_nvme_opts *opts,
			struct dmac_nvme_ctrl **out);

/**
 * Delete the I/O queues, shut the controller down (CC.SHN normal, bounded by
 * CAP.TO), disable it and free all memory. Never fails (a failing step is
 * logged). @p c may be NULL.
 * Concurrency: the controller's thread; nothing may be in flight.
 */
void dmac_nvme_ctrl_close(struct dmac_nvme_ctrl *c);

/** Copy the controller's identity. @return 0, -EINVAL (NULL). Any thread
 * serialized with the controller's calls. */
int dmac_nvme_ctrl_info(const struct dmac_nvme_ctrl *c, struct dmac_nvme_info *out);

/** Copy the counters. @return 0, -EINVAL. */
int dmac_nvme_ctrl_stats(const struct dmac_nvme_ctrl *c, struct dmac_nvme_stats *out);

/**
 * Read nlb logical blocks from lba into buf (nlb * lba_size bytes), split
 * into commands of at most max_xfer bytes, submitted together (up to the
 * queue depth) and waited for (eventfd or polling, per the environment).
 * @return 0; -EINVAL (c/buf NULL, nlb 0, buf not 4-byte aligned); -ERANGE
 *  (outside the namespace); -EFAULT (a page of buf does not translate:
 *  nothing of that command was submitted); -ETIMEDOUT (no completion within
 *  the timeout); -EIO (controller fatal status while waiting, controller
 *  failed earlier, or a media/transfer error); the -errno of the command's
 *  status (see dmac_nvme_status_errno()). On error some of the commands of a
 *  split request may have completed.
 * Concurrency: the controller's thread.
 */
int dmac_nvme_read(struct dmac_nvme_ctrl *c, void *buf, uint64_t lba, uint32_t nlb);

/** Write nlb logical blocks from buf at lba. As dmac_nvme_read(). */
int dmac_nvme_write(struct dmac_nvme_ctrl *c, const void *buf, uint64_t lba, uint32_t nlb);

/**
 * Replace the translation callback (tests: a translation that lies for one
 * page). Takes effect for the next command. Never fails; @p c must be an
 * open controller. Concurrency: the controller's thread, no I/O in flight.
 */
void dmac_nvme_ctrl_set_vtophys(struct dmac_nvme_ctrl *c,
				uint64_t (*vtophys)(void *ctx, const void *va, uint64_t *len),
				void *ctx);

/**
 * The -errno for an NVMe status field (the CQE's status bits 15:1):
 * 0 for success, e.g. -EINVAL for Invalid Field in Command, -ERANGE for LBA
 * Out of Range, -EIO for Data Transfer Error and media errors.
 * Concurrency: any thread.
 */
int dmac_nvme_status_errno(uint16_t sf);

/** A static description of a status field, e.g. "generic: LBA out of range". */
const char *dmac_nvme_status_str(uint16_t sf);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_NVME_H */
