/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * radix2: building and freeing the two-level radix table; the lookups are inline
 * in radix2.h, whose comment states the invariants.
 */
#include <errno.h>
#include <string.h>

#include "dmac_alloc.h"
#include "radix2.h"

int dmac__radix2_create(struct dmac__radix2 **out)
{
	struct dmac__radix2 *m = dmac__calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	*out = m;
	return 0;
}

int dmac__radix2_map(struct dmac__radix2 *m, uint64_t va, uint64_t len, uint64_t iova)
{
	uint64_t off;

	if (((va | len | iova) & DMAC__BENCH_2M_MASK) != 0 || len == 0 ||
	    va >= (UINT64_C(1) << DMAC__RADIX2_VA_BITS) ||
	    len > (UINT64_C(1) << DMAC__RADIX2_VA_BITS) - va || iova > DMAC__BENCH_NONE - len)
		return -EINVAL;
	for (off = 0; off < len; off += DMAC__BENCH_2M) {
		uint64_t a = va + off;
		uint64_t **slot = &m->l1[a >> DMAC__RADIX2_L1_SHIFT];

		if (*slot == NULL) {
			uint64_t *l2 = dmac__malloc(DMAC__RADIX2_L2_SIZE * sizeof(*l2));
			size_t i;

			if (l2 == NULL)
				return -ENOMEM;
			for (i = 0; i < DMAC__RADIX2_L2_SIZE; i++)
				l2[i] = DMAC__BENCH_NONE;
			*slot = l2;
		}
		(*slot)[(a >> DMAC__RADIX2_L2_SHIFT) & (DMAC__RADIX2_L2_SIZE - 1)] = iova + off;
	}
	return 0;
}

void dmac__radix2_unmap(struct dmac__radix2 *m, uint64_t va, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += DMAC__BENCH_2M) {
		uint64_t a = va + off, *l2 = m->l1[a >> DMAC__RADIX2_L1_SHIFT];

		if (l2 != NULL)
			l2[(a >> DMAC__RADIX2_L2_SHIFT) & (DMAC__RADIX2_L2_SIZE - 1)] =
			    DMAC__BENCH_NONE;
	}
}

size_t dmac__radix2_memory(const struct dmac__radix2 *m)
{
	size_t bytes = sizeof(*m);

	for (size_t i = 0; i < DMAC__RADIX2_L1_SIZE; i++)
		if (m->l1[i] != NULL)
			bytes += DMAC__RADIX2_L2_SIZE * sizeof(uint64_t);
	return bytes;
}

void dmac__radix2_destroy(struct dmac__radix2 *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < DMAC__RADIX2_L1_SIZE; i++)
		dmac__free(m->l1[i]);
	dmac__free(m);
}
