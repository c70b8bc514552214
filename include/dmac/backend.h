/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The DMA backend interface: one ops table, filled by each backend
 * (lib/iommufd_backend over /dev/iommu, lib/vfio_compat over VFIO type1
 * containers) and chosen at run time with dmac_backend_choose().
 *
 * Invariants and conventions, valid for every backend:
 * - A "space" is an IO address space: an iommufd IOAS for the iommufd backend,
 *   a VFIO container (with its own IOMMU context) for the type1 backend. Spaces
 *   are named by a 32-bit id the backend hands out; 0 is never a valid id.
 * - IOVA ranges are {start, last} with 'last' INCLUSIVE, so a range may end at
 *   UINT64_MAX. Every (iova, length) argument has length > 0 and
 *   iova + length - 1 must not wrap; backends check this before any syscall
 *   (-EOVERFLOW) and check flags/prot for unknown bits (-EOPNOTSUPP).
 * - Every operation that can fail returns 0 or a negative errno, leaves the
 *   kernel and the backend state as they were before the call, and reports the
 *   failure through the log hook with a message naming the call, the object
 *   (space id, device BDF) and the range, plus what the errno means for that
 *   backend (dmac_backend_ops::strerror()). errnos are the kernel's own,
 *   passed through unchanged.
 * - Destroy paths (close, device_close) return void and never fail; if the
 *   kernel refuses something on such a path it is logged and the resources are
 *   released anyway.
 * - Memory handed to map() is daemon virtual memory; the caller must keep it
 *   mapped until it is unmapped from every space (the kernel pins the pages, but
 *   the VA -> page relation is only meaningful while the VA stays mapped).
 *
 * Concurrency contract (whole interface): on one open backend instance, every
 * operation may be called concurrently from any thread EXCEPT that
 *   - close() must not run concurrently with (or before the end of) any other
 *     call on that instance, and
 *   - the device operations on one struct dmac_device (attach, replace, detach,
 *     hw_info, close) must be serialized by the caller.
 * Backends that need internal state for this (e.g. type1 id tables) lock
 * internally. No operation blocks for longer than its syscalls. No callback is
 * invoked with a backend lock held except the log hook.
 *
 * Linking: the registry, the selector and the log hook live in the
 * 'backend core' library (meson: backend_core_dep, built from
 * lib/iommufd_backend/backend.c); every backend links it.
 */
#ifndef DMAC_BACKEND_H
#define DMAC_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An open backend instance (one iommufd, or one set of type1 containers). */
struct dmac_backend;
/** A VFIO device opened through a backend. */
struct dmac_device;

/* IOVA ranges are struct dmac_iova_range (dmac/common.h); 'last' is inclusive. */

/** Feature bits returned by dmac_backend_ops::features(). */
enum dmac_backend_feature {
	/** copy() shares pinned pages between spaces without pinning again. */
	DMAC_BACKEND_F_COPY = 1u << 0,
	/** unmap_all() is a single kernel call. */
	DMAC_BACKEND_F_UNMAP_ALL = 1u << 1,
	/** The per-space DMAC_BACKEND_OPT_HUGE_PAGES option is available. */
	DMAC_BACKEND_F_HUGE_PAGES = 1u << 2,
	/** The global DMAC_BACKEND_OPT_RLIMIT_MODE option is available. */
	DMAC_BACKEND_F_RLIMIT_MODE = 1u << 3,
	/** device_hw_info() reports the IOMMU hardware type. */
	DMAC_BACKEND_F_HW_INFO = 1u << 4,
	/** map_file() maps a memfd/hugetlbfs range by fd (iommufd, Linux >= 6.13). */
	DMAC_BACKEND_F_MAP_FILE = 1u << 5,
	/** change_process() moves pinning accounting to the caller (Linux >= 6.13). */
	DMAC_BACKEND_F_CHANGE_PROCESS = 1u << 6,
	/** device_replace() switches spaces without a window of blocked DMA. */
	DMAC_BACKEND_F_REPLACE = 1u << 7,
	/** Many spaces share one kernel context (iommufd: one fd, many IOAS). */
	DMAC_BACKEND_F_MULTI_SPACE = 1u << 8,
	/**
	 * copy() is emulated: the destination maps the same daemon memory again,
	 * which pins and charges it a second time and uses one kernel mapping
	 * entry per piece (VFIO type1). Never set together with F_COPY.
	 */
	DMAC_BACKEND_F_COPY_REPIN = 1u << 9,
};

/** Protection bits for map() and copy(). At least one must be set. */
enum dmac_backend_prot {
	DMAC_PROT_READ = 1u << 0,  /**< the device may read the memory */
	DMAC_PROT_WRITE = 1u << 1, /**< the device may write the memory */
};

/** Flags for map(), map_file() and copy(). */
enum dmac_backend_map_flags {
	/** Map exactly at *iova (in); otherwise the backend picks and returns it. */
	DMAC_MAP_FIXED_IOVA = 1u << 0,
};

/** Options for option_get() / option_set(). */
enum dmac_backend_option {
	/**
	 * Per space: 1 (default) lets the IOMMU use large page-table entries,
	 * 0 forces 4 KiB entries. Set it before mapping anything in the space.
	 */
	DMAC_BACKEND_OPT_HUGE_PAGES = 0,
	/**
	 * Global (space id must be 0): pinned-page accounting against
	 * RLIMIT_MEMLOCK, 0 = per user (default), 1 = per process (mm).
	 * Needs CAP_SYS_RESOURCE to set.
	 */
	DMAC_BACKEND_OPT_RLIMIT_MODE = 1,
};

/** IOMMU hardware types of dmac_hw_info::type (iommufd's values). */
enum dmac_hw_info_type {
	DMAC_HW_INFO_NONE = 0,
	DMAC_HW_INFO_INTEL_VTD = 1,
	DMAC_HW_INFO_ARM_SMMUV3 = 2,
};

/** What the IOMMU behind a device is (device_hw_info()). */
struct dmac_hw_info {
	uint32_t type;	       /**< enum dmac_hw_info_type */
	uint32_t data_len;     /**< valid bytes in data[] (type-specific raw data) */
	uint64_t capabilities; /**< iommufd IOMMU_HW_CAP_* bits */
	union {
		struct {
			uint32_t flags;
			uint64_t cap_reg;  /**< VT-d capability register */
			uint64_t ecap_reg; /**< VT-d extended capability register */
		} vtd;
		uint8_t raw[64];
	} data;
};

/** Arguments of open(). Zero-initialize; unknown future fields stay zero. */
struct dmac_backend_config {
	/** Device node to open; NULL for the default (/dev/iommu, /dev/vfio/vfio). */
	const char *path;
	/** Root of sysfs for device lookup; NULL for "/sys". */
	const char *sysfs_root;
	/** Root of device nodes for device lookup; NULL for "/dev". */
	const char *dev_root;
};

/**
 * The ops table. Every member is non-NULL in a registered table; an operation a
 * backend or the running kernel cannot do returns -EOPNOTSUPP (see features()).
 */
struct dmac_backend_ops {
	/** Short name used by DMAC_BACKEND and the config key: "iommufd", "vfio". */
	const char *name;
	/** Auto-selection order: the usable backend with the highest value wins. */
	int priority;

	/**
	 * Whether this backend can run on this host (device nodes present).
	 * Writes a one-line human reason (why yes / why not) into reason.
	 * @return 0 if usable, -ENODEV (or another -errno) if not.
	 * Concurrency: any thread, any time; touches no state.
	 */
	int (*probe)(char *reason, size_t reason_len);

	/**
	 * Open an instance and detect the running kernel's features.
	 * @param cfg may be NULL (all defaults).
	 * @return 0 and *out, or -ENOENT/-EACCES/-EPERM (device node), -ENOMEM.
	 * Concurrency: any thread; instances are independent.
	 */
	int (*open)(const struct dmac_backend_config *cfg, struct dmac_backend **out);

	/**
	 * Close the instance: closes every device still open (detaching it),
	 * destroys every space, releases all pins. Never fails. @p be may be NULL.
	 * Concurrency: no other call on @p be may be in flight or follow.
	 */
	void (*close)(struct dmac_backend *be);

	/** Feature bits (enum dmac_backend_feature) found at open(). Never fails. */
	uint64_t (*features)(const struct dmac_backend *be);

	/**
	 * Translate an errno from this backend into what it means for it, e.g.
	 * iommufd's ENOENT = "no such object id, or no area exactly at that
	 * range". Never NULL; for errnos with no special meaning, strerror().
	 * Concurrency: any thread; returns a static string.
	 */
	const char *(*strerror)(int err);

	/**
	 * Allocate an empty space. @return 0 and *space_id, or -ENOMEM, -EMFILE.
	 */
	int (*space_alloc)(struct dmac_backend *be, uint32_t *space_id);

	/**
	 * Destroy a space and every mapping in it.
	 * @return 0; -ENOENT if no such space; -EBUSY if a device is still
	 * attached to it (detach or replace first) — nothing is changed then.
	 */
	int (*space_destroy)(struct dmac_backend *be, uint32_t space_id);

	/**
	 * The IOVA ranges usable for mapping in a space (intersection of what
	 * every attached device's IOMMU allows, minus reserved regions) and the
	 * required IOVA alignment.
	 * @param ranges caller array of *nr entries (may be NULL if *nr == 0).
	 * @param nr in: capacity; out: number of ranges in the space.
	 * @param alignment out (may be NULL): required IOVA/length alignment.
	 * @return 0; -EMSGSIZE if the capacity was too small (*nr then holds the
	 * count needed, the array holds the first entries); -ENOENT no such space.
	 */
	int (*iova_ranges)(struct dmac_backend *be, uint32_t space_id,
			   struct dmac_iova_range *ranges, uint32_t *nr, uint64_t *alignment);

	/**
	 * Guarantee that these ranges stay usable in a space (iommufd
	 * ALLOW_IOVAS): backend-chosen IOVAs come only from them, and attaching a
	 * device whose reserved regions would narrow them is refused. nr == 0
	 * lifts the guarantee. Fixed-IOVA maps are not limited by it.
	 * @return 0; -EINVAL (unsorted/overlapping ranges, start > last);
	 * -EADDRINUSE (a range intersects a reserved region, e.g. the MSI
	 * window of an attached device, or the usable ranges are already
	 * narrower); -ENOENT no such space; -EOPNOTSUPP (type1).
	 */
	int (*allow_iovas)(struct dmac_backend *be, uint32_t space_id,
			   const struct dmac_iova_range *ranges, uint32_t nr);

	/**
	 * Pin and map daemon memory [va, va + length) into a space.
	 * @param prot DMAC_PROT_READ and/or DMAC_PROT_WRITE.
	 * @param flags DMAC_MAP_FIXED_IOVA or 0.
	 * @param iova in: the IOVA if FIXED; out: the IOVA used.
	 * @return 0; -EEXIST overlaps an existing mapping; -EINVAL misaligned or
	 * intersecting a reserved region (outside the usable ranges, e.g. the
	 * MSI window or outside the IOMMU aperture); -ENOSPC no free IOVA; -ENOMEM/-EPERM pin
	 * limits (RLIMIT_MEMLOCK); -EFAULT bad VA; -EOVERFLOW; -EOPNOTSUPP flags.
	 */
	int (*map)(struct dmac_backend *be, uint32_t space_id, void *va, uint64_t length,
		   uint32_t prot, uint32_t flags, uint64_t *iova);

	/**
	 * Map a range of a memory file (memfd/hugetlbfs) by fd. Only with
	 * DMAC_BACKEND_F_MAP_FILE; else -EOPNOTSUPP. Arguments as map().
	 */
	int (*map_file)(struct dmac_backend *be, uint32_t space_id, int fd, uint64_t offset,
			uint64_t length, uint32_t prot, uint32_t flags, uint64_t *iova);

	/**
	 * Make [src_iova, src_iova + length) of space src appear in space dst,
	 * sharing the pages already pinned by src (iommufd IOAS_COPY). The source
	 * range must lie within mapped areas; it may be a sub-range of one.
	 * @param dst_iova in: the IOVA if DMAC_MAP_FIXED_IOVA; out: the IOVA used.
	 * @return 0; -ENOENT source range not fully mapped or no such space;
	 * -EEXIST destination overlaps; -EOPNOTSUPP without DMAC_BACKEND_F_COPY
	 * on backends that cannot emulate it; other errors as map().
	 */
	int (*copy)(struct dmac_backend *be, uint32_t dst_space, uint32_t src_space,
		    uint64_t src_iova, uint64_t length, uint32_t prot, uint32_t flags,
		    uint64_t *dst_iova);

	/**
	 * Unmap whole mappings exactly covering [iova, iova + length). A range
	 * that would split a mapping is refused and nothing is unmapped.
	 * @param unmapped out (may be NULL): bytes unmapped.
	 * @return 0; -ENOENT no mapping at exactly that range (or split);
	 * -EOVERFLOW; -EBUSY pages in use by an in-kernel access.
	 */
	int (*unmap)(struct dmac_backend *be, uint32_t space_id, uint64_t iova, uint64_t length,
		     uint64_t *unmapped);

	/** Unmap everything in a space. @return 0 or -ENOENT (no such space). */
	int (*unmap_all)(struct dmac_backend *be, uint32_t space_id, uint64_t *unmapped);

	/**
	 * Read an option (enum dmac_backend_option). @p space_id is the space for
	 * per-space options and must be 0 for global ones.
	 * @return 0; -EOPNOTSUPP unknown option/unsupported; -ENOENT; -EINVAL.
	 */
	int (*option_get)(struct dmac_backend *be, uint32_t option, uint32_t space_id,
			  uint64_t *value);

	/**
	 * Set an option. @return as option_get(); -EINVAL value out of range,
	 * or HUGE_PAGES = 0 on a space that already has mappings and an
	 * attached device; -EPERM RLIMIT_MODE needs CAP_SYS_RESOURCE; -EBUSY
	 * RLIMIT_MODE while any space or device exists in the instance (set it
	 * right after open()).
	 */
	int (*option_set)(struct dmac_backend *be, uint32_t option, uint32_t space_id,
			  uint64_t value);

	/**
	 * Move the pinned-page accounting of every mapping of this instance to
	 * the calling process (live restart). Only with
	 * DMAC_BACKEND_F_CHANGE_PROCESS; else -EOPNOTSUPP.
	 */
	int (*change_process)(struct dmac_backend *be);

	/**
	 * Open the VFIO device at PCI address @p bdf ("0000:00:04.0"; a short
	 * "00:04.0" gets domain 0000) and bind it to the instance. The device is
	 * not attached to any space yet (no DMA possible).
	 * @return 0 and *out; -ENODEV no such PCI device, not bound to
	 * vfio-pci, or no cdev; -EINVAL malformed BDF, or the device is already
	 * open and bound through another fd (iommufd: a cdev is bound once at a
	 * time; type1 may say -EBUSY); -EACCES/-EPERM; -ENOMEM.
	 */
	int (*device_open)(struct dmac_backend *be, const char *bdf, struct dmac_device **out);

	/**
	 * Detach (DMA blocked) and close a device. Never fails. @p dev may be NULL.
	 */
	void (*device_close)(struct dmac_backend *be, struct dmac_device *dev);

	/** Attach a detached device to a space. @return 0; -EBUSY already
	 * attached (use replace); -ENOENT no such space; -EINVAL/-EPERM the
	 * IOMMU refuses (e.g. incompatible reserved regions). */
	int (*device_attach)(struct dmac_backend *be, struct dmac_device *dev, uint32_t space_id);

	/**
	 * Move an attached device to another space. With DMAC_BACKEND_F_REPLACE
	 * the switch is atomic (iommufd: DMA goes to the old space, then the new
	 * one, never elsewhere). Without it (type1) the backend detaches and then
	 * attaches: DMA is blocked in between, never sent to a third space, and
	 * device state may be reset; on failure the device is back in its old
	 * space. @return 0; -ENOENT no such space; errors of attach.
	 */
	int (*device_replace)(struct dmac_backend *be, struct dmac_device *dev, uint32_t space_id);

	/** Detach a device: its DMA is blocked afterwards. @return 0 or -EINVAL
	 * (not attached). */
	int (*device_detach)(struct dmac_backend *be, struct dmac_device *dev);

	/** IOMMU hardware info of a device. @return 0; -EOPNOTSUPP without
	 * DMAC_BACKEND_F_HW_INFO. */
	int (*device_hw_info)(struct dmac_backend *be, struct dmac_device *dev,
			      struct dmac_hw_info *info);

	/**
	 * The VFIO device fd (borrowed: valid until device_close(); never close
	 * it). For VFIO_DEVICE_SET_IRQS, region access, and trusted-mode hand-
	 * over (docs/security.md: a device fd can re-attach its device to any
	 * space of an iommufd backend). Never fails.
	 */
	int (*device_fd)(const struct dmac_device *dev);

	/** The space the device is attached to, 0 if detached. Never fails. */
	uint32_t (*device_space)(const struct dmac_device *dev);
};

/** The iommufd backend (lib/iommufd_backend, meson iommufd_backend_dep). */
extern const struct dmac_backend_ops dmac_iommufd_backend_ops;
/** The VFIO type1 backend (lib/vfio_compat, meson vfio_compat_dep). */
extern const struct dmac_backend_ops dmac_vfio_compat_ops;

/* ---- registry and selection -------------------------------------------- */

/** Maximum number of registered backends. */
#define DMAC_BACKEND_MAX 8

/**
 * Register a backend for dmac_backend_choose(). The application registers each
 * backend it links (e.g. dmac_backend_register(&dmac_iommufd_backend_ops)).
 * Registering the same table twice is a no-op.
 * @return 0; -EINVAL (NULL, nameless, or a member NULL); -EEXIST (another
 * table with the same name); -ENOSPC (DMAC_BACKEND_MAX reached).
 * Concurrency: thread-safe (internal mutex); tables must stay valid forever.
 */
DMAC_EXPORT int dmac_backend_register(const struct dmac_backend_ops *ops);

/**
 * Pick the backend to use.
 *
 * Order: @p force (the config key 'backend') if non-NULL, non-empty and not
 * "auto"; else the environment variable DMAC_BACKEND if set, non-empty and not
 * "auto"; else automatic: the registered backend with the highest priority
 * whose probe() succeeds (iommufd when /dev/iommu and /dev/vfio/devices exist,
 * else VFIO type1). The decision and its reason are logged at INFO level and
 * copied into @p reason.
 *
 * @param force "iommufd", "vfio", "auto" or NULL.
 * @param out the chosen ops table.
 * @param reason buffer for the human-readable reason (may be NULL).
 * @return 0; -EINVAL unknown forced name (no such registered backend);
 * -ENODEV forced backend not usable here, or nothing usable (the reason and
 * the log say why for every registered backend).
 * Concurrency: thread-safe; reads the environment (do not setenv() in
 * parallel).
 */
DMAC_EXPORT int dmac_backend_choose(const char *force, const struct dmac_backend_ops **out,
				    char *reason, size_t reason_len);

/**
 * Look a registered backend up by name. @return the table or NULL.
 * Concurrency: thread-safe.
 */
DMAC_EXPORT const struct dmac_backend_ops *dmac_backend_find(const char *name);

/* ---- logging ------------------------------------------------------------ */

/** Log levels, most severe first. */
enum dmac_log_level {
	DMAC_LOG_ERR = 0,
	DMAC_LOG_WARN = 1,
	DMAC_LOG_INFO = 2,
	DMAC_LOG_DEBUG = 3,
};

/**
 * A log sink: receives one complete message (no trailing newline).
 * Called from the thread that failed, possibly concurrently; must not call
 * back into the backend.
 */
typedef void (*dmac_log_fn)(enum dmac_log_level level, const char *msg, void *arg);

/**
 * Install the process-wide log sink for all backends; fn == NULL restores the
 * default (stderr, "dmacache: <level>: <msg>\n", levels up to max_level).
 * @param max_level messages less severe than this are dropped before
 * formatting.
 * Concurrency: thread-safe (atomic swap); a message being logged concurrently
 * may still go to the previous sink, so keep the previous @p arg valid until
 * no call can be in flight.
 */
DMAC_EXPORT void dmac_backend_set_log(dmac_log_fn fn, void *arg, enum dmac_log_level max_level);

/**
 * Format and emit one message through the current sink. Used by backends;
 * available to applications. Preserves errno.
 * Concurrency: any thread.
 */
DMAC_EXPORT void dmac_backend_log(enum dmac_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** va_list form of dmac_backend_log(). */
DMAC_EXPORT void dmac_backend_vlog(enum dmac_log_level level, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_BACKEND_H */
