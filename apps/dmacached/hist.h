/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fixed log2 histogram of durations in nanoseconds (the lease-latency
 * histogram of ADMIN_HISTOGRAM, docs/protocol.md 6.13).
 *
 * Invariants: bucket i (0 <= i < DMD_HIST_NBUCKETS - 1) counts the values v
 * with 2^(DMD_HIST_MIN_SHIFT + i - 1) < v <= 2^(DMD_HIST_MIN_SHIFT + i)
 * (bucket 0 also every v below); the last bucket counts everything above
 * (+Inf). count is the sum of the buckets; sum wraps at 2^64 (584 years of
 * nanoseconds). Adding is O(1): a count-leading-zeros, no loop.
 * Concurrency: caller serializes (the event-loop thread).
 */
#ifndef DMD_HIST_H
#define DMD_HIST_H

#include <stdint.h>

/** Histogram ids (= the protocol's DMAC_PROTO_HIST_*). */
#define DMD_HIST_LEASE 1u

/** First bucket: <= 2^9 ns (512 ns). */
#define DMD_HIST_MIN_SHIFT 9u
/** 2^9 .. 2^34 ns (about 17 s), then +Inf. */
#define DMD_HIST_NBUCKETS 27u

struct dmd_hist {
	uint64_t count, sum;
	uint64_t buckets[DMD_HIST_NBUCKETS];
};

/** Count one value @p v. Never fails. */
void dmd_hist_add(struct dmd_hist *h, uint64_t v);

/** Upper bound (inclusive) of bucket @p i; UINT64_MAX for the last one. */
uint64_t dmd_hist_le(unsigned int i);

#endif /* DMD_HIST_H */
