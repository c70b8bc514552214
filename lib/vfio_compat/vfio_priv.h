/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private definitions of the VFIO type1 backend (lib/vfio_compat).
 *
 * Invariants:
 * - be->lock protects every field of the instance, its spaces, their
 *   bookkeeping and its groups/devices; every ops entry point takes it for its
 *   whole duration (ioctls included), so the kernel state and the bookkeeping
 *   change together. The log hook is the only callback made under it.
 * - A space is one /dev/vfio/vfio container. It is LIVE (sp->live) exactly
 *   when at least one group is set to its container, which is exactly when
 *   VFIO_SET_IOMMU has been done on it: the kernel drops the IOMMU context and
 *   every mapping when the last group leaves. A DORMANT space (no group, e.g.
 *   the daemon's master space) keeps its mappings as bookkeeping only.
 * - sp->maps[0..nr_maps) is sorted by iova, entries are disjoint; each entry
 *   is one VFIO_IOMMU_MAP_DMA of a live space (one kernel DMA entry) or a
 *   mapping to replay in a dormant one. Lengths are exclusive byte counts;
 *   'last' values are inclusive.
 * - sp->iova is the IOVA allocator over the space's usable ranges; every
 *   entry of sp->maps is allocated (reserved) in it.
 * - A group is on be->groups from the first device_open() of one of its
 *   devices to the last device_close(); g->space is the space whose container
 *   the group is set to (0 = none); g->nr_attached counts its devices that
 *   are attached (g->space != 0 iff g->nr_attached > 0).
 * - dev->fd keeps the same number from device_open() to device_close(): it is
 *   the VFIO device fd while attached and a /dev/null placeholder while
 *   detached (type1 can only hand out a device fd for a group that is in a
 *   container with an IOMMU, and a group can leave its container only when
 *   no device fd is open).
 */
#ifndef DMAC_VFIO_PRIV_H
#define DMAC_VFIO_PRIV_H

#include <linux/vfio.h>
#include <pthread.h>
#include <stdint.h>

#include "dmac/backend.h"
#include "dmac/vfio_compat.h"

#define DMAC__VPATH_MAX 256

/* Container types a kernel may offer (the uapi numbers; some are missing from
 * newer headers because the kernel retired them). */
#define DMAC__VFIO_TYPE1	 1
#define DMAC__VFIO_SPAPR_TCE	 2
#define DMAC__VFIO_TYPE1v2	 3
#define DMAC__VFIO_TYPE1_NESTING 6
#define DMAC__VFIO_SPAPR_TCE_v2	 7
#define DMAC__VFIO_NOIOMMU	 8
#define DMAC__VFIO_UNMAP_ALL	 9

/* One bookkept mapping. */
struct dmac__vmap {
	uint64_t iova;
	uint64_t length;
	uint64_t va;
	uint32_t prot; /* DMAC_PROT_* */
};

struct dmac__vspace {
	uint32_t id;
	int fd;	  /* container fd (/dev/vfio/vfio) */
	int live; /* a group is in the container and the IOMMU is set */
	uint32_t nr_groups;
	struct dmac__vmap *maps;
	uint32_t nr_maps, cap_maps;
	struct dmac_iova_alloc *iova;
	struct dmac_iova_range *ranges; /* usable ranges (live: from the kernel) */
	uint32_t nr_ranges;
	uint64_t align;
};

struct dmac__vgroup {
	struct dmac__vgroup *next;
	int fd; /* /dev/vfio/<n> */
	unsigned int num;
	uint32_t space;
	uint32_t nr_open, nr_attached;
};

struct dmac_device {
	struct dmac_device *next;
	struct dmac__vgroup *group;
	int fd;		/* device fd, or the /dev/null placeholder when detached */
	uint32_t space; /* attached space, 0 if detached */
	char bdf[16];
};

struct dmac_backend {
	pthread_mutex_t lock;
	char path[DMAC__VPATH_MAX];
	char sysfs_root[DMAC__VPATH_MAX];
	char dev_root[DMAC__VPATH_MAX];
	int probe_fd; /* a container fd kept for CHECK_EXTENSION */
	uint64_t features;
	struct dmac__vspace **spaces; /* spaces[id - 1], NULL if free */
	uint32_t nr_spaces;
	struct dmac__vgroup *groups;
	struct dmac_device *devices;
	/* Usable ranges learned from the last live container (or defaults). */
	struct dmac_iova_range *known;
	uint32_t nr_known;
	uint64_t known_align;
};

/* ---- errors (vfio_compat.c) ---- */
const char *dmac__vfio_meaning(const char *call, int err);
int dmac__vfio_fail(const char *call, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- spaces (vfio_compat.c), called by vfio_device.c under be->lock ---- */
struct dmac__vspace *dmac__vfio_space(struct dmac_backend *be, uint32_t id);
/* The group just joined sp's container as its first group: set the IOMMU,
 * read the ranges, replay the bookkeeping. On failure the caller unsets the
 * container (which drops whatever was replayed). */
int dmac__vfio_space_go_live(struct dmac_backend *be, struct dmac__vspace *sp, const char *who);
/* Re-read the kernel's ranges/page sizes and rebuild the allocator (e.g. a
 * second group narrowed them). 0 or -errno (old state kept). */
int dmac__vfio_space_refresh(struct dmac_backend *be, struct dmac__vspace *sp, const char *who);
/* The last group left sp's container: the kernel dropped every mapping. */
void dmac__vfio_space_go_dormant(struct dmac_backend *be, struct dmac__vspace *sp);

/* ---- devices (vfio_device.c) ---- */
int dmac__vfio_parse_bdf(const char *in, char out[16]);
int dmac__vfio_device_open(struct dmac_backend *be, const char *bdf, struct dmac_device **out);
void dmac__vfio_device_close(struct dmac_backend *be, struct dmac_device *dev);
void dmac__vfio_device_close_locked(struct dmac_backend *be, struct dmac_device *dev);
int dmac__vfio_device_attach(struct dmac_backend *be, struct dmac_device *dev, uint32_t space);
int dmac__vfio_device_replace(struct dmac_backend *be, struct dmac_device *dev, uint32_t space);
int dmac__vfio_device_detach(struct dmac_backend *be, struct dmac_device *dev);
int dmac__vfio_device_hw_info(struct dmac_backend *be, struct dmac_device *dev,
			      struct dmac_hw_info *info);
int dmac__vfio_device_fd(const struct dmac_device *dev);
uint32_t dmac__vfio_device_space(const struct dmac_device *dev);

#include "vfio_iova.h"

#endif /* DMAC_VFIO_PRIV_H */
