/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Glue between the type1 backend and lib/iova_cache's IOVA allocator.
 * <dmac/iova_alloc.h> and <dmac/backend.h> both define struct
 * dmac_iova_range (same tag, same members: compatible types across
 * translation units, but a redefinition inside one), so only vfio_iova.c
 * includes the allocator header. Ranges are inclusive [start, last].
 * Concurrency: the caller serializes calls on one allocator (be->lock).
 */
#ifndef DMAC_VFIO_IOVA_H
#define DMAC_VFIO_IOVA_H

#include <stdint.h>

struct dmac_iova_range;
struct dmac_iova_alloc;

/* 0, -EINVAL (no whole page in any range), -ENOMEM. */
int dmac__vfio_iova_create(const struct dmac_iova_range *r, uint32_t nr,
			   struct dmac_iova_alloc **out);
void dmac__vfio_iova_destroy(struct dmac_iova_alloc *a);
/* 0, -EINVAL, -ENOSPC, -ENOMEM. */
int dmac__vfio_iova_alloc(struct dmac_iova_alloc *a, uint64_t length, uint64_t align,
			  uint64_t *iova);
/* 0, -EINVAL, -ENOSPC (outside the ranges), -EEXIST, -ENOMEM. */
int dmac__vfio_iova_reserve(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length);
/* 0 or -ENOENT. */
int dmac__vfio_iova_free(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length);

#endif /* DMAC_VFIO_IOVA_H */
