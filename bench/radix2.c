/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * radix2: the reference peer of the translate benchmark, a two-level radix table
 * of the kind SPDK uses for vtophys (written here from that description).
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
#include <errno.h>
#include <string.h>

#include "bench.h"
#include "dmac_alloc.h"

#define VA_BITS	 48
#define L1_SHIFT 30
#define L1_SIZE	 (UINT64_C(1) << (VA_BITS - L1_SHIFT)) /* 2^18 */
#define L2_SHIFT 21
#define L2_SIZE	 512

struct dmac__radix2 {
	uint64_t *l1[L1_SIZE];
};

int dmac__radix2_create(struct dmac__radix2 **out)
{
	struct dmac__radix2 *m = dmac__calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	*out = m;
	return 0;
}

/*
 * Map [va, va + len) to [iova, iova + len); all three must be 2 MiB multiples and
 * va + len must not pass 2^48. Returns 0, -EINVAL or -ENOMEM (pages mapped before
 * the failure stay mapped; the benchmark destroys the table on any error).
 * Not safe against concurrent lookups.
 */
int dmac__radix2_map(struct dmac__radix2 *m, uint64_t va, uint64_t len, uint64_t iova)
{
	uint64_t off;

	if (((va | len | iova) & DMAC__BENCH_2M_MASK) != 0 || len == 0 ||
	    va >= (UINT64_C(1) << VA_BITS) || len > (UINT64_C(1) << VA_BITS) - va ||
	    iova > DMAC__BENCH_NONE - len)
		return -EINVAL;
	for (off = 0; off < len; off += DMAC__BENCH_2M) {
		uint64_t a = va + off;
		uint64_t **slot = &m->l1[a >> L1_SHIFT];

		if (*slot == NULL) {
			uint64_t *l2 = dmac__malloc(L2_SIZE * sizeof(*l2));
			size_t i;

			if (l2 == NULL)
				return -ENOMEM;
			for (i = 0; i < L2_SIZE; i++)
				l2[i] = DMAC__BENCH_NONE;
			*slot = l2;
		}
		(*slot)[(a >> L2_SHIFT) & (L2_SIZE - 1)] = iova + off;
	}
	return 0;
}

/* The IOVA of the 2 MiB page holding va, or DMAC__BENCH_NONE. */
static inline uint64_t page_entry(const struct dmac__radix2 *m, uint64_t va)
{
	const uint64_t *l2;

	if (va >> VA_BITS)
		return DMAC__BENCH_NONE;
	l2 = m->l1[va >> L1_SHIFT];
	if (l2 == NULL)
		return DMAC__BENCH_NONE;
	return l2[(va >> L2_SHIFT) & (L2_SIZE - 1)];
}

/* Returns the IOVA of va or DMAC__BENCH_NONE. Lock-free; see the file comment. */
uint64_t dmac__radix2_translate(const struct dmac__radix2 *m, uint64_t va)
{
	uint64_t e = page_entry(m, va);

	if (e == DMAC__BENCH_NONE)
		return e;
	return e + (va & DMAC__BENCH_2M_MASK);
}

/*
 * Returns the IOVA of va (or DMAC__BENCH_NONE, *len = 0) and in *len the bytes
 * from va that are IOVA-contiguous, walking 2 MiB entries, clipped to max_len
 * (max_len > 0). Lock-free; see the file comment.
 */
uint64_t dmac__radix2_translate_range(const struct dmac__radix2 *m, uint64_t va, uint64_t max_len,
				      uint64_t *len)
{
	uint64_t e = page_entry(m, va), page = va & ~DMAC__BENCH_2M_MASK, next, got;

	if (e == DMAC__BENCH_NONE) {
		*len = 0;
		return e;
	}
	got = DMAC__BENCH_2M - (va & DMAC__BENCH_2M_MASK);
	for (next = e + DMAC__BENCH_2M; got < max_len; next += DMAC__BENCH_2M) {
		page += DMAC__BENCH_2M;
		if (page_entry(m, page) != next)
			break;
		got += DMAC__BENCH_2M;
	}
	*len = got < max_len ? got : max_len;
	return e + (va & DMAC__BENCH_2M_MASK);
}

/* Free the table and all second-level tables. Never fails; no lookup may run. */
void dmac__radix2_destroy(struct dmac__radix2 *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < L1_SIZE; i++)
		dmac__free(m->l1[i]);
	dmac__free(m);
}
