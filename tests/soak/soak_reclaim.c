/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * soak_reclaim: how long the daemon takes to reclaim everything of a client
 * killed with SIGKILL. Per trial a client (tenant a as uid T_UID_A) registers
 * a memfd and takes --leases leases of 256 KiB, says it is ready and waits; the
 * tool checks the daemon holds them (an admin session's STATS), SIGKILLs it
 * and measures from the kill to
 *   reclaim: the first STATS reply that shows sessions, leases,
 *            registrations, tenant copies, areas and pinned bytes back to the
 *            baseline. The daemon has one thread and reclaims a session in
 *            one go, so a reply that shows it was sent after the last unmap:
 *            the figure is an upper bound of the reclaim, by the polling
 *            period (100 us) plus one round trip;
 *   detect:  the daemon's "session N: pid P ...: ends (...)" log line, read
 *            from its stderr (a pipe) in the same loop; the daemon writes it
 *            before it reclaims, so detect <= reclaim up to the loop period.
 * It prints p50/p99/max of both and how many trials completed within 1 s;
 * at the end the daemon must be exactly back to the baseline (fds,
 * allocations, mappings, the dump's gauges) and pass its self-checks.
 *
 *   soak_reclaim [--trials N] [--leases L]
 *
 * Defaults: 1,000 trials (the long run), 8 leases. The meson test
 * 'soak-reclaim' (suite soak) runs 20 trials and asserts only that every
 * trial was reclaimed (within the 5 s bound) and the baseline; times are
 * reported, never judged.
 *
 * Invariants: every wait is bounded (the client's readiness 5 s, a reclaim
 * 5 s, the log line 1 s after the reclaim, the client's exit 5 s); the daemon
 * log pipe is drained in every loop and holds 1 MiB, so the daemon never
 * blocks on it; only the root parent reads the daemon.
 * Concurrency: one root parent, one client process at a time, one daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "soak_util.h"

#define MB	   (UINT64_C(1) << 20)
#define LEASE	   (256 * UINT64_C(1024))
#define MAX_LEASES 64
#define TRIAL_S	   5.0

static int g_admin = -1, g_logr = -1; /* closed in every client */

/* ---- the client ----------------------------------------------------------------------- */

struct cargs {
	const struct tdaemon *d;
	unsigned int leases;
	int ready; /* write end: 'R' when the leases are held, 'F' on failure */
};

static void client(void *arg)
{
	const struct cargs *a = arg;
	uint64_t reg;
	int s, fd;
	char c = 'F';

	close(g_admin);
	close(g_logr);
	fd = t_memfd(a->leases * LEASE, 1);
	s = tc_connect(a->d);
	if (tc_hello(s, "a") == 0 &&
	    tc_register(s, fd, 0, a->leases * LEASE, DMAC_PROTO_PROT_ALL, &reg) == 0) {
		unsigned int i;

		for (i = 0; i < a->leases; i++)
			if (tc_lease(s, reg, i * LEASE, LEASE, DMAC_PROTO_PROT_ALL, NULL))
				break;
		if (i == a->leases)
			c = 'R';
	}
	if (write(a->ready, &c, 1) != 1 || c != 'R')
		_exit(1);
	for (;;)
		pause(); /* until SIGKILL */
}

/* ---- the daemon's log ------------------------------------------------------------------ */

static char g_line[8192];
static size_t g_len;

/* Read what the daemon wrote; the time at which the "ends" line of @p pid was
 * read goes to *seen (left alone when it was not). */
static void log_drain(pid_t pid, double *seen)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(g_logr, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			const char *sess;
			int p;

			if (buf[i] != '\n') {
				if (g_len < sizeof(g_line) - 1)
					g_line[g_len++] = buf[i];
				continue;
			}
			g_line[g_len] = '\0';
			g_len = 0;
			sess = strstr(g_line, "session ");
			if (pid > 0 && sess && strstr(g_line, ": ends (") &&
			    sscanf(sess, "session %*u: pid %d", &p) == 1 && p == pid)
				*seen = su_now();
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: soak_reclaim [--trials N] [--leases L]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t trials = 1000, leases = 8;
	unsigned long done = 0, within_1s = 0, timeouts = 0, setup_failures = 0, no_line = 0;
	double *rec, *det, p50, p99, max, dp50, dp99, dmax;
	struct dmac_proto_stats base_st, st;
	struct su_state base, fin;
	size_t ndet = 0;
	int logp[2], diffs, bad_checks, rc;
	char conf[256];
	struct tdaemon d;

	for (int i = 1; i < argc; i++) {
		uint64_t *dst = NULL;

		if (!strcmp(argv[i], "--trials"))
			dst = &trials;
		else if (!strcmp(argv[i], "--leases"))
			dst = &leases;
		if (!dst || i + 1 == argc || !su_parse_u64(argv[++i], dst))
			usage();
	}
	if (!trials || trials > 1000000 || !leases || leases > MAX_LEASES)
		usage();
	su_default_daemon(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rec = calloc(trials, sizeof(*rec));
	det = calloc(trials, sizeof(*det));
	if (!rec || !det || pipe2(logp, O_CLOEXEC)) {
		perror("soak_reclaim: set-up");
		return 1;
	}
	/* a pipe deep enough for every line of a trial, drained in every loop */
	fcntl(logp[0], F_SETPIPE_SZ, 1 << 20);
	fcntl(logp[0], F_SETFL, O_NONBLOCK);
	g_logr = logp[0];
	printf("tool=soak_reclaim\ntrials=%llu\nleases_per_client=%llu\nlease_bytes=%llu\n",
	       (unsigned long long)trials, (unsigned long long)leases, (unsigned long long)LEASE);

	snprintf(conf, sizeof(conf), "pinned_budget = 0\n[tenant a]\nuids = %u\n", T_UID_A);
	td_log_level = "info";
	su_daemon_start(&d, conf, logp[1], 0);
	close(logp[1]);
	if (td_wait(&d, "sessions", 0)) {
		fprintf(stderr, "soak_reclaim: no quiet baseline\n");
		return 1;
	}
	g_admin = su_admin_open(&d);
	if (tc_stats(g_admin, &base_st)) {
		fprintf(stderr, "soak_reclaim: STATS\n");
		return 1;
	}
	su_snapshot(&d, &base);

	for (uint64_t t = 0; t < trials; t++) {
		struct cargs a = {&d, (unsigned int)leases, -1};
		struct pollfd pf;
		double t0, t_rec = -1, t_det = -1, end;
		int ready[2], status;
		char c = 0;
		pid_t pid, w;

		if (pipe2(ready, O_CLOEXEC)) {
			perror("pipe");
			return 1;
		}
		a.ready = ready[1];
		pid = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, client, &a);
		close(ready[1]);
		pf = (struct pollfd){.fd = ready[0], .events = POLLIN};
		if (poll(&pf, 1, 5000) != 1 || read(ready[0], &c, 1) != 1 || c != 'R' ||
		    tc_stats(g_admin, &st) || st.leases != base_st.leases + leases ||
		    st.sessions != base_st.sessions + 1) {
			fprintf(stderr, "soak_reclaim: trial %llu: the client did not set up\n",
				(unsigned long long)t);
			setup_failures++;
		}
		close(ready[0]);
		log_drain(-1, NULL);

		t0 = su_now();
		kill(pid, SIGKILL);
		end = t0 + TRIAL_S;
		do {
			log_drain(pid, &t_det);
			if (tc_stats(g_admin, &st) == 0 && su_stats_idle(&st, &base_st)) {
				t_rec = su_now() - t0;
				break;
			}
			su_sleep_us(100);
		} while (su_now() < end);
		/* the log line came before the reclaim; allow the pipe 1 s */
		while (t_det < 0 && su_now() < (t_rec >= 0 ? t0 + t_rec + 1 : end)) {
			log_drain(pid, &t_det);
			su_sleep_us(500);
		}
		if (t_rec < 0) {
			fprintf(stderr, "soak_reclaim: trial %llu: not reclaimed within %.0f s\n",
				(unsigned long long)t, TRIAL_S);
			timeouts++;
		} else {
			rec[done++] = t_rec * 1000;
			within_1s += t_rec <= 1.0;
		}
		if (t_det >= 0)
			det[ndet++] = (t_det - t0) * 1000;
		else
			no_line++;
		while ((w = waitpid(pid, &status, WNOHANG)) == 0 && su_now() < end + 5)
			su_sleep_us(1000);
		if (w != pid || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			fprintf(stderr, "soak_reclaim: trial %llu: client status 0x%x\n",
				(unsigned long long)t, status);
			setup_failures++;
		}
	}
	su_percentiles(rec, done, &p50, &p99, &max);
	su_percentiles(det, ndet, &dp50, &dp99, &dmax);
	printf("reclaimed=%lu\nwithin_1s=%lu\ntimeouts=%lu\nsetup_failures=%lu\n", done, within_1s,
	       timeouts, setup_failures);
	printf("reclaim_p50_ms=%.3f\nreclaim_p99_ms=%.3f\nreclaim_max_ms=%.3f\n", p50, p99, max);
	printf("detect_lines=%zu\ndetect_p50_ms=%.3f\ndetect_p99_ms=%.3f\ndetect_max_ms=%.3f\n",
	       ndet, dp50, dp99, dmax);

	su_snapshot(&d, &fin);
	diffs = su_compare("final", &base, &fin);
	bad_checks = su_self_checks(&d);
	close(g_admin);
	td_stop(&d);
	log_drain(-1, NULL);
	printf("baseline_differences=%d\nself_check_failures=%d\n", diffs, bad_checks);
	rc = timeouts || setup_failures || diffs || bad_checks || t_failures || no_line;
	if (no_line)
		fprintf(stderr, "soak_reclaim: %lu session end(s) not logged\n", no_line);
	printf("result=%s\n", rc ? "fail" : "pass");
	printf("summary: soak_reclaim %llu trials x %llu leases: %lu of %llu reclaimed within 1 s; "
	       "reclaim p50 %.3f ms, p99 %.3f ms, max %.3f ms; %s to baseline\n",
	       (unsigned long long)trials, (unsigned long long)leases, within_1s,
	       (unsigned long long)trials, p50, p99, max, diffs ? "NOT back" : "back");
	free(rec);
	free(det);
	return rc ? 1 : 0;
}
