/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VFIO cdev devices of the iommufd backend: find the cdev of a PCI address in
 * sysfs, open it, bind it to the iommufd, attach/replace/detach it.
 *
 * Invariants:
 * - A struct dmac_device exists only for a cdev that is open AND bound to
 *   be->fd (VFIO_DEVICE_BIND_IOMMUFD succeeded); closing its fd unbinds it.
 * - dev->space != 0 exactly when the kernel has the device attached to that
 *   IOAS; a failed ATTACH/DETACH leaves the kernel state and dev->space as
 *   they were (the kernel guarantees that a failed replace keeps the old
 *   attachment).
 * - The cdev is located as <sysfs>/bus/pci/devices/<bdf>/vfio-dev/vfioN and
 *   opened as <dev>/vfio/devices/vfioN; its st_rdev must equal the "MAJ:MIN"
 *   in sysfs, so a stale or foreign node is refused.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dmac_alloc.h"
#include "iommufd_priv.h"

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static int hexn(const char *s, size_t n, unsigned int *val)
{
	size_t i;

	*val = 0;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		*val = *val * 16 + (unsigned int)(isdigit((unsigned char)s[i])
						      ? s[i] - '0'
						      : tolower((unsigned char)s[i]) - 'a' + 10);
	}
	return 0;
}

int dmac__iofd_parse_bdf(const char *in, char out[16])
{
	unsigned int dom = 0, bus, dev, fn;
	size_t len;

	if (!in)
		return -EINVAL;
	len = strlen(in);
	if (len == 12) {
		/* DDDD:BB:DD.F */
		if (in[4] != ':' || hexn(in, 4, &dom))
			return -EINVAL;
		in += 5;
	} else if (len != 7) {
		return -EINVAL;
	}
	/* BB:DD.F */
	if (in[2] != ':' || in[5] != '.' || hexn(in, 2, &bus) || hexn(in + 3, 2, &dev) ||
	    hexn(in + 6, 1, &fn) || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, 16, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* Find "vfioN" under <sysfs>/bus/pci/devices/<bdf>/vfio-dev and its dev_t. */
static int find_cdev(struct dmac_backend *be, const char *bdf, char *name, size_t name_len,
		     dev_t *rdev)
{
	char path[2 * DMAC__PATH_MAX + 64];
	struct dirent *de;
	DIR *d;
	int ret = -ENODEV;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", be->sysfs_root, bdf);
	if (access(path, F_OK)) {
		dmac_backend_log(DMAC_LOG_ERR, "iommufd: device_open(%s): no PCI device %s: ENODEV",
				 bdf, path);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/vfio-dev", be->sysfs_root, bdf);
	d = opendir(path);
	if (!d) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: device_open(%s): %s missing: the device is not bound "
				 "to vfio-pci, or the kernel lacks CONFIG_VFIO_DEVICE_CDEV: ENODEV",
				 bdf, path);
		return -ENODEV;
	}
	while ((de = readdir(d))) {
		unsigned int maj, min;
		FILE *f;

		if (strncmp(de->d_name, "vfio", 4) || !isdigit((unsigned char)de->d_name[4]))
			continue;
		if (strlen(de->d_name) >= name_len)
			continue;
		snprintf(name, name_len, "%.31s", de->d_name);
		snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/vfio-dev/%s/dev",
			 be->sysfs_root, bdf, name);
		f = fopen(path, "re");
		if (!f || fscanf(f, "%u:%u", &maj, &min) != 2) {
			if (f)
				fclose(f);
			dmac_backend_log(DMAC_LOG_ERR,
					 "iommufd: device_open(%s): cannot read %s: ENODEV", bdf,
					 path);
			break;
		}
		fclose(f);
		*rdev = makedev(maj, min);
		ret = 0;
		break;
	}
	closedir(d);
	if (ret && !name[0])
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: device_open(%s): no vfioN entry under vfio-dev: ENODEV",
				 bdf);
	return ret;
}

int dmac__iofd_device_open(struct dmac_backend *be, const char *bdf, struct dmac_device **out)
{
	struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind), .iommufd = be->fd};
	char canon[16], name[32] = "";
	struct dmac_device *dev;
	struct stat st;
	dev_t rdev = 0;
	int ret;

	if (!out)
		return -EINVAL;
	if (dmac__iofd_parse_bdf(bdf, canon)) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: device_open('%s'): malformed PCI address (want "
				 "DDDD:BB:DD.F): EINVAL",
				 bdf ? bdf : "(null)");
		return -EINVAL;
	}
	ret = find_cdev(be, canon, name, sizeof(name), &rdev);
	if (ret)
		return ret;
	dev = dmac__calloc(1, sizeof(*dev));
	if (!dev)
		return dmac__iofd_fail("device_open", ENOMEM, "%s", canon);
	snprintf(dev->bdf, sizeof(dev->bdf), "%s", canon);
	snprintf(dev->cdev, sizeof(dev->cdev), "%.200s/vfio/devices/%.31s", be->dev_root, name);

	dev->fd = open(dev->cdev, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = dmac__iofd_fail("open", errno, "%s, cdev %s", canon, dev->cdev);
		goto free_dev;
	}
	if (fstat(dev->fd, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != rdev) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: device_open(%s): %s is not the char device %u:%u "
				 "named by sysfs: ENODEV",
				 canon, dev->cdev, major(rdev), minor(rdev));
		ret = -ENODEV;
		goto close_fd;
	}
	ret = xioctl(dev->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	if (ret) {
		dmac__iofd_fail("VFIO_DEVICE_BIND_IOMMUFD", -ret, "%s, cdev %s, iommufd fd %d",
				canon, dev->cdev, be->fd);
		goto close_fd;
	}
	dev->dev_id = bind.out_devid;

	pthread_mutex_lock(&be->lock);
	dev->next = be->devices;
	if (be->devices)
		be->devices->prev = dev;
	be->devices = dev;
	pthread_mutex_unlock(&be->lock);
	*out = dev;
	return 0;

close_fd:
	close(dev->fd); /* also unbinds */
free_dev:
	dmac__free(dev);
	return ret;
}

void dmac__iofd_device_close(struct dmac_backend *be, struct dmac_device *dev)
{
	if (!dev)
		return;
	/* Block DMA explicitly first; closing the fd would detach too, but an
	 * explicit detach reports failures. */
	if (dev->space)
		(void)dmac__iofd_device_detach(be, dev);
	pthread_mutex_lock(&be->lock);
	if (dev->prev)
		dev->prev->next = dev->next;
	else
		be->devices = dev->next;
	if (dev->next)
		dev->next->prev = dev->prev;
	pthread_mutex_unlock(&be->lock);
	close(dev->fd);
	dmac__free(dev);
}

static int attach_raw(struct dmac_device *dev, uint32_t space, const char *what)
{
	struct vfio_device_attach_iommufd_pt a = {.argsz = sizeof(a), .pt_id = space};
	int ret = xioctl(dev->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);

	if (ret)
		return dmac__iofd_fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT", -ret,
				       "%s device %s (dev id %u) to ioas %u, currently %s%u", what,
				       dev->bdf, dev->dev_id, space,
				       dev->space ? "attached to ioas " : "detached ", dev->space);
	dev->space = space;
	dev->hwpt = a.pt_id;
	return 0;
}

int dmac__iofd_device_attach(struct dmac_backend *be, struct dmac_device *dev, uint32_t space)
{
	if (dev->space) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: device_attach(%s to ioas %u): already attached to ioas "
				 "%u; use device_replace: EBUSY",
				 dev->bdf, space, dev->space);
		return -EBUSY;
	}
	return attach_raw(dev, space, "attach");
}

int dmac__iofd_device_replace(struct dmac_backend *be, struct dmac_device *dev, uint32_t space)
{
	if (!dev->space) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: device_replace(%s to ioas %u): not attached; use "
				 "device_attach: EINVAL",
				 dev->bdf, space);
		return -EINVAL;
	}
	/* A second ATTACH_IOMMUFD_PT on an attached device replaces atomically. */
	return attach_raw(dev, space, "replace");
}

int dmac__iofd_device_detach(struct dmac_backend *be, struct dmac_device *dev)
{
	struct vfio_device_detach_iommufd_pt d = {.argsz = sizeof(d)};
	int ret;

	if (!dev->space) {
		dmac_backend_log(DMAC_LOG_ERR, "iommufd: device_detach(%s): not attached: EINVAL",
				 dev->bdf);
		return -EINVAL;
	}
	ret = xioctl(dev->fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
	if (ret)
		return dmac__iofd_fail("VFIO_DEVICE_DETACH_IOMMUFD_PT", -ret,
				       "device %s (dev id %u) from ioas %u", dev->bdf, dev->dev_id,
				       dev->space);
	dev->space = 0;
	dev->hwpt = 0;
	return 0;
}

int dmac__iofd_device_hw_info(struct dmac_backend *be, struct dmac_device *dev,
			      struct dmac_hw_info *info)
{
	uint8_t data[sizeof(info->data.raw)] = {0};
	struct iommu_hw_info h = {
	    .size = sizeof(h),
	    .dev_id = dev->dev_id,
	    .data_len = sizeof(data),
	    .data_uptr = (uintptr_t)data,
	};
	int ret;

	if (!info)
		return -EINVAL;
	if (!(be->features & DMAC_BACKEND_F_HW_INFO))
		return dmac__iofd_fail("IOMMU_GET_HW_INFO", EOPNOTSUPP, "device %s", dev->bdf);
	ret = xioctl(be->fd, IOMMU_GET_HW_INFO, &h);
	if (ret)
		return dmac__iofd_fail("IOMMU_GET_HW_INFO", -ret, "device %s (dev id %u)", dev->bdf,
				       dev->dev_id);
	memset(info, 0, sizeof(*info));
	info->type = h.out_data_type;
	info->capabilities = h.out_capabilities;
	info->data_len = h.data_len < sizeof(data) ? h.data_len : sizeof(data);
	if (h.out_data_type == IOMMU_HW_INFO_TYPE_INTEL_VTD &&
	    info->data_len >= sizeof(struct iommu_hw_info_vtd)) {
		struct iommu_hw_info_vtd vtd;

		memcpy(&vtd, data, sizeof(vtd));
		info->data.vtd.flags = vtd.flags;
		info->data.vtd.cap_reg = vtd.cap_reg;
		info->data.vtd.ecap_reg = vtd.ecap_reg;
	} else {
		memcpy(info->data.raw, data, info->data_len);
	}
	return 0;
}

int dmac__iofd_device_fd(const struct dmac_device *dev)
{
	return dev->fd;
}

uint32_t dmac__iofd_device_space(const struct dmac_device *dev)
{
	return dev->space;
}

DMAC_EXPORT uint32_t dmac_iommufd_device_id(const struct dmac_device *dev)
{
	return dev->dev_id;
}

DMAC_EXPORT uint32_t dmac_iommufd_device_hwpt(const struct dmac_device *dev)
{
	return dev->hwpt;
}
