/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Real DMA into DPDK mbufs leased through the "dmacache" mempool driver (vm
 * tier only, in the test-bed guest, run by tests/vm/vmrun):
 *
 * - the real dmacached ($DMACACHED_TEST, backend $DMAC_DPDK_TEST_BACKEND,
 *   default iommufd) with tenant "a" owning the NVMe controller
 *   ($DMAC_VM_NVME_BDF) through the config key 'devices': the daemon opens it
 *   and attaches it to the tenant's space;
 * - the DPDK application is tenant a and runs as the non-root uid
 *   DH_TENANT_UID (4001, tenant a's `uids`), in a child that dropped root for
 *   good (dh_run_tenant()); root only runs the daemon and reads its log. EAL
 *   runs non-root with --in-memory (hugetlb memfds), --no-pci and IOVA as VA;
 * - EAL on hugepages with the driver loaded by -d, a pktmbuf pool with ops
 *   "dmacache";
 * - the examples/nvme driver, polling, on BAR0 mapped from the resource0 fd
 *   of a DEVICE claim (strict mode) on the driver's own libdmacache
 *   connection (dmac_dpdk_mempool_client()): the tenant cannot open sysfs,
 *   and the daemon turns bus mastering on only for a claim; queues in a
 *   sealed memfd registered and leased over the same connection;
 * - writes a pattern from some mbufs, reads it back into OTHER mbufs with the
 *   PRPs built from their buf_iova (checked equal to dmac_vtophys() of the
 *   same bytes), and compares;
 * - negative: a read aimed at IOVAs this tenant does not hold (memory that was
 *   leased and released, still pinned in the daemon's master space; and an
 *   IOVA past every lease) lands nowhere: the target memory is unchanged,
 *   whatever status the (emulated) controller reports. A good read after it
 *   shows the controller still works, so the check is not vacuous.
 *
 * Invariants: every byte the controller may touch is leased for the whole
 * I/O; the mbufs stay allocated until the controller is closed; every wait is
 * bounded (daemon start/stop 5 s, NVMe commands by the driver's timeout).
 * Concurrency: single-threaded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dmac/dmacache.h"
#include "dpdk_harness.h"
#include "nvme.h"
#include "rte_mempool_dmacache.h"
#include "vtophys.h"

#define MB	   (UINT64_C(1) << 20)
#define DATA_LEN   4096u /* bytes of each mbuf's data area the test uses */
#define NBUF	   8u	 /* writers, and as many readers */
#define QMEM_LEN   (4 * MB)
#define VICTIM_LEN (2 * MB)

/* What this program's harness does differently (see dpdk_harness.h). */
const struct dh_config dh_cfg = {
    .prog = "test_dpdk_nvme",
    .daemon_name = "dmacached",
    .default_backend = "iommufd",
    .dir_template = "/tmp/dmac-dpdk-nvme-XXXXXX",
    .copy_name = "dmac-dpdk-nvme-XXXXXX",
    .eal_prefix = "dmacnvme",
    .daemon_log = 1,
    .always_copy = 1,
};

/* ---- the daemon ---------------------------------------------------------- */

/* Start the daemon with tenant a (the application's uid) owning device bdf;
 * its log in a file. */
static void daemon_start(const char *bdf)
{
	char body[256];

	/* release = strict: the test reads into a released buffer and expects
	 * it unreachable, which is strict's guarantee (lazy keeps the mapping
	 * while the registration lives: docs/protocol.md 6.5) */
	snprintf(body, sizeof(body), "[tenant a]\nuids = %u\ndevices = %s\nrelease = strict\n",
		 DH_TENANT_UID, bdf);
	dh_daemon_start(body);
}

/* Whether the daemon's log contains s. */
static int daemon_log_has(const char *s)
{
	static char buf[65536];
	FILE *f = fopen(dh_dmn.log, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/* ---- EAL ------------------------------------------------------------------- */

static void eal_start(void)
{
	static const char *const mem_opts[] = {"--in-memory", NULL};

	dh_eal_start(mem_opts, NULL);
}

/* ---- DMA memory for the driver's queues: a leased sealed memfd -------------- */

struct leased {
	int fd;
	uint8_t *va;
	uint64_t len, reg_id, iova;
	struct dmac_client_lease lease;
};

static int lease_memfd(struct dmac_client *c, uint64_t len, struct leased *m)
{
	int rc;

	m->len = len;
	m->fd = memfd_create("dmac-nvme-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m->fd < 0 || ftruncate(m->fd, (off_t)len) ||
	    fcntl(m->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		dh_die("memfd");
	m->va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->va == MAP_FAILED)
		dh_die("mmap memfd");
	rc = dmac_client_register(c, m->fd, 0, len, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				  m->va, &m->reg_id);
	if (rc)
		return rc;
	rc = dmac_client_lease(c, m->reg_id, 0, len, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
			       &m->lease);
	if (rc)
		return rc;
	m->iova = m->lease.iova;
	return 0;
}

static struct leased qmem;
static uint64_t qmem_used;

static void *bump_alloc(void *ctx, size_t len, size_t align)
{
	uint64_t off = (qmem_used + align - 1) & ~(uint64_t)(align - 1);

	if (off + len > qmem.len)
		return NULL;
	qmem_used = off + len;
	memset(qmem.va + off, 0, len);
	return qmem.va + off;
}

static void bump_free(void *ctx, void *va, size_t len)
{
	/* a bump allocator: the memory goes back with the memfd at exit */
}

/* ---- translation: mbuf buf_iova, checked against dmac_vtophys() ------------ */

static struct {
	struct rte_mbuf *m; /* the mbuf the next I/O uses, or NULL */
	uint64_t bad_base;  /* non-zero: translate the mbuf's data to this IOVA */
	unsigned int from_mbuf, mismatch;
} xl;

static uint64_t test_vtophys(void *ctx, const void *va, uint64_t *len)
{
	const uint8_t *p = va, *b;
	uint64_t want = len ? *len : 1, iova, l2;

	if (xl.m) {
		b = xl.m->buf_addr;
		if (p >= b && p < b + xl.m->buf_len) {
			uint64_t off = (uint64_t)(p - b), room = xl.m->buf_len - off;

			if (want == 0 || want > room)
				want = room;
			if (xl.bad_base) /* same offset in the page as the VA (PRP rule) */
				iova = xl.bad_base +
				       (uint64_t)((uintptr_t)p - ((uintptr_t)b & ~(uintptr_t)4095));
			else {
				iova = xl.m->buf_iova + off;
				l2 = want;
				if (dmac_vtophys(p, &l2) != iova || l2 < want)
					xl.mismatch++;
			}
			xl.from_mbuf++;
			if (len)
				*len = want;
			return iova;
		}
	}
	return dmac_vtophys(va, len);
}

static uint8_t pattern(unsigned int buf, unsigned int i)
{
	return (uint8_t)(0x11 * (buf + 1) + i * 7 + (i >> 8));
}

static uint8_t *data(struct rte_mbuf *m)
{
	return (uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static const char *bdf; /* $DMAC_VM_NVME_BDF */

/* The DPDK application: tenant a, as uid DH_TENANT_UID. */
static void app(void)
{
	struct rte_mbuf *wr[NBUF] = {NULL}, *rd[NBUF + 1] = {NULL};
	struct dmac_client_lease_info li[64];
	struct dmac_nvme_ctrl *ctrl = NULL;
	struct dmac_nvme_info info;
	struct dmac_nvme_ops ops;
	struct rte_mempool *mp;
	struct dmac_client_device dv;
	struct dmac_client *c;
	struct leased victim;
	uint64_t cursor = 0, max_end = 0;
	uint32_t nlb;
	size_t n;
	int rc;

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start();

	mp = rte_pktmbuf_pool_create_by_ops("nvme_pool", 255, 0, 0, RTE_PKTMBUF_HEADROOM + DATA_LEN,
					    SOCKET_ID_ANY, DMAC_DPDK_MEMPOOL_OPS);
	if (!mp) {
		fprintf(stderr, "pool: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	c = dh_plugin_client();
	CHECK(c != NULL);
	dmac_vtophys_set_client(c);
	rc = lease_memfd(c, QMEM_LEN, &qmem);
	CHECK_EQ(rc, 0);
	if (rc)
		goto out_pool;

	/* the device, claimed on the driver's connection (strict mode): BAR0
	 * from the reply's resource0 fd; bus mastering is on while we hold it */
	rc = dmac_client_device_get(c, bdf, 0, &dv);
	CHECK_EQ(rc, 0);
	if (rc)
		goto out_pool;
	CHECK(!dv.trusted && dv.device_fd == -1);
	CHECK(dv.bars[0].fd >= 0 && (dv.bars[0].flags & DMAC_CLIENT_BAR_MMAP));
	memset(&ops, 0, sizeof(ops));
	ops.bar0_len = (size_t)dv.bars[0].size;
	ops.bar0 = mmap(NULL, ops.bar0_len, PROT_READ | PROT_WRITE, MAP_SHARED, dv.bars[0].fd, 0);
	if (ops.bar0 == MAP_FAILED)
		dh_die("mmap BAR0 (the DEVICE reply's resource0 fd)");
	ops.vtophys = test_vtophys;
	ops.dma_alloc = bump_alloc;
	ops.dma_free = bump_free;
	ops.irq_eventfd = -1;
	rc = dmac_nvme_ctrl_open(&ops, NULL, &ctrl);
	CHECK_EQ(rc, 0);
	if (rc)
		goto out_bar;
	CHECK_EQ(dmac_nvme_ctrl_info(ctrl, &info), 0);
	fprintf(stderr, "nvme %s: model '%s', lba_size %u, nsze %llu\n", bdf, info.model,
		info.lba_size, (unsigned long long)info.nsze);
	CHECK(info.lba_size && DATA_LEN % info.lba_size == 0);
	nlb = DATA_LEN / info.lba_size;
	CHECK(info.nsze >= (uint64_t)(2 * NBUF + 2) * nlb);

	for (unsigned int i = 0; i < NBUF; i++) {
		wr[i] = rte_pktmbuf_alloc(mp);
		rd[i] = rte_pktmbuf_alloc(mp);
		CHECK(wr[i] && rd[i]);
		if (!wr[i] || !rd[i])
			goto out_ctrl;
	}
	rd[NBUF] = rte_pktmbuf_alloc(mp);
	CHECK(rd[NBUF] != NULL);
	if (!rd[NBUF])
		goto out_ctrl;

	/* write the pattern from the writers, at LBAs 2 * i * nlb */
	for (unsigned int i = 0; i < NBUF; i++) {
		for (unsigned int k = 0; k < DATA_LEN; k++)
			data(wr[i])[k] = pattern(i, k);
		xl.m = wr[i];
		CHECK_EQ(dmac_nvme_write(ctrl, data(wr[i]), (uint64_t)2 * i * nlb, nlb), 0);
	}
	/* read it back into the readers (other mbufs), PRPs from their buf_iova */
	for (unsigned int i = 0; i < NBUF; i++) {
		unsigned int bad = 0;

		CHECK(rd[i]->buf_iova != wr[i]->buf_iova);
		memset(data(rd[i]), 0, DATA_LEN);
		xl.m = rd[i];
		CHECK_EQ(dmac_nvme_read(ctrl, data(rd[i]), (uint64_t)2 * i * nlb, nlb), 0);
		for (unsigned int k = 0; k < DATA_LEN; k++)
			bad += data(rd[i])[k] != pattern(i, k);
		CHECK_EQ(bad, 0);
	}
	CHECK(xl.from_mbuf >= 2 * NBUF);
	CHECK_EQ(xl.mismatch, 0);
	fprintf(stderr, "%u mbufs written and read back: %u translations from buf_iova\n", NBUF,
		xl.from_mbuf);

	/*
	 * Negative 1: memory leased and released, still pinned and mapped in
	 * the daemon's master space, no longer in this tenant's space.
	 */
	rc = lease_memfd(c, VICTIM_LEN, &victim);
	CHECK_EQ(rc, 0);
	if (rc)
		goto out_ctrl;
	/*
	 * Control first: while the victim is leased, the same redirected read
	 * lands in the victim (at the data's offset from buf_addr's page), so
	 * the redirection works and only the release can stop the DMA.
	 */
	memset(victim.va, 0x5a, VICTIM_LEN);
	memset(data(rd[NBUF]), 0xa5, DATA_LEN);
	xl.m = rd[NBUF];
	xl.bad_base = victim.iova; /* buf_addr's page maps to the victim's first page */
	CHECK_EQ(dmac_nvme_read(ctrl, data(rd[NBUF]), 0, nlb), 0);
	{
		uint64_t off = (uint64_t)((uintptr_t)data(rd[NBUF]) -
					  ((uintptr_t)rd[NBUF]->buf_addr & ~(uintptr_t)4095));
		unsigned int bad = 0;

		for (unsigned int k = 0; k < DATA_LEN; k++)
			bad += victim.va[off + k] != pattern(0, k);
		CHECK_EQ(bad, 0);
		CHECK(all_bytes(data(rd[NBUF]), DATA_LEN, 0xa5));
	}
	CHECK_EQ(dmac_client_release(c, victim.lease.lease_id), 0);
	memset(victim.va, 0x5a, VICTIM_LEN);
	rc = dmac_nvme_read(ctrl, data(rd[NBUF]), 0, nlb);
	fprintf(stderr, "read at released IOVA 0x%llx: %d (the status does not matter)\n",
		(unsigned long long)victim.iova, rc);
	CHECK(rc != -EFAULT && rc != -EINVAL); /* submitted: the device did try */
	CHECK(all_bytes(victim.va, VICTIM_LEN, 0x5a));
	CHECK(all_bytes(data(rd[NBUF]), DATA_LEN, 0xa5));

	/* Negative 2: past every lease of this client (the pool's and ours). */
	do {
		rc = dmac_client_query(c, &cursor, li, 64, &n);
		CHECK_EQ(rc, 0);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++)
			if (li[i].iova + li[i].length > max_end)
				max_end = li[i].iova + li[i].length;
	} while (cursor);
	if (victim.iova + VICTIM_LEN > max_end)
		max_end = victim.iova + VICTIM_LEN;
	xl.bad_base = (max_end + 2 * MB - 1) & ~(2 * MB - 1);
	rc = dmac_nvme_read(ctrl, data(rd[NBUF]), 0, nlb);
	fprintf(stderr, "read past the leases at IOVA 0x%llx: %d\n",
		(unsigned long long)xl.bad_base, rc);
	CHECK(rc != -EFAULT && rc != -EINVAL);
	CHECK(all_bytes(data(rd[NBUF]), DATA_LEN, 0xa5));
	CHECK(all_bytes(victim.va, VICTIM_LEN, 0x5a));

	/* the controller still works: the same read with the true IOVA lands */
	xl.bad_base = 0;
	rc = dmac_nvme_read(ctrl, data(rd[NBUF]), 0, nlb);
	if (rc == -EIO) {
		/* a controller left failed by the faults is reset (close, open) */
		dmac_nvme_ctrl_close(ctrl);
		qmem_used = 0;
		ctrl = NULL;
		CHECK_EQ(dmac_nvme_ctrl_open(&ops, NULL, &ctrl), 0);
		if (ctrl)
			rc = dmac_nvme_read(ctrl, data(rd[NBUF]), 0, nlb);
	}
	CHECK_EQ(rc, 0);
	{
		unsigned int bad = 0;

		for (unsigned int k = 0; k < DATA_LEN; k++)
			bad += data(rd[NBUF])[k] != pattern(0, k);
		CHECK_EQ(bad, 0);
	}
	xl.m = NULL;
	munmap(victim.va, VICTIM_LEN);
	close(victim.fd);

out_ctrl:
	dmac_nvme_ctrl_close(ctrl);
	for (unsigned int i = 0; i < NBUF; i++) {
		rte_pktmbuf_free(wr[i]);
		rte_pktmbuf_free(rd[i]);
	}
	rte_pktmbuf_free(rd[NBUF]);
out_bar:
	munmap(ops.bar0, ops.bar0_len);
	dmac_client_device_close(&dv);
out_pool:
	dmac_vtophys_set_client(NULL);
	rte_mempool_free(mp);
	if (rte_eal_cleanup())
		fprintf(stderr, "rte_eal_cleanup failed\n");
}

int main(void)
{
	char msg[160];

	bdf = getenv("DMAC_VM_NVME_BDF");
	if (!bdf || !*bdf) {
		fprintf(stderr, "DMAC_VM_NVME_BDF is not set: run me with tests/vm/vmrun\n");
		return 1;
	}
	dh_need_hugepages(32);
	daemon_start(bdf);
	snprintf(msg, sizeof(msg), "tenant a: device %s attached to space", bdf);
	CHECK(daemon_log_has(msg));
	dh_run_tenant(app);
	dh_daemon_stop();
	fprintf(stderr, "dpdk-nvme: %s (%d failed checks)\n", dh_failures ? "FAIL" : "ok",
		dh_failures);
	return dh_failures ? 1 : 0;
}
