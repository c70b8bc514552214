/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The same backend test against both backends (vm suite).
 *
 *   backend_test iommufd|vfio
 *
 * The argument is the backend the run-time selector must pick from the
 * environment: meson runs it once without DMAC_BACKEND (the default choice in
 * the guest must be iommufd) and once with DMAC_BACKEND=vfio (forced type1).
 * Everything after the selection checks runs against the chosen backend
 * through the ops table only, plus type1 extras (DMA entry accounting, the
 * replay of a dormant space) through <dmac/vfio_compat.h>.
 *
 * Invariants: runs as root in the vmrun guest with the emulated NVMe bound to
 * vfio-pci (DMAC_VM_NVME_BDF) and 2 MiB hugepages on DMAC_VM_HUGETLBFS; every
 * step checks a result the kernel could get wrong; nothing is skipped.
 */
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "nvme_admin.h"
#include "dmac/backend.h"
#include "dmac/vfio_compat.h"
#include "dmac_alloc.h"

#define SZ_64K 0x10000ULL
#define SZ_2M  0x200000ULL

static const struct dmac_backend_ops *ops;
static struct dmac_backend *be;
static int is_vfio;
static uint32_t dma_limit;

/* VmLck + VmPin of this process in kB (type1 charges locked_vm, iommufd
 * charges pinned_vm; a test of "pinned again" looks at the sum). */
static long pinned_kb(void)
{
	char line[256];
	long sum = 0, v;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmLck: %ld kB", &v) == 1 ||
		    sscanf(line, "VmPin: %ld kB", &v) == 1)
			sum += v;
	}
	fclose(f);
	return sum;
}

static void *anon(size_t len, unsigned char pat)
{
	unsigned char *p =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, pat, len);
	return p;
}

static void *huge(const char *name, size_t len)
{
	const char *dir = getenv("DMAC_VM_HUGETLBFS");
	char path[256];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/dev/hugepages", name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return NULL;
	unlink(path);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, len);
	return p;
}

/* Type1: DMA entries available + bookkept entries of a live space must add
 * up to the module's dma_entry_limit (one entry per MAP_DMA). */
static void check_dma_avail(uint32_t space, uint32_t want_maps, int line)
{
	struct dmac_vfio_space_info info;

	if (!is_vfio)
		return;
	CHECK_RET(dmac_vfio_compat_space_info(be, space, &info), 0);
	CHECK(info.live, "line %d: space %u should be live", line, space);
	CHECK(info.nr_maps == want_maps, "line %d: space %u has %u maps, want %u", line, space,
	      info.nr_maps, want_maps);
	CHECK(info.dma_avail == dma_limit - want_maps,
	      "line %d: DMA_AVAIL %u, want limit %u - %u maps", line, info.dma_avail, dma_limit,
	      want_maps);
}

/* A fixed map at an IOVA that must already be mapped answers EEXIST. */
static void check_mapped(uint32_t space, uint64_t iova, void *va, int line)
{
	uint64_t at = iova;
	int ret = ops->map(be, space, va, 4096, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at);

	CHECK(ret == -EEXIST, "line %d: iova 0x%llx should be mapped in space %u (map: %d)", line,
	      (unsigned long long)iova, space, ret);
	if (!ret)
		ops->unmap(be, space, at, 4096, NULL);
}

/* ---- run-time selection --------------------------------------------------- */

static void test_selection(const char *want)
{
	const struct dmac_backend_ops *o = NULL;
	char reason[512], saved[64] = "";
	const char *env = getenv("DMAC_BACKEND");
	pid_t pid;
	int status;

	/* The default (no DMAC_BACKEND) or forced (DMAC_BACKEND=vfio) choice. */
	CHECK_RET(dmac_backend_choose(NULL, &o, reason, sizeof(reason)), 0);
	CHECK(o && !strcmp(o->name, want), "chose %s, want %s (%s)", o ? o->name : "-", want,
	      reason);
	if (!strcmp(want, "vfio"))
		CHECK(strstr(reason, "DMAC_BACKEND"), "reason '%s' lacks the env variable", reason);
	else
		CHECK(strstr(reason, "automatically") && strstr(reason, "/dev/iommu"),
		      "reason '%s'", reason);
	CHECK(strstr(bt_last_log, "dmac_backend_choose"), "choice not logged: '%s'", bt_last_log);

	/* The config key forces either. */
	CHECK_RET(dmac_backend_choose("vfio", &o, reason, sizeof(reason)), 0);
	CHECK(o && !strcmp(o->name, "vfio"), "config key vfio chose %s", o ? o->name : "-");
	CHECK_RET(dmac_backend_choose("iommufd", &o, reason, sizeof(reason)), 0);
	CHECK(o && !strcmp(o->name, "iommufd"), "config key iommufd chose %s", o ? o->name : "-");
	CHECK_RET(dmac_backend_choose("bogus", &o, reason, sizeof(reason)), -EINVAL);

	/* An unknown DMAC_BACKEND value is an error, logged. */
	if (env)
		snprintf(saved, sizeof(saved), "%s", env);
	setenv("DMAC_BACKEND", "virtio", 1);
	CHECK_RET(dmac_backend_choose(NULL, &o, reason, sizeof(reason)), -EINVAL);
	CHECK_LOG("virtio", "DMAC_BACKEND", "unknown");
	if (saved[0])
		setenv("DMAC_BACKEND", saved, 1);
	else
		unsetenv("DMAC_BACKEND");

	/* A /dev without iommu (only vfio/vfio): automatic choice falls back to
	 * type1 and says why. Done in a child with a private mount namespace. */
	pid = fork();
	if (pid == 0) {
		int fails = 0;
		struct dmac_backend *b2 = NULL;

		unsetenv("DMAC_BACKEND");
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", "/dev", "tmpfs", 0, "mode=755") || mkdir("/dev/vfio", 0755) ||
		    mknod("/dev/vfio/vfio", S_IFCHR | 0666, makedev(10, 196)) ||
		    mknod("/dev/null", S_IFCHR | 0666, makedev(1, 3))) {
			perror("fallback: namespace setup");
			_exit(2);
		}
		if (dmac_backend_choose(NULL, &o, reason, sizeof(reason)) ||
		    strcmp(o->name, "vfio"))
			fails++;
		if (!strstr(reason, "'iommufd' not usable") || !strstr(reason, "/dev/iommu") ||
		    !strstr(reason, "'vfio' chosen automatically"))
			fails++;
		if (!strstr(bt_last_log, "'vfio' chosen automatically"))
			fails++;
		fprintf(stderr, "  fallback reason: %s\n", reason);
		/* The fallback backend opens on that /dev. */
		if (o->open(NULL, &b2))
			fails++;
		o->close(b2);
		_exit(fails);
	}
	CHECK(pid > 0, "fork");
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fallback child: status 0x%x", status);
}

/* ---- the backend itself ------------------------------------------------------ */

static void test_backend(void)
{
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	struct dmac_iova_range r[16];
	struct dmac_device *dev = NULL, *dev2 = NULL;
	uint32_t m, t, u, nr, maps_t = 0;
	uint64_t align = 0, iova, iova_a, iova_h, iova_c, iova_t, un;
	unsigned char *a_m, *h_m, *a_t, *h_t, *pre;
	long before, after;
	struct dmac_hw_info hw;
	uint64_t f;
	int ret;

	CHECK(bdf, "DMAC_VM_NVME_BDF unset");
	if (!bdf)
		return;
	CHECK_RET(ops->open(NULL, &be), 0);
	if (!be)
		return;
	f = ops->features(be);
	if (is_vfio) {
		CHECK(!(f & DMAC_BACKEND_F_COPY), "type1 must not claim kernel copy");
		CHECK(f & DMAC_BACKEND_F_COPY_REPIN, "type1 says its copy re-pins");
		CHECK(!(f & DMAC_BACKEND_F_REPLACE), "type1 replace is not atomic");
		CHECK(!(f & DMAC_BACKEND_F_MULTI_SPACE), "type1: one container per space");
		CHECK(f & DMAC_BACKEND_F_UNMAP_ALL, "6.12 has VFIO_UNMAP_ALL");
	} else {
		CHECK(f & DMAC_BACKEND_F_COPY, "iommufd has IOAS_COPY");
		CHECK(!(f & DMAC_BACKEND_F_COPY_REPIN), "iommufd copy shares pins");
		CHECK(f & DMAC_BACKEND_F_REPLACE, "iommufd replace");
	}

	/* Spaces: m (master: never a device), t (tenant), u (replace target). */
	CHECK_RET(ops->space_alloc(be, &m), 0);
	CHECK_RET(ops->space_alloc(be, &t), 0);
	CHECK_RET(ops->space_alloc(be, &u), 0);
	CHECK(m && t && u && m != t && t != u, "ids %u %u %u", m, t, u);

	/* Device: open by BDF, short form too (already open -> EBUSY). */
	CHECK_RET(ops->device_open(be, "not-a-bdf", &dev), -EINVAL);
	CHECK_RET(ops->device_open(be, bdf, &dev), 0);
	if (!dev)
		return;
	/* Contract: -EBUSY. The iommufd backend passes on the kernel's EINVAL
	 * for a second cdev bind (reported to its owner). */
	ret = ops->device_open(be, bdf + 5, &dev2);
	CHECK(ret == -EBUSY || (!is_vfio && ret == -EINVAL), "second open: %d", ret);
	CHECK(ops->device_space(dev) == 0, "fresh device attached to %u", ops->device_space(dev));
	CHECK(ops->device_fd(dev) >= 0, "device fd");

	/* A mapping made while t has no device: type1 keeps it as bookkeeping
	 * and replays it at attach. */
	pre = anon(SZ_64K, 0x11);
	iova = 0x100000;
	CHECK_RET(ops->map(be, t, pre, SZ_64K, DMAC_PROT_READ | DMAC_PROT_WRITE,
			   DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	maps_t++;
	if (is_vfio) {
		struct dmac_vfio_space_info info;

		CHECK_RET(dmac_vfio_compat_space_info(be, t, &info), 0);
		CHECK(!info.live && info.nr_maps == 1 && info.dma_avail == UINT32_MAX,
		      "dormant space: live %d maps %u avail %u", info.live, info.nr_maps,
		      info.dma_avail);
	}

	CHECK_RET(ops->device_attach(be, dev, 999), -ENOENT);
	CHECK_RET(ops->device_attach(be, dev, t), 0);
	CHECK(ops->device_space(dev) == t, "attached to %u", ops->device_space(dev));
	CHECK_RET(ops->device_attach(be, dev, u), -EBUSY);
	check_dma_avail(t, maps_t, __LINE__);
	check_mapped(t, 0x100000, pre, __LINE__);
	if (is_vfio) {
		/* Independent of the bookkeeping: the kernel itself has it. */
		struct dmac_vfio_space_info info;
		struct vfio_iommu_type1_dma_map dm = {
		    .argsz = sizeof(dm),
		    .flags = VFIO_DMA_MAP_FLAG_READ,
		    .vaddr = (uintptr_t)pre,
		    .iova = 0x100000,
		    .size = 4096,
		};

		dmac_vfio_compat_space_info(be, t, &info);
		CHECK(ioctl(info.container_fd, VFIO_IOMMU_MAP_DMA, &dm) < 0 && errno == EEXIST,
		      "replayed mapping not in the kernel (errno %d)", errno);
		CHECK(info.iova_pgsizes & 4096, "pgsizes 0x%llx",
		      (unsigned long long)info.iova_pgsizes);
	}

	/* IOVA ranges of the space with the device: VT-d's MSI window is out. */
	nr = 0;
	CHECK_RET(ops->iova_ranges(be, t, NULL, &nr, NULL), -EMSGSIZE);
	CHECK(nr >= 2, "%u ranges", nr);
	nr = 16;
	CHECK_RET(ops->iova_ranges(be, t, r, &nr, &align), 0);
	CHECK(align == 4096, "alignment 0x%llx", (unsigned long long)align);
	for (uint32_t i = 0; i < nr && i < 16; i++)
		printf("usable range %u: [0x%llx, 0x%llx]\n", i, (unsigned long long)r[i].start,
		       (unsigned long long)r[i].last);
	for (uint32_t i = 0; i < nr && i < 16; i++)
		CHECK(!(r[i].start <= 0xfee00000ULL && 0xfee00000ULL <= r[i].last),
		      "range %u [0x%llx, 0x%llx] holds the MSI window", i,
		      (unsigned long long)r[i].start, (unsigned long long)r[i].last);
	CHECK_RET(ops->iova_ranges(be, 999, r, &nr, &align), -ENOENT);

	/* Maps: anonymous and hugetlbfs, chosen and fixed IOVA, in m and t. */
	a_m = anon(SZ_2M, 0x22);
	h_m = huge("bt-master", SZ_2M);
	a_t = anon(SZ_2M, 0x33);
	h_t = huge("bt-tenant", 2 * SZ_2M);
	CHECK(a_m && h_m && a_t && h_t, "memory");
	if (!a_m || !h_m || !a_t || !h_t)
		return;
	/* A space with no device pins nothing (type1: bookkeeping only). */
	before = pinned_kb();
	CHECK_RET(ops->map(be, m, a_m, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova_a), 0);
	CHECK(pinned_kb() == before, "map into the device-less space pinned: %ld -> %ld kB", before,
	      pinned_kb());
	iova_h = 0x40000000;
	CHECK_RET(ops->map(be, m, h_m, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE, DMAC_MAP_FIXED_IOVA,
			   &iova_h),
		  0);
	CHECK(iova_h == 0x40000000, "fixed IOVA moved to 0x%llx", (unsigned long long)iova_h);
	CHECK_RET(ops->map(be, t, a_t, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova_t), 0);
	maps_t++;
	CHECK(iova_t % align == 0, "chosen IOVA 0x%llx", (unsigned long long)iova_t);
	check_dma_avail(t, maps_t, __LINE__);
	iova = 0x80000000;
	CHECK_RET(ops->map(be, t, h_t, 2 * SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE,
			   DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	maps_t++;
	check_dma_avail(t, maps_t, __LINE__);
	check_mapped(t, 0x80000000 + SZ_2M, h_t, __LINE__);

	/* Errors: overlap, unknown space, bad prot/flags, wrap, misaligned. */
	iova = 0x80000000 + SZ_64K;
	CHECK_RET(ops->map(be, t, a_t, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova),
		  -EEXIST);
	CHECK_LOG(is_vfio ? "space" : "ioas", "0x80010000");
	CHECK_RET(ops->map(be, 999, a_t, SZ_64K, DMAC_PROT_READ, 0, &iova), -ENOENT);
	CHECK_RET(ops->map(be, t, a_t, SZ_64K, 0, 0, &iova), -EINVAL);
	CHECK_RET(ops->map(be, t, a_t, SZ_64K, 1u << 7, 0, &iova), -EOPNOTSUPP);
	iova = UINT64_MAX - 4095;
	CHECK_RET(ops->map(be, t, a_t, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova),
		  -EOVERFLOW);
	iova = 0xc0000800;
	CHECK_RET(ops->map(be, t, a_t, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova),
		  -EINVAL);
	iova = 0xfee00000; /* the MSI window */
	CHECK_RET(ops->map(be, t, a_t, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova),
		  -EINVAL);
	check_dma_avail(t, maps_t, __LINE__);

	/* Copy a whole master area (chosen IOVA) and a sub-range (fixed). */
	CHECK_RET(ops->copy(be, t, m, iova_a, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova_c),
		  0);
	maps_t++;
	check_dma_avail(t, maps_t, __LINE__);
	check_mapped(t, iova_c + SZ_64K, a_m + SZ_64K, __LINE__);
	iova = 0xa0000000;
	CHECK_RET(ops->copy(be, t, m, iova_h + SZ_64K, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA,
			    &iova),
		  0);
	maps_t++;
	CHECK(iova == 0xa0000000, "fixed copy IOVA 0x%llx", (unsigned long long)iova);
	check_dma_avail(t, maps_t, __LINE__);
	check_mapped(t, 0xa0000000, h_m + SZ_64K, __LINE__);

	/* Copy errors: hole in the source, overlapping destination, no space. */
	iova = 0xb0000000;
	CHECK_RET(ops->copy(be, t, m, iova_h + SZ_2M - 4096, 2 * 4096, DMAC_PROT_READ,
			    DMAC_MAP_FIXED_IOVA, &iova),
		  -ENOENT);
	iova = 0xa0000000;
	CHECK_RET(ops->copy(be, t, m, iova_h, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova),
		  -EEXIST);
	CHECK_RET(ops->copy(be, t, 999, iova_h, SZ_64K, DMAC_PROT_READ, 0, &iova), -ENOENT);
	check_dma_avail(t, maps_t, __LINE__);

	/* Copy within the live space: iommufd shares the pinned pages, type1
	 * maps the VA again and charges the pages a second time. */
	before = pinned_kb();
	CHECK_RET(ops->copy(be, t, t, iova_t, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova),
		  0);
	maps_t++;
	after = pinned_kb();
	printf("pinned accounting: copy of 2 MiB inside a live space: %ld kB -> %ld kB\n", before,
	       after);
	if (is_vfio)
		CHECK(after - before == (long)(SZ_2M >> 10), "type1 copy must pin again: +%ld kB",
		      after - before);
	else
		CHECK(after == before, "iommufd copy must not pin again: +%ld kB", after - before);
	check_dma_avail(t, maps_t, __LINE__);

	/* Unmap exact. */
	CHECK_RET(ops->unmap(be, t, iova, SZ_2M, &un), 0);
	maps_t--;
	CHECK(un == SZ_2M, "unmapped 0x%llx", (unsigned long long)un);
	CHECK(pinned_kb() == before, "pins after unmap: %ld kB, want %ld", pinned_kb(), before);
	check_dma_avail(t, maps_t, __LINE__);

	/* Split unmap: refused, nothing changed. */
	CHECK_RET(ops->unmap(be, t, 0x80000000, SZ_2M, &un), -ENOENT);
	CHECK_LOG("UNMAP", "0x80000000");
	CHECK_RET(ops->unmap(be, t, iova_t + SZ_64K, SZ_64K, &un), -ENOENT);
	check_mapped(t, 0x80000000, h_t, __LINE__);
	check_mapped(t, 0x80000000 + 2 * SZ_2M - 4096, h_t, __LINE__);
	check_mapped(t, iova_t, a_t, __LINE__);
	check_dma_avail(t, maps_t, __LINE__);
	CHECK_RET(ops->unmap(be, t, 0xd0000000, SZ_64K, &un), -ENOENT);
	CHECK_RET(ops->unmap(be, 999, 0xd0000000, SZ_64K, &un), -ENOENT);
	CHECK_RET(ops->unmap(be, t, 0x80000000, 2 * SZ_2M, &un), 0);
	maps_t--;
	CHECK(un == 2 * SZ_2M, "unmapped 0x%llx", (unsigned long long)un);
	check_dma_avail(t, maps_t, __LINE__);

	/* hw_info: iommufd reports VT-d, type1 cannot. */
	memset(&hw, 0, sizeof(hw));
	if (is_vfio) {
		CHECK_RET(ops->device_hw_info(be, dev, &hw), -EOPNOTSUPP);
	} else {
		CHECK_RET(ops->device_hw_info(be, dev, &hw), 0);
		CHECK(hw.type == DMAC_HW_INFO_INTEL_VTD, "hw type %u", hw.type);
	}

	/* Replace t -> u: u's mapping must be usable after, t's must stay in
	 * t (type1: t goes dormant, its maps are replayed on the way back). */
	iova = 0x300000;
	CHECK_RET(ops->map(be, u, pre, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova), 0);
	CHECK_RET(ops->space_destroy(be, t), -EBUSY);
	CHECK_RET(ops->device_replace(be, dev, 999), -ENOENT);
	CHECK(ops->device_space(dev) == t, "failed replace moved the device");
	CHECK_RET(ops->device_replace(be, dev, u), 0);
	CHECK(ops->device_space(dev) == u, "replaced to %u", ops->device_space(dev));
	check_dma_avail(u, 1, __LINE__);
	check_mapped(u, 0x300000, pre, __LINE__);
	if (is_vfio) {
		struct dmac_vfio_space_info info;

		CHECK_RET(dmac_vfio_compat_space_info(be, t, &info), 0);
		CHECK(!info.live && info.nr_maps == maps_t, "t after replace: live %d maps %u",
		      info.live, info.nr_maps);
	}
	CHECK_RET(ops->device_replace(be, dev, t), 0);
	CHECK(ops->device_space(dev) == t, "replaced back to %u", ops->device_space(dev));
	check_dma_avail(t, maps_t, __LINE__);
	check_mapped(t, 0x100000, pre, __LINE__);
	check_mapped(t, iova_c, a_m, __LINE__);

	/* unmap_all. */
	CHECK_RET(ops->unmap_all(be, t, &un), 0);
	CHECK(un == SZ_64K + SZ_2M + SZ_2M + SZ_64K, "unmap_all: 0x%llx", (unsigned long long)un);
	check_dma_avail(t, 0, __LINE__);
	iova = 0x100000;
	CHECK_RET(ops->map(be, t, pre, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova), 0);
	CHECK_RET(ops->unmap(be, t, 0x100000, SZ_64K, &un), 0);
	CHECK_RET(ops->unmap_all(be, 999, &un), -ENOENT);

	/*
	 * Detach while BAR0 is mmapped through the device fd: type1 cannot let
	 * the group leave its container while the mapping keeps the device file
	 * open, so it refuses with EBUSY and changes nothing — the device stays
	 * attached with a working fd. iommufd detaches regardless.
	 */
	{
		struct vfio_region_info ri = {.argsz = sizeof(ri),
					      .index = VFIO_PCI_BAR0_REGION_INDEX};
		struct vfio_device_info di = {.argsz = sizeof(di)};
		void *bar = MAP_FAILED;

		CHECK(ioctl(ops->device_fd(dev), VFIO_DEVICE_GET_REGION_INFO, &ri) == 0,
		      "BAR0 region info: %s", strerror(errno));
		if (ri.size)
			bar = mmap(NULL, ri.size, PROT_READ, MAP_SHARED, ops->device_fd(dev),
				   (off_t)ri.offset);
		CHECK(bar != MAP_FAILED, "mmap BAR0: %s", strerror(errno));
		if (is_vfio && bar != MAP_FAILED) {
			CHECK_RET(ops->device_detach(be, dev), -EBUSY);
			CHECK(ops->device_space(dev) == t, "still attached after a refused detach");
			CHECK(ioctl(ops->device_fd(dev), VFIO_DEVICE_GET_INFO, &di) == 0,
			      "device fd works after a refused detach: %s", strerror(errno));
		}
		if (bar != MAP_FAILED)
			munmap(bar, ri.size);
	}

	/* Detach, destroy. */
	CHECK_RET(ops->device_detach(be, dev), 0);
	CHECK(ops->device_space(dev) == 0, "detached");
	CHECK_RET(ops->device_detach(be, dev), -EINVAL);
	CHECK_RET(ops->space_destroy(be, t), 0);
	CHECK_RET(ops->space_destroy(be, t), -ENOENT);
	/* Re-attach after detach works (type1: a new device fd, same number). */
	CHECK_RET(ops->device_attach(be, dev, u), 0);
	check_mapped(u, 0x300000, pre, __LINE__);
	ops->device_close(be, dev);
	CHECK_RET(ops->space_destroy(be, u), 0);
	CHECK_RET(ops->unmap_all(be, m, &un), 0);
	CHECK(un == 2 * SZ_2M, "master unmap_all 0x%llx", (unsigned long long)un);
	ops->close(be);
	be = NULL;
}

/*
 * The NVMe controller judges the mappings with real DMA. Queue memory is a
 * hugepage mapped in the device-less master space m; the device only ever
 * sees copies of it (type1: the same VA mapped again):
 * 1. whole copy m -> t at the master's IOVA: Identify data lands in it;
 * 2. sub-range copy of one 4 KiB page to another IOVA: data lands in that
 *    page of the same memory;
 * 3. after unmapping that sub-copy, data aimed at it lands nowhere;
 * 4. replace t -> u -> t (type1: t goes dormant and is replayed, the device
 *    fd is reopened and the function reset): DMA works again.
 */
static void test_dma(void)
{
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	struct dmac_device *dev = NULL;
	struct na_ctrl c = {0};
	uint32_t m = 0, t = 0, u = 0;
	uint64_t qiova = 0, iova, sub = 0x70000000;
	volatile uint8_t *q;
	int fd;

	q = huge("bt-queues", SZ_2M);
	CHECK(q, "hugetlb mmap: %s", strerror(errno));
	CHECK_RET(ops->open(NULL, &be), 0);
	if (!q || !be)
		return;
	CHECK_RET(ops->space_alloc(be, &m), 0);
	CHECK_RET(ops->space_alloc(be, &t), 0);
	CHECK_RET(ops->space_alloc(be, &u), 0);
	CHECK_RET(ops->device_open(be, bdf, &dev), 0);
	if (!dev)
		goto close_be;
	CHECK_RET(ops->map(be, m, (void *)q, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &qiova),
		  0);
	CHECK_RET(ops->device_attach(be, dev, t), 0);
	iova = qiova;
	CHECK_RET(ops->copy(be, t, m, qiova, SZ_2M, DMAC_PROT_READ | DMAC_PROT_WRITE,
			    DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	fd = ops->device_fd(dev);
	c.mem = q;
	c.qiova = qiova;
	CHECK_RET(na_setup(&c, fd), 0);
	CHECK_RET(na_enable(&c), 0);

	/* 1 */
	CHECK_RET(na_identify(&c, qiova + 0x2000, NA_POLLS), 0);
	CHECK(na_serial_is(q + 0x2000, "dmac0"), "identify data did not land through the copy");

	/* 2 */
	iova = sub;
	CHECK_RET(ops->copy(be, t, m, qiova + 0x3000, 4096, DMAC_PROT_READ | DMAC_PROT_WRITE,
			    DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	CHECK_RET(na_identify(&c, sub, NA_POLLS), 0);
	CHECK(na_serial_is(q + 0x3000, "dmac0"), "sub-range copy: data not in page 3");
	CHECK(!na_serial_is(q + 0x4000, "dmac0"), "page 4 written unasked");

	/* 3 */
	memset((void *)(q + 0x3000), 0, 4096);
	CHECK_RET(ops->unmap(be, t, sub, 4096, NULL), 0);
	/* The controller's completion status is no judge here: QEMU's NVMe
	 * posts success even when its data write faults in the vIOMMU. The
	 * page staying untouched is the evidence. */
	printf("identify to an unmapped IOVA: status %d\n", na_identify(&c, sub, NA_POLLS / 10));
	CHECK(!na_serial_is(q + 0x3000, "dmac0"), "DMA landed after unmap");

	/* 4 */
	na_disable(&c);
	CHECK_RET(ops->device_replace(be, dev, u), 0);
	CHECK_RET(ops->device_replace(be, dev, t), 0);
	CHECK(ops->device_fd(dev) == fd, "device fd number changed: %d -> %d", fd,
	      ops->device_fd(dev));
	memset((void *)(q + 0x2000), 0, 4096);
	CHECK_RET(na_setup(&c, ops->device_fd(dev)), 0);
	CHECK_RET(na_enable(&c), 0);
	CHECK_RET(na_identify(&c, qiova + 0x2000, NA_POLLS), 0);
	CHECK(na_serial_is(q + 0x2000, "dmac0"), "no DMA after replace back (replay)");
	na_disable(&c);
	ops->device_close(be, dev);
close_be:
	ops->close(be);
	be = NULL;
	munmap((void *)q, SZ_2M);
}

/* ---- type1 extras: the DMA entry limit, allocation faults, threads --------- */

static int write_param(const char *path, unsigned int v)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%u", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static void space_state(uint32_t space, int *live, uint32_t *maps, uint32_t *avail)
{
	struct dmac_vfio_space_info info;

	CHECK_RET(dmac_vfio_compat_space_info(be, space, &info), 0);
	*live = info.live;
	*maps = info.nr_maps;
	*avail = info.dma_avail;
}

struct mapper {
	uint32_t space;
	uint64_t base;
	void *va;
	int errors;
};

static void *mapper_run(void *arg)
{
	struct mapper *mp = arg;

	for (int i = 0; i < 300; i++) {
		uint64_t iova = mp->base + (uint64_t)(i % 16) * SZ_64K, un = 0;

		if (ops->map(be, mp->space, mp->va, SZ_64K, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA,
			     &iova) ||
		    ops->unmap(be, mp->space, iova, SZ_64K, &un) || un != SZ_64K)
			mp->errors++;
	}
	return NULL;
}

static void test_type1_extras(void)
{
	const char *limit_path = "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	struct dmac_device *dev = NULL;
	uint32_t d = 0, e = 0, f = 0, maps, avail, n;
	uint64_t iova, i;
	int live, ret, fired;
	unsigned char *pg = anon(2 * SZ_2M, 0x44);
	struct mapper mp[2];
	pthread_t th[2];

	CHECK(pg, "anon");
	CHECK_RET(ops->open(NULL, &be), 0);
	if (!be || !pg)
		return;
	CHECK_RET(ops->space_alloc(be, &d), 0);
	CHECK_RET(ops->space_alloc(be, &e), 0);
	CHECK_RET(ops->device_open(be, bdf, &dev), 0);
	if (!dev)
		goto close_be;

	/* The DMA entry limit (read by the kernel when the IOMMU is set): 8.
	 * Nine bookkept mappings cannot be replayed: attach fails, undone. */
	CHECK_RET(write_param(limit_path, 8), 0);
	for (i = 0; i < 9; i++) {
		iova = 0x1000000 + i * SZ_64K;
		CHECK_RET(ops->map(be, d, pg, 4096, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova), 0);
	}
	CHECK_RET(ops->device_attach(be, dev, d), -ENOSPC);
	CHECK_LOG("replay", "space", "0x1080000", "DMA entry");
	space_state(d, &live, &maps, &avail);
	CHECK(!live && maps == 9 && ops->device_space(dev) == 0,
	      "failed attach left live %d maps %u space %u", live, maps, ops->device_space(dev));
	CHECK_RET(ops->unmap(be, d, 0x1080000, 4096, NULL), 0);
	CHECK_RET(ops->device_attach(be, dev, d), 0);
	/* A replace whose attach fails (f's 9 mappings exceed the limit) puts
	 * the device back into d, whose 8 mappings are replayed again. */
	CHECK_RET(ops->space_alloc(be, &f), 0);
	for (i = 0; i < 9; i++) {
		iova = 0x1000000 + i * SZ_64K;
		CHECK_RET(ops->map(be, f, pg, 4096, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova), 0);
	}
	CHECK_RET(ops->device_replace(be, dev, f), -ENOSPC);
	CHECK(ops->device_space(dev) == d, "failed replace left the device in %u",
	      ops->device_space(dev));
	space_state(f, &live, &maps, &avail);
	CHECK(!live && maps == 9, "f: live %d maps %u", live, maps);
	CHECK_RET(ops->space_destroy(be, f), 0);
	CHECK_RET(write_param(limit_path, dma_limit), 0);
	space_state(d, &live, &maps, &avail);
	CHECK(live && maps == 8 && avail == 0, "live %d maps %u avail %u", live, maps, avail);
	iova = 0x2000000;
	CHECK_RET(ops->map(be, d, pg, 4096, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova), -ENOSPC);
	CHECK_LOG("VFIO_IOMMU_MAP_DMA", "0x2000000", "DMA entry");
	CHECK_RET(ops->copy(be, d, d, 0x1000000, 4096, DMAC_PROT_READ, 0, &iova), -ENOSPC);
	space_state(d, &live, &maps, &avail);
	CHECK(maps == 8 && avail == 0, "after ENOSPC: maps %u avail %u", maps, avail);
	CHECK_RET(ops->unmap_all(be, d, NULL), 0);
	space_state(d, &live, &maps, &avail);
	CHECK(maps == 0 && avail == 8, "after unmap_all: maps %u avail %u", maps, avail);
	CHECK_RET(ops->device_detach(be, dev), 0);

	/* Allocation faults: every failing allocation of attach (with a
	 * replay), map and a two-piece copy unwinds completely. */
	iova = 0x4000000;
	CHECK_RET(ops->map(be, e, pg, SZ_2M, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova), 0);
	iova = 0x4000000 + SZ_2M;
	CHECK_RET(ops->map(be, e, pg + SZ_2M, SZ_2M, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	for (n = 1; n < 200; n++) {
		dmac__fault_alloc_arm(n);
		ret = ops->device_attach(be, dev, e);
		fired = dmac__fault_alloc_fired();
		dmac__fault_alloc_arm(0);
		if (!ret && !fired)
			break;
		if (!ret) { /* a best-effort allocation failed: fine, retry */
			CHECK_RET(ops->device_detach(be, dev), 0);
			continue;
		}
		CHECK(ret == -ENOMEM && fired, "attach fault %u: %d", n, ret);
		space_state(e, &live, &maps, &avail);
		CHECK(!live && maps == 2 && !ops->device_space(dev),
		      "attach fault %u: live %d maps %u", n, live, maps);
	}
	CHECK(n > 1 && n < 200, "attach: %u allocation points", n);
	for (n = 1; n < 200; n++) {
		dmac__fault_alloc_arm(n);
		iova = 0;
		ret = ops->copy(be, e, e, 0x4000000 + SZ_2M - SZ_64K, 2 * SZ_64K, DMAC_PROT_READ, 0,
				&iova);
		fired = dmac__fault_alloc_fired();
		dmac__fault_alloc_arm(0);
		if (!ret && !fired)
			break;
		if (!ret) {
			CHECK_RET(ops->unmap(be, e, iova, 2 * SZ_64K, NULL), 0);
			continue;
		}
		CHECK(ret == -ENOMEM && fired, "copy fault %u: %d", n, ret);
		space_state(e, &live, &maps, &avail);
		CHECK(maps == 2 && avail == dma_limit - 2, "copy fault %u: maps %u avail %u", n,
		      maps, avail);
	}
	CHECK(n > 1 && n < 200, "copy: %u allocation points", n);
	space_state(e, &live, &maps, &avail);
	CHECK(maps == 4 && avail == dma_limit - 4, "two-piece copy: maps %u avail %u", maps, avail);
	CHECK_RET(ops->unmap(be, e, iova, 2 * SZ_64K, NULL), 0);

	/* Two threads map and unmap in the same live space. */
	for (int t = 0; t < 2; t++) {
		mp[t] = (struct mapper){.space = e,
					.base = 0x10000000 + (uint64_t)t * SZ_2M,
					.va = pg + (size_t)t * SZ_64K};
		CHECK(!pthread_create(&th[t], NULL, mapper_run, &mp[t]), "thread");
	}
	for (int t = 0; t < 2; t++) {
		pthread_join(th[t], NULL);
		CHECK(!mp[t].errors, "thread %d: %d failed map/unmap", t, mp[t].errors);
	}
	space_state(e, &live, &maps, &avail);
	CHECK(maps == 2 && avail == dma_limit - 2, "after threads: maps %u avail %u", maps, avail);

	ops->device_close(be, dev);
close_be:
	ops->close(be);
	be = NULL;
	munmap(pg, 2 * SZ_2M);
}

/* Type1 only: with no-IOMMU mode enabled in the kernel, open() still picks
 * TYPE1v2 and says that no-IOMMU is ignored. */
static void test_noiommu_mode(void)
{
	const char *p = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode";
	struct dmac_backend *b2 = NULL;
	int fd, cfd;

	fd = open(p, O_WRONLY);
	CHECK(fd >= 0, "%s: %s", p, strerror(errno));
	if (fd < 0)
		return;
	CHECK(write(fd, "1", 1) == 1, "enable noiommu");
	cfd = open("/dev/vfio/vfio", O_RDWR);
	CHECK(cfd >= 0 && ioctl(cfd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) == 1,
	      "kernel does not report VFIO_NOIOMMU_IOMMU");
	close(cfd);
	dmac_backend_set_log(bt_log, NULL, DMAC_LOG_DEBUG);
	CHECK_RET(ops->open(NULL, &b2), 0);
	CHECK_LOG("TYPE1v2", "no-IOMMU");
	ops->close(b2);
	CHECK(pwrite(fd, "0", 1, 0) == 1, "disable noiommu");
	close(fd);
}

int main(int argc, char **argv)
{
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2 || (strcmp(argv[1], "iommufd") && strcmp(argv[1], "vfio"))) {
		fprintf(stderr, "usage: %s iommufd|vfio\n", argv[0]);
		return 2;
	}
	dmac_backend_set_log(bt_log, NULL, DMAC_LOG_INFO);
	CHECK_RET(dmac_backend_register(&dmac_iommufd_backend_ops), 0);
	CHECK_RET(dmac_backend_register(&dmac_vfio_compat_ops), 0);
	test_selection(argv[1]);
	ops = dmac_backend_find(argv[1]);
	CHECK(ops, "backend %s not registered", argv[1]);
	if (!ops)
		return bt_finish(argv[0]);
	is_vfio = !strcmp(argv[1], "vfio");
	f = fopen("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "re");
	CHECK(f && fscanf(f, "%u", &dma_limit) == 1, "dma_entry_limit");
	if (f)
		fclose(f);
	printf("backend %s, dma_entry_limit %u\n", argv[1], dma_limit);
	test_backend();
	test_dma();
	if (is_vfio) {
		test_type1_extras();
		test_noiommu_mode();
	}
	return bt_finish(is_vfio ? "backend-vfio" : "backend-iommufd");
}
