/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmacache's id tables: chained hash, power-of-two buckets, multiplicative
 * hash on the id. See client_table.h for the contract.
 *
 * Invariants: bucket count == 1 << shift, shift in [4, 60]; count is the number
 * of linked records; a rehash happens only in dmac__table_reserve().
 */
#include <errno.h>
#include <stdbool.h>

#include "client_table.h"
#include "dmac_alloc.h"

static size_t dmac__slot(unsigned int shift, uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - shift));
}

int dmac__table_init(struct dmac__table *t)
{
	t->shift = 4;
	t->count = 0;
	t->bucket = dmac__calloc((size_t)1 << t->shift, sizeof(*t->bucket));
	return t->bucket ? 0 : -ENOMEM;
}

void dmac__table_fini(struct dmac__table *t)
{
	dmac__free(t->bucket);
	t->bucket = NULL;
	t->count = 0;
}

int dmac__table_reserve(struct dmac__table *t, size_t extra)
{
	struct dmac__rec **nb;
	unsigned int shift = t->shift;
	size_t need;

	if (__builtin_add_overflow(t->count, extra, &need))
		return -ENOMEM;
	while (((size_t)1 << shift) < need) {
		if (shift >= 60)
			return -ENOMEM;
		shift++;
	}
	if (shift == t->shift)
		return 0;
	nb = dmac__calloc((size_t)1 << shift, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	for (size_t i = 0; i < ((size_t)1 << t->shift); i++) {
		struct dmac__rec *r = t->bucket[i], *next;

		for (; r; r = next) {
			size_t s = dmac__slot(shift, r->id);

			next = r->next;
			r->next = nb[s];
			nb[s] = r;
		}
	}
	dmac__free(t->bucket);
	t->bucket = nb;
	t->shift = shift;
	return 0;
}

void dmac__table_insert(struct dmac__table *t, struct dmac__rec *r)
{
	size_t s = dmac__slot(t->shift, r->id);

	r->next = t->bucket[s];
	t->bucket[s] = r;
	t->count++;
}

struct dmac__rec *dmac__table_find(const struct dmac__table *t, uint64_t id)
{
	struct dmac__rec *r = t->bucket[dmac__slot(t->shift, id)];

	while (r && r->id != id)
		r = r->next;
	return r;
}

struct dmac__rec *dmac__table_remove(struct dmac__table *t, uint64_t id)
{
	struct dmac__rec **pp = &t->bucket[dmac__slot(t->shift, id)], *r;

	for (; (r = *pp); pp = &r->next) {
		if (r->id == id) {
			*pp = r->next;
			r->next = NULL;
			t->count--;
			return r;
		}
	}
	return NULL;
}

void dmac__table_drain(struct dmac__table *t, void (*fn)(struct dmac__rec *r))
{
	if (!t->bucket)
		return;
	for (size_t i = 0; i < ((size_t)1 << t->shift); i++) {
		struct dmac__rec *r = t->bucket[i], *next;

		t->bucket[i] = NULL;
		for (; r; r = next) {
			next = r->next;
			r->next = NULL;
			fn(r);
		}
	}
	t->count = 0;
}
