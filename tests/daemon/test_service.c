/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacached as a service (suite 'daemon', one test per run, argv[1]):
 *
 *   notify        sd_notify against a real $NOTIFY_SOCKET listener (an
 *                 AF_UNIX SOCK_DGRAM socket of the test): READY=1 only when
 *                 the socket accepts connections (and never from a start
 *                 that fails), STATUS= with tenants and sessions following
 *                 a non-root tenant's session, at most once a second with
 *                 the last state always sent, RELOADING=1 + MONOTONIC_USEC
 *                 then READY=1 around SIGHUP, STOPPING=1 at SIGTERM
 *   detach        without --foreground: a failed start exits 1 with the
 *                 reason on stderr (untrusted socket directory, a failing
 *                 backend); a good start exits 0 only once the socket
 *                 listens, and the daemon goes on detached
 *   one-daemon    a second daemon on the same socket exits 1 and the first
 *                 still serves its socket (same inode); a socket something
 *                 else listens on is never replaced either
 *   activation    a socket passed as LISTEN_FDS is used, checked (mode,
 *                 path) and left in place at exit
 *   journald      stderr lines carry <N> priorities when $JOURNAL_STREAM
 *                 names stderr, and not otherwise; the start-up line names
 *                 the version, the config and the backend
 *   register-log  a REGISTER of ten 2 MiB memfds logs one line, not one per
 *                 area; session lines carry tenant and process name
 *
 * Invariants: every wait is bounded; tenants run as non-root uids (t_as()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
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

#include "dmac/dmacache.h"
#include "harness.h"

#define MB (UINT64_C(1) << 20)

static const char *tenants = "[tenant a]\nuids = 4001\n[tenant b]\nuids = 4002\n";

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Paths of a daemon the tests start themselves (td_start() starts its own). */
static void svc_paths(struct tdaemon *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/dmacd-svc-XXXXXX");
	if (!mkdtemp(d->dir) || chmod(d->dir, 0755)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(d->sock, sizeof(d->sock), "%s/run/dmacached.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/dmacached.conf", d->dir);
	snprintf(d->dump, sizeof(d->dump), "%s/dump", d->dir);
	snprintf(d->ctl, sizeof(d->ctl), "%s/ctl", d->dir);
}

struct spawn {
	const char *log;      /* stderr to this file (NULL: inherited) */
	int journal;	      /* set JOURNAL_STREAM to the log file's dev:ino */
	int journal_wrong;    /* ... with a wrong inode */
	const char *notify;   /* NOTIFY_SOCKET */
	int listen_fd;	      /* >= 0: passed as LISTEN_FDS=1 (fd 3) */
	int detach;	      /* no --foreground */
	const char *fail_env; /* DMAC_TEST_BACKEND_FAIL */
};

/* Start dmacached-test on d->conf as @p sp says; returns its pid. */
static pid_t svc_spawn(const struct tdaemon *d, const struct spawn *sp)
{
	const char *bin = getenv("DMACACHED_TEST");
	pid_t p;

	if (!bin) {
		fprintf(stderr, "DMACACHED_TEST is not set\n");
		exit(1);
	}
	fflush(NULL);
	p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (p)
		return p;
	if (!sp->detach && prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(127);
	if (sp->log) {
		int fd = open(sp->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		struct stat st;

		if (fd < 0 || dup2(fd, 2) < 0 || fstat(2, &st))
			_exit(127);
		if (sp->journal) {
			char v[64];

			snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino + (sp->journal_wrong ? 1 : 0));
			setenv("JOURNAL_STREAM", v, 1);
		}
	}
	if (sp->notify)
		setenv("NOTIFY_SOCKET", sp->notify, 1);
	if (sp->fail_env)
		setenv("DMAC_TEST_BACKEND_FAIL", sp->fail_env, 1);
	if (sp->listen_fd >= 0) {
		char pid[16];

		if (sp->listen_fd != 3 && dup2(sp->listen_fd, 3) < 0)
			_exit(127);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	setenv("DMAC_TEST_DUMP", d->dump, 1);
	setenv("DMAC_TEST_CTL", d->ctl, 1);
	if (sp->detach)
		execl(bin, bin, "--config", d->conf, (char *)NULL);
	else
		execl(bin, bin, "--foreground", "--config", d->conf, (char *)NULL);
	_exit(127);
}

/* Whether a connect() to d->sock succeeds now. */
static int connectable(const struct tdaemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), ok;

	strcpy(sa.sun_path, d->sock);
	ok = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return ok;
}

/* Wait (5 s) until d->sock accepts; 0 or -1. Fails early if @p pid exited. */
static int wait_listen(const struct tdaemon *d, pid_t pid)
{
	for (int i = 0; i < 500; i++) {
		if (connectable(d))
			return 0;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		msleep(10);
	}
	return -1;
}

/* Wait (5 s) for @p pid to exit; its exit status, or -1 (killed then). */
static int wait_exit(pid_t pid)
{
	int status;

	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		msleep(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Number of lines of @p file containing @p s. */
static int count_lines(const char *file, const char *s)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, s))
			n++;
	fclose(f);
	return n;
}

static void rmdir_tree(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

/* ---- notify ------------------------------------------------------------------ */

static int notify_sock(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("notify socket");
		exit(1);
	}
	return s;
}

/* Next notification within @p ms into buf; its length, or -1 on time-out. */
static int notify_recv(int s, char *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -1;
	n = recv(s, buf, cap - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/* Wait (@p ms) for a notification containing @p want; others are counted in
 * *others (if given). 0 when seen, -1 otherwise. */
static int notify_wait(int s, const char *want, int ms, int *others, char *last, size_t cap)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	char buf[512];

	while (now_ms() < end) {
		if (notify_recv(s, buf, sizeof(buf), (int)(end - now_ms())) < 0)
			continue;
		if (last)
			snprintf(last, cap, "%s", buf);
		if (strstr(buf, want))
			return 0;
		if (others)
			(*others)++;
	}
	return -1;
}

/* A tenant that holds one session until it is killed. */
static void hold_session(void *arg)
{
	struct tdaemon *d = arg;
	int s = tc_connect(d);

	if (tc_hello(s, "a") != 0)
		_exit(1);
	for (;;)
		pause();
}

/* A tenant that opens and closes sessions quickly. */
static void churn_sessions(void *arg)
{
	struct tdaemon *d = arg;

	for (int i = 0; i < 20; i++) {
		int s = tc_connect(d);

		CHECK_EQ(tc_hello(s, "a"), 0);
		close(s);
		msleep(10);
	}
}

static void test_notify(void)
{
	struct spawn sp = {.listen_fd = -1};
	char path[160], buf[512], last[512];
	struct tdaemon d;
	pid_t p, child;
	int ns, n, others;

	svc_paths(&d);
	td_write_conf(&d, tenants);
	snprintf(path, sizeof(path), "%s/notify", d.dir);
	ns = notify_sock(path);
	sp.notify = path;

	/* a start that fails (a directory where the socket goes) exits 1 and
	 * READY=1 never comes from a daemon that does not listen */
	{
		char run[160];

		snprintf(run, sizeof(run), "%s/run", d.dir);
		CHECK_EQ(mkdir(run, 0755), 0);
		CHECK_EQ(mkdir(d.sock, 0700), 0);
	}
	p = svc_spawn(&d, &(struct spawn){.notify = path, .listen_fd = -1, .log = "/dev/null"});
	CHECK_EQ(wait_exit(p), 1);
	while ((n = notify_recv(ns, buf, sizeof(buf), 0)) >= 0)
		CHECK(strstr(buf, "READY=1") == NULL);
	CHECK_EQ(rmdir(d.sock), 0);

	/* READY=1 comes, and when it does the socket accepts */
	p = svc_spawn(&d, &sp);
	d.pid = p;
	CHECK_EQ(notify_wait(ns, "READY=1", 5000, NULL, last, sizeof(last)), 0);
	CHECK(connectable(&d));
	CHECK(strstr(last, "STATUS=2 tenants, 0 sessions") != NULL);

	/* STATUS follows a non-root tenant's session, both ways */
	child = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, hold_session, &d);
	CHECK_EQ(notify_wait(ns, "STATUS=2 tenants, 1 session", 3000, NULL, NULL, 0), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	CHECK_EQ(notify_wait(ns, "STATUS=2 tenants, 0 sessions", 3000, NULL, NULL, 0), 0);

	/* rate limit: 20 sessions come and go in about 0.3 s; the daemon sends
	 * at most one STATUS= a second and the last one is the final state */
	msleep(1100);
	{
		uint64_t t0 = now_ms();
		int nstatus = 0;

		CHECK_EQ(t_as_user(T_UID_A, churn_sessions, &d), 0);
		last[0] = '\0';
		while (now_ms() - t0 < 2500) {
			if (notify_recv(ns, buf, sizeof(buf), 100) < 0)
				continue;
			if (strstr(buf, "STATUS=")) {
				nstatus++;
				snprintf(last, sizeof(last), "%s", buf);
			}
		}
		/* within 2.5 s: at most 3 (t0, t0+1 s, t0+2 s) */
		CHECK(nstatus <= 3);
		CHECK(strstr(last, "STATUS=2 tenants, 0 sessions") != NULL);
	}

	/* SIGHUP: RELOADING=1 with MONOTONIC_USEC near our clock, then READY=1;
	 * the reload drops tenant b */
	td_write_conf(&d, "[tenant a]\nuids = 4001\n");
	kill(p, SIGHUP);
	CHECK_EQ(notify_wait(ns, "RELOADING=1", 3000, NULL, last, sizeof(last)), 0);
	{
		const char *m = strstr(last, "MONOTONIC_USEC=");
		uint64_t us = m ? strtoull(m + 15, NULL, 10) : 0;
		struct timespec ts;
		uint64_t me;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		me = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;

		CHECK(m != NULL);
		CHECK(us <= me && me - us < 5000000);
	}
	others = 0;
	CHECK_EQ(notify_wait(ns, "READY=1", 3000, &others, last, sizeof(last)), 0);
	CHECK(strstr(last, "STATUS=1 tenant, 0 sessions") != NULL);
	CHECK_EQ(others, 0);

	/* SIGTERM: STOPPING=1, then exit 0 */
	kill(p, SIGTERM);
	CHECK_EQ(notify_wait(ns, "STOPPING=1", 3000, NULL, NULL, 0), 0);
	CHECK_EQ(wait_exit(p), 0);
	close(ns);
	rmdir_tree(d.dir);
}

/* ---- detach -------------------------------------------------------------------- */

static void hello_a(void *arg)
{
	struct tdaemon *d = arg;
	int s = tc_connect(d);

	CHECK_EQ(tc_hello(s, "a"), 0);
	close(s);
}

/* The daemon's pid from the lock file beside its socket; 0 if none. */
static pid_t lock_pid(const struct tdaemon *d)
{
	char path[160];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s.lock", d->sock);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

static void test_detach(void)
{
	char log[160], bad[96];
	struct tdaemon d;
	pid_t p, daemon;
	int i;

	svc_paths(&d);
	snprintf(log, sizeof(log), "%s/stderr", d.dir);

	/* an untrusted socket directory: the starting process exits 1 and says
	 * why on its stderr (before, daemon(3) came first and it exited 0) */
	snprintf(bad, sizeof(bad), "%s/open", d.dir);
	CHECK_EQ(mkdir(bad, 0777), 0);
	CHECK_EQ(chmod(bad, 0777), 0);
	{
		struct tdaemon b = d;

		snprintf(b.sock, sizeof(b.sock), "%s/run/dmacached.sock", bad);
		td_write_conf(&b, tenants);
	}
	p = svc_spawn(&d, &(struct spawn){.detach = 1, .listen_fd = -1, .log = log});
	CHECK_EQ(wait_exit(p), 1);
	CHECK(count_lines(log, "refusing to start") >= 1);

	/* a backend that fails at open: exit 1 too */
	td_write_conf(&d, tenants);
	unlink(log);
	p = svc_spawn(
	    &d, &(struct spawn){.detach = 1, .listen_fd = -1, .log = log, .fail_env = "1:12"});
	CHECK_EQ(wait_exit(p), 1);
	CHECK(count_lines(log, "err:") >= 1);
	CHECK(access(d.sock, F_OK) != 0);

	/* a good start: exit 0 only once the socket listens, the daemon runs on
	 * detached (its pid is in the lock file, not ours) */
	p = svc_spawn(&d, &(struct spawn){.detach = 1, .listen_fd = -1, .log = log});
	CHECK_EQ(wait_exit(p), 0);
	CHECK(connectable(&d));
	daemon = lock_pid(&d);
	CHECK(daemon > 0 && daemon != p);
	if (daemon > 0) {
		char comm[64], path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)daemon);
		f = fopen(path, "r");
		CHECK(f != NULL);
		if (f) {
			CHECK(fgets(comm, sizeof(comm), f) != NULL);
			CHECK(!strncmp(comm, "dmacached-test", 14));
			fclose(f);
		}
		/* detached: its own session, stdio on /dev/null */
		CHECK_EQ(getsid(daemon), daemon);
		d.pid = daemon;
		CHECK_EQ(t_as_user(T_UID_A, hello_a, &d), 0);
		kill(daemon, SIGTERM);
		for (i = 0; i < 500 && kill(daemon, 0) == 0; i++)
			msleep(10);
		CHECK(i < 500);
	}
	CHECK(access(d.sock, F_OK) != 0);
	rmdir_tree(d.dir);
}

/* ---- one daemon per socket ------------------------------------------------------- */

static void test_one_daemon(void)
{
	char log[160], lock[160];
	struct stat st0, st1;
	struct tdaemon d, e;
	pid_t p;

	td_start(&d, tenants);
	snprintf(log, sizeof(log), "%s/second", d.dir);
	CHECK_EQ(lstat(d.sock, &st0), 0);
	/* the second daemon, same config: exit 1, the reason named */
	p = svc_spawn(&d, &(struct spawn){.listen_fd = -1, .log = log});
	CHECK_EQ(wait_exit(p), 1);
	snprintf(lock, sizeof(lock), "another dmacached (pid %d) holds", (int)d.pid);
	CHECK_EQ(count_lines(log, lock), 1);
	/* the first still serves, on the very same socket file */
	CHECK_EQ(lstat(d.sock, &st1), 0);
	CHECK_EQ(st1.st_ino, st0.st_ino);
	CHECK_EQ(t_as_user(T_UID_A, hello_a, &d), 0);
	td_stop(&d);

	/* something else listens on the path (no lock held): never replaced */
	svc_paths(&e);
	td_write_conf(&e, tenants);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char run[160];
		int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), c;

		snprintf(run, sizeof(run), "%s/run", e.dir);
		CHECK_EQ(mkdir(run, 0755), 0);
		strcpy(sa.sun_path, e.sock);
		CHECK_EQ(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
		CHECK_EQ(listen(l, 8), 0);
		CHECK_EQ(lstat(e.sock, &st0), 0);
		snprintf(log, sizeof(log), "%s/log", e.dir);
		p = svc_spawn(&e, &(struct spawn){.listen_fd = -1, .log = log});
		CHECK_EQ(wait_exit(p), 1);
		CHECK_EQ(count_lines(log, "a daemon is listening on it"), 1);
		CHECK_EQ(lstat(e.sock, &st1), 0);
		CHECK_EQ(st1.st_ino, st0.st_ino);
		/* and it still takes connections: the probe's, and ours */
		c = accept(l, NULL, NULL);
		CHECK(c >= 0);
		close(c);
		CHECK(connectable(&e));
		close(l);
	}
	rmdir_tree(e.dir);
}

/* ---- socket activation ------------------------------------------------------------ */

/* A listening socket at d->sock with @p mode, as a socket unit makes it. */
static int unit_socket(const struct tdaemon *d, const char *at, mode_t mode)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char run[160];
	int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	mode_t old;

	snprintf(run, sizeof(run), "%s/run", d->dir);
	mkdir(run, 0755);
	strcpy(sa.sun_path, at);
	old = umask(~mode & 0777);
	CHECK_EQ(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	umask(old);
	CHECK_EQ(listen(l, 8), 0);
	return l;
}

static void test_activation(void)
{
	char log[160], other[160];
	struct stat st0, st1;
	struct tdaemon d;
	pid_t p;
	int l;

	svc_paths(&d);
	snprintf(log, sizeof(log), "%s/log", d.dir);
	td_write_conf(&d, tenants);

	/* the right socket: used, served, and left in place at exit */
	l = unit_socket(&d, d.sock, 0666);
	CHECK_EQ(lstat(d.sock, &st0), 0);
	p = svc_spawn(&d, &(struct spawn){.listen_fd = l, .log = log});
	d.pid = p;
	CHECK_EQ(t_as_user(T_UID_A, hello_a, &d), 0);
	CHECK_EQ(count_lines(log, "inherited (socket activation)"), 1);
	CHECK_EQ(count_lines(log, "replacing stale socket"), 0);
	kill(p, SIGTERM);
	CHECK_EQ(wait_exit(p), 0);
	CHECK_EQ(lstat(d.sock, &st1), 0);
	CHECK_EQ(st1.st_ino, st0.st_ino);
	/* the service manager's socket still listens (for the next start) */
	CHECK(connectable(&d));
	close(l);
	unlink(d.sock);

	/* a socket whose mode is not the configuration's: refused */
	l = unit_socket(&d, d.sock, 0600);
	p = svc_spawn(&d, &(struct spawn){.listen_fd = l, .log = log});
	CHECK_EQ(wait_exit(p), 1);
	CHECK_EQ(count_lines(log, "SocketMode= and SocketGroup="), 1);
	close(l);
	unlink(d.sock);

	/* a socket at another path: refused */
	snprintf(other, sizeof(other), "%s/run/other.sock", d.dir);
	l = unit_socket(&d, other, 0666);
	p = svc_spawn(&d, &(struct spawn){.listen_fd = l, .log = log});
	CHECK_EQ(wait_exit(p), 1);
	CHECK_EQ(count_lines(log, "the configuration says"), 1);
	close(l);
	rmdir_tree(d.dir);
}

/* ---- journald ------------------------------------------------------------------- */

static void test_journald(void)
{
	char log[160], want[320];
	struct tdaemon d;
	pid_t p;

	svc_paths(&d);
	snprintf(log, sizeof(log), "%s/journal", d.dir);
	td_write_conf(&d, tenants);
	p = svc_spawn(&d, &(struct spawn){.listen_fd = -1, .log = log, .journal = 1});
	d.pid = p;
	CHECK_EQ(wait_listen(&d, p), 0);
	/* an err line: a reload of a bad file */
	td_write_conf(&d, "[tenant a]\nbogus = 1\n");
	kill(p, SIGHUP);
	td_sync(&d, NULL);
	kill(p, SIGTERM);
	CHECK_EQ(wait_exit(p), 0);
	snprintf(want, sizeof(want), "<6>info: dmacached-test %s starting (pid %d): config %s",
		 getenv("DMACACHE_VERSION") ? getenv("DMACACHE_VERSION") : "?", (int)p, d.conf);
	CHECK_EQ(count_lines(log, want), 1);
	CHECK_EQ(count_lines(log, ", backend test"), 1);
	CHECK(count_lines(log, "<3>err: SIGHUP: config") >= 1);
	CHECK(count_lines(log, "<7>debug: ") >= 1);
	CHECK_EQ(count_lines(log, "dmacached: info:"), 0);
	{
		/* every line has a priority prefix */
		char line[2048];
		FILE *f = fopen(log, "r");
		int bad = 0;

		while (f && fgets(line, sizeof(line), f))
			if (line[0] != '<' || line[1] < '3' || line[1] > '7' || line[2] != '>')
				bad++;
		if (f)
			fclose(f);
		CHECK_EQ(bad, 0);
	}

	/* JOURNAL_STREAM naming another file: plain lines (the good config is
	 * back before the spawn: the reload test above left a bad one) */
	unlink(log);
	td_write_conf(&d, tenants);
	p = svc_spawn(
	    &d, &(struct spawn){.listen_fd = -1, .log = log, .journal = 1, .journal_wrong = 1});
	d.pid = p;
	CHECK_EQ(wait_listen(&d, p), 0);
	kill(p, SIGTERM);
	CHECK_EQ(wait_exit(p), 0);
	CHECK(count_lines(log, "dmacached: info: dmacached-test ") >= 1);
	CHECK_EQ(count_lines(log, "<6>"), 0);
	rmdir_tree(d.dir);
}

/* ---- one line per REGISTER ---------------------------------------------------------- */

static void register_ten(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_client_range r[10];
	struct dmac_client *c;
	uint64_t regs[10];
	int fds[10];

	CHECK_EQ(dmac_client_connect(d->sock, "a", 0, &c), 0);
	for (int i = 0; i < 10; i++) {
		fds[i] = t_memfd(2 * MB, 1);
		r[i] = (struct dmac_client_range){
		    .fd = fds[i],
		    .offset = 0,
		    .length = 2 * MB,
		    .prot = DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
		    .va = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0),
		};
	}
	CHECK_EQ(dmac_client_register_v(c, r, 10, regs), 0);
	dmac_client_close(c);
	for (int i = 0; i < 10; i++)
		close(fds[i]);
}

static void test_register_log(void)
{
	char log[160], want[160];
	struct tdaemon d;
	pid_t p;

	td_log_level = "info";
	svc_paths(&d);
	snprintf(log, sizeof(log), "%s/log", d.dir);
	td_write_conf(&d, tenants);
	p = svc_spawn(&d, &(struct spawn){.listen_fd = -1, .log = log});
	d.pid = p;
	CHECK_EQ(wait_listen(&d, p), 0);
	CHECK_EQ(t_as_user(T_UID_A, register_ten, &d), 0);
	kill(p, SIGTERM);
	CHECK_EQ(wait_exit(p), 0);
	/* ten areas, one line */
	CHECK_EQ(count_lines(log, "REGISTER of 10 range(s): 10 area(s) of 0x1400000 bytes, "
				  "0 cached, 10 new pinned and mapped"),
		 1);
	CHECK_EQ(count_lines(log, "REGISTER of"), 1);
	CHECK_EQ(count_lines(log, "master area"), 0);
	/* session lines: the tenant and the process name */
	CHECK_EQ(count_lines(log, "(test_service) uid 4001 gid 4001: accepted"), 1);
	CHECK_EQ(count_lines(log, "(test_service) uid 4001 bound to tenant a"), 1);
	CHECK_EQ(count_lines(log, "(test_service) uid 4001 tenant a: ends"), 1);
	/* the SIGTERM line says what happens */
	CHECK_EQ(count_lines(log, "stopping now"), 1);
	CHECK_EQ(count_lines(log, "draining"), 0);
	snprintf(want, sizeof(want), "%s", "clients are not waited for");
	CHECK_EQ(count_lines(log, want), 1);
	rmdir_tree(d.dir);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "notify"))
		test_notify();
	else if (!strcmp(t, "detach"))
		test_detach();
	else if (!strcmp(t, "one-daemon"))
		test_one_daemon();
	else if (!strcmp(t, "activation"))
		test_activation();
	else if (!strcmp(t, "journald"))
		test_journald();
	else if (!strcmp(t, "register-log"))
		test_register_log();
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
