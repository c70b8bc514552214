/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NUMA locality through hwloc: which node holds a registered range, and
 * binding the event-loop thread to the node of the master memory.
 *
 * Invariants: without a topology (hwloc failed, or not built with hwloc) every
 * query answers "unknown" (-1) and binding is a no-op; on a machine with one
 * NUMA node binding is a no-op too.
 * Concurrency: event-loop thread only.
 */
#ifndef DMD_NUMA_H
#define DMD_NUMA_H

#include <stddef.h>

/** Load the topology (non-fatal: failures are logged). */
void dmd_numa_init(void);
/** Free the topology. Never fails. */
void dmd_numa_fini(void);
/** Number of NUMA nodes (>= 1). */
int dmd_numa_nodes(void);
/**
 * Logical index of the node holding [va, va + len), or -1 (unknown or
 * spread), judged from at most 16 pages spread over the range (first and
 * last included): the kernel answers page by page.
 */
int dmd_numa_node_of(const void *va, size_t len);
/** Bind the calling thread to the CPUs of node @p node (logged; no-op on 1 node). */
void dmd_numa_bind(int node);

#endif /* DMD_NUMA_H */
