/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Daemon suite: admin sessions and the operator view (protocol.md 6.8, 6.9).
 * One dmacached-test per test, as in test_daemon.c; test name in argv[1].
 *
 * Invariants checked:
 * - HELLO as "@admin" binds an admin session for uid 0 and for a non-root
 *   peer whose primary or supplementary group is listed in admin_gids, EACCES
 *   for anyone else (non-root peers are t_as() children: root dropped for
 *   good, so SO_PEERCRED/SO_PEERGROUPS see their ids); an unknown ordinary
 *   tenant stays ENOENT.
 * - An admin session: STATS, QUERY (empty), ADMIN_TENANTS, ADMIN_LEASES work;
 *   REGISTER and LEASE are EPERM and map nothing. Ordinary and unbound
 *   sessions get EPERM for the admin opcodes.
 * - ADMIN_TENANTS / ADMIN_LEASES list exactly what two tenants hold (names,
 *   counts, bytes, quotas, windows, lease ids, generations, IOVAs, owners),
 *   pages chain through next_cursor, and the cursor is stable across a lease
 *   created or released between two pages.
 * - `dmacachectl --json tenants` and `leases --all` print valid JSON (checked
 *   with python3 -m json.tool) whose contents match.
 * - Tenants and, in admin-lists and admin-ctl, the admin run as non-root uid
 *   T_UID_A whose supplementary group T_GID_X is the admin group; uid 0 is
 *   used only where root is the point (root may always open an admin session).
 * Concurrency: single-threaded; t_as() children for everything non-root.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MB  (UINT64_C(1) << 20)
#define KB4 UINT64_C(4096)
#define RW  DMAC_PROTO_PROT_ALL

static uint64_t reqbuf[DMAC_PROTO_MAX_MSG / 8];
static uint64_t tag = 1000;
static struct tdaemon *t_arg_daemon;	      /* the daemon of hello_case_tenant() */
static const gid_t admin_group[] = {T_GID_X}; /* the admin group, as a supplementary group */

static uint64_t hello_session_id(void)
{
	return ((const struct dmac_proto_hello_rep *)tc_reply)->session_id;
}

/* One page of ADMIN_TENANTS (leases = 0) or ADMIN_LEASES (leases = 1). */
static int admin_page(int s, int leases, uint64_t cursor, uint32_t max, void *out, uint32_t *n,
		      uint64_t *next)
{
	size_t len, esz = leases ? sizeof(struct dmac_proto_admin_lease)
				 : sizeof(struct dmac_proto_tenant_info);
	int rc;

	rc = leases ? dmac_proto_encode_admin_leases_req(reqbuf, sizeof(reqbuf), tag++, cursor, max,
							 &len)
		    : dmac_proto_encode_admin_tenants_req(reqbuf, sizeof(reqbuf), tag++, cursor,
							  max, &len);
	if (rc)
		return -2;
	rc = tc_rpc_raw(s, reqbuf, len, NULL, 0);
	if (rc)
		return rc;
	*n = tc_view.count;
	*next = ((const struct dmac_proto_query_rep *)tc_reply)->next_cursor;
	for (uint32_t i = 0; i < tc_view.count; i++)
		memcpy((char *)out + i * esz, dmac_proto_view_elem(&tc_view, i), esz);
	return 0;
}

/* A non-root peer's HELLO: as whom, and what it must get. */
struct hello_case {
	const char *tenant;
	int expect; /* HELLO status; on 0 ADMIN_TENANTS must answer 0 (admin) or EPERM */
};

static void hello_case_tenant(void *arg)
{
	struct tdaemon *d = t_arg_daemon;
	const struct hello_case *hc = arg;
	struct dmac_proto_tenant_info t[4];
	uint64_t next;
	uint32_t n;
	int s = tc_connect(d);

	CHECK_EQ(tc_hello(s, hc->tenant), hc->expect);
	if (hc->expect == 0)
		CHECK_EQ(admin_page(s, 0, 0, 4, t, &n, &next),
			 !strcmp(hc->tenant, "@admin") ? 0 : EPERM);
	close(s);
}

/*
 * Connect as uid @p uid, primary gid @p gid and supplementary groups
 * @p groups (a t_as() child) and say HELLO as @p tenant; expect @p expect.
 */
static void hello_as(struct tdaemon *d, uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		     const char *tenant, int expect)
{
	struct hello_case hc = {tenant, expect};

	t_arg_daemon = d;
	if (t_as(uid, gid, groups, ngroups, hello_case_tenant, &hc))
		fprintf(stderr, "  (HELLO as '%s' by uid %u gid %u + %d group(s))\n", tenant,
			(unsigned int)uid, (unsigned int)gid, ngroups);
}

/* An ordinary session and an unbound one: EPERM for the admin opcodes. */
static void ordinary_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_tenant_info ti[4];
	uint64_t reg, next;
	uint32_t n;
	int o = tc_connect(d), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(admin_page(o, 0, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(tc_hello(o, "nosuch"), ENOENT);
	CHECK_EQ(admin_page(o, 1, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(tc_hello(o, "a"), 0);
	CHECK_EQ(admin_page(o, 0, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(admin_page(o, 1, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(tc_register(o, fd, 0, 2 * MB, RW, &reg), 0);
	td_sync(d, NULL);
	CHECK_EQ(td_get(d, "registrations"), 1);
	close(o);
	close(fd);
}

/* ---- admin HELLO, who may, what it may do ---------------------------------- */

static void test_hello(void)
{
	static const gid_t other_then_admin[] = {T_GID_Y, T_GID_X};
	struct dmac_proto_lease_info info[2];
	struct dmac_proto_tenant_info ti[4];
	struct dmac_proto_lease_grant g;
	struct dmac_proto_stats st;
	struct tdaemon d;
	uint64_t reg, next;
	uint32_t n;
	char conf[256];
	int s, u, fd;

	snprintf(conf, sizeof(conf), "admin_gids = %u\n[tenant a]\nuids = %u\n", T_GID_X, T_UID_A);
	td_start(&d, conf);
	fd = t_memfd(2 * MB, 1);

	/* root: admin session, whatever admin_gids says */
	CHECK_EQ(getuid(), 0);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "@admin"), 0);
	CHECK(hello_session_id() != 0);
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->quota_leases, 0);
	CHECK_EQ(tc_hello(s, "@admin"), EALREADY);
	CHECK_EQ(tc_hello(s, "a"), EALREADY);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.sessions, 0); /* admin sessions are not counted (protocol.md 6.7) */
	CHECK_EQ(tc_query(s, 0, 2, info, &n, &next), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(next, 0);
	/* nothing that maps memory */
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), EPERM);
	CHECK_EQ(tc_lease(s, 1, 0, KB4, RW, &g), EPERM);
	CHECK_EQ(tc_unregister(s, 1), EPERM); /* per item */
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "call map "), 0);
	CHECK_EQ(td_get(&d, "registrations"), 0);
	CHECK_EQ(admin_page(s, 0, 0, 4, ti, &n, &next), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(next, 0);
	CHECK(!strcmp(ti[0].name, "a"));

	/* tenant a's uid: an ordinary session; its registration goes with it */
	t_as_user(T_UID_A, ordinary_tenant, &d);
	CHECK_EQ(td_wait(&d, "registrations", 0), 0);

	/* a non-root uid: refused unless its primary or a supplementary group is
	 * an admin group */
	hello_as(&d, T_UID_B, T_UID_B, NULL, 0, "@admin", EACCES);
	hello_as(&d, T_UID_B, T_UID_B, NULL, 0, "a", EACCES);
	hello_as(&d, T_UID_B, T_UID_B, NULL, 0, "nosuch", ENOENT);
	hello_as(&d, T_UID_B, T_UID_B, (const gid_t[]){T_GID_Y}, 1, "@admin", EACCES);
	hello_as(&d, T_UID_B, T_GID_X, NULL, 0, "@admin", 0);
	hello_as(&d, T_UID_B, T_UID_B, other_then_admin, 2, "@admin", 0);
	/* an admin group makes an admin, not a tenant */
	hello_as(&d, T_UID_B, T_UID_B, admin_group, 1, "a", EACCES);

	/* without admin_gids (SIGHUP reload) the group no longer makes an admin */
	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", T_UID_A);
	td_write_conf(&d, conf);
	td_kill(&d, SIGHUP);
	td_sync(&d, NULL); /* signals are handled in order: the reload is done */
	hello_as(&d, T_UID_B, T_GID_X, NULL, 0, "@admin", EACCES);
	hello_as(&d, T_UID_B, T_UID_B, other_then_admin, 2, "@admin", EACCES);
	u = tc_connect(&d);
	CHECK_EQ(tc_hello(u, "@admin"), 0); /* root still may */
	close(u);
	CHECK_EQ(tc_stats(s, &st), 0); /* the admin session opened before stays */
	close(s);
	close(fd);
	td_stop(&d);
}

/* ---- contents of ADMIN_TENANTS and ADMIN_LEASES ----------------------------- */

struct lease_rec {
	struct dmac_proto_lease_grant g;
	uint64_t session_id;
	const char *tenant;
	int live;
};

static struct dmac_proto_admin_lease all[512];

/* Lease [off, off + len) of registration reg on session s; record it. */
static void push(struct lease_rec *rec, unsigned int *nrec, int s, uint64_t reg, uint64_t off,
		 uint64_t len, uint64_t sid, const char *tenant)
{
	struct dmac_proto_lease_grant g;

	CHECK_EQ(tc_lease(s, reg, off, len, RW, &g), 0);
	rec[(*nrec)++] = (struct lease_rec){g, sid, tenant, 1};
}

/* Page through ADMIN_LEASES with pages of @p max; returns the count. */
static uint32_t read_all_leases(int s, uint32_t max)
{
	uint64_t cursor = 0, next;
	uint32_t total = 0, n;

	for (int pages = 0; pages < 1000; pages++) {
		CHECK_EQ(admin_page(s, 1, cursor, max, &all[total], &n, &next), 0);
		CHECK(n <= max);
		total += n;
		if (!next)
			break;
		CHECK_EQ(n, max);
		cursor = next;
	}
	return total;
}

static void check_leases(int adm, const struct lease_rec *rec, unsigned int nrec, uint32_t max)
{
	unsigned int live = 0, j = 0;
	uint32_t n = read_all_leases(adm, max);

	for (unsigned int i = 0; i < nrec; i++)
		live += rec[i].live;
	CHECK_EQ(n, live);
	/* creation order: rec[] is in creation order too */
	for (unsigned int i = 0; i < nrec && j < n; i++) {
		const struct dmac_proto_admin_lease *a = &all[j];

		if (!rec[i].live)
			continue;
		CHECK_EQ(a->info.lease_id, rec[i].g.lease_id);
		CHECK_EQ(a->info.generation, rec[i].g.generation);
		CHECK_EQ(a->info.iova, rec[i].g.iova);
		CHECK_EQ(a->info.length, rec[i].g.length);
		CHECK_EQ(a->info.prot, RW);
		CHECK_EQ(a->session_id, rec[i].session_id);
		CHECK(!strcmp(a->tenant, rec[i].tenant));
		j++;
	}
}

/*
 * Start a daemon with @p conf_text, run @p fn as uid T_UID_A with the admin
 * group T_GID_X as a supplementary group (admin_gids = T_GID_X), then check
 * that the child's exit left no session and no lease, and stop the daemon.
 */
static void run_as_admin_group(const char *conf_text, void (*fn)(void *))
{
	char conf[768];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "admin_gids = %u\n%s", T_GID_X, conf_text);
	td_start(&d, conf);
	t_as(T_UID_A, T_UID_A, admin_group, 1, fn, &d);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	td_stop(&d);
}

static void lists_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_tenant_info ti[4];
	struct lease_rec rec[64];
	unsigned int nrec = 0;
	uint64_t ra, rb, sid_a, sid_b, next, cursor;
	uint32_t n;
	int a, b, adm, fd, fdb;

	fd = t_memfd(8 * MB, 1);
	fdb = t_memfd(8 * MB, 1); /* b's own: an area of a's may lie outside b's window */
	a = tc_connect(&d);
	CHECK_EQ(tc_hello(a, "a"), 0);
	sid_a = hello_session_id();
	b = tc_connect(&d);
	CHECK_EQ(tc_hello(b, "b"), 0);
	sid_b = hello_session_id();
	adm = tc_connect(&d);
	CHECK_EQ(tc_hello(adm, "@admin"), 0);
	CHECK_EQ(tc_register(a, fd, 0, 8 * MB, RW, &ra), 0);
	CHECK_EQ(tc_register(b, fdb, 0, 8 * MB, RW, &rb), 0);

	/* interleaved: a 3 leases of 4 KiB, b 2 of 2 MiB, a 1 of 1 MiB */
	for (int i = 0; i < 3; i++) {
		push(rec, &nrec, a, ra, i * KB4, KB4, sid_a, "a");
		if (i < 2) {
			push(rec, &nrec, b, rb, (uint64_t)i * 2 * MB, 2 * MB, sid_b, "b");
		}
	}
	push(rec, &nrec, a, ra, 4 * MB, MB, sid_a, "a");

	CHECK_EQ(admin_page(adm, 0, 0, 4, ti, &n, &next), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(next, 0);
	CHECK(!strcmp(ti[0].name, "a"));
	CHECK(!strcmp(ti[1].name, "b"));
	CHECK_EQ(ti[0].sessions, 1);
	CHECK_EQ(ti[1].sessions, 1);
	CHECK_EQ(ti[0].leases, 4);
	CHECK_EQ(ti[1].leases, 2);
	CHECK_EQ(ti[0].bytes_leased, 3 * KB4 + MB);
	CHECK_EQ(ti[1].bytes_leased, 4 * MB);
	CHECK_EQ(ti[0].quota_leases, 100);
	CHECK_EQ(ti[0].quota_pinned_bytes, 64 * MB);
	CHECK_EQ(ti[1].quota_leases, UINT64_MAX);
	CHECK_EQ(ti[1].quota_pinned_bytes, UINT64_MAX);
	CHECK_EQ(ti[0].iova_start, 0);
	CHECK_EQ(ti[0].iova_last, UINT64_MAX);
	CHECK_EQ(ti[1].iova_start, 0x100000000ULL);
	CHECK_EQ(ti[1].iova_last, 0x1ffffffffULL);
	/* tenants one per page */
	CHECK_EQ(admin_page(adm, 0, 0, 1, ti, &n, &cursor), 0);
	CHECK_EQ(n, 1);
	CHECK(cursor != 0);
	CHECK(!strcmp(ti[0].name, "a"));
	CHECK_EQ(admin_page(adm, 0, cursor, 1, ti, &n, &next), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(next, 0);
	CHECK(!strcmp(ti[0].name, "b"));

	check_leases(adm, rec, nrec, 256);
	check_leases(adm, rec, nrec, 1);
	/* cursors the daemon never issued */
	CHECK_EQ(admin_page(adm, 1, UINT64_C(1) << 40, 4, all, &n, &next), EINVAL);
	CHECK_EQ(admin_page(adm, 0, UINT64_C(1) << 40, 4, ti, &n, &next), EINVAL);
	check_leases(adm, rec, nrec, 4);

	/* many leases, several pages: 40 more of a, 4 KiB each */
	for (int i = 0; i < 40; i++) {
		push(rec, &nrec, a, ra, (16 + i) * KB4, KB4, sid_a, "a");
	}
	check_leases(adm, rec, nrec, 7);
	check_leases(adm, rec, nrec, 256);

	/* stable cursor: read one page, release a listed lease and an unlisted
	 * one, create a new one, read on: every live lease once */
	{
		struct dmac_proto_lease_grant g;
		uint32_t got, total;

		CHECK_EQ(admin_page(adm, 1, 0, 5, all, &got, &cursor), 0);
		CHECK_EQ(got, 5);
		CHECK(cursor != 0);
		CHECK_EQ(tc_release(b, rec[1].g.lease_id, rec[1].g.generation), 0);
		rec[1].live = 0;
		CHECK_EQ(tc_release(a, rec[10].g.lease_id, rec[10].g.generation), 0);
		rec[10].live = 0;
		CHECK_EQ(tc_lease(b, rb, 6 * MB, 2 * MB, RW, &g), 0);
		total = got;
		for (int pages = 0; cursor && pages < 100; pages++) {
			CHECK_EQ(admin_page(adm, 1, cursor, 5, &all[total], &got, &cursor), 0);
			total += got;
		}
		/* 5 listed (one since released) + the live ones after them + the new one */
		CHECK_EQ(total, nrec - 1 + 1);
		CHECK_EQ(all[total - 1].info.lease_id, g.lease_id);
		CHECK_EQ(all[total - 1].session_id, sid_b);
		CHECK(!strcmp(all[total - 1].tenant, "b"));
		rec[nrec++] = (struct lease_rec){g, sid_b, "b", 1};
		check_leases(adm, rec, nrec, 3);
	}

	/* a session's end takes its leases out of the view */
	close(a);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(admin_page(adm, 0, 0, 4, ti, &n, &next), 0);
		if (ti[0].sessions == 0)
			break;
		usleep(100000);
	}
	CHECK_EQ(ti[0].sessions, 0);
	CHECK_EQ(ti[0].leases, 0);
	CHECK_EQ(ti[0].bytes_leased, 0);
	for (unsigned int i = 0; i < nrec; i++)
		if (!strcmp(rec[i].tenant, "a"))
			rec[i].live = 0;
	check_leases(adm, rec, nrec, 2);
	CHECK_EQ(read_all_leases(adm, 256), 2);
	close(b);
	close(adm);
	close(fd);
	close(fdb);
}

static void test_lists(void)
{
	char conf[512];

	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\nquota_leases = 100\nquota_pinned_bytes = 64M\n"
		 "[tenant b]\nuids = %u\niova_start = 0x100000000\niova_last = 0x1ffffffff\n",
		 T_UID_A, T_UID_A);
	run_as_admin_group(conf, lists_tenant);
}

/* ---- dmacachectl --json tenants / leases --all -------------------------------- */

static void ctl_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	const char *ctl = getenv("DMACACHECTL");
	struct dmac_proto_lease_grant g[3];
	char cmd[1024], out[512], file[200], expect[512];
	char outdir[] = "/tmp/dmacd-ctl-XXXXXX"; /* ours: the daemon's dir is root's */
	uint64_t ra, rb, sid_a, sid_b;
	int a, b, fd;

	if (!mkdtemp(outdir)) {
		perror("mkdtemp");
		t_failures++;
		return;
	}
	fd = t_memfd(4 * MB, 1);
	a = tc_connect(&d);
	CHECK_EQ(tc_hello(a, "a"), 0);
	sid_a = hello_session_id();
	b = tc_connect(&d);
	CHECK_EQ(tc_hello(b, "b"), 0);
	sid_b = hello_session_id();
	CHECK_EQ(tc_register(a, fd, 0, 4 * MB, RW, &ra), 0);
	CHECK_EQ(tc_register(b, fd, 0, 4 * MB, RW, &rb), 0);
	CHECK_EQ(tc_lease(a, ra, 0, 2 * MB, RW, &g[0]), 0);
	CHECK_EQ(tc_lease(b, rb, 0, KB4, RW, &g[1]), 0);
	CHECK_EQ(tc_lease(a, ra, 2 * MB, KB4, RW, &g[2]), 0);

	/* tenants */
	snprintf(file, sizeof(file), "%s/tenants.json", outdir);
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' --json tenants > '%s'", ctl, d.sock, file);
	CHECK_EQ(t_run(cmd, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' > /dev/null", file);
	CHECK_EQ(t_run(cmd, NULL, 0), 0);
	snprintf(
	    cmd, sizeof(cmd),
	    "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[\"count\"], "
	    "\" \".join(\"%%s:%%d:%%d:%%d:%%s\" %% (t[\"name\"], t[\"sessions\"], "
	    "t[\"leases\"], t[\"bytes_leased\"], t[\"quota_leases\"]) for t in d[\"tenants\"]))' "
	    "'%s'",
	    file);
	CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
	/* an unlimited quota is null (None) */
	snprintf(expect, sizeof(expect), "2 a:1:2:%llu:9 b:1:1:4096:None",
		 (unsigned long long)(2 * MB + KB4));
	if (strcmp(out, expect)) {
		fprintf(stderr, "tenants: got '%s', expected '%s'\n", out, expect);
		t_failures++;
	}

	/* leases --all */
	snprintf(file, sizeof(file), "%s/leases.json", outdir);
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' --json leases --all > '%s'", ctl, d.sock,
		 file);
	CHECK_EQ(t_run(cmd, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' > /dev/null", file);
	CHECK_EQ(t_run(cmd, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[\"count\"], "
		 "\" \".join(\"%%s:%%s:%%s:%%s:%%d\" %% (l[\"tenant\"], l[\"session_id\"], "
		 "l[\"lease_id\"], l[\"iova\"], l[\"length\"]) for l in d[\"leases\"]))' '%s'",
		 file);
	CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
	snprintf(expect, sizeof(expect),
		 /* ids: decimal strings; IOVAs: hex strings */
		 "3 a:%llu:%llu:0x%llx:%llu b:%llu:%llu:0x%llx:%llu a:%llu:%llu:0x%llx:%llu",
		 (unsigned long long)sid_a, (unsigned long long)g[0].lease_id,
		 (unsigned long long)g[0].iova, (unsigned long long)g[0].length,
		 (unsigned long long)sid_b, (unsigned long long)g[1].lease_id,
		 (unsigned long long)g[1].iova, (unsigned long long)g[1].length,
		 (unsigned long long)sid_a, (unsigned long long)g[2].lease_id,
		 (unsigned long long)g[2].iova, (unsigned long long)g[2].length);
	if (strcmp(out, expect)) {
		fprintf(stderr, "leases --all: got '%s', expected '%s'\n", out, expect);
		t_failures++;
	}

	/* the ctl's admin sessions ended: only a and b are left */
	CHECK_EQ(td_wait(&d, "sessions", 2), 0);
	CHECK_EQ(td_get(&d, "leases"), 3);
	close(a);
	close(b);
	close(fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", outdir);
	CHECK_EQ(t_run(cmd, NULL, 0), 0);
}

static void test_ctl(void)
{
	char conf[256];

	if (!getenv("DMACACHECTL")) {
		fprintf(stderr, "DMACACHECTL is not set\n");
		t_failures++;
		return;
	}
	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\nquota_leases = 9\n[tenant b]\nuids = %u\n", T_UID_A,
		 T_UID_A);
	run_as_admin_group(conf, ctl_tenant);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "admin-hello"))
		test_hello();
	else if (!strcmp(t, "admin-lists"))
		test_lists();
	else if (!strcmp(t, "admin-ctl"))
		test_ctl();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		return 2;
	}
	if (t_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
	return t_failures ? 1 : 0;
}
