/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * radix2: the reference peer of the translate benchmark, a two-level radix table
 * of the kind SPDK uses for vtophys (written here from that description). The
 * lookups are static inline, so the benchmark loop inlines them exactly as it
 * inlines dmac_imap_translate() from dmac/imap.h: neither side pays a call.
 *
 * Invariants:
 * - The VA space is 48 bits. The top table has 2^18 pointers, indexed by va >> 30
 *   (one per GiB); a second-level table has 512 uint64_t entries indexed by
 *   (va >> 21) & 511 (one per 2 MiB page).
 * - An entry holds the IOVA of its 2 MiB page, or DMAC__BENCH_NONE: a page is
 *   either wholly mapped or not mapped at all. translate(va) = entry + (va & 2 MiB-1).
 * - Second-level tables are allocated on the first map of their GiB and only freed
 *   by destroy.
 * - Lookups take no lock and assume the table is not being modified (as SPDK's map
 *   is read); in the benchmark the table is built before any lookup.
 */
#ifndef DMAC_BENCH_RADIX2_H
#define DMAC_BENCH_RADIX2_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#define DMAC__RADIX2_VA_BITS  48
#define DMAC__RADIX2_L1_SHIFT 30
#define DMAC__RADIX2_L1_SIZE  (UINT64_C(1) << (DMAC__RADIX2_VA_BITS - DMAC__RADIX2_L1_SHIFT))
#define DMAC__RADIX2_L2_SHIFT 21
#define DMAC__RADIX2_L2_SIZE  512

struct dmac__radix2 {
	uint64_t *l1[DMAC__RADIX2_L1_SIZE];
};

/** Create an empty table. @return 0 or -ENOMEM. */
int dmac__radix2_create(struct dmac__radix2 **out);
/**
 * Map [va, va + len) to [iova, iova + len); all three must be 2 MiB multiples and
 * va + len must not pass 2^48. @return 0, -EINVAL or -ENOMEM (pages mapped before
 * the failure stay mapped; the benchmark destroys the table on any error).
 * Not safe against concurrent lookups.
 */
int dmac__radix2_map(struct dmac__radix2 *m, uint64_t va, uint64_t len, uint64_t iova);
/**
 * Unmap the 2 MiB pages of [va, va + len) (in place, as SPDK's map is changed; the
 * second-level tables stay). Same arguments as dmac__radix2_map(); never fails.
 * Not safe against concurrent lookups.
 */
void dmac__radix2_unmap(struct dmac__radix2 *m, uint64_t va, uint64_t len);
/** Bytes of the table: the top and every second-level table. */
size_t dmac__radix2_memory(const struct dmac__radix2 *m);
/** Free the table and all second-level tables. Never fails; no lookup may run. */
void dmac__radix2_destroy(struct dmac__radix2 *m);

/* The IOVA of the 2 MiB page holding va, or DMAC__BENCH_NONE. */
static inline uint64_t dmac__radix2_page(const struct dmac__radix2 *m, uint64_t va)
{
	const uint64_t *l2;

	if (va >> DMAC__RADIX2_VA_BITS)
		return DMAC__BENCH_NONE;
	l2 = m->l1[va >> DMAC__RADIX2_L1_SHIFT];
	if (l2 == NULL)
		return DMAC__BENCH_NONE;
	return l2[(va >> DMAC__RADIX2_L2_SHIFT) & (DMAC__RADIX2_L2_SIZE - 1)];
}

/** The IOVA of va or DMAC__BENCH_NONE. Lock-free; see the file comment. */
static inline uint64_t dmac__radix2_translate(const struct dmac__radix2 *m, uint64_t va)
{
	uint64_t e = dmac__radix2_page(m, va);

	if (e == DMAC__BENCH_NONE)
		return e;
	return e + (va & DMAC__BENCH_2M_MASK);
}

/**
 * The IOVA of va (or DMAC__BENCH_NONE, *len = 0) and in *len the bytes from va
 * that are IOVA-contiguous, walking 2 MiB entries, clipped to max_len
 * (max_len > 0). Lock-free; see the file comment.
 */
static inline uint64_t dmac__radix2_translate_range(const struct dmac__radix2 *m, uint64_t va,
						    uint64_t max_len, uint64_t *len)
{
	uint64_t e = dmac__radix2_page(m, va), page = va & ~DMAC__BENCH_2M_MASK, next, got;

	if (e == DMAC__BENCH_NONE) {
		*len = 0;
		return e;
	}
	got = DMAC__BENCH_2M - (va & DMAC__BENCH_2M_MASK);
	for (next = e + DMAC__BENCH_2M; got < max_len; next += DMAC__BENCH_2M) {
		page += DMAC__BENCH_2M;
		if (dmac__radix2_page(m, page) != next)
			break;
		got += DMAC__BENCH_2M;
	}
	*len = got < max_len ? got : max_len;
	return e + (va & DMAC__BENCH_2M_MASK);
}

#endif /* DMAC_BENCH_RADIX2_H */
