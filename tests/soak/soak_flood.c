/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * soak_flood: what a connection flood from a peer in no tenant does to a
 * tenant that keeps leasing, and to the daemon's CPU. The daemon runs under a
 * soft RLIMIT_NOFILE of 1024 (--nofile), as systemd starts services; one
 * tenant (a, as uid T_UID_A) leases and releases a 64 KiB range every
 * --interval-us and times each LEASE round trip, through four phases:
 *
 *   quiet    --phase-seconds with nothing else going on (the reference);
 *   connect  a process of uid T_UID_C (in no tenant) opens and closes
 *            --connects connections (non-blocking connect, then close; a
 *            full listen backlog, EAGAIN, is counted and retried after 50 us);
 *            the phase lasts until the daemon's dump shows the connections
 *            it had before (at most 10 s after the flooder ended);
 *   idle     a process of uid T_UID_C opens --idle connections that never say
 *            HELLO and holds them --hold-seconds, counting those the daemon
 *            closes; the daemon's open fds are read while they are held; the
 *            phase ends as the connect phase does;
 *   after    --phase-seconds after the idle connections are gone (a daemon
 *            that still burns CPU here did not recover).
 *
 * For each phase: the tenant's LEASE latency (p50, p99, max), its errors and
 * its slow requests (over 1 s), and the daemon's CPU time (utime + stime from
 * /proc/PID/stat) and its share of the phase's wall time. Then the daemon
 * must be exactly back to its baseline (fds, allocations, mappings, gauges)
 * and pass its self-checks.
 *
 *   soak_flood [--connects N] [--idle N] [--phase-seconds S] [--hold-seconds S]
 *              [--interval-us U] [--nofile N] [--log-level L] [--keep-log]
 *
 * Defaults: 10,000 connects, 1,000 idle, 5 s phases, hold = phase, 1,000 us,
 * 1024 (0: the tool's own limit), the daemon's log at info (the shipped
 * default: its lines per connection are part of a flood's cost) in a file,
 * counted (daemon_log_lines), kept when the run fails or with --keep-log.
 * The meson test 'soak-flood' (suite soak)
 * runs 1,000 and 100 with 1 s phases and asserts only correctness: no LEASE
 * failed, the tenant and the flooders ended as they should, the baseline.
 *
 * Invariants: every wait is bounded, so the tool ends with a result even
 * against a daemon that spins or stops answering: a phase's flood stops after
 * FLOOD_MAX_S, the tenant gives a request up after 30 s (its session is then
 * out of step: it stops and counts a failure), the idle connections are opened
 * within FLOOD_MAX_S; the parent alone reads and signals the daemon.
 * Concurrency: one root parent, the tenant, at most one flooder, one daemon;
 * they share one anonymous MAP_SHARED block, each field written by one of
 * them (phase and stop flags by the parent).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "soak_util.h"

#define KB	     UINT64_C(1024)
#define RANGE	     (64 * KB)
#define NRANGE	     16
#define NPHASE	     4
#define MAXSAMP	     200000
#define FLOOD_MAX_S  120.0
#define RPC_GIVEUP_S 30.0
#define SLOW_S	     1.0
#define MAX_IDLE     60000

static const char *const phase_names[NPHASE] = {"quiet", "connect", "idle", "after"};

struct shared {
	int phase; /* parent: the current phase (the tenant tags samples with it) */
	int stop;  /* parent: the tenant ends */
	int tenant_ready, tenant_failed;
	uint32_t n[NPHASE], errors[NPHASE], slow[NPHASE];
	float lat_us[NPHASE][MAXSAMP];
	/* the connect flood */
	uint64_t c_attempt, c_ok, c_eagain, c_other;
	int c_done;
	/* the idle flood */
	uint64_t i_attempt, i_ok, i_eagain, i_other, i_closed;
	int i_opened, i_release;
};

static struct shared *g_sh;

static int ld(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* A non-blocking connection to the daemon: 0, or -errno (the socket closed). */
static int nb_connect(const struct tdaemon *d, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	strcpy(sa.sun_path, d->sock);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = -errno;

		close(s);
		return e;
	}
	*out = s;
	return 0;
}

/* ---- the tenant ------------------------------------------------------------------------ */

/*
 * One request and its reply, the reply within RPC_GIVEUP_S: its status (0 or
 * a positive errno, the item's for RELEASE), -1 when the session broke or
 * the reply did not come (the tenant must stop); the round trip in *lat, a
 * LEASE's grant in *g.
 */
static int rpc(int s, const void *req, size_t len, uint64_t tag, double *lat,
	       struct dmac_proto_lease_grant *g)
{
	static uint64_t rep[DMAC_PROTO_MAX_MSG / 8];
	int fds[DMAC_PROTO_MAX_FDS];
	double t0 = su_now();
	struct dmac_proto_view v;
	unsigned int nfds = 0;
	size_t rlen = 0;

	if (dmac_proto_send(s, req, len, NULL, 0))
		return -1;
	for (;;) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		double left = t0 + RPC_GIVEUP_S - su_now();

		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)(left * 1000) + 1) == 1)
			break;
	}
	if (dmac_proto_recv(s, rep, sizeof(rep), &rlen, fds, &nfds))
		return -1;
	*lat = su_now() - t0;
	dmac_proto_close_fds(fds, nfds);
	if (dmac_proto_decode_reply(rep, rlen, nfds, &v) || v.tag != tag)
		return -1;
	if (v.status || v.count != 1)
		return v.status ? (int)v.status : -1;
	if (g)
		*g = *(const struct dmac_proto_lease_grant *)v.vec;
	else
		return (int)((const struct dmac_proto_item_status *)v.vec)->status;
	return 0;
}

struct targs {
	const struct tdaemon *d;
	uint64_t interval_us;
};

/* LEASE (timed) and RELEASE of one range per tick, until the parent says stop. */
static void tenant(void *arg)
{
	static uint64_t req[DMAC_PROTO_MAX_MSG / 8];
	const struct targs *a = arg;
	uint64_t reg, tag = 1000;
	int s = tc_connect(a->d), fd = t_memfd(NRANGE * RANGE, 1);
	double next = su_now();
	unsigned int i = 0;

	if (tc_hello(s, "a") || tc_register(s, fd, 0, NRANGE * RANGE, DMAC_PROTO_PROT_ALL, &reg)) {
		st(&g_sh->tenant_failed, 1);
		_exit(1);
	}
	st(&g_sh->tenant_ready, 1);
	while (!ld(&g_sh->stop)) {
		struct dmac_proto_lease_item it = {reg, (i++ % NRANGE) * RANGE, RANGE,
						   DMAC_PROTO_PROT_ALL, 0};
		struct dmac_proto_lease_grant g;
		int ph = ld(&g_sh->phase), rc;
		double lat = 0, rlat;
		size_t len;

		if (dmac_proto_encode_lease_req(req, sizeof(req), ++tag, &it, 1, &len))
			_exit(1);
		rc = rpc(s, req, len, tag, &lat, &g);
		if (rc < 0)
			break;
		if (g_sh->n[ph] < MAXSAMP)
			g_sh->lat_us[ph][g_sh->n[ph]] = (float)(lat * 1e6);
		__atomic_fetch_add(&g_sh->n[ph], 1, __ATOMIC_RELEASE);
		if (lat > SLOW_S)
			__atomic_fetch_add(&g_sh->slow[ph], 1, __ATOMIC_RELAXED);
		if (rc == 0) {
			struct dmac_proto_release_item rel = {g.lease_id, g.generation};

			if (dmac_proto_encode_release_req(req, sizeof(req), ++tag, &rel, 1, &len))
				_exit(1);
			rc = rpc(s, req, len, tag, &rlat, NULL);
			if (rc < 0)
				break;
		}
		if (rc)
			__atomic_fetch_add(&g_sh->errors[ph], 1, __ATOMIC_RELAXED);
		next += (double)a->interval_us / 1e6;
		if (next > su_now())
			su_sleep_us((unsigned long)((next - su_now()) * 1e6));
		else
			next = su_now();
	}
	if (!ld(&g_sh->stop)) {
		fprintf(stderr,
			"soak_flood: tenant: no reply within %.0f s (or a broken session)\n",
			RPC_GIVEUP_S);
		st(&g_sh->tenant_failed, 1);
		_exit(1);
	}
	close(s);
	close(fd);
	_exit(0);
}

/* ---- the flooders (uid T_UID_C, in no tenant) ------------------------------------------ */

struct fargs {
	const struct tdaemon *d;
	uint64_t n;
	double hold_s;
};

static void connect_flooder(void *arg)
{
	const struct fargs *a = arg;
	double end = su_now() + FLOOD_MAX_S;

	for (uint64_t i = 0; i < a->n && su_now() < end; i++) {
		int s, rc;

		g_sh->c_attempt++;
		while ((rc = nb_connect(a->d, &s)) == -EAGAIN && su_now() < end) {
			g_sh->c_eagain++;
			su_sleep_us(50);
		}
		if (rc == 0) {
			g_sh->c_ok++;
			close(s);
		} else if (rc != -EAGAIN) {
			g_sh->c_other++;
		}
	}
	st(&g_sh->c_done, 1);
	_exit(0);
}

static void idle_flooder(void *arg)
{
	const struct fargs *a = arg;
	double end = su_now() + FLOOD_MAX_S;
	struct pollfd *p = calloc(a->n, sizeof(*p));
	struct rlimit lim;
	uint64_t n = 0;

	/* room for the connections: up to the hard limit (no privilege needed) */
	if (!p || getrlimit(RLIMIT_NOFILE, &lim))
		_exit(1);
	if (lim.rlim_cur < a->n + 64) {
		lim.rlim_cur = a->n + 64 < lim.rlim_max ? a->n + 64 : lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
	for (uint64_t i = 0; i < a->n && su_now() < end; i++) {
		double give_up = su_now() + 0.1;
		int s = -1, rc;

		g_sh->i_attempt++;
		while ((rc = nb_connect(a->d, &s)) == -EAGAIN && su_now() < give_up) {
			g_sh->i_eagain++;
			su_sleep_us(50);
		}
		if (rc == 0) {
			g_sh->i_ok++;
			p[n++] = (struct pollfd){.fd = s, .events = POLLIN};
		} else if (rc != -EAGAIN) {
			g_sh->i_other++;
		}
	}
	st(&g_sh->i_opened, 1);
	/* hold them; a connection the daemon closed reads EOF (or a reset) */
	while (!ld(&g_sh->i_release) && su_now() < end + a->hold_s + 30) {
		if (poll(p, (nfds_t)n, 50) <= 0)
			continue;
		for (uint64_t i = 0; i < n; i++) {
			char c;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			ssize_t r = recv(p[i].fd, &c, 1, MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				close(p[i].fd);
				p[i].fd = -1;
				g_sh->i_closed++;
			}
		}
	}
	for (uint64_t i = 0; i < n; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	free(p);
	_exit(0);
}

/* ---- the parent ---------------------------------------------------------------------------- */

/* Wait for a child (bounded); 0 when it exited 0. */
static int reap(pid_t pid, double timeout_s, const char *who)
{
	double end = su_now() + timeout_s;
	int status = 0;
	pid_t w;

	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && su_now() < end)
		su_sleep_us(2000);
	if (w != pid) {
		fprintf(stderr, "soak_flood: %s did not end within %.0f s: killed\n", who,
			timeout_s);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "soak_flood: %s ended with status 0x%x\n", who, status);
		return -1;
	}
	return 0;
}

struct phase_fig {
	double wall_s;
	long cpu_ms;
};

static void usage(void)
{
	fprintf(stderr, "usage: soak_flood [--connects N] [--idle N] [--phase-seconds S] "
			"[--hold-seconds S] [--interval-us U] [--nofile N] [--log-level L] "
			"[--keep-log]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t connects = 10000, idle = 1000, phase_s = 5, hold_s = 0, interval_us = 1000,
		 nofile = 1024;
	struct phase_fig fig[NPHASE] = {{0}};
	static double lat[MAXSAMP];
	struct su_state base, fin;
	double p99q = 0, p99[NPHASE] = {0}, t_phase;
	long cpu_phase, idle_fds = -1;
	int failures = 0, diffs, bad_checks, rc;
	long long nofile_daemon, log_lines = 0;
	char log_path[] = "/tmp/dmacd-soak-flood-XXXXXX";
	const char *log_level = "info";
	int log_fd, keep_log = 0;
	FILE *lf;
	struct tdaemon d;
	char conf[256];
	pid_t tpid;

	for (int i = 1; i < argc; i++) {
		uint64_t *dst = NULL;

		if (!strcmp(argv[i], "--keep-log")) {
			keep_log = 1;
			continue;
		}
		if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
			log_level = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--connects"))
			dst = &connects;
		else if (!strcmp(argv[i], "--idle"))
			dst = &idle;
		else if (!strcmp(argv[i], "--phase-seconds"))
			dst = &phase_s;
		else if (!strcmp(argv[i], "--hold-seconds"))
			dst = &hold_s;
		else if (!strcmp(argv[i], "--interval-us"))
			dst = &interval_us;
		else if (!strcmp(argv[i], "--nofile"))
			dst = &nofile;
		if (!dst || i + 1 == argc || !su_parse_u64(argv[++i], dst))
			usage();
	}
	if (!hold_s)
		hold_s = phase_s;
	if (!phase_s || phase_s > 3600 || hold_s > 3600 || idle > MAX_IDLE || !interval_us ||
	    interval_us > 1000000 || connects > 100000000)
		usage();
	su_default_daemon(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_sh = mmap(NULL, sizeof(*g_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("tool=soak_flood\nconnects=%llu\nidle=%llu\nphase_seconds=%llu\nhold_seconds=%llu\n"
	       "interval_us=%llu\nnofile_soft_at_exec=%llu\n",
	       (unsigned long long)connects, (unsigned long long)idle, (unsigned long long)phase_s,
	       (unsigned long long)hold_s, (unsigned long long)interval_us,
	       (unsigned long long)nofile);

	snprintf(conf, sizeof(conf), "pinned_budget = 0\n[tenant a]\nuids = %u\n", T_UID_A);
	/* the shipped default level: its lines per connection are part of what
	 * a flood costs; they go to a file, counted at the end */
	td_log_level = log_level;
	log_fd = mkstemp(log_path);
	if (log_fd < 0) {
		perror("mkstemp");
		return 1;
	}
	su_daemon_start(&d, conf, log_fd, (rlim_t)nofile);
	close(log_fd);
	printf("daemon_log=%s\ndaemon_log_level=%s\n", log_path, log_level);
	nofile_daemon = su_nofile_soft(d.pid);
	printf("daemon_nofile_soft=%lld\n", nofile_daemon);
	if (td_wait(&d, "sessions", 0)) {
		fprintf(stderr, "soak_flood: no quiet baseline\n");
		return 1;
	}
	su_snapshot(&d, &base);

	{
		struct targs ta = {&d, interval_us};
		double end = su_now() + 10;

		tpid = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, tenant, &ta);
		while (!ld(&g_sh->tenant_ready) && !ld(&g_sh->tenant_failed) && su_now() < end)
			su_sleep_us(1000);
		if (!ld(&g_sh->tenant_ready)) {
			fprintf(stderr, "soak_flood: the tenant did not start\n");
			kill(tpid, SIGKILL);
			waitpid(tpid, NULL, 0);
			td_stop(&d);
			return 1;
		}
	}

	for (int ph = 0; ph < NPHASE; ph++) {
		struct fargs fa = {&d, ph == 1 ? connects : idle, (double)hold_s};
		long long conns;
		pid_t fp = 0;

		td_sync(&d, NULL);
		conns = td_get(&d, "connections"); /* the tenant's */
		st(&g_sh->phase, ph);
		t_phase = su_now();
		cpu_phase = td_cpu_ms(d.pid);
		if (ph == 0 || ph == 3) {
			su_sleep_us(phase_s * 1000000);
		} else if (ph == 1) {
			fp = t_as_spawn(T_UID_C, T_UID_C, NULL, 0, connect_flooder, &fa);
			failures += reap(fp, FLOOD_MAX_S + 10, "the connect flooder") != 0;
		} else {
			double end = su_now() + FLOOD_MAX_S + 10;

			fp = t_as_spawn(T_UID_C, T_UID_C, NULL, 0, idle_flooder, &fa);
			while (!ld(&g_sh->i_opened) && su_now() < end &&
			       waitpid(fp, NULL, WNOHANG) == 0)
				su_sleep_us(2000);
			su_sleep_us(hold_s * 1000000 / 2);
			idle_fds = td_fds(&d);
			su_sleep_us(hold_s * 1000000 - hold_s * 1000000 / 2);
			st(&g_sh->i_release, 1);
			failures += reap(fp, 40, "the idle flooder") != 0;
		}
		/* a flood phase ends when the daemon is done with its connections
		 * (bounded: a daemon that never is shows in the next phases too) */
		for (int i = 0; ph != 0 && ph != 3 && i < 100; i++) {
			td_sync(&d, NULL);
			if (td_get(&d, "connections") == conns)
				break;
			su_sleep_us(100000);
		}
		fig[ph].wall_s = su_now() - t_phase;
		fig[ph].cpu_ms = td_cpu_ms(d.pid) - cpu_phase;
	}
	st(&g_sh->stop, 1);
	failures += reap(tpid, RPC_GIVEUP_S + 5, "the tenant") != 0;
	failures += ld(&g_sh->tenant_failed);

	for (int ph = 0; ph < NPHASE; ph++) {
		uint32_t n = g_sh->n[ph] < MAXSAMP ? g_sh->n[ph] : MAXSAMP;
		double p50, pmax;
		const char *pn = phase_names[ph];

		for (uint32_t i = 0; i < n; i++)
			lat[i] = g_sh->lat_us[ph][i];
		su_percentiles(lat, n, &p50, &p99[ph], &pmax);
		printf("phase.%s.seconds=%.2f\nphase.%s.leases=%u\nphase.%s.lease_p50_us=%.0f\n"
		       "phase.%s.lease_p99_us=%.0f\nphase.%s.lease_max_us=%.0f\n"
		       "phase.%s.lease_errors=%u\nphase.%s.lease_slow=%u\n"
		       "phase.%s.daemon_cpu_ms=%ld\nphase.%s.daemon_cpu_pct=%.1f\n",
		       pn, fig[ph].wall_s, pn, g_sh->n[ph], pn, p50, pn, p99[ph], pn, pmax, pn,
		       g_sh->errors[ph], pn, g_sh->slow[ph], pn, fig[ph].cpu_ms, pn,
		       fig[ph].wall_s > 0 ? fig[ph].cpu_ms / (fig[ph].wall_s * 10) : 0);
		failures += g_sh->errors[ph] != 0;
	}
	p99q = p99[0];
	printf("connect.attempted=%llu\nconnect.ok=%llu\nconnect.eagain=%llu\nconnect.other_errors="
	       "%llu\nconnect.completed=%s\n",
	       (unsigned long long)g_sh->c_attempt, (unsigned long long)g_sh->c_ok,
	       (unsigned long long)g_sh->c_eagain, (unsigned long long)g_sh->c_other,
	       g_sh->c_attempt == connects && g_sh->c_ok + g_sh->c_other == connects ? "yes"
										     : "no");
	printf(
	    "idle.attempted=%llu\nidle.connected=%llu\nidle.eagain=%llu\nidle.other_errors=%llu\n"
	    "idle.closed_by_daemon=%llu\nidle.daemon_fds_while_held=%ld\n",
	    (unsigned long long)g_sh->i_attempt, (unsigned long long)g_sh->i_ok,
	    (unsigned long long)g_sh->i_eagain, (unsigned long long)g_sh->i_other,
	    (unsigned long long)g_sh->i_closed, idle_fds);

	/* everything the floods opened is gone (bounded) */
	for (int i = 0; i < 150; i++) {
		td_sync(&d, NULL);
		if (td_get(&d, "connections") == su_value(&base, "connections") &&
		    td_get(&d, "sessions") == su_value(&base, "sessions") && td_fds(&d) == base.fds)
			break;
		su_sleep_us(100000);
	}
	su_snapshot(&d, &fin);
	diffs = su_compare("final", &base, &fin);
	bad_checks = su_self_checks(&d);
	td_stop(&d);
	lf = fopen(log_path, "r");
	for (int c; lf && (c = getc(lf)) != EOF;)
		log_lines += c == '\n';
	if (lf)
		fclose(lf);
	printf("daemon_log_lines=%lld\n", log_lines);
	printf("baseline_differences=%d\nself_check_failures=%d\nfailures=%d\n", diffs, bad_checks,
	       failures);
	rc = failures || diffs || bad_checks || t_failures;
	if (!rc && !keep_log)
		unlink(log_path);
	printf("result=%s\n", rc ? "fail" : "pass");
	printf("summary: soak_flood (daemon RLIMIT_NOFILE %lld): tenant LEASE p99 %.0f us quiet, "
	       "%.0f us under %llu connect/close, %.0f us with %llu idle connections, %.0f us "
	       "after; daemon CPU %.1f%%, %.1f%%, %.1f%%, %.1f%%; %s to baseline\n",
	       nofile_daemon, p99q, p99[1], (unsigned long long)connects, p99[2],
	       (unsigned long long)idle, p99[3],
	       fig[0].wall_s > 0 ? fig[0].cpu_ms / (fig[0].wall_s * 10) : 0,
	       fig[1].wall_s > 0 ? fig[1].cpu_ms / (fig[1].wall_s * 10) : 0,
	       fig[2].wall_s > 0 ? fig[2].cpu_ms / (fig[2].wall_s * 10) : 0,
	       fig[3].wall_s > 0 ? fig[3].cpu_ms / (fig[3].wall_s * 10) : 0,
	       diffs ? "NOT back" : "back");
	return rc ? 1 : 0;
}
