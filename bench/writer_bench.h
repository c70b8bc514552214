/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writer benchmarks of dmacache-bench: the cost of one insert and one remove in a
 * map that already holds N intervals (see writer_bench.c).
 *
 * Invariants: the maps are built lazily by the first run of each benchmark, outside
 * the timed loop, and kept until dmac__bench_writer_teardown(); a run leaves its map
 * with the N intervals it found.
 */
#ifndef DMAC_BENCH_WRITER_BENCH_H
#define DMAC_BENCH_WRITER_BENCH_H

/**
 * Register write/<impl>/<intervals>/<bytes> for impl imap, imap_v1, radix2.
 * @return 0 or -ENOMEM (reported on stderr).
 * Concurrency: main thread, before gbench_run().
 */
int dmac__bench_writer_register(void);
/** Free every map built by the writer benchmarks. Never fails. Registered RCU thread. */
void dmac__bench_writer_teardown(void);

#endif /* DMAC_BENCH_WRITER_BENCH_H */
