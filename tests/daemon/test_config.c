/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the dmacached configuration parser (apps/dmacached/config.c):
 * a valid file with every key, then every error class, each checked for its
 * exact "FILE:LINE: message" report, and allocation fault injection.
 *
 * Invariants: every case writes its own file in a private temp dir; every
 * loaded config is freed; dmac__alloc_outstanding() returns to its start.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "dmac_alloc.h"

/* A peer (uid, primary gid[, supplementary groups...]) as a compound literal. */
#define PEER(u, g, ...)                                                                            \
	((struct dmd_peer){.uid = (u),                                                             \
			   .gid = (g),                                                             \
			   .ngroups = sizeof((gid_t[]){__VA_ARGS__}) / sizeof(gid_t),              \
			   .groups = {__VA_ARGS__}})

static char dir[64];
static char path[128];
static int failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror("fopen");
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static bool known_test(const char *name)
{
	return !strcmp(name, "iommufd") || !strcmp(name, "vfio");
}

/* Load text; return rc and the error report in *report (caller frees). */
static int load(const char *text, struct dmd_config **cfg, char **report)
{
	size_t n = 0;
	FILE *errs = open_memstream(report, &n);
	int rc;

	write_file(text);
	rc = dmd_config_load(path, known_test, errs, cfg);
	fclose(errs);
	return rc;
}

/* Expect a failure whose report holds "path:LINE: needle". */
static void expect_error(const char *text, unsigned int line, const char *needle)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	char want[256];
	int rc = load(text, &cfg, &report);

	snprintf(want, sizeof(want), "%s:%u: %s", path, line, needle);
	CHECK(rc == -EINVAL);
	CHECK(cfg == NULL);
	if (!strstr(report, want)) {
		fprintf(stderr, "expected '%s' in report:\n%s\n", want, report);
		failures++;
	}
	free(report);
}

static void test_valid(void)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	const struct dmd_tenant_config *t;
	int rc = load("; comment\n"
		      "[daemon]\n"
		      "socket = /tmp/x/dmacached.sock\n"
		      "backend = vfio\n"
		      "pinned_budget = 2G\n"
		      "log_level = debug\n"
		      "log_target = syslog\n"
		      "\n"
		      "[tenant dpdk-1]\n"
		      "uids = 0, 1000 root\n"
		      "gids = 5\n"
		      "quota_pinned_bytes = 512M\n"
		      "quota_leases = 100\n"
		      "iova_start = 0x100000000\n"
		      "iova_last = 0x1ffffffff\n"
		      "[tenant spdk]\n"
		      "gids = root\n",
		      &cfg, &report);

	CHECK(rc == 0);
	CHECK(report && report[0] == '\0');
	free(report);
	if (rc)
		return;
	CHECK(!strcmp(cfg->socket, "/tmp/x/dmacached.sock"));
	CHECK(!strcmp(cfg->backend, "vfio"));
	CHECK(cfg->pinned_budget == (UINT64_C(2) << 30));
	CHECK(cfg->log_level == DMD_LOG_DEBUG);
	CHECK(cfg->log_target == DMD_LOG_SYSLOG);
	CHECK(cfg->ntenants == 2);
	t = dmd_config_tenant(cfg, "dpdk-1");
	CHECK(t != NULL);
	if (t) {
		CHECK(t->nuids == 3 && t->uids[0] == 0 && t->uids[1] == 1000 && t->uids[2] == 0);
		CHECK(t->ngids == 1 && t->gids[0] == 5);
		CHECK(t->quota_pinned_bytes == (UINT64_C(512) << 20));
		CHECK(t->quota_leases == 100);
		CHECK(t->iova_start == 0x100000000ull && t->iova_last == 0x1ffffffffull);
		CHECK(dmd_config_allows(t, &PEER(1000, 99)));
		CHECK(dmd_config_allows(t, &PEER(77, 5)));
		CHECK(!dmd_config_allows(t, &PEER(77, 99)));
		/* a supplementary group counts like the primary one */
		CHECK(dmd_config_allows(t, &PEER(77, 99, 3, 5)));
		CHECK(!dmd_config_allows(t, &PEER(77, 99, 3, 4)));
	}
	t = dmd_config_tenant(cfg, "spdk");
	CHECK(t && t->ngids == 1 && t->gids[0] == 0 && t->quota_leases == UINT64_MAX &&
	      t->iova_start == 0 && t->iova_last == UINT64_MAX);
	CHECK(dmd_config_tenant(cfg, "nope") == NULL);
	dmd_config_free(cfg);
}

static void test_defaults(void)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	int rc = load("", &cfg, &report);

	CHECK(rc == 0);
	free(report);
	if (rc)
		return;
	CHECK(!strcmp(cfg->socket, DMD_CONFIG_DEFAULT_SOCKET));
	CHECK(!strcmp(cfg->backend, "auto"));
	/* finite defaults (docs/operations.md): a quarter of the machine's memory */
	CHECK(cfg->pinned_budget == dmd_config_default_budget());
	CHECK(cfg->pinned_budget != UINT64_MAX && cfg->pinned_budget >= (1ull << 20));
	CHECK(cfg->pinned_budget ==
	      (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) / 4);
	CHECK(cfg->max_sessions == DMD_CONFIG_DEFAULT_MAX_SESSIONS);
	CHECK(cfg->max_sessions_per_uid == DMD_CONFIG_DEFAULT_MAX_SESSIONS_PER_UID);
	CHECK(cfg->hello_timeout_ms == DMD_CONFIG_DEFAULT_HELLO_TIMEOUT_MS);
	CHECK(cfg->max_registrations_per_session == DMD_CONFIG_DEFAULT_MAX_REGS_PER_SESSION);
	CHECK(cfg->ntenants == 0);
	dmd_config_free(cfg);
}

/* The resource bounds: values, ranges, 'unlimited' where allowed. */
static void test_bounds(void)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	int rc = load("[daemon]\nmax_sessions = 10\nmax_sessions_per_uid = 0x3\n"
		      "hello_timeout_ms = 250\nmax_registrations_per_session = unlimited\n"
		      "[tenant t]\nuids = 0\nquota_registrations = 7\n",
		      &cfg, &report);

	CHECK(rc == 0);
	free(report);
	if (!rc) {
		CHECK(cfg->max_sessions == 10);
		CHECK(cfg->max_sessions_per_uid == 3);
		CHECK(cfg->hello_timeout_ms == 250);
		CHECK(cfg->max_registrations_per_session == UINT64_MAX);
		CHECK(cfg->tenants[0].quota_registrations == 7);
		dmd_config_free(cfg);
	}
	rc = load("[daemon]\nmax_sessions = 0\nmax_sessions_per_uid = unlimited\n"
		  "hello_timeout_ms = 0\n[tenant t]\nuids = 0\nquota_registrations = 0\n",
		  &cfg, &report);
	CHECK(rc == -EINVAL);
	CHECK(report && strstr(report, ":2: max_sessions: out of range") != NULL);
	CHECK(report && strstr(report, ":3: max_sessions_per_uid: bad number") != NULL);
	CHECK(report && strstr(report, ":4: hello_timeout_ms: out of range") != NULL);
	CHECK(report && strstr(report, ":7: quota_registrations: out of range") != NULL);
	free(report);
	/* a tenant without the key gets the default */
	rc = load("[tenant t]\nuids = 0\n", &cfg, &report);
	free(report);
	CHECK(rc == 0);
	if (!rc) {
		CHECK(cfg->tenants[0].quota_registrations ==
		      DMD_CONFIG_DEFAULT_QUOTA_REGISTRATIONS);
		dmd_config_free(cfg);
	}
}

static void test_bytes(void)
{
	uint64_t v;

	CHECK(dmd_config_parse_bytes("4096", false, &v) == 0 && v == 4096);
	CHECK(dmd_config_parse_bytes("0x1000", false, &v) == 0 && v == 4096);
	CHECK(dmd_config_parse_bytes("4K", false, &v) == 0 && v == 4096);
	CHECK(dmd_config_parse_bytes("3m", false, &v) == 0 && v == 3u << 20);
	CHECK(dmd_config_parse_bytes("1T", false, &v) == 0 && v == UINT64_C(1) << 40);
	CHECK(dmd_config_parse_bytes("unlimited", true, &v) == 0 && v == UINT64_MAX);
	CHECK(dmd_config_parse_bytes("unlimited", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("16777216T", false, &v) == -ERANGE);
	CHECK(dmd_config_parse_bytes("99999999999999999999", false, &v) == -ERANGE);
	CHECK(dmd_config_parse_bytes("-1", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("4KB", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("12x", false, &v) == -EINVAL);
}

static void test_errors(void)
{
	expect_error("[daemon]\nsocktet = /x\n", 2, "unknown key 'socktet' in [daemon]");
	expect_error("[tenant a]\nuids = 1\nquota = 3\n", 3, "unknown key 'quota' in [tenant a]");
	expect_error("[daemon]\npinned_budget = 12Q\n", 2, "pinned_budget: bad number '12Q'");
	expect_error("[daemon]\npinned_budget = 99999999999G\n", 2,
		     "pinned_budget: number too large");
	expect_error("[tenant a]\nuids = 1\nquota_leases = ten\n", 3,
		     "quota_leases: bad number 'ten'");
	expect_error("[tenant a]\nuids = 1\nquota_pinned_bytes = 1X\n", 3,
		     "quota_pinned_bytes: bad number");
	expect_error("[tenant a]\nuids = 1\n\n[tenant a]\nuids = 2\n", 4,
		     "duplicate tenant 'a' (first at line 1)");
	expect_error("[daemon]\n[daemon]\n", 2, "duplicate [daemon] section (first at line 1)");
	expect_error("[daemon]\nbackend = auto\nbackend = vfio\n", 3,
		     "duplicate key 'backend' in [daemon]");
	expect_error("[tenant a]\nuids = 1\niova_start = 0x2000\niova_last = 0xfff\n", 3,
		     "tenant 'a': empty IOVA window");
	expect_error("[tenant a]\nuids = 1\niova_start = 0x1000\niova_last = 0x1ffe\n", 3,
		     "tenant 'a': IOVA window must start on a 4 KiB boundary");
	expect_error("[tenant a]\nuids = 1\niova_start = 0x100000\niova_last = 0x1fffff\n"
		     "[tenant b]\nuids = 1\niova_start = 0x1ff000\niova_last = 0x2fffff\n",
		     7, "tenant 'b': IOVA window overlaps the window of tenant 'a' (line 3)");
	expect_error("[tenant a]\nuids = 1\niova_start = zero\n", 3, "iova_start: bad number");
	expect_error("[daemon]\nsocket = dmacached.sock\n", 2,
		     "socket: 'dmacached.sock' must be an absolute path");
	expect_error("[daemon]\nsocket = @abstract\n", 2,
		     "socket: '@abstract' must be an absolute path (abstract sockets are refused)");
	expect_error("[daemon]\nbackend = test\n", 2, "backend: 'test' is not offered");
	expect_error("[daemon]\nlog_level = loud\n", 2, "log_level: 'loud'");
	expect_error("[daemon]\nlog_target = file\n", 2, "log_target: 'file'");
	expect_error("[tenant a]\n", 1, "tenant 'a' allows nobody");
	expect_error("[tenant a]\nuids = no-such-user-dmac\n", 2,
		     "uids: no such user 'no-such-user-dmac'");
	expect_error("[tenant a]\ngids = no-such-group-dmac\n", 2,
		     "gids: no such group 'no-such-group-dmac'");
	expect_error("[tenant a]\nuids = 4294967295\n", 2, "uids: bad user id '4294967295'");
	expect_error("[tenant a]\nuids = ,\n", 2, "uids: empty list");
	expect_error("[tenant bad/name]\nuids = 1\n", 1, "bad tenant name 'bad/name'");
	expect_error("[tenant]\nuids = 1\n", 1, "unknown section [tenant]");
	expect_error("[tenants a]\n", 1, "unknown section [tenants a]");
	expect_error("socket = /x\n", 1, "key 'socket' outside any section");
	expect_error("[daemon]\njust words\n", 2, "expected 'key = value'");
	expect_error("[daemon\n", 1, "section header without ']'");
	{
		char text[1024];
		char longpath[200];
		int o = snprintf(text, sizeof(text), "[tenant a]\nuids =");

		for (int i = 0; i < 33; i++)
			o += snprintf(text + o, sizeof(text) - (size_t)o, " %d", i);
		snprintf(text + o, sizeof(text) - (size_t)o, "\n");
		expect_error(text, 2, "uids: more than 32 entries");
		memset(longpath, 'x', sizeof(longpath));
		longpath[0] = '/';
		longpath[150] = '\0';
		snprintf(text, sizeof(text), "[daemon]\nsocket = %s\n", longpath);
		expect_error(text, 2, "socket: path longer than 107 bytes");
	}
	/* every error of one file is reported, not only the first */
	expect_error("[daemon]\nfoo = 1\nlog_level = x\n", 2, "unknown key 'foo'");
	expect_error("[daemon]\nfoo = 1\nlog_level = x\n", 3, "log_level: 'x'");
}

static void test_missing_file(void)
{
	struct dmd_config *cfg = NULL;
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/none.conf", dir);
	CHECK(dmd_config_load(missing, NULL, NULL, &cfg) == -ENOENT);
}

/* Fail the Nth allocation for N = 1, 2, ... until none fails; nothing leaks. */
static void test_alloc_faults(void)
{
	const char *text = "[daemon]\nsocket = /tmp/s\n[tenant a]\nuids = 1\n[tenant b]\n"
			   "gids = 2\n[tenant c]\nuids = 3\n";
	int64_t base = dmac__alloc_outstanding();
	unsigned int n;

	write_file(text);
	for (n = 1; n < 100; n++) {
		struct dmd_config *cfg = NULL;
		int rc;

		dmac__fault_alloc_arm(n);
		rc = dmd_config_load(path, NULL, NULL, &cfg);
		if (!dmac__fault_alloc_fired()) {
			dmac__fault_alloc_arm(0);
			CHECK(rc == 0);
			dmd_config_free(cfg);
			break;
		}
		CHECK(rc == -ENOMEM);
		CHECK(cfg == NULL);
		CHECK(dmac__alloc_outstanding() == base);
	}
	dmac__fault_alloc_arm(0);
	CHECK(n > 1 && n < 100);
	CHECK(dmac__alloc_outstanding() == base);
}

/* admin_gids: numbers and names, validated, duplicates and bad names refused. */
static void test_admin_gids(void)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	int rc = load("[daemon]\nadmin_gids = 7, root 65534\n", &cfg, &report);

	CHECK(rc == 0);
	free(report);
	if (rc == 0) {
		CHECK(cfg->nadmin_gids == 3);
		CHECK(cfg->admin_gids[0] == 7 && cfg->admin_gids[1] == 0 &&
		      cfg->admin_gids[2] == 65534);
		CHECK(dmd_config_is_admin(cfg, &PEER(0, 12345)));
		CHECK(dmd_config_is_admin(cfg, &PEER(1000, 7)));
		CHECK(dmd_config_is_admin(cfg, &PEER(1000, 65534)));
		CHECK(!dmd_config_is_admin(cfg, &PEER(1000, 1000)));
		CHECK(dmd_config_is_admin(cfg, &PEER(1000, 1000, 44, 7)));
		CHECK(!dmd_config_is_admin(cfg, &PEER(1000, 1000, 44, 45)));
		dmd_config_free(cfg);
	}
	rc = load("", &cfg, &report);
	free(report);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(cfg->nadmin_gids == 0);
		CHECK(dmd_config_is_admin(cfg, &PEER(0, 0)));
		CHECK(!dmd_config_is_admin(cfg, &PEER(1, 0)));
		dmd_config_free(cfg);
	}
	expect_error("[daemon]\nadmin_gids = no-such-group-x\n", 2,
		     "admin_gids: no such group 'no-such-group-x'");
	expect_error("[daemon]\nadmin_gids = 4294967295\n", 2, "admin_gids: bad group id");
	expect_error("[daemon]\nadmin_gids = 1\nadmin_gids = 2\n", 3, "duplicate key 'admin_gids'");
	expect_error("[daemon]\nadmin_gids = ,\n", 2, "admin_gids: empty list");
	expect_error("[tenant a]\nuids = 1\nadmin_gids = 1\n", 3,
		     "unknown key 'admin_gids' in [tenant a]");
}

/* Load text that must be valid; NULL (reported) if it is not. */
static struct dmd_config *load_ok(const char *text)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	int rc = load(text, &cfg, &report);

	if (rc) {
		fprintf(stderr, "expected a valid config, got %d:\n%s\n", rc, report);
		failures++;
		cfg = NULL;
	}
	free(report);
	return cfg;
}

/*
 * socket_group, socket_mode, socket_dir_mode: defaults that depend on whether a
 * group is set, octal parsing, and every refusal with its line.
 */
static void test_socket_keys(void)
{
	struct dmd_config *cfg;

	/* no group: anyone may connect (0666 in a 0755 directory) */
	cfg = load_ok("");
	if (cfg) {
		CHECK(!cfg->socket_group_set);
		CHECK(cfg->socket_mode == 0666);
		CHECK(cfg->socket_dir_mode == 0755);
		dmd_config_free(cfg);
	}
	/* a group narrows the defaults to 0660 / 0750; by number or by name */
	cfg = load_ok("[daemon]\nsocket_group = 4242\n");
	if (cfg) {
		CHECK(cfg->socket_group_set && cfg->socket_group == 4242);
		CHECK(cfg->socket_mode == 0660);
		CHECK(cfg->socket_dir_mode == 0750);
		dmd_config_free(cfg);
	}
	cfg = load_ok("[daemon]\nsocket_group = root\n");
	if (cfg) {
		CHECK(cfg->socket_group_set && cfg->socket_group == 0);
		dmd_config_free(cfg);
	}
	/* explicit modes win over either default; the leading 0 is optional */
	cfg = load_ok("[daemon]\nsocket_group = 7\nsocket_mode = 0666\n");
	if (cfg) {
		CHECK(cfg->socket_mode == 0666);
		CHECK(cfg->socket_dir_mode == 0750);
		dmd_config_free(cfg);
	}
	cfg = load_ok("[daemon]\nsocket_mode = 600\nsocket_dir_mode = 0700\n");
	if (cfg) {
		CHECK(!cfg->socket_group_set);
		CHECK(cfg->socket_mode == 0600);
		CHECK(cfg->socket_dir_mode == 0700);
		dmd_config_free(cfg);
	}
	cfg = load_ok("[daemon]\nsocket_mode = 0\nsocket_dir_mode = 0711\n");
	if (cfg) {
		CHECK(cfg->socket_mode == 0);
		CHECK(cfg->socket_dir_mode == 0711);
		dmd_config_free(cfg);
	}

	expect_error("[daemon]\nsocket_mode = 0668\n", 2,
		     "socket_mode: bad mode '0668' (octal, e.g. 0660)");
	expect_error("[daemon]\nsocket_mode = rw-rw----\n", 2, "socket_mode: bad mode 'rw-rw----'");
	expect_error("[daemon]\nsocket_mode = 0x1b6\n", 2, "socket_mode: bad mode '0x1b6'");
	expect_error("[daemon]\nsocket_mode =\n", 2, "socket_mode: bad mode ''");
	expect_error("[daemon]\nsocket_mode = 04660\n", 2,
		     "socket_mode: '04660' is above 0777 (setuid, setgid and sticky bits are "
		     "refused)");
	expect_error("[daemon]\nsocket_mode = 0777777777777\n", 2,
		     "socket_mode: '0777777777777' is above 0777");
	expect_error("[daemon]\nsocket_dir_mode = 01755\n", 2,
		     "socket_dir_mode: '01755' is above 0777");
	expect_error("[daemon]\nsocket_dir_mode = 0777\n", 2,
		     "socket_dir_mode: 0777 lets group or others write in the socket directory");
	expect_error("[daemon]\nsocket_dir_mode = 0770\n", 2,
		     "socket_dir_mode: 0770 lets group or others write");
	expect_error("[daemon]\nsocket_dir_mode = 0752\n", 2,
		     "socket_dir_mode: 0752 lets group or others write");
	expect_error("[daemon]\nsocket_dir_mode = 0550\n", 2,
		     "socket_dir_mode: 0550 must give the owner rwx");
	expect_error("[daemon]\nsocket_dir_mode = 9\n", 2,
		     "socket_dir_mode: bad mode '9' (octal, e.g. 0750)");
	expect_error("[daemon]\nsocket_group = no-such-group-dmac\n", 2,
		     "socket_group: no such group 'no-such-group-dmac'");
	expect_error("[daemon]\nsocket_group = 4294967295\n", 2,
		     "socket_group: bad group id '4294967295'");
	expect_error("[daemon]\nsocket_group = 12x\n", 2, "socket_group: bad group id '12x'");
	expect_error("[daemon]\nsocket_group = root, 5\n", 2,
		     "socket_group: one group expected, got 'root, 5'");
	expect_error("[daemon]\nsocket_group =\n", 2, "socket_group: one group expected");
	expect_error("[daemon]\nsocket_group = 1\nsocket_group = 2\n", 3,
		     "duplicate key 'socket_group' in [daemon]");
	expect_error("[daemon]\nsocket_mode = 0660\nsocket_mode = 0600\n", 3,
		     "duplicate key 'socket_mode' in [daemon]");
	expect_error("[tenant a]\nuids = 1\nsocket_dir_mode = 0750\n", 3,
		     "unknown key 'socket_dir_mode' in [tenant a]");
	/* all errors of one file, each on its line */
	expect_error("[daemon]\nsocket_mode = 8\nsocket_dir_mode = 0777\nsocket_group = nope-x\n",
		     3, "socket_dir_mode: 0777 lets group");
	expect_error("[daemon]\nsocket_mode = 8\nsocket_dir_mode = 0777\nsocket_group = nope-x\n",
		     4, "socket_group: no such group 'nope-x'");
}

/* dmd_config_parse_mem(): same results and messages as from a file. */
static void test_mem(void)
{
	static const char text[] = "[daemon]\nsocket = /tmp/s\n[tenant a]\nuids = 1\n"
				   "quota_leases = 5";
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	size_t n = 0;
	FILE *errs;
	int rc;

	rc = dmd_config_parse_mem("mem", text, sizeof(text) - 1, NULL, NULL, &cfg);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(!strcmp(cfg->socket, "/tmp/s"));
		CHECK(cfg->ntenants == 1 && cfg->tenants[0].quota_leases == 5);
		dmd_config_free(cfg);
	}
	/* the length bounds the text: cut before the last line */
	rc = dmd_config_parse_mem("mem", text, (size_t)(strstr(text, "quota") - text), NULL, NULL,
				  &cfg);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(cfg->tenants[0].quota_leases == UINT64_MAX);
		dmd_config_free(cfg);
	}
	rc = dmd_config_parse_mem("mem", NULL, 0, NULL, NULL, &cfg);
	CHECK(rc == 0);
	dmd_config_free(rc == 0 ? cfg : NULL);
	errs = open_memstream(&report, &n);
	rc = dmd_config_parse_mem("mem", "[daemon]\nx = 1\n\0[tenant", 24, NULL, errs, &cfg);
	fclose(errs);
	CHECK(rc == -EINVAL);
	CHECK(strstr(report, "mem:2: unknown key 'x' in [daemon]") != NULL);
	free(report);
}

/* How many times needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *h = hay; (h = strstr(h, needle)) != NULL; h++)
		n++;
	return n;
}

/* Load text from the file and from memory: same rc, same report (file name aside). */
static int load_both(const char *text, size_t len, char **report)
{
	struct dmd_config *cfg = NULL;
	char *mrep = NULL, *frep = NULL;
	size_t n = 0;
	FILE *errs, *f;
	int rc, mrc;

	f = fopen(path, "w");
	if (!f || fwrite(text, 1, len, f) != len) {
		perror("write config");
		exit(1);
	}
	fclose(f);
	errs = open_memstream(&frep, &n);
	rc = dmd_config_load(path, known_test, errs, &cfg);
	fclose(errs);
	dmd_config_free(rc ? NULL : cfg);
	errs = open_memstream(&mrep, &n);
	mrc = dmd_config_parse_mem(path, text, len, known_test, errs, &cfg);
	fclose(errs);
	dmd_config_free(mrc ? NULL : cfg);
	CHECK(rc == mrc);
	if (strcmp(frep, mrep)) {
		fprintf(stderr, "file and memory reports differ:\n%s---\n%s", frep, mrep);
		failures++;
	}
	free(mrep);
	*report = frep;
	return rc;
}

/*
 * A line longer than the reader's limit (libinih's buffer, INI_MAX_LINE, less
 * its NUL) is one error at its own line; the lines after it keep their
 * numbers. Before, such a line was cut into pieces that inih took for lines
 * of their own: phantom errors, every later line number shifted.
 */
/* text = head, n times c, tail (text holds 4096 bytes); its length. */
static size_t with_run(char *text, const char *head, char c, size_t n, const char *tail)
{
	size_t o = (size_t)snprintf(text, 4096, "%s", head);

	memset(text + o, c, n);
	o += n;
	return o + (size_t)snprintf(text + o, 4096 - o, "%s", tail);
}

/* Load text; the report must hold "path:LINE: needle" and count lines in all. */
static void expect_long(const char *text, size_t len, unsigned int line, const char *needle,
			int count)
{
	char want[256], *report = NULL;
	int rc = load_both(text, len, &report);

	snprintf(want, sizeof(want), "%s:%u: %s", path, line, needle);
	CHECK(rc == -EINVAL);
	CHECK(strstr(report, want) != NULL);
	CHECK(count_of(report, path) == count); /* nothing else: no phantom line */
	if (!strstr(report, want) || count_of(report, path) != count)
		fprintf(stderr, "expected '%s' and %d error(s) in:\n%s", want, count, report);
	free(report);
}

static void test_long_lines(void)
{
	const size_t limit = INI_MAX_LINE - 1;
	char text[4096], needle[64];
	size_t o;

	snprintf(needle, sizeof(needle), "line longer than %zu characters", limit);
	/* a 600-character comment at line 3; the unknown key at line 4 keeps its number */
	o = with_run(text, "[tenant a]\nuids = 1\n;", 'x', 599,
		     "\nnope = 1\n[tenant b]\nuids = 2\n");
	expect_long(text, o, 3, needle, 2);
	expect_long(text, o, 4, "unknown key 'nope' in [tenant a]", 2);
	/* a long value: refused at its line, never read cut short */
	o = with_run(text, "[daemon]\nsocket = /", 's', 300, "\n[tenant a]\nuids = 1\n");
	expect_long(text, o, 2, needle, 1);
	/* a long last line without a newline */
	o = with_run(text, "[tenant a]\nuids = 1\n;", 'z', 1000, "");
	expect_long(text, o, 3, needle, 1);
	/* exactly the limit is a line, one more is not; "\r\n" does not count
	 * (tenant a's own error, "allows nobody", is there in every case) */
	for (int crlf = 0; crlf < 2; crlf++) {
		const char *tail = crlf ? "\r\n[tenant b]\nuids = 2\n" : "\n[tenant b]\nuids = 2\n";

		o = with_run(text, "[tenant a]\n#", 'c', limit - 1, tail);
		expect_long(text, o, 1, "tenant 'a' allows nobody", 1);
		o = with_run(text, "[tenant a]\n#", 'c', limit, tail);
		expect_long(text, o, 2, needle, 2);
	}
}

/* A directory, an unreadable file and a failing read are refused, saying why. */
static void test_not_a_file(void)
{
	struct dmd_config *cfg = NULL;
	char *report = NULL;
	size_t n = 0;
	FILE *errs;
	int rc;

	errs = open_memstream(&report, &n);
	rc = dmd_config_load(dir, NULL, errs, &cfg);
	fclose(errs);
	CHECK(rc == -EISDIR);
	CHECK(strstr(report, "is a directory, not a configuration file") != NULL);
	free(report);

	/* /proc/self/mem opens, and its first read fails (EIO) */
	errs = open_memstream(&report, &n);
	rc = dmd_config_load("/proc/self/mem", NULL, errs, &cfg);
	fclose(errs);
	CHECK(rc == -EIO);
	CHECK(strstr(report, "/proc/self/mem: cannot read: ") != NULL);
	free(report);

	/* a file its reader may not read: as uid 4001 when run as root */
	write_file("[tenant a]\nuids = 1\n");
	CHECK(chmod(path, 0600) == 0);
	if (geteuid() == 0) {
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			FILE *e = open_memstream(&report, &n);

			if (setresgid(4001, 4001, 4001) || setresuid(4001, 4001, 4001))
				_exit(2);
			rc = dmd_config_load(path, NULL, e, &cfg);
			fclose(e);
			_exit(rc == -EACCES && strstr(report, ": cannot open: Permission denied")
				  ? 0
				  : 1);
		}
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	} else {
		CHECK(chmod(path, 0) == 0);
		CHECK(dmd_config_load(path, NULL, NULL, &cfg) == -EACCES);
	}
	CHECK(chmod(path, 0644) == 0);
}

/* Numbers are decimal or 0x hex; a leading zero is refused, never octal. */
static void test_leading_zero(void)
{
	struct dmd_config *cfg;
	uint64_t v;

	CHECK(dmd_config_parse_bytes("0100", false, &v) == -EDOM);
	CHECK(dmd_config_parse_bytes("010M", false, &v) == -EDOM);
	CHECK(dmd_config_parse_bytes("00", false, &v) == -EDOM);
	CHECK(dmd_config_parse_bytes("0", false, &v) == 0 && v == 0);
	CHECK(dmd_config_parse_bytes("0K", false, &v) == 0 && v == 0);
	CHECK(dmd_config_parse_bytes("0x0100", false, &v) == 0 && v == 256);
	CHECK(dmd_config_parse_bytes("0X40", false, &v) == 0 && v == 64);
	CHECK(dmd_config_parse_bytes("0x", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("0xg", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("0x0x10", false, &v) == -EINVAL);
	CHECK(dmd_config_parse_bytes("100", false, &v) == 0 && v == 100);

	expect_error("[tenant a]\nuids = 1\nquota_leases = 0100\n", 3,
		     "quota_leases: '0100' has a leading zero: numbers are decimal or 0x hex, "
		     "never octal");
	expect_error("[tenant a]\nuids = 1\nquota_pinned_bytes = 010M\n", 3,
		     "quota_pinned_bytes: '010M' has a leading zero");
	expect_error("[tenant a]\nuids = 1\ncopy_cache_bytes = 01G\n", 3,
		     "copy_cache_bytes: '01G' has a leading zero");
	expect_error("[tenant a]\nuids = 1\nquota_registrations = 07\n", 3,
		     "quota_registrations: '07' has a leading zero");
	expect_error("[tenant a]\nuids = 1\niova_start = 0100000\n", 3,
		     "iova_start: '0100000' has a leading zero");
	expect_error("[tenant a]\nuids = 1, 04001\n", 2, "uids: '04001' has a leading zero");
	expect_error("[tenant a]\ngids = 0100\n", 2, "gids: '0100' has a leading zero");
	expect_error("[daemon]\npinned_budget = 0200M\n", 2,
		     "pinned_budget: '0200M' has a leading zero");
	expect_error("[daemon]\nmax_sessions = 010\n", 2, "max_sessions: '010' has a leading zero");
	expect_error("[daemon]\nhello_timeout_ms = 01000\n", 2,
		     "hello_timeout_ms: '01000' has a leading zero");
	expect_error("[daemon]\nsocket_group = 0100\n", 2,
		     "socket_group: '0100' has a leading zero");
	expect_error("[daemon]\nadmin_gids = 0100\n", 2, "admin_gids: '0100' has a leading zero");

	/* zero itself, hex with leading zeros, and the octal socket modes stay */
	cfg = load_ok("[daemon]\npinned_budget = 0\nsocket_mode = 0660\nsocket_dir_mode = 0750\n"
		      "[tenant a]\nuids = 0\nquota_leases = 0x0040\niova_start = 0x000100000\n");
	if (cfg) {
		CHECK(cfg->pinned_budget == 0);
		CHECK(cfg->socket_mode == 0660 && cfg->socket_dir_mode == 0750);
		CHECK(cfg->tenants[0].uids[0] == 0);
		CHECK(cfg->tenants[0].quota_leases == 64);
		CHECK(cfg->tenants[0].iova_start == 0x100000);
		dmd_config_free(cfg);
	}
}

/* An empty or tenant-less configuration is valid, with a warning to show. */
static void test_warning(void)
{
	struct dmd_config *cfg;

	cfg = load_ok("");
	if (cfg) {
		CHECK(dmd_config_warning(cfg) != NULL);
		CHECK(strstr(dmd_config_warning(cfg), "no [tenant NAME] section") != NULL);
		dmd_config_free(cfg);
	}
	cfg = load_ok("[daemon]\nlog_level = debug\n");
	if (cfg) {
		CHECK(dmd_config_warning(cfg) != NULL);
		dmd_config_free(cfg);
	}
	cfg = load_ok("[tenant a]\nuids = 1\n");
	if (cfg) {
		CHECK(dmd_config_warning(cfg) == NULL);
		dmd_config_free(cfg);
	}
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dmac-config-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/dmacached.conf", dir);
	test_valid();
	test_defaults();
	test_bounds();
	test_bytes();
	test_errors();
	test_missing_file();
	test_alloc_faults();
	test_admin_gids();
	test_socket_keys();
	test_mem();
	test_long_lines();
	test_not_a_file();
	test_leading_zero();
	test_warning();
	unlink(path);
	rmdir(dir);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("config: all checks passed\n");
	return 0;
}
