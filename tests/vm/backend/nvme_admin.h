/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal NVMe admin-queue driver over a VFIO device fd, so the backend
 * tests can let the emulated controller judge a mapping with real DMA:
 * Identify Controller writes 4 KiB (serial number at byte 4) to an IOVA.
 *
 * Invariants: registers are accessed with pread/pwrite on the device fd's
 * BAR0 region (no BAR mmap); the admin SQ and CQ live in the first 8 KiB of
 * the queue memory (64 entries each), at qiova; identify data goes to any
 * IOVA the caller names. Polls are bounded counts, never timing assertions.
 */
#ifndef DMAC_BT_NVME_ADMIN_H
#define DMAC_BT_NVME_ADMIN_H

#include <errno.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NA_DEPTH 64u
#define NA_SQ	 0x0000u /* admin SQ offset in the queue memory */
#define NA_CQ	 0x1000u /* admin CQ offset */
#define NA_POLLS 20000	 /* x 500 us, an upper bound only */

struct na_ctrl {
	int fd;		       /* VFIO device fd */
	uint64_t bar0;	       /* BAR0 offset within the fd */
	uint32_t dstrd;	       /* doorbell stride exponent (CAP.DSTRD) */
	volatile uint8_t *mem; /* queue memory, daemon VA */
	uint64_t qiova;	       /* its IOVA as the device sees it */
	uint16_t sq_tail, cq_head, cid;
	uint8_t phase;
};

static inline int na_rd(struct na_ctrl *c, uint32_t off, uint32_t *v)
{
	return pread(c->fd, v, 4, (off_t)(c->bar0 + off)) == 4 ? 0 : -EIO;
}

static inline int na_wr(struct na_ctrl *c, uint32_t off, uint32_t v)
{
	return pwrite(c->fd, &v, 4, (off_t)(c->bar0 + off)) == 4 ? 0 : -EIO;
}

/* Find BAR0 and turn on memory decoding + bus mastering (the PCI command
 * register; a fresh device fd on type1 starts from a reset function). */
static inline int na_setup(struct na_ctrl *c, int fd)
{
	struct vfio_region_info bar = {.argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX};
	struct vfio_region_info cfg = {.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX};
	uint16_t cmd;

	c->fd = fd;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &bar) ||
	    ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		return -errno;
	c->bar0 = bar.offset;
	if (pread(fd, &cmd, 2, (off_t)(cfg.offset + 4)) != 2)
		return -EIO;
	cmd |= 0x6;
	return pwrite(fd, &cmd, 2, (off_t)(cfg.offset + 4)) == 2 ? 0 : -EIO;
}

static inline int na_wait_rdy(struct na_ctrl *c, uint32_t want)
{
	uint32_t csts = 0;

	for (int i = 0; i < NA_POLLS; i++) {
		if (na_rd(c, 0x1c, &csts))
			return -EIO;
		if ((csts & 1) == want)
			return 0;
		usleep(500);
	}
	fprintf(stderr, "nvme: CSTS 0x%x never reached RDY=%u\n", csts, want);
	return -ETIMEDOUT;
}

/* Disable the controller, put the admin queues at c->qiova, enable. */
static inline int na_enable(struct na_ctrl *c)
{
	uint32_t cap_hi;
	int ret;

	if (na_rd(c, 0x04, &cap_hi))
		return -EIO;
	c->dstrd = cap_hi & 0xf;
	ret = na_wr(c, 0x14, 0);
	if (!ret)
		ret = na_wait_rdy(c, 0);
	memset((void *)c->mem, 0, 0x2000);
	c->sq_tail = c->cq_head = 0;
	c->phase = 1;
	if (!ret)
		ret = na_wr(c, 0x24, ((NA_DEPTH - 1) << 16) | (NA_DEPTH - 1)); /* AQA */
	if (!ret)
		ret = na_wr(c, 0x28, (uint32_t)(c->qiova + NA_SQ)); /* ASQ */
	if (!ret)
		ret = na_wr(c, 0x2c, (uint32_t)((c->qiova + NA_SQ) >> 32));
	if (!ret)
		ret = na_wr(c, 0x30, (uint32_t)(c->qiova + NA_CQ)); /* ACQ */
	if (!ret)
		ret = na_wr(c, 0x34, (uint32_t)((c->qiova + NA_CQ) >> 32));
	/* CC: EN, NVM command set, 4 KiB pages, SQ entry 2^6, CQ entry 2^4 */
	if (!ret)
		ret = na_wr(c, 0x14, 1u | (6u << 16) | (4u << 20));
	if (!ret)
		ret = na_wait_rdy(c, 1);
	return ret;
}

static inline void na_disable(struct na_ctrl *c)
{
	na_wr(c, 0x14, 0);
}

/*
 * Identify Controller with its 4 KiB of data DMA'd to data_iova.
 * @return 0 (success completion), -EIO (error status: e.g. the data write
 * faulted in the IOMMU), -ETIMEDOUT (no completion within polls).
 */
static inline int na_identify(struct na_ctrl *c, uint64_t data_iova, int polls)
{
	volatile uint32_t *sqe = (volatile uint32_t *)(c->mem + NA_SQ + c->sq_tail * 64u);
	volatile uint32_t *cqe = (volatile uint32_t *)(c->mem + NA_CQ + c->cq_head * 16u);
	uint16_t cid = ++c->cid;

	for (int i = 0; i < 16; i++)
		sqe[i] = 0;
	sqe[0] = 0x06u | ((uint32_t)cid << 16); /* Identify */
	sqe[6] = (uint32_t)data_iova;		/* PRP1 */
	sqe[7] = (uint32_t)(data_iova >> 32);
	sqe[10] = 1; /* CNS 1: controller */
	c->sq_tail = (uint16_t)((c->sq_tail + 1) % NA_DEPTH);
	__sync_synchronize();
	if (na_wr(c, 0x1000, c->sq_tail))
		return -EIO;
	for (int i = 0; i < polls; i++) {
		uint32_t dw3 = cqe[3];

		if (((dw3 >> 16) & 1) == c->phase) {
			__sync_synchronize();
			c->cq_head = (uint16_t)((c->cq_head + 1) % NA_DEPTH);
			if (!c->cq_head)
				c->phase ^= 1;
			na_wr(c, 0x1000 + (4u << c->dstrd), c->cq_head);
			if ((dw3 & 0xffff) != cid || (dw3 >> 17)) {
				fprintf(stderr, "nvme: completion cid %u status 0x%x\n",
					dw3 & 0xffff, dw3 >> 17);
				return -EIO;
			}
			return 0;
		}
		usleep(500);
	}
	return -ETIMEDOUT;
}

/* 1 if the Identify data at va carries the serial number want. */
static inline int na_serial_is(const volatile uint8_t *va, const char *want)
{
	char sn[21];

	memcpy(sn, (const void *)(va + 4), 20);
	sn[20] = '\0';
	return !strncmp(sn, want, strlen(want));
}

#endif /* DMAC_BT_NVME_ADMIN_H */
