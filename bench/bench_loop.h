/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The timed loop shared by every translate benchmark of dmacache-bench.
 *
 * Invariants:
 * - A dmac__bench_case is one (impl, intervals) pair: its structure and its
 *   per-thread address arrays are built once in main, before gbench_run(), and
 *   only read by the benchmark threads (so no setup cost is timed, and
 *   --benchmark_min_time only changes how long the loop runs).
 * - Every thread steps in order through its own DMAC__BENCH_NADDR precomputed
 *   addresses; the generator is never called in the timed loop.
 * - Iterations are counted in lookups (gbench_state_keep_running_batch), so the
 *   reported time per iteration is the time per lookup on one thread.
 * - The lookup is a compile-time constant function pointer given to an
 *   always-inline loop, so what remains is the peer's own code: inline for imap
 *   (dmac/imap.h) and radix2 (radix2.h), a call for rwlock_tree and DPDK.
 */
#ifndef DMAC_BENCH_BENCH_LOOP_H
#define DMAC_BENCH_BENCH_LOOP_H

#include <stdint.h>
#include <stdio.h>

#include "bench.h"
#include "gbench_c.h"

#define DMAC__BENCH_MAX_THREADS 2
#define DMAC__BENCH_BATCH	64 /* lookups per keep_running call */

/** One (impl, intervals) benchmark case. */
struct dmac__bench_case {
	size_t intervals;			  /**< as named in the benchmark */
	void *map;				  /**< the peer's structure */
	uint64_t *addrs[DMAC__BENCH_MAX_THREADS]; /**< DMAC__BENCH_NADDR each */
	const char *error;			  /**< non-NULL: the run is skipped with this */
	char label[128];			  /**< reported with every run ("" for none) */
};

/**
 * A peer's lookup: the IOVA of @p va (or the peer's miss value) and in *len the
 * contiguous bytes from @p va clipped to @p max_len (single lookups pass 0 and may
 * leave *len alone).
 */
typedef uint64_t (*dmac__bench_lookup_fn)(void *map, uint64_t va, uint64_t max_len, uint64_t *len);

/* Keep a value alive without a store the compiler could drop. */
static inline void dmac__bench_escape(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

/**
 * Run the timed loop of case @p c on the calling benchmark thread: a lookup per
 * address, @p max_len per lookup (0 for single lookups), with @p batch_enter and
 * @p batch_leave (NULL: none) around every DMAC__BENCH_BATCH lookups. If @p chained,
 * the index of the next address depends on the result of the lookup (a compare that
 * is never true, since no IOVA is 42), so lookups cannot overlap in the CPU and the
 * time is their latency; otherwise they are independent and the time is the
 * throughput of back-to-back lookups. Reports items
 * processed and, for ranged lookups, the mean contiguous length (counter "avg_len").
 */
static inline __attribute__((always_inline)) void
dmac__bench_loop_batched(gbench_state *st, struct dmac__bench_case *c, dmac__bench_lookup_fn lookup,
			 uint64_t max_len, void (*batch_enter)(void), void (*batch_leave)(void),
			 int chained)
{
	int t = gbench_state_thread_index(st);
	const uint64_t *a;
	uint64_t sink = 0, bytes = 0;
	size_t i = 0, k;

	if (c == NULL) {
		gbench_state_skip_with_error(st, "no case for this argument");
		return;
	}
	if (c->label[0] != '\0')
		gbench_state_set_label(st, c->label);
	if (c->error != NULL) {
		gbench_state_skip_with_error(st, c->error);
		return;
	}
	if (t >= DMAC__BENCH_MAX_THREADS) {
		gbench_state_skip_with_error(st, "more threads than address sets");
		return;
	}
	a = c->addrs[t];
	while (gbench_state_keep_running_batch(st, DMAC__BENCH_BATCH)) {
		if (batch_enter != NULL)
			batch_enter();
		for (k = 0; k < DMAC__BENCH_BATCH; k++) {
			uint64_t len = 0;

			uint64_t r = lookup(c->map, a[i], max_len, &len);

			sink += r;
			bytes += len;
			if (chained)
				i = (i + 1 + (r == 42)) & (DMAC__BENCH_NADDR - 1);
			else
				i = (i + 1) & (DMAC__BENCH_NADDR - 1);
		}
		if (batch_leave != NULL)
			batch_leave();
	}
	dmac__bench_escape(sink);
	gbench_state_set_items_processed(st, (int64_t)gbench_state_iterations(st));
	if (max_len != 0)
		gbench_state_counter(st, "avg_len", (double)bytes, GBENCH_COUNTER_AVG_ITERATIONS);
}

/** dmac__bench_loop_batched() without batch hooks: the common case. */
static inline __attribute__((always_inline)) void dmac__bench_loop(gbench_state *st,
								   struct dmac__bench_case *c,
								   dmac__bench_lookup_fn lookup,
								   uint64_t max_len)
{
	dmac__bench_loop_batched(st, c, lookup, max_len, NULL, NULL, 0);
}

/* peer_dpdk.c (only when built with DPDK). */
/**
 * Start DPDK's EAL once (arguments: DMAC_BENCH_EAL_ARGS if set, else an internal
 * set: --in-memory, hugepages if any are free, else --no-huge) and allocate one
 * block of up to @p want 2 MiB chunks.
 * @return 0, or -errno with @p why filled; the dpdk benchmarks then skip with it.
 * Concurrency: main thread, once, before gbench_run(). The main thread's CPU
 * affinity is restored after EAL start (EAL pins it to its main lcore).
 */
int dmac__bench_dpdk_init(const char *prog, size_t want, char *why, size_t whylen);
/** Chunks allocated by dmac__bench_dpdk_init(), and a description of the EAL mode. */
size_t dmac__bench_dpdk_chunks(void);
const char *dmac__bench_dpdk_mode(void);
/** Fill @p out with @p n random addresses in the first @p chunks chunks. */
void dmac__bench_dpdk_addrs(size_t chunks, uint64_t seed, uint64_t *out, size_t n);
/** Self-check of the DPDK translations; 0 or -EIO with a message on stderr. */
int dmac__bench_dpdk_check(void);
/** The benchmark bodies (arg: struct dmac__bench_case *array, by intervals). */
void dmac__bench_dpdk_translate(gbench_state *st, void *arg);
void dmac__bench_dpdk_translate_range(gbench_state *st, void *arg);
/** Free the chunks and stop EAL. Never fails. */
void dmac__bench_dpdk_fini(void);

/** Find the case of @p cases (terminated by intervals == 0) for this run's argument. */
static inline struct dmac__bench_case *dmac__bench_case_of(gbench_state *st,
							   struct dmac__bench_case *cases)
{
	size_t n = (size_t)gbench_state_range(st, 0);

	for (; cases->intervals != 0; cases++)
		if (cases->intervals == n)
			return cases;
	return NULL;
}

#endif /* DMAC_BENCH_BENCH_LOOP_H */
