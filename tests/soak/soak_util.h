/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the reliability tools in tests/soak (soak_clients, soak_reclaim,
 * soak_flood), on top of the daemon suite's harness (tests/daemon/harness.h):
 * clocks and a seeded PRNG, starting dmacached-test with its log in a file or
 * a pipe and an optional soft RLIMIT_NOFILE, the daemon's CPU time and fd
 * limit from /proc, an admin session for cheap polling, state snapshots from
 * the test dump and their exact comparison, percentiles, and key=value
 * output.
 *
 * Invariants: every wait is bounded; only the root parent calls the su_*
 * daemon functions (they read /proc/PID and the dump, and signal the
 * daemon); a snapshot holds only quantities that must return to their value
 * when every client is gone (no monotonic counter), so two snapshots compare
 * exactly.
 * Concurrency: single-threaded tool programs.
 */
#ifndef DMD_SOAK_UTIL_H
#define DMD_SOAK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "harness.h"

/* ---- time, randomness ------------------------------------------------------- */

/* CLOCK_MONOTONIC in seconds. */
double su_now(void);
void su_sleep_us(unsigned long us);

/* xorshift64*: reproducible choices from a seed. */
struct su_rng {
	uint64_t s;
};

void su_rng_seed(struct su_rng *r, uint64_t seed);
uint64_t su_rnd(struct su_rng *r);
/* Uniform in [0, n) (n > 0). */
uint64_t su_below(struct su_rng *r, uint64_t n);

/* ---- the daemon ------------------------------------------------------------- */

/*
 * When $DMACACHED_TEST is unset, point it at dmacached-test in the build tree
 * this tool was built in (<dir of argv0>/../../apps/dmacached/dmacached-test),
 * so the tools run straight from a build directory.
 */
void su_default_daemon(const char *argv0);

/*
 * td_start() with the daemon's stderr on @p log_fd (-1: the tool's stderr) and,
 * when @p nofile_soft is not 0, its soft RLIMIT_NOFILE set to that value before
 * exec (the tool's own limit is restored afterwards). Exits on failure (set-up).
 */
void su_daemon_start(struct tdaemon *d, const char *conf, int log_fd, rlim_t nofile_soft);

/* The soft "Max open files" of @p pid (/proc/PID/limits), or -1. */
long long su_nofile_soft(pid_t pid);
/* VmRSS of @p pid in KiB (/proc/PID/status), or -1. */
long long su_rss_kb(pid_t pid);

/* An admin session (HELLO @admin from uid 0): its socket. Exits on failure. */
int su_admin_open(const struct tdaemon *d);

/* ---- snapshots of the dump ---------------------------------------------------- */

#define SU_MAX_KEYS 96

struct su_state {
	int fds; /* the daemon's open fds */
	unsigned int n;
	struct {
		char key[64];
		long long v;
	} kv[SU_MAX_KEYS];
};

/*
 * td_sync() without a control line, waiting up to @p timeout_s rather than
 * 5 s: dmacached-test's dump holds every backend call since its start (one
 * "call" line each), millions after a long soak. Exits on time-out.
 */
void su_sync(struct tdaemon *d, double timeout_s);
/*
 * A fresh dump (su_sync, 300 s) and the daemon's fds: the gauges that return to their
 * value when the clients are gone - alloc_outstanding, mapped (the test
 * backend's mappings), areas and bytes_pinned (master pins), leases, sessions,
 * admin_sessions, connections, registrations, tenant_copies,
 * copies_kept_bytes, unmap_failures, hole_bytes, each "space ID" mapping
 * count, each tenant's session count and "tstat" lines.
 */
void su_snapshot(struct tdaemon *d, struct su_state *s);
/* A key's value in a snapshot, or -1. */
long long su_value(const struct su_state *s, const char *key);
/*
 * Print one "PREFIX.KEY=NOW" line for every key, plus "PREFIX.KEY.baseline=V"
 * where they differ (a key missing on one side counts as a difference);
 * returns the number of differences.
 */
int su_compare(const char *prefix, const struct su_state *base, const struct su_state *now);
/* The dump's self-checks (cache, lease, allocator, copies): the number not 0. */
int su_self_checks(const struct tdaemon *d);

/*
 * Whether an admin session's STATS (daemon-wide; admin sessions not counted)
 * shows sessions, leases, registrations, tenant_copies, areas and
 * bytes_pinned back to @p base's.
 */
int su_stats_idle(const struct dmac_proto_stats *st, const struct dmac_proto_stats *base);
/*
 * Poll the admin session's STATS until su_stats_idle(), at most @p timeout_s
 * (every 2 ms). Returns 0, or -1 on time-out.
 */
int su_wait_idle(int admin, const struct dmac_proto_stats *base, double timeout_s);

/* ---- figures ------------------------------------------------------------------ */

/* Sorts @p v; nearest-rank 50th and 99th percentiles and the maximum (0s when n = 0). */
void su_percentiles(double *v, size_t n, double *p50, double *p99, double *max);

/* Whether the string is a number; the value in *out. */
int su_parse_u64(const char *s, uint64_t *out);

#endif /* DMD_SOAK_UTIL_H */
