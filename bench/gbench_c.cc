/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gbench_c: the C API of gbench_c.h over Google Benchmark (the only C++ file of
 * the project).
 *
 * Invariants:
 * - gbench_state * is a benchmark::State * and gbench_bm * a
 *   benchmark::internal::Benchmark *; both are only reinterpreted, never owned here.
 * - No exception crosses the C boundary: registration catches std::bad_alloc and
 *   returns NULL; nothing else here throws.
 */
#include "gbench_c.h"

#include <benchmark/benchmark.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace
{

benchmark::State *S(gbench_state *st)
{
	return reinterpret_cast<benchmark::State *>(st);
}

const benchmark::State *S(const gbench_state *st)
{
	return reinterpret_cast<const benchmark::State *>(st);
}

benchmark::internal::Benchmark *B(gbench_bm *b)
{
	return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

} // namespace

extern "C" {

int gbench_initialize(int *argc, char **argv)
{
	benchmark::Initialize(argc, argv);
	for (int i = 1; i < *argc; i++) {
		if (std::strncmp(argv[i], "--benchmark", 11) == 0) {
			std::fprintf(stderr, "%s: unrecognized benchmark flag '%s'\n", argv[0],
				     argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

gbench_bm *gbench_register(const char *name, gbench_fn fn, void *arg)
{
	if (name == nullptr || fn == nullptr)
		return nullptr;
	try {
		auto *b = benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &s) {
			fn(reinterpret_cast<gbench_state *>(&s), arg);
		});
		return reinterpret_cast<gbench_bm *>(b);
	} catch (const std::bad_alloc &) {
		return nullptr;
	}
}

void gbench_bm_threads(gbench_bm *b, int n)
{
	if (b != nullptr && n >= 1)
		B(b)->Threads(n);
}

void gbench_bm_arg(gbench_bm *b, int64_t a)
{
	if (b != nullptr)
		B(b)->Arg(a);
}

void gbench_bm_args(gbench_bm *b, const int64_t *a, size_t n)
{
	if (b == nullptr || a == nullptr || n == 0 || n > 8)
		return;
	std::vector<int64_t> v(a, a + n);
	B(b)->Args(v);
}

void gbench_bm_range(gbench_bm *b, int64_t lo, int64_t hi)
{
	if (b != nullptr && lo <= hi)
		B(b)->Range(lo, hi);
}

void gbench_bm_min_time(gbench_bm *b, double seconds)
{
	if (b != nullptr && seconds > 0)
		B(b)->MinTime(seconds);
}

void gbench_bm_use_real_time(gbench_bm *b)
{
	if (b != nullptr)
		B(b)->UseRealTime();
}

void gbench_bm_unit(gbench_bm *b, enum gbench_unit unit)
{
	static const benchmark::TimeUnit units[] = {
	    benchmark::kNanosecond,
	    benchmark::kMicrosecond,
	    benchmark::kMillisecond,
	    benchmark::kSecond,
	};
	if (b != nullptr && unit >= GBENCH_NS && unit <= GBENCH_S)
		B(b)->Unit(units[unit]);
}

size_t gbench_run(void)
{
	return benchmark::RunSpecifiedBenchmarks();
}

void gbench_shutdown(void)
{
	benchmark::Shutdown();
}

bool gbench_state_keep_running(gbench_state *st)
{
	return S(st)->KeepRunning();
}

bool gbench_state_keep_running_batch(gbench_state *st, uint64_t n)
{
	return S(st)->KeepRunningBatch(static_cast<benchmark::IterationCount>(n));
}

void gbench_state_pause(gbench_state *st)
{
	S(st)->PauseTiming();
}

void gbench_state_resume(gbench_state *st)
{
	S(st)->ResumeTiming();
}

int64_t gbench_state_range(const gbench_state *st, size_t i)
{
	return S(st)->range(i);
}

int gbench_state_thread_index(const gbench_state *st)
{
	return S(st)->thread_index();
}

int gbench_state_threads(const gbench_state *st)
{
	return S(st)->threads();
}

uint64_t gbench_state_iterations(const gbench_state *st)
{
	return static_cast<uint64_t>(S(st)->iterations());
}

void gbench_state_set_items_processed(gbench_state *st, int64_t items)
{
	S(st)->SetItemsProcessed(items);
}

void gbench_state_set_bytes_processed(gbench_state *st, int64_t bytes)
{
	S(st)->SetBytesProcessed(bytes);
}

void gbench_state_counter(gbench_state *st, const char *name, double value, unsigned flags)
{
	unsigned f = 0;

	if (flags & GBENCH_COUNTER_RATE)
		f |= benchmark::Counter::kIsRate;
	if (flags & GBENCH_COUNTER_AVG_THREADS)
		f |= benchmark::Counter::kAvgThreads;
	if (flags & GBENCH_COUNTER_ITERATION_INVARIANT)
		f |= benchmark::Counter::kIsIterationInvariant;
	if (flags & GBENCH_COUNTER_AVG_ITERATIONS)
		f |= benchmark::Counter::kAvgIterations;
	if (flags & GBENCH_COUNTER_INVERT)
		f |= benchmark::Counter::kInvert;
	S(st)->counters[name] =
	    benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(f));
}

void gbench_state_set_label(gbench_state *st, const char *label)
{
	S(st)->SetLabel(label);
}

void gbench_state_skip_with_error(gbench_state *st, const char *msg)
{
	S(st)->SkipWithError(msg);
}

} /* extern "C" */
