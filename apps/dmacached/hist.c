/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log2 histogram of hist.h.
 */
#include "hist.h"

_Static_assert(DMD_HIST_MIN_SHIFT + DMD_HIST_NBUCKETS - 2 < 64, "finite bounds fit 64 bits");

/* The bucket of v: the smallest i with v <= 2^(MIN_SHIFT + i), else the last. */
static unsigned int dmd__hist_index(uint64_t v)
{
	unsigned int k;

	if (v <= (UINT64_C(1) << DMD_HIST_MIN_SHIFT))
		return 0;
	k = 64u - (unsigned int)__builtin_clzll(v - 1); /* ceil(log2(v)), v >= 2 */
	k -= DMD_HIST_MIN_SHIFT;
	return k < DMD_HIST_NBUCKETS - 1 ? k : DMD_HIST_NBUCKETS - 1;
}

void dmd_hist_add(struct dmd_hist *h, uint64_t v)
{
	h->buckets[dmd__hist_index(v)]++;
	h->count++;
	h->sum += v;
}

uint64_t dmd_hist_le(unsigned int i)
{
	if (i >= DMD_HIST_NBUCKETS - 1)
		return UINT64_MAX;
	return UINT64_C(1) << (DMD_HIST_MIN_SHIFT + i);
}
