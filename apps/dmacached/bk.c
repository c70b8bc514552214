/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backend wrapper (see bk.h): the only daemon translation unit besides the
 * test backend that includes include/dmac/backend.h.
 *
 * Invariants: 'ops' and 'be' are both set for the whole life of a struct
 * dmd_bk; every failing call is logged with the call, the space and the range
 * (the backend logs the kernel's side too).
 * Concurrency: event-loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bk.h"
#include "dmac/backend.h"
#include "dmac_alloc.h"
#include "log.h"
#ifdef DMACD_TEST_BUILD
#include "dmac/iommufd_backend.h"
#include "test_backend.h"
#include "test_hooks.h"
#endif

_Static_assert(DMD_PROT_READ == (unsigned int)DMAC_PROT_READ, "prot read");
_Static_assert(DMD_PROT_WRITE == (unsigned int)DMAC_PROT_WRITE, "prot write");
_Static_assert(sizeof(struct dmd_bk_range) == sizeof(struct dmac_iova_range), "range layout");

struct dmd_bk {
	const struct dmac_backend_ops *ops;
	struct dmac_backend *be;
};

#ifdef DMACD_TEST_BUILD
/* The iommufd of the iommufd backend, else -1 (test hooks only). */
static int dmd__bk_test_iommufd(const struct dmd_bk *bk)
{
	return bk->ops == &dmac_iommufd_backend_ops ? dmac_iommufd_backend_fd(bk->be) : -1;
}
#endif

void dmd_bk_register_builtin(void)
{
	dmac_backend_register(&dmac_iommufd_backend_ops);
	dmac_backend_register(&dmac_vfio_compat_ops);
}

bool dmd_bk_known(const char *name)
{
	return dmac_backend_find(name) != NULL;
}

int dmd_bk_open(const char *force, struct dmd_bk **out)
{
	const struct dmac_backend_ops *ops;
	struct dmd_bk *bk;
	char reason[256] = "";
	int rc;

	rc = dmac_backend_choose(force, &ops, reason, sizeof(reason));
	if (rc) {
		dmd_err("no backend: %s (%s)", reason, strerror(-rc));
		return rc;
	}
	dmd_info("backend %s: %s", ops->name, reason);
	bk = dmac__calloc(1, sizeof(*bk));
	if (!bk)
		return -ENOMEM;
	rc = ops->open(NULL, &bk->be);
	if (rc) {
		dmd_err("backend %s: open failed: %s", ops->name, ops->strerror(-rc));
		goto err_free_bk;
	}
	bk->ops = ops;
	*out = bk;
	return 0;

err_free_bk:
	dmac__free(bk);
	return rc;
}

void dmd_bk_close(struct dmd_bk *bk)
{
	if (!bk)
		return;
	bk->ops->close(bk->be);
	dmac__free(bk);
}

const char *dmd_bk_name(const struct dmd_bk *bk)
{
	return bk->ops->name;
}

const char *dmd_bk_strerror(const struct dmd_bk *bk, int err)
{
	return bk->ops->strerror(err < 0 ? -err : err);
}

int dmd_bk_space_alloc(struct dmd_bk *bk, uint32_t *id)
{
	int rc = bk->ops->space_alloc(bk->be, id);

	if (rc)
		dmd_err("space_alloc: %s", dmd_bk_strerror(bk, rc));
#ifdef DMACD_TEST_BUILD
	if (!rc) {
		rc = dmd_test_hooks_space_alloc(dmd__bk_test_iommufd(bk), *id);
		if (rc)
			bk->ops->space_destroy(bk->be, *id);
	}
#endif
	return rc;
}

void dmd_bk_space_destroy(struct dmd_bk *bk, uint32_t id)
{
	int rc;

#ifdef DMACD_TEST_BUILD
	dmd_test_hooks_space_destroy(dmd__bk_test_iommufd(bk), id);
#endif
	rc = bk->ops->space_destroy(bk->be, id);

	if (rc)
		dmd_err("space_destroy(%u): %s", id, dmd_bk_strerror(bk, rc));
}

int dmd_bk_iova_ranges(struct dmd_bk *bk, uint32_t space, struct dmd_bk_range *r, uint32_t *nr)
{
	int rc = bk->ops->iova_ranges(bk->be, space, (struct dmac_iova_range *)r, nr, NULL);

	if (rc)
		dmd_err("iova_ranges(space %u): %s", space, dmd_bk_strerror(bk, rc));
	return rc;
}

int dmd_bk_map(struct dmd_bk *bk, uint32_t space, void *va, uint64_t len, uint64_t iova,
	       uint32_t prot)
{
	int rc = bk->ops->map(bk->be, space, va, len, prot, DMAC_MAP_FIXED_IOVA, &iova);

	if (rc)
		dmd_err("map(space %u, iova 0x%" PRIx64 ", length 0x%" PRIx64 "): %s", space, iova,
			len, dmd_bk_strerror(bk, rc));
	return rc;
}

int dmd_bk_copy(struct dmd_bk *bk, uint32_t dst, uint32_t src, uint64_t iova, uint64_t len,
		uint32_t prot)
{
	uint64_t dst_iova = iova;
	int rc = bk->ops->copy(bk->be, dst, src, iova, len, prot, DMAC_MAP_FIXED_IOVA, &dst_iova);

	if (rc)
		dmd_err("copy(space %u -> %u, iova 0x%" PRIx64 ", length 0x%" PRIx64 "): %s", src,
			dst, iova, len, dmd_bk_strerror(bk, rc));
	return rc;
}

int dmd_bk_unmap(struct dmd_bk *bk, uint32_t space, uint64_t iova, uint64_t len)
{
	int rc = bk->ops->unmap(bk->be, space, iova, len, NULL);

	if (rc)
		dmd_err("unmap(space %u, iova 0x%" PRIx64 ", length 0x%" PRIx64 "): %s", space,
			iova, len, dmd_bk_strerror(bk, rc));
	return rc;
}

/* ---- devices ------------------------------------------------------------ */

struct dmd_bk_dev {
	struct dmac_device *dev;
	char bdf[32];
};

/* Set or clear BUS_MASTER in the PCI command register (VFIO config region). */
static int dmd__bk_bus_master(struct dmd_bk *bk, struct dmd_bk_dev *d, bool on)
{
	struct vfio_region_info ri = {.argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX};
	uint16_t cmd;
	int fd;

#ifdef DMACD_TEST_BUILD
	if (!strcmp(bk->ops->name, "test"))
		return dmd_test_backend_bus_master(d->dev, on);
#endif
	fd = bk->ops->device_fd(d->dev);
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	if (pread(fd, &cmd, sizeof(cmd), (off_t)(ri.offset + PCI_COMMAND)) != sizeof(cmd))
		return -EIO;
	cmd = on ? (uint16_t)(cmd | PCI_COMMAND_MASTER) : (uint16_t)(cmd & ~PCI_COMMAND_MASTER);
	if (pwrite(fd, &cmd, sizeof(cmd), (off_t)(ri.offset + PCI_COMMAND)) != sizeof(cmd))
		return -EIO;
	return 0;
}

int dmd_bk_device_open(struct dmd_bk *bk, const char *bdf, uint32_t space, struct dmd_bk_dev **out)
{
	struct dmd_bk_dev *d;
	int rc;

	d = dmac__calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	rc = bk->ops->device_open(bk->be, bdf, &d->dev);
	if (rc) {
		dmd_err("device %s: cannot open: %s", bdf, dmd_bk_strerror(bk, rc));
		goto err_free_dev;
	}
	rc = bk->ops->device_attach(bk->be, d->dev, space);
	if (rc) {
		dmd_err("device %s: cannot attach to space %u: %s", bdf, space,
			dmd_bk_strerror(bk, rc));
		goto err_close_dev;
	}
	rc = dmd__bk_bus_master(bk, d, true);
	if (rc) {
		dmd_err("device %s: cannot enable bus mastering: %s", bdf, strerror(-rc));
		goto err_detach_dev;
	}
	*out = d;
	return 0;

err_detach_dev:
	bk->ops->device_detach(bk->be, d->dev);
err_close_dev:
	bk->ops->device_close(bk->be, d->dev);
err_free_dev:
	dmac__free(d);
	return rc;
}

void dmd_bk_device_close(struct dmd_bk *bk, struct dmd_bk_dev *d)
{
	int rc;

	if (!d)
		return;
	rc = dmd__bk_bus_master(bk, d, false);
	if (rc)
		dmd_warn("device %s: cannot clear bus mastering: %s", d->bdf, strerror(-rc));
	rc = bk->ops->device_detach(bk->be, d->dev);
	if (rc)
		dmd_warn("device %s: detach: %s", d->bdf, dmd_bk_strerror(bk, rc));
	bk->ops->device_close(bk->be, d->dev);
	dmac__free(d);
}

const char *dmd_bk_device_bdf(const struct dmd_bk_dev *d)
{
	return d->bdf;
}
