/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * iommufd-specific extras of the iommufd backend (the common interface is
 * include/dmac/backend.h, table dmac_iommufd_backend_ops).
 *
 * Invariants: a struct dmac_backend passed here must come from
 * dmac_iommufd_backend_ops.open(); the values returned are kernel object ids
 * and fds owned by the backend (borrowed, never closed or destroyed by the
 * caller).
 */
#ifndef DMAC_IOMMUFD_BACKEND_H
#define DMAC_IOMMUFD_BACKEND_H

#include <stdint.h>

#include "dmac/backend.h"

/**
 * The /dev/iommu fd of an iommufd backend instance (borrowed; valid until
 * close()). For test-only ioctls (IOMMU_TEST_CMD) and diagnostics. Never
 * hand it to a tenant (docs/security.md). Never fails.
 * Concurrency: any thread while the instance is open.
 */
DMAC_EXPORT int dmac_iommufd_backend_fd(const struct dmac_backend *be);

/**
 * The iommufd device id returned by VFIO_DEVICE_BIND_IOMMUFD for @p dev.
 * Never fails. Concurrency: any thread while the device is open.
 */
DMAC_EXPORT uint32_t dmac_iommufd_device_id(const struct dmac_device *dev);

/**
 * The page-table id the kernel reported at the last attach/replace (the IOAS
 * id itself or the id of the hw_pagetable it created for it); 0 if detached.
 * Concurrency: serialized with the device's attach/replace/detach.
 */
DMAC_EXPORT uint32_t dmac_iommufd_device_hwpt(const struct dmac_device *dev);

#endif /* DMAC_IOMMUFD_BACKEND_H */
