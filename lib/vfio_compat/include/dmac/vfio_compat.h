/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Extras of the VFIO type1 backend (lib/vfio_compat) beyond the common ops
 * table (include/dmac/backend.h, dmac_vfio_compat_ops).
 *
 * Invariants: a type1 space is one VFIO container; it is "live" while at
 * least one group is set to it (the kernel holds its mappings) and "dormant"
 * otherwise (mappings are bookkeeping only and are replayed with
 * VFIO_IOMMU_MAP_DMA when the first group joins). See docs/backends.md.
 */
#ifndef DMAC_VFIO_COMPAT_H
#define DMAC_VFIO_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dmac_backend;

/** State of one type1 space (dmac_vfio_compat_space_info()). */
struct dmac_vfio_space_info {
	int container_fd;   /**< the container fd (borrowed) */
	int live;	    /**< 1 if a group is in the container */
	uint32_t nr_groups; /**< groups set to the container */
	uint32_t nr_maps;   /**< bookkept mappings (= kernel DMA entries if live) */
	/** VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL read now from the kernel; UINT32_MAX
	 * if the space is dormant or the kernel lacks the capability. */
	uint32_t dma_avail;
	uint64_t iova_pgsizes; /**< VFIO_IOMMU_GET_INFO iova_pgsizes (0 if dormant) */
};

/**
 * Describe a space of a type1 instance; dma_avail and iova_pgsizes are read
 * from the kernel (VFIO_IOMMU_GET_INFO) at the time of the call.
 * @param be an instance opened through dmac_vfio_compat_ops (any other
 * backend's handle is undefined behaviour).
 * @return 0; -ENOENT no such space; -EINVAL NULL argument; -ENOMEM or the
 * kernel's errno if GET_INFO fails (logged).
 * Concurrency: any thread (takes the instance lock); the container fd is
 * borrowed and valid until the space is destroyed.
 */
DMAC_EXPORT int dmac_vfio_compat_space_info(struct dmac_backend *be, uint32_t space_id,
					    struct dmac_vfio_space_info *info);

/** Answers of VFIO_CHECK_EXTENSION for the container-type decision. */
typedef int (*dmac_vfio_ext_fn)(void *arg, int extension);

/**
 * Internal (exposed for tests): decide which container type to use from the
 * kernel's VFIO_CHECK_EXTENSION answers (@p ext returns > 0 if supported).
 * @return VFIO_TYPE1v2_IOMMU (3) when available; otherwise -EOPNOTSUPP with
 * the reason in @p why (no-IOMMU, sPAPR TCE, type1 v1 only, nesting only, or
 * nothing at all). Also writes a reason on success (e.g. no-IOMMU mode is
 * enabled but ignored). Concurrency: any thread; no state.
 */
int dmac__vfio_choose_iommu(dmac_vfio_ext_fn ext, void *arg, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_VFIO_COMPAT_H */
