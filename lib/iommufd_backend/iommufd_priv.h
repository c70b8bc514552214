/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private definitions of the iommufd backend: instance and device structures,
 * uapi fallbacks for ioctls newer than the headers, shared helpers.
 *
 * Invariants:
 * - be->fd is the /dev/iommu fd for the whole life of the instance.
 * - be->devices is a doubly linked list of every open device, protected by
 *   be->lock; a device is on it from device_open() success to device_close().
 * - dev->space is the IOAS the device is attached to (0 = detached/blocked);
 *   it changes only on a successful ATTACH/DETACH ioctl.
 * - Ranges in log messages are printed [start, last] with 'last' inclusive.
 */
#ifndef DMAC_IOMMUFD_PRIV_H
#define DMAC_IOMMUFD_PRIV_H

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdint.h>

#include "dmac/backend.h"
#include "dmac/iommufd_backend.h"

/*
 * IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_CHANGE_PROCESS arrived in Linux 6.13;
 * 6.12 headers lack them. The layouts below are the uapi facts (command
 * numbers 0x8f and 0x92 of IOMMUFD_TYPE); the kernel answers ENOTTY when it
 * does not know the command, which feature detection turns into "absent".
 */
struct dmac__iommu_ioas_map_file {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	int32_t fd;
	uint64_t start;
	uint64_t length;
	uint64_t iova;
};
struct dmac__iommu_ioas_change_process {
	uint32_t size;
	uint32_t __reserved;
};
#define DMAC__IOMMUFD_CMD_IOAS_MAP_FILE	      0x8f
#define DMAC__IOMMUFD_CMD_IOAS_CHANGE_PROCESS 0x92
#define DMAC__IOMMU_IOAS_MAP_FILE	      _IO(IOMMUFD_TYPE, DMAC__IOMMUFD_CMD_IOAS_MAP_FILE)
#define DMAC__IOMMU_IOAS_CHANGE_PROCESS	      _IO(IOMMUFD_TYPE, DMAC__IOMMUFD_CMD_IOAS_CHANGE_PROCESS)

#define DMAC__PATH_MAX 256

struct dmac_device {
	struct dmac_device *prev, *next;
	int fd;		 /* /dev/vfio/devices/vfioN */
	uint32_t dev_id; /* from VFIO_DEVICE_BIND_IOMMUFD */
	uint32_t space;	 /* attached IOAS, 0 if detached */
	uint32_t hwpt;	 /* pt_id the kernel returned at attach */
	char bdf[16];	 /* canonical DDDD:BB:DD.F */
	char cdev[DMAC__PATH_MAX];
};

struct dmac_backend {
	int fd;
	uint64_t features;
	pthread_mutex_t lock; /* protects devices */
	struct dmac_device *devices;
	char sysfs_root[DMAC__PATH_MAX];
	char dev_root[DMAC__PATH_MAX];
};

/* Log a failed ioctl: "<call>(<object>): <ERRNAME> (<n>): <meaning>". The
 * object/range text is printf-formatted. Returns -err for tail calls. */
int dmac__iofd_fail(const char *call, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* iommufd meaning of an errno for a given call (call may be NULL). */
const char *dmac__iofd_meaning(const char *call, int err);

/* Device operations (iommufd_device.c). */
int dmac__iofd_device_open(struct dmac_backend *be, const char *bdf, struct dmac_device **out);
void dmac__iofd_device_close(struct dmac_backend *be, struct dmac_device *dev);
int dmac__iofd_device_attach(struct dmac_backend *be, struct dmac_device *dev, uint32_t space);
int dmac__iofd_device_replace(struct dmac_backend *be, struct dmac_device *dev, uint32_t space);
int dmac__iofd_device_detach(struct dmac_backend *be, struct dmac_device *dev);
int dmac__iofd_device_hw_info(struct dmac_backend *be, struct dmac_device *dev,
			      struct dmac_hw_info *info);
int dmac__iofd_device_fd(const struct dmac_device *dev);
uint32_t dmac__iofd_device_space(const struct dmac_device *dev);

/* Parse "DDDD:BB:DD.F" or "BB:DD.F" into canonical lower-case DDDD:BB:DD.F.
 * Returns 0 or -EINVAL. */
int dmac__iofd_parse_bdf(const char *in, char out[16]);

#endif /* DMAC_IOMMUFD_PRIV_H */
