/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iommufd backend: IO address spaces (IOAS) over /dev/iommu.
 *
 * Invariants:
 * - Every operation validates its arguments (flags, prot, zero lengths,
 *   start + length wrapping) before any ioctl and returns -errno unchanged
 *   from the kernel otherwise; a failed ioctl changes nothing in the kernel
 *   (iommufd's own guarantee for MAP/COPY/UNMAP/ALLOW_IOVAS/OPTION/DESTROY)
 *   and nothing here (the only state is the feature mask, fixed at open).
 * - Lengths are exclusive-end byte counts; ranges are [start, last] with
 *   'last' inclusive, as in the uapi.
 * - Space ids are IOAS ids; 0 is never a valid IOAS id.
 * - Feature bits are computed once at open() by probing each ioctl: ENOTTY
 *   means the kernel lacks the command, anything else means it has it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmac_alloc.h"
#include "iommufd_priv.h"

#define DEFAULT_IOMMU_PATH "/dev/iommu"

/* ---- errors ------------------------------------------------------------- */

const char *dmac__iofd_meaning(const char *call, int err)
{
	int unmap = call && strstr(call, "UNMAP");
	int copy = call && strstr(call, "COPY");
	int attach = call && strstr(call, "ATTACH");
	int bind = call && strstr(call, "BIND");

	switch (err) {
	case ENOTTY:
		return "ioctl not supported by this kernel (command unknown to iommufd/vfio)";
	case E2BIG:
		return "struct larger than the kernel understands, with non-zero trailing bytes";
	case EOPNOTSUPP:
		return "ioctl understood but a flag/option value is unsupported or a reserved "
		       "field is non-zero";
	case EINVAL:
		if (bind)
			return "the device is already open and bound through another fd (a VFIO "
			       "cdev device is bound once at a time), or non-zero flags";
		if (attach)
			return "invalid argument (the IOMMU refuses this device/page table, or "
			       "bad flags)";
		return "a field is wrong (zero length, misaligned IOVA/length, IOVA outside "
		       "the usable ranges, or an id of the wrong object type)";
	case ENOENT:
		if (unmap)
			return "no such IOAS id, or no mapping exactly covering that range: "
			       "iommufd never splits or truncates an area (unmap the whole "
			       "area)";
		if (copy)
			return "source range not fully mapped in the source IOAS, or no such "
			       "IOAS id";
		return "no such object id (IOAS, device, hw_pagetable) or IOVA";
	case EEXIST:
		return "the IOVA range overlaps an existing mapping";
	case ENOMEM:
		return "out of memory, or pinned pages over RLIMIT_MEMLOCK";
	case EOVERFLOW:
		return "arithmetic overflow (iova + length wraps)";
	case EBUSY:
		if (unmap)
			return "pages in use by an in-kernel access";
		return "object busy (a device is still attached, pages are in use, or the "
		       "option cannot change while mappings exist)";
	case EPERM:
	case EACCES:
		return "permission denied (CAP_SYS_RESOURCE or CAP_IPC_LOCK needed, or "
		       "device node permissions)";
	case ENOSPC:
		return "no free IOVA range of that size in the allowed ranges";
	case EMSGSIZE:
		return "output array too small";
	case EFAULT:
		return "bad user address (VA not mapped in this process)";
	case ENODEV:
		return "no such device (not bound to vfio-pci, or no VFIO cdev)";
	default:
		return strerror(err);
	}
}

static const char *errname(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "E?";
}

int dmac__iofd_fail(const char *call, int err, const char *fmt, ...)
{
	char obj[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(obj, sizeof(obj), fmt, ap);
	va_end(ap);
	dmac_backend_log(DMAC_LOG_ERR, "iommufd: %s(%s) failed: %s (%d): %s", call, obj,
			 errname(err), err, dmac__iofd_meaning(call, err));
	return -err;
}

static const char *iofd_strerror(int err)
{
	return dmac__iofd_meaning(NULL, err < 0 ? -err : err);
}

/* ioctl that returns 0 or -errno. */
static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

/* ---- argument checks ------------------------------------------------------ */

/* [start, start + length) must be non-empty and not wrap past UINT64_MAX.
 * 'what' names the start ("va", "iova", "offset") in the message. */
static int check_range(const char *call, uint32_t space, const char *what, uint64_t start,
		       uint64_t length)
{
	if (!length) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: %s(ioas %u, %s 0x%llx, length 0): zero length: EINVAL",
				 call, space, what, (unsigned long long)start);
		return -EINVAL;
	}
	if (start + (length - 1) < start) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: %s(ioas %u, %s 0x%llx, length 0x%llx): range wraps "
				 "past 2^64: EOVERFLOW",
				 call, space, what, (unsigned long long)start,
				 (unsigned long long)length);
		return -EOVERFLOW;
	}
	return 0;
}

static int map_flags(const char *call, uint32_t space, uint32_t prot, uint32_t flags,
		     uint32_t *kflags)
{
	if ((prot & ~(uint32_t)(DMAC_PROT_READ | DMAC_PROT_WRITE)) ||
	    (flags & ~(uint32_t)DMAC_MAP_FIXED_IOVA)) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: %s(ioas %u): unknown prot 0x%x or flags 0x%x: "
				 "EOPNOTSUPP",
				 call, space, prot, flags);
		return -EOPNOTSUPP;
	}
	if (!prot) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "iommufd: %s(ioas %u): prot must allow READ and/or WRITE: EINVAL",
				 call, space);
		return -EINVAL;
	}
	*kflags = ((prot & DMAC_PROT_READ) ? IOMMU_IOAS_MAP_READABLE : 0) |
		  ((prot & DMAC_PROT_WRITE) ? IOMMU_IOAS_MAP_WRITEABLE : 0) |
		  ((flags & DMAC_MAP_FIXED_IOVA) ? IOMMU_IOAS_MAP_FIXED_IOVA : 0);
	return 0;
}

/* ---- probe / open / close / features ------------------------------------- */

static int iofd_probe(char *reason, size_t len)
{
	struct stat st;

	if (stat(DEFAULT_IOMMU_PATH, &st) || !S_ISCHR(st.st_mode)) {
		snprintf(reason, len, "no character device %s (kernel without CONFIG_IOMMUFD)",
			 DEFAULT_IOMMU_PATH);
		return -ENODEV;
	}
	/*
	 * VFIO device cdevs: /dev/vfio/devices appears only once some device
	 * is bound to vfio-pci, while the vfio-dev class exists as soon as the
	 * kernel has CONFIG_VFIO_DEVICE_CDEV. Either one says devices can be
	 * used through this backend; a daemon may start before any binding.
	 */
	if (!stat("/dev/vfio/devices", &st) && S_ISDIR(st.st_mode)) {
		snprintf(reason, len, "%s and /dev/vfio/devices present", DEFAULT_IOMMU_PATH);
		return 0;
	}
	if (!stat("/sys/class/vfio-dev", &st) && S_ISDIR(st.st_mode)) {
		snprintf(reason, len,
			 "%s present, VFIO device cdevs supported (/sys/class/vfio-dev; no "
			 "device bound to vfio-pci yet)",
			 DEFAULT_IOMMU_PATH);
		return 0;
	}
	snprintf(reason, len,
		 "%s exists but neither /dev/vfio/devices nor /sys/class/vfio-dev does "
		 "(kernel without CONFIG_VFIO_DEVICE_CDEV)",
		 DEFAULT_IOMMU_PATH);
	return -ENODEV;
}

/* 1 if the kernel knows this iommufd command, 0 if ENOTTY. A zero size field
 * makes a known command fail with EINVAL before touching anything. */
static int has_cmd(int fd, unsigned long req)
{
	uint32_t zero[16] = {0};

	if (ioctl(fd, req, zero) == 0)
		return 1;
	return errno != ENOTTY;
}

static int option_raw(int fd, uint16_t op, uint32_t option_id, uint32_t object_id, uint64_t *val)
{
	struct iommu_option o = {
	    .size = sizeof(o),
	    .option_id = option_id,
	    .op = op,
	    .object_id = object_id,
	    .val64 = *val,
	};
	int ret = xioctl(fd, IOMMU_OPTION, &o);

	if (!ret)
		*val = o.val64;
	return ret;
}

static uint64_t detect_features(int fd)
{
	uint64_t f = DMAC_BACKEND_F_UNMAP_ALL | DMAC_BACKEND_F_MULTI_SPACE | DMAC_BACKEND_F_REPLACE;
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	uint64_t val = 0;
	int ret;

	if (has_cmd(fd, IOMMU_IOAS_COPY))
		f |= DMAC_BACKEND_F_COPY;
	if (has_cmd(fd, IOMMU_GET_HW_INFO))
		f |= DMAC_BACKEND_F_HW_INFO;
	if (has_cmd(fd, DMAC__IOMMU_IOAS_MAP_FILE))
		f |= DMAC_BACKEND_F_MAP_FILE;
	if (has_cmd(fd, DMAC__IOMMU_IOAS_CHANGE_PROCESS))
		f |= DMAC_BACKEND_F_CHANGE_PROCESS;
	if (!option_raw(fd, IOMMU_OPTION_OP_GET, IOMMU_OPTION_RLIMIT_MODE, 0, &val))
		f |= DMAC_BACKEND_F_RLIMIT_MODE;
	/* HUGE_PAGES is per IOAS: ask a scratch one. */
	if (!xioctl(fd, IOMMU_IOAS_ALLOC, &alloc)) {
		struct iommu_destroy d = {.size = sizeof(d), .id = alloc.out_ioas_id};

		val = 0;
		if (!option_raw(fd, IOMMU_OPTION_OP_GET, IOMMU_OPTION_HUGE_PAGES, alloc.out_ioas_id,
				&val))
			f |= DMAC_BACKEND_F_HUGE_PAGES;
		ret = xioctl(fd, IOMMU_DESTROY, &d);
		if (ret)
			dmac__iofd_fail("IOMMU_DESTROY", -ret, "scratch ioas %u",
					alloc.out_ioas_id);
	}
	return f;
}

static void copy_root(char *dst, const char *src, const char *def)
{
	snprintf(dst, DMAC__PATH_MAX, "%s", src && src[0] ? src : def);
}

static int iofd_open(const struct dmac_backend_config *cfg, struct dmac_backend **out)
{
	const char *path = cfg && cfg->path ? cfg->path : DEFAULT_IOMMU_PATH;
	struct dmac_backend *be;
	int ret;

	if (!out)
		return -EINVAL;
	be = dmac__calloc(1, sizeof(*be));
	if (!be) {
		dmac_backend_log(DMAC_LOG_ERR, "iommufd: open(%s): out of memory", path);
		return -ENOMEM;
	}
	be->fd = open(path, O_RDWR | O_CLOEXEC);
	if (be->fd < 0) {
		ret = -errno;
		dmac__iofd_fail("open", -ret, "%s", path);
		goto free_be;
	}
	ret = pthread_mutex_init(&be->lock, NULL);
	if (ret) {
		ret = -ret;
		goto close_fd;
	}
	copy_root(be->sysfs_root, cfg ? cfg->sysfs_root : NULL, "/sys");
	copy_root(be->dev_root, cfg ? cfg->dev_root : NULL, "/dev");
	be->features = detect_features(be->fd);
	dmac_backend_log(DMAC_LOG_DEBUG, "iommufd: opened %s, features 0x%llx", path,
			 (unsigned long long)be->features);
	*out = be;
	return 0;

close_fd:
	close(be->fd);
free_be:
	dmac__free(be);
	return ret;
}

static void iofd_close(struct dmac_backend *be)
{
	if (!be)
		return;
	/* No concurrent callers (contract): the list is stable. */
	while (be->devices)
		dmac__iofd_device_close(be, be->devices);
	/* Closing the iommufd destroys every IOAS and releases every pin. */
	close(be->fd);
	pthread_mutex_destroy(&be->lock);
	dmac__free(be);
}

static uint64_t iofd_features(const struct dmac_backend *be)
{
	return be->features;
}

DMAC_EXPORT int dmac_iommufd_backend_fd(const struct dmac_backend *be)
{
	return be->fd;
}

/* ---- IOAS ---------------------------------------------------------------- */

static int iofd_space_alloc(struct dmac_backend *be, uint32_t *space_id)
{
	struct iommu_ioas_alloc a = {.size = sizeof(a)};
	int ret = xioctl(be->fd, IOMMU_IOAS_ALLOC, &a);

	if (ret)
		return dmac__iofd_fail("IOMMU_IOAS_ALLOC", -ret, "iommufd fd %d", be->fd);
	*space_id = a.out_ioas_id;
	return 0;
}

static int iofd_space_destroy(struct dmac_backend *be, uint32_t space_id)
{
	struct iommu_destroy d = {.size = sizeof(d), .id = space_id};
	int ret = xioctl(be->fd, IOMMU_DESTROY, &d);

	if (ret)
		return dmac__iofd_fail("IOMMU_DESTROY", -ret, "ioas %u", space_id);
	return 0;
}

/*
 * Read all ranges of an IOAS into a buffer grown on EMSGSIZE (the set can
 * change between calls when devices attach, so loop). *out is dmac__malloc'd.
 */
static int read_ranges(struct dmac_backend *be, uint32_t space, struct iommu_iova_range **out,
		       uint32_t *nr, uint64_t *align)
{
	uint32_t cap = 4;
	struct iommu_iova_range *buf = NULL;
	int ret;

	for (;;) {
		struct iommu_ioas_iova_ranges r = {
		    .size = sizeof(r),
		    .ioas_id = space,
		    .num_iovas = cap,
		};
		struct iommu_iova_range *nbuf = dmac__realloc(buf, cap * sizeof(*buf));

		if (!nbuf) {
			ret = dmac__iofd_fail("IOMMU_IOAS_IOVA_RANGES", ENOMEM,
					      "ioas %u, %u ranges", space, cap);
			goto free_buf;
		}
		buf = nbuf;
		r.allowed_iovas = (uintptr_t)buf;
		ret = xioctl(be->fd, IOMMU_IOAS_IOVA_RANGES, &r);
		if (ret == -EMSGSIZE && r.num_iovas > cap) {
			cap = r.num_iovas;
			continue;
		}
		if (ret) {
			dmac__iofd_fail("IOMMU_IOAS_IOVA_RANGES", -ret, "ioas %u", space);
			goto free_buf;
		}
		*out = buf;
		*nr = r.num_iovas;
		if (align)
			*align = r.out_iova_alignment;
		return 0;
	}

free_buf:
	dmac__free(buf);
	return ret;
}

static int iofd_iova_ranges(struct dmac_backend *be, uint32_t space_id,
			    struct dmac_iova_range *ranges, uint32_t *nr, uint64_t *alignment)
{
	struct iommu_iova_range *buf;
	uint32_t n, i, cap;
	int ret;

	if (!nr || (*nr && !ranges))
		return -EINVAL;
	cap = *nr;
	ret = read_ranges(be, space_id, &buf, &n, alignment);
	if (ret)
		return ret;
	for (i = 0; i < n && i < cap; i++) {
		ranges[i].start = buf[i].start;
		ranges[i].last = buf[i].last;
	}
	dmac__free(buf);
	*nr = n;
	return n > cap ? -EMSGSIZE : 0;
}

static int iofd_allow_iovas(struct dmac_backend *be, uint32_t space_id,
			    const struct dmac_iova_range *ranges, uint32_t nr)
{
	struct iommu_ioas_allow_iovas a = {
	    .size = sizeof(a),
	    .ioas_id = space_id,
	    .num_iovas = nr,
	};
	struct iommu_iova_range *buf = NULL;
	uint32_t i;
	int ret;

	if (nr && !ranges)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		if (ranges[i].start > ranges[i].last ||
		    (i && ranges[i].start <= ranges[i - 1].last)) {
			dmac_backend_log(DMAC_LOG_ERR,
					 "iommufd: IOMMU_IOAS_ALLOW_IOVAS(ioas %u, range %u "
					 "[0x%llx, 0x%llx]): ranges must be sorted, disjoint and "
					 "start <= last: EINVAL",
					 space_id, i, (unsigned long long)ranges[i].start,
					 (unsigned long long)ranges[i].last);
			return -EINVAL;
		}
	}
	if (nr) {
		buf = dmac__calloc(nr, sizeof(*buf));
		if (!buf)
			return dmac__iofd_fail("IOMMU_IOAS_ALLOW_IOVAS", ENOMEM,
					       "ioas %u, %u ranges", space_id, nr);
		for (i = 0; i < nr; i++) {
			buf[i].start = ranges[i].start;
			buf[i].last = ranges[i].last;
		}
	}
	a.allowed_iovas = (uintptr_t)buf;
	ret = xioctl(be->fd, IOMMU_IOAS_ALLOW_IOVAS, &a);
	if (ret)
		dmac__iofd_fail("IOMMU_IOAS_ALLOW_IOVAS", -ret, "ioas %u, %u ranges from 0x%llx",
				space_id, nr, nr ? (unsigned long long)ranges[0].start : 0ULL);
	dmac__free(buf);
	return ret;
}

static int iofd_map(struct dmac_backend *be, uint32_t space_id, void *va, uint64_t length,
		    uint32_t prot, uint32_t flags, uint64_t *iova)
{
	struct iommu_ioas_map m = {
	    .size = sizeof(m),
	    .ioas_id = space_id,
	    .user_va = (uintptr_t)va,
	    .length = length,
	};
	int ret;

	if (!iova)
		return -EINVAL;
	ret = map_flags("IOMMU_IOAS_MAP", space_id, prot, flags, &m.flags);
	if (ret)
		return ret;
	ret = check_range("IOMMU_IOAS_MAP", space_id, "va", (uintptr_t)va, length);
	if (!ret && (flags & DMAC_MAP_FIXED_IOVA))
		ret = check_range("IOMMU_IOAS_MAP", space_id, "iova", *iova, length);
	if (ret)
		return ret;
	if (flags & DMAC_MAP_FIXED_IOVA)
		m.iova = *iova;
	ret = xioctl(be->fd, IOMMU_IOAS_MAP, &m);
	if (ret) {
		if (flags & DMAC_MAP_FIXED_IOVA)
			return dmac__iofd_fail(
			    "IOMMU_IOAS_MAP", -ret,
			    "ioas %u, va %p, iova [0x%llx, 0x%llx], length 0x%llx, "
			    "flags 0x%x",
			    space_id, va, (unsigned long long)*iova,
			    (unsigned long long)(*iova + length - 1), (unsigned long long)length,
			    m.flags);
		return dmac__iofd_fail(
		    "IOMMU_IOAS_MAP", -ret,
		    "ioas %u, va %p, iova chosen by kernel, length 0x%llx, flags "
		    "0x%x",
		    space_id, va, (unsigned long long)length, m.flags);
	}
	*iova = m.iova;
	return 0;
}

static int iofd_map_file(struct dmac_backend *be, uint32_t space_id, int fd, uint64_t offset,
			 uint64_t length, uint32_t prot, uint32_t flags, uint64_t *iova)
{
	struct dmac__iommu_ioas_map_file m = {
	    .size = sizeof(m),
	    .ioas_id = space_id,
	    .fd = fd,
	    .start = offset,
	    .length = length,
	};
	int ret;

	if (!iova)
		return -EINVAL;
	if (!(be->features & DMAC_BACKEND_F_MAP_FILE))
		return dmac__iofd_fail("IOMMU_IOAS_MAP_FILE", EOPNOTSUPP,
				       "ioas %u, fd %d: this kernel has no IOAS_MAP_FILE "
				       "(Linux >= 6.13); map the fd's VA with IOMMU_IOAS_MAP",
				       space_id, fd);
	ret = map_flags("IOMMU_IOAS_MAP_FILE", space_id, prot, flags, &m.flags);
	if (!ret)
		ret = check_range("IOMMU_IOAS_MAP_FILE", space_id, "offset", offset, length);
	if (!ret && (flags & DMAC_MAP_FIXED_IOVA))
		ret = check_range("IOMMU_IOAS_MAP_FILE", space_id, "iova", *iova, length);
	if (ret)
		return ret;
	if (flags & DMAC_MAP_FIXED_IOVA)
		m.iova = *iova;
	ret = xioctl(be->fd, DMAC__IOMMU_IOAS_MAP_FILE, &m);
	if (ret)
		return dmac__iofd_fail("IOMMU_IOAS_MAP_FILE", -ret,
				       "ioas %u, fd %d, offset 0x%llx, length 0x%llx, iova 0x%llx",
				       space_id, fd, (unsigned long long)offset,
				       (unsigned long long)length, (unsigned long long)m.iova);
	*iova = m.iova;
	return 0;
}

static int iofd_copy(struct dmac_backend *be, uint32_t dst_space, uint32_t src_space,
		     uint64_t src_iova, uint64_t length, uint32_t prot, uint32_t flags,
		     uint64_t *dst_iova)
{
	struct iommu_ioas_copy c = {
	    .size = sizeof(c),
	    .dst_ioas_id = dst_space,
	    .src_ioas_id = src_space,
	    .length = length,
	    .src_iova = src_iova,
	};
	int ret;

	if (!dst_iova)
		return -EINVAL;
	if (!(be->features & DMAC_BACKEND_F_COPY))
		return dmac__iofd_fail("IOMMU_IOAS_COPY", EOPNOTSUPP, "ioas %u -> ioas %u",
				       src_space, dst_space);
	ret = map_flags("IOMMU_IOAS_COPY", dst_space, prot, flags, &c.flags);
	if (!ret)
		ret = check_range("IOMMU_IOAS_COPY", src_space, "src iova", src_iova, length);
	if (!ret && (flags & DMAC_MAP_FIXED_IOVA))
		ret = check_range("IOMMU_IOAS_COPY", dst_space, "dst iova", *dst_iova, length);
	if (ret)
		return ret;
	if (flags & DMAC_MAP_FIXED_IOVA)
		c.dst_iova = *dst_iova;
	ret = xioctl(be->fd, IOMMU_IOAS_COPY, &c);
	if (ret)
		return dmac__iofd_fail(
		    "IOMMU_IOAS_COPY", -ret,
		    "src ioas %u [0x%llx, 0x%llx] -> dst ioas %u %s0x%llx, length 0x%llx",
		    src_space, (unsigned long long)src_iova,
		    (unsigned long long)(src_iova + length - 1), dst_space,
		    (flags & DMAC_MAP_FIXED_IOVA) ? "at iova " : "iova chosen, hint ",
		    (unsigned long long)c.dst_iova, (unsigned long long)length);
	*dst_iova = c.dst_iova;
	return 0;
}

static int unmap_raw(struct dmac_backend *be, uint32_t space_id, uint64_t iova, uint64_t length,
		     uint64_t *unmapped)
{
	struct iommu_ioas_unmap u = {
	    .size = sizeof(u),
	    .ioas_id = space_id,
	    .iova = iova,
	    .length = length,
	};
	int ret = xioctl(be->fd, IOMMU_IOAS_UNMAP, &u);

	if (ret) {
		if (iova == 0 && length == UINT64_MAX)
			return dmac__iofd_fail("IOMMU_IOAS_UNMAP", -ret, "ioas %u, everything",
					       space_id);
		return dmac__iofd_fail(
		    "IOMMU_IOAS_UNMAP", -ret, "ioas %u, iova [0x%llx, 0x%llx], length 0x%llx",
		    space_id, (unsigned long long)iova, (unsigned long long)(iova + length - 1),
		    (unsigned long long)length);
	}
	if (unmapped)
		*unmapped = u.length;
	return 0;
}

static int iofd_unmap(struct dmac_backend *be, uint32_t space_id, uint64_t iova, uint64_t length,
		      uint64_t *unmapped)
{
	int ret = check_range("IOMMU_IOAS_UNMAP", space_id, "iova", iova, length);

	if (ret)
		return ret;
	return unmap_raw(be, space_id, iova, length, unmapped);
}

static int iofd_unmap_all(struct dmac_backend *be, uint32_t space_id, uint64_t *unmapped)
{
	/* iova 0, length UINT64_MAX is iommufd's "everything". An empty IOAS
	 * answers ENOENT on some kernels: that is success with 0 bytes. */
	struct iommu_ioas_unmap u = {
	    .size = sizeof(u),
	    .ioas_id = space_id,
	    .iova = 0,
	    .length = UINT64_MAX,
	};
	int ret = xioctl(be->fd, IOMMU_IOAS_UNMAP, &u);

	if (ret == -ENOENT) {
		/* Distinguish "nothing mapped" from "no such IOAS". */
		struct iommu_iova_range *buf;
		uint32_t n;

		if (read_ranges(be, space_id, &buf, &n, NULL))
			return dmac__iofd_fail("IOMMU_IOAS_UNMAP", ENOENT, "ioas %u, everything",
					       space_id);
		dmac__free(buf);
		u.length = 0;
		ret = 0;
	}
	if (ret)
		return dmac__iofd_fail("IOMMU_IOAS_UNMAP", -ret, "ioas %u, everything", space_id);
	if (unmapped)
		*unmapped = u.length;
	return 0;
}

/* ---- options --------------------------------------------------------------- */

static int option_args(const char *call, uint32_t option, uint32_t space_id, uint32_t *kopt)
{
	switch (option) {
	case DMAC_BACKEND_OPT_HUGE_PAGES:
		if (!space_id) {
			dmac_backend_log(DMAC_LOG_ERR,
					 "iommufd: %s(HUGE_PAGES): per-IOAS option needs an ioas "
					 "id: EINVAL",
					 call);
			return -EINVAL;
		}
		*kopt = IOMMU_OPTION_HUGE_PAGES;
		return 0;
	case DMAC_BACKEND_OPT_RLIMIT_MODE:
		if (space_id) {
			dmac_backend_log(DMAC_LOG_ERR,
					 "iommufd: %s(RLIMIT_MODE, ioas %u): global option, the "
					 "object id must be 0: EINVAL",
					 call, space_id);
			return -EINVAL;
		}
		*kopt = IOMMU_OPTION_RLIMIT_MODE;
		return 0;
	default:
		dmac_backend_log(DMAC_LOG_ERR, "iommufd: %s(option %u): unknown option: EOPNOTSUPP",
				 call, option);
		return -EOPNOTSUPP;
	}
}

static const char *option_name(uint32_t option)
{
	return option == DMAC_BACKEND_OPT_HUGE_PAGES ? "HUGE_PAGES" : "RLIMIT_MODE";
}

static int iofd_option_get(struct dmac_backend *be, uint32_t option, uint32_t space_id,
			   uint64_t *value)
{
	uint32_t kopt;
	uint64_t v = 0;
	int ret;

	if (!value)
		return -EINVAL;
	ret = option_args("IOMMU_OPTION(GET)", option, space_id, &kopt);
	if (ret)
		return ret;
	ret = option_raw(be->fd, IOMMU_OPTION_OP_GET, kopt, space_id, &v);
	if (ret)
		return dmac__iofd_fail("IOMMU_OPTION(GET)", -ret, "%s, object %u",
				       option_name(option), space_id);
	*value = v;
	return 0;
}

static int iofd_option_set(struct dmac_backend *be, uint32_t option, uint32_t space_id,
			   uint64_t value)
{
	uint32_t kopt;
	uint64_t v = value;
	int ret;

	ret = option_args("IOMMU_OPTION(SET)", option, space_id, &kopt);
	if (ret)
		return ret;
	ret = option_raw(be->fd, IOMMU_OPTION_OP_SET, kopt, space_id, &v);
	if (ret)
		return dmac__iofd_fail("IOMMU_OPTION(SET)", -ret, "%s = %llu, object %u",
				       option_name(option), (unsigned long long)value, space_id);
	return 0;
}

static int iofd_change_process(struct dmac_backend *be)
{
	struct dmac__iommu_ioas_change_process c = {.size = sizeof(c)};
	int ret;

	if (!(be->features & DMAC_BACKEND_F_CHANGE_PROCESS))
		return dmac__iofd_fail("IOMMU_IOAS_CHANGE_PROCESS", EOPNOTSUPP,
				       "iommufd fd %d: this kernel has no IOAS_CHANGE_PROCESS "
				       "(Linux >= 6.13)",
				       be->fd);
	ret = xioctl(be->fd, DMAC__IOMMU_IOAS_CHANGE_PROCESS, &c);
	if (ret)
		return dmac__iofd_fail("IOMMU_IOAS_CHANGE_PROCESS", -ret, "iommufd fd %d", be->fd);
	return 0;
}

DMAC_EXPORT const struct dmac_backend_ops dmac_iommufd_backend_ops = {
    .name = "iommufd",
    .priority = 100,
    .probe = iofd_probe,
    .open = iofd_open,
    .close = iofd_close,
    .features = iofd_features,
    .strerror = iofd_strerror,
    .space_alloc = iofd_space_alloc,
    .space_destroy = iofd_space_destroy,
    .iova_ranges = iofd_iova_ranges,
    .allow_iovas = iofd_allow_iovas,
    .map = iofd_map,
    .map_file = iofd_map_file,
    .copy = iofd_copy,
    .unmap = iofd_unmap,
    .unmap_all = iofd_unmap_all,
    .option_get = iofd_option_get,
    .option_set = iofd_option_set,
    .change_process = iofd_change_process,
    .device_open = dmac__iofd_device_open,
    .device_close = dmac__iofd_device_close,
    .device_attach = dmac__iofd_device_attach,
    .device_replace = dmac__iofd_device_replace,
    .device_detach = dmac__iofd_device_detach,
    .device_hw_info = dmac__iofd_device_hw_info,
    .device_fd = dmac__iofd_device_fd,
    .device_space = dmac__iofd_device_space,
};
