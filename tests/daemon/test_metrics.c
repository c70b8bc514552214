/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Metrics and accounting (issue 13 section 2) against dmacached-test, read
 * through the admin protocol and through dmacachectl ($DMACACHECTL):
 *
 * - accounting: a tenant with 8 MiB registered and 6 MiB more registered
 *   then dropped (still cached, charged to it) shows exactly 8 MiB
 *   registered and 14 MiB pinned, its leases, leased bytes, copy misses and
 *   LEASE requests (failed ones included); a version-2 admin session gets
 *   the 120-byte elements, a version-3 one the 192-byte ones; the tenant's
 *   own session asking ADMIN_TENANTS, ADMIN_SESSIONS or ADMIN_HISTOGRAM
 *   gets EPERM and a bare header (it learns nothing).
 * - sessions: a tenant process (uid 4001, named with prctl, an escape
 *   sequence in the name) is listed with its pid, uid, gid, name (the
 *   escape shown as '?', no ESC byte printed), tenant, registrations and
 *   leases; a connection without HELLO has no tenant; the ctl's own session
 *   is not listed; a non-admin uid gets exit 4 and a JSON error, no list.
 * - metrics: `dmacachectl metrics` parsed by prometheus_client's OpenMetrics
 *   parser (Debian's python3-prometheus-client, /usr/bin/python3): families,
 *   values, the lease histogram whose count equals the LEASE requests sent.
 * - ctl-exit: 1 daemon error (unknown tenant), 2 usage, 3 no socket, 4
 *   permission denied (socket_group keeps uid 4002 out; a tenant or admin
 *   session a uid may not open).
 * - ctl-timeout: a SIGSTOPped daemon costs exit 3 after --timeout, within
 *   a bound (a correctness bound: it returns at all), never a hang.
 * - ctl-json-ids: 64-bit lease ids survive jq and Python's json as strings,
 *   equal to what the daemon granted; text and JSON use the same bases.
 *
 * Tenants and admins run as non-root uids (t_as(); the admin through
 * admin_gids). Every check can fail; nothing is skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define KB4 4096ull
#define MB  (1ull << 20)
#define RW  (DMAC_PROTO_PROT_READ | DMAC_PROTO_PROT_WRITE)

static uint64_t reqbuf[DMAC_PROTO_MAX_MSG / 8];
static uint64_t tag = 5000;
static const gid_t admin_group[] = {T_GID_X};

/* The holder's process name: ESC [7m would turn the operator's terminal
 * to reverse video; dmacachectl prints it as "probe?[7mx". */
#define PROBE_NAME  "probe\033[7mx"
#define PROBE_SHOWN "probe?[7mx"

/* The conf every test starts from: tenants a (4001) and b (4002), admins 4100. */
static void conf_std(char *buf, size_t cap)
{
	snprintf(buf, cap, "admin_gids = %u\n[tenant a]\nuids = %u\n[tenant b]\nuids = %u\n",
		 T_GID_X, T_UID_A, T_UID_B);
}

/* A private directory for a child's output files (the daemon's dir is root's). */
static void outdir_make(char *dir)
{
	strcpy(dir, "/tmp/dmacd-metrics-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void outdir_remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(t_run(cmd, NULL, 0), 0);
}

/* Run dmacachectl on the daemon's socket with @p args, stdout to @p file
 * (NULL: first line into out). @return its exit status. */
static int ctl(const struct tdaemon *d, const char *args, const char *file, char *out, size_t cap)
{
	const char *bin = getenv("DMACACHECTL");
	char cmd[1024];

	if (!bin) {
		fprintf(stderr, "DMACACHECTL is not set\n");
		t_failures++;
		return -1;
	}
	if (file)
		snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s > '%s'", bin, d->sock, args,
			 file);
	else
		snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s", bin, d->sock, args);
	return t_run(cmd, out, cap);
}

/* Run a Python check on @p file; it prints one line, compared with @p want. */
static void py_expect(const char *python, const char *script, const char *file, const char *want)
{
	char cmd[4096], out[1024];

	snprintf(cmd, sizeof(cmd), "%s -c '%s' '%s' 2>&1", python, script, file);
	CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
	if (strcmp(out, want)) {
		fprintf(stderr, "%s: got '%s', expected '%s'\n", file, out, want);
		t_failures++;
	}
}

/* One admin request of QUERY's layout (or a histogram when op is HISTOGRAM). */
static int admin_req(int s, uint32_t op, uint32_t max)
{
	size_t len;
	int rc;

	if (op == DMAC_OP_ADMIN_HISTOGRAM)
		rc = dmac_proto_encode_histogram_req(reqbuf, sizeof(reqbuf), tag++,
						     DMAC_PROTO_HIST_LEASE, &len);
	else if (op == DMAC_OP_ADMIN_SESSIONS)
		rc = dmac_proto_encode_admin_sessions_req(reqbuf, sizeof(reqbuf), tag++, 0, max,
							  &len);
	else
		rc = dmac_proto_encode_admin_tenants_req(reqbuf, sizeof(reqbuf), tag++, 0, max,
							 &len);
	return rc ? -2 : tc_rpc_raw(s, reqbuf, len, NULL, 0);
}

/* HELLO with an explicit protocol version. */
static int hello_version(int s, const char *tenant, uint32_t version)
{
	struct dmac_proto_hello_req *h = (void *)reqbuf;
	size_t len;

	if (dmac_proto_encode_hello_req(reqbuf, sizeof(reqbuf), tag++, tenant, &len))
		return -2;
	h->version = version;
	return tc_rpc_raw(s, reqbuf, len, NULL, 0);
}

/* A tenant session asking for the operator's view gets EPERM and nothing else. */
static void check_admin_refused(int s)
{
	static const uint32_t ops[] = {DMAC_OP_ADMIN_TENANTS, DMAC_OP_ADMIN_SESSIONS,
				       DMAC_OP_ADMIN_HISTOGRAM};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		CHECK_EQ(admin_req(s, ops[i], 16), EPERM);
		CHECK_EQ(tc_view.size, sizeof(struct dmac_proto_hdr)); /* the header alone */
		CHECK_EQ(tc_view.count, 0);
	}
}

/* ---- accounting ------------------------------------------------------------- */

static void accounting_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	const struct dmac_proto_tenant_info *ti;
	struct dmac_proto_lease_grant g;
	char dir[64], file[128], want[256], out[512];
	uint64_t r8, r6;
	int s, adm, fd8, fd6;

	outdir_make(dir);
	fd8 = t_memfd(8 * MB, 1);
	fd6 = t_memfd(6 * MB, 1);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "a"), 0);
	CHECK_EQ(tc_register(s, fd8, 0, 8 * MB, RW, &r8), 0);
	CHECK_EQ(tc_register(s, fd6, 0, 6 * MB, RW, &r6), 0);
	CHECK_EQ(tc_unregister(s, r6), 0); /* stays cached, charged to a */
	CHECK_EQ(tc_lease(s, r8, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(tc_lease(s, r8, 2 * MB, KB4, RW, &g), 0);
	CHECK_EQ(tc_lease(s, r8, 8 * MB - KB4, 2 * KB4, RW, &g), ERANGE); /* counted too */
	check_admin_refused(s);

	/* the admin protocol: version 3 elements carry the accounting ... */
	adm = tc_connect(&d);
	CHECK_EQ(tc_hello(adm, DMAC_PROTO_ADMIN_TENANT), 0);
	CHECK_EQ(admin_req(adm, DMAC_OP_ADMIN_TENANTS, 16), 0);
	CHECK_EQ(tc_view.count, 2);
	CHECK_EQ(tc_view.elem_size, sizeof(struct dmac_proto_tenant_info));
	ti = dmac_proto_view_elem(&tc_view, 0);
	CHECK(!strcmp(ti->name, "a"));
	CHECK_EQ(ti->bytes_registered, 8 * MB);
	CHECK_EQ(ti->bytes_pinned, 14 * MB);
	CHECK_EQ(ti->registrations, 1);
	CHECK_EQ(ti->leases, 2);
	CHECK_EQ(ti->bytes_leased, 2 * MB + KB4);
	CHECK_EQ(ti->lease_requests, 3);
	CHECK_EQ(ti->copy_misses, 2);
	CHECK_EQ(ti->cache_misses, 2);
	close(adm);
	/* ... a version-2 session gets the 120-byte elements */
	adm = tc_connect(&d);
	CHECK_EQ(hello_version(adm, DMAC_PROTO_ADMIN_TENANT, 2), 0);
	CHECK_EQ(((const struct dmac_proto_hello_rep *)tc_reply)->version, 2);
	CHECK_EQ(admin_req(adm, DMAC_OP_ADMIN_TENANTS, 16), 0);
	CHECK_EQ(tc_view.elem_size, DMAC_PROTO_TENANT_INFO_V2_SIZE);
	CHECK_EQ(((const struct dmac_proto_tenant_info *)dmac_proto_view_elem(&tc_view, 0))->leases,
		 2);
	close(adm);

	/* the same through dmacachectl --json tenants */
	snprintf(file, sizeof(file), "%s/tenants.json", dir);
	CHECK_EQ(ctl(&d, "--json tenants", file, NULL, 0), 0);
	snprintf(want, sizeof(want), "2 a 1 1 %llu %llu 2 %llu 0 3 0 2 2 None 0xffffffffffffffff",
		 8 * MB, 14 * MB, 2 * MB + KB4);
	py_expect("python3",
		  "import json,sys; d=json.load(open(sys.argv[1])); t=d[\"tenants\"][0]; "
		  "print(d[\"count\"], t[\"name\"], *[t[k] for k in (\"sessions\", "
		  "\"registrations\", \"bytes_registered\", \"bytes_pinned\", \"leases\", "
		  "\"bytes_leased\", \"bytes_kept\", \"lease_requests\", \"copy_hits\", "
		  "\"copy_misses\", \"cache_misses\", \"quota_pinned_bytes\", \"iova_last\")])",
		  file, want);
	/* text: exact sizes in the config's units, "unlimited" */
	CHECK_EQ(ctl(&d, "tenants | grep '^a '", NULL, out, sizeof(out)), 0);
	CHECK(strstr(out, " 8M ") != NULL);
	CHECK(strstr(out, " 14M ") != NULL);
	CHECK(strstr(out, "unlimited") != NULL);
	CHECK(strstr(out, "18446744073709551615") == NULL);
	/* stats without a tenant: the daemon's, the ctl's session not counted */
	CHECK_EQ(ctl(&d, "--json stats", file, NULL, 0), 0);
	py_expect("python3",
		  "import json,sys; d=json.load(open(sys.argv[1])); "
		  "print(d[\"scope\"], d[\"sessions\"], d[\"leases\"], d[\"bytes_pinned\"])",
		  file, "daemon 1 2 14680064");
	/* with --tenant a: a's figures; the ctl's own session is not counted */
	CHECK_EQ(ctl(&d, "--tenant a --json stats", file, NULL, 0), 0);
	py_expect("python3",
		  "import json,sys; d=json.load(open(sys.argv[1])); "
		  "print(d[\"scope\"], d[\"sessions\"], d[\"leases\"], d[\"bytes_pinned\"])",
		  file, "a 1 2 8388608");
	close(s);
	close(fd8);
	close(fd6);
	outdir_remove(dir);
}

static void test_accounting(void)
{
	struct tdaemon d;
	char conf[256];

	conf_std(conf, sizeof(conf));
	td_start(&d, conf);
	t_as(T_UID_A, T_UID_A, admin_group, 1, accounting_tenant, &d);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	td_stop(&d);
}

/* ---- sessions --------------------------------------------------------------- */

struct holder {
	struct tdaemon *d;
	int ready[2]; /* the holder writes one byte when it holds its session */
	int hold[2];  /* it holds until this pipe's write end closes */
	pid_t pid;
};

/* A long-lived tenant (t_as_spawn): named, bound, one registration, one lease. */
static void holder_main(void *arg)
{
	struct holder *h = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	char c = 1;
	int s, fd;

	close(h->ready[0]);
	close(h->hold[1]);
	/* a name with a terminal escape: shown, sanitized, never sent raw */
	if (prctl(PR_SET_NAME, PROBE_NAME))
		t_failures++;
	fd = t_memfd(4 * MB, 1);
	s = tc_connect(h->d);
	CHECK_EQ(tc_hello(s, "a"), 0);
	CHECK_EQ(tc_register(s, fd, 0, 4 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, KB4, RW, &g), 0);
	check_admin_refused(s);
	if (write(h->ready[1], &c, 1) != 1)
		t_failures++;
	while (read(h->hold[0], &c, 1) > 0)
		;
	close(s);
	close(fd);
}

static void sessions_admin(void *arg)
{
	struct holder *h = arg;
	char dir[64], file[128], want[256], script[1024], out[512];
	int unbound;

	outdir_make(dir);
	snprintf(file, sizeof(file), "%s/sessions.json", dir);
	unbound = tc_connect(h->d); /* no HELLO: listed without a tenant */
	CHECK_EQ(ctl(h->d, "--json sessions", file, NULL, 0), 0);
	snprintf(script, sizeof(script),
		 "import json,sys; d=json.load(open(sys.argv[1])); "
		 "p=[s for s in d[\"sessions\"] if s[\"pid\"] == %d]; "
		 "u=[s for s in d[\"sessions\"] if s[\"tenant\"] is None]; "
		 "s=p[0]; print(d[\"count\"], len(p), len(u), isinstance(s[\"session_id\"], str), "
		 "*[s[k] for k in (\"uid\", \"gid\", \"comm\", \"tenant\", \"pidfd\", "
		 "\"registrations\", \"bytes_registered\", \"leases\", \"bytes_leased\")])",
		 (int)h->pid);
	snprintf(want, sizeof(want), "2 1 1 True %d %d " PROBE_SHOWN " a True 1 %llu 1 4096",
		 T_UID_A, T_UID_A, 4 * MB);
	py_expect("python3", script, file, want);
	/* text: the name, the uid, the tenant on one line */
	snprintf(script, sizeof(script), "sessions | grep '^[0-9]* *%d '", (int)h->pid);
	CHECK_EQ(ctl(h->d, script, NULL, out, sizeof(out)), 0);
	CHECK(strstr(out, PROBE_SHOWN) != NULL);
	CHECK(strstr(out, " a ") != NULL);
	/* no ESC byte reaches the terminal, in text or JSON */
	CHECK_EQ(
	    ctl(h->d, "sessions | grep -c \"$(printf \047\\033\047)\"", NULL, out, sizeof(out)), 1);
	CHECK(!strcmp(out, "0"));
	CHECK_EQ(ctl(h->d, "--json sessions | grep -c \"$(printf \047\\033\047)\"", NULL, out,
		     sizeof(out)),
		 1);
	close(unbound);
	outdir_remove(dir);
}

/* Not an admin: exit 4, one JSON error, nothing about the sessions. */
static void sessions_stranger(void *arg)
{
	struct holder *h = arg;
	char dir[64], file[128];
	int s;

	outdir_make(dir);
	snprintf(file, sizeof(file), "%s/sessions.json", dir);
	CHECK_EQ(ctl(h->d, "--json sessions", file, NULL, 0), 4);
	py_expect("python3",
		  "import json,sys; t=open(sys.argv[1]).read(); d=json.loads(t); "
		  "print(d[\"error\"], d[\"errno\"], \"probe\" in t, \"sessions\" in d)",
		  file, "EACCES 13 False False");
	CHECK_EQ(ctl(h->d, "--json metrics", NULL, NULL, 0), 2);
	CHECK_EQ(ctl(h->d, "metrics", file, NULL, 0), 4);
	CHECK_EQ(ctl(h->d, "--tenant b tenants", NULL, NULL, 0), 4); /* tenants is admin only */
	/* its own tenant session is refused the admin requests */
	s = tc_connect(h->d);
	CHECK_EQ(tc_hello(s, "b"), 0);
	check_admin_refused(s);
	close(s);
	outdir_remove(dir);
}

static void test_sessions(void)
{
	struct holder h;
	struct tdaemon d;
	char conf[256], c;
	int st;

	conf_std(conf, sizeof(conf));
	td_start(&d, conf);
	h.d = &d;
	if (pipe(h.ready) || pipe(h.hold)) {
		perror("pipe");
		exit(1);
	}
	h.pid = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, holder_main, &h);
	close(h.ready[1]);
	close(h.hold[0]);
	CHECK_EQ(read(h.ready[0], &c, 1), 1);
	t_as(T_UID_C, T_UID_C, admin_group, 1, sessions_admin, &h);
	t_as_user(T_UID_B, sessions_stranger, &h);
	close(h.hold[1]);
	close(h.ready[0]);
	CHECK_EQ(waitpid(h.pid, &st, 0), h.pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	td_stop(&d);
}

/* ---- metrics ---------------------------------------------------------------- */

/* prometheus_client's OpenMetrics parser (python3-prometheus-client). */
static const char metrics_check[] =
    "import sys, math\n"
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n"
    "t = open(sys.argv[1]).read()\n"
    "assert t.endswith(\"# EOF\\n\"), \"no # EOF\"\n"
    "f = {m.name: m for m in p(t)}\n"
    "def v(name, suffix=\"\", **labels):\n"
    "    s = [x for x in f[name].samples if x.name == name + suffix and x.labels == labels]\n"
    "    assert len(s) == 1, (name, suffix, labels)\n"
    "    return s[0].value\n"
    "for m in f.values():\n"
    "    assert m.documentation, m.name\n"
    "    assert m.type in (\"gauge\", \"counter\", \"histogram\"), m.name\n"
    "    assert m.name.startswith(\"dmacache_\"), m.name\n"
    "h = f[\"dmacache_lease_duration_seconds\"]\n"
    "assert h.type == \"histogram\" and h.unit == \"seconds\"\n"
    "b = [s for s in h.samples if s.name.endswith(\"_bucket\")]\n"
    "assert b[-1].labels[\"le\"] == \"+Inf\"\n"
    "assert all(x.value <= y.value for x, y in zip(b, b[1:]))\n"
    "assert [float(x.labels[\"le\"]) for x in b] == sorted(float(x.labels[\"le\"]) for x in b)\n"
    "assert f[\"dmacache_pinned_bytes\"].unit == \"bytes\"\n"
    "print(int(v(\"dmacache_lease_duration_seconds\", \"_count\")), int(b[-1].value),\n"
    "      v(\"dmacache_lease_duration_seconds\", \"_sum\") > 0,\n"
    "      int(v(\"dmacache_lease_requests\", \"_total\")),\n"
    "      int(v(\"dmacache_tenant_lease_requests\", \"_total\", tenant=\"a\")),\n"
    "      int(v(\"dmacache_tenant_lease_requests\", \"_total\", tenant=\"b\")),\n"
    "      int(v(\"dmacache_leases\")), int(v(\"dmacache_sessions\")),\n"
    "      int(v(\"dmacache_pinned_bytes\")),\n"
    "      int(v(\"dmacache_tenant_registered_bytes\", tenant=\"a\")),\n"
    "      int(v(\"dmacache_tenant_leased_bytes\", tenant=\"a\")),\n"
    "      int(v(\"dmacache_copy_cache_misses\", \"_total\")),\n"
    "      v(\"dmacache_tenant_quota_leases\", tenant=\"b\") == math.inf)\n";

static void metrics_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_grant g;
	char dir[64], file[128], script[128], cmd[512], want[256];
	uint64_t reg;
	FILE *f;
	int s, fd;

	outdir_make(dir);
	fd = t_memfd(8 * MB, 1);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "a"), 0);
	CHECK_EQ(tc_register(s, fd, 0, 8 * MB, RW, &reg), 0);
	/* five LEASE requests: three granted, two refused */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(tc_lease(s, reg, (uint64_t)i * MB, KB4, RW, &g), 0);
	CHECK_EQ(tc_lease(s, reg, 8 * MB, KB4, RW, &g), ERANGE);
	CHECK_EQ(tc_lease(s, reg + 1, 0, KB4, RW, &g), ENOENT);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "lease_hist_count"), 5);

	snprintf(file, sizeof(file), "%s/metrics.txt", dir);
	snprintf(script, sizeof(script), "%s/check.py", dir);
	f = fopen(script, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(metrics_check, f);
		fclose(f);
	}
	CHECK_EQ(ctl(&d, "metrics", file, NULL, 0), 0);
	/* Debian's python3 holds python3-prometheus-client (./dev installs it) */
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' 2>&1", script, file);
	{
		char out[512];

		CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
		snprintf(want, sizeof(want), "5 5 True 5 5 0 3 1 %llu %llu %llu 3 True", 8 * MB,
			 8 * MB, 3 * KB4);
		if (strcmp(out, want)) {
			fprintf(stderr, "metrics: got '%s', expected '%s'\n", out, want);
			t_failures++;
		}
	}
	close(s);
	close(fd);
	outdir_remove(dir);
}

static void test_metrics(void)
{
	struct tdaemon d;
	char conf[256];

	conf_std(conf, sizeof(conf));
	td_start(&d, conf);
	t_as(T_UID_A, T_UID_A, admin_group, 1, metrics_tenant, &d);
	td_stop(&d);
}

/* ---- dmacachectl exit codes, timeout, ids --------------------------------------- */

static void exit_outsider(void *arg)
{
	struct tdaemon *d = arg;
	char out[512];

	/* not in socket_group: the socket's directory keeps it out */
	CHECK_EQ(ctl(d, "--json --tenant b stats", NULL, out, sizeof(out)), 4);
	CHECK(strstr(out, "\"EACCES\"") != NULL);
	CHECK(strstr(out, "permission denied") != NULL);
}

static void exit_member(void *arg)
{
	struct tdaemon *d = arg;
	char out[512];

	CHECK_EQ(ctl(d, "--tenant a stats", NULL, NULL, 0), 0);
	/* in the group, but tenant b does not list uid 4001 */
	CHECK_EQ(ctl(d, "--json --tenant b stats", NULL, out, sizeof(out)), 4);
	CHECK(strstr(out, "may not act as tenant 'b'") != NULL);
	/* not an admin (no admin_gids here) */
	CHECK_EQ(ctl(d, "--json sessions", NULL, out, sizeof(out)), 4);
	CHECK(strstr(out, "admin session") != NULL);
	/* a daemon error: no such tenant */
	CHECK_EQ(ctl(d, "--json --tenant nosuch stats", NULL, out, sizeof(out)), 1);
	CHECK(strstr(out, "\"ENOENT\"") != NULL && strstr(out, "no tenant 'nosuch'") != NULL);
	/* usage */
	CHECK_EQ(ctl(d, "--tenant a stats extra", NULL, NULL, 0), 2);
	CHECK_EQ(ctl(d, "--tenant 'bad name' stats", NULL, NULL, 0), 2);
}

static void test_ctl_exit(void)
{
	struct tdaemon d;
	struct tdaemon none;
	char conf[256], out[512];

	snprintf(conf, sizeof(conf),
		 "socket_group = %u\n[tenant a]\nuids = %u\n[tenant b]\nuids = %u\n", T_GID_X,
		 T_UID_A, T_UID_B);
	td_start(&d, conf);
	none = d;
	snprintf(none.sock, sizeof(none.sock), "%s/none.sock", d.dir);
	CHECK_EQ(ctl(&none, "--json stats", NULL, out, sizeof(out)), 3);
	CHECK(strstr(out, "no socket at") != NULL);
	CHECK_EQ(ctl(&d, "--nonsense stats", NULL, NULL, 0), 2);
	CHECK_EQ(ctl(&d, "stats", NULL, NULL, 0), 0); /* root: an admin session */
	t_as_user(T_UID_B, exit_outsider, &d);
	t_as(T_UID_A, T_UID_A, admin_group, 1, exit_member, &d);
	td_stop(&d);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_ctl_timeout(void)
{
	struct tdaemon d;
	char conf[256], out[512];
	uint64_t t0, dt;

	conf_std(conf, sizeof(conf));
	td_start(&d, conf);
	td_kill(&d, SIGSTOP);
	t0 = now_ms();
	CHECK_EQ(ctl(&d, "--timeout 500 --json stats", NULL, out, sizeof(out)), 3);
	dt = now_ms() - t0;
	CHECK(strstr(out, "\"ETIMEDOUT\"") != NULL);
	CHECK(dt >= 450);
	CHECK(dt < 4000); /* the bound: it returns, not how fast */
	td_kill(&d, SIGCONT);
	CHECK_EQ(ctl(&d, "--timeout 5000 stats", NULL, NULL, 0), 0);
	td_stop(&d);
}

static void ids_tenant(void *arg)
{
	struct tdaemon d = *(struct tdaemon *)arg;
	struct dmac_proto_lease_grant g;
	char dir[64], file[128], cmd[512], out[256], want[64];
	uint64_t reg;
	int s, fd;

	outdir_make(dir);
	fd = t_memfd(2 * MB, 1);
	s = tc_connect(&d);
	CHECK_EQ(tc_hello(s, "a"), 0);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	snprintf(file, sizeof(file), "%s/leases.json", dir);
	CHECK_EQ(ctl(&d, "--json leases --all", file, NULL, 0), 0);
	/* jq: the id is a string, exactly the daemon's */
	snprintf(want, sizeof(want), "%" PRIu64, g.lease_id);
	snprintf(cmd, sizeof(cmd), "jq -r '.leases[0].lease_id' '%s'", file);
	CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
	CHECK(!strcmp(out, want));
	snprintf(cmd, sizeof(cmd), "jq -r '.leases[0].lease_id | type' '%s'", file);
	CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "string"));
	snprintf(cmd, sizeof(cmd), "jq -r '.leases[0].iova' '%s'", file);
	CHECK_EQ(t_run(cmd, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "0x%" PRIx64, g.iova);
	CHECK(!strcmp(out, want));
	/* Python's json: the same, and a round trip keeps it */
	snprintf(want, sizeof(want), "%" PRIu64 " True", g.lease_id);
	py_expect("python3",
		  "import json,sys; d=json.load(open(sys.argv[1])); l=d[\"leases\"][0]; "
		  "print(l[\"lease_id\"], json.loads(json.dumps(d)) == d)",
		  file, want);
	/* text: the same decimal id */
	snprintf(want, sizeof(want), "%" PRIu64, g.lease_id);
	snprintf(cmd, sizeof(cmd), "leases --all | grep -c ' %s '", want);
	CHECK_EQ(ctl(&d, cmd, NULL, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "1"));
	close(s);
	close(fd);
	outdir_remove(dir);
}

static void test_ctl_ids(void)
{
	struct tdaemon d;
	char conf[256];

	conf_std(conf, sizeof(conf));
	td_start(&d, conf);
	t_as(T_UID_A, T_UID_A, admin_group, 1, ids_tenant, &d);
	td_stop(&d);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "accounting"))
		test_accounting();
	else if (!strcmp(t, "sessions"))
		test_sessions();
	else if (!strcmp(t, "metrics"))
		test_metrics();
	else if (!strcmp(t, "ctl-exit"))
		test_ctl_exit();
	else if (!strcmp(t, "ctl-timeout"))
		test_ctl_timeout();
	else if (!strcmp(t, "ctl-json-ids"))
		test_ctl_ids();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		return 2;
	}
	if (t_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
	return t_failures ? 1 : 0;
}
