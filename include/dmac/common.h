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

#define dmac_likely(x)	 __builtin_expect(!!(x), 1)
#define dmac_unlikely(x) __builtin_expect(!!(x), 0)

#endif /* DMAC_COMMON_H */
