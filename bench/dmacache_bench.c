/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-bench: VA -> IOVA translate benchmarks of dmac_imap against its peers.
 *
 * Benchmarks (Google Benchmark names):
 *   translate/<impl>/<intervals>/threads:<n>        one address per lookup
 *   translate_range/<impl>/<intervals>/threads:<n>  8 MiB ranged lookups
 *   translate_locked64/imap/<intervals>/threads:<n>  informative: one read-side
 *                                                   section per 64 lookups
 *   translate_chained/<impl>/<intervals>/threads:<n>  informative: latency, each
 *                                   address depends on the previous result
 *                                   (imap, imap_v1, radix2, rwlock_tree)
 *   translate_burst32/<impl>/<intervals>/threads:<n>  bursts of 32 addresses, one
 *                                   read-side section per burst (imap, imap_v1,
 *                                   radix2)
 *   write/<impl>/<intervals>/<bytes>  writer cost and memory (writer_bench.c)
 * with impl in imap, imap_v1 (the previous design, bench/imap_v1), radix2,
 * radix2_rcu (informative: radix2 inside the read-side section imap pays per
 * lookup; translate and translate_range only), rwlock_tree, dpdk; intervals 16,
 * 1024, 65536; threads 1 and 2. The time per iteration is the time per lookup on
 * one thread.
 *
 * Invariants:
 * - imap, radix2 and rwlock_tree are built from the same layout (layout.c) for each
 *   interval count, and checked against each other and the layout before anything
 *   is timed: any disagreement aborts the program.
 * - Everything is built in main before gbench_run() and read-only while benchmarks
 *   run; threads only share read-only data (and the locks/RCU state under test).
 * - imap lookups hold the urcu-memb read lock per lookup (one buffer at a time, as a
 *   dataplane translates); rwlock_tree read-locks per lookup; radix2 takes no lock.
 * - Benchmark flags (--benchmark_*) go to Google Benchmark; EAL arguments never come
 *   from argv (see peer_dpdk.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmac/imap.h>

#include "bench_loop.h"
#include "dmac_alloc.h"
#include "imap_v1/imap_v1.h"
#include "radix2.h"
#include "writer_bench.h"

#define NLAYOUTS    3
#define CHECK_HITS  4096
#define CHECK_ANY   1024
#define CHECK_EDGES 64

static const size_t intervals[NLAYOUTS] = {16, 1024, 65536};

enum impl { IMAP, RADIX2, RWTREE, IMAPV1, DPDK, NIMPL };

static struct dmac__bench_layout layouts[NLAYOUTS];
/* cases[impl][i] for intervals[i]; a zero entry ends each row. */
static struct dmac__bench_case cases[NIMPL][NLAYOUTS + 1];

/* ---- lookups, one per peer and kind (inlined into the loop) ---- */

static inline uint64_t imap_one(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	uint64_t r;

	dmac_imap_read_lock();
	r = dmac_imap_translate(map, va, 0, NULL);
	dmac_imap_read_unlock();
	return r;
}

static inline uint64_t imap_range(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	uint64_t r;

	dmac_imap_read_lock();
	r = dmac_imap_translate(map, va, max_len, len);
	dmac_imap_read_unlock();
	return r;
}

/* imap without its own read-side section: the caller holds one per batch. */
static inline uint64_t imap_bare(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	return dmac_imap_translate(map, va, 0, NULL);
}

static void imap_batch_lock(void)
{
	dmac_imap_read_lock();
}

static void imap_batch_unlock(void)
{
	dmac_imap_read_unlock();
}

/* The previous design of the map (bench/imap_v1), same calling pattern. */
static inline uint64_t imapv1_one(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	uint64_t r;

	dmacv1_imap_read_lock();
	r = dmacv1_imap_translate(map, va, 0, NULL);
	dmacv1_imap_read_unlock();
	return r;
}

static inline uint64_t imapv1_range(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	uint64_t r;

	dmacv1_imap_read_lock();
	r = dmacv1_imap_translate(map, va, max_len, len);
	dmacv1_imap_read_unlock();
	return r;
}

static inline uint64_t radix2_one(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	return dmac__radix2_translate(map, va);
}

static inline uint64_t radix2_range(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	return dmac__radix2_translate_range(map, va, max_len, len);
}

/* radix2 inside the same urcu-memb read-side section per lookup as imap. */
static inline uint64_t radix2_rcu_one(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	uint64_t r;

	dmac_imap_read_lock();
	r = dmac__radix2_translate(map, va);
	dmac_imap_read_unlock();
	return r;
}

static inline uint64_t radix2_rcu_range(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	uint64_t r;

	dmac_imap_read_lock();
	r = dmac__radix2_translate_range(map, va, max_len, len);
	dmac_imap_read_unlock();
	return r;
}

static inline uint64_t rwtree_one(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	return dmac__rwtree_translate(map, va, 0, len);
}

static inline uint64_t rwtree_range(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	return dmac__rwtree_translate(map, va, max_len, len);
}

/* ---- benchmark bodies ---- */

static void bench_imap_translate(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), imap_one, 0);
	urcu_memb_unregister_thread();
}

static void bench_imap_translate_range(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), imap_range, DMAC__BENCH_RANGE);
	urcu_memb_unregister_thread();
}

/* Informative: the read-side section held across DMAC__BENCH_BATCH lookups. */
static void bench_imap_translate_locked64(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop_batched(st, dmac__bench_case_of(st, arg), imap_bare, 0, imap_batch_lock,
				 imap_batch_unlock, 0);
	urcu_memb_unregister_thread();
}

/* Informative: latency (each lookup's address depends on the previous result). */
static void bench_imap_translate_chained(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop_batched(st, dmac__bench_case_of(st, arg), imap_one, 0, NULL, NULL, 1);
	urcu_memb_unregister_thread();
}

static void bench_radix2_translate_chained(gbench_state *st, void *arg)
{
	dmac__bench_loop_batched(st, dmac__bench_case_of(st, arg), radix2_one, 0, NULL, NULL, 1);
}

static void bench_rwtree_translate_chained(gbench_state *st, void *arg)
{
	dmac__bench_loop_batched(st, dmac__bench_case_of(st, arg), rwtree_one, 0, NULL, NULL, 1);
}

static void bench_radix2_translate(gbench_state *st, void *arg)
{
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), radix2_one, 0);
}

static void bench_radix2_translate_range(gbench_state *st, void *arg)
{
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), radix2_range, DMAC__BENCH_RANGE);
}

static void bench_radix2_rcu_translate(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), radix2_rcu_one, 0);
	urcu_memb_unregister_thread();
}

static void bench_radix2_rcu_translate_range(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), radix2_rcu_range, DMAC__BENCH_RANGE);
	urcu_memb_unregister_thread();
}

static void bench_rwtree_translate(gbench_state *st, void *arg)
{
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), rwtree_one, 0);
}

static void bench_rwtree_translate_range(gbench_state *st, void *arg)
{
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), rwtree_range, DMAC__BENCH_RANGE);
}

static void bench_imapv1_translate(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), imapv1_one, 0);
	urcu_memb_unregister_thread();
}

static void bench_imapv1_translate_range(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop(st, dmac__bench_case_of(st, arg), imapv1_range, DMAC__BENCH_RANGE);
	urcu_memb_unregister_thread();
}

static void bench_imapv1_translate_chained(gbench_state *st, void *arg)
{
	urcu_memb_register_thread();
	dmac__bench_loop_batched(st, dmac__bench_case_of(st, arg), imapv1_one, 0, NULL, NULL, 1);
	urcu_memb_unregister_thread();
}

/*
 * Bursts: DMAC__BENCH_BURST addresses translated together, as a dataplane translates
 * the buffers of a burst of packets. imap: one read-side section and one version load
 * per burst (dmac_imap_translate_burst()); imap_v1: one section per burst around
 * single translates; radix2: the same single lookups, no section. Time per address.
 */
#define DMAC__BENCH_BURST 32
_Static_assert(DMAC__BENCH_BATCH % DMAC__BENCH_BURST == 0, "whole bursts per batch");

static inline __attribute__((always_inline)) void burst_loop(gbench_state *st, int impl)
{
	struct dmac__bench_case *c = dmac__bench_case_of(st, cases[impl]);
	uint64_t out[DMAC__BENCH_BURST], sink = 0;
	const uint64_t *a;
	size_t i = 0;
	int t = gbench_state_thread_index(st);

	if (c == NULL || c->error != NULL || t >= DMAC__BENCH_MAX_THREADS) {
		gbench_state_skip_with_error(st, c && c->error ? c->error : "no case");
		return;
	}
	a = c->addrs[t];
	while (gbench_state_keep_running_batch(st, DMAC__BENCH_BATCH)) {
		for (size_t k = 0; k < DMAC__BENCH_BATCH; k += DMAC__BENCH_BURST) {
			if (impl == IMAP) {
				dmac_imap_read_lock();
				dmac_imap_translate_burst(c->map, &a[i], out, NULL,
							  DMAC__BENCH_BURST);
				dmac_imap_read_unlock();
			} else if (impl == IMAPV1) {
				dmacv1_imap_read_lock();
				for (size_t j = 0; j < DMAC__BENCH_BURST; j++)
					out[j] = dmacv1_imap_translate(c->map, a[i + j], 0, NULL);
				dmacv1_imap_read_unlock();
			} else {
				for (size_t j = 0; j < DMAC__BENCH_BURST; j++)
					out[j] = dmac__radix2_translate(c->map, a[i + j]);
			}
			for (size_t j = 0; j < DMAC__BENCH_BURST; j++)
				sink += out[j];
			i = (i + DMAC__BENCH_BURST) & (DMAC__BENCH_NADDR - 1);
		}
	}
	dmac__bench_escape(sink);
	gbench_state_set_items_processed(st, (int64_t)gbench_state_iterations(st));
}

static void bench_imap_burst(gbench_state *st, void *arg)
{
	(void)arg;
	urcu_memb_register_thread();
	burst_loop(st, IMAP);
	urcu_memb_unregister_thread();
}

static void bench_imapv1_burst(gbench_state *st, void *arg)
{
	(void)arg;
	urcu_memb_register_thread();
	burst_loop(st, IMAPV1);
	urcu_memb_unregister_thread();
}

static void bench_radix2_burst(gbench_state *st, void *arg)
{
	(void)arg;
	burst_loop(st, RADIX2);
}

#ifndef DMAC_BENCH_HAVE_DPDK
static void bench_no_dpdk(gbench_state *st, void *arg)
{
	gbench_state_skip_with_error(st, "dmacache-bench was built without DPDK (-Ddpdk)");
}
#endif

/* ---- setup ---- */

static int build_peers(size_t li)
{
	const struct dmac__bench_layout *l = &layouts[li];
	struct dmac_imap *im = NULL;
	struct dmac__radix2 *rx = NULL;
	struct dmac__rwtree *rw = NULL;
	struct dmacv1_imap *v1 = NULL;
	size_t i;
	int ret;

	ret = dmac_imap_create(&im);
	if (ret < 0)
		return ret;
	ret = dmacv1_imap_create(&v1);
	if (ret < 0)
		goto destroy_imap;
	ret = dmac__radix2_create(&rx);
	if (ret < 0)
		goto destroy_imap;
	ret = dmac__rwtree_create(&rw, l->n);
	if (ret < 0)
		goto destroy_radix2;
	for (i = 0; i < l->n; i++) {
		const struct dmac__bench_ival *p = &l->iv[i];

		ret = dmac_imap_insert(im, p->start, p->last, p->iova);
		if (ret == 0)
			ret = dmacv1_imap_insert(v1, p->start, p->last, p->iova);
		if (ret == 0)
			ret = dmac__radix2_map(rx, p->start, p->last - p->start + 1, p->iova);
		if (ret == 0)
			ret = dmac__rwtree_insert(rw, p->start, p->last, p->iova);
		if (ret < 0)
			goto destroy_rwtree;
	}
	cases[IMAP][li].map = im;
	cases[RADIX2][li].map = rx;
	cases[RWTREE][li].map = rw;
	cases[IMAPV1][li].map = v1;
	return 0;

destroy_rwtree:
	dmac__rwtree_destroy(rw);
destroy_radix2:
	dmac__radix2_destroy(rx);
destroy_imap:
	dmacv1_imap_destroy(v1);
	dmac_imap_destroy(im);
	return ret;
}

/* Check one address against the layout on every peer; 0 or -EIO (reported). */
static int check_one(size_t li, uint64_t va)
{
	const struct dmac__bench_layout *l = &layouts[li];
	uint64_t rlen, rrlen, ref, rref, got, len;
	const char *who = NULL;

	ref = dmac__bench_layout_translate(l, va, 0, &rlen);
	rref = dmac__bench_layout_translate(l, va, DMAC__BENCH_RANGE, &rrlen);

	len = 0;
	got = imap_range(cases[IMAP][li].map, va, 0, &len);
	if ((ref == DMAC__BENCH_NONE) != (got == DMAC_IMAP_NONE) ||
	    (ref != DMAC__BENCH_NONE && (got != ref || len != rlen)))
		who = "imap";
	len = 0;
	got = imap_range(cases[IMAP][li].map, va, DMAC__BENCH_RANGE, &len);
	if ((rref == DMAC__BENCH_NONE) != (got == DMAC_IMAP_NONE) ||
	    (rref != DMAC__BENCH_NONE && (got != rref || len != rrlen)))
		who = "imap (ranged)";
	if (imap_one(cases[IMAP][li].map, va, 0, &len) !=
	    (ref == DMAC__BENCH_NONE ? DMAC_IMAP_NONE : ref))
		who = "imap (single)";
	len = 0;
	got = imapv1_range(cases[IMAPV1][li].map, va, DMAC__BENCH_RANGE, &len);
	if ((rref == DMAC__BENCH_NONE) != (got == DMACV1_IMAP_NONE) ||
	    (rref != DMAC__BENCH_NONE && (got != rref || len != rrlen)))
		who = "imap_v1 (ranged)";
	if (imapv1_one(cases[IMAPV1][li].map, va, 0, &len) !=
	    (ref == DMAC__BENCH_NONE ? DMACV1_IMAP_NONE : ref))
		who = "imap_v1 (single)";
	{
		uint64_t b[1] = {va}, o[1], bl[1] = {DMAC__BENCH_RANGE};

		dmac_imap_read_lock();
		dmac_imap_translate_burst(cases[IMAP][li].map, b, o, bl, 1);
		dmac_imap_read_unlock();
		if ((rref == DMAC__BENCH_NONE) != (o[0] == DMAC_IMAP_NONE) ||
		    (rref != DMAC__BENCH_NONE && (o[0] != rref || bl[0] != rrlen)))
			who = "imap (burst)";
	}
	if (radix2_one(cases[RADIX2][li].map, va, 0, &len) != ref)
		who = "radix2";
	got = radix2_range(cases[RADIX2][li].map, va, DMAC__BENCH_RANGE, &len);
	if (got != rref || len != rrlen)
		who = "radix2 (ranged)";
	got = rwtree_one(cases[RWTREE][li].map, va, 0, &len);
	if (got != ref || len != rlen)
		who = "rwlock_tree";
	got = rwtree_range(cases[RWTREE][li].map, va, DMAC__BENCH_RANGE, &len);
	if (got != rref || len != rrlen)
		who = "rwlock_tree (ranged)";
	if (who == NULL)
		return 0;
	fprintf(stderr,
		"dmacache-bench: %s disagrees at va %#" PRIx64
		" (%zu intervals): expected %#" PRIx64 " len %#" PRIx64 " / ranged %#" PRIx64
		" len %#" PRIx64 "\n",
		who, va, l->n, ref, rlen, rref, rrlen);
	return -EIO;
}

/*
 * Cross-check the peers on random hits, random addresses anywhere around the
 * region (hits and misses in gaps) and the edges of some intervals.
 */
static int check_peers(size_t li)
{
	const struct dmac__bench_layout *l = &layouts[li];
	uint64_t lo = l->iv[0].start - (64 << 20), hi = l->iv[l->n - 1].last + (64 << 20);
	uint64_t addrs[CHECK_HITS], s = 0xc0ffee + li;
	size_t i;
	int ret = 0;

	dmac__bench_layout_addrs(l, s, addrs, CHECK_HITS);
	for (i = 0; i < CHECK_HITS && ret == 0; i++)
		ret = check_one(li, addrs[i]);
	for (i = 0; i < CHECK_ANY && ret == 0; i++)
		ret = check_one(li, lo + dmac__bench_rand(&s) % (hi - lo));
	for (i = 0; i < CHECK_EDGES && ret == 0; i++) {
		const struct dmac__bench_ival *p = &l->iv[dmac__bench_rand(&s) % l->n];

		ret = check_one(li, p->start);
		ret = ret ?: check_one(li, p->start - 1);
		ret = ret ?: check_one(li, p->last);
		ret = ret ?: check_one(li, p->last + 1);
		ret = ret ?: check_one(li, p->last + 1 - DMAC__BENCH_RANGE);
		ret = ret ?: check_one(li, p->start + DMAC__BENCH_2M - 1);
	}
	return ret;
}

static int make_addrs(struct dmac__bench_case *c, size_t li, int dpdk)
{
	for (int t = 0; t < DMAC__BENCH_MAX_THREADS; t++) {
		uint64_t seed = 0x5eed0000 + li * 16 + t;

		c->addrs[t] = dmac__calloc(DMAC__BENCH_NADDR, sizeof(uint64_t));
		if (c->addrs[t] == NULL)
			return -ENOMEM;
#ifdef DMAC_BENCH_HAVE_DPDK
		if (dpdk) {
			size_t chunks = dmac__bench_dpdk_chunks();

			dmac__bench_dpdk_addrs(c->intervals < chunks ? c->intervals : chunks, seed,
					       c->addrs[t], DMAC__BENCH_NADDR);
			continue;
		}
#endif
		dmac__bench_layout_addrs(&layouts[li], seed, c->addrs[t], DMAC__BENCH_NADDR);
	}
	return 0;
}

/* Start DPDK and fill the dpdk cases (error or label); the others run regardless. */
static void setup_dpdk(const char *prog)
{
	static char why[256];
	size_t li;

#ifdef DMAC_BENCH_HAVE_DPDK
	size_t chunks;

	if (dmac__bench_dpdk_init(prog, intervals[NLAYOUTS - 1], why, sizeof(why)) < 0)
		goto skip;
	if (dmac__bench_dpdk_check() < 0) {
		snprintf(why, sizeof(why), "DPDK memory has no usable IOVAs");
		goto skip;
	}
	chunks = dmac__bench_dpdk_chunks();
	for (li = 0; li < NLAYOUTS; li++) {
		struct dmac__bench_case *c = &cases[DPDK][li];

		if (make_addrs(c, li, 1) < 0) {
			snprintf(why, sizeof(why), "out of memory");
			goto skip;
		}
		if (chunks < c->intervals)
			snprintf(c->label, sizeof(c->label),
				 "%s,chunks=%zu (capped from %zu: memory)", dmac__bench_dpdk_mode(),
				 chunks, c->intervals);
		else
			snprintf(c->label, sizeof(c->label), "%s,chunks=%zu",
				 dmac__bench_dpdk_mode(), c->intervals);
	}
	return;
#else
	(void)prog;
	snprintf(why, sizeof(why), "built without DPDK");
	goto skip;
#endif
skip:
	fprintf(stderr, "dmacache-bench: dpdk benchmarks skipped: %s\n", why);
	for (li = 0; li < NLAYOUTS; li++)
		cases[DPDK][li].error = why;
}

static void register_all(void)
{
	static const struct {
		const char *name;
		gbench_fn fn;
		enum impl impl;
	} regs[] = {
	    {"translate/imap", bench_imap_translate, IMAP},
	    {"translate/radix2", bench_radix2_translate, RADIX2},
	    {"translate/radix2_rcu", bench_radix2_rcu_translate, RADIX2},
	    {"translate/rwlock_tree", bench_rwtree_translate, RWTREE},
#ifdef DMAC_BENCH_HAVE_DPDK
	    {"translate/dpdk", dmac__bench_dpdk_translate, DPDK},
#else
	    {"translate/dpdk", bench_no_dpdk, DPDK},
#endif
	    {"translate_range/imap", bench_imap_translate_range, IMAP},
	    {"translate_range/radix2", bench_radix2_translate_range, RADIX2},
	    {"translate_range/radix2_rcu", bench_radix2_rcu_translate_range, RADIX2},
	    {"translate_range/rwlock_tree", bench_rwtree_translate_range, RWTREE},
#ifdef DMAC_BENCH_HAVE_DPDK
	    {"translate_range/dpdk", dmac__bench_dpdk_translate_range, DPDK},
#else
	    {"translate_range/dpdk", bench_no_dpdk, DPDK},
#endif
	    {"translate/imap_v1", bench_imapv1_translate, IMAPV1},
	    {"translate_range/imap_v1", bench_imapv1_translate_range, IMAPV1},
	    {"translate_chained/imap_v1", bench_imapv1_translate_chained, IMAPV1},
	    {"translate_burst32/imap", bench_imap_burst, IMAP},
	    {"translate_burst32/imap_v1", bench_imapv1_burst, IMAPV1},
	    {"translate_burst32/radix2", bench_radix2_burst, RADIX2},
	    {"translate_locked64/imap", bench_imap_translate_locked64, IMAP},
	    {"translate_chained/imap", bench_imap_translate_chained, IMAP},
	    {"translate_chained/radix2", bench_radix2_translate_chained, RADIX2},
	    {"translate_chained/rwlock_tree", bench_rwtree_translate_chained, RWTREE},
	};

	for (size_t r = 0; r < sizeof(regs) / sizeof(regs[0]); r++) {
		gbench_bm *b = gbench_register(regs[r].name, regs[r].fn, cases[regs[r].impl]);

		if (b == NULL) {
			fprintf(stderr, "dmacache-bench: cannot register %s\n", regs[r].name);
			exit(1);
		}
		for (size_t li = 0; li < NLAYOUTS; li++)
			gbench_bm_arg(b, (int64_t)intervals[li]);
		gbench_bm_threads(b, 1);
		gbench_bm_threads(b, 2);
	}
}

static void teardown(void)
{
	for (int i = 0; i < NIMPL; i++) {
		for (size_t li = 0; li < NLAYOUTS; li++) {
			for (int t = 0; t < DMAC__BENCH_MAX_THREADS; t++)
				dmac__free(cases[i][li].addrs[t]);
		}
	}
	for (size_t li = 0; li < NLAYOUTS; li++) {
		dmac_imap_destroy(cases[IMAP][li].map);
		dmac__radix2_destroy(cases[RADIX2][li].map);
		dmac__rwtree_destroy(cases[RWTREE][li].map);
		dmacv1_imap_destroy(cases[IMAPV1][li].map);
		dmac__bench_layout_free(&layouts[li]);
	}
#ifdef DMAC_BENCH_HAVE_DPDK
	dmac__bench_dpdk_fini();
#endif
}

int main(int argc, char **argv)
{
	int ret;

	if (gbench_initialize(&argc, argv) < 0)
		return 1;
	if (argc > 1) {
		fprintf(stderr, "usage: %s [--benchmark_* flags]\n", argv[0]);
		return 1;
	}
	/* The main thread builds the imaps (commit uses call_rcu) and checks them. */
	urcu_memb_register_thread();
	for (size_t li = 0; li < NLAYOUTS; li++) {
		for (int i = 0; i < NIMPL; i++)
			cases[i][li].intervals = intervals[li];
		ret = dmac__bench_layout_make(&layouts[li], intervals[li], 0x1a70u + li);
		if (ret == 0)
			ret = build_peers(li);
		for (int i = 0; i < DPDK && ret == 0; i++)
			ret = make_addrs(&cases[i][li], li, 0);
		if (ret < 0) {
			fprintf(stderr, "dmacache-bench: setup of %zu intervals: %s\n",
				intervals[li], strerror(-ret));
			return 1;
		}
		if (check_peers(li) < 0)
			abort();
	}
	urcu_memb_unregister_thread();
	setup_dpdk(argv[0]);
	register_all();
	if (dmac__bench_writer_register() < 0)
		return 1;
	gbench_run();
	gbench_shutdown();
	urcu_memb_register_thread(); /* dmac_imap_destroy() waits for call_rcu callbacks */
	dmac__bench_writer_teardown();
	teardown();
	urcu_memb_unregister_thread();
	return 0;
}
