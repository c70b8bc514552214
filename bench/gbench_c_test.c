/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test of the C wrapper over Google Benchmark (gbench_c.h): every option and
 * state accessor is used by a benchmark body, and the bodies record what they saw;
 * main checks the records after gbench_run(). No timing is asserted.
 *
 * Invariants: the records are atomics written by benchmark threads and read by
 * main only after gbench_run() has joined them. Run with
 * --benchmark_min_time=<small> to keep it short; any other unrecognised
 * --benchmark flag must make gbench_initialize() fail (a second meson test
 * checks that the program then exits non-zero).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbench_c.h"

static atomic_int failures;
/*
 * Google Benchmark calls a body several times per run (it grows the iteration
 * count until the minimum time is reached), so the records are "seen" bits and
 * call counts, not exact numbers of calls.
 */
static atomic_int seen_arg;   /* bit (arg 9) * 3 + (threads - 1) + thread index */
static atomic_int seen_range; /* bit 0: 8, bit 1: 64 */
static atomic_int calls_args3, calls_misc, skip_loops, skip_calls, batch_bad, batch_calls;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			atomic_fetch_add(&failures, 1);                                            \
		}                                                                                  \
	} while (0)

/* Arguments 7 and 9, 1 and 2 threads; pause/resume and counters inside the loop. */
static void body_arg(gbench_state *st, void *arg)
{
	int64_t a = gbench_state_range(st, 0);
	int t = gbench_state_threads(st), i = gbench_state_thread_index(st);
	uint64_t n = 0;

	CHECK(arg == (void *)body_arg);
	CHECK(a == 7 || a == 9);
	CHECK(t == 1 || t == 2);
	CHECK(i >= 0 && i < t);
	if (t >= 1 && t <= 2 && i >= 0 && i < t)
		atomic_fetch_or(&seen_arg, 1 << ((a == 9) * 3 + (t - 1) + i));
	while (gbench_state_keep_running(st)) {
		gbench_state_pause(st);
		n++;
		gbench_state_resume(st);
	}
	CHECK(n == gbench_state_iterations(st));
	CHECK(n > 0);
	gbench_state_set_items_processed(st, (int64_t)n);
	gbench_state_set_bytes_processed(st, (int64_t)n * 64);
	gbench_state_counter(st, "rate", (double)n, GBENCH_COUNTER_RATE);
	gbench_state_counter(st, "avg", (double)n,
			     GBENCH_COUNTER_AVG_THREADS | GBENCH_COUNTER_AVG_ITERATIONS);
	gbench_state_counter(st, "inv", (double)n, GBENCH_COUNTER_RATE | GBENCH_COUNTER_INVERT);
	gbench_state_counter(st, "ii", 1.0, GBENCH_COUNTER_ITERATION_INVARIANT);
	gbench_state_set_label(st, "label");
}

static void body_range(gbench_state *st, void *arg)
{
	int64_t a = gbench_state_range(st, 0);

	CHECK(a == 8 || a == 64);
	atomic_fetch_or(&seen_range, 1 << (a == 64));
	while (gbench_state_keep_running(st))
		;
}

static void body_args3(gbench_state *st, void *arg)
{
	CHECK(gbench_state_range(st, 0) == 1);
	CHECK(gbench_state_range(st, 1) == 2);
	CHECK(gbench_state_range(st, 2) == 3);
	atomic_fetch_add(&calls_args3, 1);
	while (gbench_state_keep_running(st))
		;
}

/* Options that only change reporting: min time, real time, unit. */
static void body_misc(gbench_state *st, void *arg)
{
	atomic_fetch_add(&calls_misc, 1);
	while (gbench_state_keep_running(st))
		;
}

static void body_skip(gbench_state *st, void *arg)
{
	atomic_fetch_add(&skip_calls, 1);
	gbench_state_skip_with_error(st, "skipped on purpose");
	while (gbench_state_keep_running(st))
		atomic_fetch_add(&skip_loops, 1);
}

static void body_batch(gbench_state *st, void *arg)
{
	uint64_t rounds = 0;

	atomic_fetch_add(&batch_calls, 1);
	while (gbench_state_keep_running_batch(st, 10))
		rounds++;
	/* Every true return counts (up to) 10 iterations; never fewer than one per round. */
	if (rounds == 0 || gbench_state_iterations(st) < rounds ||
	    gbench_state_iterations(st) > rounds * 10)
		atomic_fetch_add(&batch_bad, 1);
}

int main(int argc, char **argv)
{
	static const int64_t three[] = {1, 2, 3};
	gbench_bm *b;

	if (gbench_initialize(&argc, argv) < 0)
		return 2;
	CHECK(gbench_register(NULL, body_misc, NULL) == NULL);
	CHECK(gbench_register("x", NULL, NULL) == NULL);

	b = gbench_register("gbench_c/arg", body_arg, (void *)body_arg);
	CHECK(b != NULL);
	gbench_bm_arg(b, 7);
	gbench_bm_arg(b, 9);
	gbench_bm_threads(b, 1);
	gbench_bm_threads(b, 2);

	b = gbench_register("gbench_c/range", body_range, NULL);
	gbench_bm_range(b, 8, 64);

	b = gbench_register("gbench_c/args3", body_args3, NULL);
	gbench_bm_args(b, three, 3);

	b = gbench_register("gbench_c/misc", body_misc, NULL);
	gbench_bm_min_time(b, 0.001);
	gbench_bm_use_real_time(b);
	gbench_bm_unit(b, GBENCH_US);

	gbench_register("gbench_c/skip", body_skip, NULL);
	gbench_register("gbench_c/batch", body_batch, NULL);

	CHECK(gbench_run() == 2 * 2 + 2 + 1 + 1 + 1 + 1);
	gbench_shutdown();

	/* arg 7 and 9, each with 1 thread (index 0) and 2 threads (indexes 0 and 1). */
	CHECK(seen_arg == 0x3f);
	CHECK(seen_range == 3);
	CHECK(calls_args3 >= 1);
	CHECK(calls_misc >= 1);
	CHECK(skip_calls >= 1 && skip_loops == 0);
	CHECK(batch_calls >= 1 && batch_bad == 0);
	if (failures != 0) {
		fprintf(stderr, "gbench_c_test: %d check(s) failed\n", failures);
		return 1;
	}
	printf("gbench_c_test: all checks passed\n");
	return 0;
}
