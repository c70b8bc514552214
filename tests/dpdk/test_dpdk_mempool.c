/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "dmacache" DPDK mempool driver against a real dmacached-test daemon and
 * a real EAL on real hugepages: `test_dpdk_mempool <case>`, one case per
 * process (EAL initializes once per process).
 *
 * The daemon is $DMACACHED_TEST with "backend = $DMAC_DPDK_TEST_BACKEND" (default
 * "test"); the vm tier runs the real dmacached with backend iommufd or vfio.
 *
 * Who runs what: this program is root to start and stop the daemon, reserve
 * hugepages and copy the plugin; each case's DPDK application (EAL, the
 * driver, the checks) is a tenant and runs as the non-root uid DH_TENANT_UID
 * (4001, listed in the tenants' `uids`), in a child that dropped root for
 * good (dh_run_tenant()). EAL 22.11 runs non-root here because every case
 * uses --in-memory (hugetlb memfds: no hugetlbfs file to create, no
 * privilege, only free hugepages) or --no-huge, with --no-pci and IOVA as
 * VA (no physical addresses needed), and its runtime directory under a
 * private $XDG_RUNTIME_DIR.
 *
 * Invariants:
 * - The driver is loaded only through EAL's `-d $DMAC_DPDK_PLUGIN`; the test
 *   does not link it and reaches its public functions with dlopen(RTLD_NOLOAD).
 * - Every daemon started here runs in a fresh mkdtemp() directory, is stopped
 *   with SIGTERM and must exit with status 0; every wait is bounded (5 s).
 * - EAL's log goes to a memory stream, so the cases can check what the driver
 *   told the user; the whole log is copied to stderr at exit.
 * - Expected values come from libdmacache (translate, QUERY, STATS) on the
 *   driver's own connection, never from the driver's state.
 * Concurrency: single-threaded.
 */
#include <dlfcn.h>
#include <errno.h>
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
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_mempool.h>

#include "dmac/dmacache.h"
#include "dpdk_harness.h"
#include "rte_mempool_dmacache.h"

/* What this program's harness does differently (see dpdk_harness.h). */
const struct dh_config dh_cfg = {
    .prog = "test_dpdk_mempool",
    .daemon_name = "dmacached-test",
    .default_backend = "test",
    .dir_template = "/tmp/dmac-dpdk-XXXXXX",
    .copy_name = "dmac-dpdk-XXXXXX",
    .eal_prefix = "dmacdpdk",
    .reserve_hugepages = 1,
};

/* Two tenants, a and b, for the application's uid; extra text appended. */
static const char *tenants(const char *extra)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "[tenant a]\nuids = %u\n[tenant b]\nuids = %u\n%s",
		 DH_TENANT_UID, DH_TENANT_UID, extra ? extra : "");
	return buf;
}

/* ---- EAL ------------------------------------------------------------------- */

static char *log_buf;
static size_t log_len;
static FILE *log_f;

/* Whether the EAL log so far contains s. */
static int log_has(const char *s)
{
	fflush(log_f);
	return log_buf && strstr(log_buf, s) != NULL;
}

static void log_dump(void)
{
	if (!log_f)
		return;
	fflush(log_f);
	fprintf(stderr, "---- EAL log ----\n%s---- end of EAL log ----\n", log_buf ? log_buf : "");
}

/* Start EAL with the plugin and the given memory options (NULL-terminated). */
static void eal_start(const char *const *mem_opts)
{
	log_f = open_memstream(&log_buf, &log_len);
	if (!log_f || rte_openlog_stream(log_f))
		dh_die("log stream");
	dh_eal_start(mem_opts, log_dump);
}

static int ops_registered(void)
{
	unsigned int i;

	for (i = 0; i < rte_mempool_ops_table.num_ops; i++)
		if (!strcmp(rte_mempool_ops_table.ops[i].name, DMAC_DPDK_MEMPOOL_OPS))
			return 1;
	return 0;
}

/* ---- checks on a pool ------------------------------------------------------ */

struct iter_ctx {
	struct dmac_client *c;
	unsigned int n, bad_iova, bad_len, dpdk_iova;
};

static void check_mbuf(struct rte_mempool *mp, void *arg, void *obj, unsigned int idx)
{
	struct iter_ctx *x = arg;
	struct rte_mbuf *m = obj;
	size_t len = m->buf_len;
	uint64_t iova = dmac_client_translate(x->c, m->buf_addr, &len);

	x->n++;
	if (iova == DMAC_CLIENT_IOVA_ERROR || m->buf_iova != iova)
		x->bad_iova++;
	if (len != m->buf_len)
		x->bad_len++;
	/* --iova-mode=va: DPDK's IOVA would be the VA itself. */
	if (m->buf_iova == (uint64_t)(uintptr_t)m->buf_addr ||
	    m->buf_iova == rte_mem_virt2iova(m->buf_addr))
		x->dpdk_iova++;
	/* The object's own IOVA (mempool header) agrees as well. */
	if (rte_mempool_virt2iova(obj) != dmac_client_translate(x->c, obj, NULL))
		x->bad_iova++;
}

struct chunk_ctx {
	uintptr_t start[64], end[64];
	unsigned int n;
};

static void note_chunk(struct rte_mempool *mp, void *arg, struct rte_mempool_memhdr *h,
		       unsigned int idx)
{
	struct chunk_ctx *x = arg;

	if (x->n < 64) {
		x->start[x->n] = (uintptr_t)h->addr;
		x->end[x->n] = (uintptr_t)h->addr + h->len;
	}
	x->n++;
}

/* Leases of the session (QUERY, all pages); checks each lies in a chunk. */
static size_t count_leases(struct dmac_client *c, const struct chunk_ctx *ch, unsigned int *outside)
{
	struct dmac_client_lease_info li[64];
	uint64_t cursor = 0;
	size_t total = 0, n, i;
	unsigned int k;

	do {
		int rc = dmac_client_query(c, &cursor, li, 64, &n);

		CHECK_EQ(rc, 0);
		if (rc)
			return total;
		for (i = 0; i < n; i++) {
			uintptr_t va = (uintptr_t)li[i].va;
			int in = 0;

			for (k = 0; ch && k < ch->n && k < 64; k++)
				if (va >= ch->start[k] && va + li[i].length <= ch->end[k])
					in = 1;
			if (ch && !in && outside)
				(*outside)++;
		}
		total += n;
	} while (cursor);
	return total;
}

static struct rte_mempool *make_pool(const char *name, unsigned int n)
{
	return rte_pktmbuf_pool_create_by_ops(name, n, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					      SOCKET_ID_ANY, DMAC_DPDK_MEMPOOL_OPS);
}

/* Create, check every mbuf, get/put, free, check the daemon let go. */
static void full_pool_check(unsigned int n, int expect_one_piece_per_chunk)
{
	struct iter_ctx it = {0};
	struct chunk_ctx ch = {0};
	struct dmac_client_stats st;
	struct rte_mbuf **mb;
	struct rte_mempool *mp;
	struct dmac_client *c;
	unsigned int outside = 0, i, got;
	size_t leases;

	CHECK(ops_registered());
	mp = make_pool("dmac_pool", n);
	if (!mp) {
		fprintf(stderr, "pool creation failed: %s\n", rte_strerror(rte_errno));
		dh_failures++;
		return;
	}
	c = dh_plugin_client();
	CHECK(c != NULL);
	it.c = c;
	CHECK_EQ(rte_mempool_obj_iter(mp, check_mbuf, &it), n);
	CHECK_EQ(it.n, n);
	CHECK_EQ(it.bad_iova, 0);
	CHECK_EQ(it.bad_len, 0);
	CHECK_EQ(it.dpdk_iova, 0);

	rte_mempool_mem_iter(mp, note_chunk, &ch);
	CHECK(ch.n >= 1);
	leases = count_leases(c, &ch, &outside);
	CHECK(leases >= ch.n);
	CHECK_EQ(outside, 0);
	if (expect_one_piece_per_chunk)
		CHECK_EQ(leases, ch.n);
	CHECK_EQ(dmac_client_stats(c, &st), 0);
	CHECK_EQ(st.leases, leases);
	CHECK_EQ(st.registrations, leases);
	fprintf(stderr, "pool of %u mbufs: %u chunks, %zu leases\n", n, ch.n, leases);

	/* get/put: every mbuf once, then none left, then all back */
	mb = calloc(n + 1, sizeof(*mb));
	if (!mb)
		dh_die("calloc");
	for (got = 0; got < n + 1; got++) {
		mb[got] = rte_pktmbuf_alloc(mp);
		if (!mb[got])
			break;
		/* an mbuf from the pool carries its leased IOVA */
		if (mb[got]->buf_iova != dmac_client_translate(c, mb[got]->buf_addr, NULL))
			it.bad_iova++;
	}
	CHECK_EQ(got, n);
	CHECK_EQ(it.bad_iova, 0);
	CHECK_EQ(rte_mempool_avail_count(mp), 0);
	/* as DPDK's ring driver: the dequeue error of an empty ring */
	CHECK_EQ(rte_mempool_get_bulk(mp, (void **)&mb[n], 1), -ENOBUFS);
	for (i = 0; i < got; i++)
		rte_pktmbuf_free(mb[i]);
	CHECK_EQ(rte_mempool_avail_count(mp), n);
	CHECK_EQ(rte_mempool_get_bulk(mp, (void **)mb, 16), 0);
	CHECK_EQ(rte_mempool_in_use_count(mp), 16);
	rte_mempool_put_bulk(mp, (void **)mb, 16);
	CHECK_EQ(rte_mempool_in_use_count(mp), 0);
	free(mb);

	/* freeing the pool releases its leases and registrations */
	rte_mempool_free(mp);
	CHECK_EQ(count_leases(c, NULL, NULL), 0);
	CHECK_EQ(dmac_client_stats(c, &st), 0);
	CHECK_EQ(st.leases, 0);
	CHECK_EQ(st.registrations, 0);

	/* the same memory can be pooled and leased again */
	mp = make_pool("dmac_pool2", n);
	CHECK(mp != NULL);
	if (mp) {
		memset(&it, 0, sizeof(it));
		it.c = c;
		CHECK_EQ(rte_mempool_obj_iter(mp, check_mbuf, &it), n);
		CHECK_EQ(it.bad_iova, 0);
		rte_mempool_free(mp);
	}
	CHECK_EQ(count_leases(c, NULL, NULL), 0);
}

/* ---- cases ----------------------------------------------------------------- */

static const char *const in_memory[] = {"--in-memory", NULL};

static void case_pool(void)
{
	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(in_memory);
	full_pool_check(8191, 0);
}

static void case_pool_sfs(void)
{
	static const char *const opts[] = {"--in-memory", "--single-file-segments", NULL};

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(opts);
	full_pool_check(8191, 1);
}

/* Config struct over the environment; one tenant per process. */
static void case_config(void)
{
	struct dmac_dpdk_mempool_config cfg, other;
	struct rte_mempool *mp, *mp2;
	struct iter_ctx it = {0};
	struct dmac_client_info info;

	setenv(DMAC_DPDK_ENV_SOCKET, "/nonexistent/dmacached.sock", 1);
	unsetenv(DMAC_DPDK_ENV_TENANT);
	eal_start(in_memory);
	cfg = (struct dmac_dpdk_mempool_config){.socket_path = dh_dmn.sock, .tenant = "b"};

	mp = rte_mempool_create_empty("dmac_cfg", 1023, sizeof(struct rte_mbuf) + 2048, 0,
				      sizeof(struct rte_pktmbuf_pool_private), SOCKET_ID_ANY, 0);
	CHECK(mp != NULL);
	if (!mp)
		return;
	CHECK_EQ(rte_mempool_set_ops_byname(mp, DMAC_DPDK_MEMPOOL_OPS, &cfg), 0);
	rte_pktmbuf_pool_init(mp, NULL);
	CHECK_EQ(rte_mempool_populate_default(mp), 1023);
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	CHECK(dh_plugin_client() != NULL);
	CHECK_EQ(dmac_client_info(dh_plugin_client(), &info), 0);
	CHECK(!strcmp(info.tenant, "b"));
	it.c = dh_plugin_client();
	CHECK_EQ(rte_mempool_obj_iter(mp, check_mbuf, &it), 1023);
	CHECK_EQ(it.bad_iova, 0);
	CHECK_EQ(it.dpdk_iova, 0);

	/* another tenant in the same process is refused, with the reason */
	other = (struct dmac_dpdk_mempool_config){.socket_path = dh_dmn.sock, .tenant = "a"};
	mp2 = rte_mempool_create_empty("dmac_cfg2", 63, 2048, 0, 0, SOCKET_ID_ANY, 0);
	CHECK(mp2 != NULL);
	if (mp2) {
		CHECK_EQ(rte_mempool_set_ops_byname(mp2, DMAC_DPDK_MEMPOOL_OPS, &other), 0);
		CHECK_EQ(rte_mempool_populate_default(mp2), -EINVAL);
		CHECK(log_has("one tenant per process"));
		rte_mempool_free(mp2);
	}
	rte_mempool_free(mp);
	CHECK_EQ(count_leases(dh_plugin_client(), NULL, NULL), 0);
}

/* No daemon at the socket: a clear error naming DMACACHE_SOCKET. */
static void case_no_daemon(void)
{
	char dir[] = "/tmp/dmac-dpdk-nd-XXXXXX", sock[64];

	if (!mkdtemp(dir))
		dh_die("mkdtemp");
	snprintf(sock, sizeof(sock), "%s/none.sock", dir);
	setenv(DMAC_DPDK_ENV_SOCKET, sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(in_memory);
	CHECK(ops_registered());
	CHECK(make_pool("dmac_nd", 511) == NULL);
	CHECK_EQ(rte_errno, ENOENT);
	CHECK(log_has("cannot reach dmacached at"));
	CHECK(log_has(sock));
	CHECK(log_has("DMACACHE_SOCKET"));
	CHECK(dh_plugin_client() == NULL);
	CHECK(rte_mempool_lookup("dmac_nd") == NULL);
	rmdir(dir);
}

/* No tenant anywhere: a clear error naming DMACACHE_TENANT. */
static void case_no_tenant(void)
{
	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	unsetenv(DMAC_DPDK_ENV_TENANT);
	eal_start(in_memory);
	CHECK(make_pool("dmac_nt", 511) == NULL);
	CHECK_EQ(rte_errno, EINVAL);
	CHECK(log_has("no tenant: set DMACACHE_TENANT"));
	/* a tenant the daemon does not know */
	setenv(DMAC_DPDK_ENV_TENANT, "nosuch", 1);
	CHECK(make_pool("dmac_nt2", 511) == NULL);
	CHECK(rte_errno == ENOENT || rte_errno == EPERM);
	CHECK(log_has("refused tenant 'nosuch'"));
	CHECK(dh_plugin_client() == NULL);
}

/* Memory that is no hugepage (--no-huge: DPDK 22.11 backs it with an unsealed
 * memfd): refused before the daemon is asked. */
static void case_no_fd(void)
{
	static const char *const opts[] = {"--no-huge", "--no-shconf", "-m", "64", NULL};

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(opts);
	CHECK(make_pool("dmac_nf", 511) == NULL);
	CHECK_EQ(rte_errno, ENOTSUP);
	CHECK(log_has("is an unsealed memfd, not hugepages (EAL --no-huge?)"));
	CHECK(log_has("--in-memory or --single-file-segments"));
	CHECK(dh_plugin_client() == NULL);
}

/* The tenant's lease quota runs out mid-pool: nothing is left held. */
static void case_quota(void)
{
	struct dmac_client_stats st;

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "q", 1);
	eal_start(in_memory);
	/* 8191 mbufs span about ten 2 MiB pages: ten pieces without
	 * --single-file-segments, more than two leases */
	CHECK(make_pool("dmac_q", 8191) == NULL);
	CHECK_EQ(rte_errno, EDQUOT);
	CHECK(log_has("raise the tenant's quota"));
	CHECK(dh_plugin_client() != NULL);
	if (dh_plugin_client()) {
		CHECK_EQ(count_leases(dh_plugin_client(), NULL, NULL), 0);
		CHECK_EQ(dmac_client_stats(dh_plugin_client(), &st), 0);
		CHECK_EQ(st.leases, 0);
		CHECK_EQ(st.registrations, 0);
	}
	/* a pool within the quota still works afterwards */
	{
		struct rte_mempool *mp = make_pool("dmac_q2", 255);

		CHECK(mp != NULL);
		rte_mempool_free(mp);
	}
}

struct obj_ctx {
	struct dmac_client *c;
	uintptr_t lo, hi1, lo2, hi2; /* the leasable pages of the two chunks */
	unsigned int n, bad_iova, outside;
};

static void check_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned int idx)
{
	struct obj_ctx *x = arg;
	uintptr_t a = (uintptr_t)obj;
	size_t len = mp->elt_size;
	uint64_t iova = dmac_client_translate(x->c, obj, &len);

	x->n++;
	if (iova == DMAC_CLIENT_IOVA_ERROR || rte_mempool_virt2iova(obj) != iova ||
	    len != mp->elt_size)
		x->bad_iova++;
	if (!((a >= x->lo && a + mp->elt_size <= x->hi1) ||
	      (a >= x->lo2 && a + mp->elt_size <= x->hi2)))
		x->outside++;
}

/*
 * Chunks the application hands over itself (rte_mempool_populate_iova): two
 * memzones of 3 MiB on 2 MiB pages, so each has one whole page (leased, objects
 * placed) and a partial one (neither); anonymous memory is refused.
 */
static void case_chunks(void)
{
	const size_t pg = 2u << 20, sz = 3u << 20;
	const struct rte_memzone *mz1, *mz2;
	struct chunk_ctx ch = {0};
	struct obj_ctx x = {0};
	struct dmac_client_lease_info li[8];
	struct rte_mempool *mp, *mpa;
	uint64_t cursor = 0;
	size_t n = 0, i;
	void *anon;
	int r1, r2;

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(in_memory);
	mp = rte_mempool_create_empty("dmac_chunks", 4000, 2048, 0, 0, SOCKET_ID_ANY, 0);
	CHECK(mp != NULL);
	if (!mp)
		return;
	CHECK_EQ(rte_mempool_set_ops_byname(mp, DMAC_DPDK_MEMPOOL_OPS, NULL), 0);

	/* anonymous memory, in a pool of its own: DPDK 22.11 keeps the refused
	 * chunk's header in the pool's chunk list */
	mpa = rte_mempool_create_empty("dmac_anon", 100, 2048, 0, 0, SOCKET_ID_ANY, 0);
	CHECK(mpa != NULL);
	anon = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(anon != MAP_FAILED);
	if (mpa && anon != MAP_FAILED) {
		CHECK_EQ(rte_mempool_set_ops_byname(mpa, DMAC_DPDK_MEMPOOL_OPS, NULL), 0);
		CHECK_EQ(rte_mempool_populate_iova(mpa, anon, RTE_BAD_IOVA, pg, NULL, NULL),
			 -ENOTSUP);
		CHECK(log_has("is not DPDK heap memory: only memory of DPDK's hugepage heap"));
		CHECK_EQ(mpa->populated_size, 0);
		CHECK_EQ(count_leases(dh_plugin_client(), NULL, NULL), 0);
		rte_mempool_free(mpa);
	}

	mz1 = rte_memzone_reserve_aligned("dmac_mz1", sz, SOCKET_ID_ANY, 0, pg);
	mz2 = rte_memzone_reserve_aligned("dmac_mz2", sz, SOCKET_ID_ANY, 0, pg);
	CHECK(mz1 && mz2);
	if (!mz1 || !mz2)
		return;
	r1 = rte_mempool_populate_iova(mp, mz1->addr, RTE_BAD_IOVA, mz1->len, NULL, NULL);
	r2 = rte_mempool_populate_iova(mp, mz2->addr, RTE_BAD_IOVA, mz2->len, NULL, NULL);
	CHECK(r1 > 0 && r2 > 0);
	/* as many objects as one page holds, in each */
	CHECK_EQ(r1, pg / (mp->header_size + mp->elt_size + mp->trailer_size));
	CHECK_EQ(r2, r1);
	CHECK_EQ(mp->populated_size, (unsigned int)(r1 + r2));

	x.c = dh_plugin_client();
	x.lo = (uintptr_t)mz1->addr;
	x.hi1 = x.lo + pg;
	x.lo2 = (uintptr_t)mz2->addr;
	x.hi2 = x.lo2 + pg;
	CHECK_EQ(rte_mempool_obj_iter(mp, check_obj, &x), r1 + r2);
	CHECK_EQ(x.bad_iova, 0);
	CHECK_EQ(x.outside, 0);

	/* one lease per chunk, of its one whole page */
	rte_mempool_mem_iter(mp, note_chunk, &ch);
	CHECK_EQ(ch.n, 2);
	CHECK_EQ(dmac_client_query(x.c, &cursor, li, 8, &n), 0);
	CHECK_EQ(n, 2);
	for (i = 0; i < n && i < 8; i++) {
		CHECK_EQ(li[i].length, pg);
		CHECK(li[i].va == mz1->addr || li[i].va == mz2->addr);
	}

	rte_mempool_free(mp);
	CHECK_EQ(count_leases(x.c, NULL, NULL), 0);
	rte_memzone_free(mz1);
	rte_memzone_free(mz2);
	if (anon != MAP_FAILED)
		munmap(anon, pg);
}

static void *plugin_sym(const char *name)
{
	void *h = dlopen(dh_plugin_path(), RTLD_NOW | RTLD_NOLOAD);
	void *sym;

	if (!h) {
		fprintf(stderr, "the plugin is not loaded: %s\n", dlerror());
		exit(1);
	}
	sym = dlsym(h, name);
	dlclose(h);
	if (!sym) {
		fprintf(stderr, "%s: %s (DMAC_DPDK_PLUGIN must be the test build)\n", name,
			dlerror());
		exit(1);
	}
	return sym;
}

/*
 * Fail the driver's Nth allocation for every N until none fails: pool
 * creation fails with ENOMEM, nothing stays leased or registered at the daemon
 * and every allocation of the driver is freed (test build of the driver).
 */
static void case_fault_alloc(void)
{
	void (*arm)(uint64_t);
	int (*fired)(void);
	int64_t (*outstanding)(void);
	struct dmac_client_stats st;
	struct rte_mempool *mp;
	int64_t base;
	uint64_t n;
	int did_fire = 1;

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(in_memory);
	*(void **)&arm = plugin_sym("dmac_dpdk_test_fault_arm");
	*(void **)&fired = plugin_sym("dmac_dpdk_test_fault_fired");
	*(void **)&outstanding = plugin_sym("dmac_dpdk_test_outstanding");
	base = outstanding();
	for (n = 1; n < 100 && did_fire; n++) {
		arm(n);
		mp = make_pool("dmac_fault", 8191);
		did_fire = fired();
		arm(0);
		if (!did_fire) {
			CHECK(mp != NULL);
			rte_mempool_free(mp);
		} else {
			CHECK(mp == NULL);
			CHECK_EQ(rte_errno, ENOMEM);
			if (mp)
				rte_mempool_free(mp);
		}
		CHECK_EQ(outstanding(), base);
		if (dh_plugin_client()) {
			CHECK_EQ(count_leases(dh_plugin_client(), NULL, NULL), 0);
			CHECK_EQ(dmac_client_stats(dh_plugin_client(), &st), 0);
			CHECK_EQ(st.registrations, 0);
		}
	}
	fprintf(stderr, "fault-alloc: %llu allocations failed in turn\n",
		(unsigned long long)(n - 2));
	CHECK(!did_fire);
	CHECK(n > 3); /* the driver allocates at least 2 times per pool */
}

/* The process-wide configuration, for pools without a config pointer. */
static void case_configure(void)
{
	int (*configure)(const struct dmac_dpdk_mempool_config *);
	struct dmac_dpdk_mempool_config cfg;
	struct dmac_client_info info;
	struct rte_mempool *mp;
	struct iter_ctx it = {0};
	char longpath[200];

	setenv(DMAC_DPDK_ENV_SOCKET, "/nonexistent/dmacached.sock", 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(in_memory);
	*(void **)&configure = plugin_sym("dmac_dpdk_mempool_configure");

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	cfg = (struct dmac_dpdk_mempool_config){.socket_path = longpath};
	CHECK_EQ(configure(&cfg), -ENAMETOOLONG);
	/* socket from configure(), tenant from configure() over the environment */
	cfg = (struct dmac_dpdk_mempool_config){.socket_path = dh_dmn.sock, .tenant = "b"};
	CHECK_EQ(configure(&cfg), 0);
	mp = make_pool("dmac_conf", 2047);
	CHECK(mp != NULL);
	CHECK(dh_plugin_client() != NULL);
	if (!mp || !dh_plugin_client())
		return;
	CHECK_EQ(dmac_client_info(dh_plugin_client(), &info), 0);
	CHECK(!strcmp(info.tenant, "b"));
	it.c = dh_plugin_client();
	CHECK_EQ(rte_mempool_obj_iter(mp, check_mbuf, &it), 2047);
	CHECK_EQ(it.bad_iova, 0);
	/* once connected, the configuration is fixed */
	CHECK_EQ(configure(NULL), -EBUSY);
	rte_mempool_free(mp);
	CHECK_EQ(count_leases(dh_plugin_client(), NULL, NULL), 0);
}

/* The daemon's tenants: a and b; the quota case adds q (2 leases). */
static const char *conf_ab(void)
{
	return tenants(NULL);
}

static const char *conf_quota(void)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "[tenant q]\nuids = %u\nquota_leases = 2\n", DH_TENANT_UID);
	return tenants(extra);
}

static const struct {
	const char *name;
	void (*fn)(void);	   /* the application (a tenant) */
	const char *(*conf)(void); /* the daemon's tenants; NULL: no daemon */
} cases[] = {
    {"pool", case_pool, conf_ab},
    {"pool-sfs", case_pool_sfs, conf_ab},
    {"config", case_config, conf_ab},
    {"no-daemon", case_no_daemon, NULL},
    {"no-tenant", case_no_tenant, conf_ab},
    {"no-fd", case_no_fd, conf_ab},
    {"quota", case_quota, conf_quota},
    {"chunks", case_chunks, conf_ab},
    {"fault-alloc", case_fault_alloc, conf_ab},
    {"configure", case_configure, conf_ab},
};

static void (*app_case)(void);

/* The application, as the tenant: the case, then EAL's clean-up and its log. */
static void app(void)
{
	app_case();
	if (rte_eal_cleanup())
		fprintf(stderr, "rte_eal_cleanup failed\n");
	log_dump();
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s <case>\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name))
			break;
	if (i == sizeof(cases) / sizeof(cases[0])) {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	dh_need_hugepages(64);
	if (cases[i].conf)
		dh_daemon_start(cases[i].conf());
	app_case = cases[i].fn;
	dh_run_tenant(app);
	dh_daemon_stop();
	fprintf(stderr, "%s: %s (%d failed checks)\n", argv[1], dh_failures ? "FAIL" : "ok",
		dh_failures);
	return dh_failures ? 1 : 0;
}
