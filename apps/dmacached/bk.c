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
#include <fcntl.h>
#include <inttypes.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
	int irq_index; /* VFIO irq index wired by export, or -1 */
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

/* Root of sysfs: the test backend reads a fake tree from $DMAC_TEST_SYSFS. */
static const char *dmd__bk_sysfs(const struct dmd_bk *bk);

/*
 * Interrupt isolation. A strict tenant maps whole BARs, MSI-X table
 * included, so it can rewrite its device's MSI addresses and data. With
 * interrupt remapping an MSI is checked against remapping entries that only
 * accept the device's own requester ID, and an address outside the MSI window
 * is a plain DMA write that the IOMMU translates through the tenant's own
 * IOAS. Both backends refuse to attach a device whose group lacks isolated
 * MSI, unless the administrator set their allow_unsafe_interrupts module
 * parameter; then a device could inject arbitrary interrupts, and the daemon
 * refuses devices instead of trusting the attach.
 */
static int dmd__bk_msi_isolated(const struct dmd_bk *bk, const char *bdf)
{
	const char *mod = !strcmp(bk->ops->name, "vfio") ? "vfio_iommu_type1" : "iommufd";
	char path[512], v[8] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/module/%s/parameters/allow_unsafe_interrupts",
		 dmd__bk_sysfs(bk), mod);
	f = fopen(path, "re");
	if (!f)
		return 0; /* no such parameter: it cannot be set, the kernel checks */
	if (!fgets(v, sizeof(v), f))
		v[0] = '\0';
	fclose(f);
	if (v[0] == 'Y' || v[0] == 'y' || v[0] == '1') {
		dmd_err("device %s: refused: %s=%c lets devices without interrupt "
			"remapping attach, and a tenant that maps the MSI-X table could then "
			"raise any interrupt; clear it (docs/operations.md)",
			bdf, path, v[0]);
		return -EPERM;
	}
	return 0;
}

int dmd_bk_device_open(struct dmd_bk *bk, const char *bdf, uint32_t space, struct dmd_bk_dev **out)
{
	struct dmd_bk_dev *d;
	int rc;

	rc = dmd__bk_msi_isolated(bk, bdf);
	if (rc)
		return rc;
	d = dmac__calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	d->irq_index = -1;
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
	/* Bus master stays off until a session claims the device (DEVICE): an
	 * earlier holder of its BAR files may still program it. */
	rc = dmd__bk_bus_master(bk, d, false);
	if (rc) {
		dmd_err("device %s: cannot clear bus mastering: %s", bdf, strerror(-rc));
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
	if (d->irq_index >= 0)
		dmd_bk_device_stop(bk, d);
	rc = dmd__bk_bus_master(bk, d, false);
	if (rc)
		dmd_warn("device %s: cannot clear bus mastering: %s", d->bdf, strerror(-rc));
	rc = bk->ops->device_detach(bk->be, d->dev);
	if (rc)
		dmd_warn("device %s: detach: %s", d->bdf, dmd_bk_strerror(bk, rc));
	bk->ops->device_close(bk->be, d->dev);
	dmac__free(d);
}

int dmd_bk_device_move(struct dmd_bk *bk, struct dmd_bk_dev *d, uint32_t space)
{
	int rc;

	if (d->irq_index >= 0)
		dmd_bk_device_stop(bk, d);
	rc = dmd__bk_bus_master(bk, d, false);
	if (rc)
		dmd_warn("device %s: cannot clear bus mastering: %s", d->bdf, strerror(-rc));
	rc = bk->ops->device_replace(bk->be, d->dev, space);
	if (rc)
		dmd_err("device %s: cannot move to space %u: %s", d->bdf, space,
			dmd_bk_strerror(bk, rc));
	return rc;
}

const char *dmd_bk_device_bdf(const struct dmd_bk_dev *d)
{
	return d->bdf;
}

/* ---- device export (DEVICE request) and stop ----------------------------- */

static const char *dmd__bk_sysfs(const struct dmd_bk *bk)
{
#ifdef DMACD_TEST_BUILD
	if (!strcmp(bk->ops->name, "test") && getenv("DMAC_TEST_SYSFS"))
		return getenv("DMAC_TEST_SYSFS");
#endif
	(void)bk;
	return "/sys";
}

/* Read the first line of <sysfs>/bus/pci/devices/<bdf>/<name>. */
static int dmd__bk_sysfs_read(const struct dmd_bk *bk, const struct dmd_bk_dev *d, const char *name,
			      char *buf, size_t cap)
{
	char path[512];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", dmd__bk_sysfs(bk), d->bdf, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)cap, f))
		rc = -EIO;
	fclose(f);
	return rc;
}

/* Interrupt vectors of VFIO irq @p index (0: none). */
static uint32_t dmd__bk_irq_count(struct dmd_bk *bk, struct dmd_bk_dev *d, unsigned int index)
{
	struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = index};

#ifdef DMACD_TEST_BUILD
	if (!strcmp(bk->ops->name, "test"))
		return dmd_test_backend_irq_count(d->dev, index);
#endif
	if (ioctl(bk->ops->device_fd(d->dev), VFIO_DEVICE_GET_IRQ_INFO, &ii))
		return 0;
	return ii.count;
}

/* Wire n eventfds to VFIO irq @p index (n 0 = disable). */
static int dmd__bk_set_irqs(struct dmd_bk *bk, struct dmd_bk_dev *d, unsigned int index,
			    const int *fds, uint32_t n)
{
	char buf[sizeof(struct vfio_irq_set) + 16 * sizeof(int)];
	struct vfio_irq_set *set = (void *)buf;

#ifdef DMACD_TEST_BUILD
	if (!strcmp(bk->ops->name, "test"))
		return dmd_test_backend_set_irqs(d->dev, index, n);
#endif
	if (n > 16)
		return -EINVAL;
	memset(buf, 0, sizeof(buf));
	set->argsz = (uint32_t)(sizeof(*set) + n * sizeof(int));
	set->flags =
	    VFIO_IRQ_SET_ACTION_TRIGGER | (n ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = index;
	set->start = 0;
	set->count = n;
	if (n)
		memcpy(set->data, fds, n * sizeof(int));
	if (ioctl(bk->ops->device_fd(d->dev), VFIO_DEVICE_SET_IRQS, set))
		return -errno;
	return 0;
}

/* Whether the device supports VFIO_DEVICE_RESET. */
static int dmd__bk_reset(struct dmd_bk *bk, struct dmd_bk_dev *d)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};
	int fd;

#ifdef DMACD_TEST_BUILD
	if (!strcmp(bk->ops->name, "test"))
		return dmd_test_backend_reset(d->dev);
#endif
	fd = bk->ops->device_fd(d->dev);
	if (ioctl(fd, VFIO_DEVICE_GET_INFO, &di))
		return -errno;
	if (!(di.flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTTY;
	if (ioctl(fd, VFIO_DEVICE_RESET))
		return -errno;
	return 0;
}

static int dmd__bk_device_fd_dup(struct dmd_bk *bk, struct dmd_bk_dev *d)
{
	int fd;

#ifdef DMACD_TEST_BUILD
	if (!strcmp(bk->ops->name, "test")) {
		char path[512];

		snprintf(path, sizeof(path), "%s/dev/vfio/devices/%s", dmd__bk_sysfs(bk), d->bdf);
		fd = open(path, O_RDWR | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
#endif
	fd = fcntl(bk->ops->device_fd(d->dev), F_DUPFD_CLOEXEC, 3);
	return fd < 0 ? -errno : fd;
}

static void dmd__bk_info_close(struct dmd_bk_dev_info *info)
{
	for (unsigned int i = 0; i < DMD_NUM_BARS; i++)
		if (info->bars[i].fd >= 0)
			close(info->bars[i].fd);
	for (uint32_t i = 0; i < info->nirqs; i++)
		close(info->irq_fds[i]);
	if (info->device_fd >= 0)
		close(info->device_fd);
}

int dmd_bk_device_export(struct dmd_bk *bk, struct dmd_bk_dev *d, bool trusted,
			 unsigned int max_fds, struct dmd_bk_dev_info *info)
{
	static const unsigned int kinds[][2] = {{VFIO_PCI_MSIX_IRQ_INDEX, DMD_IRQ_MSIX},
						{VFIO_PCI_MSI_IRQ_INDEX, DMD_IRQ_MSI},
						{VFIO_PCI_INTX_IRQ_INDEX, DMD_IRQ_INTX}};
	unsigned int used = trusted ? 1 : 0;
	char line[128], path[512];
	FILE *f;
	int rc;

	memset(info, 0, sizeof(*info));
	info->device_fd = -1;
	info->numa_node = -1;
	for (unsigned int i = 0; i < DMD_NUM_BARS; i++)
		info->bars[i].fd = -1;
	snprintf(info->bdf, sizeof(info->bdf), "%s", d->bdf);

	if (!dmd__bk_sysfs_read(bk, d, "vendor", line, sizeof(line)))
		info->vendor_id = (uint16_t)strtoul(line, NULL, 16);
	if (!dmd__bk_sysfs_read(bk, d, "device", line, sizeof(line)))
		info->device_id = (uint16_t)strtoul(line, NULL, 16);
	if (!dmd__bk_sysfs_read(bk, d, "numa_node", line, sizeof(line))) {
		long n = strtol(line, NULL, 10);

		info->numa_node = n < -1 || n > INT32_MAX ? -1 : (int32_t)n;
	}

	/* BARs: one "start end flags" line each in 'resource'. */
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource", dmd__bk_sysfs(bk), d->bdf);
	f = fopen(path, "re");
	if (!f) {
		rc = -ENODEV;
		dmd_err("device %s: cannot read %s: %s", d->bdf, path, strerror(errno));
		return rc;
	}
	for (unsigned int i = 0; i < DMD_NUM_BARS && fgets(line, sizeof(line), f); i++) {
		unsigned long long start, end, fl;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &fl) != 3 || !end || end < start)
			continue;
		info->bars[i].size = end - start + 1;
		if (fl & 0x100) /* IORESOURCE_IO */
			info->bars[i].flags = DMD_BAR_IO;
		else if (fl & 0x200) /* IORESOURCE_MEM */
			info->bars[i].flags = DMD_BAR_MEM | (fl & 0x2000 ? DMD_BAR_PREFETCH : 0) |
					      (fl & 0x100000 ? DMD_BAR_64 : 0);
		else
			info->bars[i].size = 0;
	}
	fclose(f);
	for (unsigned int i = 0; i < DMD_NUM_BARS; i++) {
		if (!(info->bars[i].flags & DMD_BAR_MEM) || used >= max_fds)
			continue;
		snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource%u", dmd__bk_sysfs(bk),
			 d->bdf, i);
		info->bars[i].fd = open(path, O_RDWR | O_CLOEXEC);
		if (info->bars[i].fd < 0) {
			rc = -errno;
			if (rc == -EMFILE || rc == -ENFILE)
				goto err_close_fds;
			dmd_warn("device %s: BAR %u: cannot open %s: %s (not mappable)", d->bdf, i,
				 path, strerror(-rc));
			continue;
		}
		info->bars[i].flags |= DMD_BAR_MMAP;
		used++;
	}
	if (trusted) {
		rc = dmd__bk_device_fd_dup(bk, d);
		if (rc < 0) {
			dmd_err("device %s: cannot dup the device fd: %s", d->bdf, strerror(-rc));
			goto err_close_fds;
		}
		info->device_fd = rc;
	}

	/* Interrupts: MSI-X, else MSI, else INTx. */
	for (unsigned int k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && !info->irq_type; k++) {
		uint32_t n = dmd__bk_irq_count(bk, d, kinds[k][0]);

		if (n > max_fds - used)
			n = max_fds - used;
		if (!n)
			continue;
		for (info->nirqs = 0; info->nirqs < n; info->nirqs++) {
			int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

			if (efd < 0) {
				rc = -errno;
				goto err_close_fds;
			}
			info->irq_fds[info->nirqs] = efd;
		}
		rc = dmd__bk_set_irqs(bk, d, kinds[k][0], info->irq_fds, n);
		if (rc) {
			dmd_warn("device %s: cannot wire %u vector(s) of irq index %u: %s", d->bdf,
				 n, kinds[k][0], strerror(-rc));
			for (uint32_t i = 0; i < info->nirqs; i++)
				close(info->irq_fds[i]);
			info->nirqs = 0;
			continue;
		}
		if (kinds[k][1] == DMD_IRQ_INTX)
			dmd_info("device %s: no MSI-X or MSI; INTx wired (shared line, level)",
				 d->bdf);
		info->irq_type = kinds[k][1];
		d->irq_index = (int)kinds[k][0];
	}
	if (!info->irq_type)
		dmd_info("device %s: no interrupt wired (polling only)", d->bdf);
	return 0;

err_close_fds:
	dmd__bk_info_close(info);
	info->nirqs = 0;
	return rc;
}

void dmd_bk_device_stop(struct dmd_bk *bk, struct dmd_bk_dev *d)
{
	int rc, reset_rc;

	rc = dmd__bk_bus_master(bk, d, false);
	if (rc)
		dmd_warn("device %s: cannot clear bus mastering: %s", d->bdf, strerror(-rc));
	reset_rc = dmd__bk_reset(bk, d);
	if (reset_rc && reset_rc != -ENOTTY)
		dmd_warn("device %s: reset: %s", d->bdf, strerror(-reset_rc));
	if (d->irq_index >= 0) {
		rc = dmd__bk_set_irqs(bk, d, (unsigned int)d->irq_index, NULL, 0);
		if (rc)
			dmd_warn("device %s: cannot disable interrupts: %s", d->bdf, strerror(-rc));
		d->irq_index = -1;
	}
	dmd_info("device %s: DMA stopped (bus master off%s, interrupts off)", d->bdf,
		 reset_rc ? "" : ", reset");
}

int dmd_bk_device_restart(struct dmd_bk *bk, struct dmd_bk_dev *d)
{
	int rc = dmd__bk_bus_master(bk, d, true);

	if (rc)
		dmd_err("device %s: cannot enable bus mastering: %s", d->bdf, strerror(-rc));
	return rc;
}

/*
 * Whether anyone still holds one of the device's BAR files for writing: a
 * read lease (F_SETLEASE F_RDLCK) on a file is refused with EAGAIN exactly
 * while some open file description of it has write access (the kernel's
 * i_writecount). Every resourceN fd the daemon hands out is O_RDWR, and a
 * mapping keeps its file description alive, so this sees an fd kept open, a
 * mapping kept after the fd was closed, an fd inherited by a child and an fd
 * in flight in an SCM_RIGHTS message alike. Only root can open the files, so
 * once free they stay free until the daemon opens them again.
 */
int dmd_bk_device_bars_free(struct dmd_bk *bk, struct dmd_bk_dev *d)
{
	char line[128], path[512];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource", dmd__bk_sysfs(bk), d->bdf);
	f = fopen(path, "re");
	if (!f) {
		dmd_err("device %s: cannot read %s: %s", d->bdf, path, strerror(errno));
		return -ENODEV;
	}
	for (unsigned int i = 0; i < DMD_NUM_BARS && !rc && fgets(line, sizeof(line), f); i++) {
		unsigned long long start, end, fl;
		int fd;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &fl) != 3 || !end ||
		    !(fl & 0x200) /* IORESOURCE_MEM */)
			continue;
		snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource%u", dmd__bk_sysfs(bk),
			 d->bdf, i);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* no resource file: nobody can map it */
			rc = -errno;
			dmd_err("device %s: BAR %u: cannot open %s: %s", d->bdf, i, path,
				strerror(-rc));
			break;
		}
		if (fcntl(fd, F_SETLEASE, F_RDLCK)) {
			rc = errno == EAGAIN ? -EBUSY : -errno;
			if (rc == -EBUSY)
				dmd_warn("device %s: BAR %u is still open or mapped by an earlier "
					 "holder (fd or mapping of %s); not handed out",
					 d->bdf, i, path);
			else
				dmd_err("device %s: BAR %u: cannot prove %s unused (F_SETLEASE: "
					"%s); not handed out",
					d->bdf, i, path, strerror(-rc));
		} else {
			fcntl(fd, F_SETLEASE, F_UNLCK);
		}
		close(fd);
	}
	fclose(f);
	return rc == 0 ? 0 : rc == -EBUSY || rc == -EMFILE || rc == -ENFILE ? rc : -EBUSY;
}
