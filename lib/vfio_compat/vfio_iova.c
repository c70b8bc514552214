/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thin wrappers over lib/iova_cache's allocator (see vfio_iova.h for why this
 * file exists). No state of its own; every call forwards unchanged.
 */
#include <stddef.h>

#include "dmac/iova_alloc.h"
#include "vfio_iova.h"

int dmac__vfio_iova_create(const struct dmac_iova_range *r, uint32_t nr,
			   struct dmac_iova_alloc **out)
{
	return dmac_iova_alloc_create(r, nr, out);
}

void dmac__vfio_iova_destroy(struct dmac_iova_alloc *a)
{
	dmac_iova_alloc_destroy(a);
}

int dmac__vfio_iova_alloc(struct dmac_iova_alloc *a, uint64_t length, uint64_t align,
			  uint64_t *iova)
{
	return dmac_iova_alloc_alloc(a, length, align, iova);
}

int dmac__vfio_iova_reserve(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length)
{
	return dmac_iova_alloc_reserve(a, iova, length);
}

int dmac__vfio_iova_free(struct dmac_iova_alloc *a, uint64_t iova, uint64_t length)
{
	return dmac_iova_alloc_free(a, iova, length);
}
