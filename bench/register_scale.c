/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-register-scale: does one tenant's request get slower as the
 * daemon holds more state? (issue 11, "linear scans stall everyone": one
 * REGISTER of 256 ranges took 0.6 ms at the start and 64 ms at 205,000
 * registrations when registrations and copies were linked lists.)
 *
 * One run starts dmacached-test (test backend, log_level warn) with two
 * tenants. Tenant "big" grows its state step by step to the counts given
 * (registrations of 4 KiB pages of one sealed memfd, 256 per REGISTER, each
 * page registered several times over so that areas stay bounded by the
 * memfd's pages, plus one lease per REGISTER batch). At every step, both
 * tenants are timed, interleaved in blocks:
 *
 *   big.register256   REGISTER of 256 new 4 KiB ranges by the tenant that holds
 *                     the state, then UNREGISTER of the 256 (timed apart)
 *   big.lease         LEASE + RELEASE of 4 KiB of one of its registrations
 *   small.register256 the same REGISTER/UNREGISTER by a second tenant, with a
 *                     session of its own that holds nothing else
 *   small.lease       its LEASE + RELEASE
 *
 * Each sample is one round trip timed with CLOCK_MONOTONIC, and the daemon's
 * CPU time for it (/proc/PID/schedstat around the round trip: what every
 * other session waits for on the single event loop, and a figure that load
 * from other processes on the machine does not inflate); p50 and p99 per
 * step are printed as a table, and as JSON with --json FILE. The figure of
 * merit is the ratio of each p50 to its value at the first step: flat means
 * no request pays for state it does not touch.
 *
 * Invariants: the daemon is stopped at the end (td_stop, exit status
 * checked); every reply status is checked, and any failure aborts the run
 * with a message (a benchmark of failing requests would measure nothing).
 * Not a test: nothing here asserts a timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PAGE	 4096ull
#define BATCH	 256u
#define MEMFD_MB 64ull /* pages of the big tenant's memfd: areas stay <= 16384 */

enum { S_BIG_REG, S_BIG_UNREG, S_BIG_LEASE, S_SMALL_REG, S_SMALL_UNREG, S_SMALL_LEASE, S_N };
static const char *const s_name[S_N] = {"big.register256",     "big.unregister256",
					"big.lease+release",   "small.register256",
					"small.unregister256", "small.lease+release"};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what, int rc)
{
	fprintf(stderr, "register-scale: %s failed: %d (%s)\n", what, rc,
		rc > 0 ? strerror(rc) : "no reply");
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* REGISTER @p n ranges of 4 KiB of @p fd starting at page @p first (wrapping
 * inside @p pages); ids into @p ids. */
static void reg_batch(int s, int fd, uint64_t first, uint64_t pages, unsigned int n, uint64_t *ids)
{
	static struct dmac_proto_reg_range rr[BATCH];
	static uint64_t buf[DMAC_PROTO_MAX_MSG / 8];
	const struct dmac_proto_reg_result *res;
	size_t len;
	int rc;

	for (unsigned int i = 0; i < n; i++)
		rr[i] = (struct dmac_proto_reg_range){.fd_index = 0,
						      .prot = DMAC_PROTO_PROT_ALL,
						      .offset = ((first + i) % pages) * PAGE,
						      .length = PAGE};
	if (dmac_proto_encode_register_req(buf, sizeof(buf), 1, rr, n, 1, &len))
		fail("encode REGISTER", -1);
	rc = tc_rpc_raw(s, buf, len, &fd, 1);
	if (rc)
		fail("REGISTER", rc);
	res = tc_view.vec;
	for (unsigned int i = 0; i < n; i++)
		ids[i] = res[i].reg_id;
}

static void unreg_batch(int s, const uint64_t *ids, unsigned int n)
{
	static uint64_t buf[DMAC_PROTO_MAX_MSG / 8];
	static struct dmac_proto_unreg_item it[BATCH];
	const struct dmac_proto_item_status *st;
	size_t len;
	int rc;

	for (unsigned int i = 0; i < n; i++)
		it[i] = (struct dmac_proto_unreg_item){ids[i]};
	if (dmac_proto_encode_unregister_req(buf, sizeof(buf), 1, it, n, &len))
		fail("encode UNREGISTER", -1);
	rc = tc_rpc_raw(s, buf, len, NULL, 0);
	if (rc)
		fail("UNREGISTER", rc);
	st = tc_view.vec;
	for (unsigned int i = 0; i < n; i++)
		if (st[i].status)
			fail("UNREGISTER item", (int)st[i].status);
}

static void lease_release(int s, uint64_t reg)
{
	struct dmac_proto_lease_grant g;
	int rc = tc_lease(s, reg, 0, PAGE, DMAC_PROTO_PROT_ALL, &g);

	if (rc)
		fail("LEASE", rc);
	rc = tc_release(s, g.lease_id, g.generation);
	if (rc)
		fail("RELEASE", rc);
}

struct tenant {
	int s, fd;
	uint64_t pages, next; /* next page to register */
	uint64_t held;	      /* registrations held (the anchor not counted) */
	uint64_t anchor;      /* a registration it keeps for the lease samples */
};

static int sched_fd = -1; /* the daemon's /proc/PID/schedstat */

/* The daemon's CPU time so far, ns (schedstat's first field). */
static uint64_t daemon_cpu_ns(void)
{
	char buf[128];
	ssize_t n = pread(sched_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		fail("read schedstat", -1);
	buf[n] = 0;
	return strtoull(buf, NULL, 10);
}

/* One sample of each series for @p t: round-trip times into @p out[3]
 * (register, unregister, lease+release) and the daemon's CPU time for each
 * into @p cpu[3]. */
static void sample(struct tenant *t, uint64_t *out, uint64_t *cpu)
{
	uint64_t ids[BATCH], t0, c0;

	c0 = daemon_cpu_ns();
	t0 = now_ns();
	reg_batch(t->s, t->fd, t->next, t->pages, BATCH, ids);
	out[0] = now_ns() - t0;
	cpu[0] = daemon_cpu_ns() - c0;
	t->next += BATCH;
	c0 = daemon_cpu_ns();
	t0 = now_ns();
	unreg_batch(t->s, ids, BATCH);
	out[1] = now_ns() - t0;
	cpu[1] = daemon_cpu_ns() - c0;
	c0 = daemon_cpu_ns();
	t0 = now_ns();
	lease_release(t->s, t->anchor);
	out[2] = now_ns() - t0;
	cpu[2] = daemon_cpu_ns() - c0;
}

int main(int argc, char **argv)
{
	static const uint64_t def_steps[] = {0, 1000, 10000, 50000, 100000, 200000};
	uint64_t steps[16], *samples[S_N], *cpus[S_N];
	unsigned int nsteps = 0, iters = 200;
	const char *json = NULL;
	struct tenant big = {0}, small = {0};
	struct tdaemon d;
	char conf[256];
	FILE *jf = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = (unsigned int)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			char *p = argv[++i];

			while (*p && nsteps < 16) {
				steps[nsteps++] = strtoull(p, &p, 10);
				if (*p == ',')
					p++;
			}
		} else {
			fprintf(stderr,
				"usage: %s [--iters N] [--steps N,N,...] [--json FILE]\n"
				"  (DMACACHED_TEST names dmacached-test)\n",
				argv[0]);
			return 2;
		}
	}
	if (!nsteps) {
		memcpy(steps, def_steps, sizeof(def_steps));
		nsteps = sizeof(def_steps) / sizeof(def_steps[0]);
	}
	if (iters == 0)
		iters = 1;
	for (int i = 0; i < S_N; i++) {
		samples[i] = calloc(iters, sizeof(uint64_t));
		cpus[i] = calloc(iters, sizeof(uint64_t));
		if (!samples[i] || !cpus[i])
			return 1;
	}
	if (json && !(jf = fopen(json, "w"))) {
		perror(json);
		return 1;
	}
	td_log_level = "warn";
	snprintf(conf, sizeof(conf),
		 "pinned_budget = unlimited\nmax_registrations_per_session = unlimited\n"
		 "[tenant big]\nuids = %u\nquota_registrations = unlimited\n"
		 "[tenant small]\nuids = %u\n",
		 (unsigned int)getuid(), (unsigned int)getuid());
	td_start(&d, conf);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)d.pid);
		sched_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (sched_fd < 0)
			fail("open schedstat", errno);
	}
	big.s = tc_connect(&d);
	small.s = tc_connect(&d);
	if (big.s < 0 || small.s < 0 || tc_hello(big.s, "big") || tc_hello(small.s, "small"))
		fail("connect/HELLO", -1);
	big.pages = MEMFD_MB * 1024 * 1024 / PAGE;
	big.fd = t_memfd(MEMFD_MB * 1024 * 1024, 1);
	small.pages = 2 * BATCH;
	small.fd = t_memfd(small.pages * PAGE, 1);
	/* the lease samples use a registration of a memfd of their own: the
	 * batches' ranges merge into 1 MiB areas (256 adjacent pages of one
	 * file in one REGISTER), which a 4 KiB area in use would overlap */
	{
		int afd = t_memfd(PAGE, 1), bfd = t_memfd(PAGE, 1);

		if (tc_register(big.s, afd, 0, PAGE, DMAC_PROTO_PROT_ALL, &big.anchor) ||
		    tc_register(small.s, bfd, 0, PAGE, DMAC_PROTO_PROT_ALL, &small.anchor))
			fail("anchor REGISTER", -1);
		close(afd);
		close(bfd);
	}
	if (jf)
		fprintf(jf, "{\"benchmark\": \"register_scale\", \"iters\": %u, \"steps\": [",
			iters);
	printf("%-14s %-22s %10s %10s %10s %12s %10s\n", "registrations", "series", "p50 (us)",
	       "p99 (us)", "p50/first", "cpu p50 (us)", "cpu/first");
	{
		double first[S_N] = {0}, cfirst[S_N] = {0};

		for (unsigned int k = 0; k < nsteps; k++) {
			/* grow the big tenant's state to steps[k] registrations */
			/* (whole batches: every batch covers one aligned 1 MiB of
			 * the memfd, so a repeated batch is an exact cache hit) */
			while (big.held < steps[k]) {
				uint64_t ids[BATCH];

				reg_batch(big.s, big.fd, big.next, big.pages, BATCH, ids);
				big.next += BATCH;
				big.held += BATCH;
			}
			for (unsigned int i = 0; i < iters; i++) {
				uint64_t b[3], s3[3], bc[3], sc[3];

				sample(&big, b, bc);
				sample(&small, s3, sc);
				for (int q = 0; q < 3; q++) {
					samples[S_BIG_REG + q][i] = b[q];
					cpus[S_BIG_REG + q][i] = bc[q];
					samples[S_SMALL_REG + q][i] = s3[q];
					cpus[S_SMALL_REG + q][i] = sc[q];
				}
			}
			if (jf)
				fprintf(jf, "%s{\"registrations\": %llu", k ? ", " : "",
					(unsigned long long)big.held);
			for (int sn = 0; sn < S_N; sn++) {
				double p50, p99, c50;

				qsort(samples[sn], iters, sizeof(uint64_t), cmp_u64);
				qsort(cpus[sn], iters, sizeof(uint64_t), cmp_u64);
				p50 = samples[sn][iters / 2] / 1e3;
				p99 = samples[sn][(iters * 99) / 100] / 1e3;
				c50 = cpus[sn][iters / 2] / 1e3;
				if (k == 0) {
					first[sn] = p50;
					cfirst[sn] = c50;
				}
				printf("%-14llu %-22s %10.1f %10.1f %10.2f %12.1f %10.2f\n",
				       (unsigned long long)big.held, s_name[sn], p50, p99,
				       first[sn] > 0 ? p50 / first[sn] : 0.0, c50,
				       cfirst[sn] > 0 ? c50 / cfirst[sn] : 0.0);
				if (jf)
					fprintf(jf,
						", \"%s\": {\"p50_us\": %.2f, \"p99_us\": %.2f, "
						"\"daemon_cpu_p50_us\": %.2f}",
						s_name[sn], p50, p99, c50);
			}
			if (jf)
				fprintf(jf, "}");
			fflush(stdout);
		}
	}
	if (jf) {
		fprintf(jf, "]}\n");
		fclose(jf);
	}
	td_sync(&d, NULL);
	printf("daemon: registrations %lld, areas %lld\n", td_get(&d, "registrations"),
	       td_get(&d, "areas"));
	close(big.s);
	close(small.s);
	close(big.fd);
	close(small.fd);
	td_stop(&d);
	close(sched_fd);
	for (int i = 0; i < S_N; i++) {
		free(samples[i]);
		free(cpus[i]);
	}
	return t_failures ? 1 : 0;
}
