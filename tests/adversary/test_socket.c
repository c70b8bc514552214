/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Suite 'adversary', host part: the socket and who is on the other end
 * (docs/protocol.md section 8). The real dmacached-test (test backend) as
 * root; tenants are t_as() children (non-root, no capabilities). One test per
 * run (argv[1]):
 *
 *   nonroot-tenant  with the default config a non-root uid connects and gets
 *                   HELLO, REGISTER, LEASE and QUERY answered; an unlisted
 *                   uid connects too but HELLO refuses it (EACCES)
 *   socket-group    socket_group/socket_mode/socket_dir_mode give the socket
 *                   and its directory exactly that owner, group and mode
 *                   (fstat through O_PATH/O_DIRECTORY fds); a uid outside the
 *                   group gets EACCES from connect(), a member connects; an
 *                   existing directory with another mode and group is
 *                   corrected at start (logged)
 *   socket-dir      the daemon refuses to start (exit 1, the reason and path
 *                   in its log, nothing created) when the socket directory or
 *                   an ancestor is owned by another uid, is writable by group
 *                   or others without the sticky bit, is reached through a
 *                   symlink to such a directory or through a symlink owned by
 *                   another uid, is a shared sticky directory, or is /; a
 *                   root-owned symlink to a good directory and a sticky
 *                   world-writable ancestor (like /tmp) are accepted
 *   supp-groups     a peer whose uid is not listed but whose supplementary
 *                   group is in a tenant's gids is admitted (HELLO, REGISTER,
 *                   LEASE); one whose supplementary group is in admin_gids
 *                   gets an admin session; without the group, EACCES
 *   unit-caps       under the systemd unit's CapabilityBoundingSet= (CAP_CHOWN
 *                   alone) the daemon runs with exactly that effective set and
 *                   gives the socket and its directory socket_group; with no
 *                   capability it refuses to start (EPERM in its log)
 *   fake-daemon     libdmacache, as a non-root tenant, refuses a socket
 *                   served by uid 4003 (bound in a directory that uid owns):
 *                   -EPERM, and the fake daemon receives no byte; with
 *                   DMACACHE_DAEMON_UID=4003 it is admitted (control)
 *
 * Each fails on the tree before issue 10 section 4: the socket was 0660
 * root:root in a 0750 directory (non-root peers could not connect), the new
 * keys did not exist, untrusted directories were accepted, and the library
 * sent HELLO to whoever served the path.
 * Invariants: the root parent only creates directories, starts, reads and
 * stops daemons; waits are bounded (5 s for a daemon to listen or exit).
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asuser.h"
#include "dmac/dmacache.h"
#include "harness.h"

#define MB (UINT64_C(1) << 20)
#define RW DMAC_PROTO_PROT_ALL

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void rmtree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

/* Whether @p file contains @p needle. */
static int file_has(const char *file, const char *needle)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen(file, "r");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* connect() to @p path: 0 or -errno. */
static int try_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc = 0;

	if (s < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		rc = -errno;
	close(s);
	return rc;
}

/*
 * Run dmacached-test on @p conf with stderr to @p log. Returns 0 with *pid
 * once @p sock accepts a connection, or the exit status (> 0) if the daemon
 * exited first; -1 if it did neither within 5 s (it is killed).
 */
/* Keep the whole bounding set (launch_caps()'s keep). */
#define CAPS_ALL (-2)
/* Keep no capability at all. */
#define CAPS_NONE (-1)

/*
 * Drop every capability but keep (a CAP_* number, CAPS_NONE or CAPS_ALL) from the
 * bounding set, as systemd does for CapabilityBoundingSet=: root's exec then gets
 * only what is left. 0 or -errno.
 */
static int drop_bounding_set(int keep)
{
	FILE *f;
	int last = -1;

	if (keep == CAPS_ALL)
		return 0;
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%d", &last) != 1)
		last = -1;
	fclose(f);
	if (last < 0)
		return -EINVAL;
	for (int c = 0; c <= last; c++)
		if (c != keep && prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			return -errno;
	return 0;
}

/*
 * Start DMACACHED_TEST on conf (stderr into log) with the bounding set that keep
 * says, and wait until sock accepts: 0 (*pid set), the daemon's exit status (255
 * for 0, 254 for a signal) if it exited, -1 if it did not listen within 5 s.
 */
static int launch_caps(const char *conf, const char *log, const char *sock, pid_t *pid, int keep)
{
	const char *bin = getenv("DMACACHED_TEST");
	int status;
	pid_t p;

	if (!bin) {
		fprintf(stderr, "DMACACHED_TEST is not set\n");
		exit(1);
	}
	fflush(NULL);
	p = fork();
	if (p < 0)
		exit(1);
	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 2) < 0 || drop_bounding_set(keep))
			_exit(126);
		execl(bin, bin, "--foreground", "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (waitpid(p, &status, WNOHANG) == p)
			return WIFEXITED(status) ? (WEXITSTATUS(status) ? WEXITSTATUS(status) : 255)
						 : 254;
		if (try_connect(sock) == 0) {
			*pid = p;
			return 0;
		}
		msleep(10);
	}
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	return -1;
}

static int launch(const char *conf, const char *log, const char *sock, pid_t *pid)
{
	return launch_caps(conf, log, sock, pid, CAPS_ALL);
}

/* SIGTERM a launch()ed daemon; its exit status must be 0. */
static void stop(pid_t pid)
{
	int status = -1;

	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		msleep(10);
		if (i == 499) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A minimal config: the socket, the test backend, one tenant for T_UID_A. */
static void write_conf(const char *conf, const char *sock, const char *extra)
{
	FILE *f = fopen(conf, "w");

	if (!f) {
		perror("write config");
		exit(1);
	}
	fprintf(
	    f,
	    "[daemon]\nsocket = %s\nbackend = test\nlog_level = debug\n%s[tenant a]\nuids = %u\n",
	    sock, extra ? extra : "", T_UID_A);
	fclose(f);
}

/* ---- nonroot-tenant ---------------------------------------------------------- */

static void nonroot_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_info info[2];
	struct dmac_proto_lease_grant g;
	uint64_t reg, next;
	uint32_t n;
	int s, fd;

	CHECK(getuid() != 0 && geteuid() != 0);
	s = tc_connect(d);
	CHECK_EQ(tc_hello(s, "a"), 0);
	fd = t_memfd(2 * MB, 1);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK(g.lease_id != 0 && g.length == 2 * MB);
	CHECK_EQ(tc_query(s, 0, 2, info, &n, &next), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(info[0].lease_id, g.lease_id);
	td_sync(d, NULL);
	CHECK_EQ(td_get(d, "leases"), 1);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	close(s);
	close(fd);
}

/* Any local uid reaches the socket; HELLO is what decides. */
static void unlisted_tenant(void *arg)
{
	struct tdaemon *d = arg;
	int s = tc_connect(d);

	CHECK_EQ(tc_hello(s, "a"), EACCES);
	close(s);
}

static void test_nonroot_tenant(void)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf); /* the default socket modes */
	t_as_user(T_UID_A, nonroot_tenant, &d);
	t_as_user(T_UID_B, unlisted_tenant, &d);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	td_stop(&d);
}

/* ---- socket-group ------------------------------------------------------------ */

/* Owner, group and permission bits of @p path, through an fd of it. */
static void check_node(const char *path, int dir, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_PATH) | O_NOFOLLOW | O_CLOEXEC);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK(dir ? S_ISDIR(st.st_mode) : S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_uid, uid);
	CHECK_EQ(st.st_gid, gid);
	CHECK_EQ(st.st_mode & 07777, mode);
	close(fd);
}

struct conn_case {
	const char *sock;
	int expect_connect; /* 0 or -errno */
	int expect_hello;   /* when connected: HELLO a's status */
};

static void conn_case_run(void *arg)
{
	const struct conn_case *cc = arg;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc = 0;

	strcpy(sa.sun_path, cc->sock);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		rc = -errno;
	CHECK_EQ(rc, cc->expect_connect);
	if (rc == 0)
		CHECK_EQ(tc_hello(s, "a"), cc->expect_hello);
	close(s);
}

static void conn_as(uid_t uid, const gid_t *groups, int ngroups, const char *sock,
		    int expect_connect, int expect_hello)
{
	struct conn_case cc = {sock, expect_connect, expect_hello};

	if (t_as(uid, (gid_t)uid, groups, ngroups, conn_case_run, &cc))
		fprintf(stderr, "  (connect as uid %u with %d group(s))\n", (unsigned int)uid,
			ngroups);
}

static void test_socket_group(void)
{
	static const gid_t x[] = {T_GID_X};
	char extra[256], run[160], base[64], conf[160], log[160];
	struct tdaemon d;
	pid_t pid;

	/* a group, default modes: 0660 socket in a 0750 directory, both root:X */
	snprintf(extra, sizeof(extra), "socket_group = %u\n[tenant a]\nuids = %u\n", T_GID_X,
		 T_UID_A);
	td_start(&d, extra);
	snprintf(run, sizeof(run), "%s/run", d.dir);
	check_node(run, 1, 0, T_GID_X, 0750);
	check_node(d.sock, 0, 0, T_GID_X, 0660);
	/* a listed tenant outside the group cannot even connect */
	conn_as(T_UID_A, NULL, 0, d.sock, -EACCES, 0);
	conn_as(T_UID_B, NULL, 0, d.sock, -EACCES, 0);
	/* a member connects; HELLO decides who it may be */
	conn_as(T_UID_A, x, 1, d.sock, 0, 0);
	conn_as(T_UID_B, x, 1, d.sock, 0, EACCES);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	td_stop(&d);

	/* explicit modes are exactly what is set, here wider than the defaults */
	snprintf(extra, sizeof(extra),
		 "socket_group = %u\nsocket_mode = 0666\nsocket_dir_mode = 0711\n[tenant a]\n"
		 "uids = %u\n",
		 T_GID_X, T_UID_A);
	td_start(&d, extra);
	snprintf(run, sizeof(run), "%s/run", d.dir);
	check_node(run, 1, 0, T_GID_X, 0711);
	check_node(d.sock, 0, 0, T_GID_X, 0666);
	conn_as(T_UID_A, NULL, 0, d.sock, 0, 0);

	/* an existing directory with another mode and group is corrected at the
	 * next start (the killed daemon's stale socket is replaced) */
	kill(d.pid, SIGKILL);
	waitpid(d.pid, NULL, 0);
	CHECK_EQ(chown(run, 0, 0), 0);
	CHECK_EQ(chmod(run, 0700), 0);
	snprintf(base, sizeof(base), "%s", d.dir);
	snprintf(conf, sizeof(conf), "%s/again.conf", base);
	snprintf(log, sizeof(log), "%s/again.log", base);
	snprintf(extra, sizeof(extra), "socket_group = %u\n", T_GID_X);
	write_conf(conf, d.sock, extra);
	CHECK_EQ(launch(conf, log, d.sock, &pid), 0);
	check_node(run, 1, 0, T_GID_X, 0750);
	check_node(d.sock, 0, 0, T_GID_X, 0660);
	CHECK(file_has(log, "mode 0700 group 0 corrected to mode 0750 group 4100"));
	CHECK(file_has(log, "replacing stale socket"));
	conn_as(T_UID_A, x, 1, d.sock, 0, 0);
	conn_as(T_UID_B, NULL, 0, d.sock, -EACCES, 0);
	stop(pid);
	rmtree(base);
}

/* Copy a daemon's log to stderr (the last launch's: launch_caps() truncates it). */
static void print_log(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "re");

	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "  daemon: %s", line);
	if (f)
		fclose(f);
}

/* ---- unit-caps --------------------------------------------------------------- */

/* The daemon's effective capability set, from /proc/PID/status; ~0 if unread. */
static uint64_t cap_eff(pid_t pid)
{
	char path[64], line[256];
	uint64_t v = ~UINT64_C(0);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static void test_unit_caps(void)
{
	static const gid_t x[] = {T_GID_X};
	char base[64] = "/tmp/dmac-caps-XXXXXX", run[96], sock[128], conf[128], log[128];
	char extra[128];
	pid_t pid;
	int rc;

	if (!mkdtemp(base) || chmod(base, 0755)) {
		perror("mkdtemp");
		t_failures++;
		return;
	}
	snprintf(run, sizeof(run), "%s/run", base);
	snprintf(sock, sizeof(sock), "%s/dmacached.sock", run);
	snprintf(conf, sizeof(conf), "%s/d.conf", base);
	snprintf(log, sizeof(log), "%s/d.log", base);
	snprintf(extra, sizeof(extra), "socket_group = %u\n", T_GID_X);
	write_conf(conf, sock, extra);

	/* the unit's CapabilityBoundingSet=CAP_CHOWN: it starts with that one
	 * capability and no other, and gives socket and directory the group */
	rc = launch_caps(conf, log, sock, &pid, CAP_CHOWN);
	CHECK_EQ(rc, 0);
	if (rc == 0) {
		CHECK_EQ(cap_eff(pid), UINT64_C(1) << CAP_CHOWN);
		check_node(run, 1, 0, T_GID_X, 0750);
		check_node(sock, 0, 0, T_GID_X, 0660);
		conn_as(T_UID_A, x, 1, sock, 0, 0);
		conn_as(T_UID_A, NULL, 0, sock, -EACCES, 0);
		stop(pid);
	}

	/* control: without CAP_CHOWN the group cannot be set; it refuses to
	 * start and says why, so the unit's one capability is needed */
	rmtree(run);
	CHECK(launch_caps(conf, log, sock, &pid, CAPS_NONE) > 0);
	CHECK(file_has(log, "Operation not permitted"));
	if (t_failures)
		print_log(log);
	rmtree(base);
}

/* ---- socket-dir -------------------------------------------------------------- */

static char sd_base[64];
static int sd_n;

/* Start a daemon whose socket is @p sock: it must refuse, exit 1, log
 * @p reason and the path @p where, and create no socket. */
static void expect_refusal(const char *what, const char *sock, const char *reason,
			   const char *where)
{
	char conf[160], log[160];
	pid_t pid;
	int rc;

	snprintf(conf, sizeof(conf), "%s/c%d.conf", sd_base, sd_n);
	snprintf(log, sizeof(log), "%s/c%d.log", sd_base, sd_n++);
	write_conf(conf, sock, NULL);
	rc = launch(conf, log, sock, &pid);
	if (rc == 0) {
		fprintf(stderr, "%s: the daemon started on %s\n", what, sock);
		t_failures++;
		stop(pid);
		return;
	}
	if (rc != 1) {
		fprintf(stderr, "%s: exit status %d, expected 1\n", what, rc);
		t_failures++;
	}
	if (!file_has(log, reason) || !file_has(log, where)) {
		char cmd[200];

		fprintf(stderr, "%s: the log does not say '%s' about %s:\n", what, reason, where);
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
		if (system(cmd))
			fprintf(stderr, "(cannot show %s)\n", log);
		t_failures++;
	}
	fprintf(stderr, "refused as expected: %s\n", what);
	if (access(sock, F_OK) == 0) {
		fprintf(stderr, "%s: %s was created\n", what, sock);
		t_failures++;
		unlink(sock);
	}
}

/* Start a daemon whose socket is @p sock: it must start and serve tenant a. */
static void expect_start(const char *what, const char *sock)
{
	char conf[160], log[160];
	pid_t pid;
	int rc;

	snprintf(conf, sizeof(conf), "%s/c%d.conf", sd_base, sd_n);
	snprintf(log, sizeof(log), "%s/c%d.log", sd_base, sd_n++);
	write_conf(conf, sock, NULL);
	rc = launch(conf, log, sock, &pid);
	if (rc != 0) {
		fprintf(stderr, "%s: the daemon did not start (%d)\n", what, rc);
		t_failures++;
		return;
	}
	conn_as(T_UID_A, NULL, 0, sock, 0, 0);
	stop(pid);
	CHECK(access(sock, F_OK) != 0);
}

/* mkdir @p name in sd_base with @p mode and owner @p uid. */
static void mk(const char *name, mode_t mode, uid_t uid)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", sd_base, name);
	CHECK_EQ(mkdir(p, 0700), 0);
	CHECK_EQ(chown(p, uid, uid), 0);
	CHECK_EQ(chmod(p, mode), 0);
}

/* symlink sd_base/@p name -> @p target, owned by @p uid. */
static void ln(const char *target, const char *name, uid_t uid)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", sd_base, name);
	CHECK_EQ(symlink(target, p), 0);
	CHECK_EQ(lchown(p, uid, uid), 0);
}

static void test_socket_dir(void)
{
	static const char *const owned = "is owned by uid 4003";
	static const char *const writable = "writable by group or others without the sticky bit";
	char sock[160], where[160], abs_target[160];
	struct stat st;

	snprintf(sd_base, sizeof(sd_base), "/tmp/dmacd-adv-dir-XXXXXX");
	if (!mkdtemp(sd_base) || chmod(sd_base, 0755)) {
		perror("mkdtemp");
		t_failures++;
		return;
	}

	/* the socket directory owned by another uid (it could rename the socket) */
	mk("owned", 0755, T_UID_C);
	snprintf(sock, sizeof(sock), "%s/owned/d.sock", sd_base);
	snprintf(where, sizeof(where), "%s/owned", sd_base);
	expect_refusal("owned directory", sock, owned, where);
	/* an ancestor owned by another uid; nothing is created below it */
	mk("anc", 0755, T_UID_C);
	snprintf(sock, sizeof(sock), "%s/anc/run/d.sock", sd_base);
	snprintf(where, sizeof(where), "%s/anc", sd_base);
	expect_refusal("owned ancestor", sock, owned, where);
	snprintf(where, sizeof(where), "%s/anc/run", sd_base);
	CHECK(access(where, F_OK) != 0);
	/* group-writable, world-writable, each without the sticky bit */
	mk("gw", 0770, 0);
	snprintf(sock, sizeof(sock), "%s/gw/d.sock", sd_base);
	snprintf(where, sizeof(where), "%s/gw has mode 0770", sd_base);
	expect_refusal("group-writable directory", sock, writable, where);
	mk("ww", 0777, 0);
	snprintf(sock, sizeof(sock), "%s/ww/d.sock", sd_base);
	snprintf(where, sizeof(where), "%s/ww has mode 0777", sd_base);
	expect_refusal("world-writable directory", sock, writable, where);
	snprintf(sock, sizeof(sock), "%s/ww/run/d.sock", sd_base);
	expect_refusal("world-writable ancestor", sock, writable, where);
	snprintf(where, sizeof(where), "%s/ww/run", sd_base);
	CHECK(access(where, F_OK) != 0);
	/* root-owned symlinks to such directories, absolute and relative */
	mk("target-owned", 0755, T_UID_C);
	snprintf(abs_target, sizeof(abs_target), "%s/target-owned", sd_base);
	ln(abs_target, "link-owned", 0);
	snprintf(sock, sizeof(sock), "%s/link-owned/d.sock", sd_base);
	expect_refusal("symlink to an owned directory", sock, owned, abs_target);
	ln("ww", "link-ww", 0);
	snprintf(sock, sizeof(sock), "%s/link-ww/d.sock", sd_base);
	snprintf(where, sizeof(where), "%s/ww has mode 0777", sd_base);
	expect_refusal("symlink to a world-writable directory", sock, writable, where);
	snprintf(sock, sizeof(sock), "%s/link-ww/run/d.sock", sd_base);
	expect_refusal("symlink to a world-writable ancestor", sock, writable, where);
	/* a symlink owned by another uid, even to a good directory */
	mk("good", 0755, 0);
	snprintf(abs_target, sizeof(abs_target), "%s/good", sd_base);
	ln(abs_target, "link-by-other", T_UID_C);
	snprintf(sock, sizeof(sock), "%s/link-by-other/d.sock", sd_base);
	snprintf(where, sizeof(where), "symlink %s/link-by-other is owned by uid 4003", sd_base);
	expect_refusal("symlink owned by another uid", sock, where, where);
	/* a shared sticky directory is no socket directory (its mode is not ours) */
	mk("sticky", 01777, 0);
	snprintf(sock, sizeof(sock), "%s/sticky/d.sock", sd_base);
	snprintf(where, sizeof(where), "%s/sticky has mode 1777", sd_base);
	expect_refusal("sticky shared directory", sock, "a shared directory", where);
	snprintf(where, sizeof(where), "%s/sticky", sd_base);
	CHECK_EQ(stat(where, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 01777); /* left alone */
	/* directly in / */
	snprintf(sock, sizeof(sock), "/dmacd-adv-%d.sock", (int)getpid());
	expect_refusal("socket in /", sock, "may not be directly in /", sock);

	/* accepted: a root-owned symlink to a good directory, a sticky
	 * world-writable ancestor (like /tmp) above a root-owned directory */
	snprintf(abs_target, sizeof(abs_target), "%s/good", sd_base);
	ln(abs_target, "link-good", 0);
	snprintf(sock, sizeof(sock), "%s/link-good/d.sock", sd_base);
	expect_start("root-owned symlink", sock);
	snprintf(sock, sizeof(sock), "%s/sticky/run/d.sock", sd_base);
	expect_start("sticky ancestor", sock);
	snprintf(where, sizeof(where), "%s/sticky/run", sd_base);
	CHECK_EQ(stat(where, &st), 0);
	CHECK_EQ(st.st_uid, 0);
	CHECK_EQ(st.st_mode & 07777, 0755);
	rmtree(sd_base);
}

/* ---- supp-groups ------------------------------------------------------------- */

struct supp_case {
	struct tdaemon *d;
	const char *tenant;
	int expect;
};

static void supp_case_run(void *arg)
{
	const struct supp_case *sc = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	int s = tc_connect(sc->d), fd;

	CHECK_EQ(tc_hello(s, sc->tenant), sc->expect);
	if (sc->expect == 0 && !strcmp(sc->tenant, "g")) {
		fd = t_memfd(2 * MB, 1);
		CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
		CHECK_EQ(tc_lease(s, reg, 0, MB, RW, &g), 0);
		td_sync(sc->d, NULL);
		CHECK_EQ(td_get(sc->d, "leases"), 1);
		close(fd);
	} else if (sc->expect == 0) {
		uint64_t buf[16];
		size_t len;

		/* an admin session: ADMIN_TENANTS answers */
		CHECK_EQ(dmac_proto_encode_admin_tenants_req(buf, sizeof(buf), 7, 0, 4, &len), 0);
		CHECK_EQ(tc_rpc_raw(s, buf, len, NULL, 0), 0);
		CHECK_EQ(tc_view.count, 1);
	}
	close(s);
}

static void supp_as(struct tdaemon *d, uid_t uid, const gid_t *groups, int ngroups,
		    const char *tenant, int expect)
{
	struct supp_case sc = {d, tenant, expect};

	if (t_as(uid, (gid_t)uid, groups, ngroups, supp_case_run, &sc))
		fprintf(stderr, "  (HELLO %s as uid %u with %d supplementary group(s))\n", tenant,
			(unsigned int)uid, ngroups);
}

static void test_supp_groups(void)
{
	static const gid_t x[] = {T_GID_X}, y[] = {T_GID_Y};
	char conf[256];
	struct tdaemon d;

	/* tenant g lists only a group; the admin group is another one */
	snprintf(conf, sizeof(conf), "admin_gids = %u\n[tenant g]\ngids = %u\n", T_GID_Y, T_GID_X);
	td_start(&d, conf);
	supp_as(&d, T_UID_B, x, 1, "g", 0);
	supp_as(&d, T_UID_B, NULL, 0, "g", EACCES);
	supp_as(&d, T_UID_B, y, 1, "g", EACCES);
	supp_as(&d, T_UID_C, y, 1, "@admin", 0);
	supp_as(&d, T_UID_C, x, 1, "@admin", EACCES);
	supp_as(&d, T_UID_C, NULL, 0, "@admin", EACCES);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	td_stop(&d);
}

/* ---- fake-daemon ------------------------------------------------------------- */

static const char *fake_sock;

/* A tenant (uid T_UID_A) connecting to the path with libdmacache. */
static void fake_client(void *arg)
{
	struct dmac_client *c = NULL;
	int expect = *(const int *)arg;

	CHECK_EQ(dmac_client_connect(fake_sock, "a", 0, &c), expect);
	if (c)
		dmac_client_close(c);
}

static void test_fake_daemon(void)
{
	char base[64], evil[96], sock[128];
	int expect;
	pid_t srv;

	/* the test's directory, and in it one that uid 4003 owns */
	snprintf(base, sizeof(base), "/tmp/dmacd-adv-fake-XXXXXX");
	if (!mkdtemp(base) || chmod(base, 0755)) {
		perror("mkdtemp");
		t_failures++;
		return;
	}
	snprintf(evil, sizeof(evil), "%s/run", base);
	CHECK_EQ(mkdir(evil, 0755), 0);
	CHECK_EQ(chown(evil, T_UID_C, T_UID_C), 0);
	snprintf(sock, sizeof(sock), "%s/dmacached.sock", evil);
	fake_sock = sock;

	/* uid 4003 serves the path: refused before HELLO, not a byte sent */
	unsetenv(DMAC_CLIENT_DAEMON_UID_ENV);
	srv = fake_server_spawn_as(T_UID_C, sock, NULL);
	expect = -EPERM;
	t_as_user(T_UID_A, fake_client, &expect);
	CHECK_EQ(fake_server_spawn_wait(srv), 0);

	/* control: the same server, trusted by DMACACHE_DAEMON_UID */
	srv = fake_server_spawn_as(T_UID_C, sock, NULL);
	setenv(DMAC_CLIENT_DAEMON_UID_ENV, "4003", 1);
	expect = 0;
	t_as_user(T_UID_A, fake_client, &expect);
	unsetenv(DMAC_CLIENT_DAEMON_UID_ENV);
	CHECK_EQ(fake_server_spawn_wait(srv), 1); /* HELLO */
	rmtree(base);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "nonroot-tenant"))
		test_nonroot_tenant();
	else if (!strcmp(t, "socket-group"))
		test_socket_group();
	else if (!strcmp(t, "socket-dir"))
		test_socket_dir();
	else if (!strcmp(t, "supp-groups"))
		test_supp_groups();
	else if (!strcmp(t, "fake-daemon"))
		test_fake_daemon();
	else if (!strcmp(t, "unit-caps"))
		test_unit_caps();
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
