/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VFIO type1 backend: one /dev/vfio/vfio container per space, mappings
 * with VFIO_IOMMU_MAP_DMA, "copy" emulated by mapping the same daemon VA
 * again (a second pin, accounted again).
 *
 * Invariants (see also vfio_priv.h):
 * - Every entry point validates its arguments (flags, prot, zero lengths,
 *   start + length wrapping, alignment) before taking be->lock, then holds
 *   be->lock for the rest of the call.
 * - Bookkeeping and kernel agree after every call: an entry is added only
 *   after its MAP_DMA succeeded (live space) and removed only after the
 *   UNMAP_DMA that covered it succeeded. A failing call undoes its partial
 *   work (multi-piece copies unmap the pieces already mapped).
 * - Unmap removes whole mappings only (iommufd semantics): a range that cuts
 *   an entry, or covers none, is refused with -ENOENT before any ioctl, even
 *   though the kernel could split some mappings itself.
 * - Ranges are [start, last] with 'last' inclusive; lengths are byte counts.
 * - Space ids are 1-based slots of be->spaces; a freed id may be reused.
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
#include "vfio_priv.h"

#define DEFAULT_CONTAINER "/dev/vfio/vfio"
#define PAGE_4K		  4096ULL

/* ---- errors -------------------------------------------------------------- */

const char *dmac__vfio_meaning(const char *call, int err)
{
	int map = call && strstr(call, "MAP_DMA") && !strstr(call, "UNMAP");
	int unmap = call && strstr(call, "UNMAP");
	int copy = call && strstr(call, "copy");
	int setc = call && strstr(call, "SET_CONTAINER");
	int unsetc = call && strstr(call, "UNSET_CONTAINER");
	int seti = call && strstr(call, "SET_IOMMU");
	int getfd = call && strstr(call, "GET_DEVICE_FD");

	switch (err) {
	case ENOTTY:
		return "ioctl not supported by this kernel or this container type";
	case EINVAL:
		if (map || copy)
			return "IOVA, length or VA not aligned to the IOMMU's smallest page "
			       "size, or the IOVA range leaves the usable ranges (aperture, "
			       "MSI window or another reserved region)";
		if (unmap)
			return "range not aligned to the IOMMU page size, or it cuts a "
			       "mapping (type1 v2 refuses to bisect one)";
		if (unsetc)
			return "the group is in no container";
		if (setc)
			return "group not viable, or container type incompatible with it";
		if (seti)
			return "container has no group yet, or the IOMMU type is unknown";
		if (getfd)
			return "the group has no container with an IOMMU set";
		return "invalid argument";
	case ENOENT:
		if (unmap)
			return "no mapping at exactly that range: mappings are unmapped "
			       "whole (this backend refuses to split one, like iommufd)";
		if (copy)
			return "source range not fully mapped in the source space, or no "
			       "such space id";
		return "no such space id, or nothing mapped there";
	case EEXIST:
		return "the IOVA range overlaps an existing mapping in this container";
	case ENOSPC:
		if (map || copy)
			return "no DMA entry left in this container (vfio_iommu_type1 "
			       "dma_entry_limit, 65535 by default; one per mapping)";
		return "no free IOVA range of that size";
	case ENOMEM:
		if (map || copy)
			return "out of memory, or pinned pages over RLIMIT_MEMLOCK (type1 "
			       "accounts every map, copies included, to locked_vm)";
		return "out of memory";
	case EFAULT:
		return "bad user address (VA not mapped in this process)";
	case EBUSY:
		if (unsetc)
			return "a device fd of the group is still open";
		if (setc)
			return "the group is already in a container";
		if (getfd)
			return "the device is already open";
		return "busy (a device is still attached to the space)";
	case EPERM:
	case EACCES:
		return "permission denied (device node permissions, or the mapping's "
		       "source is read-only)";
	case ENODEV:
		return "no such device, not bound to vfio-pci, or its IOMMU does not "
		       "support this container type";
	case EOVERFLOW:
		return "arithmetic overflow (iova + length wraps)";
	case EOPNOTSUPP:
		return "not supported by the VFIO type1 backend";
	case EMSGSIZE:
		return "output array too small";
	default:
		return strerror(err);
	}
}

static const char *errname(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "E?";
}

int dmac__vfio_fail(const char *call, int err, const char *fmt, ...)
{
	char obj[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(obj, sizeof(obj), fmt, ap);
	va_end(ap);
	dmac_backend_log(DMAC_LOG_ERR, "vfio: %s(%s) failed: %s (%d): %s", call, obj, errname(err),
			 err, dmac__vfio_meaning(call, err));
	return -err;
}

static const char *vfio_strerror(int err)
{
	return dmac__vfio_meaning(NULL, err < 0 ? -err : err);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

#define ULL(x) ((unsigned long long)(x))

/* ---- container type decision ------------------------------------------- */

int dmac__vfio_choose_iommu(dmac_vfio_ext_fn ext, void *arg, char *why, size_t why_len)
{
	int v2 = ext(arg, DMAC__VFIO_TYPE1v2) > 0;
	int v1 = ext(arg, DMAC__VFIO_TYPE1) > 0;
	int noiommu = ext(arg, DMAC__VFIO_NOIOMMU) > 0;
	int spapr = ext(arg, DMAC__VFIO_SPAPR_TCE) > 0 || ext(arg, DMAC__VFIO_SPAPR_TCE_v2) > 0;
	int nesting = ext(arg, DMAC__VFIO_TYPE1_NESTING) > 0;
	int pkvm = 0;

#ifdef VFIO_PKVM_IOMMU
	pkvm = ext(arg, VFIO_PKVM_IOMMU) > 0;
#endif
	if (v2) {
		snprintf(why, why_len, "VFIO_TYPE1v2_IOMMU supported%s",
			 noiommu ? " (no-IOMMU mode is also enabled on this host; dmacache "
				   "never uses it)"
				 : "");
		return DMAC__VFIO_TYPE1v2;
	}
	if (noiommu)
		snprintf(why, why_len,
			 "only no-IOMMU containers (VFIO_NOIOMMU_IOMMU) are available: devices "
			 "could DMA anywhere in memory, dmacache refuses them");
	else if (spapr)
		snprintf(why, why_len,
			 "only sPAPR TCE containers are available: dmacache supports "
			 "VFIO_TYPE1v2_IOMMU only");
	else if (pkvm)
		snprintf(why, why_len,
			 "only pKVM IOMMU containers are available: dmacache supports "
			 "VFIO_TYPE1v2_IOMMU only");
	else if (nesting)
		snprintf(why, why_len,
			 "only nesting type1 containers are available: dmacache supports "
			 "VFIO_TYPE1v2_IOMMU only");
	else if (v1)
		snprintf(why, why_len,
			 "only VFIO_TYPE1_IOMMU (v1) is available: its unmap may split "
			 "mappings and report partial sizes; dmacache needs type1 v2");
	else
		snprintf(why, why_len,
			 "the container offers no IOMMU type at all (no vfio_iommu_type1 "
			 "module?)");
	return -EOPNOTSUPP;
}

static int container_ext(void *arg, int extension)
{
	return ioctl(*(int *)arg, VFIO_CHECK_EXTENSION, extension);
}

/* ---- GET_INFO -------------------------------------------------------------- */

struct vinfo {
	uint64_t pgsizes;
	uint32_t dma_avail; /* UINT32_MAX if absent */
	struct dmac_iova_range *ranges;
	uint32_t nr_ranges;
};

/*
 * VFIO_IOMMU_GET_INFO with its capability chain: the kernel raises argsz when
 * the caps do not fit, so call again with a buffer that large. Cap offsets are
 * from the start of the buffer; each is checked against argsz.
 */
static int get_info(int fd, uint32_t space, struct vinfo *vi)
{
	struct vfio_iommu_type1_info *info;
	uint32_t sz = sizeof(*info) + 256, off, hops = 0;
	int ret;

	memset(vi, 0, sizeof(*vi));
	vi->dma_avail = UINT32_MAX;
	for (;;) {
		info = dmac__calloc(1, sz);
		if (!info)
			return dmac__vfio_fail("VFIO_IOMMU_GET_INFO", ENOMEM, "space %u", space);
		info->argsz = sz;
		ret = xioctl(fd, VFIO_IOMMU_GET_INFO, info);
		if (ret) {
			dmac__vfio_fail("VFIO_IOMMU_GET_INFO", -ret, "space %u, container fd %d",
					space, fd);
			goto free_info;
		}
		if (info->argsz <= sz)
			break;
		sz = info->argsz;
		dmac__free(info);
	}
	vi->pgsizes = (info->flags & VFIO_IOMMU_INFO_PGSIZES) ? info->iova_pgsizes : PAGE_4K;
	off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
	while (off && hops++ < 64) {
		struct vfio_info_cap_header *h = (void *)((char *)info + off);

		if (off < sizeof(*info) || off + sizeof(*h) > sz)
			break;
		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
		    off + sizeof(struct vfio_iommu_type1_info_cap_iova_range) <= sz) {
			struct vfio_iommu_type1_info_cap_iova_range *c = (void *)h;
			uint32_t i, n = c->nr_iovas;

			if (off + sizeof(*c) + (uint64_t)n * sizeof(c->iova_ranges[0]) > sz)
				break;
			dmac__free(vi->ranges);
			vi->ranges = dmac__calloc(n ? n : 1, sizeof(*vi->ranges));
			if (!vi->ranges) {
				ret = dmac__vfio_fail("VFIO_IOMMU_GET_INFO", ENOMEM,
						      "space %u, %u ranges", space, n);
				goto free_info;
			}
			for (i = 0; i < n; i++) {
				vi->ranges[i].start = c->iova_ranges[i].start;
				vi->ranges[i].last = c->iova_ranges[i].end;
			}
			vi->nr_ranges = n;
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL &&
			   off + sizeof(struct vfio_iommu_type1_info_dma_avail) <= sz) {
			vi->dma_avail = ((struct vfio_iommu_type1_info_dma_avail *)h)->avail;
		}
		off = h->next;
	}
	if (!vi->ranges) {
		/* Kernels before 5.4 have no IOVA range cap: assume the whole space. */
		vi->ranges = dmac__calloc(1, sizeof(*vi->ranges));
		if (!vi->ranges) {
			ret = dmac__vfio_fail("VFIO_IOMMU_GET_INFO", ENOMEM, "space %u", space);
			goto free_info;
		}
		vi->ranges[0].last = UINT64_MAX;
		vi->nr_ranges = 1;
	}
	dmac__free(info);
	return 0;

free_info:
	dmac__free(vi->ranges);
	vi->ranges = NULL;
	dmac__free(info);
	return ret;
}

/* ---- argument checks --------------------------------------------------------- */

static int check_range(const char *call, uint32_t space, uint64_t iova, uint64_t length)
{
	if (!length) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "vfio: %s(space %u, iova 0x%llx, length 0): zero length: EINVAL",
				 call, space, ULL(iova));
		return -EINVAL;
	}
	if (iova + (length - 1) < iova) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "vfio: %s(space %u, iova 0x%llx, length 0x%llx): range wraps past "
				 "2^64: EOVERFLOW",
				 call, space, ULL(iova), ULL(length));
		return -EOVERFLOW;
	}
	return 0;
}

static int check_prot(const char *call, uint32_t space, uint32_t prot, uint32_t flags)
{
	if ((prot & ~(uint32_t)(DMAC_PROT_READ | DMAC_PROT_WRITE)) ||
	    (flags & ~(uint32_t)DMAC_MAP_FIXED_IOVA)) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "vfio: %s(space %u): unknown prot 0x%x or flags 0x%x: EOPNOTSUPP",
				 call, space, prot, flags);
		return -EOPNOTSUPP;
	}
	if (!prot) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "vfio: %s(space %u): prot must allow READ and/or WRITE: EINVAL",
				 call, space);
		return -EINVAL;
	}
	return 0;
}

static uint32_t kprot(uint32_t prot)
{
	return ((prot & DMAC_PROT_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
	       ((prot & DMAC_PROT_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0);
}

/* ---- spaces ----------------------------------------------------------------- */

struct dmac__vspace *dmac__vfio_space(struct dmac_backend *be, uint32_t id)
{
	if (!id || id > be->nr_spaces)
		return NULL;
	return be->spaces[id - 1];
}

static struct dmac__vspace *space_or_log(struct dmac_backend *be, const char *call, uint32_t id)
{
	struct dmac__vspace *sp = dmac__vfio_space(be, id);

	if (!sp)
		dmac__vfio_fail(call, ENOENT, "space %u: no such space", id);
	return sp;
}

/* Index of the first entry whose last byte is >= iova. */
static uint32_t first_after(const struct dmac__vspace *sp, uint64_t iova)
{
	uint32_t lo = 0, hi = sp->nr_maps;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct dmac__vmap *m = &sp->maps[mid];

		if (m->iova + (m->length - 1) < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int overlaps(const struct dmac__vspace *sp, uint64_t iova, uint64_t length)
{
	uint32_t i = first_after(sp, iova);

	return i < sp->nr_maps && sp->maps[i].iova <= iova + (length - 1);
}

static int maps_reserve(struct dmac__vspace *sp, uint32_t extra)
{
	uint32_t cap;
	struct dmac__vmap *n;

	if (sp->nr_maps + extra <= sp->cap_maps)
		return 0;
	cap = sp->cap_maps ? sp->cap_maps : 16;
	while (cap < sp->nr_maps + extra)
		cap *= 2;
	n = dmac__realloc(sp->maps, (size_t)cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	sp->maps = n;
	sp->cap_maps = cap;
	return 0;
}

/* Insert (capacity reserved beforehand, no overlap: cannot fail). */
static void maps_insert(struct dmac__vspace *sp, const struct dmac__vmap *m)
{
	uint32_t i = first_after(sp, m->iova);

	memmove(&sp->maps[i + 1], &sp->maps[i], (size_t)(sp->nr_maps - i) * sizeof(*m));
	sp->maps[i] = *m;
	sp->nr_maps++;
}

static void maps_remove(struct dmac__vspace *sp, uint32_t i, uint32_t n)
{
	memmove(&sp->maps[i], &sp->maps[i + n],
		(size_t)(sp->nr_maps - i - n) * sizeof(sp->maps[0]));
	sp->nr_maps -= n;
}

static int copy_ranges(struct dmac_iova_range **dst, uint32_t *nr_dst,
		       const struct dmac_iova_range *src, uint32_t nr)
{
	struct dmac_iova_range *n = dmac__calloc(nr ? nr : 1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	memcpy(n, src, (size_t)nr * sizeof(*n));
	dmac__free(*dst);
	*dst = n;
	*nr_dst = nr;
	return 0;
}

/*
 * A new allocator over @p r with every bookkept mapping of @p sp reserved.
 * -EINVAL (with a log) if a mapping falls outside the ranges.
 */
static int build_allocator(struct dmac__vspace *sp, const struct dmac_iova_range *r, uint32_t nr,
			   struct dmac_iova_alloc **out, const char *who)
{
	struct dmac_iova_alloc *a;
	uint32_t i;
	int ret = dmac__vfio_iova_create(r, nr, &a);

	if (ret)
		return ret;
	for (i = 0; i < sp->nr_maps; i++) {
		const struct dmac__vmap *m = &sp->maps[i];

		ret = dmac__vfio_iova_reserve(a, m->iova, m->length);
		if (ret) {
			if (ret == -ENOMEM)
				dmac__vfio_fail(
				    "attach", ENOMEM,
				    "%s, space %u: IOVA allocator, mapping iova [0x%llx, "
				    "0x%llx]",
				    who, sp->id, ULL(m->iova), ULL(m->iova + m->length - 1));
			else
				dmac__vfio_fail("attach", EINVAL,
						"%s, space %u: bookkept mapping iova [0x%llx, "
						"0x%llx] is not inside the usable ranges of the "
						"group's IOMMU",
						who, sp->id, ULL(m->iova),
						ULL(m->iova + m->length - 1));
			ret = ret == -ENOMEM ? -ENOMEM : -EINVAL;
			dmac__vfio_iova_destroy(a);
			return ret;
		}
	}
	*out = a;
	return 0;
}

static int map_dma(struct dmac__vspace *sp, const struct dmac__vmap *m, const char *call)
{
	struct vfio_iommu_type1_dma_map dm = {
	    .argsz = sizeof(dm),
	    .flags = kprot(m->prot),
	    .vaddr = m->va,
	    .iova = m->iova,
	    .size = m->length,
	};
	int ret = xioctl(sp->fd, VFIO_IOMMU_MAP_DMA, &dm);

	if (ret)
		dmac__vfio_fail(call, -ret,
				"space %u (container fd %d), va 0x%llx, iova [0x%llx, 0x%llx], "
				"length 0x%llx, prot 0x%x",
				sp->id, sp->fd, ULL(m->va), ULL(m->iova),
				ULL(m->iova + m->length - 1), ULL(m->length), m->prot);
	return ret;
}

static int unmap_dma(struct dmac__vspace *sp, uint64_t iova, uint64_t length, uint32_t flags,
		     uint64_t *size, const char *call)
{
	struct vfio_iommu_type1_dma_unmap du = {
	    .argsz = sizeof(du),
	    .flags = flags,
	    .iova = iova,
	    .size = length,
	};
	int ret = xioctl(sp->fd, VFIO_IOMMU_UNMAP_DMA, &du);

	if (ret) {
		if (flags & VFIO_DMA_UNMAP_FLAG_ALL)
			return dmac__vfio_fail(call, -ret, "space %u (container fd %d), everything",
					       sp->id, sp->fd);
		return dmac__vfio_fail(call, -ret,
				       "space %u (container fd %d), iova [0x%llx, 0x%llx], "
				       "length 0x%llx",
				       sp->id, sp->fd, ULL(iova), ULL(iova + length - 1),
				       ULL(length));
	}
	if (size)
		*size = du.size;
	return 0;
}

/* Read the kernel's ranges and page sizes into sp and rebuild its allocator. */
int dmac__vfio_space_refresh(struct dmac_backend *be, struct dmac__vspace *sp, const char *who)
{
	struct dmac_iova_alloc *a;
	struct vinfo vi;
	int ret = get_info(sp->fd, sp->id, &vi);

	if (ret)
		return ret;
	ret = build_allocator(sp, vi.ranges, vi.nr_ranges, &a, who);
	if (ret)
		goto free_ranges;
	dmac__vfio_iova_destroy(sp->iova);
	sp->iova = a;
	dmac__free(sp->ranges);
	sp->ranges = vi.ranges;
	sp->nr_ranges = vi.nr_ranges;
	sp->align = vi.pgsizes ? (vi.pgsizes & -vi.pgsizes) : PAGE_4K;
	/* Remember them for dormant spaces allocated later (best effort). */
	if (!copy_ranges(&be->known, &be->nr_known, sp->ranges, sp->nr_ranges))
		be->known_align = sp->align;
	return 0;

free_ranges:
	dmac__free(vi.ranges);
	return ret;
}

int dmac__vfio_space_go_live(struct dmac_backend *be, struct dmac__vspace *sp, const char *who)
{
	uint32_t i;
	int ret = xioctl(sp->fd, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);

	if (ret)
		return dmac__vfio_fail("VFIO_SET_IOMMU", -ret,
				       "%s, space %u (container fd %d), TYPE1v2", who, sp->id,
				       sp->fd);
	ret = dmac__vfio_space_refresh(be, sp, who);
	if (ret)
		return ret;
	/* Replay the bookkeeping. On failure the caller unsets the container,
	 * which drops the IOMMU context and whatever was replayed. */
	for (i = 0; i < sp->nr_maps; i++) {
		const struct dmac__vmap *m = &sp->maps[i];

		if ((m->iova | m->length | m->va) & (sp->align - 1)) {
			return dmac__vfio_fail("VFIO_IOMMU_MAP_DMA (replay)", EINVAL,
					       "%s, space %u, iova 0x%llx, length 0x%llx: not "
					       "aligned to the IOMMU page size 0x%llx",
					       who, sp->id, ULL(m->iova), ULL(m->length),
					       ULL(sp->align));
		}
		ret = map_dma(sp, m, "VFIO_IOMMU_MAP_DMA (replay)");
		if (ret)
			return ret;
	}
	sp->live = 1;
	if (sp->nr_maps)
		dmac_backend_log(DMAC_LOG_DEBUG, "vfio: space %u: %s joined, %u mappings replayed",
				 sp->id, who, sp->nr_maps);
	return 0;
}

void dmac__vfio_space_go_dormant(struct dmac_backend *be, struct dmac__vspace *sp)
{
	sp->live = 0;
	dmac_backend_log(DMAC_LOG_DEBUG,
			 "vfio: space %u: last group left, %u mappings kept as bookkeeping only",
			 sp->id, sp->nr_maps);
}

/* ---- probe / open / close ------------------------------------------------- */

static int vfio_probe(char *reason, size_t len)
{
	struct stat st;

	if (stat(DEFAULT_CONTAINER, &st) || !S_ISCHR(st.st_mode)) {
		snprintf(reason, len,
			 "no character device %s (kernel without CONFIG_VFIO_CONTAINER)",
			 DEFAULT_CONTAINER);
		return -ENODEV;
	}
	snprintf(reason, len, "%s present (VFIO type1 containers)", DEFAULT_CONTAINER);
	return 0;
}

static void copy_root(char *dst, const char *src, const char *def)
{
	snprintf(dst, DMAC__VPATH_MAX, "%s", src && src[0] ? src : def);
}

/* Defaults until a live container reports the real ranges: 39-bit address
 * width (the smallest common VT-d/AMD-Vi width) minus the x86 MSI window. */
static const struct dmac_iova_range default_ranges[] = {
#if defined(__x86_64__) || defined(__i386__)
    {0, 0xfedfffffULL},
    {0xfef00000ULL, (1ULL << 39) - 1},
#else
    {0, (1ULL << 39) - 1},
#endif
};

static int vfio_open(const struct dmac_backend_config *cfg, struct dmac_backend **out)
{
	char why[256];
	struct dmac_backend *be;
	int ret, api;

	if (!out)
		return -EINVAL;
	be = dmac__calloc(1, sizeof(*be));
	if (!be) {
		dmac_backend_log(DMAC_LOG_ERR, "vfio: open: out of memory");
		return -ENOMEM;
	}
	copy_root(be->dev_root, cfg ? cfg->dev_root : NULL, "/dev");
	copy_root(be->sysfs_root, cfg ? cfg->sysfs_root : NULL, "/sys");
	if (cfg && cfg->path && cfg->path[0])
		copy_root(be->path, cfg->path, NULL);
	else
		snprintf(be->path, sizeof(be->path), "%.200s/vfio/vfio", be->dev_root);
	be->probe_fd = open(be->path, O_RDWR | O_CLOEXEC);
	if (be->probe_fd < 0) {
		ret = dmac__vfio_fail("open", errno, "%s", be->path);
		goto free_be;
	}
	api = ioctl(be->probe_fd, VFIO_GET_API_VERSION);
	if (api != VFIO_API_VERSION) {
		dmac_backend_log(DMAC_LOG_ERR,
				 "vfio: VFIO_GET_API_VERSION(%s) = %d, this backend speaks %d: "
				 "ENODEV",
				 be->path, api, VFIO_API_VERSION);
		ret = -ENODEV;
		goto close_fd;
	}
	ret = dmac__vfio_choose_iommu(container_ext, &be->probe_fd, why, sizeof(why));
	if (ret < 0) {
		dmac_backend_log(DMAC_LOG_ERR, "vfio: open(%s): refused: %s: EOPNOTSUPP", be->path,
				 why);
		goto close_fd;
	}
	ret = pthread_mutex_init(&be->lock, NULL);
	if (ret) {
		ret = -ret;
		goto close_fd;
	}
	ret = copy_ranges(&be->known, &be->nr_known, default_ranges,
			  sizeof(default_ranges) / sizeof(default_ranges[0]));
	if (ret)
		goto destroy_lock;
	be->known_align = PAGE_4K;
	/* No kernel copy: copy() maps the daemon memory again (see backend.h). */
	be->features |= DMAC_BACKEND_F_COPY_REPIN;
	if (ioctl(be->probe_fd, VFIO_CHECK_EXTENSION, DMAC__VFIO_UNMAP_ALL) > 0)
		be->features |= DMAC_BACKEND_F_UNMAP_ALL;
	dmac_backend_log(DMAC_LOG_DEBUG, "vfio: opened %s: %s; features 0x%llx", be->path, why,
			 ULL(be->features));
	*out = be;
	return 0;

destroy_lock:
	pthread_mutex_destroy(&be->lock);
close_fd:
	close(be->probe_fd);
free_be:
	dmac__free(be);
	return ret;
}

static void space_free(struct dmac__vspace *sp)
{
	close(sp->fd); /* releases the IOMMU context and every pin */
	dmac__vfio_iova_destroy(sp->iova);
	dmac__free(sp->ranges);
	dmac__free(sp->maps);
	dmac__free(sp);
}

static void vfio_close(struct dmac_backend *be)
{
	uint32_t i;

	if (!be)
		return;
	pthread_mutex_lock(&be->lock);
	while (be->devices)
		dmac__vfio_device_close_locked(be, be->devices);
	for (i = 0; i < be->nr_spaces; i++)
		if (be->spaces[i])
			space_free(be->spaces[i]);
	pthread_mutex_unlock(&be->lock);
	dmac__free(be->spaces);
	dmac__free(be->known);
	close(be->probe_fd);
	pthread_mutex_destroy(&be->lock);
	dmac__free(be);
}

static uint64_t vfio_features(const struct dmac_backend *be)
{
	return be->features;
}

/* ---- space alloc / destroy / ranges --------------------------------------- */

static int vfio_space_alloc(struct dmac_backend *be, uint32_t *space_id)
{
	struct dmac__vspace *sp, **ns;
	uint32_t slot;
	int ret;

	if (!space_id)
		return -EINVAL;
	sp = dmac__calloc(1, sizeof(*sp));
	if (!sp)
		return dmac__vfio_fail("space_alloc", ENOMEM, "%s", be->path);
	sp->fd = open(be->path, O_RDWR | O_CLOEXEC);
	if (sp->fd < 0) {
		ret = dmac__vfio_fail("open", errno, "new container %s", be->path);
		goto free_sp;
	}
	pthread_mutex_lock(&be->lock);
	ret = copy_ranges(&sp->ranges, &sp->nr_ranges, be->known, be->nr_known);
	if (!ret)
		ret = dmac__vfio_iova_create(sp->ranges, sp->nr_ranges, &sp->iova);
	if (ret) {
		dmac__vfio_fail("space_alloc", -ret, "%s: IOVA allocator", be->path);
		goto unlock;
	}
	sp->align = be->known_align;
	for (slot = 0; slot < be->nr_spaces && be->spaces[slot]; slot++)
		;
	if (slot == be->nr_spaces) {
		ns = dmac__realloc(be->spaces, (size_t)(be->nr_spaces + 1) * sizeof(*ns));
		if (!ns) {
			ret = dmac__vfio_fail("space_alloc", ENOMEM, "%s: space table", be->path);
			goto unlock;
		}
		be->spaces = ns;
		be->spaces[be->nr_spaces++] = NULL;
	}
	sp->id = slot + 1;
	be->spaces[slot] = sp;
	pthread_mutex_unlock(&be->lock);
	*space_id = sp->id;
	return 0;

unlock:
	pthread_mutex_unlock(&be->lock);
	dmac__vfio_iova_destroy(sp->iova);
	dmac__free(sp->ranges);
	close(sp->fd);
free_sp:
	dmac__free(sp);
	return ret;
}

static int vfio_space_destroy(struct dmac_backend *be, uint32_t space_id)
{
	struct dmac__vspace *sp;
	int ret = 0;

	pthread_mutex_lock(&be->lock);
	sp = space_or_log(be, "space_destroy", space_id);
	if (!sp) {
		ret = -ENOENT;
	} else if (sp->nr_groups) {
		ret = dmac__vfio_fail("space_destroy", EBUSY,
				      "space %u: %u group(s) still in its container", space_id,
				      sp->nr_groups);
	} else {
		be->spaces[space_id - 1] = NULL;
		space_free(sp);
	}
	pthread_mutex_unlock(&be->lock);
	return ret;
}

static int vfio_iova_ranges(struct dmac_backend *be, uint32_t space_id,
			    struct dmac_iova_range *ranges, uint32_t *nr, uint64_t *alignment)
{
	struct dmac__vspace *sp;
	uint32_t i, cap;
	int ret = 0;

	if (!nr || (*nr && !ranges))
		return -EINVAL;
	cap = *nr;
	pthread_mutex_lock(&be->lock);
	sp = space_or_log(be, "iova_ranges", space_id);
	if (!sp) {
		ret = -ENOENT;
		goto unlock;
	}
	for (i = 0; i < sp->nr_ranges && i < cap; i++)
		ranges[i] = sp->ranges[i];
	*nr = sp->nr_ranges;
	if (alignment)
		*alignment = sp->align;
	if (sp->nr_ranges > cap)
		ret = -EMSGSIZE;
unlock:
	pthread_mutex_unlock(&be->lock);
	return ret;
}

static int vfio_allow_iovas(struct dmac_backend *be, uint32_t space_id,
			    const struct dmac_iova_range *ranges, uint32_t nr)
{
	return dmac__vfio_fail("allow_iovas", EOPNOTSUPP,
			       "space %u, %u ranges: type1 containers cannot pin their usable "
			       "ranges (no ALLOW_IOVAS); use fixed IOVAs",
			       space_id, nr);
}

/* ---- map / copy / unmap ------------------------------------------------------ */

/*
 * Reserve [iova, iova + length) (fixed) or choose it, for a space.
 * Translates the allocator's answers into the map() errnos.
 */
static int take_iova(struct dmac__vspace *sp, const char *call, uint64_t length, uint32_t flags,
		     uint64_t *iova)
{
	int ret;

	if (flags & DMAC_MAP_FIXED_IOVA) {
		if (overlaps(sp, *iova, length))
			return dmac__vfio_fail(
			    call, EEXIST, "space %u, iova [0x%llx, 0x%llx]: overlaps a mapping",
			    sp->id, ULL(*iova), ULL(*iova + length - 1));
		ret = dmac__vfio_iova_reserve(sp->iova, *iova, length);
		if (ret == -ENOSPC || ret == -EINVAL)
			return dmac__vfio_fail(
			    call, EINVAL,
			    "space %u, iova [0x%llx, 0x%llx]: outside the usable "
			    "ranges of the space (%s)",
			    sp->id, ULL(*iova), ULL(*iova + length - 1),
			    sp->live ? "reported by the kernel" : "dormant: last known ranges");
		if (ret)
			return dmac__vfio_fail(call, -ret, "space %u, iova [0x%llx, 0x%llx]",
					       sp->id, ULL(*iova), ULL(*iova + length - 1));
		return 0;
	}
	ret = dmac__vfio_iova_alloc(sp->iova, length, 0, iova);
	if (ret)
		return dmac__vfio_fail("choose IOVA", -ret, "%s: space %u, length 0x%llx", call,
				       sp->id, ULL(length));
	return 0;
}

static int check_align(struct dmac__vspace *sp, const char *call, uint64_t va, uint64_t length,
		       uint32_t flags, uint64_t iova)
{
	uint64_t mask = sp->align - 1;

	if ((va | length | ((flags & DMAC_MAP_FIXED_IOVA) ? iova : 0)) & mask)
		return dmac__vfio_fail(call, EINVAL,
				       "space %u, va 0x%llx, iova 0x%llx, length 0x%llx: not "
				       "aligned to the IOMMU page size 0x%llx",
				       sp->id, ULL(va), ULL(iova), ULL(length), ULL(sp->align));
	return 0;
}

static int vfio_map(struct dmac_backend *be, uint32_t space_id, void *va, uint64_t length,
		    uint32_t prot, uint32_t flags, uint64_t *iova)
{
	const char *call = "VFIO_IOMMU_MAP_DMA";
	struct dmac__vspace *sp;
	struct dmac__vmap m;
	int ret;

	if (!iova)
		return -EINVAL;
	ret = check_prot(call, space_id, prot, flags);
	if (!ret)
		ret = check_range(call, space_id, (uintptr_t)va, length);
	if (!ret && (flags & DMAC_MAP_FIXED_IOVA))
		ret = check_range(call, space_id, *iova, length);
	if (ret)
		return ret;
	pthread_mutex_lock(&be->lock);
	sp = space_or_log(be, call, space_id);
	if (!sp) {
		ret = -ENOENT;
		goto unlock;
	}
	ret = check_align(sp, call, (uintptr_t)va, length, flags, *iova);
	if (ret)
		goto unlock;
	if (maps_reserve(sp, 1)) {
		ret = dmac__vfio_fail(call, ENOMEM, "space %u: bookkeeping", space_id);
		goto unlock;
	}
	m.va = (uintptr_t)va;
	m.length = length;
	m.prot = prot;
	m.iova = *iova;
	ret = take_iova(sp, call, length, flags, &m.iova);
	if (ret)
		goto unlock;
	if (sp->live) {
		ret = map_dma(sp, &m, call);
		if (ret)
			goto free_iova;
	}
	maps_insert(sp, &m);
	*iova = m.iova;
	pthread_mutex_unlock(&be->lock);
	return 0;

free_iova:
	dmac__vfio_iova_free(sp->iova, m.iova, length);
unlock:
	pthread_mutex_unlock(&be->lock);
	return ret;
}

static int vfio_map_file(struct dmac_backend *be, uint32_t space_id, int fd, uint64_t offset,
			 uint64_t length, uint32_t prot, uint32_t flags, uint64_t *iova)
{
	return dmac__vfio_fail("map_file", EOPNOTSUPP,
			       "space %u, fd %d: type1 maps by VA only; mmap the file and "
			       "use map()",
			       space_id, fd);
}

/*
 * Copy = map the daemon VAs behind [src_iova, src_iova + length) of src again
 * into dst. The source range may span several contiguous mappings and cut
 * into the first and last; each piece becomes one MAP_DMA (one DMA entry) and
 * one bookkept entry of dst, at consecutive IOVAs.
 */
static int vfio_copy(struct dmac_backend *be, uint32_t dst_space, uint32_t src_space,
		     uint64_t src_iova, uint64_t length, uint32_t prot, uint32_t flags,
		     uint64_t *dst_iova)
{
	const char *call = "copy (VFIO_IOMMU_MAP_DMA)";
	struct dmac__vspace *src, *dst;
	struct dmac__vmap *pieces = NULL;
	uint64_t at, base, end;
	uint32_t i, first, n = 0, done = 0, reserved = 0;
	int ret;

	if (!dst_iova)
		return -EINVAL;
	ret = check_prot(call, dst_space, prot, flags);
	if (!ret)
		ret = check_range(call, src_space, src_iova, length);
	if (!ret && (flags & DMAC_MAP_FIXED_IOVA))
		ret = check_range(call, dst_space, *dst_iova, length);
	if (ret)
		return ret;
	pthread_mutex_lock(&be->lock);
	src = space_or_log(be, call, src_space);
	dst = src ? space_or_log(be, call, dst_space) : NULL;
	if (!dst) {
		ret = -ENOENT;
		goto unlock;
	}
	ret = check_align(dst, call, src_iova, length, flags, *dst_iova);
	if (ret)
		goto unlock;
	/* Collect the source pieces; the range must be covered without holes. */
	end = src_iova + (length - 1);
	first = first_after(src, src_iova);
	for (i = first, at = src_iova; i < src->nr_maps && at <= end; i++) {
		if (src->maps[i].iova > at)
			break;
		at = src->maps[i].iova + src->maps[i].length;
		n++;
		if (!at)
			break; /* mapping ends at 2^64 */
	}
	if (!n || (at && at <= end)) {
		ret = dmac__vfio_fail(call, ENOENT,
				      "src space %u [0x%llx, 0x%llx] -> dst space %u: source range "
				      "not fully mapped",
				      src_space, ULL(src_iova), ULL(end), dst_space);
		goto unlock;
	}
	pieces = dmac__calloc(n, sizeof(*pieces));
	if (!pieces || maps_reserve(dst, n)) {
		ret = dmac__vfio_fail(call, ENOMEM, "dst space %u: bookkeeping", dst_space);
		goto unlock;
	}
	for (i = 0, at = src_iova; i < n; i++) {
		const struct dmac__vmap *s = &src->maps[first + i];
		uint64_t s_end = s->iova + (s->length - 1);
		uint64_t p_last = s_end < end ? s_end : end;

		if ((prot & DMAC_PROT_WRITE) && !(s->prot & DMAC_PROT_WRITE)) {
			ret = dmac__vfio_fail(call, EPERM,
					      "src space %u, iova [0x%llx, 0x%llx] is read-only, "
					      "copy asks for WRITE",
					      src_space, ULL(s->iova), ULL(s_end));
			goto unlock;
		}
		pieces[i].va = s->va + (at - s->iova);
		pieces[i].length = p_last - at + 1;
		pieces[i].prot = prot;
		at = p_last + 1;
	}
	/* Destination IOVA: one block, then one reservation per piece. */
	base = *dst_iova;
	if (flags & DMAC_MAP_FIXED_IOVA) {
		if (overlaps(dst, base, length)) {
			ret = dmac__vfio_fail(call, EEXIST,
					      "dst space %u, iova [0x%llx, 0x%llx]: overlaps a "
					      "mapping",
					      dst_space, ULL(base), ULL(base + length - 1));
			goto unlock;
		}
	} else {
		ret = dmac__vfio_iova_alloc(dst->iova, length, 0, &base);
		if (ret) {
			dmac__vfio_fail("choose IOVA", -ret, "%s: dst space %u, length 0x%llx",
					call, dst_space, ULL(length));
			goto unlock;
		}
		dmac__vfio_iova_free(dst->iova, base, length); /* re-taken per piece */
	}
	for (i = 0, at = base; i < n; i++) {
		pieces[i].iova = at;
		ret = take_iova(dst, call, pieces[i].length, DMAC_MAP_FIXED_IOVA, &pieces[i].iova);
		if (ret)
			goto free_iovas;
		reserved++;
		at += pieces[i].length;
	}
	if (dst->live) {
		for (done = 0; done < n; done++) {
			ret = map_dma(dst, &pieces[done], call);
			if (ret)
				goto unmap_done;
		}
	}
	for (i = 0; i < n; i++)
		maps_insert(dst, &pieces[i]);
	*dst_iova = base;
	pthread_mutex_unlock(&be->lock);
	dmac__free(pieces);
	return 0;

unmap_done:
	while (done--)
		unmap_dma(dst, pieces[done].iova, pieces[done].length, 0, NULL,
			  "VFIO_IOMMU_UNMAP_DMA (undo copy)");
free_iovas:
	while (reserved--)
		dmac__vfio_iova_free(dst->iova, pieces[reserved].iova, pieces[reserved].length);
unlock:
	pthread_mutex_unlock(&be->lock);
	dmac__free(pieces);
	return ret;
}

static int vfio_unmap(struct dmac_backend *be, uint32_t space_id, uint64_t iova, uint64_t length,
		      uint64_t *unmapped)
{
	const char *call = "VFIO_IOMMU_UNMAP_DMA";
	struct dmac__vspace *sp;
	uint64_t last, sum = 0, ksize = 0;
	uint32_t i, first, n = 0;
	int ret = check_range(call, space_id, iova, length);

	if (ret)
		return ret;
	last = iova + (length - 1);
	pthread_mutex_lock(&be->lock);
	sp = space_or_log(be, call, space_id);
	if (!sp) {
		ret = -ENOENT;
		goto unlock;
	}
	first = first_after(sp, iova);
	for (i = first; i < sp->nr_maps && sp->maps[i].iova <= last; i++) {
		const struct dmac__vmap *m = &sp->maps[i];

		if (m->iova < iova || m->iova + (m->length - 1) > last) {
			ret = dmac__vfio_fail(call, ENOENT,
					      "space %u, iova [0x%llx, 0x%llx]: would split the "
					      "mapping [0x%llx, 0x%llx]; nothing unmapped",
					      space_id, ULL(iova), ULL(last), ULL(m->iova),
					      ULL(m->iova + m->length - 1));
			goto unlock;
		}
		sum += m->length;
		n++;
	}
	if (!n) {
		ret = dmac__vfio_fail(call, ENOENT,
				      "space %u, iova [0x%llx, 0x%llx]: nothing mapped there",
				      space_id, ULL(iova), ULL(last));
		goto unlock;
	}
	if (sp->live) {
		/* One call over the whole range: type1 v2 unmaps every entry fully
		 * inside it (checked above: nothing is cut). Trim to the entries so
		 * that the range is page aligned. */
		uint64_t s = sp->maps[first].iova;
		uint64_t e = sp->maps[first + n - 1].iova + sp->maps[first + n - 1].length;

		ret = unmap_dma(sp, s, e - s, 0, &ksize, call);
		if (ret)
			goto unlock;
		if (ksize != sum)
			dmac_backend_log(
			    DMAC_LOG_WARN,
			    "vfio: %s(space %u, iova [0x%llx, 0x%llx]): kernel unmapped "
			    "0x%llx bytes, bookkeeping expected 0x%llx",
			    call, space_id, ULL(s), ULL(e - 1), ULL(ksize), ULL(sum));
	}
	for (i = first; i < first + n; i++)
		dmac__vfio_iova_free(sp->iova, sp->maps[i].iova, sp->maps[i].length);
	maps_remove(sp, first, n);
	if (unmapped)
		*unmapped = sum;
unlock:
	pthread_mutex_unlock(&be->lock);
	return ret;
}

static int vfio_unmap_all(struct dmac_backend *be, uint32_t space_id, uint64_t *unmapped)
{
	const char *call = "VFIO_IOMMU_UNMAP_DMA";
	struct dmac__vspace *sp;
	uint64_t sum = 0;
	uint32_t i, done = 0;
	int ret = 0;

	pthread_mutex_lock(&be->lock);
	sp = space_or_log(be, call, space_id);
	if (!sp) {
		ret = -ENOENT;
		goto unlock;
	}
	if (sp->live && sp->nr_maps) {
		if (be->features & DMAC_BACKEND_F_UNMAP_ALL) {
			ret = unmap_dma(sp, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, NULL,
					"VFIO_IOMMU_UNMAP_DMA(FLAG_ALL)");
			if (!ret)
				done = sp->nr_maps;
		} else {
			for (done = 0; done < sp->nr_maps; done++) {
				ret = unmap_dma(sp, sp->maps[done].iova, sp->maps[done].length, 0,
						NULL, call);
				if (ret)
					break;
			}
		}
	} else {
		done = sp->nr_maps;
	}
	for (i = 0; i < done; i++) {
		sum += sp->maps[i].length;
		dmac__vfio_iova_free(sp->iova, sp->maps[i].iova, sp->maps[i].length);
	}
	maps_remove(sp, 0, done);
	if (unmapped)
		*unmapped = sum;
unlock:
	pthread_mutex_unlock(&be->lock);
	return ret;
}

/* ---- options and the rest ------------------------------------------------------ */

static int vfio_option_get(struct dmac_backend *be, uint32_t option, uint32_t space_id,
			   uint64_t *value)
{
	return dmac__vfio_fail("option_get", EOPNOTSUPP,
			       "option %u, space %u: type1 has no per-container options (huge "
			       "IOMMU pages are the vfio_iommu_type1 disable_hugepages module "
			       "parameter; accounting is always per process locked_vm)",
			       option, space_id);
}

static int vfio_option_set(struct dmac_backend *be, uint32_t option, uint32_t space_id,
			   uint64_t value)
{
	return dmac__vfio_fail("option_set", EOPNOTSUPP,
			       "option %u = %llu, space %u: type1 has no per-container options",
			       option, ULL(value), space_id);
}

static int vfio_change_process(struct dmac_backend *be)
{
	return dmac__vfio_fail("change_process", EOPNOTSUPP,
			       "%s: type1 accounting stays with the process that mapped", be->path);
}

DMAC_EXPORT int dmac_vfio_compat_space_info(struct dmac_backend *be, uint32_t space_id,
					    struct dmac_vfio_space_info *info)
{
	struct dmac__vspace *sp;
	struct vinfo vi;
	int ret = 0;

	if (!be || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->dma_avail = UINT32_MAX;
	pthread_mutex_lock(&be->lock);
	sp = space_or_log(be, "space_info", space_id);
	if (!sp) {
		ret = -ENOENT;
		goto unlock;
	}
	info->container_fd = sp->fd;
	info->live = sp->live;
	info->nr_groups = sp->nr_groups;
	info->nr_maps = sp->nr_maps;
	if (sp->live) {
		ret = get_info(sp->fd, sp->id, &vi);
		if (!ret) {
			info->dma_avail = vi.dma_avail;
			info->iova_pgsizes = vi.pgsizes;
			dmac__free(vi.ranges);
		}
	}
unlock:
	pthread_mutex_unlock(&be->lock);
	return ret;
}

DMAC_EXPORT const struct dmac_backend_ops dmac_vfio_compat_ops = {
    .name = "vfio",
    .priority = 50,
    .probe = vfio_probe,
    .open = vfio_open,
    .close = vfio_close,
    .features = vfio_features,
    .strerror = vfio_strerror,
    .space_alloc = vfio_space_alloc,
    .space_destroy = vfio_space_destroy,
    .iova_ranges = vfio_iova_ranges,
    .allow_iovas = vfio_allow_iovas,
    .map = vfio_map,
    .map_file = vfio_map_file,
    .copy = vfio_copy,
    .unmap = vfio_unmap,
    .unmap_all = vfio_unmap_all,
    .option_get = vfio_option_get,
    .option_set = vfio_option_set,
    .change_process = vfio_change_process,
    .device_open = dmac__vfio_device_open,
    .device_close = dmac__vfio_device_close,
    .device_attach = dmac__vfio_device_attach,
    .device_replace = dmac__vfio_device_replace,
    .device_detach = dmac__vfio_device_detach,
    .device_hw_info = dmac__vfio_device_hw_info,
    .device_fd = dmac__vfio_device_fd,
    .device_space = dmac__vfio_device_space,
};
