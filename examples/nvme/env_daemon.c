/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon environment of the NVMe driver (see env_daemon.h).
 *
 * Invariants: 'used' has one bit per 4 KiB page of the pool, set while the
 * page belongs to a dma_alloc() result; every step of open has its undo in
 * close (and in open's unwind labels), run in reverse order.
 * Concurrency: see env_daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "env_daemon.h"
#include "vtophys.h"

#define DENV_PAGE 4096u
#define DENV_HUGE (2u << 20)

struct dmac_nvme_denv {
	struct dmac_client *c;
	struct dmac_client_device dev;
	void *bar0;
	size_t bar0_len;
	int pool_fd;
	void *pool;
	size_t pool_len;
	int huge;
	uint64_t reg_id;
	struct dmac_client_lease lease;
	pthread_mutex_t lock;
	uint8_t *used; /* one byte per page: simple and enough for an example */
	struct dmac_nvme_ops ops;
};

static void *denv_dma_alloc(void *ctx, size_t len, size_t align)
{
	struct dmac_nvme_denv *e = ctx;
	size_t np = (len + DENV_PAGE - 1) / DENV_PAGE, total = e->pool_len / DENV_PAGE;
	size_t step = align > DENV_PAGE ? align / DENV_PAGE : 1;
	void *va = NULL;

	if (!len)
		return NULL;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i + np <= total && !va; i += step) {
		size_t j;

		for (j = 0; j < np && !e->used[i + j]; j++)
			;
		if (j == np) {
			memset(e->used + i, 1, np);
			va = (char *)e->pool + i * DENV_PAGE;
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (va)
		memset(va, 0, np * DENV_PAGE);
	return va;
}

static void denv_dma_free(void *ctx, void *va, size_t len)
{
	struct dmac_nvme_denv *e = ctx;
	size_t np = (len + DENV_PAGE - 1) / DENV_PAGE;

	if (!va)
		return;
	pthread_mutex_lock(&e->lock);
	memset(e->used + ((char *)va - (char *)e->pool) / DENV_PAGE, 0, np);
	pthread_mutex_unlock(&e->lock);
}

/* A sealed memfd pool: hugepages if the system has free ones, else shmem. */
static int denv_pool(struct dmac_nvme_denv *e)
{
	for (int huge = 1; huge >= 0; huge--) {
		unsigned int fl = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0);
		int fd = memfd_create("dmac-nvme-pool", fl);
		void *p;

		if (fd < 0)
			continue;
		if (ftruncate(fd, (off_t)e->pool_len) ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
			close(fd);
			continue;
		}
		p = mmap(NULL, e->pool_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			 0);
		if (p == MAP_FAILED) {
			close(fd);
			continue;
		}
		e->pool_fd = fd;
		e->pool = p;
		e->huge = huge;
		return 0;
	}
	return -ENOMEM;
}

int dmac_nvme_denv_open(const struct dmac_nvme_denv_cfg *cfg, struct dmac_nvme_denv **out)
{
	struct dmac_nvme_denv *e;
	uint32_t vec;
	int rc;

	if (!cfg || !cfg->tenant || !out)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->pool_fd = -1;
	pthread_mutex_init(&e->lock, NULL);
	e->pool_len = cfg->pool_len ? cfg->pool_len : 8u << 20;
	e->pool_len = (e->pool_len + DENV_HUGE - 1) / DENV_HUGE * DENV_HUGE;
	e->used = calloc(e->pool_len / DENV_PAGE, 1);
	if (!e->used) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = dmac_client_connect(cfg->socket ? cfg->socket : DMAC_CLIENT_DEFAULT_SOCKET,
				 cfg->tenant, 0, &e->c);
	if (rc)
		goto err_free;
	rc = dmac_client_device_get(e->c, cfg->bdf, 0, &e->dev);
	if (rc)
		goto err_close_client;
	if (!(e->dev.bars[0].flags & DMAC_CLIENT_BAR_MMAP) || e->dev.bars[0].size < 0x2000) {
		rc = -EOPNOTSUPP;
		goto err_close_device;
	}
	e->bar0_len = e->dev.bars[0].size;
	e->bar0 = mmap(NULL, e->bar0_len, PROT_READ | PROT_WRITE, MAP_SHARED, e->dev.bars[0].fd, 0);
	if (e->bar0 == MAP_FAILED) {
		rc = -errno;
		goto err_close_device;
	}
	rc = denv_pool(e);
	if (rc)
		goto err_unmap_bar;
	rc = dmac_client_register(e->c, e->pool_fd, 0, e->pool_len,
				  DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, e->pool,
				  &e->reg_id);
	if (rc)
		goto err_unmap_pool;
	rc = dmac_client_lease(e->c, e->reg_id, 0, e->pool_len,
			       DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, &e->lease);
	if (rc)
		goto err_unregister;
	dmac_vtophys_set_client(e->c);

	e->ops.ctx = e;
	e->ops.bar0 = e->bar0;
	e->ops.bar0_len = e->bar0_len;
	e->ops.vtophys = dmac_vtophys_cb;
	e->ops.dma_alloc = denv_dma_alloc;
	e->ops.dma_free = denv_dma_free;
	e->ops.irq_eventfd = -1;
	if (!cfg->poll &&
	    (e->dev.irq_type == DMAC_CLIENT_IRQ_MSIX || e->dev.irq_type == DMAC_CLIENT_IRQ_MSI)) {
		vec = e->dev.irq_type == DMAC_CLIENT_IRQ_MSIX && e->dev.nirqs > 1 ? 1 : 0;
		e->ops.irq_eventfd = e->dev.irq_fds[vec];
		e->ops.irq_vector = (uint16_t)vec;
	}
	*out = e;
	return 0;

err_unregister:
	dmac_client_unregister(e->c, e->reg_id);
err_unmap_pool:
	munmap(e->pool, e->pool_len);
	close(e->pool_fd);
err_unmap_bar:
	munmap(e->bar0, e->bar0_len);
err_close_device:
	dmac_client_device_close(&e->dev);
err_close_client:
	dmac_client_close(e->c);
err_free:
	free(e->used);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return rc;
}

void dmac_nvme_denv_close(struct dmac_nvme_denv *e)
{
	if (!e)
		return;
	if (dmac_vtophys_get_client() == e->c)
		dmac_vtophys_set_client(NULL);
	dmac_client_release(e->c, e->lease.lease_id);
	dmac_client_unregister(e->c, e->reg_id);
	munmap(e->pool, e->pool_len);
	close(e->pool_fd);
	munmap(e->bar0, e->bar0_len);
	dmac_client_device_close(&e->dev);
	dmac_client_close(e->c);
	free(e->used);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

const struct dmac_nvme_ops *dmac_nvme_denv_ops(struct dmac_nvme_denv *e)
{
	return &e->ops;
}

struct dmac_client *dmac_nvme_denv_client(struct dmac_nvme_denv *e)
{
	return e->c;
}

const struct dmac_client_device *dmac_nvme_denv_device(const struct dmac_nvme_denv *e)
{
	return &e->dev;
}

void dmac_nvme_denv_pool(const struct dmac_nvme_denv *e, uint64_t *iova, size_t *len, int *huge)
{
	*iova = e->lease.iova;
	*len = e->pool_len;
	*huge = e->huge;
}
