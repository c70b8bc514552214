/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Harness of the 'daemon' suite (see harness.h).
 *
 * Invariants: the daemon binary comes from $DMACACHED_TEST (set by meson);
 * all paths live in a fresh mkdtemp() directory, made 0755 (root-owned, not
 * writable by others: the daemon trusts it; non-root tenants can search it);
 * the dump file is replaced atomically by the daemon (rename), so a dump read
 * is whole.
 * t_as(): the child's daemon requests travel over a SOCK_SEQPACKET socketpair,
 * one fixed-size request and one reply per call, strictly alternating; only
 * the t_as() child itself may send them (a descendant aborts), the parent
 * answers only for a daemon it started (td_live[]).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#include "harness.h"

int t_failures;
const char *td_log_level = "debug";

/* LeakSanitizer's entry point, when the program has it (ASan or LSan builds). */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
uint64_t tc_reply[DMAC_PROTO_MAX_MSG / 8];
struct dmac_proto_view tc_view;
static uint64_t reqbuf[DMAC_PROTO_MAX_MSG / 8];
static uint64_t next_tag = 1;

/* t_as() state: set in a child only */
static int t_in_child;	 /* privileges dropped */
static int t_chan = -1;	 /* the request channel to the root parent */
static pid_t t_chan_pid; /* the only process that may use t_chan */
#define TD_LIVE_MAX 8
static struct tdaemon *td_live[TD_LIVE_MAX]; /* daemons this process started */

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	fflush(NULL);
	if (t_in_child)
		_exit(1); /* counted as one failure by the parent */
	exit(1);
}

static void t_bug(const char *what)
{
	fprintf(stderr, "harness: %s\n", what);
	fflush(NULL);
	abort();
}

/* ---- requests of a t_as() child ------------------------------------------- */

enum { TR_SYNC = 1, TR_GET, TR_COUNT, TR_FDS, TR_CONF, TR_KILL };

struct t_req {
	int op;
	pid_t daemon; /* which daemon: its pid */
	int arg;      /* TR_KILL: the signal; TR_SYNC: text is a control line */
	char text[2048];
};

struct t_rep {
	int ok; /* 0: the parent did not start that daemon */
	long long v;
};

/* Whether the td_* call must go to the parent (and may: aborts otherwise). */
static int t_proxied(void)
{
	if (!t_in_child)
		return 0;
	if (t_chan < 0)
		t_bug("a t_as_spawn() child cannot reach the daemon's controls");
	if (getpid() != t_chan_pid)
		t_bug("daemon controls from a descendant of a t_as() child");
	return 1;
}

static long long t_call(const struct tdaemon *d, int op, int arg, const char *text)
{
	struct t_req rq;
	struct t_rep rp;

	memset(&rq, 0, sizeof(rq));
	rq.op = op;
	rq.daemon = d->pid;
	rq.arg = arg;
	if (text) {
		if (strlen(text) >= sizeof(rq.text))
			t_bug("t_as request too long");
		strcpy(rq.text, text);
	}
	if (send(t_chan, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq))
		die("t_as request");
	if (recv(t_chan, &rp, sizeof(rp), 0) != (ssize_t)sizeof(rp))
		die("t_as reply");
	if (!rp.ok)
		t_bug("t_as request for a daemon the parent did not start");
	return rp.v;
}

static void td_live_add(struct tdaemon *d)
{
	for (int i = 0; i < TD_LIVE_MAX; i++) {
		if (!td_live[i] || td_live[i] == d) {
			td_live[i] = d;
			return;
		}
	}
	t_bug("too many daemons");
}

static void td_live_del(struct tdaemon *d)
{
	for (int i = 0; i < TD_LIVE_MAX; i++)
		if (td_live[i] == d)
			td_live[i] = NULL;
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void td_write_conf(struct tdaemon *d, const char *extra)
{
	FILE *f;

	if (t_proxied()) {
		t_call(d, TR_CONF, 0, extra ? extra : "");
		return;
	}
	f = fopen(d->conf, "w");
	if (!f)
		die("write config");
	fprintf(f, "[daemon]\nsocket = %s\nbackend = test\nlog_level = %s\n%s", d->sock,
		td_log_level, extra ? extra : "");
	fclose(f);
}

void td_start(struct tdaemon *d, const char *extra)
{
	const char *bin = getenv("DMACACHED_TEST");
	int i;

	if (t_in_child)
		t_bug("td_start() in a t_as() child");
	if (!bin) {
		fprintf(stderr, "harness: DMACACHED_TEST is not set\n");
		exit(1);
	}
	snprintf(d->dir, sizeof(d->dir), "/tmp/dmacd-test-XXXXXX");
	if (!mkdtemp(d->dir))
		die("mkdtemp");
	/* mkdtemp() makes it 0700: let non-root tenants reach the socket below */
	if (chmod(d->dir, 0755))
		die("chmod test dir");
	snprintf(d->sock, sizeof(d->sock), "%s/run/dmacached.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/dmacached.conf", d->dir);
	snprintf(d->dump, sizeof(d->dump), "%s/dump", d->dir);
	snprintf(d->ctl, sizeof(d->ctl), "%s/ctl", d->dir);
	td_write_conf(d, extra);
	d->pid = fork();
	if (d->pid < 0)
		die("fork");
	if (d->pid == 0) {
		/* The daemon dies with the test, even if the test crashes: an
		 * orphaned daemon would hold the test's output pipes open and
		 * turn a failure into a meson timeout. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(127);
		setenv("DMAC_TEST_DUMP", d->dump, 1);
		setenv("DMAC_TEST_CTL", d->ctl, 1);
		execl(bin, bin, "--foreground", "--config", d->conf, (char *)NULL);
		_exit(127);
	}
	td_live_add(d);
	for (i = 0; i < 500; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, d->sock);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			/* the probe is gone before the test begins: a test that
			 * counts connections or fds must not see it end later */
			if (td_wait(d, "accepts", 1) || td_wait(d, "connections", 0))
				exit(1);
			return;
		}
		close(s);
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			fprintf(stderr, "harness: daemon exited at start\n");
			exit(1);
		}
		msleep(10);
	}
	fprintf(stderr, "harness: daemon did not listen within 5 s\n");
	kill(d->pid, SIGKILL);
	exit(1);
}

static void rmtree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: cannot remove %s\n", dir);
}

void td_stop(struct tdaemon *d)
{
	int status = 0, i;

	if (t_in_child)
		t_bug("td_stop() in a t_as() child");
	td_live_del(d);
	kill(d->pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			break;
		msleep(10);
	}
	if (i == 500) {
		fprintf(stderr, "harness: daemon did not exit within 5 s of SIGTERM\n");
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		t_failures++;
	} else {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(access(d->sock, F_OK) != 0); /* socket unlinked at exit */
	rmtree(d->dir);
}

/* utime + stime of @p pid in ms (/proc/PID/stat), or -1. */
long td_cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the command (which may hold spaces and parentheses):
	 * state is field 3, utime 14, stime 15 */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

int td_fds(const struct tdaemon *d)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	if (t_proxied())
		return (int)t_call(d, TR_FDS, 0, NULL);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		die("opendir /proc/pid/fd");
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

void td_sync(struct tdaemon *d, const char *ctl)
{
	int i;

	if (t_proxied()) {
		t_call(d, TR_SYNC, ctl != NULL, ctl);
		return;
	}
	if (ctl) {
		char tmp[160];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", d->ctl);
		f = fopen(tmp, "w");
		if (!f)
			die("write ctl");
		fprintf(f, "%s\n", ctl);
		fclose(f);
		rename(tmp, d->ctl);
	}
	unlink(d->dump);
	kill(d->pid, SIGUSR1);
	for (i = 0; i < 500; i++) {
		if (access(d->dump, F_OK) == 0)
			return;
		msleep(10);
	}
	fprintf(stderr, "harness: no dump within 5 s\n");
	exit(1);
}

long long td_get(const struct tdaemon *d, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f;

	if (t_proxied())
		return t_call(d, TR_GET, 0, key);
	f = fopen(d->dump, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			v = strtoll(line + kl + 1, NULL, 0);
			break;
		}
	}
	fclose(f);
	return v;
}

int td_count(const struct tdaemon *d, const char *prefix)
{
	char line[256];
	int n = 0;
	FILE *f;

	if (t_proxied())
		return (int)t_call(d, TR_COUNT, 0, prefix);
	f = fopen(d->dump, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, prefix, strlen(prefix)))
			n++;
	fclose(f);
	return n;
}

int tc_connect(const struct tdaemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket");
	strcpy(sa.sun_path, d->sock);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	return s;
}

int tc_rpc_raw(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int rfds[DMAC_PROTO_MAX_FDS];
	unsigned int rn = 0;
	size_t rlen = 0;
	int rc;

	rc = dmac_proto_send(sock, buf, len, fds, nfds);
	if (rc)
		return -1;
	if (poll(&p, 1, 5000) != 1) {
		fprintf(stderr, "harness: no reply within 5 s\n");
		exit(1);
	}
	rc = dmac_proto_recv(sock, tc_reply, sizeof(tc_reply), &rlen, rfds, &rn);
	if (rc)
		return -1;
	rc = dmac_proto_decode_reply(tc_reply, rlen, rn, &tc_view);
	if (rc) {
		fprintf(stderr, "harness: malformed reply: %s\n", dmac_proto_strerror(rc));
		return -2;
	}
	return (int)tc_view.status;
}

int tc_closed(int sock)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	char b[64];

	if (poll(&p, 1, 5000) != 1)
		return 0;
	return recv(sock, b, sizeof(b), MSG_DONTWAIT) == 0;
}

int tc_hello(int sock, const char *tenant)
{
	size_t len;

	if (dmac_proto_encode_hello_req(reqbuf, sizeof(reqbuf), next_tag++, tenant, &len))
		return -2;
	return tc_rpc_raw(sock, reqbuf, len, NULL, 0);
}

int tc_stats(int sock, struct dmac_proto_stats *st)
{
	size_t len;
	int rc;

	if (dmac_proto_encode_stats_req(reqbuf, sizeof(reqbuf), next_tag++, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0)
		*st = ((const struct dmac_proto_stats_rep *)tc_reply)->stats;
	return rc;
}

int tc_register(int sock, int fd, uint64_t offset, uint64_t length, uint32_t prot, uint64_t *reg_id)
{
	struct dmac_proto_reg_range r = {
	    .fd_index = 0, .prot = prot, .offset = offset, .length = length};
	size_t len;
	int rc;

	if (dmac_proto_encode_register_req(reqbuf, sizeof(reqbuf), next_tag++, &r, 1, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, &fd, 1);
	if (rc == 0)
		*reg_id = ((const struct dmac_proto_reg_result *)tc_view.vec)->reg_id;
	return rc;
}

int tc_unregister(int sock, uint64_t reg_id)
{
	struct dmac_proto_unreg_item it = {reg_id};
	size_t len;
	int rc;

	if (dmac_proto_encode_unregister_req(reqbuf, sizeof(reqbuf), next_tag++, &it, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0)
		rc = (int)((const struct dmac_proto_item_status *)tc_view.vec)->status;
	return rc;
}

int tc_lease(int sock, uint64_t reg_id, uint64_t offset, uint64_t length, uint32_t prot,
	     struct dmac_proto_lease_grant *g)
{
	struct dmac_proto_lease_item it = {reg_id, offset, length, prot, 0};
	size_t len;
	int rc;

	if (dmac_proto_encode_lease_req(reqbuf, sizeof(reqbuf), next_tag++, &it, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0 && g)
		*g = *(const struct dmac_proto_lease_grant *)tc_view.vec;
	return rc;
}

int tc_release(int sock, uint64_t lease_id, uint64_t generation)
{
	struct dmac_proto_release_item it = {lease_id, generation};
	size_t len;
	int rc;

	if (dmac_proto_encode_release_req(reqbuf, sizeof(reqbuf), next_tag++, &it, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0)
		rc = (int)((const struct dmac_proto_item_status *)tc_view.vec)->status;
	return rc;
}

int tc_query(int sock, uint64_t cursor, uint32_t max, struct dmac_proto_lease_info *out,
	     uint32_t *n, uint64_t *next)
{
	size_t len;
	int rc;

	if (dmac_proto_encode_query_req(reqbuf, sizeof(reqbuf), next_tag++, cursor, max, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0) {
		*n = tc_view.count;
		*next = ((const struct dmac_proto_query_rep *)tc_reply)->next_cursor;
		for (uint32_t i = 0; i < tc_view.count; i++)
			memcpy(&out[i], dmac_proto_view_elem(&tc_view, i), sizeof(out[i]));
	}
	return rc;
}

int t_run(const char *cmd, char *out, size_t cap)
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

int t_memfd(uint64_t size, int seal)
{
	int fd = memfd_create("dmacd-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, (off_t)size))
		die("ftruncate");
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		die("F_ADD_SEALS");
	return fd;
}

int td_wait(struct tdaemon *d, const char *key, long long value)
{
	for (int i = 0; i < 500; i++) {
		td_sync(d, NULL);
		if (td_get(d, key) == value)
			return 0;
		msleep(10);
	}
	fprintf(stderr, "harness: %s stayed %lld, expected %lld\n", key, td_get(d, key), value);
	return -1;
}

void td_kill(struct tdaemon *d, int sig)
{
	if (t_proxied()) {
		if (t_call(d, TR_KILL, sig, NULL))
			die("td_kill");
		return;
	}
	if (kill(d->pid, sig))
		die("kill daemon");
}

/* ---- t_as(): tenants as non-root uids ------------------------------------- */

/* Whether /proc/self/status says capability set @p name ("CapEff") is empty. */
static int t_caps_empty(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	int found = 0, empty = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, n) && line[n] == ':') {
			found = 1;
			empty = strtoull(line + n + 1, NULL, 16) == 0;
		}
	}
	fclose(f);
	return found && empty;
}

/* In the child: drop everything, verify, or abort. */
static void t_drop(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, pid_t parent)
{
	gid_t got[64];
	uid_t r, e, s;
	gid_t rg, eg, sg;
	int n;

	if (uid == 0 || ngroups < 0 || ngroups > 64)
		t_bug("t_as: uid 0 or a bad group count");
	if (setgroups((size_t)ngroups, groups) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid)) {
		perror("harness: t_as: dropping privileges");
		t_bug("t_as: cannot drop privileges");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		t_bug("t_as: PR_SET_NO_NEW_PRIVS");
	/* the uid change made the process non-dumpable, which gives /proc/self
	 * to root; make it ours again (LeakSanitizer and /proc/self/fd need it) */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		t_bug("t_as: PR_SET_DUMPABLE");
	/* the uid change also cleared the parent-death signal: set it now */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127);
	if (getresuid(&r, &e, &s) || r != uid || e != uid || s != uid)
		t_bug("t_as: uids not all dropped");
	if (getresgid(&rg, &eg, &sg) || rg != gid || eg != gid || sg != gid)
		t_bug("t_as: gids not all dropped");
	/* the kernel keeps them sorted: compare as sets (no duplicates asked) */
	n = getgroups(64, got);
	if (n != ngroups)
		t_bug("t_as: supplementary groups not as asked");
	for (int i = 0; i < n; i++) {
		int found = 0;

		for (int j = 0; j < n; j++)
			found |= got[j] == groups[i];
		if (!found)
			t_bug("t_as: supplementary groups not as asked");
	}
	if (!t_caps_empty("CapEff") || !t_caps_empty("CapPrm"))
		t_bug("t_as: capabilities left after dropping root");
}

static pid_t t_fork_child(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
			  void (*fn)(void *), void *arg, int chan, int other)
{
	pid_t parent = getpid(), pid;

	if (t_in_child)
		t_bug("t_as() inside a t_as() child");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid)
		return pid;
	if (other >= 0)
		close(other);
	t_drop(uid, gid, groups, ngroups, parent);
	t_in_child = 1;
	t_chan = chan;
	t_chan_pid = getpid();
	t_failures = 0;
	fn(arg);
	/* _exit() skips LeakSanitizer's check at exit: run it here, in the
	 * tenant, so that tenant code is checked too (ASan/LSan builds) */
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
		fprintf(stderr, "harness: t_as child (pid %d): LeakSanitizer found leaks\n",
			(int)getpid());
		t_failures++;
	}
	fflush(NULL);
	_exit(t_failures > 100 ? 100 : t_failures);
}

pid_t t_as_spawn(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, void (*fn)(void *),
		 void *arg)
{
	return t_fork_child(uid, gid, groups, ngroups, fn, arg, -1, -1);
}

int t_as_child(void)
{
	return t_in_child;
}

/* Carry out one request of the child. */
static void t_serve_one(int chan, const struct t_req *rq)
{
	struct t_rep rp = {0, 0};
	struct tdaemon *d = NULL;

	for (int i = 0; i < TD_LIVE_MAX; i++)
		if (td_live[i] && td_live[i]->pid == rq->daemon)
			d = td_live[i];
	if (d) {
		rp.ok = 1;
		switch (rq->op) {
		case TR_SYNC:
			td_sync(d, rq->arg ? rq->text : NULL);
			break;
		case TR_GET:
			rp.v = td_get(d, rq->text);
			break;
		case TR_COUNT:
			rp.v = td_count(d, rq->text);
			break;
		case TR_FDS:
			rp.v = td_fds(d);
			break;
		case TR_CONF:
			td_write_conf(d, rq->text);
			break;
		case TR_KILL:
			rp.v = kill(d->pid, rq->arg) ? -errno : 0;
			break;
		default:
			rp.ok = 0;
		}
	}
	if (send(chan, &rp, sizeof(rp), MSG_NOSIGNAL) != (ssize_t)sizeof(rp))
		fprintf(stderr, "harness: t_as: cannot answer the child: %s\n", strerror(errno));
}

/* Serve the child's requests until it exits; its failure count. */
static int t_serve(pid_t child, uid_t uid, int chan)
{
	struct timespec last, now;
	int open = 1, status;

	clock_gettime(CLOCK_MONOTONIC, &last);
	for (;;) {
		struct pollfd p = {.fd = chan, .events = POLLIN};
		pid_t w = waitpid(child, &status, WNOHANG);

		if (w == child)
			break;
		if (open && poll(&p, 1, 100) == 1) {
			struct t_req rq;
			ssize_t n = recv(chan, &rq, sizeof(rq), MSG_DONTWAIT);

			if (n == (ssize_t)sizeof(rq)) {
				t_serve_one(chan, &rq);
				clock_gettime(CLOCK_MONOTONIC, &last);
				continue;
			}
			if (n == 0 || (p.revents & (POLLHUP | POLLERR)))
				open = 0; /* the child's end is closed: wait for its exit */
		} else if (!open) {
			msleep(10);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - last.tv_sec > T_AS_IDLE_S) {
			fprintf(stderr, "harness: t_as child (uid %u) silent for %d s: killed\n",
				(unsigned int)uid, T_AS_IDLE_S);
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			return 1;
		}
	}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "harness: t_as child (uid %u) killed by signal %d\n",
			(unsigned int)uid, WTERMSIG(status));
		return 1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int t_as(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, void (*fn)(void *), void *arg)
{
	int sv[2], n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	pid = t_fork_child(uid, gid, groups, ngroups, fn, arg, sv[1], sv[0]);
	close(sv[1]);
	n = t_serve(pid, uid, sv[0]);
	close(sv[0]);
	if (n)
		fprintf(stderr, "harness: t_as child (uid %u): %d failure(s)\n", (unsigned int)uid,
			n);
	t_failures += n;
	return n;
}

int t_as_user(uid_t uid, void (*fn)(void *), void *arg)
{
	return t_as(uid, (gid_t)uid, NULL, 0, fn, arg);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die(path);
	fputs(text, f);
	fclose(f);
}

void td_fake_device(const char *root, const char *bdf)
{
	static const char *const files[][2] = {
	    {"vendor", "0x1b36\n"},
	    {"device", "0x0010\n"},
	    {"numa_node", "0\n"},
	    {"resource", "0x00000000febf0000 0x00000000febf3fff 0x0000000000140204\n"
			 "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			 "0x000000000000c000 0x000000000000c0ff 0x0000000000040101\n"
			 "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			 "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			 "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"},
	    {"resource0", ""},
	};
	char p[512];

	snprintf(p, sizeof(p), "mkdir -p '%s/bus/pci/devices/%s' '%s/dev/vfio/devices'", root, bdf,
		 root);
	if (system(p))
		die("mkdir fake sysfs");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/bus/pci/devices/%s/%s", root, bdf, files[i][0]);
		write_text(p, files[i][1]);
	}
	snprintf(p, sizeof(p), "%s/dev/vfio/devices/%s", root, bdf);
	write_text(p, "");
}

int tc_device(int sock, uint32_t index, const char *bdf, int *fds, unsigned int *nfds)
{
	struct pollfd pf = {.fd = sock, .events = POLLIN};
	size_t len, rlen;
	int rc;

	*nfds = 0;
	if (dmac_proto_encode_device_req(reqbuf, sizeof(reqbuf), next_tag++, index, bdf, &len) ||
	    dmac_proto_send(sock, reqbuf, len, NULL, 0))
		return -1;
	if (poll(&pf, 1, 5000) != 1) {
		fprintf(stderr, "harness: no DEVICE reply within 5 s\n");
		exit(1);
	}
	if (dmac_proto_recv(sock, tc_reply, sizeof(tc_reply), &rlen, fds, nfds))
		return -1;
	rc = dmac_proto_decode_reply(tc_reply, rlen, *nfds, &tc_view);
	if (rc) {
		fprintf(stderr, "harness: malformed DEVICE reply: %s\n", dmac_proto_strerror(rc));
		dmac_proto_close_fds(fds, *nfds);
		*nfds = 0;
		return -2;
	}
	return (int)tc_view.status;
}
