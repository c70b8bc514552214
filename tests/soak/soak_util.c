/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the reliability tools (see soak_util.h).
 *
 * Invariants: a snapshot keeps only the gauges listed in su_gauges[] and the
 * per-space, per-tenant lines (their keys are the line without its last
 * field), never a counter that only grows; every poll is bounded.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "soak_util.h"

double su_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void su_sleep_us(unsigned long us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void su_rng_seed(struct su_rng *r, uint64_t seed)
{
	r->s = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
	if (!r->s)
		r->s = 1;
	for (int i = 0; i < 8; i++)
		su_rnd(r);
}

uint64_t su_rnd(struct su_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(2685821657736338717);
}

uint64_t su_below(struct su_rng *r, uint64_t n)
{
	return su_rnd(r) % n;
}

void su_default_daemon(const char *argv0)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n;
	char *slash;

	(void)argv0;
	if (getenv("DMACACHED_TEST"))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/../../apps/dmacached/dmacached-test", exe);
	if (access(path, X_OK) == 0)
		setenv("DMACACHED_TEST", path, 1);
}

void su_daemon_start(struct tdaemon *d, const char *conf, int log_fd, rlim_t nofile_soft)
{
	struct rlimit old, lim;
	int saved = -1;

	if (nofile_soft) {
		if (getrlimit(RLIMIT_NOFILE, &old)) {
			perror("getrlimit");
			exit(1);
		}
		lim = old;
		lim.rlim_cur = nofile_soft < old.rlim_max ? nofile_soft : old.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim)) {
			perror("setrlimit");
			exit(1);
		}
	}
	fflush(NULL);
	if (log_fd >= 0) {
		saved = dup(2);
		if (saved < 0 || dup2(log_fd, 2) < 0) {
			perror("daemon log");
			exit(1);
		}
	}
	td_start(d, conf);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	if (nofile_soft && setrlimit(RLIMIT_NOFILE, &old)) {
		perror("setrlimit");
		exit(1);
	}
}

long long su_nofile_soft(pid_t pid)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14))
			v = strtoll(line + 14, NULL, 10);
	fclose(f);
	return v;
}

long long su_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtoll(line + 6, NULL, 10);
	fclose(f);
	return v;
}

int su_admin_open(const struct tdaemon *d)
{
	int s = tc_connect(d), rc = tc_hello(s, DMAC_PROTO_ADMIN_TENANT);

	if (rc) {
		fprintf(stderr, "admin session: HELLO %d\n", rc);
		exit(1);
	}
	return s;
}

/* ---- snapshots ------------------------------------------------------------------- */

static const char *const su_gauges[] = {
    "alloc_outstanding",
    "mapped",
    "areas",
    "bytes_pinned",
    "leases",
    "sessions",
    "admin_sessions",
    "connections",
    "registrations",
    "tenant_copies",
    "copies_kept_bytes",
    "unmap_failures",
    "hole_bytes",
    "space",
    "tenant",
    "tstat",
};

static int su_wanted(const char *first)
{
	for (size_t i = 0; i < sizeof(su_gauges) / sizeof(su_gauges[0]); i++)
		if (!strcmp(first, su_gauges[i]))
			return 1;
	return 0;
}

void su_sync(struct tdaemon *d, double timeout_s)
{
	double end = su_now() + timeout_s;

	unlink(d->dump);
	td_kill(d, SIGUSR1);
	while (access(d->dump, F_OK)) {
		if (su_now() > end) {
			fprintf(stderr, "soak: no dump within %.0f s\n", timeout_s);
			exit(1);
		}
		su_sleep_us(10000);
	}
}

void su_snapshot(struct tdaemon *d, struct su_state *s)
{
	char line[256];
	FILE *f;

	memset(s, 0, sizeof(*s));
	su_sync(d, 300);
	s->fds = td_fds(d);
	f = fopen(d->dump, "r");
	if (!f) {
		perror(d->dump);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		char first[64], *last;
		size_t klen;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%63s", first) != 1 || !su_wanted(first))
			continue;
		last = strrchr(line, ' ');
		if (!last || s->n == SU_MAX_KEYS)
			continue;
		klen = (size_t)(last - line);
		if (klen >= sizeof(s->kv[0].key))
			continue;
		memcpy(s->kv[s->n].key, line, klen);
		s->kv[s->n].key[klen] = '\0';
		s->kv[s->n].v = strtoll(last + 1, NULL, 0);
		s->n++;
	}
	fclose(f);
}

long long su_value(const struct su_state *s, const char *key)
{
	for (unsigned int i = 0; i < s->n; i++)
		if (!strcmp(s->kv[i].key, key))
			return s->kv[i].v;
	return -1;
}

/* key with '.' for ' ' (a key=value name) */
static void su_name(const char *key, char *out, size_t size)
{
	snprintf(out, size, "%s", key);
	for (char *p = out; *p; p++)
		if (*p == ' ')
			*p = '.';
}

int su_compare(const char *prefix, const struct su_state *base, const struct su_state *now)
{
	char name[80];
	int diff = 0;

	printf("%s.fds=%d\n", prefix, now->fds);
	if (now->fds != base->fds) {
		printf("%s.fds.baseline=%d\n", prefix, base->fds);
		diff++;
	}
	for (unsigned int i = 0; i < base->n; i++) {
		long long v = -1;
		int found = 0;

		for (unsigned int j = 0; j < now->n; j++) {
			if (!strcmp(now->kv[j].key, base->kv[i].key)) {
				v = now->kv[j].v;
				found = 1;
			}
		}
		su_name(base->kv[i].key, name, sizeof(name));
		/* the top-level gauges always, the per-space/tenant lines on a difference */
		if (!strchr(base->kv[i].key, ' ') || !found || v != base->kv[i].v)
			printf("%s.%s=%lld\n", prefix, name, v);
		if (!found || v != base->kv[i].v) {
			printf("%s.%s.baseline=%lld\n", prefix, name, base->kv[i].v);
			diff++;
		}
	}
	for (unsigned int j = 0; j < now->n; j++) {
		if (su_value(base, now->kv[j].key) == -1 && now->kv[j].v != -1) {
			su_name(now->kv[j].key, name, sizeof(name));
			printf("%s.%s=%lld\n%s.%s.baseline=absent\n", prefix, name, now->kv[j].v,
			       prefix, name);
			diff++;
		}
	}
	return diff;
}

int su_self_checks(const struct tdaemon *d)
{
	static const char *const checks[] = {"cache_check", "lease_check", "alloc_check",
					     "copy_check"};
	int bad = 0;

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		long long v = td_get(d, checks[i]);

		if (v != 0) {
			printf("check.%s=%lld\n", checks[i], v);
			bad++;
		}
	}
	return bad;
}

int su_stats_idle(const struct dmac_proto_stats *st, const struct dmac_proto_stats *base)
{
	return st->sessions == base->sessions && st->leases == base->leases &&
	       st->registrations == base->registrations &&
	       st->tenant_copies == base->tenant_copies && st->areas == base->areas &&
	       st->bytes_pinned == base->bytes_pinned;
}

int su_wait_idle(int admin, const struct dmac_proto_stats *base, double timeout_s)
{
	double end = su_now() + timeout_s;
	struct dmac_proto_stats st;

	do {
		if (tc_stats(admin, &st) != 0)
			return -1;
		if (su_stats_idle(&st, base))
			return 0;
		su_sleep_us(2000);
	} while (su_now() < end);
	return -1;
}

/* ---- figures ----------------------------------------------------------------------- */

static int su_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void su_percentiles(double *v, size_t n, double *p50, double *p99, double *max)
{
	if (!n) {
		*p50 = *p99 = *max = 0;
		return;
	}
	qsort(v, n, sizeof(*v), su_cmp_double);
	/* nearest rank: the smallest value with at least p% of the samples at or below it */
	*p50 = v[(50 * n + 99) / 100 - 1];
	*p99 = v[(99 * n + 99) / 100 - 1];
	*max = v[n - 1];
}

int su_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return !errno && end != s && !*end && s[0] != '-';
}
