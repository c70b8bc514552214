/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The interval layout shared by the translate peers of dmacache-bench, and the
 * random address sets the benchmark threads step through.
 *
 * Invariants (see bench.h): intervals sorted by start, [start, last] with 'last'
 * inclusive, everything 2 MiB aligned, a gap of 2 MiB .. 64 MiB before every
 * interval, sizes 2 MiB .. 64 MiB, all below 2^47. IOVAs are allocated back to back
 * in a shuffled order, so IOVA order is unrelated to VA order (as when memory is
 * registered piecemeal), and neighbours in VA are never IOVA-contiguous across a
 * gap since a gap always separates them in VA.
 */
#include <errno.h>
#include <string.h>

#include "bench.h"
#include "dmac_alloc.h"

#define STEPS 32 /* sizes and gaps: 1..32 units of 2 MiB */

int dmac__bench_layout_make(struct dmac__bench_layout *l, size_t n, uint64_t seed)
{
	struct dmac__bench_ival *iv;
	size_t *perm;
	uint64_t s = seed, va = DMAC__BENCH_VA_BASE, iova = DMAC__BENCH_IOVA_BASE;
	size_t i;
	int ret;

	if (n == 0 ||
	    n > (DMAC__BENCH_VA_LIMIT - DMAC__BENCH_VA_BASE) / (2 * STEPS * DMAC__BENCH_2M))
		return -EINVAL;
	iv = dmac__calloc(n, sizeof(*iv));
	if (iv == NULL)
		return -ENOMEM;
	perm = dmac__calloc(n, sizeof(*perm));
	if (perm == NULL) {
		ret = -ENOMEM;
		goto free_iv;
	}
	/* n is bounded above so that n * 2 * 64 MiB fits: no overflow, no limit check. */
	for (i = 0; i < n; i++) {
		uint64_t gap = (1 + dmac__bench_rand(&s) % STEPS) * DMAC__BENCH_2M;
		uint64_t size = (1 + dmac__bench_rand(&s) % STEPS) * DMAC__BENCH_2M;

		va += gap;
		iv[i].start = va;
		iv[i].last = va + size - 1;
		va += size;
		perm[i] = i;
	}
	for (i = n - 1; i > 0; i--) {
		size_t j = dmac__bench_rand(&s) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n; i++) {
		struct dmac__bench_ival *p = &iv[perm[i]];

		p->iova = iova;
		iova += p->last - p->start + 1;
	}
	dmac__free(perm);
	l->n = n;
	l->iv = iv;
	return 0;

free_iv:
	dmac__free(iv);
	return ret;
}

void dmac__bench_layout_free(struct dmac__bench_layout *l)
{
	dmac__free(l->iv);
	l->iv = NULL;
	l->n = 0;
}

uint64_t dmac__bench_layout_translate(const struct dmac__bench_layout *l, uint64_t va,
				      uint64_t max_len, uint64_t *len)
{
	size_t lo = 0, hi = l->n;

	/* Find the last interval whose start is <= va. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->iv[mid].start <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || va > l->iv[lo - 1].last) {
		*len = 0;
		return DMAC__BENCH_NONE;
	}
	const struct dmac__bench_ival *p = &l->iv[lo - 1];
	uint64_t avail = p->last - va + 1;

	*len = (max_len != 0 && avail > max_len) ? max_len : avail;
	return p->iova + (va - p->start);
}

void dmac__bench_layout_addrs(const struct dmac__bench_layout *l, uint64_t seed, uint64_t *out,
			      size_t n)
{
	uint64_t s = seed;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct dmac__bench_ival *p = &l->iv[dmac__bench_rand(&s) % l->n];

		out[i] = p->start + dmac__bench_rand(&s) % (p->last - p->start + 1);
	}
}
