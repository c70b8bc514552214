/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-copy-cache-bench: what the tenant copy cache saves on a real
 * iommufd (issue 12, section 3). Runs in the test-bed VM
 * (bench/run-copy-cache-bench.sh: Linux 6.12, emulated VT-d, the emulated
 * NVMe bound to vfio-pci); with --backend test it runs on the host against
 * the test backend (no peer phase), to check the program, not to measure.
 *
 * Phases, in one boot, in this order (the NVMe can be bound to one iommufd
 * user at a time, so the peer and the daemon cannot be interleaved per
 * repetition; the peer runs before and after the daemon's phases and both
 * runs are reported):
 *
 *   peer    the bench's own iommufd (the backend ops table), one IOAS with
 *           the NVMe attached (a real VT-d domain): a fresh IOMMU_IOAS_MAP
 *           of the same memory the daemon leases, and its IOMMU_IOAS_UNMAP,
 *           each call timed alone.
 *   strict  dmacached-test (backend iommufd) with one tenant, the NVMe in
 *           'devices' (so its IOAS has a domain), release = strict: every
 *           LEASE is a copy miss (IOMMU_IOAS_COPY from the master IOAS) and
 *           every RELEASE an IOMMU_IOAS_UNMAP before the reply.
 *   lazy    the same tenant with release = lazy: the first LEASE of a range
 *           is a miss (COPY), its RELEASE keeps the mapping; every later
 *           LEASE of it is a copy hit (no kernel call), timed as a re-lease,
 *           and its RELEASE too; before each re-lease, one raw
 *           SOCK_SEQPACKET round trip of 72 B to an echo child placed like
 *           the daemon (the floor of any round trip on this machine).
 *   churn   release = lazy, copy_cache_bytes = 1 MiB: distinct 4 KiB pages
 *           leased in a window of 32 (lease the next, release the oldest),
 *           in page order (an I/O path's ring) and then in a random order;
 *           STATS kernel_unmaps per 64 releases.
 *
 * Times are round trips seen by the client (libdmacache), CLOCK_MONOTONIC.
 * --cpus as dmacache-lease-scale: 'same' (default) pins the bench, the peer
 * calls and the daemon to CPU 0, 'split' the daemon to CPU 1, 'none' pins
 * nothing.
 * The master IOAS of dmacached has no domain (dmacached attaches devices
 * only to tenant IOASes and allocates no HWPT for the master), so REGISTER's
 * IOAS_MAP pins nothing and the first COPY into the tenant's IOAS pins; this
 * is what is measured, and said in the output.
 *
 * Memory: a hugetlb memfd (2 MiB pages; shmem when the host has none) of the
 * largest size for 2 MiB .. 1 GiB, faulted in first, and a 64 MiB shmem
 * memfd for 4 KiB and the churn (a 4 KiB lease of a hugetlb file is refused).
 *
 * Output: tables on stdout; --json FILE writes the figures as one JSON
 * object, --json - prints it on stdout between the lines "@@json-begin" and
 * "@@json-end" (the guest cannot write the host's files). Not a test:
 * nothing asserts a time.
 *
 * Invariants: every call's result is checked, a failure ends the run with a
 * message and status 1; the daemon is stopped and the peer's backend closed
 * on every path; every mapping the peer makes is unmapped before the next.
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
#include "dmac/backend.h"
#include "dmac/dmacache.h"
#include "dmac/iommufd_backend.h"

#ifndef DMAC_BENCH_DAEMON
#define DMAC_BENCH_DAEMON "dmacached-test"
#endif

#define KiB	  (UINT64_C(1) << 10)
#define MiB	  (UINT64_C(1) << 20)
#define GiB	  (UINT64_C(1) << 30)
#define SMALL_LEN (64 * MiB) /* the shmem memfd: 4 KiB leases and the churn */
#define RW	  (DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE)
#define NSIZES	  4
#define MAXREP	  256
#define WINDOW	  32u
#define CHURN	  8192u /* releases per churn order */

enum { P_MAP, P_UNMAP, S_LEASE, S_REL, L_LEASE, L_REL, PP, NSER };
static const char *const ser_name[NSER] = {
    "map", "unmap", "strict_lease", "strict_release", "re_lease", "lazy_release", "pingpong",
};

struct size_row {
	uint64_t bytes;
	int reps, relreps;	       /* peer and strict reps; lazy re-leases */
	uint64_t ns[NSER][2 * MAXREP]; /* the peer's two runs one after the other */
	int n[NSER];
	uint64_t first_lease_ns, first_rel_ns; /* lazy: the miss, and its release (kept) */
	struct bd_summary sum[NSER];
	struct dmac_client_stats strict_d, lazy_d;
};

struct churn_row {
	const char *order;
	uint64_t releases, kernel_unmaps, kernel_copies, copy_hits, copy_misses;
	struct bd_summary lease, release;
};

static struct {
	const char *daemon_bin, *backend, *json, *bdf, *cpus;
	int cpu_client, cpu_daemon; /* -1: not pinned */
	uint64_t max;
} opt = {.daemon_bin = DMAC_BENCH_DAEMON, .backend = "iommufd", .cpus = "same", .max = GiB};

static struct size_row rows[NSIZES];
static struct churn_row churn[2];
static int nrows;
static void *big_va = MAP_FAILED, *small_va = MAP_FAILED;
static int big_fd = -1, small_fd = -1, big_huge;
static struct bd_daemon dmn;
static uint64_t register_ns[2]; /* strict, lazy: REGISTER of the big memfd */

static void fail(const char *what, int rc)
{
	fprintf(stderr, "copy-cache-bench: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	bd_stop(&dmn);
	exit(1);
}

/* A sealed memfd of @p len, mapped shared and faulted in; hugetlb if @p huge. */
static int memfd_of(uint64_t len, bool huge, int *fd, void **va)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0);
	uint64_t step = huge ? 2 * MiB : 4 * KiB;
	int rc;

	*fd = memfd_create("dmac-copy-cache-bench", flags);
	if (*fd < 0)
		return -errno;
	if (ftruncate(*fd, (off_t)len) || fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		rc = -errno;
		goto err_close;
	}
	*va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, *fd, 0);
	if (*va == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	for (uint64_t o = 0; o < len; o += step)
		((volatile char *)*va)[o] = 1;
	return 0;
err_close:
	close(*fd);
	*fd = -1;
	return rc;
}

/* The memory a size is leased from: its fd, offset 0, VA. */
static void *row_va(const struct size_row *w)
{
	return w->bytes < 2 * MiB ? small_va : big_va;
}

/* ---- peer: fresh IOAS_MAP + IOAS_UNMAP on the bench's own iommufd ------------ */

static int peer_phase(void)
{
	const struct dmac_backend_ops *ops = &dmac_iommufd_backend_ops;
	struct dmac_backend *be = NULL;
	struct dmac_device *dev = NULL;
	uint32_t sp;
	int rc;

	rc = ops->open(NULL, &be);
	if (rc)
		return rc;
	rc = ops->space_alloc(be, &sp);
	if (!rc)
		rc = ops->device_open(be, opt.bdf, &dev);
	if (!rc)
		rc = ops->device_attach(be, dev, sp);
	for (int r = 0; !rc && r < nrows; r++) {
		struct size_row *w = &rows[r];

		for (int k = 0; !rc && k < w->reps; k++) {
			uint64_t iova = 0, t0 = bd_now_ns();

			rc = ops->map(be, sp, row_va(w), w->bytes, RW, 0, &iova);
			w->ns[P_MAP][w->n[P_MAP]++] = bd_now_ns() - t0;
			if (rc)
				break;
			t0 = bd_now_ns();
			rc = ops->unmap(be, sp, iova, w->bytes, NULL);
			w->ns[P_UNMAP][w->n[P_UNMAP]++] = bd_now_ns() - t0;
		}
	}
	ops->close(be); /* detaches and closes the NVMe, destroys the space */
	return rc;
}

/* ---- the daemon ------------------------------------------------------------- */

static int daemon_start(const char *release, const char *copy_cache)
{
	char conf[512];

	snprintf(conf, sizeof(conf),
		 "backend = %s\nlog_level = warn\n[tenant dev]\nuids = %u\nrelease = %s\n"
		 "copy_cache_bytes = %s\n%s%s%s",
		 opt.backend, (unsigned int)getuid(), release, copy_cache,
		 opt.bdf ? "devices = " : "", opt.bdf ? opt.bdf : "", opt.bdf ? "\n" : "");
	return bd_start(&dmn, opt.daemon_bin, conf, opt.cpu_daemon);
}

struct conn {
	struct dmac_client *c;
	uint64_t big, small; /* registrations */
};

static void conn_open(struct conn *k, uint64_t *reg_ns)
{
	uint64_t t0;
	int rc;

	rc = dmac_client_connect(dmn.sock, "dev", 0, &k->c);
	if (rc)
		fail("connect", rc);
	t0 = bd_now_ns();
	rc = dmac_client_register(k->c, big_fd, 0, opt.max, RW, big_va, &k->big);
	if (reg_ns)
		*reg_ns = bd_now_ns() - t0;
	if (rc)
		fail("register (big)", rc);
	rc = dmac_client_register(k->c, small_fd, 0, SMALL_LEN, RW, small_va, &k->small);
	if (rc)
		fail("register (small)", rc);
}

static void conn_close(struct conn *k)
{
	dmac_client_close(k->c);
	k->c = NULL;
	if (bd_stop(&dmn))
		fail("daemon exit status", -EIO);
}

static void stats(struct conn *k, struct dmac_client_stats *st)
{
	int rc = dmac_client_stats(k->c, st);

	if (rc)
		fail("stats", rc);
}

static void stats_delta(const struct dmac_client_stats *a, const struct dmac_client_stats *b,
			struct dmac_client_stats *d)
{
	d->copy_hits = b->copy_hits - a->copy_hits;
	d->copy_misses = b->copy_misses - a->copy_misses;
	d->kernel_copies = b->kernel_copies - a->kernel_copies;
	d->kernel_unmaps = b->kernel_unmaps - a->kernel_unmaps;
	d->copies_kept_bytes = b->copies_kept_bytes;
}

/* One timed LEASE and RELEASE of the row's range; times into ns[lease], ns[rel]. */
static void lease_release(struct conn *k, struct size_row *w, uint64_t *lease_ns, uint64_t *rel_ns)
{
	struct dmac_client_lease l;
	uint64_t reg = w->bytes < 2 * MiB ? k->small : k->big, t0 = bd_now_ns();
	int rc = dmac_client_lease(k->c, reg, 0, w->bytes, RW, &l);

	*lease_ns = bd_now_ns() - t0;
	if (rc)
		fail("lease", rc);
	t0 = bd_now_ns();
	rc = dmac_client_release(k->c, l.lease_id);
	*rel_ns = bd_now_ns() - t0;
	if (rc)
		fail("release", rc);
}

static void strict_phase(void)
{
	struct dmac_client_stats a, b;
	struct conn k;
	int rc = daemon_start("strict", "1G");

	if (rc)
		fail("starting dmacached-test (strict)", rc);
	conn_open(&k, &register_ns[0]);
	for (int r = 0; r < nrows; r++) {
		struct size_row *w = &rows[r];

		stats(&k, &a);
		for (int i = 0; i < w->reps; i++)
			lease_release(&k, w, &w->ns[S_LEASE][w->n[S_LEASE]++],
				      &w->ns[S_REL][w->n[S_REL]++]);
		stats(&k, &b);
		stats_delta(&a, &b, &w->strict_d);
	}
	conn_close(&k);
}

static void lazy_phase(void)
{
	struct dmac_client_stats a, b;
	char cap[32];
	struct conn k;
	int rc;

	int echo = -1;
	pid_t echo_pid = 0;

	snprintf(cap, sizeof(cap), "%lluM", (unsigned long long)((opt.max + SMALL_LEN) / MiB));
	rc = daemon_start("lazy", cap);
	if (rc)
		fail("starting dmacached-test (lazy)", rc);
	rc = bd_echo_start(opt.cpu_daemon, &echo, &echo_pid);
	if (rc)
		fail("echo peer", rc);
	conn_open(&k, &register_ns[1]);
	for (int r = 0; r < nrows; r++) {
		struct size_row *w = &rows[r];

		stats(&k, &a);
		lease_release(&k, w, &w->first_lease_ns, &w->first_rel_ns);
		for (int i = 0; i < w->relreps; i++) {
			uint64_t t0 = bd_now_ns();

			if (bd_echo_round(echo, 72, 72))
				fail("ping-pong", -EIO);
			w->ns[PP][w->n[PP]++] = bd_now_ns() - t0;
			lease_release(&k, w, &w->ns[L_LEASE][w->n[L_LEASE]++],
				      &w->ns[L_REL][w->n[L_REL]++]);
		}
		stats(&k, &b);
		stats_delta(&a, &b, &w->lazy_d);
	}
	bd_echo_stop(echo, echo_pid);
	conn_close(&k);
}

/* Distinct 4 KiB pages in a window of WINDOW, in page order or shuffled. */
static void churn_run(struct conn *k, struct churn_row *cr, bool shuffled)
{
	static struct dmac_client_lease win[WINDOW];
	static uint64_t lns[CHURN + WINDOW], rns[CHURN];
	static uint32_t order[SMALL_LEN / 4096];
	const uint32_t npages = SMALL_LEN / 4096;
	struct dmac_client_stats a, b;
	uint64_t seed = 0x9e3779b97f4a7c15ull, nl = 0, nr = 0;

	for (uint32_t i = 0; i < npages; i++)
		order[i] = i;
	for (uint32_t i = npages - 1; shuffled && i > 0; i--) {
		uint32_t j, t;

		seed ^= seed << 13; /* xorshift64 */
		seed ^= seed >> 7;
		seed ^= seed << 17;
		j = (uint32_t)(seed % (i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	stats(k, &a);
	for (uint64_t step = 0; nr < CHURN; step++) {
		struct dmac_client_lease *l = &win[step % WINDOW];
		uint64_t t0;
		int rc;

		if (step >= WINDOW) { /* the slot holds the oldest: release it */
			t0 = bd_now_ns();
			rc = dmac_client_release(k->c, l->lease_id);
			rns[nr++] = bd_now_ns() - t0;
			if (rc)
				fail("churn release", rc);
		}
		t0 = bd_now_ns();
		rc = dmac_client_lease(k->c, k->small, (uint64_t)order[step % npages] * 4096, 4096,
				       RW, l);
		lns[nl++] = bd_now_ns() - t0;
		if (rc)
			fail("churn lease", rc);
	}
	for (uint64_t i = 0; i < WINDOW; i++) {
		int rc = dmac_client_release(k->c, win[i].lease_id);

		if (rc)
			fail("churn release", rc);
	}
	stats(k, &b);
	cr->order = shuffled ? "random" : "sequential";
	cr->releases = nr + WINDOW;
	cr->kernel_unmaps = b.kernel_unmaps - a.kernel_unmaps;
	cr->kernel_copies = b.kernel_copies - a.kernel_copies;
	cr->copy_hits = b.copy_hits - a.copy_hits;
	cr->copy_misses = b.copy_misses - a.copy_misses;
	cr->lease = bd_summarize(lns, nl);
	cr->release = bd_summarize(rns, nr);
}

static void churn_phase(void)
{
	struct conn k;
	int rc = daemon_start("lazy", "1M");

	if (rc)
		fail("starting dmacached-test (churn)", rc);
	conn_open(&k, NULL);
	churn_run(&k, &churn[0], false);
	churn_run(&k, &churn[1], true);
	conn_close(&k);
}

/* ---- output ----------------------------------------------------------------- */

static void print_tables(const double la[3])
{
	printf("# dmacache-copy-cache-bench: backend %s%s%s, cpus %s, big memfd %s, times in us "
	       "(p50 of the repetitions), load average %.2f %.2f %.2f\n",
	       opt.backend, opt.bdf ? ", NVMe " : " (no device)", opt.bdf ? opt.bdf : "", opt.cpus,
	       big_huge ? "hugetlb 2 MiB pages" : "shmem 4 KiB pages (no hugetlb)", la[0], la[1],
	       la[2]);
	printf("# dmacached's master IOAS has no domain: REGISTER of %llu MiB took %.0f us "
	       "(strict) and %.0f us (lazy); the first COPY into the tenant's IOAS pins\n",
	       (unsigned long long)(opt.max / MiB), (double)register_ns[0] / 1000,
	       (double)register_ns[1] / 1000);
	printf("| size | reps | fresh IOAS_MAP | IOAS_UNMAP | strict LEASE (COPY) | strict RELEASE "
	       "(UNMAP) | lazy first LEASE | its RELEASE | re-leases | re-LEASE (hit) | RELEASE "
	       "(kept) | raw ping-pong | (MAP+UNMAP) / (re-LEASE+RELEASE) | MAP / re-LEASE | "
	       "(COPY+UNMAP) / (re-LEASE+RELEASE) | re-LEASE / ping-pong |\n");
	printf(
	    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int r = 0; r < nrows; r++) {
		const struct size_row *w = &rows[r];
		const struct bd_summary *s = w->sum;
		double hit = s[L_LEASE].p50 + s[L_REL].p50;
		char sz[32], peer[3][64];

		bd_size_name(w->bytes, sz, sizeof(sz));
		if (s[P_MAP].n) {
			snprintf(peer[0], sizeof(peer[0]), "%.1f", s[P_MAP].p50 / 1000);
			snprintf(peer[1], sizeof(peer[1]), "%.1f", s[P_UNMAP].p50 / 1000);
			snprintf(peer[2], sizeof(peer[2]), "%.0fx | %.0fx",
				 (s[P_MAP].p50 + s[P_UNMAP].p50) / hit,
				 s[P_MAP].p50 / s[L_LEASE].p50);
		} else {
			snprintf(peer[0], sizeof(peer[0]), "n/a");
			snprintf(peer[1], sizeof(peer[1]), "n/a");
			snprintf(peer[2], sizeof(peer[2]), "n/a | n/a");
		}
		printf(
		    "| %s | %d | %s | %s | %.1f | %.1f | %.1f | %.1f | %d | %.1f | %.1f | %.1f | "
		    "%s | %.0fx | %.2fx |\n",
		    sz, w->reps, peer[0], peer[1], s[S_LEASE].p50 / 1000, s[S_REL].p50 / 1000,
		    (double)w->first_lease_ns / 1000, (double)w->first_rel_ns / 1000, w->relreps,
		    s[L_LEASE].p50 / 1000, s[L_REL].p50 / 1000, s[PP].p50 / 1000, peer[2],
		    (s[S_LEASE].p50 + s[S_REL].p50) / hit, s[L_LEASE].p50 / s[PP].p50);
	}
	printf("\nSTATS per size (deltas): strict copy misses / kernel copies / kernel unmaps; "
	       "lazy copy hits / misses / kernel copies / kernel unmaps\n");
	for (int r = 0; r < nrows; r++) {
		const struct size_row *w = &rows[r];
		char sz[32];

		bd_size_name(w->bytes, sz, sizeof(sz));
		printf("%-8s strict %llu / %llu / %llu   lazy %llu / %llu / %llu / %llu\n", sz,
		       (unsigned long long)w->strict_d.copy_misses,
		       (unsigned long long)w->strict_d.kernel_copies,
		       (unsigned long long)w->strict_d.kernel_unmaps,
		       (unsigned long long)w->lazy_d.copy_hits,
		       (unsigned long long)w->lazy_d.copy_misses,
		       (unsigned long long)w->lazy_d.kernel_copies,
		       (unsigned long long)w->lazy_d.kernel_unmaps);
	}
	printf("\n## churn: 4 KiB pages of a %llu MiB memfd, window %u, lazy, copy_cache_bytes "
	       "1 MiB\n| order | releases | IOAS_UNMAP calls | per 64 releases (target <= 1) | "
	       "kernel copies | copy hits | lease p50 us | release p50 us |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|\n",
	       (unsigned long long)(SMALL_LEN / MiB), WINDOW);
	for (int i = 0; i < 2; i++)
		printf("| %s | %llu | %llu | %.2f | %llu | %llu | %.1f | %.1f |\n", churn[i].order,
		       (unsigned long long)churn[i].releases,
		       (unsigned long long)churn[i].kernel_unmaps,
		       64.0 * (double)churn[i].kernel_unmaps / (double)churn[i].releases,
		       (unsigned long long)churn[i].kernel_copies,
		       (unsigned long long)churn[i].copy_hits, churn[i].lease.p50 / 1000,
		       churn[i].release.p50 / 1000);
}

static void json_stats(FILE *f, const char *name, const struct dmac_client_stats *d)
{
	fprintf(f,
		"\"%s\": {\"copy_hits\": %llu, \"copy_misses\": %llu, \"kernel_copies\": %llu, "
		"\"kernel_unmaps\": %llu}",
		name, (unsigned long long)d->copy_hits, (unsigned long long)d->copy_misses,
		(unsigned long long)d->kernel_copies, (unsigned long long)d->kernel_unmaps);
}

static void write_json(FILE *f, const double la[3])
{
	fprintf(
	    f,
	    "{\"bench\": \"copy_cache\", \"backend\": \"%s\", \"cpus\": \"%s\", \"nvme\": \"%s\", "
	    "\"big_hugetlb\": %s, \"master_domain\": false, \"loadavg\": [%.2f, %.2f, %.2f], "
	    "\"register_big_ns\": {\"strict\": %llu, \"lazy\": %llu},\n \"sizes\": [",
	    opt.backend, opt.cpus, opt.bdf ? opt.bdf : "", big_huge ? "true" : "false", la[0],
	    la[1], la[2], (unsigned long long)register_ns[0], (unsigned long long)register_ns[1]);
	for (int r = 0; r < nrows; r++) {
		const struct size_row *w = &rows[r];

		fprintf(f,
			"%s\n  {\"bytes\": %llu, \"lazy_first_lease_ns\": %llu, "
			"\"lazy_first_release_ns\": %llu, ",
			r ? "," : "", (unsigned long long)w->bytes,
			(unsigned long long)w->first_lease_ns, (unsigned long long)w->first_rel_ns);
		for (int s = 0; s < NSER; s++) {
			bd_json_summary(f, ser_name[s], &w->sum[s]);
			fprintf(f, ", ");
		}
		json_stats(f, "strict_stats", &w->strict_d);
		fprintf(f, ", ");
		json_stats(f, "lazy_stats", &w->lazy_d);
		fprintf(f, "}");
	}
	fprintf(f, "\n ],\n \"churn\": [");
	for (int i = 0; i < 2; i++) {
		fprintf(f,
			"%s\n  {\"order\": \"%s\", \"window\": %u, \"copy_cache_bytes\": %llu, "
			"\"releases\": %llu, \"kernel_unmaps\": %llu, \"kernel_copies\": %llu, "
			"\"copy_hits\": %llu, \"copy_misses\": %llu, ",
			i ? "," : "", churn[i].order, WINDOW, (unsigned long long)MiB,
			(unsigned long long)churn[i].releases,
			(unsigned long long)churn[i].kernel_unmaps,
			(unsigned long long)churn[i].kernel_copies,
			(unsigned long long)churn[i].copy_hits,
			(unsigned long long)churn[i].copy_misses);
		bd_json_summary(f, "lease", &churn[i].lease);
		fprintf(f, ", ");
		bd_json_summary(f, "release", &churn[i].release);
		fprintf(f, "}");
	}
	fprintf(f, "\n]}\n");
}

static int parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return -EINVAL;
		if (!strcmp(a, "--daemon"))
			opt.daemon_bin = v;
		else if (!strcmp(a, "--backend") && (!strcmp(v, "iommufd") || !strcmp(v, "test")))
			opt.backend = v;
		else if (!strcmp(a, "--max-mib"))
			opt.max = strtoull(v, NULL, 0) * MiB;
		else if (!strcmp(a, "--json"))
			opt.json = v;
		else if (!strcmp(a, "--cpus") && !strcmp(v, "same"))
			opt.cpu_client = opt.cpu_daemon = 0;
		else if (!strcmp(a, "--cpus") && !strcmp(v, "split"))
			opt.cpu_daemon = 1;
		else if (!strcmp(a, "--cpus") && !strcmp(v, "none"))
			opt.cpu_client = opt.cpu_daemon = -1;
		else
			return -EINVAL;
		if (!strcmp(a, "--cpus"))
			opt.cpus = v;
		i++;
	}
	if (opt.max < 64 * MiB || opt.max % (2 * MiB))
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	double la[3];
	int rc;

	if (parse_args(argc, argv)) {
		fprintf(stderr,
			"usage: %s [--daemon PATH] [--backend iommufd|test] [--max-mib N] "
			"[--cpus same|split|none] [--json FILE|-]\n  (iommufd: in the VM, "
			"bench/run-copy-cache-bench.sh; "
			"--max-mib even, >= 64)\n",
			argv[0]);
		return 2;
	}
	rc = bd_pin(0, opt.cpu_client);
	if (rc)
		fail("pinning to CPU 0", rc);
	if (!strcmp(opt.backend, "iommufd")) {
		opt.bdf = getenv("DMAC_VM_NVME_BDF");
		if (!opt.bdf || !*opt.bdf) {
			fprintf(stderr, "copy-cache-bench: DMAC_VM_NVME_BDF is not set: run it in "
					"the VM (bench/run-copy-cache-bench.sh) or with --backend "
					"test\n");
			return 2;
		}
	}
	rows[nrows++] = (struct size_row){.bytes = 4 * KiB, .reps = 64, .relreps = 256};
	rows[nrows++] = (struct size_row){.bytes = 2 * MiB, .reps = 32, .relreps = 256};
	rows[nrows++] = (struct size_row){.bytes = 64 * MiB, .reps = 8, .relreps = 256};
	if (opt.max > 64 * MiB)
		rows[nrows++] = (struct size_row){.bytes = opt.max, .reps = 4, .relreps = 256};

	big_huge = 1;
	rc = memfd_of(opt.max, true, &big_fd, &big_va);
	if (rc) {
		fprintf(stderr, "copy-cache-bench: no hugetlb memfd of %llu MiB (%s): shmem\n",
			(unsigned long long)(opt.max / MiB), strerror(-rc));
		big_huge = 0;
		rc = memfd_of(opt.max, false, &big_fd, &big_va);
	}
	if (!rc)
		rc = memfd_of(SMALL_LEN, false, &small_fd, &small_va);
	if (rc)
		fail("memfd", rc);

	bd_loadavg(la);
	if (opt.bdf) {
		rc = peer_phase();
		if (rc)
			fail("peer (IOAS_MAP/IOAS_UNMAP on the bench's own iommufd)", rc);
	}
	strict_phase();
	lazy_phase();
	churn_phase();
	if (opt.bdf) {
		rc = peer_phase(); /* the second peer run: after the daemon's phases */
		if (rc)
			fail("peer, second run", rc);
	}
	for (int r = 0; r < nrows; r++)
		for (int s = 0; s < NSER; s++)
			rows[r].sum[s] = bd_summarize(rows[r].ns[s], (size_t)rows[r].n[s]);
	print_tables(la);
	if (opt.json && !strcmp(opt.json, "-")) {
		printf("@@json-begin\n");
		write_json(stdout, la);
		printf("@@json-end\n");
	} else if (opt.json) {
		FILE *f = fopen(opt.json, "w");

		if (!f)
			fail(opt.json, -errno);
		write_json(f, la);
		if (fclose(f))
			fail(opt.json, -errno);
	}
	munmap(big_va, opt.max);
	munmap(small_va, SMALL_LEN);
	close(big_fd);
	close(small_fd);
	return 0;
}
