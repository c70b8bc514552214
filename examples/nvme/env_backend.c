/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backend environment of env_backend.h: device, space, DMA pool, BAR0,
 * bus mastering and interrupts for the NVMe driver, without the daemon.
 *
 * Invariants:
 * - e->map (dmac_imap) holds the translations of the pool,
 *   [pool_va, pool_va + pool_len - 1] -> pool_iova, and of every extra mapping
 *   of dmac_nvme_env_map() (also listed in e->extra[]); 'last' is inclusive.
 *   Each is mapped in the space too, unless dmac_nvme_env_block_dma() took it
 *   out of the IOMMU (pool_mapped false / extra[i].blocked).
 * - The pool bitmap has one byte per 4 KiB page; 1 = handed out.
 * - Interrupt eventfds e->efd[0 .. e->nr_efd) are registered with the
 *   device for vectors 0 .. nr_efd - 1 while e->irq_index >= 0.
 * - Close undoes open in reverse order; every step checks whether it was
 *   done, so the open error path is close itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "dmac/backend.h"
#include "dmac/imap.h"
#include "dmac_alloc.h"
#include "env_backend.h"

#define ENV_PAGE       4096u
#define ENV_HUGE       (2u << 20)
#define ENV_POOL_DEF   (8u << 20)
#define ENV_MAX_EXTRA  16
#define ENV_MAX_EFD    2
#define PCI_CMD_OFF    4
#define PCI_CMD_MEM    0x2u
#define PCI_CMD_MASTER 0x4u

struct env_extra {
	void *va;
	size_t len;
	uint64_t iova;
	bool blocked; /* unmapped from the space by block_dma(), still translated */
};

struct dmac_nvme_env {
	const struct dmac_backend_ops *bops;
	struct dmac_backend *be;
	struct dmac_device *dev;
	uint32_t space;
	int devfd;
	char bdf[32];

	struct dmac_imap *map;
	bool we_registered;

	uint8_t *pool;
	size_t pool_len;
	uint64_t pool_iova;
	bool pool_mapped, pool_huge;
	uint8_t *bitmap;
	pthread_mutex_t lock;

	struct env_extra extra[ENV_MAX_EXTRA];

	void *bar;
	size_t bar_len;
	uint64_t bar_size;
	const char *bar_how;

	int irq_index; /* VFIO_PCI_*_IRQ_INDEX, -1 none */
	int efd[ENV_MAX_EFD];
	unsigned int nr_efd;
	uint32_t msix_count;

	struct dmac_nvme_ops ops;
};

static void env_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void env_log(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dmac_backend_log(DMAC_LOG_ERR, "nvme env: %s", msg);
}

/* ---- translation and DMA memory callbacks ------------------------------------ */

static uint64_t env_vtophys(void *ctx, const void *va, uint64_t *len)
{
	struct dmac_nvme_env *e = ctx;
	uint64_t want = len ? *len : 1, contig = 0, iova;

	dmac_imap_read_lock();
	iova = dmac_imap_translate(e->map, (uint64_t)(uintptr_t)va, want, &contig);
	dmac_imap_read_unlock();
	if (iova == DMAC_IMAP_NONE)
		return DMAC_VTOPHYS_ERROR;
	if (len)
		*len = contig;
	return iova;
}

static void *env_dma_alloc(void *ctx, size_t len, size_t align)
{
	struct dmac_nvme_env *e = ctx;
	size_t pages = (len + ENV_PAGE - 1) / ENV_PAGE, total = e->pool_len / ENV_PAGE;
	void *ret = NULL;

	if (!len || !align || (align & (align - 1)))
		return NULL;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i + pages <= total; i++) {
		size_t off = i * ENV_PAGE, n = 0;

		if (((uintptr_t)(e->pool + off) & (align - 1)) ||
		    ((e->pool_iova + off) & (align - 1)))
			continue;
		while (n < pages && !e->bitmap[i + n])
			n++;
		if (n == pages) {
			memset(e->bitmap + i, 1, pages);
			ret = e->pool + off;
			break;
		}
		i += n; /* skip past the busy page */
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static void env_dma_free(void *ctx, void *va, size_t len)
{
	struct dmac_nvme_env *e = ctx;
	size_t first, pages = (len + ENV_PAGE - 1) / ENV_PAGE;

	if (!va)
		return;
	first = (size_t)((uint8_t *)va - e->pool) / ENV_PAGE;
	pthread_mutex_lock(&e->lock);
	memset(e->bitmap + first, 0, pages);
	pthread_mutex_unlock(&e->lock);
}

static int env_intx_unmask(void *ctx)
{
	struct dmac_nvme_env *e = ctx;
	struct vfio_irq_set s = {.argsz = sizeof(s),
				 .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				 .index = VFIO_PCI_INTX_IRQ_INDEX,
				 .start = 0,
				 .count = 1};

	return ioctl(e->devfd, VFIO_DEVICE_SET_IRQS, &s) ? -errno : 0;
}

/* ---- BAR0 ---------------------------------------------------------------------- */

static int region_info(int fd, uint32_t index, struct vfio_region_info **out)
{
	struct vfio_region_info *ri = dmac__calloc(1, sizeof(*ri));
	uint32_t want;

	if (!ri)
		return -ENOMEM;
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri)) {
		int err = -errno;

		env_log("VFIO_DEVICE_GET_REGION_INFO(region %u): %s", index, strerror(-err));
		dmac__free(ri);
		return err;
	}
	want = ri->argsz;
	if (want > sizeof(*ri)) { /* capabilities follow: ask again with room */
		struct vfio_region_info *big = dmac__realloc(ri, want);

		if (!big) {
			dmac__free(ri);
			return -ENOMEM;
		}
		ri = big;
		memset(ri, 0, want);
		ri->argsz = want;
		ri->index = index;
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri)) {
			int err = -errno;

			dmac__free(ri);
			return err;
		}
	}
	*out = ri;
	return 0;
}

/* The mmap-able length of BAR0 from offset 0 (a sparse-mmap capability may
 * cut holes, e.g. around an MSI-X table). */
static size_t bar0_mmap_len(const struct vfio_region_info *ri)
{
	const struct vfio_info_cap_header *h;
	uint32_t next;

	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) || !ri->cap_offset)
		return ri->size;
	for (next = ri->cap_offset; next && next + sizeof(*h) <= ri->argsz; next = h->next) {
		h = (const void *)((const uint8_t *)ri + next);
		if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			const struct vfio_region_info_cap_sparse_mmap *sp = (const void *)h;

			for (uint32_t i = 0; i < sp->nr_areas; i++)
				if (sp->areas[i].offset == 0)
					return sp->areas[i].size;
			return 0;
		}
	}
	return ri->size;
}

static int bar_map_vfio(struct dmac_nvme_env *e)
{
	struct vfio_region_info *ri;
	size_t len;
	void *p;
	int ret = region_info(e->devfd, VFIO_PCI_BAR0_REGION_INDEX, &ri);

	if (ret)
		return ret;
	e->bar_size = ri->size;
	len = bar0_mmap_len(ri);
	if (!(ri->flags & VFIO_REGION_INFO_FLAG_MMAP) || !len) {
		env_log("%s: BAR0 region (flags 0x%x) is not mmap-able at offset 0", e->bdf,
			ri->flags);
		dmac__free(ri);
		return -EOPNOTSUPP;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, e->devfd, (off_t)ri->offset);
	if (p == MAP_FAILED) {
		ret = -errno;
		env_log("%s: mmap of BAR0 region (%zu bytes at 0x%llx): %s", e->bdf, len,
			(unsigned long long)ri->offset, strerror(-ret));
		dmac__free(ri);
		return ret;
	}
	dmac__free(ri);
	e->bar = p;
	e->bar_len = len;
	e->bar_how = "vfio-region";
	return 0;
}

static int bar_map_sysfs(struct dmac_nvme_env *e, const char *sysfs_root)
{
	char path[256];
	struct stat st;
	void *p;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource0",
		 sysfs_root ? sysfs_root : "/sys", e->bdf);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		env_log("open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) || st.st_size <= 0) {
		ret = st.st_size <= 0 ? -EOPNOTSUPP : -errno;
		env_log("%s: no size (%s)", path, strerror(-ret));
		close(fd);
		return ret;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ret = p == MAP_FAILED ? -errno : 0;
	close(fd); /* the mapping keeps the resource */
	if (ret) {
		env_log("mmap %s (%lld bytes): %s", path, (long long)st.st_size, strerror(-ret));
		return ret;
	}
	e->bar = p;
	e->bar_len = (size_t)st.st_size;
	e->bar_size = (uint64_t)st.st_size;
	e->bar_how = "sysfs-resource0";
	return 0;
}

/* Memory decoding and bus mastering on (PCI command register, config space). */
static int bus_master_on(struct dmac_nvme_env *e)
{
	struct vfio_region_info *ri;
	uint16_t cmd;
	off_t off;
	int ret = region_info(e->devfd, VFIO_PCI_CONFIG_REGION_INDEX, &ri);

	if (ret)
		return ret;
	off = (off_t)ri->offset + PCI_CMD_OFF;
	dmac__free(ri);
	if (pread(e->devfd, &cmd, 2, off) != 2) {
		ret = -EIO;
		env_log("%s: read of the PCI command register: %s", e->bdf, strerror(-ret));
		return ret;
	}
	cmd |= PCI_CMD_MEM | PCI_CMD_MASTER;
	if (pwrite(e->devfd, &cmd, 2, off) != 2) {
		ret = -EIO;
		env_log("%s: write of the PCI command register: %s", e->bdf, strerror(-ret));
		return ret;
	}
	return 0;
}

/* ---- interrupts -------------------------------------------------------------------- */

static const char *irq_name(int index)
{
	switch (index) {
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return "msix";
	case VFIO_PCI_MSI_IRQ_INDEX:
		return "msi";
	case VFIO_PCI_INTX_IRQ_INDEX:
		return "intx";
	default:
		return "poll";
	}
}

static void irq_off(struct dmac_nvme_env *e)
{
	if (e->irq_index >= 0) {
		struct vfio_irq_set s = {.argsz = sizeof(s),
					 .flags =
					     VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					 .index = (uint32_t)e->irq_index,
					 .start = 0,
					 .count = 0};

		if (ioctl(e->devfd, VFIO_DEVICE_SET_IRQS, &s))
			env_log("%s: VFIO_DEVICE_SET_IRQS(%s off): %s", e->bdf,
				irq_name(e->irq_index), strerror(errno));
		e->irq_index = -1;
	}
	for (unsigned int i = 0; i < e->nr_efd; i++)
		close(e->efd[i]);
	e->nr_efd = 0;
}

/* Wire 'want' vectors (at most what the device has) of one IRQ index. */
static int irq_try(struct dmac_nvme_env *e, uint32_t index, unsigned int want)
{
	struct vfio_irq_info info = {.argsz = sizeof(info), .index = index};
	struct {
		struct vfio_irq_set s;
		int32_t fds[ENV_MAX_EFD];
	} req;
	unsigned int n;
	int ret;

	if (ioctl(e->devfd, VFIO_DEVICE_GET_IRQ_INFO, &info)) {
		ret = -errno;
		env_log("%s: VFIO_DEVICE_GET_IRQ_INFO(%s): %s", e->bdf, irq_name((int)index),
			strerror(-ret));
		return ret;
	}
	if (index == VFIO_PCI_MSIX_IRQ_INDEX)
		e->msix_count = info.count;
	if (!info.count || !(info.flags & VFIO_IRQ_INFO_EVENTFD)) {
		env_log("%s: no %s interrupt (count %u, flags 0x%x)", e->bdf, irq_name((int)index),
			info.count, info.flags);
		return -EOPNOTSUPP;
	}
	n = info.count < want ? info.count : want;
	for (e->nr_efd = 0; e->nr_efd < n; e->nr_efd++) {
		e->efd[e->nr_efd] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (e->efd[e->nr_efd] < 0) {
			ret = -errno;
			irq_off(e);
			return ret;
		}
	}
	memset(&req, 0, sizeof(req));
	req.s.argsz = (uint32_t)(sizeof(req.s) + n * sizeof(int32_t));
	req.s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	req.s.index = index;
	req.s.start = 0;
	req.s.count = n;
	for (unsigned int i = 0; i < n; i++)
		req.fds[i] = e->efd[i];
	if (ioctl(e->devfd, VFIO_DEVICE_SET_IRQS, &req)) {
		ret = -errno;
		env_log("%s: VFIO_DEVICE_SET_IRQS(%s, %u eventfds): %s", e->bdf,
			irq_name((int)index), n, strerror(-ret));
		irq_off(e);
		return ret;
	}
	e->irq_index = (int)index;
	e->ops.irq_eventfd = e->efd[n - 1];
	e->ops.irq_vector = (uint16_t)(n - 1);
	e->ops.irq_rearm = index == VFIO_PCI_INTX_IRQ_INDEX ? env_intx_unmask : NULL;
	return 0;
}

static int irq_setup(struct dmac_nvme_env *e, uint32_t mode)
{
	int ret;

	e->ops.irq_eventfd = -1;
	switch (mode) {
	case DMAC_NVME_ENV_IRQ_POLL:
		return 0;
	case DMAC_NVME_ENV_IRQ_MSIX:
		return irq_try(e, VFIO_PCI_MSIX_IRQ_INDEX, 2);
	case DMAC_NVME_ENV_IRQ_MSI:
		return irq_try(e, VFIO_PCI_MSI_IRQ_INDEX, 1);
	case DMAC_NVME_ENV_IRQ_INTX:
		return irq_try(e, VFIO_PCI_INTX_IRQ_INDEX, 1);
	default: /* AUTO */
		ret = irq_try(e, VFIO_PCI_MSIX_IRQ_INDEX, 2);
		if (ret)
			ret = irq_try(e, VFIO_PCI_MSI_IRQ_INDEX, 1);
		if (ret)
			ret = irq_try(e, VFIO_PCI_INTX_IRQ_INDEX, 1);
		return ret;
	}
}

/* ---- open / close -------------------------------------------------------------- */

static int pool_setup(struct dmac_nvme_env *e, const struct dmac_nvme_env_cfg *cfg)
{
	size_t len = cfg->pool_len ? cfg->pool_len : ENV_POOL_DEF;
	void *p = MAP_FAILED;
	int ret;

	if (len > SIZE_MAX - ENV_HUGE)
		return -EINVAL;
	len = (len + ENV_HUGE - 1) & ~((size_t)ENV_HUGE - 1);
	if (!cfg->anon) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED) {
			ret = -errno;
			env_log("hugepage pool of %zu bytes: %s", len, strerror(-ret));
			return ret;
		}
		e->pool_huge = true;
	} else {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
	}
	e->pool = p;
	e->pool_len = len;
	e->bitmap = dmac__calloc(len / ENV_PAGE, 1);
	if (!e->bitmap)
		return -ENOMEM;
	ret = e->bops->map(e->be, e->space, e->pool, len, DMAC_PROT_READ | DMAC_PROT_WRITE, 0,
			   &e->pool_iova);
	if (ret)
		return ret;
	e->pool_mapped = true;
	ret = dmac_imap_insert(e->map, (uint64_t)(uintptr_t)e->pool,
			       (uint64_t)(uintptr_t)e->pool + len - 1, e->pool_iova);
	if (ret) {
		e->bops->unmap(e->be, e->space, e->pool_iova, len, NULL);
		e->pool_mapped = false;
	}
	return ret;
}

void dmac_nvme_env_close(struct dmac_nvme_env *e)
{
	if (!e)
		return;
	irq_off(e);
	if (e->bar)
		munmap(e->bar, e->bar_len);
	for (int i = 0; i < ENV_MAX_EXTRA; i++)
		if (e->extra[i].len)
			(void)dmac_nvme_env_unmap(e, e->extra[i].va, e->extra[i].len);
	if (e->pool_mapped)
		(void)e->bops->unmap(e->be, e->space, e->pool_iova, e->pool_len, NULL);
	if (e->dev)
		e->bops->device_close(e->be, e->dev); /* detaches: DMA blocked */
	if (e->space)
		(void)e->bops->space_destroy(e->be, e->space);
	if (e->be)
		e->bops->close(e->be);
	if (e->pool)
		munmap(e->pool, e->pool_len);
	dmac__free(e->bitmap);
	dmac_imap_destroy(e->map);
	if (e->we_registered)
		urcu_memb_unregister_thread();
	pthread_mutex_destroy(&e->lock);
	dmac__free(e);
}

int dmac_nvme_env_open(const struct dmac_nvme_env_cfg *cfg, struct dmac_nvme_env **out)
{
	struct dmac_nvme_env *e;
	char reason[512] = "";
	int ret;

	if (!cfg || !out || !cfg->bdf || !*cfg->bdf || cfg->bar > DMAC_NVME_ENV_BAR_SYSFS ||
	    cfg->irq > DMAC_NVME_ENV_IRQ_INTX)
		return -EINVAL;
	if (strlen(cfg->bdf) == 7) /* "BB:DD.F": domain 0000 */
		;
	else if (strlen(cfg->bdf) != 12)
		return -EINVAL;

	e = dmac__calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	e->devfd = -1;
	e->irq_index = -1;
	snprintf(e->bdf, sizeof(e->bdf), "%s%s", strlen(cfg->bdf) == 7 ? "0000:" : "", cfg->bdf);
	if (!URCU_TLS(urcu_memb_reader).registered) {
		urcu_memb_register_thread();
		e->we_registered = true;
	}
	ret = dmac_imap_create(&e->map);
	if (ret)
		goto close_env;

	/* Both backends, the way the daemon will pick one. -EEXIST cannot
	 * happen for the same table (a second register is a no-op). */
	(void)dmac_backend_register(&dmac_iommufd_backend_ops);
	(void)dmac_backend_register(&dmac_vfio_compat_ops);
	ret = dmac_backend_choose(cfg->backend, &e->bops, reason, sizeof(reason));
	if (ret) {
		env_log("no backend: %s", reason);
		goto close_env;
	}
	ret = e->bops->open(NULL, &e->be);
	if (ret)
		goto close_env;
	ret = e->bops->device_open(e->be, e->bdf, &e->dev);
	if (ret)
		goto close_env;
	e->devfd = e->bops->device_fd(e->dev);
	ret = e->bops->space_alloc(e->be, &e->space);
	if (ret)
		goto close_env;
	ret = e->bops->device_attach(e->be, e->dev, e->space);
	if (ret)
		goto close_env;
	ret = pool_setup(e, cfg);
	if (ret)
		goto close_env;
	ret = cfg->bar == DMAC_NVME_ENV_BAR_SYSFS ? bar_map_sysfs(e, cfg->sysfs_root)
						  : bar_map_vfio(e);
	if (ret)
		goto close_env;
	ret = bus_master_on(e);
	if (ret)
		goto close_env;
	ret = irq_setup(e, cfg->irq);
	if (ret)
		goto close_env;

	e->ops.ctx = e;
	e->ops.bar0 = e->bar;
	e->ops.bar0_len = e->bar_len;
	e->ops.vtophys = env_vtophys;
	e->ops.dma_alloc = env_dma_alloc;
	e->ops.dma_free = env_dma_free;
	*out = e;
	return 0;

close_env:
	dmac_nvme_env_close(e);
	return ret;
}

const struct dmac_nvme_ops *dmac_nvme_env_ops(const struct dmac_nvme_env *e)
{
	return &e->ops;
}

int dmac_nvme_env_map(struct dmac_nvme_env *e, void *va, size_t len, uint64_t *iova)
{
	uint64_t io = 0;
	int slot = -1, ret;

	if (!e || !va || !len || ((uintptr_t)va & (ENV_PAGE - 1)) || (len & (ENV_PAGE - 1)))
		return -EINVAL;
	if ((uintptr_t)va + len - 1 < (uintptr_t)va)
		return -EOVERFLOW;
	for (int i = 0; i < ENV_MAX_EXTRA; i++)
		if (!e->extra[i].len) {
			slot = i;
			break;
		}
	if (slot < 0)
		return -ENOSPC;
	ret = e->bops->map(e->be, e->space, va, len, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &io);
	if (ret)
		return ret;
	ret = dmac_imap_insert(e->map, (uint64_t)(uintptr_t)va, (uint64_t)(uintptr_t)va + len - 1,
			       io);
	if (ret) {
		(void)e->bops->unmap(e->be, e->space, io, len, NULL);
		return ret;
	}
	e->extra[slot] = (struct env_extra){.va = va, .len = len, .iova = io};
	if (iova)
		*iova = io;
	return 0;
}

int dmac_nvme_env_unmap(struct dmac_nvme_env *e, void *va, size_t len)
{
	for (int i = 0; i < ENV_MAX_EXTRA; i++) {
		struct env_extra *x = &e->extra[i];
		int ret;

		if (!x->len || x->va != va || x->len != len)
			continue;
		/* translation first, then the IOMMU: nothing new is programmed
		 * with an IOVA that is about to go */
		ret = dmac_imap_remove(e->map, (uint64_t)(uintptr_t)va,
				       (uint64_t)(uintptr_t)va + len - 1);
		if (ret)
			return ret;
		ret = x->blocked ? 0 : e->bops->unmap(e->be, e->space, x->iova, len, NULL);
		x->len = 0;
		x->blocked = false;
		return ret;
	}
	return -ENOENT;
}

uint64_t dmac_nvme_env_unmapped_iova(const struct dmac_nvme_env *e)
{
	uint64_t end = e->pool_iova + e->pool_len;

	for (int i = 0; i < ENV_MAX_EXTRA; i++)
		if (e->extra[i].len && e->extra[i].iova + e->extra[i].len > end)
			end = e->extra[i].iova + e->extra[i].len;
	return ((end + ENV_HUGE - 1) & ~((uint64_t)ENV_HUGE - 1)) + ENV_HUGE;
}

void dmac_nvme_env_info(const struct dmac_nvme_env *e, struct dmac_nvme_env_info *out)
{
	memset(out, 0, sizeof(*out));
	out->backend = e->bops->name;
	out->bar = e->bar_how;
	out->irq = irq_name(e->irq_index);
	out->bar_len = e->bar_len;
	out->bar_size = e->bar_size;
	out->msix_count = e->msix_count;
	out->pool_iova = e->pool_iova;
	out->pool_len = e->pool_len;
	out->pool_huge = e->pool_huge;
}

int dmac_nvme_env_device_fd(const struct dmac_nvme_env *e)
{
	return e->devfd;
}

int dmac_nvme_env_block_dma(struct dmac_nvme_env *e)
{
	int ret = 0, r;

	if (e->pool_mapped) {
		ret = e->bops->unmap(e->be, e->space, e->pool_iova, e->pool_len, NULL);
		if (!ret)
			e->pool_mapped = false;
	}
	for (int i = 0; i < ENV_MAX_EXTRA; i++) {
		struct env_extra *x = &e->extra[i];

		if (!x->len || x->blocked)
			continue;
		r = e->bops->unmap(e->be, e->space, x->iova, x->len, NULL);
		if (!r)
			x->blocked = true;
		else if (!ret)
			ret = r;
	}
	return ret;
}
