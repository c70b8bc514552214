/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Umbrella header of lib/iova_cache: the RCU interval map, the IOVA
 * allocator, the master mapping cache and the lease table.
 *
 * Invariants: this header declares nothing itself; each module header states
 * its own invariants and concurrency contract. lib/iova_cache makes no system
 * call other than memory allocation and getrandom().
 */
#ifndef DMAC_IOVA_CACHE_H
#define DMAC_IOVA_CACHE_H

#include "dmac/imap.h"
#include "dmac/iova_alloc.h"
#include "dmac/cache.h"
#include "dmac/lease.h"

#endif /* DMAC_IOVA_CACHE_H */
