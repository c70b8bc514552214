/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared pieces of dmacache-bench: the interval layout every translate peer is
 * built from, the per-thread address sets, and the peers' entry points.
 *
 * Invariants:
 * - An interval is [start, last] with 'last' inclusive; start, size and iova are
 *   multiples of 2 MiB; intervals are sorted by start and never touch (there is a
 *   gap of at least 2 MiB between two of them), all inside [DMAC__BENCH_VA_BASE,
 *   2^47).
 * - A translation maps start + k to iova + k for every k <= last - start.
 * - "Miss" is DMAC__BENCH_NONE (UINT64_MAX) for every bench-local peer.
 * - Layouts and address sets are built once in main, before any benchmark runs,
 *   and are read-only afterwards (shared by benchmark threads without locks).
 */
#ifndef DMAC_BENCH_BENCH_H
#define DMAC_BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define DMAC__BENCH_2M	      (UINT64_C(2) << 20)
#define DMAC__BENCH_2M_MASK   (DMAC__BENCH_2M - 1)
#define DMAC__BENCH_RANGE     (UINT64_C(8) << 20) /* ranged lookups: 8 MiB */
#define DMAC__BENCH_VA_BASE   (UINT64_C(1) << 44) /* 16 TiB */
#define DMAC__BENCH_VA_LIMIT  (UINT64_C(1) << 47) /* exclusive */
#define DMAC__BENCH_IOVA_BASE (UINT64_C(1) << 32)
#define DMAC__BENCH_NONE      UINT64_MAX
/* Addresses per thread: a power of two, stepped through in order. */
#define DMAC__BENCH_NADDR 16384u

/** One mapped interval. */
struct dmac__bench_ival {
	uint64_t start; /**< first VA, 2 MiB aligned */
	uint64_t last;	/**< last VA, inclusive */
	uint64_t iova;	/**< IOVA of start, 2 MiB aligned */
};

/** N intervals sorted by start. */
struct dmac__bench_layout {
	size_t n;
	struct dmac__bench_ival *iv;
};

/** splitmix64: a small seeded generator (the state is the caller's). */
static inline uint64_t dmac__bench_rand(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/**
 * Build a layout of @p n intervals from @p seed: sizes and gaps uniform in
 * 2 MiB .. 64 MiB (2 MiB steps) from DMAC__BENCH_VA_BASE up, IOVAs handed out
 * back to back from DMAC__BENCH_IOVA_BASE in a shuffled order.
 * @return 0, -EINVAL if @p n is 0 or the layout would not fit under 2^47,
 *	-ENOMEM.
 * Concurrency: none (main thread, before the benchmarks).
 */
int dmac__bench_layout_make(struct dmac__bench_layout *l, size_t n, uint64_t seed);
/** Free a layout built by dmac__bench_layout_make(). Never fails. */
void dmac__bench_layout_free(struct dmac__bench_layout *l);
/**
 * Reference translation by binary search over the layout (used to check the
 * peers). @return the IOVA of @p va or DMAC__BENCH_NONE; *len = bytes mapped
 * contiguously from @p va, clipped to @p max_len (0: no clip), 0 on a miss.
 */
uint64_t dmac__bench_layout_translate(const struct dmac__bench_layout *l, uint64_t va,
				      uint64_t max_len, uint64_t *len);
/**
 * Fill @p out with @p n random addresses, each inside a mapped interval (an
 * interval chosen uniformly, then an offset uniform in it).
 */
void dmac__bench_layout_addrs(const struct dmac__bench_layout *l, uint64_t seed, uint64_t *out,
			      size_t n);

/* radix2.h / radix2.c: the two-level radix table of the SPDK kind. */
struct dmac__radix2;

/* rwlock_tree.c: a sorted array under a pthread rwlock (see rwlock_tree.c). */
struct dmac__rwtree;
int dmac__rwtree_create(struct dmac__rwtree **out, size_t capacity);
int dmac__rwtree_insert(struct dmac__rwtree *t, uint64_t start, uint64_t last, uint64_t iova);
uint64_t dmac__rwtree_translate(struct dmac__rwtree *t, uint64_t va, uint64_t max_len,
				uint64_t *len);
void dmac__rwtree_destroy(struct dmac__rwtree *t);

#endif /* DMAC_BENCH_BENCH_H */
