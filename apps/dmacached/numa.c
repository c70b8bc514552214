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

int dmd_numa_node_of(const void *va, size_t len)
{
	hwloc_nodeset_t set;
	int node = -1;

	if (!topo)
		return -1;
	set = hwloc_bitmap_alloc();
	if (!set)
		return -1;
	if (!hwloc_get_area_memlocation(topo, va, len, set, HWLOC_MEMBIND_BYNODESET) &&
	    hwloc_bitmap_weight(set) == 1) {
		hwloc_obj_t obj =
		    hwloc_get_numanode_obj_by_os_index(topo, (unsigned int)hwloc_bitmap_first(set));

		if (obj)
			node = (int)obj->logical_index;
	}
	hwloc_bitmap_free(set);
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
