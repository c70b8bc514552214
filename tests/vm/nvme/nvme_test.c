/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test nvme-<backend>: the example NVMe driver (examples/nvme) against the
 * guest's emulated controller, through one backend (argv[1]: iommufd or
 * vfio), with the device as the judge of every IOVA.
 *
 * For each environment variant (BAR0 via the VFIO region or sysfs
 * resource0; completions by MSI-X eventfd, polling, or INTx eventfd):
 * - Identify: serial "dmac0" (vmrun's QEMU command line), namespace of 64 MiB
 *   (vmrun's sparse disk) in 512-byte blocks, MDTS limiting a command;
 * - data integrity: patterns of 512 B, 4 KiB, 128 KiB and 1 MiB written at
 *   the first, a middle and the last LBA of the namespace from DMA buffers
 *   and read back into other buffers; every 8-byte word names its LBA and
 *   seed, so a misplaced or stale block is caught; a final pass over three
 *   distinct LBAs; a signature written by the previous variant (another
 *   controller reset and, for vfio, another container) is read back;
 * - the counters: PRP lists used, MDTS splits made, interrupts delivered in
 *   the interrupt variants and none when polling.
 * In the first variant also: buffers at odd page offsets (PRP1 offset, PRP2
 * direct and list), a buffer mapped with dmac_nvme_env_map() outside the pool,
 * argument errors (-EINVAL, -ERANGE, -EFAULT for untranslatable memory,
 * nothing submitted), and the negative DMA check: a read whose third page is
 * given an IOVA that is not mapped must not modify that page (the IOMMU
 * blocks it), and the command must fail or the IOMMU must log a fault.
 * Finally (argv[2]) the example program runs once and must report "ok".
 *
 * Invariants: CHECK() counts, never aborts; the exit status is 0 only if at
 * least one check ran and none failed. Nothing is timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "dmac_alloc.h"
#include "env_backend.h"
#include "nvme.h"

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CHECK_RET(expr, want)                                                                      \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		CHECK(r_ == (want), "got %d (%s), want %d (%s)", r_,                               \
		      r_ ? strerrorname_np(-r_) : "0", (want),                                     \
		      (want) ? strerrorname_np(-(want)) : "0");                                    \
	} while (0)

/* Heap allocations outstanding once every deferred (call_rcu) free of the
 * translation maps has run. */
static int64_t heap_now(void)
{
	urcu_memb_barrier();
	return dmac__alloc_outstanding();
}

#define DISK_BYTES (64ull << 20) /* tests/vm/vmrun DISK_BYTES */
#define PAGE	   4096u

struct variant {
	const char *name;
	uint32_t bar, irq;
};

static const struct variant variants[] = {
    {"vfio-region+msix", DMAC_NVME_ENV_BAR_VFIO, DMAC_NVME_ENV_IRQ_MSIX},
    {"sysfs-resource0+poll", DMAC_NVME_ENV_BAR_SYSFS, DMAC_NVME_ENV_IRQ_POLL},
    {"sysfs-resource0+msix", DMAC_NVME_ENV_BAR_SYSFS, DMAC_NVME_ENV_IRQ_MSIX},
    {"vfio-region+poll", DMAC_NVME_ENV_BAR_VFIO, DMAC_NVME_ENV_IRQ_POLL},
    {"vfio-region+intx", DMAC_NVME_ENV_BAR_VFIO, DMAC_NVME_ENV_IRQ_INTX},
};

static const char *backend;
static const struct dmac_nvme_ops *ops;
static struct dmac_nvme_ctrl *ctrl;
static struct dmac_nvme_info info;

/* The word at byte offset 'off' of block 'lba' for a given seed. */
static uint64_t pattern_word(uint64_t seed, uint64_t lba, uint32_t off)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ (lba << 20) ^ off;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (x & ~0xffffffffull) | (uint32_t)lba; /* low half names the LBA */
}

static void fill(uint8_t *buf, uint64_t lba, uint32_t len, uint64_t seed)
{
	for (uint32_t off = 0; off < len; off += 8) {
		uint64_t w = pattern_word(seed, lba + off / info.lba_size, off % info.lba_size);

		memcpy(buf + off, &w, 8);
	}
}

/* Offset of the first difference from the expected pattern, or -1. */
static long verify(const uint8_t *buf, uint64_t lba, uint32_t len, uint64_t seed)
{
	for (uint32_t off = 0; off < len; off += 8) {
		uint64_t w = pattern_word(seed, lba + off / info.lba_size, off % info.lba_size), g;

		memcpy(&g, buf + off, 8);
		if (g != w)
			return (long)off;
	}
	return -1;
}

static uint8_t *dma_buf(size_t len)
{
	return ops->dma_alloc(ops->ctx, len, PAGE);
}

/*
 * Write len bytes of pattern 'seed' at lba from a DMA buffer (at page offset
 * boff), read them back into another (same offset), compare.
 */
static void round_trip(const char *tag, uint64_t lba, uint32_t len, uint32_t boff, uint64_t seed)
{
	size_t alloc = len + boff + PAGE;
	uint8_t *w = dma_buf(alloc), *r = dma_buf(alloc);
	long bad;

	CHECK(w && r, "%s: DMA pool exhausted", tag);
	if (!w || !r)
		goto out;
	fill(w + boff, lba, len, seed);
	memset(r, 0xa5, alloc);
	CHECK_RET(dmac_nvme_write(ctrl, w + boff, lba, len / info.lba_size), 0);
	CHECK_RET(dmac_nvme_read(ctrl, r + boff, lba, len / info.lba_size), 0);
	bad = verify(r + boff, lba, len, seed);
	CHECK(bad < 0, "%s: %u bytes at LBA %llu (buffer offset %u) differ at byte %ld", tag, len,
	      (unsigned long long)lba, boff, bad);
	/* the read touched nothing outside its range */
	CHECK((!boff || r[boff - 1] == 0xa5) && r[boff + len] == 0xa5,
	      "%s: read wrote outside its buffer", tag);
out:
	ops->dma_free(ops->ctx, w, alloc);
	ops->dma_free(ops->ctx, r, alloc);
}

/* Read back what an earlier write left at lba and compare. */
static void read_check(const char *tag, uint64_t lba, uint32_t len, uint64_t seed)
{
	uint8_t *r = dma_buf(len);
	long bad;

	CHECK(r != NULL, "%s: DMA pool exhausted", tag);
	if (!r)
		return;
	memset(r, 0, len);
	CHECK_RET(dmac_nvme_read(ctrl, r, lba, len / info.lba_size), 0);
	bad = verify(r, lba, len, seed);
	CHECK(bad < 0, "%s: %u bytes at LBA %llu differ at byte %ld", tag, len,
	      (unsigned long long)lba, bad);
	ops->dma_free(ops->ctx, r, len);
}

static void test_integrity(const char *vname, uint64_t seed)
{
	static const uint32_t sizes[] = {512, 4096, 128u << 10, 1u << 20};
	char tag[128];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t nlb = sizes[i] / info.lba_size;
		uint64_t lbas[3] = {0, (info.nsze / 2) & ~7ull, info.nsze - nlb};

		for (int j = 0; j < 3; j++) {
			snprintf(tag, sizeof(tag), "%s %u B @%llu", vname, sizes[i],
				 (unsigned long long)lbas[j]);
			round_trip(tag, lbas[j], sizes[i], 0, seed + i * 3 + (uint64_t)j);
		}
	}
	/* three distinct LBAs hold three distinct patterns at once */
	for (int j = 0; j < 3; j++) {
		uint8_t *w = dma_buf(PAGE);
		uint64_t lba = j == 0 ? 8 : j == 1 ? info.nsze / 2 + 8 : info.nsze - 16;

		CHECK(w != NULL, "pool");
		if (!w)
			return;
		fill(w, lba, PAGE, seed + 100 + (uint64_t)j);
		CHECK_RET(dmac_nvme_write(ctrl, w, lba, PAGE / info.lba_size), 0);
		ops->dma_free(ops->ctx, w, PAGE);
	}
	for (int j = 0; j < 3; j++) {
		uint64_t lba = j == 0 ? 8 : j == 1 ? info.nsze / 2 + 8 : info.nsze - 16;

		snprintf(tag, sizeof(tag), "%s distinct @%llu", vname, (unsigned long long)lba);
		read_check(tag, lba, PAGE, seed + 100 + (uint64_t)j);
	}
}

/* ---- first variant only ---------------------------------------------------------- */

static void test_offsets_and_extra(struct dmac_nvme_env *env)
{
	size_t xlen = 512u << 10;
	uint8_t *x;
	uint64_t xiova = 0;

	/* PRP1 with an offset: 2 pages (PRP2 direct), many pages (list) */
	round_trip("offset 2048, 4 KiB", 64, 4096, 2048, 501);
	round_trip("offset 512, 128 KiB", 128, 128u << 10, 512, 502);
	round_trip("offset 3584, 1 MiB", 4096, 1u << 20, 3584, 503);

	/* memory outside the pool, mapped separately (a second interval) */
	x = mmap(NULL, xlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
		 0);
	CHECK(x != MAP_FAILED, "mmap: %s", strerror(errno));
	if (x == MAP_FAILED)
		return;
	CHECK_RET(dmac_nvme_env_map(env, x, xlen, &xiova), 0);
	{
		uint32_t len = 256u << 10, nlb = len / info.lba_size;
		long bad;

		fill(x, 20000, len, 504);
		CHECK_RET(dmac_nvme_write(ctrl, x, 20000, nlb), 0);
		memset(x + len, 0, len);
		CHECK_RET(dmac_nvme_read(ctrl, x + len, 20000, nlb), 0);
		bad = verify(x + len, 20000, len, 504);
		CHECK(bad < 0, "extra mapping (IOVA 0x%llx): differs at %ld",
		      (unsigned long long)xiova, bad);
	}
	CHECK_RET(dmac_nvme_env_unmap(env, x, xlen), 0);
	/* now untranslatable: refused before anything is submitted */
	CHECK_RET(dmac_nvme_read(ctrl, x, 20000, 8), -EFAULT);
	munmap(x, xlen);
}

static void test_errors(void)
{
	uint8_t *b = dma_buf(2 * PAGE);
	uint8_t heap[4096] __attribute__((aligned(4096)));
	struct dmac_nvme_stats before, after;

	CHECK(b != NULL, "pool");
	if (!b)
		return;
	dmac_nvme_ctrl_stats(ctrl, &before);
	CHECK_RET(dmac_nvme_read(ctrl, b, 0, 0), -EINVAL);
	CHECK_RET(dmac_nvme_read(ctrl, b + 1, 0, 1), -EINVAL);
	CHECK_RET(dmac_nvme_read(NULL, b, 0, 1), -EINVAL);
	CHECK_RET(dmac_nvme_read(ctrl, NULL, 0, 1), -EINVAL);
	CHECK_RET(dmac_nvme_read(ctrl, b, info.nsze, 1), -ERANGE);
	CHECK_RET(dmac_nvme_read(ctrl, b, info.nsze - 1, 2), -ERANGE);
	CHECK_RET(dmac_nvme_write(ctrl, b, UINT64_MAX, 1), -ERANGE);
	CHECK_RET(dmac_nvme_read(ctrl, heap, 0, 8), -EFAULT); /* stack: not mapped */
	dmac_nvme_ctrl_stats(ctrl, &after);
	CHECK(after.commands == before.commands, "refused I/O reached the device (%llu -> %llu)",
	      (unsigned long long)before.commands, (unsigned long long)after.commands);
	/* the controller is fine afterwards */
	CHECK_RET(dmac_nvme_read(ctrl, b, info.nsze - 1, 1), 0);
	ops->dma_free(ops->ctx, b, 2 * PAGE);
}

struct liar {
	const struct dmac_nvme_ops *real;
	uintptr_t bad_page;
	uint64_t bad_iova;
	int hits;
};

/* Translate truthfully except for one page, which gets an unmapped IOVA. */
static uint64_t liar_vtophys(void *ctx, const void *va, uint64_t *len)
{
	struct liar *l = ctx;
	uintptr_t a = (uintptr_t)va;

	if ((a & ~(uintptr_t)(PAGE - 1)) == l->bad_page) {
		uint64_t off = a & (PAGE - 1);

		l->hits++;
		if (len && *len > PAGE - off)
			*len = PAGE - off;
		return l->bad_iova + off;
	}
	return l->real->vtophys(l->real->ctx, va, len);
}

/* Lines of the kernel log written since fd was positioned, matching 'what'. */
static int kmsg_count(int fd, const char *what)
{
	char rec[2048];
	int n = 0;
	ssize_t r;

	if (fd < 0)
		return 0;
	while ((r = read(fd, rec, sizeof(rec) - 1)) > 0 || (r < 0 && errno == EPIPE)) {
		if (r <= 0)
			continue;
		rec[r] = '\0';
		if (strstr(rec, what)) {
			n++;
			printf("  kernel: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
		}
	}
	return n;
}

static void test_unmapped_iova(struct dmac_nvme_env *env)
{
	const uint32_t len = 4 * PAGE;
	struct liar l = {.real = ops, .bad_iova = dmac_nvme_env_unmapped_iova(env)};
	uint8_t *r = dma_buf(len), *w = dma_buf(len);
	int kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC), ret, faults;
	size_t intact = 0;

	CHECK(r && w, "pool");
	if (!r || !w)
		goto out;
	/* known data on the disk first, so a landed transfer would be visible */
	fill(w, 300, len, 601);
	CHECK_RET(dmac_nvme_write(ctrl, w, 300, len / info.lba_size), 0);
	memset(r, 0x5a, len);
	if (kfd >= 0)
		lseek(kfd, 0, SEEK_END);
	l.bad_page = (uintptr_t)(r + 2 * PAGE);
	dmac_nvme_ctrl_set_vtophys(ctrl, liar_vtophys, &l);
	ret = dmac_nvme_read(ctrl, r, 300, len / info.lba_size);
	dmac_nvme_ctrl_set_vtophys(ctrl, ops->vtophys, ops->ctx);
	/* the kernel logs the fault from its DMAR interrupt, after the command
	 * may already have completed: look for a bounded while */
	faults = kmsg_count(kfd, "DMAR");
	for (int i = 0; i < 500 && !faults && kfd >= 0; i++) {
		usleep(10000);
		faults = kmsg_count(kfd, "DMAR");
	}
	for (size_t i = 0; i < PAGE; i++)
		intact += r[2 * PAGE + i] == 0x5a;
	printf("  read with page 2 at unmapped IOVA 0x%llx: %s, %d DMAR log line(s), "
	       "page 2 intact %zu/%u bytes\n",
	       (unsigned long long)l.bad_iova, ret ? strerrorname_np(-ret) : "success", faults,
	       intact, PAGE);
	CHECK(l.hits == 1, "the lying translation was used %d times", l.hits);
	CHECK(intact == PAGE, "the device wrote %zu bytes of the page behind the unmapped IOVA",
	      PAGE - intact);
	CHECK(ret != -ETIMEDOUT, "the faulted command never completed");
	CHECK(ret != 0 || faults > 0, "neither an error status nor an IOMMU fault");
	/* the controller keeps working */
	round_trip("after the fault", 300, len, 0, 602);
out:
	if (kfd >= 0)
		close(kfd);
	ops->dma_free(ops->ctx, r, len);
	ops->dma_free(ops->ctx, w, len);
}

/* ---- open/close unwinding, a tiny queue, the timeout path ---------------------- */

/* ops wrapper: counts outstanding DMA allocations, fails the Nth one */
struct counting {
	const struct dmac_nvme_ops *real;
	long outstanding, calls, fail_at;
	int lie; /* 1: every translation misses */
};

static void *cnt_alloc(void *ctx, size_t len, size_t align)
{
	struct counting *k = ctx;
	void *p;

	if (++k->calls == k->fail_at)
		return NULL;
	p = k->real->dma_alloc(k->real->ctx, len, align);
	k->outstanding += p != NULL;
	return p;
}

static void cnt_free(void *ctx, void *va, size_t len)
{
	struct counting *k = ctx;

	if (!va)
		return;
	k->outstanding--;
	k->real->dma_free(k->real->ctx, va, len);
}

static uint64_t cnt_vtophys(void *ctx, const void *va, uint64_t *len)
{
	struct counting *k = ctx;

	if (k->lie)
		return DMAC_VTOPHYS_ERROR;
	return k->real->vtophys(k->real->ctx, va, len);
}

static struct dmac_nvme_ops counting_ops(struct counting *k)
{
	struct dmac_nvme_ops o = *k->real;

	o.ctx = k;
	o.dma_alloc = cnt_alloc;
	o.dma_free = cnt_free;
	o.vtophys = cnt_vtophys;
	return o;
}

static void test_open_unwind(void)
{
	struct counting k = {.real = ops};
	struct dmac_nvme_ops o = counting_ops(&k), bad;
	struct dmac_nvme_opts opts = {0};
	struct dmac_nvme_ctrl *c = NULL;
	int64_t heap0 = heap_now();
	long n, dma_allocs = 0;
	int ret;

	/* arguments refused before touching the device */
	bad = o;
	bad.vtophys = NULL;
	CHECK_RET(dmac_nvme_ctrl_open(&bad, NULL, &c), -EINVAL);
	bad = o;
	bad.bar0_len = 0x1000;
	CHECK_RET(dmac_nvme_ctrl_open(&bad, NULL, &c), -EINVAL);
	opts.io_queue_depth = 1;
	CHECK_RET(dmac_nvme_ctrl_open(&o, &opts, &c), -EINVAL);
	CHECK_RET(dmac_nvme_ctrl_open(&o, NULL, NULL), -EINVAL);

	/* queue memory that does not translate */
	k.lie = 1;
	CHECK_RET(dmac_nvme_ctrl_open(&o, NULL, &c), -EFAULT);
	CHECK(k.outstanding == 0, "%ld DMA allocations leaked after -EFAULT", k.outstanding);
	k.lie = 0;

	/* fail the Nth DMA allocation for every N until none fails */
	opts.io_queue_depth = 8; /* 7 trackers: fewer reopen cycles */
	for (n = 1;; n++) {
		k.calls = 0;
		k.fail_at = n;
		ret = dmac_nvme_ctrl_open(&o, &opts, &c);
		if (!ret)
			break;
		CHECK_RET(ret, -ENOMEM);
		CHECK(k.outstanding == 0, "DMA fault %ld: %ld allocations leaked", n,
		      k.outstanding);
		if (ret != -ENOMEM || n > 100)
			break;
	}
	dma_allocs = k.calls;
	CHECK(ret == 0 && n > 5, "open succeeded at DMA allocation %ld (ret %d)", n, ret);
	if (!ret) {
		CHECK_RET(dmac_nvme_read(c, ops->dma_alloc(ops->ctx, 4096, 4096), 0, 1), 0);
		dmac_nvme_ctrl_close(c);
	}
	CHECK(k.outstanding == 0, "%ld DMA allocations leaked after close", k.outstanding);
	k.fail_at = 0;

	/* fail the Nth heap allocation for every N until none fails */
	for (n = 1;; n++) {
		dmac__fault_alloc_arm((uint64_t)n);
		ret = dmac_nvme_ctrl_open(&o, &opts, &c);
		dmac__fault_alloc_arm(0);
		if (!ret)
			break;
		CHECK_RET(ret, -ENOMEM);
		CHECK(heap_now() == heap0 && k.outstanding == 0,
		      "heap fault %ld: %lld heap, %ld DMA allocations leaked", n,
		      (long long)(heap_now() - heap0), k.outstanding);
		if (ret != -ENOMEM || n > 20)
			break;
	}
	CHECK(ret == 0 && n > 1, "open succeeded at heap allocation %ld (ret %d)", n, ret);
	if (!ret)
		dmac_nvme_ctrl_close(c);
	CHECK(heap_now() == heap0 && k.outstanding == 0, "leaks after close: %lld heap, %ld DMA",
	      (long long)(heap_now() - heap0), k.outstanding);
	printf("  open unwinding: %ld DMA allocations, %ld heap allocations per open, "
	       "each failure undone\n",
	       dma_allocs, n - 1);
}

/* A 4-entry I/O queue and 4 KiB commands: 256 commands per MiB wrap the
 * queues (phase flips) dozens of times and reuse every tracker. */
static void test_small_queue(void)
{
	struct dmac_nvme_opts opts = {.io_queue_depth = 4, .max_xfer = 4096};
	struct dmac_nvme_stats st;
	struct dmac_nvme_ctrl *saved = ctrl;
	int ret = dmac_nvme_ctrl_open(ops, &opts, &ctrl);

	CHECK_RET(ret, 0);
	if (ret) {
		ctrl = saved;
		return;
	}
	dmac_nvme_ctrl_info(ctrl, &info);
	CHECK(info.io_depth == 4 && info.max_xfer == 4096, "depth %u max_xfer %u", info.io_depth,
	      info.max_xfer);
	round_trip("depth 4, 1 MiB at offset 1024", 50000, 1u << 20, 1024, 801);
	dmac_nvme_ctrl_stats(ctrl, &st);
	CHECK(st.commands == 512 && st.splits == 2 * 255 && st.prp_lists == 0,
	      "commands %llu splits %llu lists %llu", (unsigned long long)st.commands,
	      (unsigned long long)st.splits, (unsigned long long)st.prp_lists);
	dmac_nvme_ctrl_close(ctrl);
	ctrl = saved;
}

/* With the device's DMA blocked, a command never completes: -ETIMEDOUT, then
 * the controller refuses I/O (-EIO) until it is closed. */
static void test_timeout(struct dmac_nvme_env *env)
{
	struct dmac_nvme_opts opts = {.timeout_ms = 5000};
	struct dmac_nvme_ctrl *c = NULL;
	uint8_t *b = dma_buf(PAGE);
	int ret = dmac_nvme_ctrl_open(ops, &opts, &c);

	CHECK_RET(ret, 0);
	CHECK(b != NULL, "pool");
	if (ret || !b)
		goto out;
	CHECK_RET(dmac_nvme_read(c, b, 0, 1), 0);
	CHECK_RET(dmac_nvme_env_block_dma(env), 0);
	/* QEMU's controller raises CSTS.CFS when it cannot fetch the command:
	 * the driver notices (-EIO) before the timeout (-ETIMEDOUT) */
	ret = dmac_nvme_read(c, b, 0, 1);
	printf("  read with DMA blocked: %s\n", strerrorname_np(-ret));
	CHECK(ret == -ETIMEDOUT || ret == -EIO, "got %d", ret);
	CHECK_RET(dmac_nvme_read(c, b, 0, 1), -EIO);
	CHECK_RET(dmac_nvme_write(c, b, 0, 1), -EIO);
out:
	dmac_nvme_ctrl_close(c); /* bounded: no admin command on a failed controller */
	ops->dma_free(ops->ctx, b, PAGE);
}

/* ---- variants --------------------------------------------------------------------- */

#define SIG_LBA 40000u

static void run_variant(size_t vi)
{
	const struct variant *v = &variants[vi];
	struct dmac_nvme_env_cfg cfg = {
	    .bdf = getenv("DMAC_VM_NVME_BDF"), .backend = backend, .bar = v->bar, .irq = v->irq};
	struct dmac_nvme_env *env = NULL;
	struct dmac_nvme_env_info ei;
	struct dmac_nvme_stats st;
	uint8_t *sig;
	int ret;

	printf("variant %s\n", v->name);
	ret = dmac_nvme_env_open(&cfg, &env);
	CHECK_RET(ret, 0);
	if (ret)
		return;
	dmac_nvme_env_info(env, &ei);
	CHECK(!strcmp(ei.backend, backend), "backend %s", ei.backend);
	CHECK(
	    !strcmp(ei.bar, v->bar == DMAC_NVME_ENV_BAR_SYSFS ? "sysfs-resource0" : "vfio-region"),
	    "bar via %s", ei.bar);
	CHECK(!strcmp(ei.irq, v->irq == DMAC_NVME_ENV_IRQ_MSIX	 ? "msix"
			      : v->irq == DMAC_NVME_ENV_IRQ_INTX ? "intx"
								 : "poll"),
	      "irq %s", ei.irq);
	CHECK(ei.bar_len >= 0x2000 && ei.bar_len <= ei.bar_size, "BAR0 mapped %zu of %llu",
	      ei.bar_len, (unsigned long long)ei.bar_size);
	ops = dmac_nvme_env_ops(env);
	if (v->irq == DMAC_NVME_ENV_IRQ_MSIX)
		CHECK(ops->irq_eventfd >= 0 && ops->irq_vector == 1 && ei.msix_count >= 2,
		      "msix: fd %d vector %u of %u", ops->irq_eventfd, ops->irq_vector,
		      ei.msix_count);

	ret = dmac_nvme_ctrl_open(ops, NULL, &ctrl);
	CHECK_RET(ret, 0);
	if (ret)
		goto close_env;
	dmac_nvme_ctrl_info(ctrl, &info);
	printf("  %s: '%s' serial '%s' fw '%s', MQES+1 %u DSTRD %u TO %u ms, MDTS %u -> %u B, "
	       "ns %u: %llu x %u B, depth %u, %s\n",
	       ei.backend, info.model, info.serial, info.firmware, info.mqes, info.dstrd,
	       info.timeout_ms, info.mdts, info.max_xfer, info.nsid, (unsigned long long)info.nsze,
	       info.lba_size, info.io_depth, info.irq ? "interrupts" : "polled");
	CHECK(!strcmp(info.serial, "dmac0"), "serial '%s'", info.serial);
	CHECK(info.nsze * info.lba_size == DISK_BYTES, "namespace %llu x %u bytes",
	      (unsigned long long)info.nsze, info.lba_size);
	CHECK(info.lba_size == 512, "LBA size %u", info.lba_size);
	CHECK(info.mdts > 0 && info.max_xfer < (1u << 20),
	      "MDTS %u (max_xfer %u) should split a 1 MiB I/O", info.mdts, info.max_xfer);
	CHECK(info.irq == (v->irq != DMAC_NVME_ENV_IRQ_POLL), "irq %d", info.irq);

	/* what the previous variant left behind survives a controller reset */
	sig = dma_buf(PAGE);
	CHECK(sig != NULL, "pool");
	if (vi > 0 && sig) {
		memset(sig, 0, PAGE);
		CHECK_RET(dmac_nvme_read(ctrl, sig, SIG_LBA, PAGE / info.lba_size), 0);
		CHECK(verify(sig, SIG_LBA, PAGE, 700 + vi - 1) < 0,
		      "signature of variant %s not read back", variants[vi - 1].name);
	}

	test_integrity(v->name, 1000 * (vi + 1));
	if (vi == 0) {
		test_offsets_and_extra(env);
		test_errors();
		test_unmapped_iova(env);
	}
	if (sig) {
		fill(sig, SIG_LBA, PAGE, 700 + vi);
		CHECK_RET(dmac_nvme_write(ctrl, sig, SIG_LBA, PAGE / info.lba_size), 0);
		ops->dma_free(ops->ctx, sig, PAGE);
	}

	dmac_nvme_ctrl_stats(ctrl, &st);
	printf("  stats: %llu commands, %llu PRP lists, %llu MDTS splits, %llu interrupts "
	       "(%llu empty)\n",
	       (unsigned long long)st.commands, (unsigned long long)st.prp_lists,
	       (unsigned long long)st.splits, (unsigned long long)st.interrupts,
	       (unsigned long long)st.empty_wakeups);
	CHECK(st.prp_lists > 0, "no command used a PRP list");
	CHECK(st.splits > 0, "no I/O was split by MDTS");
	if (v->irq == DMAC_NVME_ENV_IRQ_POLL)
		CHECK(st.interrupts == 0, "%llu interrupts while polling",
		      (unsigned long long)st.interrupts);
	else
		CHECK(st.interrupts > 0, "no interrupt was delivered");
	dmac_nvme_ctrl_close(ctrl);
	ctrl = NULL;
	if (vi == 0) {
		test_open_unwind();
		test_small_queue();
	}
	if (vi == sizeof(variants) / sizeof(variants[0]) - 1)
		test_timeout(env);
close_env:
	dmac_nvme_env_close(env);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Environment errors, the interrupt fallback, and open unwinding under heap
 * allocation faults (every N until none fails; no fd, pin or byte left). */
static void test_env(void)
{
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	struct dmac_nvme_env_cfg cfg = {.bdf = bdf, .backend = backend};
	struct dmac_nvme_env *env = NULL;
	struct dmac_nvme_env_info ei;
	int64_t heap0;
	int fds0, ret, n;

	printf("environment\n");
	cfg.bdf = NULL;
	CHECK_RET(dmac_nvme_env_open(&cfg, &env), -EINVAL);
	cfg.bdf = "0000:00:1f.7x";
	CHECK_RET(dmac_nvme_env_open(&cfg, &env), -EINVAL);
	cfg.bdf = "0000:00:1f.7"; /* well formed, no such device */
	CHECK_RET(dmac_nvme_env_open(&cfg, &env), -ENODEV);
	cfg.bdf = bdf;
	cfg.backend = "bogus";
	CHECK_RET(dmac_nvme_env_open(&cfg, &env), -EINVAL);
	cfg.backend = backend;
	cfg.irq = 99;
	CHECK_RET(dmac_nvme_env_open(&cfg, &env), -EINVAL);
	/* QEMU's NVMe has MSI-X and INTx, no MSI capability */
	cfg.irq = DMAC_NVME_ENV_IRQ_MSI;
	CHECK_RET(dmac_nvme_env_open(&cfg, &env), -EOPNOTSUPP);
	/* AUTO takes MSI-X, with 2 vectors; the anonymous-memory pool works */
	cfg.irq = DMAC_NVME_ENV_IRQ_AUTO;
	cfg.anon = 1;
	fds0 = count_fds();
	heap0 = heap_now();
	ret = dmac_nvme_env_open(&cfg, &env);
	CHECK_RET(ret, 0);
	if (!ret) {
		dmac_nvme_env_info(env, &ei);
		CHECK(!strcmp(ei.irq, "msix") && !ei.pool_huge, "irq %s huge %d", ei.irq,
		      ei.pool_huge);
		ops = dmac_nvme_env_ops(env);
		ret = dmac_nvme_ctrl_open(ops, NULL, &ctrl);
		CHECK_RET(ret, 0);
		if (!ret) {
			dmac_nvme_ctrl_info(ctrl, &info);
			round_trip("anonymous pool, 1 MiB", 60000, 1u << 20, 0, 901);
			dmac_nvme_ctrl_close(ctrl);
			ctrl = NULL;
		}
		dmac_nvme_env_close(env);
	}
	CHECK(count_fds() == fds0 && heap_now() == heap0,
	      "after close: %d fds (was %d), %lld heap allocations left", count_fds(), fds0,
	      (long long)(heap_now() - heap0));

	cfg.anon = 0;
	for (n = 1;; n++) {
		env = NULL;
		dmac__fault_alloc_arm((uint64_t)n);
		ret = dmac_nvme_env_open(&cfg, &env);
		dmac__fault_alloc_arm(0);
		if (!ret)
			break;
		CHECK_RET(ret, -ENOMEM);
		CHECK(count_fds() == fds0 && heap_now() == heap0,
		      "heap fault %d: %d fds (was %d), %lld heap allocations left", n, count_fds(),
		      fds0, (long long)(heap_now() - heap0));
		if (ret != -ENOMEM || n > 200)
			break;
	}
	CHECK(ret == 0 && n > 1, "env open succeeded at heap allocation %d (ret %d)", n, ret);
	if (!ret)
		dmac_nvme_env_close(env);
	CHECK(count_fds() == fds0 && heap_now() == heap0,
	      "after the fault loop: %d fds (was %d), %lld heap allocations left", count_fds(),
	      fds0, (long long)(heap_now() - heap0));
	printf("  env open: %d heap allocations, each failure undone\n", n - 1);
}

/* Run the example program once; it must succeed and say so. */
static void run_example(const char *path)
{
	char out[8192];
	size_t got = 0;
	int pfd[2], status = -1;
	pid_t pid;

	printf("example %s --backend %s\n", path, backend);
	CHECK(pipe(pfd) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(path, path, "--backend", backend, "--lba", "8192", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (ssize_t r; (r = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0;)
		got += (size_t)r;
	out[got] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	fputs(out, stdout);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "example exit status 0x%x", status);
	CHECK(strstr(out, "serial 'dmac0'"), "example did not identify");
	CHECK(strstr(out, "1048576 bytes at LBA 8192: written and read back, data matches"),
	      "example 1 MiB round trip");
	CHECK(got >= 3 && !strcmp(out + got - 3, "ok\n"), "example did not end with ok");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || argc > 3 || (strcmp(argv[1], "iommufd") && strcmp(argv[1], "vfio"))) {
		fprintf(stderr, "usage: %s iommufd|vfio [EXAMPLE]\n", argv[0]);
		return 2;
	}
	backend = argv[1];
	CHECK(getenv("DMAC_VM_NVME_BDF") && *getenv("DMAC_VM_NVME_BDF"), "DMAC_VM_NVME_BDF unset");
	if (!getenv("DMAC_VM_NVME_BDF"))
		return 1;
	test_env();
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		run_variant(i);
	if (argc == 3)
		run_example(argv[2]);
	printf("nvme-%s: %d checks, %d failed\n", backend, checks, failures);
	return failures || !checks ? 1 : 0;
}
