/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's thin wrapper over the backend ops table (include/dmac/backend.h).
 *
 * Why a wrapper: backend.h and lib/iova_cache's iova_alloc.h both define
 * struct dmac_iova_range, and backend.h's DMAC_PROT_* enum clashes with the
 * DMAC_PROT_* macros of proto.h; only bk.c (and the test backend) include
 * backend.h, the engine includes this header instead.
 *
 * Invariants: every map and copy is at a FIXED IOVA chosen by the engine
 * (IOVAs are the same in the master and every tenant space); ranges are
 * {start, last} with 'last' INCLUSIVE; prot is DMD_PROT_READ|DMD_PROT_WRITE
 * (same values as the backend's and the protocol's, checked at compile time).
 * Concurrency: called only from the event-loop thread that owns the engine.
 */
#ifndef DMD_BK_H
#define DMD_BK_H

#include <stdbool.h>
#include <stdint.h>

#define DMD_PROT_READ  1u
#define DMD_PROT_WRITE 2u
#define DMD_PROT_ALL   3u

struct dmd_bk;

struct dmd_bk_range {
	uint64_t start;
	uint64_t last; /**< inclusive */
};

/** Register the backends this binary ships (iommufd, vfio). Idempotent. */
void dmd_bk_register_builtin(void);

/** Whether a backend of that name is registered (config validation). */
bool dmd_bk_known(const char *name);

/**
 * Choose (dmac_backend_choose(), @p force = config key or "auto") and open a
 * backend instance.
 * @return 0 and *out; -EINVAL unknown name; -ENODEV not usable; -ENOMEM; the
 * -errno of the backend's open().
 */
int dmd_bk_open(const char *force, struct dmd_bk **out);

/** Close the instance (destroys every space). NULL is a no-op; never fails. */
void dmd_bk_close(struct dmd_bk *bk);

/** Name of the backend in use. */
const char *dmd_bk_name(const struct dmd_bk *bk);

/** The backend's meaning of an errno (static string). */
const char *dmd_bk_strerror(const struct dmd_bk *bk, int err);

/** Allocate a space. @return 0 and *id, or -errno. */
int dmd_bk_space_alloc(struct dmd_bk *bk, uint32_t *id);

/** Destroy a space (logs a refusal; never fails from the caller's view). */
void dmd_bk_space_destroy(struct dmd_bk *bk, uint32_t id);

/**
 * Usable IOVA ranges of a space.
 * @param nr in: capacity of @p r; out: ranges written.
 * @return 0 or -errno (-EMSGSIZE if more than the capacity).
 */
int dmd_bk_iova_ranges(struct dmd_bk *bk, uint32_t space, struct dmd_bk_range *r, uint32_t *nr);

/** Pin and map [va, va + len) at @p iova of @p space. @return 0 or -errno. */
int dmd_bk_map(struct dmd_bk *bk, uint32_t space, void *va, uint64_t len, uint64_t iova,
	       uint32_t prot);

/** Copy [iova, iova + len) of @p src into @p dst at the same IOVA. @return 0 or -errno. */
int dmd_bk_copy(struct dmd_bk *bk, uint32_t dst, uint32_t src, uint64_t iova, uint64_t len,
		uint32_t prot);

/** Unmap exactly [iova, iova + len) of @p space. @return 0 or -errno (logged). */
int dmd_bk_unmap(struct dmd_bk *bk, uint32_t space, uint64_t iova, uint64_t len);

struct dmd_bk_dev;

/**
 * Give a device to a space: open the VFIO device at @p bdf (full form, see
 * dmd_config_parse_bdf()), attach it to @p space, and clear BUS_MASTER in its
 * PCI command register through the VFIO config region: it is set only while
 * a session holds a claim (dmd_bk_device_restart()). The device fd stays
 * inside the daemon.
 * Refused (-EPERM) when the backend's allow_unsafe_interrupts module
 * parameter is set: interrupt isolation could not be trusted (bk.c).
 * @return 0 and *out; -ENODEV no such device (or not bound to vfio-pci);
 * -EINVAL already open; -EPERM unsafe interrupts allowed; -ENOMEM; the
 * -errno of attach or of the config-space access. Everything done is undone
 * on failure; every failure is logged.
 */
int dmd_bk_device_open(struct dmd_bk *bk, const char *bdf, uint32_t space, struct dmd_bk_dev **out);

/**
 * Take a device back: clear BUS_MASTER, detach (DMA blocked), close. NULL is a
 * no-op. Never fails (failures of each step are logged, the next step runs).
 */
void dmd_bk_device_close(struct dmd_bk *bk, struct dmd_bk_dev *dev);

/**
 * Move a device to another space (reload): interrupts off, bus master off,
 * then the backend's replace (iommufd: atomic; type1: detach + attach, DMA
 * blocked in between). Bus master stays off.
 * @return 0, or the -errno of the replace (logged; the device is then back
 * in its old space, per the backend's contract).
 */
int dmd_bk_device_move(struct dmd_bk *bk, struct dmd_bk_dev *dev, uint32_t space);

/** PCI address of a device (full form). */
const char *dmd_bk_device_bdf(const struct dmd_bk_dev *dev);

/** BAR flags of struct dmd_bk_dev_info (same values as DMAC_PROTO_BAR_*). */
#define DMD_BAR_MEM	 0x01u
#define DMD_BAR_IO	 0x02u
#define DMD_BAR_64	 0x04u
#define DMD_BAR_PREFETCH 0x08u
#define DMD_BAR_MMAP	 0x10u
/** Interrupt kinds (same values as DMAC_PROTO_IRQ_*). */
#define DMD_IRQ_NONE 0u
#define DMD_IRQ_INTX 1u
#define DMD_IRQ_MSI  2u
#define DMD_IRQ_MSIX 3u
#define DMD_NUM_BARS 6u

/** What a tenant gets for one device (dmd_bk_device_export()). */
struct dmd_bk_dev_info {
	char bdf[32]; /**< full form "DDDD:BB:DD.F" */
	uint16_t vendor_id, device_id;
	int32_t numa_node; /**< -1 unknown */
	uint32_t irq_type; /**< DMD_IRQ_* */
	uint32_t nirqs;
	int irq_fds[16]; /**< nirqs eventfds */
	struct {
		uint64_t size;
		uint32_t flags; /**< DMD_BAR_* */
		int fd;		/**< with DMD_BAR_MMAP: sysfs resourceN, O_RDWR; else -1 */
	} bars[DMD_NUM_BARS];
	int device_fd; /**< trusted: a dup of the VFIO device fd; else -1 */
};

/**
 * Prepare a device for a tenant: read its identity and BARs from sysfs
 * (vendor, device, numa_node, resource), open each memory BAR's resourceN
 * O_RDWR, wire up to @p max_fds minus the BAR fds (minus one when @p
 * trusted) interrupt eventfds with VFIO_DEVICE_SET_IRQS (MSI-X, else MSI,
 * else INTx; none is logged, not an error) and, when @p trusted, dup the
 * VFIO device fd.
 * @return 0 and *info (the caller owns every fd in it); -ENODEV sysfs
 * unreadable; -EMFILE/-ENFILE; -ENOMEM. On failure every fd opened is closed
 * and the interrupts are disabled again.
 */
int dmd_bk_device_export(struct dmd_bk *bk, struct dmd_bk_dev *dev, bool trusted,
			 unsigned int max_fds, struct dmd_bk_dev_info *info);

/**
 * Stop a device's DMA before anything of its tenant is unmapped: clear
 * BUS_MASTER, reset it when VFIO reports VFIO_DEVICE_FLAGS_RESET, disable the
 * interrupts wired by dmd_bk_device_export(). Never fails (each step's failure
 * is logged and the next runs). The device stays attached to its space.
 */
void dmd_bk_device_stop(struct dmd_bk *bk, struct dmd_bk_dev *dev);

/** Set BUS_MASTER (a claim starts). @return 0 or -errno (logged). */
int dmd_bk_device_restart(struct dmd_bk *bk, struct dmd_bk_dev *dev);

/**
 * Whether the device's memory BAR files (sysfs resourceN) are free: no open
 * file description of any of them has write access anywhere in the system
 * (an fd, a mapping, an inherited or in-flight fd). Decided by the kernel
 * through a read lease (see bk.c).
 * @return 0 free; -EBUSY held (logged with the BAR), or not provable (leases
 * unavailable: logged; fail closed); -ENODEV sysfs unreadable; -EMFILE/-ENFILE.
 */
int dmd_bk_device_bars_free(struct dmd_bk *bk, struct dmd_bk_dev *dev);

#endif /* DMD_BK_H */
