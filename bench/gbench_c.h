/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * A C API over Google Benchmark, so that benchmark bodies are written in C.
 *
 * Invariants:
 * - A gbench_state is a Google Benchmark State seen through an opaque pointer; it is
 *   only valid inside the body it was passed to, and only on the calling thread.
 * - A gbench_bm handle is valid from gbench_register() until gbench_shutdown();
 *   option setters must be called before gbench_run().
 * - Names are copied at registration; the user argument is not (it must stay valid
 *   until gbench_run() returns).
 * - The only C++ of the project lives in gbench_c.cc; nothing here throws.
 *
 * Typical use:
 * @code
 * static void body(gbench_state *st, void *arg)
 * {
 *	while (gbench_state_keep_running(st))
 *		work(arg);
 * }
 * int main(int argc, char **argv)
 * {
 *	if (gbench_initialize(&argc, argv) < 0)
 *		return 1;
 *	gbench_bm_threads(gbench_register("work", body, NULL), 2);
 *	gbench_run();
 *	gbench_shutdown();
 * }
 * @endcode
 */
#ifndef DMAC_BENCH_GBENCH_C_H
#define DMAC_BENCH_GBENCH_C_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque benchmark state (a benchmark::State). */
typedef struct gbench_state gbench_state;
/** Opaque registered benchmark (a benchmark::internal::Benchmark). */
typedef struct gbench_bm gbench_bm;

/** A benchmark body: called once per run on every benchmark thread. */
typedef void (*gbench_fn)(gbench_state *st, void *arg);

/** Counter flags, mirroring benchmark::Counter::Flags. */
enum gbench_counter_flags {
	GBENCH_COUNTER_DEFAULT = 0,
	/** Divide the value by the measured time: a rate per second. */
	GBENCH_COUNTER_RATE = 1 << 0,
	/** Divide the value by the number of threads. */
	GBENCH_COUNTER_AVG_THREADS = 1 << 1,
	/** Multiply the value by the number of iterations. */
	GBENCH_COUNTER_ITERATION_INVARIANT = 1 << 2,
	/** Divide the value by the number of iterations: an average per iteration. */
	GBENCH_COUNTER_AVG_ITERATIONS = 1 << 3,
	/** Report 1/value (e.g. seconds per item from a rate). */
	GBENCH_COUNTER_INVERT = 1 << 4,
};

/** Time unit for the report. */
enum gbench_unit {
	GBENCH_NS,
	GBENCH_US,
	GBENCH_MS,
	GBENCH_S,
};

/**
 * Parse Google Benchmark's own flags (--benchmark_filter, --benchmark_min_time,
 * --benchmark_format, ...) and remove them from @p argv.
 *
 * @param argc in: number of arguments; out: number left after removal.
 * @param argv the program's arguments; recognised ones are removed in place.
 * @return 0, or -EINVAL if an argument starting with "--benchmark" was not
 *	recognised (a message has been printed).
 * Concurrency: call once, from main, before any other gbench_ function.
 */
int gbench_initialize(int *argc, char **argv);

/**
 * Register a benchmark.
 *
 * @param name benchmark name (copied); Google Benchmark appends "/<arg>" for each
 *	argument and "/threads:<n>" when gbench_bm_threads() is used.
 * @param fn body, called on every thread of every run.
 * @param arg passed to @p fn unchanged; must outlive gbench_run().
 * @return the benchmark handle, or NULL if @p name or @p fn is NULL or memory ran out.
 * Concurrency: main thread only, before gbench_run().
 */
gbench_bm *gbench_register(const char *name, gbench_fn fn, void *arg);

/**
 * Run the benchmark with @p n threads (may be called several times: one run per
 * thread count). Ignored if @p b is NULL or @p n < 1.
 * Concurrency: main thread only, before gbench_run().
 */
void gbench_bm_threads(gbench_bm *b, int n);
/** Add a run with one argument, read with gbench_state_range(st, 0). Same contract. */
void gbench_bm_arg(gbench_bm *b, int64_t a);
/** Add a run with @p n arguments (n <= 8). Ignored if @p n is 0 or > 8. Same contract. */
void gbench_bm_args(gbench_bm *b, const int64_t *a, size_t n);
/** Add runs for a range of one argument (powers of 8 between lo and hi). Same contract. */
void gbench_bm_range(gbench_bm *b, int64_t lo, int64_t hi);
/** Minimum measuring time for each run, in seconds (> 0). Same contract. */
void gbench_bm_min_time(gbench_bm *b, double seconds);
/** Report (and size iterations on) wall-clock time rather than CPU time. Same contract. */
void gbench_bm_use_real_time(gbench_bm *b);
/** Report times in @p unit. Same contract. */
void gbench_bm_unit(gbench_bm *b, enum gbench_unit unit);

/**
 * Run every registered benchmark that matches --benchmark_filter, printing the
 * report to stdout (format per --benchmark_format).
 * @return the number of benchmarks run.
 * Concurrency: main thread only; calls the bodies on benchmark threads.
 */
size_t gbench_run(void);

/** Release everything Google Benchmark holds. Never fails. Main thread only, last. */
void gbench_shutdown(void);

/**
 * The timing loop: returns true while more iterations must be run. Counts one
 * iteration per call that returns true.
 * Concurrency: the thread that received @p st.
 */
bool gbench_state_keep_running(gbench_state *st);
/**
 * As gbench_state_keep_running() but counts @p n iterations per call, so a loop
 * body doing @p n operations reports time per operation. @p n >= 1.
 */
bool gbench_state_keep_running_batch(gbench_state *st, uint64_t n);
/** Stop the timer (the timer must be running). Calling thread only. */
void gbench_state_pause(gbench_state *st);
/** Restart the timer (the timer must be stopped). Calling thread only. */
void gbench_state_resume(gbench_state *st);
/** Argument @p i of this run (as registered). Calling thread only. */
int64_t gbench_state_range(const gbench_state *st, size_t i);
/** Index of the calling benchmark thread, 0 .. threads-1. */
int gbench_state_thread_index(const gbench_state *st);
/** Number of benchmark threads of this run. */
int gbench_state_threads(const gbench_state *st);
/** Iterations counted so far by this thread. */
uint64_t gbench_state_iterations(const gbench_state *st);
/** Items processed by this thread (reported as items_per_second). */
void gbench_state_set_items_processed(gbench_state *st, int64_t items);
/** Bytes processed by this thread (reported as bytes_per_second). */
void gbench_state_set_bytes_processed(gbench_state *st, int64_t bytes);
/**
 * Set counter @p name (copied) to @p value with @p flags (enum gbench_counter_flags).
 * Counters of all threads are summed before the flags are applied.
 */
void gbench_state_counter(gbench_state *st, const char *name, double value, unsigned flags);
/** Attach a label to this run's report line (copied). */
void gbench_state_set_label(gbench_state *st, const char *label);
/**
 * Mark this run as failed with @p msg (copied). If called before the loop, the
 * loop does not run; if called inside, the caller must leave the loop itself.
 */
void gbench_state_skip_with_error(gbench_state *st, const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_BENCH_GBENCH_C_H */
