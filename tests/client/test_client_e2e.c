/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end: libdmacache and dmacachectl against the real daemon
 * (dmacached-test, in-process test backend) on a temp socket with a temp config.
 * The daemon runs as root (the test's uid); the client side - the library
 * calls, the memfd and dmacachectl - runs in a child that dropped to the
 * non-root tenant uid E2E_UID (asuser.h), through the daemon's default
 * socket modes and nothing set up by hand.
 *
 * Usage: test_client_e2e DMACACHED_TEST DMACACHECTL
 *
 * Invariants: the daemon is always stopped (SIGTERM, exit status 0 checked;
 * SIGKILL if it does not stop in 5 s) and the temp dir removed; every wait is
 * bounded; exits non-zero if any check failed (the child's failures count).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asuser.h"
#include "check.h"
#include "dmac/dmacache.h"

#define MB	(UINT64_C(1) << 20)
#define E2E_UID 4001 /* the tenant's uid: non-root, no passwd entry */

static char dir[64], sock[128], conf[128];
static char outdir[64]; /* the child's own: dmacachectl's output */
static const char *ctl_path;
static pid_t daemon_pid;

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void start_daemon(const char *bin)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/dmac-client-e2e-XXXXXX");
	FATAL_IF(!mkdtemp(dir));
	/* 0700 from mkdtemp: let the tenant reach run/ (root's, not writable by
	 * others, so the daemon trusts it) */
	FATAL_IF(chmod(dir, 0755));
	snprintf(sock, sizeof(sock), "%s/run/dmacached.sock", dir);
	snprintf(conf, sizeof(conf), "%s/dmacached.conf", dir);
	f = fopen(conf, "w");
	FATAL_IF(!f);
	fprintf(f,
		"[daemon]\nsocket = %s\nbackend = test\nlog_level = info\n"
		"[tenant e2e]\nuids = %u\nquota_pinned_bytes = 64M\nquota_leases = 100\n",
		sock, E2E_UID);
	fclose(f);
	daemon_pid = fork();
	FATAL_IF(daemon_pid < 0);
	if (daemon_pid == 0) {
		execl(bin, bin, "--foreground", "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, sock);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			return;
		}
		close(s);
		FATAL_IF(waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid);
		msleep(10);
	}
	kill(daemon_pid, SIGKILL);
	FATAL_IF("daemon did not listen within 5 s");
}

static void stop_daemon(void)
{
	int status = -1;
	char cmd[160];

	kill(daemon_pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid)
			break;
		msleep(10);
		if (i == 499) {
			kill(daemon_pid, SIGKILL);
			waitpid(daemon_pid, &status, 0);
		}
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

/* Run the ctl with --json; its exit status, and stdout checked by json.tool. */
static int run_ctl_json(const char *ctl, const char *cmd, const char *must_contain)
{
	char line[1024], out[160];
	int rc;

	snprintf(out, sizeof(out), "%s/ctl.json", outdir);
	snprintf(line, sizeof(line), "'%s' --socket '%s' --tenant e2e --json %s > '%s'", ctl, sock,
		 cmd, out);
	rc = system(line);
	if (rc != 0)
		return rc;
	snprintf(line, sizeof(line), "python3 -m json.tool '%s' > /dev/null", out);
	rc = system(line);
	if (rc != 0)
		return rc;
	snprintf(line, sizeof(line), "grep -q '%s' '%s'", must_contain, out);
	return system(line);
}

/* The tenant's side, as E2E_UID: returns its failed checks. */
static int client_side(void *arg)
{
	struct dmac_client *c = NULL;
	struct dmac_client_info info;
	struct dmac_client_stats st;
	struct dmac_client_lease l;
	struct dmac_client_lease_info li[4];
	uint64_t reg = 0, cursor = 0;
	size_t len, n = 0;
	void *vbase;
	char *va;
	int fd;

	(void)arg;
	CHECK_EQ(getuid(), E2E_UID);
	snprintf(outdir, sizeof(outdir), "/tmp/dmac-client-e2e-ctl-XXXXXX");
	FATAL_IF(!mkdtemp(outdir));
	fd = memfd_create("dmac-e2e", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	FATAL_IF(fd < 0 || ftruncate(fd, (off_t)(4 * MB)));
	FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	vbase = mmap(NULL, 4 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	FATAL_IF(vbase == MAP_FAILED);
	va = vbase;

	CHECK_EQ(dmac_client_connect(sock, "nosuchtenant", 0, &c), -ENOENT);
	CHECK_EQ(dmac_client_connect(sock, "e2e", 0, &c), 0);
	if (!c)
		return check_failures ? check_failures : 1;
	CHECK_EQ(dmac_client_info(c, &info), 0);
	CHECK_EQ(info.version, 3); /* both ends speak protocol version 3 */
	CHECK_EQ(info.quota_leases, 100);
	CHECK_EQ(info.quota_pinned_bytes, 64 * MB);
	CHECK(info.session_id != 0);

	CHECK_EQ(dmac_client_register(c, fd, 0, 4 * MB,
				      DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va, &reg),
		 0);
	CHECK_EQ(dmac_client_lease(c, reg, 2 * MB, 2 * MB, DMAC_CLIENT_PROT_READ, &l), 0);
	CHECK(l.va == va + 2 * MB);
	CHECK(l.iova >= info.iova_start && l.iova + l.length - 1 <= info.iova_last);
	CHECK_EQ(dmac_client_translate(c, va + 2 * MB, NULL), l.iova);
	CHECK_EQ(dmac_client_translate(c, va + 4 * MB - 1, NULL), l.iova + 2 * MB - 1);
	CHECK_EQ(dmac_client_translate(c, va + 2 * MB - 1, NULL), DMAC_CLIENT_IOVA_ERROR);
	len = 0;
	CHECK_EQ(dmac_client_translate(c, va + 3 * MB, &len), l.iova + MB);
	CHECK_EQ(len, MB);

	CHECK_EQ(dmac_client_query(c, &cursor, li, 4, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(cursor, 0);
	if (n == 1) {
		CHECK_EQ(li[0].lease_id, l.lease_id);
		CHECK_EQ(li[0].iova, l.iova);
		CHECK(li[0].va == va + 2 * MB);
	}
	CHECK_EQ(dmac_client_stats(c, &st), 0);
	CHECK(st.leases >= 1);
	CHECK(st.registrations >= 1);

	/* The operator's view while this session holds a lease. */
	CHECK_EQ(run_ctl_json(ctl_path, "stats", "\"leases\": 1"), 0);
	CHECK_EQ(run_ctl_json(ctl_path, "status", "\"reachable\": true"), 0);
	CHECK_EQ(run_ctl_json(ctl_path, "leases", "\"count\": 0"), 0); /* its own, fresh session */

	CHECK_EQ(dmac_client_unregister(c, reg), -EBUSY);
	CHECK_EQ(dmac_client_release(c, l.lease_id), 0);
	CHECK_EQ(dmac_client_translate(c, va + 2 * MB, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_release(c, l.lease_id), -ENOENT);
	cursor = 0;
	CHECK_EQ(dmac_client_query(c, &cursor, li, 4, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(dmac_client_unregister(c, reg), 0);

	/* A lease left at close is reclaimed by the daemon on hang-up. */
	CHECK_EQ(dmac_client_register(c, fd, 0, 4 * MB, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	CHECK_EQ(dmac_client_lease(c, reg, 0, MB, DMAC_CLIENT_PROT_READ, &l), 0);
	dmac_client_close(c);
	c = NULL;
	for (int i = 0; i < 100; i++) {
		struct dmac_client *c2 = NULL;

		FATAL_IF(dmac_client_connect(sock, "e2e", 0, &c2));
		CHECK_EQ(dmac_client_stats(c2, &st), 0);
		dmac_client_close(c2);
		if (st.leases == 0)
			break;
		msleep(10);
	}
	CHECK_EQ(st.leases, 0);

	munmap(vbase, 4 * MB);
	close(fd);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", outdir);
		CHECK_EQ(system(cmd), 0);
	}
	return check_failures;
}

int main(int argc, char **argv)
{
	int child;

	FATAL_IF(argc != 3);
	ctl_path = argv[2];
	start_daemon(argv[1]);
	child = as_user_run(E2E_UID, 60, client_side, NULL);
	if (child) {
		fprintf(stderr, "client_e2e: the tenant (uid %d) failed %d check(s)\n", E2E_UID,
			child);
		check_failures += child;
	}
	stop_daemon();
	return check_report("client_e2e");
}
