/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Daemon suite: admin sessions and the operator view (protocol.md 6.8, 6.9).
 * One dmacached-test per test, as in test_daemon.c; test name in argv[1].
 *
 * Invariants checked:
 * - HELLO as "@admin" binds an admin session for uid 0 and for a gid listed in
 *   admin_gids, EACCES for anyone else (a child process that setuid()s to
 *   65534 connects after dropping root, so SO_PEERCRED sees 65534); an unknown
 *   ordinary tenant stays ENOENT.
 * - An admin session: STATS, QUERY (empty), ADMIN_TENANTS, ADMIN_LEASES work;
 *   REGISTER and LEASE are EPERM and map nothing. Ordinary and unbound
 *   sessions get EPERM for the admin opcodes.
 * - ADMIN_TENANTS / ADMIN_LEASES list exactly what two tenants hold (names,
 *   counts, bytes, quotas, windows, lease ids, generations, IOVAs, owners),
 *   pages chain through next_cursor, and the cursor is stable across a lease
 *   created or released between two pages.
 * - `dmacachectl --json tenants` and `leases --all` print valid JSON (checked
 *   with python3 -m json.tool) whose contents match.
 * Concurrency: single-threaded; children only for the uid tests.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MB  (UINT64_C(1) << 20)
#define KB4 UINT64_C(4096)
#define RW  DMAC_PROTO_PROT_ALL

static uint64_t reqbuf[DMAC_PROTO_MAX_MSG / 8];
static uint64_t tag = 1000;

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

/* Let uid 65534 reach the socket: the test dir is 0700, the socket 0660. */
static void open_socket_to_all(const struct tdaemon *d)
{
	char run[160];

	snprintf(run, sizeof(run), "%s/run", d->dir);
	CHECK_EQ(chmod(d->dir, 0755), 0);
	CHECK_EQ(chmod(run, 0755), 0);
	CHECK_EQ(chmod(d->sock, 0666), 0);
}

/*
 * In a child that drops to uid 65534 (gid 65534 when @p gid_too, else gid
 * 65533), connect and say HELLO as @p tenant; exit status = the HELLO status
 * (0 or errno), + 100 if then ADMIN_TENANTS did not answer 0.
 */
static int hello_as_nobody(const struct tdaemon *d, const char *tenant, int gid_too)
{
	int st = -1;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct dmac_proto_tenant_info t[4];
		uint64_t next;
		uint32_t n;
		int s, rc;

		if (setgroups(0, NULL) || setgid(gid_too ? 65534 : 65533) || setuid(65534))
			_exit(98);
		if (getuid() != 65534 || geteuid() != 65534)
			_exit(97);
		s = tc_connect(d);
		rc = tc_hello(s, tenant);
		if (rc == 0 && admin_page(s, 0, 0, 4, t, &n, &next) != 0)
			rc += 100;
		_exit(rc < 0 ? 99 : rc);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- admin HELLO, who may, what it may do ---------------------------------- */

static void test_hello(void)
{
	struct dmac_proto_lease_info info[2];
	struct dmac_proto_tenant_info ti[4];
	struct dmac_proto_lease_grant g;
	struct dmac_proto_stats st;
	struct tdaemon d;
	uint64_t reg, next;
	uint32_t n;
	char conf[256];
	int s, o, u, fd;

	snprintf(conf, sizeof(conf), "admin_gids = 65534\n[tenant a]\nuids = %u\n",
		 (unsigned int)getuid());
	td_start(&d, conf);
	open_socket_to_all(&d);
	fd = t_memfd(2 * MB, 1);

	/* root: admin session */
	CHECK_EQ(getuid(), 0);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "@admin"), 0);
	CHECK(hello_session_id() != 0);
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->quota_leases, 0);
	CHECK_EQ(tc_hello(s, "@admin"), EALREADY);
	CHECK_EQ(tc_hello(s, "a"), EALREADY);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.sessions, 1);
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

	/* an ordinary session and an unbound one: EPERM for the admin opcodes */
	o = tc_connect(&d);
	CHECK_EQ(admin_page(o, 0, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(tc_hello(o, "nosuch"), ENOENT);
	CHECK_EQ(admin_page(o, 1, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(tc_hello(o, "a"), 0);
	CHECK_EQ(admin_page(o, 0, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(admin_page(o, 1, 0, 4, ti, &n, &next), EPERM);
	CHECK_EQ(tc_register(o, fd, 0, 2 * MB, RW, &reg), 0);

	/* a non-root uid: refused unless its gid is an admin gid */
	CHECK_EQ(hello_as_nobody(&d, "@admin", 0), EACCES);
	CHECK_EQ(hello_as_nobody(&d, "a", 0), EACCES);
	CHECK_EQ(hello_as_nobody(&d, "nosuch", 0), ENOENT);
	CHECK_EQ(hello_as_nobody(&d, "@admin", 1), 0);

	/* without admin_gids (SIGHUP reload) gid 65534 is refused too */
	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", (unsigned int)getuid());
	td_write_conf(&d, conf);
	CHECK_EQ(kill(d.pid, SIGHUP), 0);
	/* the reload is applied before the next request on any session */
	u = tc_connect(&d);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(tc_stats(s, &st), 0);
		if (hello_as_nobody(&d, "@admin", 1) == EACCES)
			break;
		usleep(100000);
	}
	CHECK_EQ(hello_as_nobody(&d, "@admin", 1), EACCES);
	CHECK_EQ(tc_hello(u, "@admin"), 0); /* root still may */
	close(u);
	close(o);
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

static void test_lists(void)
{
	struct dmac_proto_tenant_info ti[4];
	struct lease_rec rec[64];
	struct tdaemon d;
	unsigned int nrec = 0;
	uint64_t ra, rb, sid_a, sid_b, next, cursor;
	uint32_t n;
	char conf[512];
	int a, b, adm, fd, fdb;

	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\nquota_leases = 100\nquota_pinned_bytes = 64M\n"
		 "[tenant b]\nuids = %u\niova_start = 0x100000000\niova_last = 0x1ffffffff\n",
		 (unsigned int)getuid(), (unsigned int)getuid());
	td_start(&d, conf);
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
	td_stop(&d);
}

/* ---- dmacachectl --json tenants / leases --all -------------------------------- */

/* Run a shell command; return its exit status and the first line of stdout. */
static int run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	int st;

	if (!p)
		return -1;
	if (out && cap) {
		out[0] = '\0';
		if (!fgets(out, (int)cap, p))
			out[0] = '\0';
		out[strcspn(out, "\n")] = '\0';
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_ctl(void)
{
	const char *ctl = getenv("DMACACHECTL");
	struct dmac_proto_lease_grant g[3];
	char conf[256], cmd[1024], out[512], file[200], expect[512];
	struct tdaemon d;
	uint64_t ra, rb, sid_a, sid_b;
	int a, b, fd;

	if (!ctl) {
		fprintf(stderr, "DMACACHECTL is not set\n");
		t_failures++;
		return;
	}
	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\nquota_leases = 9\n[tenant b]\nuids = %u\n",
		 (unsigned int)getuid(), (unsigned int)getuid());
	td_start(&d, conf);
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
	snprintf(file, sizeof(file), "%s/tenants.json", d.dir);
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' --json tenants > '%s'", ctl, d.sock, file);
	CHECK_EQ(run(cmd, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' > /dev/null", file);
	CHECK_EQ(run(cmd, NULL, 0), 0);
	snprintf(
	    cmd, sizeof(cmd),
	    "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[\"count\"], "
	    "\" \".join(\"%%s:%%d:%%d:%%d:%%d\" %% (t[\"name\"], t[\"sessions\"], "
	    "t[\"leases\"], t[\"bytes_leased\"], t[\"quota_leases\"]) for t in d[\"tenants\"]))' "
	    "'%s'",
	    file);
	CHECK_EQ(run(cmd, out, sizeof(out)), 0);
	snprintf(expect, sizeof(expect), "2 a:1:2:%llu:9 b:1:1:4096:%llu",
		 (unsigned long long)(2 * MB + KB4), (unsigned long long)UINT64_MAX);
	if (strcmp(out, expect)) {
		fprintf(stderr, "tenants: got '%s', expected '%s'\n", out, expect);
		t_failures++;
	}

	/* leases --all */
	snprintf(file, sizeof(file), "%s/leases.json", d.dir);
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' --json leases --all > '%s'", ctl, d.sock,
		 file);
	CHECK_EQ(run(cmd, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' > /dev/null", file);
	CHECK_EQ(run(cmd, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[\"count\"], "
		 "\" \".join(\"%%s:%%d:%%d:%%d:%%d\" %% (l[\"tenant\"], l[\"session_id\"], "
		 "l[\"lease_id\"], l[\"iova\"], l[\"length\"]) for l in d[\"leases\"]))' '%s'",
		 file);
	CHECK_EQ(run(cmd, out, sizeof(out)), 0);
	snprintf(expect, sizeof(expect),
		 "3 a:%llu:%llu:%llu:%llu b:%llu:%llu:%llu:%llu a:%llu:%llu:%llu:%llu",
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
	td_stop(&d);
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
