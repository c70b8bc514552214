/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * soak_clients: many concurrent clients (64 by default) churn
 * register/lease/release/unregister/query against one dmacached-test for a
 * given time; clients come and go (each lives 0.3-3 s, then exits, half of
 * them releasing everything first, half holding it), and a share of them
 * (10% by default) is SIGKILLed at a random point of its life instead; every
 * client that ends is replaced at once. At the end the daemon must be exactly
 * back to the baseline taken before the first client: its open fds, its
 * outstanding allocations, the test backend's mappings, areas (pins) and
 * pinned bytes, leases, sessions, registrations, tenant copies, kept-copy
 * bytes, per-space and per-tenant figures; the cache, lease, allocator and
 * copy self-checks pass; the daemon exits 0 on SIGTERM.
 *
 *   soak_clients [--seconds S] [--clients N] [--kill-pct P] [--seed N] [--keep-log]
 *
 * Defaults: 600 s (the long run), 64 clients, 10%, seed 1. The meson test
 * 'soak-clients' (suite soak) runs 5 s. The daemon's log (level info) is kept
 * in the file named by daemon_log= when the run fails or with --keep-log.
 * Results are key=value lines on stdout
 * and a last "summary:" line; the exit status is 0 only when every client's
 * checks passed and the daemon returned to its baseline (timing is reported,
 * never judged).
 *
 * Invariants:
 * - Clients are tenants as non-root uids (t_as_spawn(): root dropped for
 *   good): even slots tenant a (T_UID_A), odd slots tenant b (T_UID_B). Each
 *   owns one sealed memfd cut in NSLOT slots of 1 MiB registered whole, and
 *   leases 256 KiB sub-slots (at most two leases per sub-slot); it checks
 *   every reply against its own model (a wrong status ends it with exit 1).
 * - Each client adds its completed requests to its slot's counters in a
 *   shared anonymous mapping (one writer per slot at a time: a replacement
 *   starts only after its predecessor is reaped), so the count survives
 *   SIGKILL.
 * - Choices come from PRNGs seeded by --seed, the slot and the generation;
 *   only the instants at which signals land depend on scheduling.
 * - Every wait is bounded: clients end by the deadline; a client still there
 *   15 s after it is killed; reclaim is awaited 15 s; the harness bounds every
 *   request at 5 s.
 * Concurrency: one root parent, up to --clients client processes, one daemon.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "soak_util.h"

#define MB	   (UINT64_C(1) << 20)
#define RW	   DMAC_PROTO_PROT_ALL
#define NSLOT	   4
#define NSUB	   4
#define SUB	   (MB / NSUB)
#define MAXL	   32
#define MAXCLIENTS 256

enum { OP_REGISTER, OP_LEASE, OP_RELEASE, OP_UNREGISTER, OP_QUERY, NOPS };

static const char *const op_names[NOPS] = {"register", "lease", "release", "unregister", "query"};

/* shared with the clients (MAP_SHARED | MAP_ANONYMOUS, before the first fork) */
struct shared {
	uint64_t ops[MAXCLIENTS][NOPS];
};

static struct shared *g_sh;
static int g_admin = -1; /* the parent's admin session: closed in every client */

/* ---- a client ---------------------------------------------------------------------- */

struct cargs {
	const struct tdaemon *d;
	unsigned int slot, gen;
	uint64_t seed;
	double end;
};

struct clease {
	uint64_t id, gen;
	unsigned int slot, sub;
};

#define CFAIL(...)                                                                                 \
	do {                                                                                       \
		fprintf(stderr, "client %u.%u: ", a->slot, a->gen);                                \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		_exit(1);                                                                          \
	} while (0)

static void count(const struct cargs *a, int op)
{
	__atomic_fetch_add(&g_sh->ops[a->slot][op], 1, __ATOMIC_RELAXED);
}

/* t_as_spawn()'s entry: never returns. */
static void client(void *arg)
{
	static struct dmac_proto_lease_info info[DMAC_PROTO_MAX_VEC];
	const struct cargs *a = arg;
	uint64_t reg[NSLOT] = {0};
	unsigned int per_sub[NSLOT][NSUB] = {{0}}, per_slot[NSLOT] = {0}, nl = 0;
	struct clease l[MAXL];
	struct su_rng r;
	int s, fd, rc;

	close(g_admin);
	su_rng_seed(&r, a->seed);
	fd = t_memfd(NSLOT * MB, 1);
	s = tc_connect(a->d);
	rc = tc_hello(s, a->slot % 2 ? "b" : "a");
	if (rc)
		CFAIL("HELLO: %d", rc);
	while (su_now() < a->end) {
		unsigned int op = (unsigned int)su_below(&r, 100);
		unsigned int k = (unsigned int)su_below(&r, NSLOT);
		unsigned int sub = (unsigned int)su_below(&r, NSUB);

		if (op < 15) {
			if (reg[k])
				continue;
			rc = tc_register(s, fd, k * MB, MB, RW, &reg[k]);
			if (rc)
				CFAIL("REGISTER slot %u: %d", k, rc);
			count(a, OP_REGISTER);
		} else if (op < 50) {
			struct dmac_proto_lease_grant g;

			if (!reg[k] || per_sub[k][sub] == 2 || nl == MAXL)
				continue;
			rc = tc_lease(s, reg[k], sub * SUB, SUB, RW, &g);
			if (rc)
				CFAIL("LEASE slot %u sub %u: %d", k, sub, rc);
			if (g.length != SUB)
				CFAIL("LEASE length %llu", (unsigned long long)g.length);
			l[nl++] = (struct clease){g.lease_id, g.generation, k, sub};
			per_sub[k][sub]++;
			per_slot[k]++;
			count(a, OP_LEASE);
		} else if (op < 80) {
			unsigned int i;

			if (!nl)
				continue;
			i = (unsigned int)su_below(&r, nl);
			/* now and then a stale generation first: ESTALE, nothing changes */
			if (su_below(&r, 8) == 0) {
				rc = tc_release(s, l[i].id, l[i].gen + 1);
				if (rc != ESTALE)
					CFAIL("RELEASE stale: %d", rc);
				count(a, OP_RELEASE);
			}
			rc = tc_release(s, l[i].id, l[i].gen);
			if (rc)
				CFAIL("RELEASE: %d", rc);
			count(a, OP_RELEASE);
			per_sub[l[i].slot][l[i].sub]--;
			per_slot[l[i].slot]--;
			l[i] = l[--nl];
		} else if (op < 90) {
			if (!reg[k])
				continue;
			rc = tc_unregister(s, reg[k]);
			if (rc != (per_slot[k] ? EBUSY : 0))
				CFAIL("UNREGISTER slot %u with %u leases: %d", k, per_slot[k], rc);
			if (!rc)
				reg[k] = 0;
			count(a, OP_UNREGISTER);
		} else {
			uint64_t next;
			uint32_t n;

			rc = tc_query(s, 0, DMAC_PROTO_MAX_VEC, info, &n, &next);
			if (rc || n != nl || next != 0)
				CFAIL("QUERY: %d, %u leases (expected %u)", rc, n, nl);
			count(a, OP_QUERY);
		}
	}
	if (su_below(&r, 2)) { /* half clean up, half leave it to the session's end */
		while (nl) {
			nl--;
			rc = tc_release(s, l[nl].id, l[nl].gen);
			if (rc)
				CFAIL("final RELEASE: %d", rc);
			count(a, OP_RELEASE);
		}
		for (unsigned int k = 0; k < NSLOT; k++) {
			if (reg[k] && (rc = tc_unregister(s, reg[k])) != 0)
				CFAIL("final UNREGISTER: %d", rc);
			if (reg[k])
				count(a, OP_UNREGISTER);
		}
	}
	close(s);
	close(fd);
	_exit(0);
}

/* ---- the parent ---------------------------------------------------------------------- */

struct slot {
	pid_t pid; /* 0: empty */
	unsigned int gen;
	double kill_at; /* 0: not a victim */
};

static struct {
	unsigned long spawned, killed, ended, failed;
} g_n;

static void spawn(struct tdaemon *d, struct slot *sl, unsigned int i, struct su_rng *r,
		  uint64_t seed, double deadline, unsigned int kill_pct)
{
	double now = su_now(), life = 0.3 + (double)su_below(r, 2700) / 1000.0;
	struct cargs a = {d, i, ++sl[i].gen, seed * 1000003 + i * 1009 + sl[i].gen, now + life};
	uid_t uid = i % 2 ? T_UID_B : T_UID_A;

	if (a.end > deadline)
		a.end = deadline;
	sl[i].kill_at = 0;
	if (su_below(r, 100) < kill_pct)
		sl[i].kill_at = now + (a.end - now) * (double)su_below(r, 1000) / 1000.0;
	sl[i].pid = t_as_spawn(uid, (gid_t)uid, NULL, 0, client, &a);
	g_n.spawned++;
}

/* A client ended with @p status (not by our SIGKILL): 0 is the only good end. */
static void ended(unsigned int i, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		g_n.ended++;
		return;
	}
	fprintf(stderr, "soak_clients: client %u failed (status 0x%x)\n", i, status);
	g_n.failed++;
}

static void usage(void)
{
	fprintf(stderr, "usage: soak_clients [--seconds S] [--clients N] [--kill-pct P] [--seed N] "
			"[--keep-log]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seconds = 600, nclients = 64, kill_pct = 10, seed = 1, total = 0;
	char log_path[] = "/tmp/dmacd-soak-clients-XXXXXX", conf[256], cmd[160];
	struct dmac_proto_stats base_st, st;
	struct slot sl[MAXCLIENTS] = {{0}};
	struct su_state base, fin;
	int log_fd, keep_log = 0, diffs, bad_checks, daemon_died = 0, rc;
	double t0, deadline, t_idle;
	long long rss0;
	long cpu0, cpu1;
	struct su_rng r;
	struct tdaemon d;

	for (int i = 1; i < argc; i++) {
		uint64_t *dst = NULL;

		if (!strcmp(argv[i], "--keep-log")) {
			keep_log = 1;
			continue;
		}
		if (!strcmp(argv[i], "--seconds"))
			dst = &seconds;
		else if (!strcmp(argv[i], "--clients"))
			dst = &nclients;
		else if (!strcmp(argv[i], "--kill-pct"))
			dst = &kill_pct;
		else if (!strcmp(argv[i], "--seed"))
			dst = &seed;
		if (!dst || i + 1 == argc || !su_parse_u64(argv[++i], dst))
			usage();
	}
	if (!seconds || seconds > 86400 || !nclients || nclients > MAXCLIENTS || kill_pct > 100)
		usage();
	su_default_daemon(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_sh = mmap(NULL, sizeof(*g_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("tool=soak_clients\nseed=%llu\nseconds=%llu\nclients=%llu\nkill_pct=%llu\n",
	       (unsigned long long)seed, (unsigned long long)seconds, (unsigned long long)nclients,
	       (unsigned long long)kill_pct);

	/* the daemon: no cache (every area goes with its last registration, so the
	 * pins return to baseline), per-uid cap above the clients of one uid */
	snprintf(conf, sizeof(conf),
		 "pinned_budget = 0\nmax_sessions_per_uid = 1024\n[tenant a]\nuids = %u\n"
		 "[tenant b]\nuids = %u\n",
		 T_UID_A, T_UID_B);
	log_fd = mkstemp(log_path);
	if (log_fd < 0) {
		perror("mkstemp");
		return 1;
	}
	td_log_level = "info";
	su_daemon_start(&d, conf, log_fd, 0);
	close(log_fd);
	printf("daemon_log=%s\n", log_path);
	if (td_wait(&d, "sessions", 0)) {
		fprintf(stderr, "soak_clients: no quiet baseline\n");
		return 1;
	}
	g_admin = su_admin_open(&d);
	if (tc_stats(g_admin, &base_st)) {
		fprintf(stderr, "soak_clients: no quiet baseline\n");
		return 1;
	}
	su_snapshot(&d, &base);
	rss0 = su_rss_kb(d.pid);

	su_rng_seed(&r, seed);
	t0 = su_now();
	deadline = t0 + (double)seconds;
	cpu0 = td_cpu_ms(d.pid);
	for (unsigned int i = 0; i < nclients; i++)
		spawn(&d, sl, i, &r, seed, deadline, (unsigned int)kill_pct);
	for (;;) {
		double now = su_now();
		unsigned int alive = 0;
		int status;
		pid_t p;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p == d.pid) {
				fprintf(stderr, "soak_clients: the daemon died (status 0x%x)\n",
					status);
				daemon_died = 1;
				continue;
			}
			for (unsigned int i = 0; i < nclients; i++) {
				if (sl[i].pid != p)
					continue;
				sl[i].pid = 0;
				ended(i, status);
				if (now < deadline - 0.2 && !daemon_died)
					spawn(&d, sl, i, &r, seed, deadline,
					      (unsigned int)kill_pct);
			}
		}
		for (unsigned int i = 0; i < nclients; i++) {
			double t_kill;

			if (!sl[i].pid || !sl[i].kill_at || now < sl[i].kill_at)
				continue;
			kill(sl[i].pid, SIGKILL);
			t_kill = su_now();
			while ((p = waitpid(sl[i].pid, &status, WNOHANG)) == 0 &&
			       su_now() < t_kill + 15)
				su_sleep_us(1000);
			if (p != sl[i].pid) {
				fprintf(stderr, "soak_clients: client %u survived SIGKILL\n", i);
				g_n.failed++;
			} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
				g_n.killed++;
			} else {
				ended(i, status); /* it ended just before the signal */
			}
			sl[i].pid = 0;
			if (now < deadline - 0.2 && !daemon_died)
				spawn(&d, sl, i, &r, seed, deadline, (unsigned int)kill_pct);
		}
		for (unsigned int i = 0; i < nclients; i++)
			alive += sl[i].pid != 0;
		if (!alive || daemon_died)
			break;
		if (now > deadline + 15) { /* clients end by the deadline */
			for (unsigned int i = 0; i < nclients; i++) {
				if (!sl[i].pid)
					continue;
				fprintf(stderr,
					"soak_clients: client %u still there after the deadline\n",
					i);
				kill(sl[i].pid, SIGKILL);
				waitpid(sl[i].pid, &status, 0);
				sl[i].pid = 0;
				g_n.failed++;
			}
			break;
		}
		su_sleep_us(2000);
	}
	t_idle = su_now();
	if (daemon_died) {
		printf("result=fail\nsummary: soak_clients: the daemon died\n");
		return 1;
	}
	rc = su_wait_idle(g_admin, &base_st, 15);
	t_idle = su_now() - t_idle;
	cpu1 = td_cpu_ms(d.pid);
	tc_stats(g_admin, &st);
	for (unsigned int i = 0; i < nclients; i++)
		for (int op = 0; op < NOPS; op++)
			total += g_sh->ops[i][op];
	printf("spawned=%lu\nkilled=%lu\nended=%lu\nclient_failures=%lu\n", g_n.spawned, g_n.killed,
	       g_n.ended, g_n.failed);
	printf("ops=%llu\n", (unsigned long long)total);
	for (int op = 0; op < NOPS; op++) {
		uint64_t n = 0;

		for (unsigned int i = 0; i < nclients; i++)
			n += g_sh->ops[i][op];
		printf("ops.%s=%llu\n", op_names[op], (unsigned long long)n);
	}
	printf("ops_per_s=%.0f\n", (double)total / (double)seconds);
	printf("cache_misses=%llu\ncache_hits=%llu\ncopy_hits=%llu\ncopy_misses=%llu\n",
	       (unsigned long long)st.cache_misses, (unsigned long long)st.cache_hits,
	       (unsigned long long)st.copy_hits, (unsigned long long)st.copy_misses);
	printf("daemon_cpu_ms=%ld\n", cpu1 - cpu0);
	/* dmacached-test only: the test backend logs every call in memory (the
	 * dump's "call" lines), which grows the daemon with the run's length */
	printf("daemon_rss_kb_start=%lld\ndaemon_rss_kb_end=%lld\n", rss0, su_rss_kb(d.pid));
	printf("reclaim_wait_ms=%.1f\nreclaimed=%s\n", t_idle * 1000, rc ? "no" : "yes");

	su_snapshot(&d, &fin);
	printf("backend_calls=%lld\n", td_get(&d, "calls"));
	diffs = su_compare("final", &base, &fin);
	bad_checks = su_self_checks(&d);
	close(g_admin);
	td_stop(&d);
	printf("baseline_differences=%d\nself_check_failures=%d\n", diffs, bad_checks);
	rc = rc || diffs || bad_checks || g_n.failed || t_failures || (kill_pct && !g_n.killed);
	if (kill_pct && !g_n.killed)
		fprintf(stderr, "soak_clients: no client was killed: nothing was proven\n");
	printf("result=%s\n", rc ? "fail" : "pass");
	printf(
	    "summary: soak_clients %llu s, %llu clients (%lu started, %lu SIGKILLed, %lu failed): "
	    "%llu requests (%.0f/s); %s to baseline (%d fds, %lld allocations, %lld mappings)\n",
	    (unsigned long long)seconds, (unsigned long long)nclients, g_n.spawned, g_n.killed,
	    g_n.failed, (unsigned long long)total, (double)total / (double)seconds,
	    diffs ? "NOT back" : "back", fin.fds, su_value(&fin, "alloc_outstanding"),
	    su_value(&fin, "mapped"));
	if (rc) {
		fprintf(stderr, "soak_clients: failed; daemon log tail (%s):\n", log_path);
		snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", log_path);
		if (system(cmd) != 0)
			fprintf(stderr, "soak_clients: cannot show the log\n");
	} else if (!keep_log) {
		unlink(log_path);
	}
	return rc ? 1 : 0;
}
