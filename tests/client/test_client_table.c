/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmacache's lease index (client_table.h, struct dmac__ltab): open addressing
 * with linear probing, the records in the slots, removal by backward shift.
 *
 * Invariants checked:
 * - Against a reference model (a plain array of the ids present), over a long
 *   random sequence of inserts and removes: every present id is found with its
 *   own record, an absent one is not, count matches, the load stays <= 3/4.
 * - The probing invariant, read from the slots directly after every operation:
 *   from an entry's home slot to its slot, every slot is used (else a lookup
 *   would stop at the gap and miss it). A removal that forgot to shift an entry
 *   back breaks this at once.
 * - Clusters of ids with one home slot, including the last slot (probes wrap to
 *   slot 0), survive removal from their middle.
 * - Growth keeps every record; a growth whose allocation fails leaves the index
 *   as it was; nothing leaks.
 * The ids are drawn from a fixed seed (printed with any failure).
 */
#include <errno.h>
#include <string.h>

#define SEED	   UINT64_C(0x5eed0012)
#define CHECK_SEED SEED
#include "check.h"
#include "client_table.h"
#include "dmac_alloc.h"

#define MODEL_MAX 3000

static uint64_t rng = SEED;

static uint64_t next_rand(void)
{
	/* xorshift64*: any well-mixed sequence will do */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

/* The home slot of id in an index of 1 << shift slots (client_table.c's hash). */
static size_t home_of(unsigned int shift, uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - shift));
}

/* A non-zero id whose home slot is @p home, not in ids[0..n-1]. */
static uint64_t id_with_home(unsigned int shift, size_t home, const uint64_t *ids, size_t n)
{
	for (;;) {
		uint64_t id = next_rand();
		bool dup = !id;

		for (size_t i = 0; i < n && !dup; i++)
			dup = ids[i] == id;
		if (!dup && home_of(shift, id) == home)
			return id;
	}
}

/* The record an id carries in these tests: every field derived from it. */
static void fill(struct dmac__lease *l)
{
	l->generation = l->id ^ 0x1111;
	l->va = l->id << 12;
	l->length = 4096 + (l->id & 0xf000);
}

static bool rec_ok(const struct dmac__lease *l, uint64_t id)
{
	return l && l->id == id && l->generation == (id ^ 0x1111) && l->va == id << 12 &&
	       l->length == 4096 + (id & 0xf000) && l->mark == 0;
}

/* Every used slot is reached from its home through used slots only. */
static bool probing_ok(const struct dmac__ltab *t)
{
	size_t mask = ((size_t)1 << t->shift) - 1, used = 0;

	for (size_t j = 0; j <= mask; j++) {
		if (!t->slot[j].id)
			continue;
		used++;
		for (size_t k = home_of(t->shift, t->slot[j].id); k != j; k = (k + 1) & mask)
			if (!t->slot[k].id)
				return false;
	}
	return used == t->count && 4 * t->count <= 3 * (mask + 1);
}

static void insert_one(struct dmac__ltab *t, uint64_t id)
{
	struct dmac__lease *l;

	FATAL_IF(dmac__ltab_reserve(t, 1));
	l = dmac__ltab_insert(t, id);
	CHECK_EQ(l->id, id);
	fill(l);
}

/* A cluster at one home slot, emptied from the middle out; at the last slot it wraps. */
static void test_clusters(void)
{
	for (size_t home = 0; home < 16; home += 15) {
		struct dmac__ltab t;
		uint64_t ids[8];
		struct dmac__lease out;

		FATAL_IF(dmac__ltab_init(&t));
		CHECK_EQ(t.shift, 4);
		for (size_t i = 0; i < 8; i++) {
			ids[i] = id_with_home(4, home, ids, i);
			insert_one(&t, ids[i]);
		}
		CHECK_EQ(t.shift, 4); /* 8 of 16: no growth, one cluster of 8 */
		CHECK(probing_ok(&t));
		if (home == 15)
			CHECK_EQ(t.slot[0].id, ids[1]); /* the probe wrapped */
		for (size_t k = 0; k < 8; k++) {
			size_t i = (k * 5 + 3) % 8; /* 3, 0, 5, 2, 7, 4, 1, 6 */

			CHECK(dmac__ltab_remove(&t, ids[i], &out));
			CHECK(rec_ok(&out, ids[i]));
			CHECK(!dmac__ltab_remove(&t, ids[i], NULL));
			CHECK(dmac__ltab_find(&t, ids[i]) == NULL);
			CHECK(probing_ok(&t));
			for (size_t m = k + 1; m < 8; m++) {
				size_t r = (m * 5 + 3) % 8;

				CHECK(rec_ok(dmac__ltab_find(&t, ids[r]), ids[r]));
			}
		}
		CHECK_EQ(t.count, 0);
		dmac__ltab_fini(&t);
	}
}

/* Random inserts and removes against the model; growth along the way. */
static void test_model(void)
{
	static uint64_t model[MODEL_MAX], gone[MODEL_MAX];
	size_t n = 0, ngone = 0, grew = 0;
	struct dmac__ltab t;
	unsigned int shift;

	FATAL_IF(dmac__ltab_init(&t));
	shift = t.shift;
	for (int step = 0; step < 40000; step++) {
		uint64_t r = next_rand();
		/* grow to about 2000, then churn around it */
		bool ins = n < 8 || (n < MODEL_MAX && (r % 100) < (n < 2000 ? 70u : 50u));

		if (ins) {
			uint64_t id = next_rand();

			if (!id || dmac__ltab_find(&t, id))
				continue;
			insert_one(&t, id);
			model[n++] = id;
		} else {
			size_t i = (size_t)(r >> 8) % n;
			struct dmac__lease out;

			CHECK(dmac__ltab_remove(&t, model[i], &out));
			CHECK(rec_ok(&out, model[i]));
			gone[ngone++ % MODEL_MAX] = model[i];
			model[i] = model[--n];
		}
		CHECK_EQ(t.count, n);
		if (t.shift != shift) {
			grew++;
			shift = t.shift;
		}
		if (step % 97 == 0) {
			CHECK(probing_ok(&t));
			for (size_t i = 0; i < n; i++)
				CHECK(rec_ok(dmac__ltab_find(&t, model[i]), model[i]));
			for (size_t i = 0; i < ngone && i < MODEL_MAX; i++) {
				bool back = false;

				for (size_t k = 0; k < n && !back; k++)
					back = model[k] == gone[i];
				if (!back)
					CHECK(dmac__ltab_find(&t, gone[i]) == NULL);
			}
		}
	}
	CHECK(grew >= 7); /* 16 slots to 4096 at least */
	CHECK(probing_ok(&t));
	CHECK(dmac__ltab_find(&t, 0) == NULL);

	/* A growth that cannot allocate changes nothing. */
	{
		size_t count = t.count, room = 3 * ((size_t)1 << t.shift) / 4 - t.count;
		int64_t live = dmac__alloc_outstanding();

		dmac__fault_alloc_arm(1);
		CHECK_EQ(dmac__ltab_reserve(&t, room + 1), -ENOMEM);
		CHECK(dmac__fault_alloc_fired());
		dmac__fault_alloc_arm(0);
		CHECK_EQ(t.shift, shift);
		CHECK_EQ(t.count, count);
		CHECK_EQ(dmac__alloc_outstanding(), live);
		CHECK_EQ(dmac__ltab_reserve(&t, room), 0); /* fits: no allocation */
		CHECK_EQ(t.shift, shift);
		CHECK(probing_ok(&t));
		for (size_t i = 0; i < n; i++)
			CHECK(rec_ok(dmac__ltab_find(&t, model[i]), model[i]));
		CHECK_EQ(dmac__ltab_reserve(&t, SIZE_MAX), -ENOMEM);
	}

	dmac__ltab_clear(&t);
	CHECK_EQ(t.count, 0);
	for (size_t i = 0; i < n; i++)
		CHECK(dmac__ltab_find(&t, model[i]) == NULL);
	dmac__ltab_fini(&t);
	dmac__ltab_fini(&t); /* safe twice */
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();

	test_clusters();
	test_model();
	CHECK_EQ(dmac__alloc_outstanding(), base);
	return check_report("client_table");
}
