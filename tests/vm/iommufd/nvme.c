/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test iommufd-nvme: the iommufd backend with a real VFIO cdev device, the
 * guest's emulated NVMe controller bound to vfio-pci behind the emulated
 * Intel VT-d (DMAC_VM_NVME_BDF / DMAC_VM_NVME_CDEV describe it).
 *
 * Covers: the run-time selector (automatic and forced), device lookup by PCI
 * address through sysfs, VFIO_DEVICE_BIND_IOMMUFD, IOMMU_GET_HW_INFO (VT-d),
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (attach, and replace when attached),
 * VFIO_DEVICE_DETACH_IOMMUFD_PT, the IOVA ranges a real IOMMU leaves (the
 * MSI window is reserved), map + copy into a second IOAS with a device
 * attached, and the re-attach isolation hole (docs/security.md).
 *
 * Invariants: the device is attached to at most one IOAS at a time; every
 * failed attach/replace is checked to have kept the previous attachment
 * (an IOAS with a device attached refuses IOMMU_DESTROY with EBUSY, which is
 * how the test observes where the device is).
 */
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/stat.h>

#include "vmtest.h"

#define HUGE_LEN  (2u << 20)
#define MSI_START 0xfee00000ull

static const struct dmac_backend_ops *ops;
static struct dmac_backend *be;

static void test_selector(void)
{
	const struct dmac_backend_ops *o = NULL;
	char reason[512];

	setenv("DMAC_BACKEND", "vfio", 1);
	CHECK_RET(dmac_backend_choose(NULL, &o, reason, sizeof(reason)), -EINVAL);
	CHECK(strstr(reason, "'vfio'") && strstr(reason, "DMAC_BACKEND"), "reason '%s'", reason);
	/* The config key wins over the environment. */
	CHECK_RET(dmac_backend_choose("iommufd", &o, reason, sizeof(reason)), 0);
	CHECK(o == &dmac_iommufd_backend_ops && strstr(reason, "config key"), "reason '%s'",
	      reason);
	setenv("DMAC_BACKEND", "iommufd", 1);
	CHECK_RET(dmac_backend_choose(NULL, &o, reason, sizeof(reason)), 0);
	CHECK(strstr(reason, "forced by environment"), "reason '%s'", reason);
	setenv("DMAC_BACKEND", "auto", 1);
	CHECK_RET(dmac_backend_choose(NULL, &o, reason, sizeof(reason)), 0);
	CHECK(strstr(reason, "automatically"), "reason '%s'", reason);
	unsetenv("DMAC_BACKEND");
}

/* 1 if the device is attached to ioas, observed from the kernel: an IOAS
 * with an attached device refuses destruction. When nothing is attached the
 * IOAS is destroyed, so callers only pass one they may lose. */
static int kernel_says_attached(uint32_t ioas)
{
	int ret = ops->space_destroy(be, ioas);

	CHECK(ret == 0 || ret == -EBUSY, "destroy probe of ioas %u: %d", ioas, ret);
	return ret == -EBUSY;
}

static void test_device(const char *bdf)
{
	struct dmac_device *dev = NULL, *dev2 = NULL;
	struct dmac_iova_range r[16];
	struct dmac_hw_info hw;
	uint32_t a, b, probe, nr = 16, i;
	uint64_t align = 0, iova = 0, iova_b, at;
	unsigned char *huge = vt_huge(HUGE_LEN);
	const char *cdev = getenv("DMAC_VM_NVME_CDEV");
	struct stat st_cdev, st_fd;

	CHECK(huge != NULL, "hugetlb mmap: %s", strerror(errno));

	/* lookup errors */
	CHECK_RET(ops->device_open(be, "zz:00.0", &dev), -EINVAL);
	vt_log_reset();
	CHECK_RET(ops->device_open(be, "0000:ff:1f.7", &dev), -ENODEV);
	CHECK_LOG("0000:ff:1f.7", "ENODEV");

	CHECK_RET(ops->device_open(be, bdf, &dev), 0);
	if (!dev || !huge)
		return;
	CHECK(dmac_iommufd_device_id(dev) != 0, "dev id 0");
	CHECK(cdev && stat(cdev, &st_cdev) == 0 && fstat(ops->device_fd(dev), &st_fd) == 0 &&
		  st_cdev.st_rdev == st_fd.st_rdev,
	      "device fd is not %s", cdev ? cdev : "(DMAC_VM_NVME_CDEV unset)");
	CHECK(ops->device_space(dev) == 0, "attached after open");

	/* A second open of the same cdev device: the kernel allows one bound fd. */
	vt_log_reset();
	CHECK_RET(ops->device_open(be, bdf, &dev2), -EINVAL);
	CHECK_LOG("VFIO_DEVICE_BIND_IOMMUFD", bdf);

	CHECK_RET(ops->device_hw_info(be, dev, &hw), 0);
	CHECK(hw.type == DMAC_HW_INFO_INTEL_VTD, "hw info type %u", hw.type);
	CHECK(hw.data_len >= 24 && hw.data.vtd.cap_reg && hw.data.vtd.ecap_reg,
	      "VT-d data_len %u cap 0x%llx ecap 0x%llx", hw.data_len,
	      (unsigned long long)hw.data.vtd.cap_reg, (unsigned long long)hw.data.vtd.ecap_reg);

	/* attach */
	CHECK_RET(ops->space_alloc(be, &a), 0);
	CHECK_RET(ops->space_alloc(be, &b), 0);
	CHECK_RET(ops->device_attach(be, dev, a), 0);
	CHECK(ops->device_space(dev) == a, "space %u", ops->device_space(dev));
	CHECK(dmac_iommufd_device_hwpt(dev) != 0 && dmac_iommufd_device_hwpt(dev) != a,
	      "hwpt %u (the kernel creates a hw_pagetable for the IOAS)",
	      dmac_iommufd_device_hwpt(dev));
	CHECK_RET(ops->device_attach(be, dev, b), -EBUSY);
	CHECK(ops->device_space(dev) == a, "refused attach moved the device");

	/* The real IOMMU narrows the ranges: the MSI window is reserved. */
	CHECK_RET(ops->iova_ranges(be, a, r, &nr, &align), 0);
	CHECK(nr >= 2 && nr <= 16, "%u ranges", nr);
	for (i = 0; i < nr && i < 16; i++)
		CHECK(!(r[i].start <= MSI_START && MSI_START <= r[i].last),
		      "range [0x%llx, 0x%llx] contains the MSI window",
		      (unsigned long long)r[i].start, (unsigned long long)r[i].last);
	CHECK(align == 4096, "alignment %llu", (unsigned long long)align);

	/* map, and map into the MSI window: EINVAL, nothing changes */
	CHECK_RET(ops->map(be, a, huge, HUGE_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova), 0);
	at = MSI_START;
	vt_log_reset();
	CHECK_RET(ops->map(be, a, huge, HUGE_LEN, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at),
		  -EINVAL);
	CHECK_LOG("IOMMU_IOAS_MAP", "iova [0xfee00000, 0xfeffffff]", "EINVAL");
	{
		struct dmac_iova_range r2[16];
		uint32_t nr2 = 16;

		CHECK_RET(ops->iova_ranges(be, a, r2, &nr2, NULL), 0);
		CHECK(nr2 == nr && !memcmp(r, r2, nr * sizeof(r[0])), "ranges changed");
	}

	/* copy into b at the same IOVA (the daemon's lease path) */
	iova_b = iova;
	CHECK_RET(ops->copy(be, b, a, iova, HUGE_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE,
			    DMAC_MAP_FIXED_IOVA, &iova_b),
		  0);

	/* replace a -> b */
	CHECK_RET(ops->device_replace(be, dev, b), 0);
	CHECK(ops->device_space(dev) == b, "space after replace %u", ops->device_space(dev));
	vt_log_reset();
	CHECK_RET(ops->space_destroy(be, b), -EBUSY);
	CHECK_LOG("IOMMU_DESTROY", "EBUSY");
	/* replace to an unknown id fails and keeps b */
	vt_log_reset();
	CHECK_RET(ops->device_replace(be, dev, 0x7fff), -ENOENT);
	CHECK_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT", bdf, "ioas 32767");
	CHECK(ops->device_space(dev) == b, "failed replace changed space to %u",
	      ops->device_space(dev));
	CHECK_RET(ops->space_destroy(be, b), -EBUSY);
	/* a is free again: a scratch IOAS next to it is too */
	CHECK_RET(ops->space_alloc(be, &probe), 0);
	CHECK(!kernel_says_attached(probe), "device attached to a fresh IOAS");

	/* detach */
	CHECK_RET(ops->device_detach(be, dev), 0);
	CHECK(ops->device_space(dev) == 0, "space after detach %u", ops->device_space(dev));
	CHECK_RET(ops->device_detach(be, dev), -EINVAL);
	CHECK_RET(ops->device_replace(be, dev, a), -EINVAL);
	CHECK_RET(ops->unmap(be, b, iova_b, HUGE_LEN, NULL), 0);
	CHECK_RET(ops->space_destroy(be, b), 0);

	/*
	 * The isolation hole (docs/security.md). Whoever holds a VFIO device fd
	 * bound to an iommufd can re-attach the device to ANY IOAS of that
	 * iommufd just by naming its id: VFIO_DEVICE_ATTACH_IOMMUFD_PT on an
	 * attached device is a replace, and the kernel checks nothing but that
	 * the id exists in the same iommufd. IOAS ids are small integers. So a
	 * tenant given the device fd could point its device at another
	 * tenant's IOAS and DMA into that tenant's memory. This is why
	 * strict-mode tenants never receive the device fd; this test records
	 * that the hole is real on the test-bed kernel.
	 */
	{
		struct vfio_device_attach_iommufd_pt at_pt = {.argsz = sizeof(at_pt)};
		uint32_t other;

		CHECK_RET(ops->device_attach(be, dev, a), 0);
		CHECK_RET(ops->space_alloc(be, &other), 0); /* "another tenant's" IOAS */
		CHECK(other < 64, "IOAS id %u is not a small guessable integer", other);
		at_pt.pt_id = other;
		errno = 0;
		CHECK(ioctl(ops->device_fd(dev), VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at_pt) == 0,
		      "raw re-attach to ioas %u through the device fd failed: errno %d (the "
		      "hole would be closed)",
		      other, errno);
		CHECK(kernel_says_attached(other), "device is not on ioas %u", other);
		/* Put it back through the backend (which still believes 'a'). */
		CHECK_RET(ops->device_replace(be, dev, a), 0);
		CHECK(!kernel_says_attached(other), "device still on ioas %u", other);
	}

	/* close with the device attached: detached and unbound, a is free */
	ops->device_close(be, dev);
	CHECK_RET(ops->space_destroy(be, a), 0);
	/* the cdev can be opened again once closed */
	CHECK_RET(ops->device_open(be, bdf, &dev2), 0);
	ops->device_close(be, dev2);
	munmap(huge, HUGE_LEN);
}

int main(void)
{
	const char *bdf = getenv("DMAC_VM_NVME_BDF");

	vt_init();
	CHECK(bdf != NULL, "DMAC_VM_NVME_BDF unset (guest without the vfio-bound NVMe?)");
	be = vt_open_backend(&ops, 1);
	if (!be || !bdf)
		return vt_finish("iommufd-nvme");
	test_selector();
	test_device(bdf);
	ops->close(be);
	return vt_finish("iommufd-nvme");
}
