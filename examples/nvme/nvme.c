/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe driver of nvme.h: controller bring-up, admin commands, one I/O
 * queue pair, PRP building, completion by phase bit or interrupt eventfd.
 *
 * Invariants:
 * - Queue y's SQ tail doorbell is at 0x1000 + (2y) * (4 << DSTRD) and its CQ
 *   head doorbell at 0x1000 + (2y + 1) * (4 << DSTRD); the admin pair is y = 0,
 *   the I/O pair y = 1.
 * - A queue of depth n holds at most n - 1 commands in flight (full when
 *   tail + 1 == head); the I/O queue has n - 1 trackers, command id = tracker
 *   index. The admin queue runs one command at a time (synchronous).
 * - The expected phase of a CQ starts at 1 and flips each time the head wraps
 *   to 0; an entry is new when its phase bit equals the expected phase.
 * - Every tracker owns one PRP list page (page_size bytes, page_size / 8
 *   entries), so a command spans at most page_size / 8 + 1 pages and no list
 *   is ever chained; max_xfer is clipped so that always holds.
 * - SQ entries are written completely before the doorbell write, with a full
 *   fence between; a CQ entry's fields are read only after its phase bit
 *   matched, with an acquire fence between.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmac_alloc.h"
#include "nvme.h"
#include "nvme_spec.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the NVMe example driver assumes a little-endian host"
#endif

#define NVME_ADMIN_DEPTH    32u
#define NVME_DEFAULT_DEPTH  64u
#define NVME_DEFAULT_TMO_MS 10000u
#define NVME_MAX_XFER_CAP   (2u << 20)
#define NVME_IO_QID	    1u
#define NVME_CFS_CHECK_MS   100 /* fatal status checked this often while waiting */

struct nvme_queue {
	volatile struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	size_t sq_bytes, cq_bytes;
	volatile uint32_t *sq_db, *cq_db;
	uint16_t qid, depth, sq_tail, sq_head, cq_head;
	uint8_t phase;
};

struct nvme_tracker {
	bool busy, done;
	uint16_t sf; /* status field of the completion */
	uint32_t dw0;
	uint64_t *prp_list; /* one page, DMA-able */
	uint64_t prp_list_iova;
};

struct dmac_nvme_ctrl {
	struct dmac_nvme_ops ops;
	volatile uint8_t *regs;
	uint64_t cap;
	uint32_t page_size, page_shift, dstrd, to_ms, cmd_tmo_ms;
	bool enabled, io_cq_created, io_sq_created, failed;
	struct nvme_queue adminq, ioq;
	uint16_t admin_cid;
	struct nvme_tracker *trk; /* ioq.depth - 1 trackers */
	uint32_t nr_trk;
	void *scratch; /* one page for Identify data */
	uint64_t scratch_iova;
	struct dmac_nvme_info info;
	struct dmac_nvme_stats stats;
};

/* ---- small helpers ------------------------------------------------------- */

static void nvme_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void nvme_log(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	fputs("nvme: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	errno = saved;
}

static uint32_t rd32(struct dmac_nvme_ctrl *c, uint32_t off)
{
	return *(volatile uint32_t *)(c->regs + off);
}

static void wr32(struct dmac_nvme_ctrl *c, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(c->regs + off) = v;
}

/* 64-bit registers as two dword accesses, low first (allowed by the spec). */
static uint64_t rd64(struct dmac_nvme_ctrl *c, uint32_t off)
{
	uint64_t lo = rd32(c, off);

	return lo | ((uint64_t)rd32(c, off + 4) << 32);
}

static void wr64(struct dmac_nvme_ctrl *c, uint32_t off, uint64_t v)
{
	wr32(c, off, (uint32_t)v);
	wr32(c, off + 4, (uint32_t)(v >> 32));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void copy_ascii(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* ---- status decoding ----------------------------------------------------- */

struct status_desc {
	uint8_t sct, sc;
	int err;
	const char *msg;
};

static const struct status_desc status_table[] = {
    {NVME_SCT_GENERIC, 0x00, 0, "generic: successful completion"},
    {NVME_SCT_GENERIC, 0x01, -EOPNOTSUPP, "generic: invalid command opcode"},
    {NVME_SCT_GENERIC, 0x02, -EINVAL, "generic: invalid field in command"},
    {NVME_SCT_GENERIC, 0x03, -EINVAL, "generic: command id conflict"},
    {NVME_SCT_GENERIC, 0x04, -EIO, "generic: data transfer error"},
    {NVME_SCT_GENERIC, 0x05, -EIO, "generic: aborted, power loss notification"},
    {NVME_SCT_GENERIC, 0x06, -EIO, "generic: internal error"},
    {NVME_SCT_GENERIC, 0x07, -ECANCELED, "generic: command abort requested"},
    {NVME_SCT_GENERIC, 0x08, -ECANCELED, "generic: aborted, SQ deleted"},
    {NVME_SCT_GENERIC, 0x0b, -ENODEV, "generic: invalid namespace or format"},
    {NVME_SCT_GENERIC, 0x0d, -EINVAL, "generic: invalid SGL/PRP offset"},
    {NVME_SCT_GENERIC, 0x13, -EINVAL, "generic: invalid PRP offset"},
    {NVME_SCT_GENERIC, 0x80, -ERANGE, "generic: LBA out of range"},
    {NVME_SCT_GENERIC, 0x81, -ENOSPC, "generic: capacity exceeded"},
    {NVME_SCT_GENERIC, 0x82, -EAGAIN, "generic: namespace not ready"},
    {NVME_SCT_CMD, 0x00, -EINVAL, "command specific: completion queue invalid"},
    {NVME_SCT_CMD, 0x01, -EINVAL, "command specific: invalid queue identifier"},
    {NVME_SCT_CMD, 0x02, -EINVAL, "command specific: invalid queue size"},
    {NVME_SCT_CMD, 0x08, -EINVAL, "command specific: invalid interrupt vector"},
    {NVME_SCT_CMD, 0x0c, -EBUSY, "command specific: invalid queue deletion"},
    {NVME_SCT_CMD, 0x80, -EINVAL, "command specific: conflicting attributes"},
    {NVME_SCT_CMD, 0x82, -EROFS, "command specific: attempted write to read-only range"},
    {NVME_SCT_MEDIA, 0x80, -EIO, "media: write fault"},
    {NVME_SCT_MEDIA, 0x81, -EIO, "media: unrecovered read error"},
    {NVME_SCT_MEDIA, 0x86, -EACCES, "media: access denied"},
};

static const struct status_desc *status_find(uint16_t sf)
{
	for (size_t i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++)
		if (status_table[i].sct == NVME_SF_SCT(sf) && status_table[i].sc == NVME_SF_SC(sf))
			return &status_table[i];
	return NULL;
}

int dmac_nvme_status_errno(uint16_t sf)
{
	const struct status_desc *d = status_find(sf);

	if (d)
		return d->err;
	return (NVME_SF_SCT(sf) == NVME_SCT_GENERIC && NVME_SF_SC(sf) == 0) ? 0 : -EIO;
}

const char *dmac_nvme_status_str(uint16_t sf)
{
	const struct status_desc *d = status_find(sf);

	if (d)
		return d->msg;
	switch (NVME_SF_SCT(sf)) {
	case NVME_SCT_GENERIC:
		return "generic: unknown status code";
	case NVME_SCT_CMD:
		return "command specific: unknown status code";
	case NVME_SCT_MEDIA:
		return "media and data integrity error";
	case NVME_SCT_PATH:
		return "path related error";
	case NVME_SCT_VENDOR:
		return "vendor specific error";
	default:
		return "reserved status code type";
	}
}

static int status_to_err(const char *what, uint16_t sf)
{
	int err = dmac_nvme_status_errno(sf);

	if (err)
		nvme_log("%s failed: status SCT %u SC 0x%02x%s (%s) -> %s", what, NVME_SF_SCT(sf),
			 NVME_SF_SC(sf), NVME_SF_DNR(sf) ? " DNR" : "", dmac_nvme_status_str(sf),
			 strerrorname_np(-err));
	return err;
}

/* ---- DMA memory ------------------------------------------------------------ */

/* Allocate DMA memory and translate it; it must be contiguous in IOVA. */
static void *dma_get(struct dmac_nvme_ctrl *c, size_t len, uint64_t *iova)
{
	void *va = c->ops.dma_alloc(c->ops.ctx, len, c->page_size);
	uint64_t contig = len;

	if (!va) {
		errno = ENOMEM;
		return NULL;
	}
	*iova = c->ops.vtophys(c->ops.ctx, va, &contig);
	if (*iova == DMAC_VTOPHYS_ERROR || contig < len || (*iova & (c->page_size - 1))) {
		nvme_log("DMA memory %p (+%zu) from dma_alloc does not translate to one aligned "
			 "IOVA run (iova 0x%llx, contiguous %llu)",
			 va, len, (unsigned long long)*iova, (unsigned long long)contig);
		c->ops.dma_free(c->ops.ctx, va, len);
		errno = EFAULT;
		return NULL;
	}
	memset(va, 0, len);
	return va;
}

static void dma_put(struct dmac_nvme_ctrl *c, void *va, size_t len)
{
	if (va)
		c->ops.dma_free(c->ops.ctx, va, len);
}

/* ---- controller state ------------------------------------------------------ */

/* Wait until (CSTS & mask) == want, bounded by CAP.TO. Returns -EIO on CFS when
 * fail_on_cfs. */
static int wait_csts(struct dmac_nvme_ctrl *c, uint32_t mask, uint32_t want, bool fail_on_cfs,
		     const char *what)
{
	uint64_t deadline = now_ms() + c->to_ms;
	uint32_t csts;

	for (;;) {
		csts = rd32(c, NVME_REG_CSTS);
		if (csts == UINT32_MAX) {
			nvme_log("%s: CSTS reads all ones (device gone or BAR not decoded)", what);
			return -EIO;
		}
		if (fail_on_cfs && (csts & NVME_CSTS_CFS)) {
			nvme_log("%s: controller fatal status (CSTS 0x%x)", what, csts);
			return -EIO;
		}
		if ((csts & mask) == want)
			return 0;
		if (now_ms() > deadline)
			break;
		usleep(1000);
	}
	nvme_log("%s: CSTS 0x%x did not reach 0x%x/0x%x within CAP.TO (%u ms)", what, csts, want,
		 mask, c->to_ms);
	return -ETIMEDOUT;
}

static int ctrl_disable(struct dmac_nvme_ctrl *c)
{
	uint32_t cc = rd32(c, NVME_REG_CC);

	if (cc & NVME_CC_EN) {
		/* Clearing EN while an enable is still in progress (RDY 0, no
		 * fatal status) is not allowed: let it finish or fail first. */
		uint64_t deadline = now_ms() + c->to_ms;
		uint32_t csts;

		while (!((csts = rd32(c, NVME_REG_CSTS)) & (NVME_CSTS_RDY | NVME_CSTS_CFS)) &&
		       now_ms() <= deadline)
			usleep(1000);
		wr32(c, NVME_REG_CC, cc & ~NVME_CC_EN);
	}
	return wait_csts(c, NVME_CSTS_RDY, 0, false, "reset: CC.EN=0");
}

static void queue_bind(struct dmac_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid)
{
	uint32_t stride = 4u << c->dstrd;

	q->qid = qid;
	q->sq_db = (volatile uint32_t *)(c->regs + NVME_REG_DBS + (2u * qid) * stride);
	q->cq_db = (volatile uint32_t *)(c->regs + NVME_REG_DBS + (2u * qid + 1u) * stride);
	q->sq_tail = q->sq_head = q->cq_head = 0;
	q->phase = 1;
}

static int queue_alloc(struct dmac_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid, uint16_t depth)
{
	uint64_t iova;

	q->depth = depth;
	q->sq_bytes = ((size_t)depth * sizeof(struct nvme_sqe) + c->page_size - 1) &
		      ~((size_t)c->page_size - 1);
	q->cq_bytes = ((size_t)depth * sizeof(struct nvme_cqe) + c->page_size - 1) &
		      ~((size_t)c->page_size - 1);
	q->sq = dma_get(c, q->sq_bytes, &iova);
	if (!q->sq)
		return errno == EFAULT ? -EFAULT : -ENOMEM;
	q->sq_iova = iova;
	q->cq = dma_get(c, q->cq_bytes, &iova);
	if (!q->cq) {
		int err = errno == EFAULT ? -EFAULT : -ENOMEM;

		dma_put(c, (void *)q->sq, q->sq_bytes);
		q->sq = NULL;
		return err;
	}
	q->cq_iova = iova;
	queue_bind(c, q, qid);
	return 0;
}

static void queue_free(struct dmac_nvme_ctrl *c, struct nvme_queue *q)
{
	dma_put(c, (void *)q->sq, q->sq_bytes);
	dma_put(c, (void *)q->cq, q->cq_bytes);
	q->sq = NULL;
	q->cq = NULL;
}

/* Put one entry on a queue and ring its doorbell. The caller checked room. */
static void queue_submit(struct nvme_queue *q, const struct nvme_sqe *cmd)
{
	volatile struct nvme_sqe *slot = &q->sq[q->sq_tail];

	*(struct nvme_sqe *)(uintptr_t)slot = *cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1u) % q->depth);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*q->sq_db = q->sq_tail;
}

static bool queue_full(const struct nvme_queue *q)
{
	return (uint16_t)((q->sq_tail + 1u) % q->depth) == q->sq_head;
}

/*
 * Take the next new completion of a queue, if any, and advance the head (the
 * head doorbell is written by the caller once per batch: queue_ring_head()).
 */
static bool queue_next_cqe(struct nvme_queue *q, struct nvme_cqe *out)
{
	volatile struct nvme_cqe *e = &q->cq[q->cq_head];

	if (NVME_STATUS_PHASE(e->status) != q->phase)
		return false;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	out->dw0 = e->dw0;
	out->dw1 = e->dw1;
	out->sqhd = e->sqhd;
	out->sqid = e->sqid;
	out->cid = e->cid;
	out->status = e->status;
	q->sq_head = out->sqhd % q->depth;
	if (++q->cq_head == q->depth) {
		q->cq_head = 0;
		q->phase ^= 1u;
	}
	return true;
}

static void queue_ring_head(struct nvme_queue *q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*q->cq_db = q->cq_head;
}

/* ---- admin commands (synchronous, polled) ---------------------------------- */

static int admin_cmd(struct dmac_nvme_ctrl *c, struct nvme_sqe *cmd, uint32_t *dw0,
		     const char *what)
{
	uint64_t deadline;
	struct nvme_cqe cqe;

	if (c->failed)
		return -EIO;
	cmd->cid = ++c->admin_cid;
	queue_submit(&c->adminq, cmd);
	deadline = now_ms() + c->cmd_tmo_ms;
	for (;;) {
		if (queue_next_cqe(&c->adminq, &cqe)) {
			queue_ring_head(&c->adminq);
			if (cqe.cid != cmd->cid) {
				nvme_log("%s: completion for cid %u, expected %u", what, cqe.cid,
					 cmd->cid);
				c->failed = true;
				return -EIO;
			}
			if (dw0)
				*dw0 = cqe.dw0;
			return status_to_err(what, NVME_SF(cqe.status));
		}
		if (now_ms() > deadline)
			break;
		usleep(50);
	}
	nvme_log("%s: no completion within %u ms (CSTS 0x%x)", what, c->cmd_tmo_ms,
		 rd32(c, NVME_REG_CSTS));
	c->failed = true;
	return -ETIMEDOUT;
}

static int identify(struct dmac_nvme_ctrl *c, uint8_t cns, uint32_t nsid, const char *what)
{
	struct nvme_sqe cmd = {.opc = NVME_ADM_IDENTIFY, .nsid = nsid};

	memset(c->scratch, 0, NVME_IDENTIFY_LEN);
	cmd.prp1 = c->scratch_iova; /* page_size >= 4 KiB: one aligned page holds it */
	cmd.cdw10 = cns;
	return admin_cmd(c, &cmd, NULL, what);
}

/* ---- bring-up ---------------------------------------------------------------- */

static int ctrl_enable(struct dmac_nvme_ctrl *c)
{
	uint32_t mps = c->page_shift - 12;
	int ret;

	ret = ctrl_disable(c);
	if (ret)
		return ret;
	queue_bind(c, &c->adminq, 0);
	memset((void *)c->adminq.cq, 0, c->adminq.cq_bytes);
	wr32(c, NVME_REG_AQA, NVME_AQA(c->adminq.depth, c->adminq.depth));
	wr64(c, NVME_REG_ASQ, c->adminq.sq_iova);
	wr64(c, NVME_REG_ACQ, c->adminq.cq_iova);
	wr32(c, NVME_REG_CC,
	     NVME_CC_EN | NVME_CC_CSS_NVM | NVME_CC_MPS(mps) | NVME_CC_AMS_RR |
		 NVME_CC_IOSQES(NVME_SQES_LOG2) | NVME_CC_IOCQES(NVME_CQES_LOG2));
	c->enabled = true;
	return wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, true, "enable: CC.EN=1");
}

static int identify_all(struct dmac_nvme_ctrl *c)
{
	const uint8_t *d = c->scratch;
	uint32_t lbaf, nlbaf, idx;
	int ret;

	ret = identify(c, NVME_CNS_CTRL, 0, "Identify Controller");
	if (ret)
		return ret;
	copy_ascii(c->info.serial, d + NVME_IDC_SN, 20);
	copy_ascii(c->info.model, d + NVME_IDC_MN, 40);
	copy_ascii(c->info.firmware, d + NVME_IDC_FR, 8);
	memcpy(&c->info.vid, d + NVME_IDC_VID, 2);
	memcpy(&c->info.cntlid, d + NVME_IDC_CNTLID, 2);
	c->info.mdts = d[NVME_IDC_MDTS];
	if ((d[NVME_IDC_SQES] & 0xf) > NVME_SQES_LOG2 ||
	    (d[NVME_IDC_CQES] & 0xf) > NVME_CQES_LOG2) {
		nvme_log("controller requires SQ/CQ entries of 2^%u/2^%u bytes; only 64/16 "
			 "supported",
			 d[NVME_IDC_SQES] & 0xf, d[NVME_IDC_CQES] & 0xf);
		return -EOPNOTSUPP;
	}

	ret = identify(c, NVME_CNS_ACTIVE_NSID, 0, "Identify active namespace list");
	if (ret)
		return ret;
	c->info.nsid = get_le32(d);
	if (!c->info.nsid) {
		nvme_log("no active namespace");
		return -EOPNOTSUPP;
	}

	ret = identify(c, NVME_CNS_NS, c->info.nsid, "Identify Namespace");
	if (ret)
		return ret;
	c->info.nsze = get_le64(d + NVME_IDNS_NSZE);
	nlbaf = d[NVME_IDNS_NLBAF] + 1u;
	idx = NVME_FLBAS_INDEX(d[NVME_IDNS_FLBAS]);
	if (idx >= nlbaf || idx >= 64) {
		nvme_log("namespace %u: active LBA format %u of %u", c->info.nsid, idx, nlbaf);
		return -EIO;
	}
	lbaf = get_le32(d + NVME_IDNS_LBAF + 4u * idx);
	if (NVME_LBAF_LBADS(lbaf) < 9 || NVME_LBAF_LBADS(lbaf) > 16 || NVME_LBAF_MS(lbaf)) {
		nvme_log("namespace %u: LBA format %u (2^%u bytes, %u bytes metadata) not "
			 "supported",
			 c->info.nsid, idx, NVME_LBAF_LBADS(lbaf), NVME_LBAF_MS(lbaf));
		return -EOPNOTSUPP;
	}
	c->info.lba_size = 1u << NVME_LBAF_LBADS(lbaf);
	if (!c->info.nsze) {
		nvme_log("namespace %u has size 0", c->info.nsid);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int create_io_queues(struct dmac_nvme_ctrl *c, uint16_t depth)
{
	struct nvme_sqe cmd;
	uint32_t dw0 = 0;
	int ret;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_SET_FEATURES;
	cmd.cdw10 = NVME_FEAT_NUM_QUEUES;
	cmd.cdw11 = 0; /* one SQ and one CQ (0's based counts) */
	ret = admin_cmd(c, &cmd, &dw0, "Set Features (Number of Queues)");
	if (ret)
		return ret;

	ret = queue_alloc(c, &c->ioq, NVME_IO_QID, depth);
	if (ret)
		return ret;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_CREATE_CQ;
	cmd.prp1 = c->ioq.cq_iova;
	cmd.cdw10 = NVME_QCDW10(NVME_IO_QID, depth);
	cmd.cdw11 = NVME_QUEUE_PC;
	if (c->ops.irq_eventfd >= 0)
		cmd.cdw11 |= NVME_CQ_IEN | ((uint32_t)c->ops.irq_vector << 16);
	ret = admin_cmd(c, &cmd, NULL, "Create I/O Completion Queue");
	if (ret)
		return ret;
	c->io_cq_created = true;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_CREATE_SQ;
	cmd.prp1 = c->ioq.sq_iova;
	cmd.cdw10 = NVME_QCDW10(NVME_IO_QID, depth);
	cmd.cdw11 = NVME_QUEUE_PC | ((uint32_t)NVME_IO_QID << 16);
	ret = admin_cmd(c, &cmd, NULL, "Create I/O Submission Queue");
	if (ret)
		return ret;
	c->io_sq_created = true;
	return 0;
}

static int trackers_alloc(struct dmac_nvme_ctrl *c)
{
	c->nr_trk = c->ioq.depth - 1u;
	c->trk = dmac__calloc(c->nr_trk, sizeof(*c->trk));
	if (!c->trk)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nr_trk; i++) {
		c->trk[i].prp_list = dma_get(c, c->page_size, &c->trk[i].prp_list_iova);
		if (!c->trk[i].prp_list)
			return errno == EFAULT ? -EFAULT : -ENOMEM;
	}
	return 0;
}

static void trackers_free(struct dmac_nvme_ctrl *c)
{
	if (!c->trk)
		return;
	for (uint32_t i = 0; i < c->nr_trk; i++)
		dma_put(c, c->trk[i].prp_list, c->page_size);
	dmac__free(c->trk);
	c->trk = NULL;
}

void dmac_nvme_ctrl_close(struct dmac_nvme_ctrl *c)
{
	struct nvme_sqe cmd;

	if (!c)
		return;
	if (c->io_sq_created && !c->failed) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = NVME_ADM_DELETE_SQ;
		cmd.cdw10 = NVME_IO_QID;
		(void)admin_cmd(c, &cmd, NULL, "Delete I/O Submission Queue");
	}
	if (c->io_cq_created && !c->failed) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = NVME_ADM_DELETE_CQ;
		cmd.cdw10 = NVME_IO_QID;
		(void)admin_cmd(c, &cmd, NULL, "Delete I/O Completion Queue");
	}
	if (c->enabled) {
		uint32_t cc = rd32(c, NVME_REG_CC);

		if (!c->failed) {
			wr32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
			(void)wait_csts(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE, false,
					"shutdown");
		}
		(void)ctrl_disable(c);
	}
	trackers_free(c);
	queue_free(c, &c->ioq);
	queue_free(c, &c->adminq);
	dma_put(c, c->scratch, NVME_IDENTIFY_LEN);
	dmac__free(c);
}

int dmac_nvme_ctrl_open(const struct dmac_nvme_ops *ops, const struct dmac_nvme_opts *opts,
			struct dmac_nvme_ctrl **out)
{
	struct dmac_nvme_opts o = {0};
	struct dmac_nvme_ctrl *c;
	uint32_t mpsmin, mpsmax, depth, mdts_bytes, list_bytes;
	int ret;

	if (!ops || !out || !ops->bar0 || !ops->vtophys || !ops->dma_alloc || !ops->dma_free)
		return -EINVAL;
	if (opts)
		o = *opts;
	if (o.io_queue_depth == 1 || o.io_queue_depth > 65536)
		return -EINVAL;
	if (ops->bar0_len < NVME_REG_DBS + 8)
		return -EINVAL;

	c = dmac__calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ops = *ops;
	c->regs = ops->bar0;
	c->cmd_tmo_ms = o.timeout_ms ? o.timeout_ms : NVME_DEFAULT_TMO_MS;

	c->cap = rd64(c, NVME_REG_CAP);
	if (c->cap == UINT64_MAX) {
		nvme_log("CAP reads all ones: BAR0 not decoded (memory space disabled?)");
		ret = -EIO;
		goto free_ctrl;
	}
	c->dstrd = NVME_CAP_DSTRD(c->cap);
	c->to_ms = NVME_CAP_TO(c->cap) * 500u;
	if (!c->to_ms)
		c->to_ms = 500;
	mpsmin = NVME_CAP_MPSMIN(c->cap);
	mpsmax = NVME_CAP_MPSMAX(c->cap);
	if (!(NVME_CAP_CSS(c->cap) & NVME_CAP_CSS_NVM)) {
		nvme_log("controller does not support the NVM command set (CAP.CSS 0x%x)",
			 NVME_CAP_CSS(c->cap));
		ret = -EOPNOTSUPP;
		goto free_ctrl;
	}
	if (mpsmin > mpsmax || mpsmin > 4) { /* at most 64 KiB pages here */
		nvme_log("memory page size 2^(12+%u) not supported", mpsmin);
		ret = -EOPNOTSUPP;
		goto free_ctrl;
	}
	c->page_shift = 12 + mpsmin;
	c->page_size = 1u << c->page_shift;
	if (ops->bar0_len < NVME_REG_DBS + 4u * (4u << c->dstrd)) {
		nvme_log("BAR0 mapping of %zu bytes does not reach the doorbells of queue 1 "
			 "(stride %u)",
			 ops->bar0_len, 4u << c->dstrd);
		ret = -EINVAL;
		goto free_ctrl;
	}
	c->info.version = rd32(c, NVME_REG_VS);
	c->info.mqes = NVME_CAP_MQES(c->cap) + 1u;
	c->info.dstrd = c->dstrd;
	c->info.timeout_ms = c->to_ms;
	c->info.page_size = c->page_size;
	c->info.irq = ops->irq_eventfd >= 0;

	c->scratch = dma_get(c, NVME_IDENTIFY_LEN, &c->scratch_iova);
	if (!c->scratch) {
		ret = errno == EFAULT ? -EFAULT : -ENOMEM;
		goto free_ctrl;
	}
	ret = queue_alloc(
	    c, &c->adminq, 0,
	    (uint16_t)(c->info.mqes < NVME_ADMIN_DEPTH ? c->info.mqes : NVME_ADMIN_DEPTH));
	if (ret)
		goto free_ctrl;
	ret = ctrl_enable(c);
	if (ret) {
		c->failed = true; /* no shutdown handshake with a controller that never came up */
		goto free_ctrl;
	}
	ret = identify_all(c);
	if (ret)
		goto free_ctrl;

	depth = o.io_queue_depth ? o.io_queue_depth : NVME_DEFAULT_DEPTH;
	if (depth > c->info.mqes)
		depth = c->info.mqes;
	c->info.io_depth = depth;

	/* Transfer size per command: MDTS (in minimum pages), the PRP list of one
	 * page without chaining, the option; whole logical blocks. */
	list_bytes = (c->page_size / 8u) * c->page_size;
	c->info.max_xfer = NVME_MAX_XFER_CAP < list_bytes ? NVME_MAX_XFER_CAP : list_bytes;
	if (c->info.mdts && c->info.mdts + 12 + mpsmin < 32) {
		mdts_bytes = 1u << (c->info.mdts + 12 + mpsmin);
		if (mdts_bytes < c->info.max_xfer)
			c->info.max_xfer = mdts_bytes;
	}
	if (o.max_xfer && o.max_xfer < c->info.max_xfer)
		c->info.max_xfer = o.max_xfer;
	c->info.max_xfer &= ~(c->info.lba_size - 1u);
	if (!c->info.max_xfer) {
		nvme_log("largest transfer is smaller than one logical block");
		ret = -EINVAL;
		goto free_ctrl;
	}

	ret = create_io_queues(c, (uint16_t)depth);
	if (ret)
		goto free_ctrl;
	ret = trackers_alloc(c);
	if (ret)
		goto free_ctrl;
	*out = c;
	return 0;

free_ctrl:
	/* close() undoes exactly what was done: queues created, controller
	 * enabled, memory allocated (it checks each). */
	dmac_nvme_ctrl_close(c);
	return ret;
}

int dmac_nvme_ctrl_info(const struct dmac_nvme_ctrl *c, struct dmac_nvme_info *out)
{
	if (!c || !out)
		return -EINVAL;
	*out = c->info;
	return 0;
}

int dmac_nvme_ctrl_stats(const struct dmac_nvme_ctrl *c, struct dmac_nvme_stats *out)
{
	if (!c || !out)
		return -EINVAL;
	*out = c->stats;
	return 0;
}

void dmac_nvme_ctrl_set_vtophys(struct dmac_nvme_ctrl *c,
				uint64_t (*vtophys)(void *ctx, const void *va, uint64_t *len),
				void *ctx)
{
	c->ops.vtophys = vtophys;
	c->ops.ctx = ctx;
}

/* ---- I/O ----------------------------------------------------------------------- */

/* IOVA of the page-aligned VA pg (or of va itself for the first entry). */
static int xlate(struct dmac_nvme_ctrl *c, const uint8_t *va, uint64_t *iova)
{
	uint64_t len = 1;

	*iova = c->ops.vtophys(c->ops.ctx, va, &len);
	if (*iova == DMAC_VTOPHYS_ERROR) {
		nvme_log("buffer address %p has no IOVA", (const void *)va);
		return -EFAULT;
	}
	return 0;
}

/*
 * Fill PRP1/PRP2 (and the tracker's list) for [buf, buf + len). Every page
 * after the first must translate to a page-aligned IOVA.
 */
static int build_prps(struct dmac_nvme_ctrl *c, struct nvme_tracker *t, const uint8_t *buf,
		      uint32_t len, struct nvme_sqe *cmd, bool *list)
{
	uintptr_t mask = c->page_size - 1u;
	uintptr_t off = (uintptr_t)buf & mask;
	const uint8_t *pg = (const uint8_t *)((uintptr_t)buf & ~mask);
	uint32_t npages = (uint32_t)((off + len + mask) >> c->page_shift);
	uint64_t iova;
	int ret;

	ret = xlate(c, buf, &cmd->prp1);
	if (ret)
		return ret;
	*list = false;
	if (npages == 1)
		return 0;
	if (npages - 1u > c->page_size / 8u)
		return -EINVAL; /* max_xfer prevents this */
	for (uint32_t i = 1; i < npages; i++) {
		ret = xlate(c, pg + (size_t)i * c->page_size, &iova);
		if (ret)
			return ret;
		if (iova & mask) {
			nvme_log("page %p translates to unaligned IOVA 0x%llx",
				 (const void *)(pg + (size_t)i * c->page_size),
				 (unsigned long long)iova);
			return -EFAULT;
		}
		if (npages == 2)
			cmd->prp2 = iova;
		else
			t->prp_list[i - 1] = iova;
	}
	if (npages > 2) {
		cmd->prp2 = t->prp_list_iova;
		*list = true;
	}
	return 0;
}

/* Reap every new completion of the I/O queue. @return how many. */
static unsigned int io_reap(struct dmac_nvme_ctrl *c)
{
	struct nvme_cqe cqe;
	unsigned int n = 0;

	while (queue_next_cqe(&c->ioq, &cqe)) {
		n++;
		if (cqe.cid >= c->nr_trk || !c->trk[cqe.cid].busy || c->trk[cqe.cid].done) {
			nvme_log("I/O completion with unexpected cid %u (sqid %u)", cqe.cid,
				 cqe.sqid);
			c->failed = true;
			continue;
		}
		c->trk[cqe.cid].done = true;
		c->trk[cqe.cid].sf = NVME_SF(cqe.status);
		c->trk[cqe.cid].dw0 = cqe.dw0;
		c->stats.commands++;
	}
	if (n)
		queue_ring_head(&c->ioq);
	return n;
}

/*
 * Consume a signalled interrupt eventfd (non-blocking): count it and rearm
 * (an INTx line is masked by VFIO when it fires). Called after a sleep on
 * the eventfd, and after a reap that found completions without sleeping
 * (the emulated controller often posts the entry before the driver waits),
 * so that the eventfd never carries a stale signal into the next wait.
 * @return 1 consumed, 0 nothing signalled, -errno of read or rearm.
 */
static int irq_consume(struct dmac_nvme_ctrl *c)
{
	uint64_t cnt;
	int ret;

	if (c->ops.irq_eventfd < 0)
		return 0;
	if (read(c->ops.irq_eventfd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	c->stats.interrupts++;
	ret = c->ops.irq_rearm ? c->ops.irq_rearm(c->ops.ctx) : 0;
	return ret ? ret : 1;
}

/*
 * Wait for new completions: poll the CQ; with an eventfd, sleep on it between
 * polls (read it, then reap). @return 0 when something was reaped,
 * -ETIMEDOUT at the deadline, -errno of poll/read/rearm.
 */
static int io_wait(struct dmac_nvme_ctrl *c, uint64_t deadline)
{
	unsigned int spins = 0;

	for (;;) {
		uint64_t now;

		if (io_reap(c)) {
			int ret = irq_consume(c);

			return ret < 0 ? ret : 0;
		}
		now = now_ms();
		if (now > deadline)
			return -ETIMEDOUT;
		if (c->ops.irq_eventfd >= 0) {
			struct pollfd pfd = {.fd = c->ops.irq_eventfd, .events = POLLIN};
			uint64_t left = deadline - now + 1;
			int r =
			    poll(&pfd, 1, left < NVME_CFS_CHECK_MS ? (int)left : NVME_CFS_CHECK_MS);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (r == 0) {
				if (rd32(c, NVME_REG_CSTS) & NVME_CSTS_CFS)
					return -EIO;
				continue;
			}
			r = irq_consume(c);
			if (r < 0)
				return r;
			if (!r)
				continue;
			if (io_reap(c))
				return 0;
			c->stats.empty_wakeups++;
		} else if (++spins > 64) {
			/* polled: spin briefly, then yield the (shared) CPU and
			 * look at the fatal status now and then */
			usleep(20);
			if (!(spins & 1023) && (rd32(c, NVME_REG_CSTS) & NVME_CSTS_CFS))
				return -EIO;
		}
	}
}

static int do_io(struct dmac_nvme_ctrl *c, uint8_t opc, uint8_t *buf, uint64_t lba, uint32_t nlb)
{
	uint64_t total, done_bytes = 0, deadline;
	uint32_t per_cmd = c ? c->info.max_xfer / c->info.lba_size : 0;
	uint32_t inflight = 0, next = 0;
	int ret = 0, first_err = 0;
	const char *what = opc == NVME_CMD_READ ? "Read" : "Write";

	if (!c || !buf || !nlb || ((uintptr_t)buf & 3u))
		return -EINVAL;
	if (lba >= c->info.nsze || nlb > c->info.nsze - lba)
		return -ERANGE;
	if (c->failed)
		return -EIO;
	total = (uint64_t)nlb * c->info.lba_size;
	if (nlb > per_cmd)
		c->stats.splits += (nlb + per_cmd - 1u) / per_cmd - 1u;

	deadline = now_ms() + c->cmd_tmo_ms;
	while (done_bytes < total || inflight) {
		/* submit as many pieces as there are free trackers and queue room */
		while (done_bytes < total && !first_err && !queue_full(&c->ioq)) {
			struct nvme_tracker *t = NULL;
			struct nvme_sqe cmd;
			uint32_t n = (uint32_t)((total - done_bytes) / c->info.lba_size);
			bool list;

			for (uint32_t i = 0; i < c->nr_trk; i++) {
				uint32_t k = (next + i) % c->nr_trk;

				if (!c->trk[k].busy) {
					t = &c->trk[k];
					next = k + 1;
					break;
				}
			}
			if (!t)
				break;
			if (n > per_cmd)
				n = per_cmd;
			memset(&cmd, 0, sizeof(cmd));
			cmd.opc = opc;
			cmd.cid = (uint16_t)(t - c->trk);
			cmd.nsid = c->info.nsid;
			ret = build_prps(c, t, buf + done_bytes, n * c->info.lba_size, &cmd, &list);
			if (ret) {
				first_err = ret;
				break;
			}
			cmd.cdw10 = (uint32_t)lba;
			cmd.cdw11 = (uint32_t)(lba >> 32);
			cmd.cdw12 = n - 1u;
			t->busy = true;
			t->done = false;
			queue_submit(&c->ioq, &cmd);
			if (list)
				c->stats.prp_lists++;
			inflight++;
			lba += n;
			done_bytes += (uint64_t)n * c->info.lba_size;
		}
		if (first_err && !inflight)
			break;
		if (!inflight)
			continue;
		ret = io_wait(c, deadline);
		if (ret) {
			uint32_t csts = rd32(c, NVME_REG_CSTS);

			nvme_log("%s: %u command(s) without completion: %s (CSTS 0x%x%s)", what,
				 inflight, strerrorname_np(-ret), csts,
				 csts & NVME_CSTS_CFS ? ": controller fatal status" : "");
			c->failed = true;
			return ret == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
		}
		deadline = now_ms() + c->cmd_tmo_ms; /* progress: restart the clock */
		for (uint32_t i = 0; i < c->nr_trk; i++) {
			struct nvme_tracker *t = &c->trk[i];

			if (!t->busy || !t->done)
				continue;
			t->busy = false;
			inflight--;
			ret = status_to_err(what, t->sf);
			if (ret && !first_err)
				first_err = ret;
		}
		if (c->failed)
			return -EIO;
	}
	return first_err;
}

int dmac_nvme_read(struct dmac_nvme_ctrl *c, void *buf, uint64_t lba, uint32_t nlb)
{
	return do_io(c, NVME_CMD_READ, buf, lba, nlb);
}

int dmac_nvme_write(struct dmac_nvme_ctrl *c, const void *buf, uint64_t lba, uint32_t nlb)
{
	return do_io(c, NVME_CMD_WRITE, (uint8_t *)(uintptr_t)buf, lba, nlb);
}
