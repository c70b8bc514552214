/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmacache's id tables, see client_table.h for the contract: a chained hash
 * (registrations) and an open-addressing index (leases), both power-of-two
 * sized with a multiplicative hash on the id.
 *
 * Invariants: bucket or slot count == 1 << shift, shift in [4, 60] (lease index:
 * [4, 57], so that its bytes fit a size_t); count is the
 * number of linked records (used slots); a rehash happens only in the reserve
 * calls. Lease index: count <= 3/4 of the slots, so a probe always meets an
 * empty slot; the entry in slot j with home slot k is reached by probing from k
 * through used slots only (linear probing, removal by backward shift).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

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

/* ---------------------------------------------------------------- lease index */

static size_t dmac__ltab_mask(const struct dmac__ltab *t)
{
	return ((size_t)1 << t->shift) - 1;
}

/* The most slots of 1 << shift that may be used: 3/4 of them. */
static size_t dmac__ltab_cap(unsigned int shift)
{
	return ((size_t)1 << shift) - ((size_t)1 << (shift - 2));
}

static struct dmac__lease *dmac__ltab_alloc(unsigned int shift)
{
	size_t bytes = ((size_t)1 << shift) * sizeof(struct dmac__lease);
	struct dmac__lease *s = dmac__aligned_alloc(64, bytes);

	if (s)
		memset(s, 0, bytes);
	return s;
}

int dmac__ltab_init(struct dmac__ltab *t)
{
	t->shift = 4;
	t->count = 0;
	t->slot = dmac__ltab_alloc(t->shift);
	return t->slot ? 0 : -ENOMEM;
}

void dmac__ltab_fini(struct dmac__ltab *t)
{
	dmac__free(t->slot);
	t->slot = NULL;
	t->count = 0;
}

int dmac__ltab_reserve(struct dmac__ltab *t, size_t extra)
{
	struct dmac__ltab nt = {.shift = t->shift, .count = 0};
	size_t need;

	if (__builtin_add_overflow(t->count, extra, &need))
		return -ENOMEM;
	while (dmac__ltab_cap(nt.shift) < need) {
		if (nt.shift >= 57) /* (1 << 57) * 64 bytes: the most a size_t counts */
			return -ENOMEM;
		nt.shift++;
	}
	if (nt.shift == t->shift)
		return 0;
	nt.slot = dmac__ltab_alloc(nt.shift);
	if (!nt.slot)
		return -ENOMEM;
	for (size_t i = 0; i <= dmac__ltab_mask(t); i++)
		if (t->slot[i].id)
			*dmac__ltab_insert(&nt, t->slot[i].id) = t->slot[i];
	dmac__free(t->slot);
	*t = nt;
	return 0;
}

struct dmac__lease *dmac__ltab_insert(struct dmac__ltab *t, uint64_t id)
{
	size_t mask = dmac__ltab_mask(t), i = dmac__slot(t->shift, id);

	while (t->slot[i].id)
		i = (i + 1) & mask;
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
	t->slot[i].id = id;
	t->count++;
	return &t->slot[i];
}

struct dmac__lease *dmac__ltab_find(const struct dmac__ltab *t, uint64_t id)
{
	size_t mask = dmac__ltab_mask(t), i = dmac__slot(t->shift, id);

	if (!id)
		return NULL;
	for (; t->slot[i].id; i = (i + 1) & mask)
		if (t->slot[i].id == id)
			return &t->slot[i];
	return NULL;
}

bool dmac__ltab_remove(struct dmac__ltab *t, uint64_t id, struct dmac__lease *out)
{
	struct dmac__lease *hit = dmac__ltab_find(t, id);
	size_t mask = dmac__ltab_mask(t), i, j;

	if (!hit)
		return false;
	if (out)
		*out = *hit;
	/*
	 * Backward shift: the hole at i takes the next entry that may live there
	 * (its home slot is not cyclically inside (i, j]), until an empty slot.
	 */
	i = (size_t)(hit - t->slot);
	for (j = (i + 1) & mask; t->slot[j].id; j = (j + 1) & mask) {
		size_t home = dmac__slot(t->shift, t->slot[j].id);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
	t->count--;
	return true;
}

void dmac__ltab_clear(struct dmac__ltab *t)
{
	if (t->slot && t->count)
		memset(t->slot, 0, ((size_t)1 << t->shift) * sizeof(*t->slot));
	t->count = 0;
}
