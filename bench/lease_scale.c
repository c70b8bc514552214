/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-lease-scale: does a lease of cached memory cost one round trip,
 * flat from 10 to 100,000 outstanding leases? (issue 12, section 3)
 *
 * One run starts dmacached-test (backend = test: the host has no /dev/iommu,
 * so a tenant copy is the test backend's bookkeeping, not an IOMMU_IOAS_COPY)
 * with four tenants and one session each, all registering the same sealed
 * 4 KiB-page memfd (shmem: a 4 KiB lease of a hugetlb file is not allowed)
 * of P = max count + 32768 pages, never touched (no memory is used):
 *
 *   lazy          release = lazy (the default), releases sent at once
 *   strict        release = strict
 *   lazy+defer    lazy, client connected with DMAC_CLIENT_DEFER_RELEASE
 *   strict+defer  strict, DMAC_CLIENT_DEFER_RELEASE
 *
 * Every session first leases and releases every page of the memfd once (in
 * vectors of max_vec), so that under lazy every page has a kept mapping and
 * every later lease of it is a copy hit, while under strict every lease is a
 * copy miss (a backend copy) and every release a backend unmap. Then, for each
 * count N (ascending), each session holds a window of N outstanding leases of
 * consecutive pages (the ring of P pages) and the measured step is an I/O
 * path's: lease the next page (timed), release the oldest (timed), so N or
 * N + 1 are outstanding (per session: the daemon holds four times N).
 * Deferred sessions flush their pending releases at the end of each block;
 * the flush is timed apart and reported (amortized release mean).
 *
 * In the same run, interleaved block by block so that load on the shared
 * machine hits every series alike, a raw SOCK_SEQPACKET ping-pong with the
 * message sizes of a 1-element LEASE (72 B / 72 B) and RELEASE (56 B / 56 B)
 * to an echo child that blocks in recv(). The order of the blocks of one
 * round: ping-pong 72, lazy, strict, ping-pong 56, lazy+defer, strict+defer.
 *
 * Around each block: the daemon's CPU time (/proc/PID/task/N/schedstat, user
 * + kernel), the client thread's CPU time, and the echo child's; reported per
 * lease+release pair (per round trip for the echo). STATS of each session's
 * tenant before and after the measured blocks of a count: copy hits and
 * misses, kernel copies and unmaps, bytes kept.
 *
 * CPU placement (--cpus): 'same' pins the client, the daemon and the echo
 * child to CPU 0; 'split' pins the client to CPU 0, the daemon and the echo
 * child to CPU 1 (a wake-up crosses CPUs, in each series alike); 'none' lets
 * the scheduler place them (then a run can be bimodal: on this machine a
 * cross-CPU wake-up costs several times a same-CPU one, see
 * docs/performance.md, "Lease scale").
 *
 * Output: tables on stdout; with --json FILE the same figures as one JSON
 * object (bench/plot_bench.py draws them). Not a test: nothing asserts a time.
 *
 * Invariants: every lease and release result is checked and a failure aborts
 * the run (a benchmark of failing requests measures nothing); the window of a
 * session never holds a page twice (N + 1 <= P); the daemon and the echo
 * child are stopped on every exit path after they started; all samples are ns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "dmac/dmacache.h"

#ifndef DMAC_BENCH_DAEMON
#define DMAC_BENCH_DAEMON "dmacached-test"
#endif

#define PAGE	   4096ull
#define BLOCK	   512u
#define HEADROOM   32768u /* pages of the ring beyond the largest window */
#define MAX_COUNTS 16
#define PROT	   (DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE)

enum { SS_LAZY, SS_STRICT, SS_LAZY_D, SS_STRICT_D, NSESS };

static const struct {
	const char *name, *tenant;
	bool strict, defer;
} sdef[NSESS] = {
    {"lazy", "lazy", false, false},
    {"strict", "strict", true, false},
    {"lazy+defer", "lazy-defer", false, true},
    {"strict+defer", "strict-defer", true, true},
};

/* What one count's measured blocks gave for one session. */
struct sres {
	struct bd_summary lease, release;
	uint64_t flush_ns, flushes;
	double daemon_cpu_pair, client_cpu_pair; /* ns per lease+release pair */
	struct dmac_client_stats d;		 /* STATS counters, after - before */
	uint64_t kept_bytes;			 /* copies_kept_bytes after */
};

struct cres {
	uint64_t count;
	struct bd_summary pp_lease, pp_release;
	double echo_cpu_rt; /* ns per round trip */
	struct sres s[NSESS];
};

struct sess {
	struct dmac_client *c;
	uint64_t reg;
	struct dmac_client_lease *win; /* ring of cap outstanding leases */
	size_t cap, head, n;
	uint64_t next_page; /* the next page to lease, mod npages */
	uint64_t *lease_ns, *rel_ns;
	uint64_t flush_ns, flushes, dcpu, ccpu;
};

static struct {
	const char *daemon_bin;
	int cpu_client, cpu_daemon; /* -1: not pinned */
	const char *cpus;
	unsigned long iters;
	uint64_t counts[MAX_COUNTS];
	int ncounts;
	uint64_t npages;
	const char *json;
} opt = {.daemon_bin = DMAC_BENCH_DAEMON,
	 .cpu_client = 0,
	 .cpu_daemon = 0,
	 .cpus = "same",
	 .iters = 10240};

static struct bd_daemon dmn;
static struct sess ss[NSESS];
static int echo_sock = -1;
static pid_t echo_pid;
static uint32_t max_vec;

static void die(const char *what, int rc)
{
	fprintf(stderr, "lease-scale: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(1);
}

static void cleanup(void)
{
	for (int i = 0; i < NSESS; i++)
		if (ss[i].c) {
			dmac_client_close(ss[i].c);
			ss[i].c = NULL;
		}
	bd_echo_stop(echo_sock, echo_pid);
	echo_sock = -1;
	echo_pid = 0;
	bd_stop(&dmn);
}

/* Lease the next page of the ring onto the window's tail. */
static int sess_lease(struct sess *s)
{
	size_t tail = (s->head + s->n) % s->cap;
	int rc = dmac_client_lease(s->c, s->reg, s->next_page * PAGE, PAGE, PROT, &s->win[tail]);

	if (rc)
		return rc;
	s->n++;
	s->next_page = (s->next_page + 1) % opt.npages;
	return 0;
}

static int sess_release(struct sess *s)
{
	int rc = dmac_client_release(s->c, s->win[s->head].lease_id);

	if (rc)
		return rc;
	s->head = (s->head + 1) % s->cap;
	s->n--;
	return 0;
}

/* Grow the window to @p n leases, max_vec pages per LEASE (not timed). */
static int sess_fill(struct sess *s, uint64_t n)
{
	static struct dmac_client_lease_req req[DMAC_CLIENT_MAX_VEC];
	static struct dmac_client_lease got[DMAC_CLIENT_MAX_VEC];

	while (s->n < n) {
		uint64_t k = n - s->n;
		int rc;

		if (k > max_vec)
			k = max_vec;
		if (k > opt.npages - s->next_page) /* no wrap inside one vector */
			k = opt.npages - s->next_page;
		for (uint64_t i = 0; i < k; i++)
			req[i] = (struct dmac_client_lease_req){s->reg, (s->next_page + i) * PAGE,
								PAGE, PROT, 0};
		rc = dmac_client_lease_v(s->c, req, k, got);
		if (rc)
			return rc;
		for (uint64_t i = 0; i < k; i++)
			s->win[(s->head + s->n + i) % s->cap] = got[i];
		s->n += k;
		s->next_page = (s->next_page + k) % opt.npages;
	}
	return 0;
}

/* Lease and release every page of the ring once (empty window on entry). */
static int sess_warm(struct sess *s)
{
	static uint64_t ids[DMAC_CLIENT_MAX_VEC];

	for (uint64_t done = 0; done < opt.npages;) {
		uint64_t k = opt.npages - done < max_vec ? opt.npages - done : max_vec;
		int rc = sess_fill(s, k);

		if (rc)
			return rc;
		for (uint64_t i = 0; i < k; i++)
			ids[i] = s->win[(s->head + i) % s->cap].lease_id;
		rc = dmac_client_release_v(s->c, ids, k, NULL);
		if (rc)
			return rc;
		s->head = (s->head + k) % s->cap;
		s->n = 0;
		done += k;
	}
	return dmac_client_flush(s->c);
}

/* One block of the session: BLOCK (lease next, release oldest) steps. */
static void sess_block(struct sess *s, int idx, unsigned long at)
{
	uint64_t d0 = bd_proc_cpu_ns(dmn.pid), c0 = bd_thread_cpu_ns();
	int rc;

	for (unsigned int i = 0; i < BLOCK; i++) {
		uint64_t t0 = bd_now_ns(), t1, t2;

		rc = sess_lease(s);
		t1 = bd_now_ns();
		if (rc)
			die(sdef[idx].name, rc);
		rc = sess_release(s);
		t2 = bd_now_ns();
		if (rc)
			die(sdef[idx].name, rc);
		s->lease_ns[at + i] = t1 - t0;
		s->rel_ns[at + i] = t2 - t1;
	}
	if (sdef[idx].defer) {
		uint64_t t0 = bd_now_ns();

		rc = dmac_client_flush(s->c);
		if (rc)
			die("flush", rc);
		s->flush_ns += bd_now_ns() - t0;
		s->flushes++;
	}
	s->dcpu += bd_proc_cpu_ns(dmn.pid) - d0;
	s->ccpu += bd_thread_cpu_ns() - c0;
}

static void pp_block(uint64_t *samp, unsigned char size, uint64_t *cpu)
{
	uint64_t e0 = bd_proc_cpu_ns(echo_pid);

	for (unsigned int i = 0; i < BLOCK; i++) {
		uint64_t t0 = bd_now_ns();

		if (bd_echo_round(echo_sock, size, size))
			die("ping-pong", -EIO);
		samp[i] = bd_now_ns() - t0;
	}
	*cpu += bd_proc_cpu_ns(echo_pid) - e0;
}

static void stats_of(int i, struct dmac_client_stats *st)
{
	int rc = dmac_client_stats(ss[i].c, st);

	if (rc)
		die("stats", rc);
}

static void measure(uint64_t count, struct cres *r, uint64_t *pp_l, uint64_t *pp_r)
{
	struct dmac_client_stats st0[NSESS], st1[NSESS];
	static const int order1[] = {SS_LAZY, SS_STRICT}, order2[] = {SS_LAZY_D, SS_STRICT_D};
	uint64_t echo_cpu = 0;

	r->count = count;
	for (int i = 0; i < NSESS; i++) {
		int rc = sess_fill(&ss[i], count);

		if (rc)
			die("fill", rc);
		ss[i].flush_ns = ss[i].flushes = ss[i].dcpu = ss[i].ccpu = 0;
		stats_of(i, &st0[i]);
	}
	for (unsigned long b = 0; b < opt.iters; b += BLOCK) {
		pp_block(pp_l + b, 72, &echo_cpu);
		for (int k = 0; k < 2; k++)
			sess_block(&ss[order1[k]], order1[k], b);
		pp_block(pp_r + b, 56, &echo_cpu);
		for (int k = 0; k < 2; k++)
			sess_block(&ss[order2[k]], order2[k], b);
	}
	r->pp_lease = bd_summarize(pp_l, opt.iters);
	r->pp_release = bd_summarize(pp_r, opt.iters);
	r->echo_cpu_rt = (double)echo_cpu / (2.0 * (double)opt.iters);
	for (int i = 0; i < NSESS; i++) {
		struct sres *x = &r->s[i];

		stats_of(i, &st1[i]);
		x->lease = bd_summarize(ss[i].lease_ns, opt.iters);
		x->release = bd_summarize(ss[i].rel_ns, opt.iters);
		x->flush_ns = ss[i].flush_ns;
		x->flushes = ss[i].flushes;
		x->daemon_cpu_pair = (double)ss[i].dcpu / (double)opt.iters;
		x->client_cpu_pair = (double)ss[i].ccpu / (double)opt.iters;
		x->d.copy_hits = st1[i].copy_hits - st0[i].copy_hits;
		x->d.copy_misses = st1[i].copy_misses - st0[i].copy_misses;
		x->d.kernel_copies = st1[i].kernel_copies - st0[i].kernel_copies;
		x->d.kernel_unmaps = st1[i].kernel_unmaps - st0[i].kernel_unmaps;
		x->kept_bytes = st1[i].copies_kept_bytes;
	}
}

static void print_count(const struct cres *r)
{
	printf("\n## %llu outstanding leases per session (the daemon holds %llu), "
	       "%lu steps per series, ns\n",
	       (unsigned long long)r->count, (unsigned long long)r->count * NSESS, opt.iters);
	printf("| series | min | p50 | p90 | p99 | mean | p50 / ping-pong | p99 / ping-pong |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	printf("| ping-pong 72 B | %.0f | %.0f | %.0f | %.0f | %.0f | | |\n", r->pp_lease.min,
	       r->pp_lease.p50, r->pp_lease.p90, r->pp_lease.p99, r->pp_lease.mean);
	printf("| ping-pong 56 B | %.0f | %.0f | %.0f | %.0f | %.0f | | |\n", r->pp_release.min,
	       r->pp_release.p50, r->pp_release.p90, r->pp_release.p99, r->pp_release.mean);
	for (int i = 0; i < NSESS; i++) {
		const struct sres *x = &r->s[i];

		printf("| %s lease | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx |\n",
		       sdef[i].name, x->lease.min, x->lease.p50, x->lease.p90, x->lease.p99,
		       x->lease.mean, x->lease.p50 / r->pp_lease.p50,
		       x->lease.p99 / r->pp_lease.p99);
		printf("| %s release | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx |\n",
		       sdef[i].name, x->release.min, x->release.p50, x->release.p90, x->release.p99,
		       x->release.mean, x->release.p50 / r->pp_release.p50,
		       x->release.p99 / r->pp_release.p99);
	}
	printf("\n| session | daemon CPU / pair | client CPU / pair | release mean incl. "
	       "block-end flush | copy hits | copy misses | kernel copies | kernel unmaps | "
	       "kept bytes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < NSESS; i++) {
		const struct sres *x = &r->s[i];

		printf("| %s | %.0f | %.0f | %.0f | %llu | %llu | %llu | %llu | %llu |\n",
		       sdef[i].name, x->daemon_cpu_pair, x->client_cpu_pair,
		       x->release.mean + (double)x->flush_ns / (double)opt.iters,
		       (unsigned long long)x->d.copy_hits, (unsigned long long)x->d.copy_misses,
		       (unsigned long long)x->d.kernel_copies,
		       (unsigned long long)x->d.kernel_unmaps, (unsigned long long)x->kept_bytes);
	}
	printf("echo peer CPU per round trip: %.0f ns (x2 per pair: %.0f)\n", r->echo_cpu_rt,
	       2 * r->echo_cpu_rt);
	fflush(stdout);
}

static void print_summary(const struct cres *r, int n)
{
	printf("\n## lease p50 against the ping-pong (target <= 1.30x) and against the "
	       "smallest count (target at %llu <= 1.20x)\n| session |",
	       (unsigned long long)r[n - 1].count);
	for (int k = 0; k < n; k++)
		printf(" %llu |", (unsigned long long)r[k].count);
	printf(" p50 at %llu / p50 at %llu |\n|---|", (unsigned long long)r[n - 1].count,
	       (unsigned long long)r[0].count);
	for (int k = 0; k <= n; k++)
		printf("---:|");
	printf("\n");
	for (int i = 0; i < NSESS; i++) {
		printf("| %s |", sdef[i].name);
		for (int k = 0; k < n; k++)
			printf(" %.0f (%.2fx) |", r[k].s[i].lease.p50,
			       r[k].s[i].lease.p50 / r[k].pp_lease.p50);
		printf(" %.2fx |\n", r[n - 1].s[i].lease.p50 / r[0].s[i].lease.p50);
	}
	printf("| ping-pong 72 B |");
	for (int k = 0; k < n; k++)
		printf(" %.0f |", r[k].pp_lease.p50);
	printf(" %.2fx |\n", r[n - 1].pp_lease.p50 / r[0].pp_lease.p50);
}

static int write_json(const char *path, const struct cres *r, int n, const double la0[3],
		      const double la1[3])
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f,
		"{\"bench\": \"lease_scale\", \"backend\": \"test\", \"cpus\": \"%s\", "
		"\"steps\": %lu, \"block\": %u, \"pages\": %llu, \"ncpu\": %ld,\n"
		" \"loadavg_start\": [%.2f, %.2f, %.2f], \"loadavg_end\": [%.2f, %.2f, %.2f],\n"
		" \"counts\": [",
		opt.cpus, opt.iters, BLOCK, (unsigned long long)opt.npages,
		sysconf(_SC_NPROCESSORS_ONLN), la0[0], la0[1], la0[2], la1[0], la1[1], la1[2]);
	for (int k = 0; k < n; k++) {
		fprintf(f, "%s\n  {\"outstanding\": %llu, ", k ? "," : "",
			(unsigned long long)r[k].count);
		bd_json_summary(f, "pingpong_lease", &r[k].pp_lease);
		fprintf(f, ", ");
		bd_json_summary(f, "pingpong_release", &r[k].pp_release);
		fprintf(f, ", \"echo_cpu_ns_per_rt\": %.0f, \"sessions\": {", r[k].echo_cpu_rt);
		for (int i = 0; i < NSESS; i++) {
			const struct sres *x = &r[k].s[i];

			fprintf(f, "%s\n   \"%s\": {\"release_policy\": \"%s\", \"defer\": %s, ",
				i ? "," : "", sdef[i].name, sdef[i].strict ? "strict" : "lazy",
				sdef[i].defer ? "true" : "false");
			bd_json_summary(f, "lease", &x->lease);
			fprintf(f, ", ");
			bd_json_summary(f, "release", &x->release);
			fprintf(
			    f,
			    ", \"flushes\": %llu, \"flush_ns\": %llu, "
			    "\"daemon_cpu_ns_per_pair\": %.0f, \"client_cpu_ns_per_pair\": %.0f, "
			    "\"copy_hits\": %llu, \"copy_misses\": %llu, \"kernel_copies\": %llu, "
			    "\"kernel_unmaps\": %llu, \"copies_kept_bytes\": %llu}",
			    (unsigned long long)x->flushes, (unsigned long long)x->flush_ns,
			    x->daemon_cpu_pair, x->client_cpu_pair,
			    (unsigned long long)x->d.copy_hits,
			    (unsigned long long)x->d.copy_misses,
			    (unsigned long long)x->d.kernel_copies,
			    (unsigned long long)x->d.kernel_unmaps,
			    (unsigned long long)x->kept_bytes);
		}
		fprintf(f, "}}");
	}
	fprintf(f, "\n]}\n");
	return fclose(f) ? -errno : 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--daemon PATH] [--counts N,N,...] [--iters N] "
		"[--cpus same|split|none] [--json FILE]\n"
		"  --counts  outstanding leases per session, ascending (default "
		"10,1000,10000,100000)\n"
		"  --iters   measured steps per series and count, a multiple of %u (default "
		"10240)\n",
		argv0, BLOCK);
}

static int parse_counts(const char *s)
{
	char *end;

	opt.ncounts = 0;
	for (;;) {
		unsigned long long v = strtoull(s, &end, 10);

		if (end == s || !v || opt.ncounts == MAX_COUNTS ||
		    (opt.ncounts && v <= opt.counts[opt.ncounts - 1]))
			return -EINVAL;
		opt.counts[opt.ncounts++] = v;
		if (!*end)
			return 0;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

static int parse_args(int argc, char **argv)
{
	parse_counts("10,1000,10000,100000");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			return -EINVAL;
		} else if (!strcmp(a, "--daemon")) {
			opt.daemon_bin = v;
		} else if (!strcmp(a, "--counts")) {
			if (parse_counts(v))
				return -EINVAL;
		} else if (!strcmp(a, "--iters")) {
			opt.iters = strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--json")) {
			opt.json = v;
		} else if (!strcmp(a, "--cpus")) {
			opt.cpus = v;
			if (!strcmp(v, "same")) {
				opt.cpu_client = opt.cpu_daemon = 0;
			} else if (!strcmp(v, "split")) {
				opt.cpu_client = 0;
				opt.cpu_daemon = 1;
			} else if (!strcmp(v, "none")) {
				opt.cpu_client = opt.cpu_daemon = -1;
			} else {
				return -EINVAL;
			}
		} else {
			return -EINVAL;
		}
		i++;
	}
	if (opt.iters < BLOCK || opt.iters % BLOCK)
		return -EINVAL;
	opt.npages = opt.counts[opt.ncounts - 1] + HEADROOM;
	return 0;
}

static void setup(void)
{
	char conf[1024];
	size_t len;
	void *va;
	int fd, rc;

	len = (size_t)snprintf(conf, sizeof(conf), "backend = test\nlog_level = warn\n");
	for (int i = 0; i < NSESS; i++)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len,
					"[tenant %s]\nuids = %u\nrelease = %s\n", sdef[i].tenant,
					(unsigned int)getuid(), sdef[i].strict ? "strict" : "lazy");
	rc = bd_start(&dmn, opt.daemon_bin, conf, opt.cpu_daemon);
	if (rc)
		die("starting the daemon", rc);
	rc = bd_echo_start(opt.cpu_daemon, &echo_sock, &echo_pid);
	if (rc)
		die("echo peer", rc);

	fd = memfd_create("dmac-lease-scale", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)(opt.npages * PAGE)) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		die("memfd", -errno);
	va = mmap(NULL, opt.npages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (va == MAP_FAILED)
		die("mmap", -errno);
	for (int i = 0; i < NSESS; i++) {
		struct sess *s = &ss[i];
		struct dmac_client_info info;

		rc = dmac_client_connect(dmn.sock, sdef[i].tenant,
					 sdef[i].defer ? DMAC_CLIENT_DEFER_RELEASE : 0, &s->c);
		if (rc)
			die("connect", rc);
		rc = dmac_client_register(s->c, fd, 0, opt.npages * PAGE, PROT, va, &s->reg);
		if (rc)
			die("register", rc);
		rc = dmac_client_info(s->c, &info);
		if (rc)
			die("info", rc);
		max_vec = info.max_vec < DMAC_CLIENT_MAX_VEC ? info.max_vec : DMAC_CLIENT_MAX_VEC;
		/* the largest window plus the step's lease; the warm-up's vectors too */
		s->cap = opt.counts[opt.ncounts - 1] + 1;
		if (s->cap < DMAC_CLIENT_MAX_VEC)
			s->cap = DMAC_CLIENT_MAX_VEC;
		s->win = calloc(s->cap, sizeof(*s->win));
		s->lease_ns = calloc(opt.iters, sizeof(uint64_t));
		s->rel_ns = calloc(opt.iters, sizeof(uint64_t));
		if (!s->win || !s->lease_ns || !s->rel_ns)
			die("calloc", -ENOMEM);
	}
	close(fd); /* the daemon and the mapping hold the file */
}

int main(int argc, char **argv)
{
	static struct cres res[MAX_COUNTS];
	uint64_t *pp_l, *pp_r;
	double la0[3], la1[3];
	int rc;

	if (parse_args(argc, argv)) {
		usage(argv[0]);
		return 2;
	}
	if (opt.cpu_daemon > 0 && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "lease-scale: --cpus split needs two CPUs\n");
		return 2;
	}
	rc = bd_pin(0, opt.cpu_client);
	if (rc)
		die("pinning to CPU 0", rc);
	pp_l = calloc(opt.iters, sizeof(uint64_t));
	pp_r = calloc(opt.iters, sizeof(uint64_t));
	if (!pp_l || !pp_r)
		die("calloc", -ENOMEM);
	atexit(cleanup);
	bd_loadavg(la0);
	setup();
	printf("# dmacache-lease-scale: dmacached-test (backend = test), %llu pages of 4 KiB in "
	       "one sealed shmem memfd, cpus %s, load average at start %.2f %.2f %.2f\n",
	       (unsigned long long)opt.npages, opt.cpus, la0[0], la0[1], la0[2]);
	for (int i = 0; i < NSESS; i++) {
		uint64_t t0 = bd_now_ns();

		rc = sess_warm(&ss[i]);
		if (rc)
			die("warm-up pass", rc);
		printf("# warm-up: %s leased and released %llu pages in %.2f s\n", sdef[i].name,
		       (unsigned long long)opt.npages, (double)(bd_now_ns() - t0) / 1e9);
	}
	for (int k = 0; k < opt.ncounts; k++) {
		measure(opt.counts[k], &res[k], pp_l, pp_r);
		print_count(&res[k]);
	}
	print_summary(res, opt.ncounts);
	bd_loadavg(la1);
	printf("load average at end %.2f %.2f %.2f\n", la1[0], la1[1], la1[2]);
	if (opt.json) {
		rc = write_json(opt.json, res, opt.ncounts, la0, la1);
		if (rc)
			die(opt.json, rc);
	}
	return 0;
}
