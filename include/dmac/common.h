/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Definitions shared by every dmacache library: symbol export, branch hints.
 *
 * Every library is built with -fvisibility=hidden; only functions marked
 * DMAC_EXPORT are part of a shared object's ABI.
 */
#ifndef DMAC_COMMON_H
#define DMAC_COMMON_H

#define DMAC_EXPORT __attribute__((visibility("default")))

#include <stdint.h>

/**
 * An IOVA range, inclusive on both ends (the IOMMU_IOAS_IOVA_RANGES format), so
 * a range may end at UINT64_MAX. Shared by lib/iova_cache and the backends.
 */
struct dmac_iova_range {
	uint64_t start;
	uint64_t last;
};

#define dmac_likely(x)	 __builtin_expect(!!(x), 1)
#define dmac_unlikely(x) __builtin_expect(!!(x), 0)

#endif /* DMAC_COMMON_H */
