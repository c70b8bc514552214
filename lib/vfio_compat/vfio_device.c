/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices of the VFIO type1 backend: IOMMU groups (/dev/vfio/<n>), their
 * containers, and device fds from VFIO_GROUP_GET_DEVICE_FD.
 *
 * Invariants (see also vfio_priv.h):
 * - Type1 attaches whole groups: every attached device of a group is in the
 *   same space; a device of a group already in space A cannot attach to B.
 * - The kernel hands out a device fd only for a group in a container with an
 *   IOMMU set, and lets a group leave its container only when none of its
 *   device fds is open (VFIO_GROUP_UNSET_CONTAINER allows the 1 -> 0
 *   container-user transition only). So a detached device has no device fd:
 *   dev->fd is then a /dev/null placeholder kept at the same fd number, and
 *   attach swaps the new device fd in with dup3(). Closing the device fd makes
 *   vfio-pci reset the function: device state does not survive detach or
 *   replace on this backend.
 * - Replace is detach + attach: DMA is blocked between the two (never routed
 *   to a third space). If the attach fails the device is re-attached to its
 *   old space (best effort, logged).
 * - Every function here except the two accessors runs under be->lock.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmac_alloc.h"
#include "vfio_priv.h"

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int dmac__vfio_parse_bdf(const char *in, char out[16])
{
	unsigned int dom = 0, bus, dev, fn;
	char tail;

	if (!in)
		return -EINVAL;
	if (strlen(in) == 12) {
		if (sscanf(in, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) != 4)
			return -EINVAL;
	} else if (strlen(in) == 7) {
		if (sscanf(in, "%2x:%2x.%1x%c", &bus, &dev, &fn, &tail) != 3)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	for (const char *p = in; *p; p++)
		if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
			return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, 16, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* The IOMMU group number of a PCI device, from its iommu_group link. */
static int find_group(struct dmac_backend *be, const char *bdf, unsigned int *num)
{
	char path[2 * DMAC__VPATH_MAX], link[PATH_MAX];
	const char *base;
	ssize_t n;
	char *end;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", be->sysfs_root, bdf);
	if (access(path, F_OK))
		return dmac__vfio_fail("device_open", ENODEV, "%s: no PCI device %s", bdf, path);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", be->sysfs_root, bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0',
		      strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, "vfio-pci")))
		return dmac__vfio_fail("device_open", ENODEV,
				       "%s: not bound to vfio-pci (%s -> %s)", bdf, path,
				       n < 0 ? "none" : link);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/iommu_group", be->sysfs_root, bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return dmac__vfio_fail("device_open", ENODEV,
				       "%s: no %s: the device has no IOMMU group (no IOMMU?)", bdf,
				       path);
	link[n] = '\0';
	base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	errno = 0;
	*num = (unsigned int)strtoul(base, &end, 10);
	if (errno || end == base || *end)
		return dmac__vfio_fail("device_open", ENODEV, "%s: unparsable group link %s", bdf,
				       link);
	return 0;
}

static int group_open(struct dmac_backend *be, const char *bdf, unsigned int num,
		      struct dmac__vgroup **out)
{
	struct vfio_group_status st = {.argsz = sizeof(st)};
	char path[DMAC__VPATH_MAX + 32];
	struct dmac__vgroup *g;
	struct stat sb;
	int ret;

	for (g = be->groups; g; g = g->next) {
		if (g->num == num) {
			*out = g;
			return 0;
		}
	}
	snprintf(path, sizeof(path), "%s/vfio/%u", be->dev_root, num);
	if (stat(path, &sb)) {
		char noiommu[DMAC__VPATH_MAX + 32];

		snprintf(noiommu, sizeof(noiommu), "%s/vfio/noiommu-%u", be->dev_root, num);
		if (!stat(noiommu, &sb))
			return dmac__vfio_fail("device_open", EOPNOTSUPP,
					       "%s: group %u is a no-IOMMU group (%s): the device "
					       "could DMA anywhere, dmacache refuses it",
					       bdf, num, noiommu);
	}
	g = dmac__calloc(1, sizeof(*g));
	if (!g)
		return dmac__vfio_fail("device_open", ENOMEM, "%s, group %u", bdf, num);
	g->num = num;
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		ret = dmac__vfio_fail("open", errno, "%s, group %u (%s)", bdf, num, path);
		goto free_g;
	}
	ret = xioctl(g->fd, VFIO_GROUP_GET_STATUS, &st);
	if (ret) {
		dmac__vfio_fail("VFIO_GROUP_GET_STATUS", -ret, "%s, group %u", bdf, num);
		goto close_fd;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = dmac__vfio_fail("VFIO_GROUP_GET_STATUS", ENODEV,
				      "%s, group %u: not viable: some device of the group is not "
				      "bound to vfio-pci (or to no driver)",
				      bdf, num);
		goto close_fd;
	}
	if (st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) {
		ret = dmac__vfio_fail("VFIO_GROUP_GET_STATUS", EBUSY,
				      "%s, group %u: already in a container", bdf, num);
		goto close_fd;
	}
	g->next = be->groups;
	be->groups = g;
	*out = g;
	return 0;

close_fd:
	close(g->fd);
free_g:
	dmac__free(g);
	return ret;
}

static void group_put(struct dmac_backend *be, struct dmac__vgroup *g)
{
	struct dmac__vgroup **pp;

	if (--g->nr_open)
		return;
	for (pp = &be->groups; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	close(g->fd);
	dmac__free(g);
}

int dmac__vfio_device_open(struct dmac_backend *be, const char *bdf, struct dmac_device **out)
{
	struct dmac_device *dev, *d;
	struct dmac__vgroup *g;
	char canon[16];
	unsigned int num;
	int ret;

	if (!out)
		return -EINVAL;
	if (dmac__vfio_parse_bdf(bdf, canon))
		return dmac__vfio_fail("device_open", EINVAL,
				       "'%s': malformed PCI address (want DDDD:BB:DD.F)",
				       bdf ? bdf : "(null)");
	dev = dmac__calloc(1, sizeof(*dev));
	if (!dev)
		return dmac__vfio_fail("device_open", ENOMEM, "%s", canon);
	snprintf(dev->bdf, sizeof(dev->bdf), "%s", canon);
	dev->fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = dmac__vfio_fail("open", errno, "%s: /dev/null placeholder", canon);
		goto free_dev;
	}
	pthread_mutex_lock(&be->lock);
	for (d = be->devices; d; d = d->next) {
		if (!strcmp(d->bdf, canon)) {
			ret = dmac__vfio_fail("device_open", EBUSY, "%s: already open", canon);
			goto unlock;
		}
	}
	ret = find_group(be, canon, &num);
	if (ret)
		goto unlock;
	ret = group_open(be, canon, num, &g);
	if (ret)
		goto unlock;
	g->nr_open++;
	dev->group = g;
	dev->next = be->devices;
	be->devices = dev;
	pthread_mutex_unlock(&be->lock);
	*out = dev;
	return 0;

unlock:
	pthread_mutex_unlock(&be->lock);
	close(dev->fd);
free_dev:
	dmac__free(dev);
	return ret;
}

/* Put the /dev/null placeholder at dev->fd (closing the device fd). */
static int park_fd(struct dmac_device *dev)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return -errno;
	if (dup3(null, dev->fd, O_CLOEXEC) < 0) {
		int err = errno;

		close(null);
		return -err;
	}
	close(null);
	return 0;
}

static int attach_locked(struct dmac_backend *be, struct dmac_device *dev, uint32_t space_id,
			 const char *call)
{
	struct dmac__vgroup *g = dev->group;
	struct dmac__vspace *sp;
	char who[64];
	int ret, fd, joined = 0;

	if (dev->space)
		return dmac__vfio_fail(call, EBUSY, "%s: already attached to space %u", dev->bdf,
				       dev->space);
	sp = dmac__vfio_space(be, space_id);
	if (!sp)
		return dmac__vfio_fail(call, ENOENT, "%s, space %u: no such space", dev->bdf,
				       space_id);
	if (g->space && g->space != space_id)
		return dmac__vfio_fail(call, EINVAL,
				       "%s, group %u, space %u: another device of the group is "
				       "attached to space %u (type1 attaches whole groups)",
				       dev->bdf, g->num, space_id, g->space);
	snprintf(who, sizeof(who), "%s (group %u)", dev->bdf, g->num);
	if (!g->space) {
		ret = xioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &sp->fd);
		if (ret)
			return dmac__vfio_fail("VFIO_GROUP_SET_CONTAINER", -ret,
					       "%s, space %u (container fd %d)", who, space_id,
					       sp->fd);
		joined = 1;
		ret = sp->nr_groups ? 0 : dmac__vfio_space_go_live(be, sp, who);
		if (ret)
			goto unset;
		sp->nr_groups++;
		g->space = space_id;
		/* A second group may narrow the ranges: re-read them (the
		 * kernel refused the join if a mapping conflicted). */
		if (sp->nr_groups > 1 && dmac__vfio_space_refresh(be, sp, who))
			dmac_backend_log(DMAC_LOG_WARN,
					 "vfio: %s joined space %u: keeping the previous ranges",
					 who, space_id);
	}
	fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, dev->bdf);
	if (fd < 0) {
		ret = dmac__vfio_fail("VFIO_GROUP_GET_DEVICE_FD", errno, "%s, space %u", who,
				      space_id);
		goto leave;
	}
	if (dup3(fd, dev->fd, O_CLOEXEC) < 0) {
		ret = dmac__vfio_fail("dup3", errno, "%s: device fd %d onto %d", who, fd, dev->fd);
		close(fd);
		goto leave;
	}
	close(fd);
	g->nr_attached++;
	dev->space = space_id;
	return 0;

leave:
	if (!joined)
		return ret;
	g->space = 0;
	sp->nr_groups--;
unset:
	if (xioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL))
		dmac__vfio_fail("VFIO_GROUP_UNSET_CONTAINER", errno, "%s, space %u (undo)", who,
				space_id);
	if (!sp->nr_groups && sp->live)
		dmac__vfio_space_go_dormant(be, sp);
	return ret;
}

static int detach_locked(struct dmac_backend *be, struct dmac_device *dev, const char *call)
{
	struct dmac__vgroup *g = dev->group;
	struct dmac__vspace *sp;
	int ret;

	if (!dev->space)
		return dmac__vfio_fail(call, EINVAL, "%s: not attached", dev->bdf);
	ret = park_fd(dev);
	if (ret)
		return dmac__vfio_fail(call, -ret, "%s: closing the device fd", dev->bdf);
	dev->space = 0;
	if (--g->nr_attached)
		return 0;
	sp = dmac__vfio_space(be, g->space);
	ret = xioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
	if (ret) {
		/*
		 * The kernel still counts a user of the device (EBUSY: e.g. a BAR
		 * mmap keeps the device file open), so the group stays in its
		 * container. Undo the park: the group is still in a container
		 * with an IOMMU set, so the device fd can be had again, and the
		 * device stays attached with a working fd (nothing changed).
		 */
		int fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, dev->bdf);

		g->nr_attached++;
		dev->space = g->space;
		if (fd < 0 || dup3(fd, dev->fd, O_CLOEXEC) < 0)
			dmac_backend_log(DMAC_LOG_ERR,
					 "vfio: %s: could not get the device fd back after a "
					 "refused detach (%s); the device stays attached without it",
					 dev->bdf, strerror(errno));
		if (fd >= 0)
			close(fd);
		return dmac__vfio_fail("VFIO_GROUP_UNSET_CONTAINER", -ret,
				       "%s (group %u), space %u: the device is still in use "
				       "(unmap its BARs and close other fds of it first)",
				       dev->bdf, g->num, g->space);
	}
	g->space = 0;
	if (sp && !--sp->nr_groups)
		dmac__vfio_space_go_dormant(be, sp);
	return 0;
}

int dmac__vfio_device_attach(struct dmac_backend *be, struct dmac_device *dev, uint32_t space)
{
	int ret;

	pthread_mutex_lock(&be->lock);
	ret = attach_locked(be, dev, space, "device_attach");
	pthread_mutex_unlock(&be->lock);
	return ret;
}

int dmac__vfio_device_detach(struct dmac_backend *be, struct dmac_device *dev)
{
	int ret;

	pthread_mutex_lock(&be->lock);
	ret = detach_locked(be, dev, "device_detach");
	pthread_mutex_unlock(&be->lock);
	return ret;
}

int dmac__vfio_device_replace(struct dmac_backend *be, struct dmac_device *dev, uint32_t space)
{
	uint32_t old;
	int ret;

	pthread_mutex_lock(&be->lock);
	old = dev->space;
	if (!old) {
		ret = dmac__vfio_fail("device_replace", EINVAL, "%s: not attached (use attach)",
				      dev->bdf);
		goto unlock;
	}
	if (old == space) {
		ret = 0;
		goto unlock;
	}
	if (!dmac__vfio_space(be, space)) {
		ret = dmac__vfio_fail("device_replace", ENOENT, "%s, space %u: no such space",
				      dev->bdf, space);
		goto unlock;
	}
	/* Not atomic on type1: DMA is blocked from here until the attach. */
	ret = detach_locked(be, dev, "device_replace");
	if (ret)
		goto unlock;
	ret = attach_locked(be, dev, space, "device_replace");
	if (ret && attach_locked(be, dev, old, "device_replace (back to old space)"))
		dmac_backend_log(DMAC_LOG_ERR,
				 "vfio: device_replace(%s): could not return to space %u; the "
				 "device is detached",
				 dev->bdf, old);
unlock:
	pthread_mutex_unlock(&be->lock);
	return ret;
}

void dmac__vfio_device_close_locked(struct dmac_backend *be, struct dmac_device *dev)
{
	struct dmac_device **pp;

	if (dev->space)
		detach_locked(be, dev, "device_close");
	for (pp = &be->devices; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	close(dev->fd);
	group_put(be, dev->group);
	dmac__free(dev);
}

void dmac__vfio_device_close(struct dmac_backend *be, struct dmac_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_lock(&be->lock);
	dmac__vfio_device_close_locked(be, dev);
	pthread_mutex_unlock(&be->lock);
}

int dmac__vfio_device_hw_info(struct dmac_backend *be, struct dmac_device *dev,
			      struct dmac_hw_info *info)
{
	return dmac__vfio_fail("device_hw_info", EOPNOTSUPP,
			       "%s: type1 has no IOMMU hardware info (iommufd GET_HW_INFO only)",
			       dev ? dev->bdf : "(null)");
}

int dmac__vfio_device_fd(const struct dmac_device *dev)
{
	return dev->fd;
}

uint32_t dmac__vfio_device_space(const struct dmac_device *dev)
{
	return dev->space;
}
