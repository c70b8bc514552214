/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writer benchmarks: what one insert and one remove of a small interval cost in a map
 * that holds N intervals, as a dataplane pays them when it leases and releases pages
 * of one registration one by one.
 *
 *   write/<impl>/<intervals>/<bytes>   impl: imap, imap_v1 (the previous design, kept
 *                                      in bench/imap_v1), radix2 (2 MiB pages only)
 *
 * Layout: <intervals> intervals of <bytes> (4 KiB or 2 MiB) on every other page of a
 * region from VA 2^46, IOVAs distinct pages in a shuffled order (never contiguous with
 * a neighbour). One iteration inserts a page on a free (odd) page chosen at random,
 * then removes it, each op timed alone with CLOCK_MONOTONIC; the counters are the
 * median (p50) and mean of each op in ns, and the map's bytes per interval
 * (dmac_imap_memory(): logical sizes, allocator overhead not counted). The iteration
 * time (both ops and the two clock reads) is what Google Benchmark reports.
 *
 * Invariants: see writer_bench.h. imap and imap_v1 writers are registered urcu-memb
 * threads (commit uses call_rcu()); their deferred frees run in liburcu's call_rcu
 * thread, on the same two shared cores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dmac/imap.h>

#include "bench.h"
#include "dmac_alloc.h"
#include "gbench_c.h"
#include "imap_v1/imap_v1.h"
#include "radix2.h"
#include "writer_bench.h"

#define W_BASE	  (UINT64_C(1) << 46)
#define W_IOVA	  (UINT64_C(1) << 40)
#define W_NSIZES  4
#define W_MAXSAMP (1u << 20)
#define W_NPAGESZ 2

enum { W_IMAP, W_IMAPV1, W_RADIX2, W_NIMPL };

static const size_t w_sizes[W_NSIZES] = {10, 1000, 10000, 100000};
static const uint64_t w_page[W_NPAGESZ] = {4096, 2 << 20};

struct wcase {
	int impl;
	size_t n;
	uint64_t page;
	void *map;
	const char *error;
};

static struct wcase wcases[W_NIMPL][W_NSIZES][W_NPAGESZ];
static uint64_t *samp_ins, *samp_rem;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int w_insert(struct wcase *c, uint64_t va, uint64_t iova)
{
	switch (c->impl) {
	case W_IMAP:
		return dmac_imap_insert(c->map, va, va + c->page - 1, iova);
	case W_IMAPV1:
		return dmacv1_imap_insert(c->map, va, va + c->page - 1, iova);
	default:
		return dmac__radix2_map(c->map, va, c->page, iova);
	}
}

static int w_remove(struct wcase *c, uint64_t va)
{
	switch (c->impl) {
	case W_IMAP:
		return dmac_imap_remove(c->map, va, va + c->page - 1);
	case W_IMAPV1:
		return dmacv1_imap_remove(c->map, va, va + c->page - 1);
	default:
		dmac__radix2_unmap(c->map, va, c->page);
		return 0;
	}
}

/* Build the map of c: pages 0, 2, 4, ... with shuffled distinct IOVAs, in one batch. */
static int w_build(struct wcase *c)
{
	uint64_t *perm = dmac__calloc(c->n, sizeof(*perm)), s = 0x77e17e + c->n;
	struct dmac_imap_batch *b = NULL;
	struct dmacv1_imap_batch *b1 = NULL;
	int rc = 0;

	if (!perm)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		perm[i] = i;
	for (size_t i = c->n - 1; i > 0; i--) {
		size_t j = dmac__bench_rand(&s) % (i + 1);
		uint64_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	if (c->impl == W_IMAP) {
		rc = dmac_imap_create((struct dmac_imap **)&c->map);
		if (!rc)
			rc = dmac_imap_batch_begin(c->map, &b);
	} else if (c->impl == W_IMAPV1) {
		rc = dmacv1_imap_create((struct dmacv1_imap **)&c->map);
		if (!rc)
			rc = dmacv1_imap_batch_begin(c->map, &b1);
	} else {
		rc = dmac__radix2_create((struct dmac__radix2 **)&c->map);
	}
	for (size_t i = 0; i < c->n && !rc; i++) {
		uint64_t va = W_BASE + 2 * i * c->page, iova = W_IOVA + perm[i] * c->page;

		if (b)
			rc = dmac_imap_batch_insert(b, va, va + c->page - 1, iova);
		else if (b1)
			rc = dmacv1_imap_batch_insert(b1, va, va + c->page - 1, iova);
		else
			rc = dmac__radix2_map(c->map, va, c->page, iova);
	}
	if (b)
		rc = rc ? (dmac_imap_batch_abort(b), rc) : dmac_imap_batch_commit(b);
	if (b1)
		rc = rc ? (dmacv1_imap_batch_abort(b1), rc) : dmacv1_imap_batch_commit(b1);
	dmac__free(perm);
	return rc;
}

static size_t w_memory(const struct wcase *c)
{
	switch (c->impl) {
	case W_IMAP:
		return dmac_imap_memory(c->map);
	case W_IMAPV1:
		return dmacv1_imap_memory(c->map);
	default:
		return dmac__radix2_memory(c->map);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void w_report(gbench_state *st, const char *name, uint64_t *s, size_t n)
{
	char key[32];
	double sum = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		sum += (double)s[i];
	qsort(s, n, sizeof(*s), cmp_u64);
	snprintf(key, sizeof(key), "%s_p50_ns", name);
	gbench_state_counter(st, key, (double)s[n / 2], 0);
	snprintf(key, sizeof(key), "%s_mean_ns", name);
	gbench_state_counter(st, key, sum / (double)n, 0);
}

static void bench_write(gbench_state *st, void *arg)
{
	struct wcase *c = arg;
	uint64_t s = 0x5eed + c->n, t0, t1, t2;
	size_t ns = 0;

	if (c->impl != W_RADIX2)
		urcu_memb_register_thread();
	if (!c->map && !c->error && w_build(c))
		c->error = "cannot build the map";
	if (c->error) {
		gbench_state_skip_with_error(st, c->error);
		goto out;
	}
	while (gbench_state_keep_running(st)) {
		uint64_t j = dmac__bench_rand(&s) % c->n;
		uint64_t va = W_BASE + (2 * j + 1) * c->page, iova = W_IOVA + (c->n + j) * c->page;

		t0 = now_ns();
		if (w_insert(c, va, iova)) {
			gbench_state_skip_with_error(st, "insert failed");
			break;
		}
		t1 = now_ns();
		w_remove(c, va);
		t2 = now_ns();
		if (ns < W_MAXSAMP) {
			samp_ins[ns] = t1 - t0;
			samp_rem[ns] = t2 - t1;
			ns++;
		}
	}
	w_report(st, "insert", samp_ins, ns);
	w_report(st, "remove", samp_rem, ns);
	gbench_state_counter(st, "bytes_per_interval", (double)w_memory(c) / (double)c->n, 0);
out:
	if (c->impl != W_RADIX2)
		urcu_memb_unregister_thread();
}

int dmac__bench_writer_register(void)
{
	static const char *const names[W_NIMPL] = {"write/imap", "write/imap_v1", "write/radix2"};

	samp_ins = dmac__calloc(W_MAXSAMP, sizeof(*samp_ins));
	samp_rem = dmac__calloc(W_MAXSAMP, sizeof(*samp_rem));
	if (!samp_ins || !samp_rem) {
		fprintf(stderr, "dmacache-bench: writer benchmarks: out of memory\n");
		return -ENOMEM;
	}
	for (int i = 0; i < W_NIMPL; i++)
		for (size_t k = 0; k < W_NSIZES; k++)
			for (size_t p = 0; p < W_NPAGESZ; p++) {
				struct wcase *c = &wcases[i][k][p];
				int64_t args[2] = {(int64_t)w_sizes[k], (int64_t)w_page[p]};
				gbench_bm *bm;

				/* radix2 maps whole 2 MiB pages only. */
				if (i == W_RADIX2 && w_page[p] != (2 << 20))
					continue;
				c->impl = i;
				c->n = w_sizes[k];
				c->page = w_page[p];
				bm = gbench_register(names[i], bench_write, c);
				if (!bm) {
					fprintf(stderr, "dmacache-bench: cannot register %s\n",
						names[i]);
					return -ENOMEM;
				}
				gbench_bm_args(bm, args, 2);
				gbench_bm_unit(bm, GBENCH_NS);
			}
	return 0;
}

void dmac__bench_writer_teardown(void)
{
	for (int i = 0; i < W_NIMPL; i++)
		for (size_t k = 0; k < W_NSIZES; k++)
			for (size_t p = 0; p < W_NPAGESZ; p++) {
				struct wcase *c = &wcases[i][k][p];

				if (i == W_IMAP)
					dmac_imap_destroy(c->map);
				else if (i == W_IMAPV1)
					dmacv1_imap_destroy(c->map);
				else
					dmac__radix2_destroy(c->map);
				c->map = NULL;
			}
	dmac__free(samp_ins);
	dmac__free(samp_rem);
}
