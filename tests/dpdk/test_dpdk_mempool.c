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

#include <jansson.h>

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

/*
 * A pool that fits in one page: the driver's calc_mem_size keeps
 * min_chunk_size below mem_size (DPDK 22.11 takes them equal as a request
 * for one IOVA-contiguous block, which in IOVA-as-PA mode needs physically
 * adjacent hugepages: dpdk-mbuf-autotest runs that mode), and such a pool is
 * one lease.
 */
static void case_one_page(void)
{
	struct rte_mempool *mp;
	struct iter_ctx it = {0};
	size_t min_chunk = 0, align = 0;
	ssize_t size;

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	eal_start(in_memory);
	mp = rte_mempool_create_empty("dmac_one", 127, sizeof(struct rte_mbuf) + 2048, 0,
				      sizeof(struct rte_pktmbuf_pool_private), SOCKET_ID_ANY, 0);
	CHECK(mp != NULL);
	if (!mp)
		return;
	CHECK_EQ(rte_mempool_set_ops_byname(mp, DMAC_DPDK_MEMPOOL_OPS, NULL), 0);
	/* the driver's op itself (DPDK's wrapper is not exported) */
	size = rte_mempool_get_ops(mp->ops_index)->calc_mem_size(mp, 127, 21, &min_chunk, &align);
	CHECK_EQ(size, 2 << 20);
	CHECK(min_chunk < (size_t)size);
	CHECK(min_chunk > (size_t)size / 2); /* DPDK's halving retries stop at once */
	CHECK_EQ(align, 2 << 20);
	rte_pktmbuf_pool_init(mp, NULL);
	CHECK_EQ(rte_mempool_populate_default(mp), 127);
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	it.c = dh_plugin_client();
	CHECK(it.c != NULL);
	if (!it.c)
		return;
	CHECK_EQ(rte_mempool_obj_iter(mp, check_mbuf, &it), 127);
	CHECK_EQ(it.bad_iova, 0);
	CHECK_EQ(count_leases(it.c, NULL, NULL), 1);
	rte_mempool_free(mp);
	CHECK_EQ(count_leases(it.c, NULL, NULL), 0);
}

/* ---- telemetry -------------------------------------------------------------- */

/* One telemetry request on socket s; the reply's value for cmd (caller decrefs). */
static json_t *tel_get(int s, const char *cmd)
{
	static char buf[1 << 16];
	char key[128];
	json_t *root, *v;
	ssize_t n;

	if (send(s, cmd, strlen(cmd), 0) != (ssize_t)strlen(cmd))
		return NULL;
	n = recv(s, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	root = json_loads(buf, 0, NULL);
	if (!root) {
		fprintf(stderr, "telemetry %s: not JSON: %s\n", cmd, buf);
		return NULL;
	}
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(cmd, ","), cmd);
	v = json_incref(json_object_get(root, key));
	json_decref(root);
	return v;
}

/* The telemetry socket of this process's EAL, connected; the greeting read. */
static int tel_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[1024];
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dpdk_telemetry.v2",
		 rte_eal_get_runtime_dir());
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    recv(s, buf, sizeof(buf), 0) <= 0) {
		fprintf(stderr, "telemetry socket %s: %s\n", sa.sun_path, strerror(errno));
		dh_failures++;
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

static uint64_t jnum(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : UINT64_MAX;
}

/*
 * /dmacache/leases (l) against QUERY on the driver's connection: the same
 * leases, one for one (id, IOVA, VA, length), all of pool @p pool (NULL: any).
 */
static void check_tel_leases(const json_t *l, struct dmac_client *c, const char *pool)
{
	struct dmac_client_lease_info li[64];
	uint64_t cursor = 0, bytes = 0;
	size_t n = 0, i, k, count;
	const json_t *ids = json_object_get(l, "lease_id"), *iovas = json_object_get(l, "iova");
	const json_t *vas = json_object_get(l, "va"), *lens = json_object_get(l, "length");
	const json_t *pools = json_object_get(l, "pool");

	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_EQ(dmac_client_query(c, &cursor, li, 64, &n), 0);
	CHECK_EQ(cursor, 0);
	count = json_array_size(ids);
	CHECK_EQ(jnum(l, "count"), n);
	CHECK_EQ(jnum(l, "listed"), n);
	CHECK_EQ(count, n);
	CHECK(json_array_size(iovas) == n && json_array_size(vas) == n &&
	      json_array_size(lens) == n && json_array_size(pools) == n);
	for (i = 0; i < n; i++) {
		char id[24], iova[24], va[24];
		int found = 0;

		bytes += li[i].length;
		snprintf(id, sizeof(id), "%" PRIu64, li[i].lease_id);
		snprintf(iova, sizeof(iova), "0x%" PRIx64, li[i].iova);
		snprintf(va, sizeof(va), "0x%" PRIx64, (uint64_t)(uintptr_t)li[i].va);
		for (k = 0; k < count; k++) {
			if (strcmp(json_string_value(json_array_get(ids, k)) ?: "", id))
				continue;
			found = 1;
			CHECK(!strcmp(json_string_value(json_array_get(iovas, k)) ?: "", iova));
			CHECK(!strcmp(json_string_value(json_array_get(vas, k)) ?: "", va));
			CHECK_EQ(json_integer_value(json_array_get(lens, k)), li[i].length);
			if (pool)
				CHECK(!strcmp(json_string_value(json_array_get(pools, k)) ?: "",
					      pool));
		}
		CHECK(found);
	}
	CHECK_EQ(jnum(l, "bytes"), bytes);
}

/* /dmacache/info (i): the connection, and totals equal to QUERY's. */
static void check_tel_info(const json_t *i, struct dmac_client *c, uint64_t pools)
{
	struct dmac_client_lease_info li[64];
	struct dmac_client_info info;
	uint64_t cursor = 0, bytes = 0;
	size_t n = 0, k;
	char sid[24];

	CHECK(i != NULL);
	if (!i)
		return;
	CHECK_EQ(dmac_client_query(c, &cursor, li, 64, &n), 0);
	for (k = 0; k < n; k++)
		bytes += li[k].length;
	CHECK_EQ(dmac_client_info(c, &info), 0);
	snprintf(sid, sizeof(sid), "%" PRIu64, info.session_id);
	CHECK(!strcmp(json_string_value(json_object_get(i, "ops")) ?: "", "dmacache"));
	CHECK_EQ(jnum(i, "connected"), 1);
	CHECK(!strcmp(json_string_value(json_object_get(i, "tenant")) ?: "", "a"));
	CHECK(!strcmp(json_string_value(json_object_get(i, "socket")) ?: "", dh_dmn.sock));
	CHECK(!strcmp(json_string_value(json_object_get(i, "session_id")) ?: "", sid));
	CHECK_EQ(jnum(i, "pools"), pools);
	CHECK_EQ(jnum(i, "leases"), n);
	CHECK_EQ(jnum(i, "registrations"), n);
	CHECK_EQ(jnum(i, "leased_bytes"), bytes);
	CHECK_EQ(json_array_size(json_object_get(i, "pool_names")), pools);
}

/* dpdk-telemetry.py, as the same tenant, on this process: its replies (one per line). */
static char *tel_script(const char *commands)
{
	const char *script = getenv("DMAC_DPDK_TELEMETRY_PY");
	char prefix[256], *out = NULL;
	size_t len = 0;
	int in[2], outp[2];
	FILE *f;
	pid_t pid;

	snprintf(prefix, sizeof(prefix), "%s", strrchr(rte_eal_get_runtime_dir(), '/') + 1);
	if (!script || access(script, R_OK) || pipe(in) || pipe(outp)) {
		fprintf(stderr, "dpdk-telemetry.py not found (DMAC_DPDK_TELEMETRY_PY=%s)\n",
			script ? script : "");
		dh_failures++;
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execl("/usr/bin/python3", "python3", script, "-f", prefix, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	if (write(in[1], commands, strlen(commands)) != (ssize_t)strlen(commands))
		dh_failures++;
	close(in[1]);
	f = open_memstream(&out, &len);
	{
		char b[4096];
		ssize_t n;

		while ((n = read(outp[0], b, sizeof(b))) > 0)
			fwrite(b, 1, (size_t)n, f);
	}
	fclose(f);
	close(outp[0]);
	{
		int status = 0;

		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
	}
	return out;
}

/* The JSON value of cmd in the script's output (one JSON object per line). */
static json_t *tel_script_get(const char *out, const char *cmd)
{
	const char *line = out;

	while (line && *line) {
		json_t *root = json_loadb(line, strcspn(line, "\n"), 0, NULL);
		json_t *v = root ? json_incref(json_object_get(root, cmd)) : NULL;

		json_decref(root);
		if (v)
			return v;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return NULL;
}

/*
 * The telemetry commands: /dmacache/info and /dmacache/leases on EAL's
 * telemetry socket agree with QUERY on the driver's connection as pools come
 * and go; dpdk-telemetry.py (Debian's) lists and reads them too.
 */
static void case_telemetry(void)
{
	struct rte_mempool *big, *small;
	struct dmac_client *c;
	json_t *v, *cmds;
	char *out;
	int s;

	setenv(DMAC_DPDK_ENV_SOCKET, dh_dmn.sock, 1);
	setenv(DMAC_DPDK_ENV_TENANT, "a", 1);
	dh_eal_telemetry = 1;
	eal_start(in_memory);
	s = tel_connect();
	if (s < 0)
		return;
	/* registered at load, before any pool */
	cmds = tel_get(s, "/");
	CHECK(cmds && json_is_array(cmds));
	{
		int info = 0, leases = 0;
		size_t k;

		for (k = 0; k < json_array_size(cmds); k++) {
			const char *name = json_string_value(json_array_get(cmds, k)) ?: "";

			info |= !strcmp(name, "/dmacache/info");
			leases |= !strcmp(name, "/dmacache/leases");
		}
		CHECK(info && leases);
	}
	json_decref(cmds);
	v = tel_get(s, "/dmacache/info");
	CHECK(v != NULL);
	CHECK_EQ(jnum(v, "connected"), 0);
	CHECK_EQ(jnum(v, "pools"), 0);
	json_decref(v);

	big = make_pool("tel_big", 8191);
	small = make_pool("tel_small", 63);
	CHECK(big && small);
	c = dh_plugin_client();
	if (!big || !small || !c)
		goto out;
	v = tel_get(s, "/dmacache/info");
	check_tel_info(v, c, 2);
	json_decref(v);
	v = tel_get(s, "/dmacache/leases");
	check_tel_leases(v, c, NULL);
	CHECK(jnum(v, "count") >= 3); /* --in-memory: one lease per 2 MiB page */
	json_decref(v);
	/* a pool's own: the small pool fits one page, one lease */
	v = tel_get(s, "/dmacache/leases,tel_small");
	CHECK_EQ(jnum(v, "count"), 1);
	CHECK_EQ(jnum(v, "bytes"), 2 << 20);
	json_decref(v);
	v = tel_get(s, "/dmacache/leases,no_such_pool");
	CHECK(v && json_is_null(v));
	json_decref(v);

	/* Debian's client reads the same */
	out = tel_script("/dmacache/info\n/dmacache/leases\n/\n");
	if (out) {
		fprintf(stderr, "dpdk-telemetry.py:\n%s", out);
		v = tel_script_get(out, "/dmacache/info");
		check_tel_info(v, c, 2);
		json_decref(v);
		v = tel_script_get(out, "/dmacache/leases");
		check_tel_leases(v, c, NULL);
		json_decref(v);
		v = tel_script_get(out, "/");
		CHECK(v && json_is_array(v));
		json_decref(v);
		free(out);
	}

	/* the big pool goes: only the small one's lease is left */
	rte_mempool_free(big);
	big = NULL;
	v = tel_get(s, "/dmacache/info");
	check_tel_info(v, c, 1);
	CHECK_EQ(jnum(v, "leases"), 1);
	json_decref(v);
	v = tel_get(s, "/dmacache/leases");
	check_tel_leases(v, c, "tel_small");
	json_decref(v);
out:
	rte_mempool_free(small);
	rte_mempool_free(big);
	if (c) {
		v = tel_get(s, "/dmacache/info");
		CHECK_EQ(jnum(v, "pools"), 0);
		CHECK_EQ(jnum(v, "leases"), 0);
		json_decref(v);
	}
	close(s);
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
    {"one-page", case_one_page, conf_ab},
    {"telemetry", case_telemetry, conf_ab},
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
