/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test iommufd-dma: real device DMA through the iommufd backend. The
 * guest's emulated NVMe controller (vfio-pci, behind emulated VT-d) runs
 * Identify Controller commands whose queues and data buffers live at IOVAs
 * the backend mapped; the data it writes must land in the right pages.
 *
 * Proves end to end, with the device as the judge:
 * 1. map: admin queues + data at the IOVA returned by map() in IOAS A work,
 *    the controller's serial number ("dmac0", from the QEMU command line)
 *    arrives in the buffer;
 * 2. copy + replace: after copying the area into IOAS B at the same IOVA,
 *    replacing the device's attachment to B and UNMAPPING the area from A,
 *    DMA still works: the device now translates through B's copy;
 * 3. isolation: after replacing to an empty IOAS C, the controller can no
 *    longer reach its queues: no completion is ever posted (checked for a
 *    bounded number of polls; no timing is asserted).
 *
 * Invariants: registers are accessed with pread/pwrite on the VFIO device fd
 * (BAR0 region), never through a BAR mmap; the queue memory is one 2 MiB
 * hugepage: [0, 4K) admin SQ (64 x 64 B), [4K, 8K) admin CQ (64 x 16 B),
 * [8K, 12K) and [12K, 16K) Identify buffers.
 */
#include <linux/vfio.h>
#include <unistd.h>

#include "vmtest.h"

#define MEM_LEN	 (2u << 20)
#define SQ_OFF	 0x0000u
#define CQ_OFF	 0x1000u
#define ID1_OFF	 0x2000u
#define ID2_OFF	 0x3000u
#define Q_DEPTH	 64u
#define REG_CAP	 0x00
#define REG_CC	 0x14
#define REG_CSTS 0x1c
#define REG_AQA	 0x24
#define REG_ASQ	 0x28
#define REG_ACQ	 0x30
#define POLLS	 20000 /* x 500 us: a bound, not a timing assertion */

static const struct dmac_backend_ops *ops;
static struct dmac_backend *be;

struct nvme {
	int fd;		       /* VFIO device fd */
	uint64_t bar0;	       /* offset of BAR0 in the device fd */
	uint32_t dstrd;	       /* doorbell stride exponent */
	volatile uint8_t *mem; /* queue memory (daemon VA) */
	uint64_t iova;	       /* its IOVA */
	uint16_t sq_tail, cq_head, cid;
	uint8_t phase;
};

static int reg_rd32(struct nvme *n, uint32_t off, uint32_t *v)
{
	return pread(n->fd, v, 4, (off_t)(n->bar0 + off)) == 4 ? 0 : -EIO;
}

static int reg_wr32(struct nvme *n, uint32_t off, uint32_t v)
{
	return pwrite(n->fd, &v, 4, (off_t)(n->bar0 + off)) == 4 ? 0 : -EIO;
}

static int reg_wr64(struct nvme *n, uint32_t off, uint64_t v)
{
	int ret = reg_wr32(n, off, (uint32_t)v);

	return ret ? ret : reg_wr32(n, off + 4, (uint32_t)(v >> 32));
}

static int region_offset(int fd, uint32_t index, uint64_t *off)
{
	struct vfio_region_info ri = {.argsz = sizeof(ri), .index = index};

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	*off = ri.offset;
	return 0;
}

/* Enable memory decoding and bus mastering in the PCI command register. */
static int enable_bus_master(int fd)
{
	uint64_t cfg;
	uint16_t cmd;
	int ret = region_offset(fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);

	if (ret)
		return ret;
	if (pread(fd, &cmd, 2, (off_t)(cfg + 4)) != 2)
		return -EIO;
	cmd |= 0x6;
	return pwrite(fd, &cmd, 2, (off_t)(cfg + 4)) == 2 ? 0 : -EIO;
}

static int wait_ready(struct nvme *n, uint32_t want)
{
	uint32_t csts = 0;

	for (int i = 0; i < POLLS; i++) {
		if (reg_rd32(n, REG_CSTS, &csts))
			return -EIO;
		if ((csts & 1) == want)
			return 0;
		usleep(500);
	}
	fprintf(stderr, "CSTS 0x%x never reached RDY=%u\n", csts, want);
	return -ETIMEDOUT;
}

/* Disable, program the admin queues at n->iova, enable. */
static int nvme_init(struct nvme *n)
{
	uint32_t cap_hi;
	int ret;

	if (reg_rd32(n, REG_CAP + 4, &cap_hi))
		return -EIO;
	n->dstrd = cap_hi & 0xf;
	ret = reg_wr32(n, REG_CC, 0);
	if (!ret)
		ret = wait_ready(n, 0);
	memset((void *)n->mem, 0, 0x4000);
	n->sq_tail = n->cq_head = 0;
	n->phase = 1;
	if (!ret)
		ret = reg_wr32(n, REG_AQA, ((Q_DEPTH - 1) << 16) | (Q_DEPTH - 1));
	if (!ret)
		ret = reg_wr64(n, REG_ASQ, n->iova + SQ_OFF);
	if (!ret)
		ret = reg_wr64(n, REG_ACQ, n->iova + CQ_OFF);
	/* EN, CSS NVM, MPS 4 KiB, AMS round robin, IOSQES 6, IOCQES 4 */
	if (!ret)
		ret = reg_wr32(n, REG_CC, 1u | (6u << 16) | (4u << 20));
	if (!ret)
		ret = wait_ready(n, 1);
	return ret;
}

/*
 * Identify Controller into the buffer at data_off. Returns 0 when the
 * completion arrived with success status, -ETIMEDOUT if none arrived within
 * 'polls' polls of 500 us, -EIO on an error status.
 */
static int nvme_identify(struct nvme *n, uint32_t data_off, int polls)
{
	volatile uint32_t *sqe = (volatile uint32_t *)(n->mem + SQ_OFF + n->sq_tail * 64u);
	volatile uint32_t *cqe = (volatile uint32_t *)(n->mem + CQ_OFF + n->cq_head * 16u);
	uint64_t prp1 = n->iova + data_off;
	uint16_t cid = ++n->cid;

	for (int i = 0; i < 16; i++)
		sqe[i] = 0;
	sqe[0] = 0x06u | ((uint32_t)cid << 16); /* opcode Identify */
	sqe[6] = (uint32_t)prp1;
	sqe[7] = (uint32_t)(prp1 >> 32);
	sqe[10] = 1; /* CNS 1: controller */
	n->sq_tail = (uint16_t)((n->sq_tail + 1) % Q_DEPTH);
	__sync_synchronize();
	if (reg_wr32(n, 0x1000, n->sq_tail))
		return -EIO;

	for (int i = 0; i < polls; i++) {
		uint32_t dw3 = cqe[3];

		if (((dw3 >> 16) & 1) == n->phase) {
			__sync_synchronize();
			n->cq_head = (uint16_t)((n->cq_head + 1) % Q_DEPTH);
			if (!n->cq_head)
				n->phase ^= 1;
			reg_wr32(n, 0x1000 + (4u << n->dstrd), n->cq_head);
			if ((dw3 & 0xffff) != cid || (dw3 >> 17)) {
				fprintf(stderr, "completion cid %u status 0x%x\n", dw3 & 0xffff,
					dw3 >> 17);
				return -EIO;
			}
			return 0;
		}
		usleep(500);
	}
	return -ETIMEDOUT;
}

static int serial_is(struct nvme *n, uint32_t data_off, const char *want)
{
	char sn[21];

	memcpy(sn, (const void *)(n->mem + data_off + 4), 20);
	sn[20] = '\0';
	return !strncmp(sn, want, strlen(want));
}

int main(void)
{
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	struct dmac_device *dev = NULL;
	struct nvme n = {0};
	uint32_t a = 0, b = 0, c = 0;
	uint64_t iova = 0, iova_b;
	void *mem;

	vt_init();
	CHECK(bdf != NULL, "DMAC_VM_NVME_BDF unset");
	be = vt_open_backend(&ops, 1);
	mem = vt_huge(MEM_LEN);
	CHECK(mem != NULL, "hugetlb mmap: %s", strerror(errno));
	if (!be || !bdf || !mem)
		return vt_finish("iommufd-dma");
	CHECK_RET(ops->device_open(be, bdf, &dev), 0);
	if (!dev)
		return vt_finish("iommufd-dma");
	n.fd = ops->device_fd(dev);
	n.mem = mem;
	CHECK_RET(region_offset(n.fd, VFIO_PCI_BAR0_REGION_INDEX, &n.bar0), 0);
	CHECK_RET(enable_bus_master(n.fd), 0);

	/* 1. map into A, attach, DMA */
	CHECK_RET(ops->space_alloc(be, &a), 0);
	CHECK_RET(ops->space_alloc(be, &b), 0);
	CHECK_RET(ops->space_alloc(be, &c), 0);
	CHECK_RET(ops->device_attach(be, dev, a), 0);
	CHECK_RET(ops->map(be, a, mem, MEM_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova), 0);
	n.iova = iova;
	CHECK_RET(nvme_init(&n), 0);
	CHECK_RET(nvme_identify(&n, ID1_OFF, POLLS), 0);
	CHECK(serial_is(&n, ID1_OFF, "dmac0"), "serial '%.20s' not from the device",
	      (const char *)mem + ID1_OFF + 4);
	CHECK(!serial_is(&n, ID2_OFF, "dmac0"), "second buffer written unasked");

	/* 2. copy to B at the same IOVA, replace, unmap from A: DMA goes on */
	iova_b = iova;
	CHECK_RET(ops->copy(be, b, a, iova, MEM_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE,
			    DMAC_MAP_FIXED_IOVA, &iova_b),
		  0);
	CHECK_RET(ops->device_replace(be, dev, b), 0);
	CHECK_RET(ops->unmap(be, a, iova, MEM_LEN, NULL), 0);
	CHECK_RET(nvme_identify(&n, ID2_OFF, POLLS), 0);
	CHECK(serial_is(&n, ID2_OFF, "dmac0"), "DMA through the copy did not land: '%.20s'",
	      (const char *)mem + ID2_OFF + 4);

	/* 3. replace to the empty C: the controller cannot reach its queues */
	memset((char *)mem + ID1_OFF, 0, 0x2000);
	CHECK_RET(ops->device_replace(be, dev, c), 0);
	CHECK_RET(nvme_identify(&n, ID1_OFF, POLLS / 10), -ETIMEDOUT);
	CHECK(!serial_is(&n, ID1_OFF, "dmac0"), "DMA landed although the IOAS is empty");

	reg_wr32(&n, REG_CC, 0);
	ops->device_close(be, dev);
	ops->close(be);
	munmap(mem, MEM_LEN);
	return vt_finish("iommufd-dma");
}
