/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Allocation wrappers used by every dmacache library, with a fault-injection
 * hook for tests.
 *
 * All allocations of lib/iova_cache (and of the layers above it) go through
 * dmac__malloc() / dmac__calloc() / dmac__realloc() / dmac__free(), so a test can
 * make the Nth allocation fail and check that the caller unwinds completely.
 *
 * Concurrency: the fault counter is a process-wide atomic. Arming it while other
 * threads allocate is allowed; which allocation fails is then unspecified.
 */
#ifndef DMAC_ALLOC_H
#define DMAC_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *dmac__malloc(size_t size);
void *dmac__calloc(size_t nmemb, size_t size);
void *dmac__realloc(void *ptr, size_t size);
void *dmac__aligned_alloc(size_t alignment, size_t size);
void dmac__free(void *ptr);

/*
 * Make the nth allocation from now fail (n >= 1); n == 0 disarms the hook.
 * Only that one allocation fails; later ones succeed again.
 */
void dmac__fault_alloc_arm(uint64_t n);
/* True once the armed allocation has been failed since the last arm. */
int dmac__fault_alloc_fired(void);
/* Number of allocations made through the wrappers still outstanding. */
int64_t dmac__alloc_outstanding(void);

#endif /* DMAC_ALLOC_H */
