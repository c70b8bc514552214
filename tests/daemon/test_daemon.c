/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The 'daemon' suite: the real dmacached-test over a real socket, with the
 * in-process test backend. One test per run (argv[1]); each starts its own
 * daemon on a private socket and stops it at the end.
 *
 * How state is observed: STATS over the protocol, plus the dmacached-test
 * dump (SIGUSR1: engine counters, invariant checks of the cache, lease table
 * and allocator, dmac__alloc_outstanding(), the test backend's spaces,
 * mappings and call log) and /proc/<daemon>/fd.
 *
 * Invariants: every wait is bounded; nothing here measures time except the
 * 1 s bound on reclaim after SIGKILL (a correctness bound, polled).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MB (UINT64_C(1) << 20)
#define RW DMAC_PROTO_PROT_ALL

static char tenants_conf[512];
static const char *self_path; /* argv[0]: a regular file on a disk filesystem */

/* Two tenants a and b for the non-root tenant uid T_UID_A; extra text appended. */
/* Tenants a and b with 'release = strict': these tests count the unmaps a
 * RELEASE makes; the lazy policy has its own tests (test_lazy.c). */
static const char *conf(const char *extra)
{
	snprintf(tenants_conf, sizeof(tenants_conf),
		 "[tenant a]\nuids = %u\nrelease = strict\n[tenant b]\nuids = %u\n"
		 "release = strict\n%s",
		 T_UID_A, T_UID_A, extra ? extra : "");
	return tenants_conf;
}

/*
 * Run @p fn as the non-root tenant uid T_UID_A (t_as_user()), with the root
 * parent's view of the daemon before (no session) and after: the tenant's
 * process is gone, and every session, lease, registration and tenant copy it
 * held with it.
 */
static void as_tenant(struct tdaemon *d, void (*fn)(void *))
{
	CHECK_EQ(td_wait(d, "sessions", 0), 0);
	t_as_user(T_UID_A, fn, d);
	CHECK_EQ(td_wait(d, "sessions", 0), 0);
	CHECK_EQ(td_get(d, "leases"), 0);
	CHECK_EQ(td_get(d, "registrations"), 0);
	CHECK_EQ(td_get(d, "tenant_copies"), 0);
}

/* A daemon with @p config, @p fn as its tenant (as_tenant()), stopped. */
static void run(const char *config, void (*fn)(void *))
{
	struct tdaemon d;

	td_start(&d, config);
	as_tenant(&d, fn);
	td_stop(&d);
}

static int hello(const struct tdaemon *d, const char *tenant)
{
	int s = tc_connect(d);

	CHECK_EQ(tc_hello(s, tenant), 0);
	return s;
}

/* ---- register, lease, release, query, stats -------------------------------- */

static void basic_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_grant g1, g2, g3;
	struct dmac_proto_lease_info info[4];
	struct dmac_proto_stats st;
	uint64_t reg, reg2, next;
	uint32_t n;
	int s, fd, maps;

	s = hello(&d, "a");
	CHECK(((const struct dmac_proto_hello_rep *)tc_reply)->session_id != 0);
	fd = t_memfd(4 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 4 * MB, RW, &reg), 0);
	CHECK(reg != 0);
	CHECK_EQ(((const struct dmac_proto_reg_result *)tc_view.vec)->page_shift, 12);
	/* a tenant's STATS are its own figures (daemon-wide ones are 0) */
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.cache_misses, 1);
	CHECK_EQ(st.areas, 0);
	CHECK_EQ(st.bytes_pinned, 4 * MB);
	CHECK_EQ(st.registrations, 1);
	CHECK_EQ(st.sessions, 1);
	CHECK_EQ(st.tenants, 1);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 1);
	CHECK_EQ(td_get(&d, "mapped"), 1);

	/* lease the first 2 MiB: one copy into the tenant's space, no pin */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g1), 0);
	CHECK(g1.lease_id != 0 && g1.generation != 0);
	CHECK_EQ(g1.length, 2 * MB);
	CHECK_EQ(g1.iova % (2 * MB), 0);
	CHECK(g1.iova >= 2 * MB); /* [0, 2 MiB) is never handed out (IOVA 0 = NULL) */
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 1);
	CHECK_EQ(td_count(&d, "call copy "), 1);
	CHECK_EQ(td_get(&d, "mapped"), 2);
	CHECK_EQ(td_get(&d, "tenant_copies"), 1);

	/* the same range with another prot: refused (a copy is shared only
	 * with its own prot; a READ lease never gets a writable mapping) */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, DMAC_PROTO_PROT_READ, &g2), EEXIST);
	/* the same range again: the copy is shared (refcount), no kernel call */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g2), 0);
	CHECK(g2.lease_id != g1.lease_id);
	CHECK_EQ(g2.iova, g1.iova);
	CHECK(g2.generation > g1.generation);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call copy "), 1);
	CHECK_EQ(td_get(&d, "tenant_copies"), 1);

	/* a partial overlap with that copy is refused and changes nothing */
	CHECK_EQ(tc_lease(s, reg, MB, 2 * MB, RW, NULL), EEXIST);
	/* beyond the registration, prot beyond the registration */
	CHECK_EQ(tc_lease(s, reg, 2 * MB, 4 * MB, RW, NULL), ERANGE);
	CHECK_EQ(tc_lease(s, reg + 1000, 0, 4096, RW, NULL), ENOENT);

	/* the second half: a second copy at the master's IOVA + 2 MiB */
	CHECK_EQ(tc_lease(s, reg, 2 * MB, 2 * MB, RW, &g3), 0);
	CHECK_EQ(g3.iova, g1.iova + 2 * MB);

	/* QUERY with paging: 3 leases, pages of 2 */
	CHECK_EQ(tc_query(s, 0, 2, info, &n, &next), 0);
	CHECK_EQ(n, 2);
	CHECK(next != 0);
	CHECK(info[0].lease_id == g1.lease_id && info[1].lease_id == g2.lease_id);
	CHECK_EQ(info[0].reg_id, reg);
	CHECK_EQ(info[1].prot, RW);
	CHECK_EQ(tc_query(s, next, 2, info, &n, &next), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(next, 0);
	CHECK(info[0].lease_id == g3.lease_id && info[0].reg_offset == 2 * MB);

	/* UNREGISTER with leases: EBUSY */
	CHECK_EQ(tc_unregister(s, reg), EBUSY);
	/* RELEASE: wrong generation ESTALE, then right; the copy stays until its last lease */
	CHECK_EQ(tc_release(s, g1.lease_id, g1.generation + 100), ESTALE);
	CHECK_EQ(tc_release(s, g1.lease_id, g1.generation), 0);
	CHECK_EQ(tc_release(s, g1.lease_id, g1.generation), ENOENT);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call unmap "), 0);
	CHECK_EQ(tc_release(s, g2.lease_id, g2.generation), 0);
	CHECK_EQ(tc_release(s, g3.lease_id, g3.generation), 0);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call unmap "), 2);
	CHECK_EQ(td_get(&d, "mapped"), 1); /* the master area stays cached */
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.leases, 0);

	/* unregister, register again: a cache hit, no new pin */
	CHECK_EQ(tc_unregister(s, reg), 0);
	CHECK_EQ(tc_unregister(s, reg), ENOENT);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg2), 0);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.cache_hits, 1);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "areas"), 1);
	maps = td_count(&d, "call map ");
	CHECK_EQ(maps, 1);
	CHECK_EQ(tc_lease(s, reg2, 0, 2 * MB, RW, &g1), 0);
	CHECK_EQ(g1.iova, g3.iova - 2 * MB); /* same memory, same IOVA */
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "cache_check"), 0);
	CHECK_EQ(td_get(&d, "lease_check"), 0);
	CHECK_EQ(td_get(&d, "alloc_check"), 0);

	/* session end reclaims the lease and the registration */
	close(s);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	CHECK_EQ(td_get(&d, "registrations"), 0);
	CHECK_EQ(td_get(&d, "mapped"), 1);
	s = hello(&d, "b");
	close(s);
	close(fd);
}

static void test_basic(void)
{
	run(conf(NULL), basic_tenant);
}

/* Two ranges of one memfd in one REGISTER are coalesced into one master map. */
static void coalesce_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_reg_range r[2] = {
	    {.fd_index = 0, .prot = RW, .offset = 2 * MB, .length = 2 * MB},
	    {.fd_index = 0, .prot = RW, .offset = 0, .length = 2 * MB},
	};
	uint64_t buf[64];
	struct dmac_proto_lease_grant g0, g1;
	const struct dmac_proto_reg_result *res;
	uint64_t id0, id1;
	size_t len;
	int s, fd;

	s = hello(&d, "a");
	fd = t_memfd(4 * MB, 1);
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 1, r, 2, 1, &len), 0);
	CHECK_EQ(tc_rpc_raw(s, buf, len, &fd, 1), 0);
	CHECK_EQ(tc_view.count, 2);
	res = tc_view.vec;
	id0 = res[0].reg_id;
	id1 = res[1].reg_id;
	CHECK(id0 && id1 && id0 != id1);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 1);
	CHECK_EQ(td_get(&d, "areas"), 1);
	CHECK_EQ(td_get(&d, "registrations"), 2);
	CHECK_EQ(tc_lease(s, id0, 0, 2 * MB, RW, &g0), 0);
	CHECK_EQ(tc_lease(s, id1, 0, 2 * MB, RW, &g1), 0);
	CHECK_EQ(g0.iova, g1.iova + 2 * MB); /* offset 2M sits 2M above offset 0 */
	close(s);
	close(fd);
}

static void test_coalesce(void)
{
	run(conf(NULL), coalesce_tenant);
}

/* Re-registering a larger range evicts the unused smaller area; a range
 * partially overlapping an area in use is refused before any kernel call. */
static void overlap_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_stats st;
	uint64_t r1, r2, r3;
	long long calls;
	int s, fd;

	s = hello(&d, "a");
	fd = t_memfd(8 * MB, 1);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &r1), 0);
	td_sync(&d, NULL);
	calls = td_get(&d, "calls");
	CHECK_EQ(tc_register(s, fd, MB, 2 * MB, RW, &r2), EEXIST);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "calls"), calls); /* refused before any backend call */
	CHECK_EQ(td_count(&d, "call map "), 1);
	CHECK_EQ(tc_unregister(s, r1), 0);
	CHECK_EQ(tc_register(s, fd, 0, 4 * MB, RW, &r2), 0);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "evictions"), 1);
	CHECK_EQ(td_get(&d, "areas"), 1);
	CHECK_EQ(td_get(&d, "bytes_pinned"), 4 * MB);
	/* a sub-range of the area in use: a hit */
	CHECK_EQ(tc_register(s, fd, 2 * MB, MB, RW, &r3), 0);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.cache_hits, 1);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 2);
	CHECK_EQ(td_count(&d, "call unmap "), 1);
	CHECK_EQ(td_get(&d, "mapped"), 1);
	close(s);
	close(fd);
}

static void test_overlap(void)
{
	run(conf(NULL), overlap_tenant);
}

/* A MFD_HUGETLB memfd: 2 MiB granule for offsets, lengths and IOVAs. */
static void hugetlb_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	int s, fd;

	fd = memfd_create("dmacd-huge", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(ftruncate(fd, 4 * MB), 0);
	CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	s = hello(&d, "a");
	/* 4 KiB-aligned but not 2 MiB-aligned: refused by the fd layer */
	CHECK_EQ(tc_register(s, fd, 4096, 2 * MB, RW, &reg), EINVAL);
	CHECK_EQ(tc_register(s, fd, 0, 4096, RW, &reg), EINVAL);
	CHECK_EQ(tc_register(s, fd, 2 * MB, 2 * MB, RW, &reg), 0);
	if (!tc_view.vec) /* the register failed (reported above) */
		goto out;
	CHECK_EQ(((const struct dmac_proto_reg_result *)tc_view.vec)->page_shift, 21);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(g.iova % (2 * MB), 0);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 1);
	CHECK_EQ(td_get(&d, "mapped"), 2);
out:
	close(s);
	close(fd);
}

static void test_hugetlb(void)
{
	run(conf(NULL), hugetlb_tenant);
}

/* ---- sessions and tenants ------------------------------------------------ */

static void hello_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_stats st;
	uint64_t reg;
	int s, fd;

	fd = t_memfd(MB, 1);
	s = tc_connect(&d);
	/* before HELLO: everything is EPERM */
	CHECK_EQ(tc_stats(s, &st), EPERM);
	CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), EPERM);
	CHECK_EQ(tc_lease(s, 1, 0, 4096, RW, NULL), EPERM);
	CHECK_EQ(tc_release(s, 1, 1), EPERM);
	/* unknown tenant, tenant that does not allow us */
	CHECK_EQ(tc_hello(s, "nosuch"), ENOENT);
	CHECK_EQ(tc_hello(s, "other"), EACCES);
	CHECK_EQ(tc_hello(s, "a"), 0);
	CHECK_EQ(tc_hello(s, "a"), EALREADY);
	CHECK_EQ(tc_hello(s, "b"), EALREADY);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.registrations, 0);
	CHECK_EQ(st.tenants, 1); /* a tenant sees itself only */
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenants"), 3);
	close(s);
	close(fd);
}

static void test_hello(void)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "[tenant other]\nuids = %u\ngids = %u\n", T_UID_A + 4242,
		 T_UID_A + 4242);
	run(conf(extra), hello_tenant);
}

static void isolation_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_grant g;
	struct dmac_proto_lease_info info[4];
	uint64_t reg_a, reg_b, next;
	uint32_t n;
	int sa, sb, sa2, fd;

	sa = hello(&d, "a");
	sb = hello(&d, "b");
	sa2 = hello(&d, "a");
	fd = t_memfd(2 * MB, 1);
	CHECK_EQ(tc_register(sa, fd, 0, 2 * MB, RW, &reg_a), 0);
	CHECK_EQ(tc_lease(sa, reg_a, 0, 2 * MB, RW, &g), 0);

	/* b sees nothing of a's: no lease in QUERY, ENOENT for its id and its reg */
	CHECK_EQ(tc_query(sb, 0, 4, info, &n, &next), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(tc_release(sb, g.lease_id, g.generation), ENOENT);
	CHECK_EQ(tc_lease(sb, reg_a, 0, 2 * MB, RW, NULL), ENOENT);
	CHECK_EQ(tc_unregister(sb, reg_a), ENOENT);
	/* another session of the same tenant neither */
	CHECK_EQ(tc_release(sa2, g.lease_id, g.generation), ENOENT);
	CHECK_EQ(tc_query(sa2, 0, 4, info, &n, &next), 0);
	CHECK_EQ(n, 0);
	/* a's lease is intact */
	CHECK_EQ(tc_query(sa, 0, 4, info, &n, &next), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(info[0].lease_id, g.lease_id);

	/* b registers the same memory: cache hit, same IOVA, its own space */
	CHECK_EQ(tc_register(sb, fd, 0, 2 * MB, RW, &reg_b), 0);
	{
		struct dmac_proto_lease_grant gb;

		CHECK_EQ(tc_lease(sb, reg_b, 0, 2 * MB, RW, &gb), 0);
		CHECK_EQ(gb.iova, g.iova);
		td_sync(&d, NULL);
		CHECK_EQ(td_count(&d, "call map "), 1);
		CHECK_EQ(td_count(&d, "call copy "), 2);
		CHECK_EQ(td_get(&d, "cache_hits"), 1);
	}
	close(sa);
	close(sb);
	close(sa2);
	close(fd);
}

static void test_isolation(void)
{
	run(conf(NULL), isolation_tenant);
}

static void quota_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_grant ga, gb;
	struct dmac_proto_stats st;
	uint64_t reg, reg2;
	long long calls;
	int s, fd, fd2;

	s = hello(&d, "q");
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->quota_leases, 3);
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->quota_pinned_bytes, MB);
	fd = t_memfd(2 * MB, 1);
	fd2 = t_memfd(MB, 1);
	/* registered bytes: 2 MiB > 1 MiB refused before any backend call */
	td_sync(&d, NULL);
	calls = td_get(&d, "calls");
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), EDQUOT);
	CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), 0);
	CHECK_EQ(tc_register(s, fd2, 0, 4096, RW, &reg2), EDQUOT);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "calls"), calls + 1); /* the one map */
	CHECK_EQ(td_get(&d, "registrations"), 1);

	/* leased bytes: two leases of the same 512 KiB fill the 1 MiB quota */
	CHECK_EQ(tc_lease(s, reg, 0, 512 * 1024, RW, &ga), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 512 * 1024, RW, &gb), 0);
	td_sync(&d, NULL);
	calls = td_get(&d, "calls");
	CHECK_EQ(tc_lease(s, reg, 512 * 1024, 4096, RW, NULL), EDQUOT);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "calls"), calls);
	CHECK_EQ(td_get(&d, "leases"), 2);
	CHECK_EQ(tc_release(s, gb.lease_id, gb.generation), 0);
	/* lease count: the fourth lease is refused */
	CHECK_EQ(tc_lease(s, reg, 512 * 1024, 4096, RW, NULL), 0);
	CHECK_EQ(tc_lease(s, reg, 516 * 1024, 4096, RW, NULL), 0);
	td_sync(&d, NULL);
	calls = td_get(&d, "calls");
	CHECK_EQ(tc_lease(s, reg, 520 * 1024, 4096, RW, NULL), EDQUOT);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "calls"), calls);
	CHECK_EQ(td_get(&d, "leases"), 3);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.leases, 3);
	/* the quota frees up with the session: a new session registers again */
	close(s);
	s = hello(&d, "q");
	for (int i = 0; i < 500; i++) {
		CHECK_EQ(tc_stats(s, &st), 0);
		if (st.sessions == 1)
			break;
		usleep(10000);
	}
	CHECK_EQ(tc_register(s, fd2, 0, MB, RW, &reg2), 0);
	close(s);
	close(fd);
	close(fd2);
}

static void test_quota(void)
{
	char extra[256];

	snprintf(extra, sizeof(extra),
		 "[tenant q]\nuids = %u\nquota_leases = 3\nquota_pinned_bytes = 1M\n", T_UID_A);
	run(conf(extra), quota_tenant);
}

/* A batch whose second item fails leaves nothing of the first. */
static void batch_atomic_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_item it[2];
	uint64_t buf[64], reg;
	size_t len;
	int s, fd;

	s = hello(&d, "a");
	fd = t_memfd(2 * MB, 1);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	it[0] = (struct dmac_proto_lease_item){reg, 0, MB, RW, 0};
	it[1] = (struct dmac_proto_lease_item){reg, MB, 2 * MB, RW, 0}; /* beyond: ERANGE */
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 7, it, 2, &len), 0);
	CHECK_EQ(tc_rpc_raw(s, buf, len, NULL, 0), ERANGE);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "leases"), 0);
	CHECK_EQ(td_get(&d, "tenant_copies"), 0);
	CHECK_EQ(td_count(&d, "call copy "), 1);
	CHECK_EQ(td_count(&d, "call unmap "), 1); /* the first item, undone */
	CHECK_EQ(td_get(&d, "mapped"), 1);
	close(s);
	close(fd);
}

static void test_batch_atomic(void)
{
	run(conf(NULL), batch_atomic_tenant);
}

/*
 * register-mixed: one REGISTER whose ranges come from two files, two prots,
 * adjacent (merged into one area) and apart, in no particular order: every
 * registration must land on its own file at its own offset. Checked end to
 * end by the root parent: a lease's IOVA -> the master space's mapping (the
 * dump) -> the daemon's VA -> /proc/PID/maps -> (inode, file offset).
 */
#define MIX_N 6
struct mix_result {
	uint64_t ino[MIX_N], offset[MIX_N], iova[MIX_N];
};

struct mix_arg {
	const struct tdaemon *d;
	int out, go; /* pipes to and from the parent */
};

static void register_mixed_tenant(void *arg)
{
	const struct mix_arg *a = arg;
	/* fd 0: 8 pages, fd 1: 4 pages; (fd, prot, page) */
	static const struct {
		uint32_t fd, prot, page;
	} r[MIX_N] = {{0, RW, 0}, {1, DMAC_PROTO_PROT_READ, 1},
		      {0, RW, 1}, {0, DMAC_PROTO_PROT_READ, 0},
		      {0, RW, 3}, {1, RW, 0}};
	struct dmac_proto_reg_range rr[MIX_N];
	struct mix_result res;
	uint64_t buf[256], reg[MIX_N];
	int fds[2] = {t_memfd(8 * 4096, 1), t_memfd(4 * 4096, 1)};
	int s = hello(a->d, "a");
	struct stat st[2];
	size_t len;
	char c;

	memset(&res, 0, sizeof(res));
	CHECK(!fstat(fds[0], &st[0]) && !fstat(fds[1], &st[1]));
	for (int i = 0; i < MIX_N; i++)
		rr[i] = (struct dmac_proto_reg_range){.fd_index = r[i].fd,
						      .prot = r[i].prot,
						      .offset = r[i].page * 4096ull,
						      .length = 4096};
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 1, rr, MIX_N, 2, &len), 0);
	CHECK_EQ(tc_rpc_raw(s, buf, len, fds, 2), 0);
	for (int i = 0; i < MIX_N; i++)
		reg[i] = ((const struct dmac_proto_reg_result *)tc_view.vec)[i].reg_id;
	for (int i = 0; i < MIX_N; i++) {
		struct dmac_proto_lease_grant g;

		CHECK_EQ(tc_lease(s, reg[i], 0, 4096, r[i].prot, &g), 0);
		res.ino[i] = st[r[i].fd].st_ino;
		res.offset[i] = r[i].page * 4096ull;
		res.iova[i] = g.iova;
	}
	/* the parent checks while the leases live */
	CHECK(write(a->out, &res, sizeof(res)) == (ssize_t)sizeof(res));
	CHECK(read(a->go, &c, 1) == 1);
	close(s);
	close(fds[0]);
	close(fds[1]);
}

/* The daemon VA of master IOVA @p iova (dump "map SPACE IOVA LEN VA PROT"
 * lines of the master space), or 0. */
static uint64_t mix_master_va(const struct tdaemon *d, uint64_t iova)
{
	long long master = td_get(d, "master_space");
	char line[256];
	uint64_t va = 0;
	FILE *f = fopen(d->dump, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned int sp;
		unsigned long long io, ln, v;

		if (sscanf(line, "map %u 0x%llx 0x%llx 0x%llx", &sp, &io, &ln, &v) == 4 &&
		    (long long)sp == master && io <= iova && iova - io < ln)
			va = v + (iova - io);
	}
	fclose(f);
	return va;
}

/* The (inode, file offset) the daemon @p pid maps at @p va, from its maps. */
static int mix_file_at(pid_t pid, uint64_t va, uint64_t *ino, uint64_t *off)
{
	char path[64], line[512];
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, fo, in;

		if (sscanf(line, "%llx-%llx %*s %llx %*s %llu", &lo, &hi, &fo, &in) == 4 &&
		    lo <= va && va < hi) {
			*ino = in;
			*off = fo + (va - lo);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

static void test_register_mixed(void)
{
	struct tdaemon d;
	struct mix_result res;
	struct mix_arg a;
	int out[2], go[2], status = 0;
	pid_t p;

	td_start(&d, conf(NULL));
	if (pipe2(out, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		exit(1);
	a = (struct mix_arg){&d, out[1], go[0]};
	p = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, register_mixed_tenant, &a);
	CHECK_EQ(read(out[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	td_sync(&d, NULL);
	/* two files x two prots: fd 0 RW pages 0-1 merged, 3 apart; fd 0 R;
	 * fd 1 R; fd 1 RW */
	CHECK_EQ(td_get(&d, "areas"), 5);
	for (int i = 0; i < MIX_N; i++) {
		uint64_t va = mix_master_va(&d, res.iova[i]), ino = 0, off = 1;

		CHECK(va != 0);
		CHECK_EQ(mix_file_at(d.pid, va, &ino, &off), 0);
		CHECK_EQ(ino, res.ino[i]);
		CHECK_EQ(off, res.offset[i]);
	}
	CHECK(write(go[1], "g", 1) == 1);
	CHECK_EQ(waitpid(p, &status, 0), p);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(out[0]);
	close(out[1]);
	close(go[0]);
	close(go[1]);
	td_stop(&d);
}

static void window_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	uint64_t reg;
	int s, fd;

	/* w's areas are placed inside its window */
	s = hello(&d, "w");
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->iova_start, 0x40000000);
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->iova_last, 0x7fffffff);
	fd = t_memfd(4 * MB, 1);
	CHECK_EQ(tc_register(s, fd, 2 * MB, 2 * MB, RW, &reg), 0);
	{
		struct dmac_proto_lease_grant g;
		uint64_t reg2;
		int fd2 = t_memfd(2 * MB, 1);

		CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
		CHECK_EQ(g.iova, 0x40000000);
		CHECK_EQ(tc_register(s, fd2, 0, 2 * MB, RW, &reg2), 0);
		CHECK_EQ(tc_lease(s, reg2, 0, 2 * MB, RW, &g), 0);
		CHECK_EQ(g.iova, 0x40200000);
		close(fd2);
		/* 1 GiB does not fit the 1 GiB window once part of it is used */
		fd2 = t_memfd(1024 * MB, 1);
		CHECK_EQ(tc_register(s, fd2, 0, 1024 * MB, RW, &reg2), ENOSPC);
		close(fd2);
	}
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 2);
	CHECK_EQ(td_get(&d, "areas"), 2);
	close(s);
	close(fd);
	fd = t_memfd(2 * MB, 1);
	/* tenant a registers other memory (at IOVA 0); w may register it (hit) but not lease it */
	s = hello(&d, "a");
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	{
		int sw = hello(&d, "w");

		CHECK_EQ(tc_register(sw, fd, 0, 2 * MB, RW, &reg), 0);
		CHECK_EQ(tc_lease(sw, reg, 0, 2 * MB, RW, NULL), ENOSPC);
		td_sync(&d, NULL);
		CHECK_EQ(td_count(&d, "call copy "), 2); /* w's two leases above only */
		CHECK_EQ(td_get(&d, "cache_hits"), 1);
		close(sw);
	}
	close(s);
	close(fd);
}

static void test_window(void)
{
	char extra[256];

	snprintf(extra, sizeof(extra),
		 "[tenant w]\nuids = %u\niova_start = 0x40000000\niova_last = 0x7fffffff\n",
		 T_UID_A);
	run(conf(extra), window_tenant);
}

/* ---- the table of bad requests -------------------------------------------- */

struct state {
	long long calls, mapped, leases, regs, areas, alloc, sessions;
	int fds;
};

static void snap(struct tdaemon *d, struct state *st)
{
	td_sync(d, NULL);
	st->calls = td_get(d, "calls");
	st->mapped = td_get(d, "mapped");
	st->leases = td_get(d, "leases");
	st->regs = td_get(d, "registrations");
	st->areas = td_get(d, "areas");
	st->alloc = td_get(d, "alloc_outstanding");
	st->sessions = td_get(d, "sessions");
	st->fds = td_fds(d);
}

static void same(struct tdaemon *d, const struct state *a, const char *what)
{
	struct state b;

	snap(d, &b);
	if (a->calls != b.calls || a->mapped != b.mapped || a->leases != b.leases ||
	    a->regs != b.regs || a->areas != b.areas || a->alloc != b.alloc || a->fds != b.fds ||
	    a->sessions != b.sessions) {
		fprintf(stderr,
			"%s: state changed: calls %lld->%lld mapped %lld->%lld leases %lld->%lld "
			"regs %lld->%lld areas %lld->%lld alloc %lld->%lld fds %d->%d\n",
			what, a->calls, b.calls, a->mapped, b.mapped, a->leases, b.leases, a->regs,
			b.regs, a->areas, b.areas, a->alloc, b.alloc, a->fds, b.fds);
		t_failures++;
	}
}

/* Send raw bytes; expect status err; state unchanged; session alive or ended. */
static void bad(struct tdaemon *d, int *s, const void *buf, size_t len, const int *fds,
		unsigned int nfds, int err, int fatal, const char *what)
{
	struct state a;
	int rc;

	snap(d, &a);
	rc = tc_rpc_raw(*s, buf, len, fds, nfds);
	if (rc != err) {
		fprintf(stderr, "%s: status %d, expected %d\n", what, rc, err);
		t_failures++;
	}
	if (fatal) {
		if (!tc_closed(*s)) {
			fprintf(stderr, "%s: session not ended\n", what);
			t_failures++;
		}
		close(*s);
		*s = hello(d, "a");
		/* wait until the old session is reclaimed */
		/* the new session replaces the old one once it is reclaimed */
		for (int i = 0; i < 500 && (td_sync(d, NULL), td_get(d, "sessions") != a.sessions);
		     i++)
			usleep(10000);
	} else {
		struct dmac_proto_stats st;

		CHECK_EQ(tc_stats(*s, &st), 0); /* still served */
	}
	same(d, &a, what);
}

static int send_fds_raw(int sock, const void *buf, size_t len, const int *fds, unsigned int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 32)];
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

static void bad_requests_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	uint64_t buf[256], reg;
	struct dmac_proto_lease_item it;
	struct dmac_proto_reg_range rr;
	struct dmac_proto_hdr *h = (void *)buf;
	struct dmac_proto_vec_req *vr = (void *)buf;
	size_t len;
	int s, holder, mfd, unsealed, pfd[2], sp[2], reg_file;

	/* a holder session keeps a registration and a lease throughout; the bad
	 * requests go on another session, which sessions-ending errors replace */
	holder = hello(&d, "a");
	s = hello(&d, "a");
	mfd = t_memfd(2 * MB, 1);
	unsealed = t_memfd(2 * MB, 0);
	CHECK_EQ(tc_register(holder, mfd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(holder, reg, 0, MB, RW, NULL), 0);

	/* size: shorter than the header, shorter than STATS, size field != length */
	memset(buf, 0, sizeof(buf));
	h->size = 16;
	h->opcode = DMAC_OP_STATS;
	bad(&d, &s, buf, 16, NULL, 0, EINVAL, 0, "short packet");
	CHECK_EQ(dmac_proto_encode_stats_req(buf, sizeof(buf), 1, &len), 0);
	h->size = 32;
	bad(&d, &s, buf, 24, NULL, 0, EINVAL, 0, "size field != length");
	/* longer than known with a zero tail: accepted; non-zero tail: E2BIG */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(dmac_proto_encode_stats_req(buf, sizeof(buf), 1, &len), 0);
	h->size = 40;
	CHECK_EQ(tc_rpc_raw(s, buf, 40, NULL, 0), 0);
	buf[4] = 1;
	bad(&d, &s, buf, 40, NULL, 0, E2BIG, 0, "long with non-zero tail");
	/* non-zero reserved */
	it = (struct dmac_proto_lease_item){reg, MB, 4096, RW, 0};
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, &it, 1, &len), 0);
	vr->reserved = 1;
	bad(&d, &s, buf, len, NULL, 0, EOPNOTSUPP, 0, "reserved field");
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, &it, 1, &len), 0);
	vr->flags = 4;
	bad(&d, &s, buf, len, NULL, 0, EOPNOTSUPP, 0, "unknown request flag");
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, &it, 1, &len), 0);
	((struct dmac_proto_lease_item *)(vr + 1))->prot = 4;
	bad(&d, &s, buf, len, NULL, 0, EOPNOTSUPP, 0, "unknown prot bit");
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, &it, 1, &len), 0);
	h->status = 5;
	bad(&d, &s, buf, len, NULL, 0, EOPNOTSUPP, 0, "status in a request");
	/* unknown opcodes */
	CHECK_EQ(dmac_proto_encode_stats_req(buf, sizeof(buf), 1, &len), 0);
	h->opcode = 99;
	bad(&d, &s, buf, len, NULL, 0, ENOTTY, 0, "unknown opcode 99");
	h->opcode = 0;
	bad(&d, &s, buf, len, NULL, 0, ENOTTY, 0, "opcode 0");
	/* HELLO fields (checked before the session's state): version 0, bad name */
	CHECK_EQ(dmac_proto_encode_hello_req(buf, sizeof(buf), 4, "a", &len), 0);
	((struct dmac_proto_hello_req *)buf)->version = 0;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "HELLO version 0");
	CHECK_EQ(dmac_proto_encode_hello_req(buf, sizeof(buf), 4, "a", &len), 0);
	((struct dmac_proto_hello_req *)buf)->tenant[0] = '/';
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "HELLO bad tenant name");
	/* QUERY max_count 0 and DMAC_PROTO_MAX_VEC + 1 */
	CHECK_EQ(dmac_proto_encode_query_req(buf, sizeof(buf), 5, 0, 1, &len), 0);
	((struct dmac_proto_query_req *)buf)->max_count = 0;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "QUERY max_count 0");
	((struct dmac_proto_query_req *)buf)->max_count = DMAC_PROTO_MAX_VEC + 1;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "QUERY max_count 257");
	/* a vector of DMAC_PROTO_MAX_VEC + 1 elements */
	{
		static uint64_t
		    big[(sizeof(struct dmac_proto_vec_req) +
			 (DMAC_PROTO_MAX_VEC + 1) * sizeof(struct dmac_proto_release_item)) /
			8];
		struct dmac_proto_vec_req *bv = (void *)big;
		struct dmac_proto_release_item *items = (void *)(bv + 1);

		memset(big, 0, sizeof(big));
		bv->hdr.size = sizeof(big);
		bv->hdr.opcode = DMAC_OP_RELEASE;
		bv->vec.count = DMAC_PROTO_MAX_VEC + 1;
		bv->vec.elem_size = sizeof(*items);
		bv->vec.vec_offset = sizeof(*bv);
		for (unsigned int i = 0; i <= DMAC_PROTO_MAX_VEC; i++)
			items[i] = (struct dmac_proto_release_item){i + 1, 1};
		bad(&d, &s, big, sizeof(big), NULL, 0, EINVAL, 0, "257 elements");
	}
	/* a packet longer than DMAC_PROTO_MAX_MSG: MSG_TRUNC ends the session */
	{
		static uint64_t huge[DMAC_PROTO_MAX_MSG / 8 + 8];
		struct state a;

		memset(huge, 0, sizeof(huge));
		((struct dmac_proto_hdr *)huge)->size = sizeof(huge);
		((struct dmac_proto_hdr *)huge)->opcode = DMAC_OP_STATS;
		snap(&d, &a);
		CHECK_EQ(send(s, huge, sizeof(huge), MSG_NOSIGNAL), (ssize_t)sizeof(huge));
		{
			struct pollfd p = {.fd = s, .events = POLLIN};
			uint64_t rb[8];

			CHECK_EQ(poll(&p, 1, 5000), 1);
			CHECK_EQ(recv(s, rb, sizeof(rb), 0), sizeof(struct dmac_proto_hdr));
			CHECK_EQ(((struct dmac_proto_hdr *)rb)->status, EMSGSIZE);
			CHECK(tc_closed(s));
		}
		close(s);
		s = hello(&d, "a");
		for (int i = 0;
		     i < 500 && (td_sync(&d, NULL), td_get(&d, "sessions") != a.sessions); i++)
			usleep(10000);
		same(&d, &a, "packet > 64 KiB");
	}
	/* length 0, offset + length overflow, misalignment */
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, &it, 1, &len), 0);
	((struct dmac_proto_lease_item *)(vr + 1))->length = 0;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "length 0");
	((struct dmac_proto_lease_item *)(vr + 1))->offset = UINT64_MAX - 4095;
	((struct dmac_proto_lease_item *)(vr + 1))->length = 8192;
	bad(&d, &s, buf, len, NULL, 0, EOVERFLOW, 0, "offset + length wraps");
	((struct dmac_proto_lease_item *)(vr + 1))->offset = 100;
	((struct dmac_proto_lease_item *)(vr + 1))->length = 4096;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "misaligned offset");
	((struct dmac_proto_lease_item *)(vr + 1))->offset = 0;
	((struct dmac_proto_lease_item *)(vr + 1))->length = 4097;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "misaligned length");
	/* vector count 0 and too many elements */
	CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, &it, 1, &len), 0);
	vr->vec.count = 0;
	bad(&d, &s, buf, len, NULL, 0, EINVAL, 0, "count 0 with trailing element");
	/* register: range beyond the file, misaligned, unsealed memfd */
	rr =
	    (struct dmac_proto_reg_range){.fd_index = 0, .prot = RW, .offset = 0, .length = 4 * MB};
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 3, &rr, 1, 1, &len), 0);
	bad(&d, &s, buf, len, &mfd, 1, ERANGE, 0, "range beyond the file");
	rr.length = 4096;
	rr.offset = 2 * MB - 4096;
	rr.prot = 0;
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 3, &rr, 1, 1, &len), -EINVAL);
	rr.prot = RW;
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 3, &rr, 1, 1, &len), 0);
	bad(&d, &s, buf, len, &unsealed, 1, EPERM, 0, "unsealed memfd");
	/* fd count mismatch: a REGISTER referencing fd 0 sent without fds */
	bad(&d, &s, buf, len, NULL, 0, EBADR, 1, "REGISTER without its fd");
	/* wrong fd types end the session */
	CHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	bad(&d, &s, buf, len, &pfd[0], 1, EBADFD, 1, "pipe");
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	bad(&d, &s, buf, len, &sp[0], 1, EBADFD, 1, "socket");
	reg_file = open(self_path, O_RDONLY | O_CLOEXEC);
	CHECK(reg_file >= 0);
	bad(&d, &s, buf, len, &reg_file, 1, EBADFD, 1, "regular file");
	/* 17 fds: MSG_CTRUNC ends the session */
	{
		int many[17];
		struct state a;

		for (int i = 0; i < 17; i++)
			many[i] = mfd;
		snap(&d, &a);
		CHECK_EQ(send_fds_raw(s, buf, len, many, 17), 0);
		{
			struct pollfd p = {.fd = s, .events = POLLIN};
			uint64_t rb[64];
			ssize_t n;

			CHECK_EQ(poll(&p, 1, 5000), 1);
			n = recv(s, rb, sizeof(rb), 0);
			CHECK(n >= (ssize_t)sizeof(struct dmac_proto_hdr));
			if (n >= (ssize_t)sizeof(struct dmac_proto_hdr))
				CHECK_EQ(((struct dmac_proto_hdr *)rb)->status, ETOOMANYREFS);
		}
		CHECK(tc_closed(s));
		close(s);
		s = hello(&d, "a");
		for (int i = 0;
		     i < 500 && (td_sync(&d, NULL), td_get(&d, "sessions") != a.sessions); i++)
			usleep(10000);
		same(&d, &a, "17 fds");
	}
	/* REGISTER referencing fd index 1 of a single fd */
	rr.fd_index = 0;
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 3, &rr, 1, 1, &len), 0);
	((struct dmac_proto_reg_range *)(vr + 1))->fd_index = 1;
	bad(&d, &s, buf, len, &mfd, 1, EBADR, 1, "fd index out of range");

	close(pfd[0]);
	close(pfd[1]);
	close(sp[0]);
	close(sp[1]);
	close(reg_file);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "leases"), 1);
	CHECK_EQ(td_get(&d, "registrations"), 1);
	close(holder);
	close(s);
	close(mfd);
	close(unsealed);
}

static void test_bad_requests(const char *self)
{
	self_path = self;
	run(conf(NULL), bad_requests_tenant);
}

/* ---- fault injection ------------------------------------------------------ */

/* Register two memfds and lease from both in one batch each; returns the
 * number of steps that failed (0: both succeeded). @p ctl is applied before
 * the REGISTER; @p ctl_close (or NULL) just before the session is closed, so
 * that it fails a call of the teardown (the unmaps of reclaim). */
static int fault_round2(struct tdaemon *d, const char *ctl, const char *ctl_close, int *fired)
{
	struct dmac_proto_reg_range rr[3] = {
	    {.fd_index = 0, .prot = RW, .offset = 0, .length = MB},
	    {.fd_index = 1, .prot = RW, .offset = 0, .length = 2 * MB},
	    {.fd_index = 0, .prot = RW, .offset = MB, .length = MB},
	};
	struct dmac_proto_lease_item it[3];
	uint64_t buf[128];
	int fds[2], s, rc, failed = 0;
	const struct dmac_proto_reg_result *res;
	size_t len;

	fds[0] = t_memfd(2 * MB, 1);
	fds[1] = t_memfd(2 * MB, 1);
	s = hello(d, "a");
	td_sync(d, ctl);
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 1, rr, 3, 2, &len), 0);
	rc = tc_rpc_raw(s, buf, len, fds, 2);
	if (rc == 0) {
		res = tc_view.vec;
		it[0] = (struct dmac_proto_lease_item){res[0].reg_id, 0, MB, RW, 0};
		it[1] = (struct dmac_proto_lease_item){res[1].reg_id, 0, 2 * MB, RW, 0};
		it[2] = (struct dmac_proto_lease_item){res[2].reg_id, 0, MB, RW, 0};
		CHECK_EQ(dmac_proto_encode_lease_req(buf, sizeof(buf), 2, it, 3, &len), 0);
		rc = tc_rpc_raw(s, buf, len, NULL, 0);
		if (rc) {
			CHECK(rc == ENOMEM || rc == EIO);
			failed++;
			/* nothing of the batch stays */
			td_sync(d, NULL);
			CHECK_EQ(td_get(d, "leases"), 0);
			CHECK_EQ(td_get(d, "tenant_copies"), 0);
		}
	} else {
		CHECK(rc == ENOMEM || rc == EIO);
		failed++;
		td_sync(d, NULL);
		CHECK_EQ(td_get(d, "registrations"), 0);
		CHECK_EQ(td_get(d, "mapped"), 0);
	}
	td_sync(d, NULL);
	*fired = (int)td_get(d, "failed") + (int)td_get(d, "alloc_fired");
	/* disarm whatever did not fire, then let the client go */
	td_sync(d, "backend_fail 0 0");
	td_sync(d, "alloc_fail 0");
	if (ctl_close)
		td_sync(d, ctl_close);
	close(s);
	close(fds[0]);
	close(fds[1]);
	return failed;
}

static int fault_round(struct tdaemon *d, const char *ctl, int *fired)
{
	return fault_round2(d, ctl, NULL, fired);
}

static void wait_no_session(struct tdaemon *d)
{
	for (int i = 0; i < 500 && (td_sync(d, NULL), td_get(d, "sessions") != 0); i++)
		usleep(10000);
}

/*
 * The teardown's backend calls (the unmaps of tenant copies and of master
 * areas when the session goes), failed one at a time: the mapping stays as
 * it was (kept, counted in unmap_failures), a new round meanwhile gets other
 * IOVAs (the backend refuses no map or copy as overlapping), and the retry
 * timer unmaps it. Returns the number of injection points reached.
 */
static int fault_teardown(struct tdaemon *d, long long alloc0, int fds0)
{
	int n, fired_before = (int)td_get(d, "failed");

	for (n = 1; n < 100; n++) {
		char ctl[64];
		int fired, now;

		snprintf(ctl, sizeof(ctl), "backend_fail %d %d", n, EIO);
		CHECK_EQ(fault_round2(d, NULL, ctl, &fired), 0);
		wait_no_session(d);
		td_sync(d, NULL);
		now = (int)td_get(d, "failed");
		if (now == fired_before)
			break; /* the teardown has fewer than n calls */
		fired_before = now;
		/* the failed unmap left its mapping, counted */
		CHECK(td_get(d, "unmap_failures") >= 1);
		CHECK(td_get(d, "mapped") >= 1);
		/* another client meanwhile: served, at other IOVAs */
		CHECK_EQ(fault_round(d, NULL, &fired), 0);
		wait_no_session(d);
		td_sync(d, NULL);
		CHECK_EQ(td_get(d, "overlap_refused"), 0);
		/* the retry (every second) unmaps what was kept */
		CHECK_EQ(td_wait(d, "unmap_failures", 0), 0);
		CHECK_EQ(td_wait(d, "mapped", 0), 0);
		CHECK_EQ(td_get(d, "areas"), 0);
		CHECK_EQ(td_get(d, "cache_check"), 0);
		CHECK_EQ(td_get(d, "alloc_outstanding"), alloc0);
		CHECK_EQ(td_fds(d), fds0);
	}
	td_sync(d, "backend_fail 0 0");
	return n - 1;
}

static int fault_backend; /* test_fault(): backend calls (1) or allocations (0) */

static void fault_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	int backend = fault_backend;
	long long alloc0;
	int fds0, n, fired_before = 0;

	{
		int s = hello(&d, "b");

		close(s);
	}
	for (int i = 0; i < 500 && (td_sync(&d, NULL), td_get(&d, "sessions") != 0); i++)
		usleep(10000);
	alloc0 = td_get(&d, "alloc_outstanding");
	fds0 = td_fds(&d);
	for (n = 1; n < 200; n++) {
		char ctl[64];
		int failed, fired;

		if (backend)
			snprintf(ctl, sizeof(ctl), "backend_fail %d %d", n, n % 2 ? ENOMEM : EIO);
		else
			snprintf(ctl, sizeof(ctl), "alloc_fail %d", n);
		failed = fault_round(&d, ctl, &fired);
		for (int i = 0; i < 500 && (td_sync(&d, NULL), td_get(&d, "sessions") != 0); i++)
			usleep(10000);
		CHECK_EQ(td_get(&d, "mapped"), 0);
		CHECK_EQ(td_get(&d, "leases"), 0);
		CHECK_EQ(td_get(&d, "registrations"), 0);
		CHECK_EQ(td_get(&d, "areas"), 0);
		CHECK_EQ(td_get(&d, "cache_check"), 0);
		CHECK_EQ(td_get(&d, "alloc_outstanding"), alloc0);
		CHECK_EQ(td_fds(&d), fds0);
		if (backend) {
			int now = (int)td_get(&d, "failed");

			if (now == fired_before && !failed)
				break; /* the Nth call was never reached: nothing failed */
			fired_before = now;
		} else if (!failed) {
			break;
		}
		(void)fired;
	}
	fprintf(stderr, "fault (%s): %d injection points\n", backend ? "backend" : "alloc", n - 1);
	CHECK(n > 2 && n < 200);
	CHECK_EQ(td_get(&d, "overlap_refused"), 0);
	if (backend) {
		/* 2 areas and 3 copies at least: every one of their unmaps */
		n = fault_teardown(&d, alloc0, fds0);
		fprintf(stderr, "fault (backend, teardown): %d injection points\n", n);
		CHECK(n >= 5 && n < 99);
	}
}

static void test_fault(int backend)
{
	struct tdaemon d;
	char extra[512];

	/* budget 0: unreferenced areas are evicted at once, so "nothing mapped"
	 * is the baseline once the client is gone */
	snprintf(extra, sizeof(extra), "pinned_budget = 0\n%s", conf(NULL));
	td_start(&d, extra);
	fault_backend = backend;
	as_tenant(&d, fault_tenant);
	td_stop(&d);
}

/* A tenant that says HELLO as a and goes. */
static void hello_a_tenant(void *arg)
{
	close(hello(arg, "a"));
}

/* Start-up fails cleanly (exit 1, nothing listening, no leak under ASan) when
 * any backend call of the engine's creation fails: open, master space,
 * IOVA ranges, each tenant's space. */
static void test_startup_fault(void)
{
	const char *bin = getenv("DMACACHED_TEST");
	struct tdaemon d;
	int n;

	/* a first run only to get a directory, config and socket path */
	td_start(&d, conf(NULL));
	kill(d.pid, SIGTERM);
	waitpid(d.pid, NULL, 0);
	/* start-up's backend calls: open, the master space, a's and b's spaces,
	 * then the usable IOVA ranges of the three (the IOVA plan reads them
	 * once every space exists): calls 1..7 fail start-up; call 8 is the
	 * first map, never reached */
	for (n = 1; n <= 8; n++) {
		char env[32];
		int status = 0, i;
		pid_t p;

		snprintf(env, sizeof(env), "%d:%d", n, ENOMEM);
		p = fork();
		if (p == 0) {
			int nul = open("/dev/null", O_WRONLY);

			dup2(nul, 2);
			setenv("DMAC_TEST_BACKEND_FAIL", env, 1);
			execl(bin, bin, "--foreground", "--config", d.conf, (char *)NULL);
			_exit(127);
		}
		for (i = 0; i < 500; i++) {
			if (waitpid(p, &status, WNOHANG) == p)
				break;
			if (n == 8 && access(d.sock, F_OK) == 0)
				break;
			usleep(10000);
		}
		CHECK(i < 500);
		if (n < 8) {
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
			CHECK(access(d.sock, F_OK) != 0);
		} else {
			d.pid = p;
			/* (no dump: this daemon was not started with DMAC_TEST_DUMP) */
			t_as_user(T_UID_A, hello_a_tenant, &d);
			td_stop(&d);
		}
	}
}

/* ---- reclaim ---------------------------------------------------------------- */

static void sigkill_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	int obs, sync_pipe[2], go_pipe[2];
	pid_t child;
	char c;

	obs = hello(&d, "b");
	CHECK_EQ(pipe(sync_pipe), 0);
	CHECK_EQ(pipe(go_pipe), 0);
	child = fork();
	if (child == 0) {
		struct dmac_proto_lease_item it;
		uint64_t buf[64], reg;
		size_t len;
		int s = hello(&d, "a"), fd = t_memfd(4 * MB, 1);

		if (tc_register(s, fd, 0, 4 * MB, RW, &reg) ||
		    tc_lease(s, reg, 0, 2 * MB, RW, NULL))
			_exit(1);
		/* mid-request: send a LEASE and never read the reply */
		it = (struct dmac_proto_lease_item){reg, 2 * MB, 2 * MB, RW, 0};
		dmac_proto_encode_lease_req(buf, sizeof(buf), 9, &it, 1, &len);
		if (write(sync_pipe[1], "x", 1) != 1)
			_exit(1);
		if (read(go_pipe[0], &c, 1) != 1)
			_exit(1);
		dmac_proto_send(s, buf, len, NULL, 0);
		pause();
		_exit(0);
	}
	CHECK_EQ(read(sync_pipe[0], &c, 1), 1);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "leases"), 1);
	CHECK_EQ(td_get(&d, "sessions"), 2);
	CHECK_EQ(write(go_pipe[1], "g", 1), 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* everything reclaimed (polled, bounded) */
	CHECK_EQ(td_wait(&d, "sessions", 1), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	CHECK_EQ(td_get(&d, "registrations"), 0);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenant_copies"), 0);
	CHECK_EQ(td_get(&d, "mapped"), 1); /* the master area stays cached */
	close(obs);
	close(sync_pipe[0]);
	close(sync_pipe[1]);
	close(go_pipe[0]);
	close(go_pipe[1]);
}

static void test_sigkill(void)
{
	run(conf(NULL), sigkill_tenant);
}

/* The session ends when its process exits even while another process still
 * holds the socket (inherited across fork): the pidfd, not the hang-up. */
static void pidfd_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	int obs, ready[2];
	pid_t a, b = 0;

	obs = hello(&d, "b");
	CHECK_EQ(pipe(ready), 0);
	a = fork();
	if (a == 0) {
		uint64_t reg;
		int s = hello(&d, "a"), fd = t_memfd(2 * MB, 1);
		pid_t holder;

		if (tc_register(s, fd, 0, 2 * MB, RW, &reg) ||
		    tc_lease(s, reg, 0, 2 * MB, RW, NULL))
			_exit(1);
		holder = fork(); /* keeps the socket open after a dies */
		if (holder == 0) {
			pause();
			_exit(0);
		}
		if (write(ready[1], &holder, sizeof(holder)) != sizeof(holder))
			_exit(1);
		pause();
		_exit(0);
	}
	CHECK_EQ(read(ready[0], &b, sizeof(b)), sizeof(b));
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "leases"), 1);
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	CHECK_EQ(td_wait(&d, "sessions", 1), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	CHECK_EQ(td_get(&d, "registrations"), 0);
	/* the holder still has the socket: it was the pidfd that ended the session */
	CHECK_EQ(kill(b, 0), 0);
	kill(b, SIGKILL);
	close(obs);
	close(ready[0]);
	close(ready[1]);
}

static void test_pidfd(void)
{
	run(conf(NULL), pidfd_tenant);
}

/* SIGTERM with live sessions and leases: drain and exit 0 (ASan: no leak). */
static void sigterm_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	uint64_t reg;
	int s, fd;

	s = hello(&d, "a");
	fd = t_memfd(2 * MB, 1);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, NULL), 0);
	td_kill(&d, SIGTERM); /* while this session holds a lease */
	CHECK(tc_closed(s));
	close(s);
	close(fd);
}

static void test_sigterm(void)
{
	struct tdaemon d;

	td_start(&d, conf(NULL));
	t_as_user(T_UID_A, sigterm_tenant, &d);
	td_stop(&d); /* checks exit status 0 and the socket unlinked */
}

static void sighup_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	char extra[512];
	int s, sb;

	sb = hello(&d, "b");
	{
		int fd = t_memfd(MB, 1);
		uint64_t reg;

		CHECK_EQ(tc_register(sb, fd, 0, MB, RW, &reg), 0);
		CHECK_EQ(tc_lease(sb, reg, 0, MB, RW, NULL), 0);
		close(fd);
	}
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "c"), ENOENT);
	/* add c, drop b (which has a live session), change a's quota */
	snprintf(extra, sizeof(extra),
		 "[tenant a]\nuids = %u\nquota_leases = 7\n[tenant c]\nuids = %u\n", T_UID_A,
		 T_UID_A);
	td_write_conf(&d, extra);
	td_kill(&d, SIGHUP);
	td_sync(&d, NULL); /* signals are handled in order: the reload is done */
	CHECK_EQ(tc_hello(s, "c"), 0);
	close(s);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "a"), 0);
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->quota_leases, 7);
	close(s);
	/* b's session was ended by the reload and reclaimed like a death */
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenants"), 2);
	CHECK_EQ(td_get(&d, "leases"), 0);
	CHECK_EQ(td_get(&d, "registrations"), 0);
	CHECK(tc_closed(sb) == 1);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "b"), ENOENT); /* and no new session */
	close(s);
	close(sb);
	s = hello(&d, "a");
	/* a bad file is refused, the running config kept */
	td_write_conf(&d, "[tenant a]\nbogus = 1\n");
	td_kill(&d, SIGHUP);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenants"), 2);
	close(s);
}

static void test_sighup(void)
{
	run(conf(NULL), sighup_tenant);
}

static void test_socket(void)
{
	struct tdaemon d;
	struct stat st;
	char dir[160];

	td_start(&d, conf(NULL));
	snprintf(dir, sizeof(dir), "%s/run", d.dir);
	/* no socket_group: anyone may reach the socket (HELLO decides) */
	CHECK_EQ(stat(dir, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0755);
	CHECK_EQ(st.st_uid, 0);
	CHECK_EQ(lstat(d.sock, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0666);
	CHECK_EQ(st.st_uid, 0);
	/* kill -9 leaves a stale socket; a restart replaces it */
	kill(d.pid, SIGKILL);
	waitpid(d.pid, NULL, 0);
	CHECK_EQ(lstat(d.sock, &st), 0);
	{
		const char *bin = getenv("DMACACHED_TEST");
		pid_t p = fork();
		int status;

		if (p == 0) {
			setenv("DMAC_TEST_DUMP", d.dump, 1);
			execl(bin, bin, "--foreground", "--config", d.conf, (char *)NULL);
			_exit(127);
		}
		d.pid = p;
		for (int i = 0; i < 500; i++) {
			int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
			struct sockaddr_un sa = {.sun_family = AF_UNIX};

			strcpy(sa.sun_path, d.sock);
			if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				close(s);
				break;
			}
			close(s);
			usleep(10000);
		}
		as_tenant(&d, hello_a_tenant);
		kill(p, SIGTERM);
		CHECK_EQ(waitpid(p, &status, 0), p);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		/* a regular file at the socket path: refused, left alone */
		{
			int fd = open(d.sock, O_CREAT | O_WRONLY, 0600);

			close(fd);
		}
		p = fork();
		if (p == 0) {
			int nul = open("/dev/null", O_WRONLY);

			dup2(nul, 2);
			execl(bin, bin, "--foreground", "--config", d.conf, (char *)NULL);
			_exit(127);
		}
		CHECK_EQ(waitpid(p, &status, 0), p);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
		CHECK_EQ(lstat(d.sock, &st), 0);
		CHECK(S_ISREG(st.st_mode));
		unlink(d.sock);
	}
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d.dir);
		CHECK_EQ(system(cmd), 0);
	}
}

/* The shipped binary never offers the test backend; --check-config works. */
static void test_shipped(void)
{
	const char *shipped = getenv("DMACACHED");
	char dir[] = "/tmp/dmacd-ship-XXXXXX", path[128], cmd[512];
	FILE *f;

	CHECK(shipped != NULL);
	if (!shipped || !mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[daemon]\nsocket = %s/s.sock\nbackend = test\n", dir);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' --check-config %s 2>%s/err", shipped, path, dir);
	CHECK_EQ(WEXITSTATUS(system(cmd)), 1);
	snprintf(cmd, sizeof(cmd), "grep -q '%s:3: backend: .test. is not offered' %s/err", path,
		 dir);
	CHECK_EQ(WEXITSTATUS(system(cmd)), 0);
	snprintf(cmd, sizeof(cmd), "'%s' --foreground --config %s 2>/dev/null", shipped, path);
	CHECK_EQ(WEXITSTATUS(system(cmd)), 1);
	f = fopen(path, "w");
	fprintf(f, "[daemon]\nsocket = %s/s.sock\n[tenant a]\nuids = 0\n", dir);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' --check-config %s >/dev/null", shipped, path);
	CHECK_EQ(WEXITSTATUS(system(cmd)), 0);
	snprintf(cmd, sizeof(cmd), "'%s' --foreground --backend test --config %s 2>/dev/null",
		 shipped, path);
	CHECK_EQ(WEXITSTATUS(system(cmd)), 2); /* a usage error */
	CHECK(access(path, F_OK) == 0);
	snprintf(cmd, sizeof(cmd), "'%s' --version | grep -q '^dmacached '", shipped);
	CHECK_EQ(WEXITSTATUS(system(cmd)), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "basic"))
		test_basic();
	else if (!strcmp(t, "coalesce"))
		test_coalesce();
	else if (!strcmp(t, "overlap"))
		test_overlap();
	else if (!strcmp(t, "hugetlb"))
		test_hugetlb();
	else if (!strcmp(t, "hello"))
		test_hello();
	else if (!strcmp(t, "isolation"))
		test_isolation();
	else if (!strcmp(t, "quota"))
		test_quota();
	else if (!strcmp(t, "batch"))
		test_batch_atomic();
	else if (!strcmp(t, "register-mixed"))
		test_register_mixed();
	else if (!strcmp(t, "window"))
		test_window();
	else if (!strcmp(t, "bad-requests"))
		test_bad_requests(argv[0]);
	else if (!strcmp(t, "fault-backend"))
		test_fault(1);
	else if (!strcmp(t, "fault-alloc"))
		test_fault(0);
	else if (!strcmp(t, "startup-fault"))
		test_startup_fault();
	else if (!strcmp(t, "sigkill"))
		test_sigkill();
	else if (!strcmp(t, "pidfd"))
		test_pidfd();
	else if (!strcmp(t, "sigterm"))
		test_sigterm();
	else if (!strcmp(t, "sighup"))
		test_sighup();
	else if (!strcmp(t, "socket"))
		test_socket();
	else if (!strcmp(t, "shipped"))
		test_shipped();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		return 2;
	}
	if (t_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
		return 1;
	}
	printf("%s: all checks passed\n", t);
	return 0;
}
