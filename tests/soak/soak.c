/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Soak test (the soak tier, docs/testing.md): many client processes churn
 * register/lease/release/unregister/query against one dmacached-test for a
 * bounded time while the parent SIGKILLs some of them at random moments and
 * starts replacements; then everything must be exactly back to the baseline
 * taken before the first client: the daemon's open fds (/proc/PID/fd), its
 * outstanding heap allocations (alloc_outstanding of the SIGUSR1 dump), the
 * test backend's mappings (mapped), and the engine's leases, registrations,
 * areas, tenant copies, pinned bytes and sessions; the cache, lease table and
 * allocator self-checks pass, and the daemon exits 0 on SIGTERM.
 *
 * Invariants:
 * - Every choice (operation, range, which worker dies, when the parent acts)
 *   comes from a PRNG seeded by SOAK_SEED (default 1) and the worker's slot and
 *   generation, so a run's choices are reproducible; only the exact instant a
 *   SIGKILL lands depends on scheduling.
 * - Bounded: SOAK_SECONDS (default 20, at most 600) of churn, then every wait
 *   is bounded (a worker that has not exited 10 s after the deadline is killed
 *   and counted as a failure; the reclaim wait is bounded at 10 s).
 * - A worker checks every reply against its own model (each worker owns one
 *   sealed memfd cut in slots of 1 MiB registered whole, leases of 256 KiB
 *   sub-slots, at most two leases of one sub-slot - they share a copy), so a
 *   wrong status fails the test, not only a leak.
 * - Workers are tenants as non-root uids (t_as_spawn(): root dropped for
 *   good, no capabilities): tenant a's are uid T_UID_A, tenant b's T_UID_B,
 *   and their memfds are their own. Only the root parent signals and reads
 *   the daemon (the dump, /proc/PID/fd) and kills workers.
 * Concurrency: one parent, NWORKERS worker processes, one daemon.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MB	 (UINT64_C(1) << 20)
#define RW	 DMAC_PROTO_PROT_ALL
#define NWORKERS 8
#define NSLOT	 8
#define NSUB	 4
#define SUB	 (MB / NSUB)
#define MAXL	 48

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static void rnd_seed(uint64_t seed)
{
	rng_state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
	if (!rng_state)
		rng_state = 1;
	for (int i = 0; i < 8; i++)
		rnd();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- a worker ------------------------------------------------------------------ */

struct wlease {
	uint64_t id, gen;
	unsigned int slot, sub;
};

#define WFAIL(...)                                                                                 \
	do {                                                                                       \
		fprintf(stderr, "worker %u.%u: ", slot_no, gen_no);                                \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		_exit(1);                                                                          \
	} while (0)

struct wargs {
	const struct tdaemon *d;
	unsigned int slot, gen;
	uint64_t seed;
	double deadline;
};

static void worker(const struct tdaemon *d, unsigned int slot_no, unsigned int gen_no,
		   uint64_t seed, double deadline)
{
	static struct dmac_proto_lease_info info[DMAC_PROTO_MAX_VEC];
	uint64_t reg[NSLOT] = {0};
	unsigned int per_sub[NSLOT][NSUB] = {{0}}, per_slot[NSLOT] = {0};
	struct wlease l[MAXL];
	unsigned int nl = 0;
	unsigned long ops = 0;
	int s, fd, rc;

	rnd_seed(seed);
	fd = t_memfd(NSLOT * MB, 1);
	s = tc_connect(d);
	rc = tc_hello(s, slot_no % 2 ? "b" : "a");
	if (rc)
		WFAIL("HELLO: %d", rc);
	while (now() < deadline) {
		unsigned int op = (unsigned int)(rnd() % 100);
		unsigned int k = (unsigned int)(rnd() % NSLOT), sub = (unsigned int)(rnd() % NSUB);

		ops++;
		if (op < 20) { /* register a slot */
			if (reg[k])
				continue;
			rc = tc_register(s, fd, k * MB, MB, RW, &reg[k]);
			if (rc)
				WFAIL("REGISTER slot %u: %d", k, rc);
		} else if (op < 55) { /* lease a sub-slot */
			struct dmac_proto_lease_grant g;

			if (!reg[k] || per_sub[k][sub] == 2 || nl == MAXL)
				continue;
			rc = tc_lease(s, reg[k], sub * SUB, SUB, RW, &g);
			if (rc)
				WFAIL("LEASE slot %u sub %u: %d", k, sub, rc);
			if (g.length != SUB)
				WFAIL("LEASE length %llu", (unsigned long long)g.length);
			l[nl++] = (struct wlease){g.lease_id, g.generation, k, sub};
			per_sub[k][sub]++;
			per_slot[k]++;
		} else if (op < 85) { /* release one */
			unsigned int i;

			if (!nl)
				continue;
			i = (unsigned int)(rnd() % nl);
			/* now and then a stale generation first: ESTALE, nothing changes */
			if (rnd() % 8 == 0) {
				rc = tc_release(s, l[i].id, l[i].gen + 1);
				if (rc != ESTALE)
					WFAIL("RELEASE stale: %d", rc);
			}
			rc = tc_release(s, l[i].id, l[i].gen);
			if (rc)
				WFAIL("RELEASE: %d", rc);
			per_sub[l[i].slot][l[i].sub]--;
			per_slot[l[i].slot]--;
			l[i] = l[--nl];
		} else if (op < 95) { /* unregister a slot */
			if (!reg[k])
				continue;
			rc = tc_unregister(s, reg[k]);
			if (rc != (per_slot[k] ? EBUSY : 0))
				WFAIL("UNREGISTER slot %u with %u leases: %d", k, per_slot[k], rc);
			if (!rc)
				reg[k] = 0;
		} else { /* query: exactly our leases */
			uint64_t next;
			uint32_t n;

			rc = tc_query(s, 0, DMAC_PROTO_MAX_VEC, info, &n, &next);
			if (rc || n != nl || next != 0)
				WFAIL("QUERY: %d, %u leases (expected %u)", rc, n, nl);
		}
	}
	/* half of the workers clean up, the others just exit with everything held */
	if (rnd() % 2) {
		while (nl) {
			nl--;
			rc = tc_release(s, l[nl].id, l[nl].gen);
			if (rc)
				WFAIL("final RELEASE: %d", rc);
		}
		for (unsigned int k = 0; k < NSLOT; k++)
			if (reg[k] && (rc = tc_unregister(s, reg[k])) != 0)
				WFAIL("final UNREGISTER: %d", rc);
	}
	close(s);
	close(fd);
	_exit(0);
}

/* t_as_spawn()'s entry: never returns (the worker _exit()s). */
static void worker_main(void *arg)
{
	const struct wargs *w = arg;

	worker(w->d, w->slot, w->gen, w->seed, w->deadline);
}

/* ---- the parent ------------------------------------------------------------------ */

/* Tenant a for even slots (uid T_UID_A), b for odd ones (uid T_UID_B). */
static pid_t spawn(const struct tdaemon *d, unsigned int slot, unsigned int gen, uint64_t seed,
		   double deadline)
{
	struct wargs w = {d, slot, gen, seed * 1000003 + slot * 1009 + gen, deadline};
	uid_t uid = slot % 2 ? T_UID_B : T_UID_A;

	return t_as_spawn(uid, (gid_t)uid, NULL, 0, worker_main, &w);
}

/* After the churn, a new session of tenant a finds nothing left of its own
 * (bounded wait: the killed workers' sessions are reclaimed meanwhile). */
static void final_tenant(void *arg)
{
	struct dmac_proto_stats st = {0};
	int s = tc_connect(arg);

	CHECK_EQ(tc_hello(s, "a"), 0);
	for (int i = 0; i < 500; i++) {
		CHECK_EQ(tc_stats(s, &st), 0);
		if (st.sessions == 1 && st.leases == 0 && st.registrations == 0)
			break;
		sleep_ms(20);
	}
	CHECK_EQ(st.sessions, 1);
	CHECK_EQ(st.leases, 0);
	CHECK_EQ(st.registrations, 0);
	close(s);
}

static long long dump_value(struct tdaemon *d, const char *key)
{
	long long v = td_get(d, key);

	if (v < 0) {
		fprintf(stderr, "dump has no '%s'\n", key);
		t_failures++;
	}
	return v;
}

int main(void)
{
	static const char *const keys[] = {"alloc_outstanding", "mapped",  "leases",
					   "registrations",	"areas",   "tenant_copies",
					   "bytes_pinned",	"sessions"};
	long long base[sizeof(keys) / sizeof(keys[0])];
	const char *e_seed = getenv("SOAK_SEED"), *e_secs = getenv("SOAK_SECONDS");
	uint64_t seed = e_seed ? strtoull(e_seed, NULL, 0) : 1;
	double secs = e_secs ? atof(e_secs) : 20, deadline;
	unsigned int gen[NWORKERS] = {0}, kills = 0, spawned = 0, exits = 0;
	pid_t pids[NWORKERS];
	char conf[256];
	char log_path[] = "/tmp/dmacd-soak-log-XXXXXX", cmd[128];
	int base_fds, log_fd, saved_err;
	struct tdaemon d;

	if (secs <= 0 || secs > 600)
		secs = 20;
	signal(SIGPIPE, SIG_IGN);
	printf("soak: seed %llu, %.0f s, %d workers\n", (unsigned long long)seed, secs, NWORKERS);
	snprintf(conf, sizeof(conf),
		 "pinned_budget = 0\n[tenant a]\nuids = %u\n[tenant b]\nuids = "
		 "%u\n",
		 T_UID_A, T_UID_B);
	/* the daemon logs at debug (harness config): its stderr goes to a file,
	 * whose tail is shown when the soak fails */
	log_fd = mkstemp(log_path);
	saved_err = dup(2);
	if (log_fd < 0 || saved_err < 0 || dup2(log_fd, 2) < 0) {
		perror("soak: daemon log");
		return 1;
	}
	td_start(&d, conf);
	dup2(saved_err, 2);
	close(saved_err);
	close(log_fd);
	/* the baseline, taken with no session (td_start's probe connection may
	 * still be open for a moment) */
	for (int i = 0; i < 250; i++) {
		td_sync(&d, NULL);
		if (td_get(&d, "sessions") == 0)
			break;
		sleep_ms(20);
	}
	CHECK_EQ(td_get(&d, "sessions"), 0);
	base_fds = td_fds(&d);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		base[i] = dump_value(&d, keys[i]);

	rnd_seed(seed);
	deadline = now() + secs;
	for (unsigned int i = 0; i < NWORKERS; i++, spawned++)
		pids[i] = spawn(&d, i, 0, seed, deadline);
	while (now() < deadline - 0.5) {
		unsigned int victim = (unsigned int)(rnd() % NWORKERS);
		int status;
		pid_t p;

		sleep_ms(20 + (unsigned int)(rnd() % 280));
		/* nobody may leave early */
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			fprintf(stderr,
				"soak: worker pid %d ended before the deadline (status 0x%x)\n",
				(int)p, status);
			t_failures++;
			for (unsigned int i = 0; i < NWORKERS; i++)
				if (pids[i] == p)
					pids[i] = spawn(&d, i, ++gen[i], seed, deadline), spawned++;
		}
		if (rnd() % 3 == 0)
			continue;
		kill(pids[victim], SIGKILL);
		if (waitpid(pids[victim], &status, 0) != pids[victim] ||
		    !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
			fprintf(stderr, "soak: worker %u: not killed (status 0x%x)\n", victim,
				status);
			t_failures++;
		}
		kills++;
		pids[victim] = spawn(&d, victim, ++gen[victim], seed, deadline);
		spawned++;
	}
	for (unsigned int i = 0; i < NWORKERS; i++) {
		int status = 0;
		pid_t p = 0;

		while (now() < deadline + 10 && (p = waitpid(pids[i], &status, WNOHANG)) == 0)
			sleep_ms(20);
		if (p != pids[i]) {
			fprintf(stderr, "soak: worker %u did not exit after the deadline\n", i);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status, 0);
			t_failures++;
			continue;
		}
		exits++;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "soak: worker %u failed (status 0x%x)\n", i, status);
			t_failures++;
		}
	}
	printf("soak: %u workers started, %u killed with SIGKILL, %u exited at the deadline\n",
	       spawned, kills, exits);
	CHECK(kills > 0);

	/* every session reclaimed: only the final tenant's is left (bounded wait) */
	t_as_user(T_UID_A, final_tenant, &d);
	for (int i = 0; i < 250; i++) {
		td_sync(&d, NULL);
		if (td_get(&d, "sessions") == base[7])
			break;
		sleep_ms(20);
	}
	/* exactly back to the baseline */
	CHECK_EQ(td_fds(&d), base_fds);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		long long v = dump_value(&d, keys[i]);

		if (v != base[i]) {
			fprintf(stderr, "soak: %s %lld, baseline %lld\n", keys[i], v, base[i]);
			t_failures++;
		}
	}
	CHECK_EQ(td_get(&d, "mapped"), 0);
	CHECK_EQ(td_get(&d, "cache_check"), 0);
	CHECK_EQ(td_get(&d, "lease_check"), 0);
	CHECK_EQ(td_get(&d, "alloc_check"), 0);
	CHECK(td_get(&d, "cache_misses") > 0);
	printf("soak: %lld registrations (cache misses %lld, hits %lld), %lld evictions\n",
	       td_get(&d, "cache_misses") + td_get(&d, "cache_hits"), td_get(&d, "cache_misses"),
	       td_get(&d, "cache_hits"), td_get(&d, "evictions"));
	td_stop(&d);
	if (t_failures) {
		fprintf(stderr, "soak: %d check(s) failed (seed %llu); daemon log tail:\n",
			t_failures, (unsigned long long)seed);
		snprintf(cmd, sizeof(cmd), "tail -n 60 '%s' >&2", log_path);
		if (system(cmd) != 0)
			fprintf(stderr, "soak: cannot show %s\n", log_path);
	} else
		printf("soak: back to baseline (%d fds, %lld allocations outstanding)\n", base_fds,
		       base[0]);
	unlink(log_path);
	return t_failures ? 1 : 0;
}
