/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NUMA locality (see numa.h), through hwloc.
 *
 * Invariants: 'topo' is NULL or a loaded topology; 'bound_node' is the node
 * the thread was bound to, or -1 (binding happens at most once).
 * Concurrency: event-loop thread only.
 */
#include <hwloc.h>

#include "log.h"
#include "numa.h"

static hwloc_topology_t topo;
static int bound_node = -1;

void dmd_numa_init(void)
{
	if (hwloc_topology_init(&topo)) {
		topo = NULL;
		dmd_warn("hwloc: cannot initialize a topology; NUMA reporting off");
		return;
	}
	if (hwloc_topology_load(topo)) {
		hwloc_topology_destroy(topo);
		topo = NULL;
		dmd_warn("hwloc: cannot load the topology; NUMA reporting off");
		return;
	}
	dmd_info("hwloc: %d NUMA node(s)", dmd_numa_nodes());
}

void dmd_numa_fini(void)
{
	if (topo)
		hwloc_topology_destroy(topo);
	topo = NULL;
}

int dmd_numa_nodes(void)
{
	int n;

	if (!topo)
		return 1;
	n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	return n > 0 ? n : 1;
}

/* Pages asked about per area: the kernel answers page by page (move_pages),
 * so asking about a whole 1 GiB area of 4 KiB pages was 262,144 lookups. */
#define DMD__NUMA_SAMPLES 16

int dmd_numa_node_of(const void *va, size_t len)
{
	const size_t page = 4096;
	size_t pages = len / page, step;
	hwloc_nodeset_t set, all;
	int node = -1;

	if (!topo || !pages)
		return -1;
	set = hwloc_bitmap_alloc();
	all = hwloc_bitmap_alloc();
	if (!set || !all)
		goto out_free;
	/* up to DMD__NUMA_SAMPLES pages spread over the area, first and last
	 * included: one node for all of them, or unknown */
	step = pages > DMD__NUMA_SAMPLES ? (pages - 1) / (DMD__NUMA_SAMPLES - 1) : 1;
	for (size_t i = 0; i < pages; i += step) {
		const char *p = (const char *)va + (i + step >= pages ? pages - 1 : i) * page;

		if (hwloc_get_area_memlocation(topo, p, page, set, HWLOC_MEMBIND_BYNODESET))
			goto out_free;
		hwloc_bitmap_or(all, all, set);
		if (i + step >= pages)
			break;
	}
	if (hwloc_bitmap_weight(all) == 1) {
		hwloc_obj_t obj =
		    hwloc_get_numanode_obj_by_os_index(topo, (unsigned int)hwloc_bitmap_first(all));

		if (obj)
			node = (int)obj->logical_index;
	}
out_free:
	hwloc_bitmap_free(set);
	hwloc_bitmap_free(all);
	return node;
}

void dmd_numa_bind(int node)
{
	hwloc_obj_t obj;

	if (!topo || node < 0 || bound_node >= 0)
		return;
	if (dmd_numa_nodes() <= 1) {
		bound_node = node;
		dmd_debug("hwloc: one NUMA node, thread binding is a no-op");
		return;
	}
	obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned int)node);
	if (!obj || hwloc_set_cpubind(topo, obj->cpuset, HWLOC_CPUBIND_THREAD)) {
		dmd_warn("hwloc: cannot bind the event-loop thread to NUMA node %d", node);
		return;
	}
	bound_node = node;
	dmd_info("hwloc: event-loop thread bound to NUMA node %d (master memory)", node);
}
