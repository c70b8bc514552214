/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_imap: normal cases, boundaries, every error, contiguity, batch atomicity, abort,
 * ordered iteration and the memory cost of a realistic layout.
 *
 * Invariants checked: 'last' is inclusive everywhere; lookups see exactly the
 * committed intervals; a failed or aborted batch publishes nothing; keys below and
 * above the 2^48 index window behave the same.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <urcu/urcu-memb.h>

#include "dmac/imap.h"
#include "dmac_alloc.h"
#include "../check.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define W48 (1ULL << 48)

/* lookup + translate + lookup_range agree that addr maps to value (or misses). */
static void expect_at(struct dmac_imap *m, uint64_t addr, int hit, uint64_t start, uint64_t last,
		      uint64_t value, int line)
{
	struct dmac_imap_entry e = {0};
	uint64_t len = 0, t;
	int rc;

	dmac_imap_read_lock();
	rc = dmac_imap_lookup(m, addr, &e);
	t = dmac_imap_translate(m, addr, 0, NULL);
	dmac_imap_read_unlock();
	if (hit) {
		if (rc != 0 || e.start != start || e.last != last || e.value != value ||
		    t != value + (addr - start)) {
			fprintf(stderr,
				"line %d: addr 0x%" PRIx64 ": rc %d [0x%" PRIx64 ", 0x%" PRIx64
				"] -> 0x%" PRIx64 " t 0x%" PRIx64 "\n",
				line, addr, rc, e.start, e.last, e.value, t);
			check_failures++;
		}
	} else if (rc != -ENOENT || t != DMAC_IMAP_NONE) {
		fprintf(stderr, "line %d: addr 0x%" PRIx64 " should miss: rc %d t 0x%" PRIx64 "\n",
			line, addr, rc, t);
		check_failures++;
	}
	check_count++;
	(void)len;
}
#define HIT(m, a, s, l, v) expect_at(m, a, 1, s, l, v, __LINE__)
#define MISS(m, a)	   expect_at(m, a, 0, 0, 0, 0, __LINE__)

static uint64_t tlen(struct dmac_imap *m, uint64_t addr, uint64_t max_len, uint64_t *t)
{
	uint64_t len = 0xdead;

	dmac_imap_read_lock();
	*t = dmac_imap_translate(m, addr, max_len, &len);
	dmac_imap_read_unlock();
	return len;
}

static uint64_t rlen(struct dmac_imap *m, uint64_t addr, uint64_t max_len, int *rc)
{
	struct dmac_imap_entry e;
	uint64_t c = 0xdead;

	dmac_imap_read_lock();
	*rc = dmac_imap_lookup_range(m, addr, max_len, &e, &c);
	dmac_imap_read_unlock();
	return c;
}

static void test_errors(void)
{
	struct dmac_imap *m;
	struct dmac_imap_batch *b;
	struct dmac_imap_entry e;

	CHECK_EQ(dmac_imap_create(NULL), -EINVAL);
	FATAL_IF(dmac_imap_create(&m) != 0);
	CHECK_EQ(dmac_imap_insert(NULL, 0, 1, 0), -EINVAL);
	CHECK_EQ(dmac_imap_insert(m, 2, 1, 0), -EINVAL);
	CHECK_EQ(dmac_imap_insert(m, 0, 9, UINT64_MAX - 8), -EINVAL); /* value wraps */
	CHECK_EQ(dmac_imap_insert(m, 0, 9, UINT64_MAX - 9), 0);	      /* last value = MAX */
	CHECK_EQ(dmac_imap_remove(m, 0, 9), 0);
	CHECK_EQ(dmac_imap_remove(NULL, 0, 1), -EINVAL);
	CHECK_EQ(dmac_imap_remove(m, 2, 1), -EINVAL);
	CHECK_EQ(dmac_imap_remove(m, 0, 1), -ENOENT);
	CHECK_EQ(dmac_imap_batch_begin(NULL, &b), -EINVAL);
	CHECK_EQ(dmac_imap_batch_begin(m, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_batch_insert(NULL, 0, 1, 0), -EINVAL);
	CHECK_EQ(dmac_imap_batch_remove(NULL, 0, 1), -EINVAL);
	CHECK_EQ(dmac_imap_batch_commit(NULL), -EINVAL);
	dmac_imap_batch_abort(NULL);

	CHECK_EQ(dmac_imap_insert(m, 100, 199, 1000), 0);
	/* Every kind of overlap. */
	CHECK_EQ(dmac_imap_insert(m, 100, 199, 5), -EEXIST);
	CHECK_EQ(dmac_imap_insert(m, 50, 100, 5), -EEXIST);
	CHECK_EQ(dmac_imap_insert(m, 199, 300, 5), -EEXIST);
	CHECK_EQ(dmac_imap_insert(m, 150, 150, 5), -EEXIST);
	CHECK_EQ(dmac_imap_insert(m, 0, UINT64_MAX, 0), -EEXIST);
	/* Remove must be exact. */
	CHECK_EQ(dmac_imap_remove(m, 100, 198), -ENOENT);
	CHECK_EQ(dmac_imap_remove(m, 101, 199), -ENOENT);
	CHECK_EQ(dmac_imap_remove(m, 0, UINT64_MAX), -ENOENT);
	HIT(m, 150, 100, 199, 1000);
	CHECK_EQ(dmac_imap_count(m), 1);

	dmac_imap_read_lock();
	CHECK_EQ(dmac_imap_lookup(NULL, 0, &e), -EINVAL);
	CHECK_EQ(dmac_imap_lookup(m, 0, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_lookup_range(NULL, 0, 0, &e, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_lookup_range(m, 0, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_next(NULL, 0, &e), -EINVAL);
	CHECK_EQ(dmac_imap_next(m, 0, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_translate(NULL, 0, 0, NULL), DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_count(NULL), 0);
	CHECK_EQ(dmac_imap_memory(NULL), 0);
	CHECK_EQ(dmac_imap_next(m, 200, &e), -ENOENT);
	dmac_imap_read_unlock();

	/* Overlap with another insert of the same batch; the batch is then poisoned. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 1000, 1999, 7), 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 1500, 2500, 7), -EEXIST);
	CHECK_EQ(dmac_imap_batch_insert(b, 5000, 5999, 7), -EEXIST); /* poisoned */
	CHECK_EQ(dmac_imap_batch_commit(b), -EEXIST);
	MISS(m, 1000);
	MISS(m, 5000);
	CHECK_EQ(dmac_imap_count(m), 1);

	/* A failing remove poisons too, and the batch's inserts are not published. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 1000, 1999, 7), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 100, 199), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 100, 199), -ENOENT); /* already removed */
	CHECK_EQ(dmac_imap_batch_commit(b), -ENOENT);
	MISS(m, 1000);
	HIT(m, 100, 100, 199, 1000);

	/* -EINVAL inside a batch. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 1000, 1999, 7), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 9, 8), -EINVAL);
	CHECK_EQ(dmac_imap_batch_remove(b, 1000, 1999), -EINVAL); /* poisoned */
	CHECK_EQ(dmac_imap_batch_commit(b), -EINVAL);
	MISS(m, 1000);

	/* Abort drops everything; the map is usable afterwards (the mutex was released). */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 1000, 1999, 7), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 100, 199), 0);
	dmac_imap_batch_abort(b);
	MISS(m, 1000);
	HIT(m, 199, 100, 199, 1000);
	/* An empty batch commits to nothing. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	CHECK_EQ(dmac_imap_count(m), 1);
	dmac_imap_destroy(m);
	dmac_imap_destroy(NULL);
}

static void test_boundaries(void)
{
	struct dmac_imap *m;
	struct dmac_imap_entry e;
	uint64_t t, len;
	int rc;

	FATAL_IF(dmac_imap_create(&m) != 0);
	/* The whole key space, 2^64 bytes. */
	CHECK_EQ(dmac_imap_insert(m, 0, UINT64_MAX, 0), 0);
	HIT(m, 0, 0, UINT64_MAX, 0);
	HIT(m, 12345, 0, UINT64_MAX, 0);
	HIT(m, W48 - 1, 0, UINT64_MAX, 0);
	HIT(m, W48, 0, UINT64_MAX, 0);
	HIT(m, UINT64_MAX - 1, 0, UINT64_MAX, 0);
	CHECK_EQ(tlen(m, 0, 0, &t), UINT64_MAX); /* 2^64 saturates */
	CHECK_EQ(t, 0);
	CHECK_EQ(tlen(m, 5, 0, &t), UINT64_MAX - 4);
	CHECK_EQ(tlen(m, 5, 8 * MIB, &t), 8 * MIB);
	CHECK_EQ(tlen(m, UINT64_MAX, 0, &t), 1);
	CHECK_EQ(t, UINT64_MAX); /* the documented ambiguity of the sentinel */
	CHECK_EQ(rlen(m, UINT64_MAX, 0, &rc), 1);
	CHECK_EQ(rc, 0);
	CHECK_EQ(dmac_imap_insert(m, 7, 7, 0), -EEXIST);
	CHECK_EQ(dmac_imap_remove(m, 0, UINT64_MAX), 0);
	MISS(m, 0);
	MISS(m, UINT64_MAX);
	CHECK_EQ(dmac_imap_count(m), 0);

	/* Single-byte intervals at both ends of the key space and of the window. */
	CHECK_EQ(dmac_imap_insert(m, 0, 0, 42), 0);
	CHECK_EQ(dmac_imap_insert(m, UINT64_MAX, UINT64_MAX, 43), 0);
	CHECK_EQ(dmac_imap_insert(m, W48 - 1, W48 - 1, 44), 0);
	CHECK_EQ(dmac_imap_insert(m, W48, W48, 46), 0);
	HIT(m, 0, 0, 0, 42);
	MISS(m, 1);
	HIT(m, UINT64_MAX, UINT64_MAX, UINT64_MAX, 43);
	MISS(m, UINT64_MAX - 1);
	HIT(m, W48 - 1, W48 - 1, W48 - 1, 44);
	HIT(m, W48, W48, W48, 46);
	MISS(m, W48 - 2);
	MISS(m, W48 + 1);
	CHECK_EQ(tlen(m, W48 - 1, 0, &t), 1); /* 44 then 46: value does not continue */
	CHECK_EQ(tlen(m, UINT64_MAX, 100, &t), 1);
	CHECK_EQ(dmac_imap_remove(m, W48, W48), 0);
	CHECK_EQ(dmac_imap_insert(m, W48, W48, 45), 0); /* 44 then 45: continues */
	CHECK_EQ(tlen(m, W48 - 1, 0, &t), 2);
	CHECK_EQ(dmac_imap_remove(m, W48, W48), 0);
	CHECK_EQ(dmac_imap_insert(m, W48, W48 + 9, 45), 0); /* continues 44 across the edge */
	CHECK_EQ(tlen(m, W48 - 1, 0, &t), 11);
	CHECK_EQ(t, 44);
	CHECK_EQ(tlen(m, W48 - 1, 4, &t), 4);

	/* Adjacent single bytes inside one 2 MiB slot: the slot needs a search. */
	for (uint64_t a = 64 * MIB; a < 64 * MIB + 64; a++)
		CHECK_EQ(dmac_imap_insert(m, a, a, 1000 + (a - 64 * MIB) * 2), 0);
	for (uint64_t a = 64 * MIB; a < 64 * MIB + 64; a++)
		HIT(m, a, a, a, 1000 + (a - 64 * MIB) * 2);
	MISS(m, 64 * MIB + 64);
	MISS(m, 64 * MIB - 1);
	CHECK_EQ(tlen(m, 64 * MIB, 0, &t), 1);

	/* An interval crossing the window edge, with a neighbour below. */
	dmac_imap_destroy(m);
	FATAL_IF(dmac_imap_create(&m) != 0);
	CHECK_EQ(dmac_imap_insert(m, W48 - 3 * MIB, W48 + 5 * GIB - 1, 1ULL << 40), 0);
	CHECK_EQ(dmac_imap_insert(m, W48 - 5 * MIB, W48 - 3 * MIB - 1, (1ULL << 40) - 2 * MIB), 0);
	HIT(m, W48 - 1, W48 - 3 * MIB, W48 + 5 * GIB - 1, 1ULL << 40);
	HIT(m, W48, W48 - 3 * MIB, W48 + 5 * GIB - 1, 1ULL << 40);
	HIT(m, W48 + 5 * GIB - 1, W48 - 3 * MIB, W48 + 5 * GIB - 1, 1ULL << 40);
	MISS(m, W48 + 5 * GIB);
	HIT(m, W48 - 5 * MIB, W48 - 5 * MIB, W48 - 3 * MIB - 1, (1ULL << 40) - 2 * MIB);
	MISS(m, W48 - 5 * MIB - 1);
	CHECK_EQ(tlen(m, W48 - 4 * MIB, 0, &t), 1 * MIB + 3 * MIB + 5 * GIB);
	CHECK_EQ(t, (1ULL << 40) - 1 * MIB);
	CHECK_EQ(rlen(m, W48 - 4 * MIB, 2 * MIB, &rc), 2 * MIB);
	CHECK_EQ(rc, 0);
	dmac_imap_read_lock();
	CHECK_EQ(dmac_imap_lookup_range(m, W48 - 4 * MIB, 0, &e, NULL), 0);
	CHECK_EQ(e.start, W48 - 5 * MIB);
	dmac_imap_read_unlock();
	(void)len;
	dmac_imap_destroy(m);
}

static void test_contiguity(void)
{
	struct dmac_imap *m;
	struct dmac_imap_batch *b;
	uint64_t t, base = 0x7f0000000000ULL, iova = 0x100000000ULL;
	int rc;

	FATAL_IF(dmac_imap_create(&m) != 0);
	/* Four 2 MiB hugepages whose IOVAs continue, then one that does not, then a gap. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(dmac_imap_batch_insert(b, base + i * 2 * MIB, base + (i + 1) * 2 * MIB - 1,
						iova + i * 2 * MIB),
			 0);
	CHECK_EQ(dmac_imap_batch_insert(b, base + 8 * MIB, base + 10 * MIB - 1, 0x5000000000ULL),
		 0);
	CHECK_EQ(dmac_imap_batch_insert(b, base + 12 * MIB, base + 14 * MIB - 1,
					0x5000000000ULL + 2 * MIB),
		 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	CHECK_EQ(dmac_imap_count(m), 6);

	CHECK_EQ(tlen(m, base, 0, &t), 8 * MIB);
	CHECK_EQ(t, iova);
	CHECK_EQ(tlen(m, base + 4096, 0, &t), 8 * MIB - 4096);
	CHECK_EQ(t, iova + 4096);
	CHECK_EQ(tlen(m, base + 4096, 8 * MIB, &t), 8 * MIB - 4096);
	CHECK_EQ(tlen(m, base + 4096, 3 * MIB, &t), 3 * MIB);
	CHECK_EQ(tlen(m, base + 4096, 1, &t), 1);
	CHECK_EQ(tlen(m, base + 6 * MIB, 0, &t), 2 * MIB);
	CHECK_EQ(t, iova + 6 * MIB);
	CHECK_EQ(tlen(m, base + 8 * MIB, 0, &t), 2 * MIB); /* next is not adjacent in key */
	CHECK_EQ(t, 0x5000000000ULL);
	CHECK_EQ(tlen(m, base + 10 * MIB, 0, &t), 0xdead); /* miss leaves len */
	CHECK_EQ(t, DMAC_IMAP_NONE);
	CHECK_EQ(rlen(m, base + 1, 0, &rc), 8 * MIB - 1);
	CHECK_EQ(rc, 0);
	rlen(m, base + 11 * MIB, 0, &rc);
	CHECK_EQ(rc, -ENOENT);

	/* Adjacent in key, value not continuing. */
	CHECK_EQ(
	    dmac_imap_insert(m, base + 10 * MIB, base + 12 * MIB - 1, 0x5000000000ULL + 3 * MIB),
	    0);
	CHECK_EQ(tlen(m, base + 8 * MIB, 0, &t), 2 * MIB);
	CHECK_EQ(tlen(m, base + 10 * MIB, 0, &t), 2 * MIB);
	CHECK_EQ(dmac_imap_remove(m, base + 10 * MIB, base + 12 * MIB - 1), 0);
	/* Now continuing from [8, 10) but not into [12, 14) (whose value restarts). */
	CHECK_EQ(
	    dmac_imap_insert(m, base + 10 * MIB, base + 12 * MIB - 1, 0x5000000000ULL + 2 * MIB),
	    0);
	CHECK_EQ(tlen(m, base + 8 * MIB, 0, &t), 4 * MIB);
	CHECK_EQ(tlen(m, base + 9 * MIB, 0, &t), 3 * MIB);
	CHECK_EQ(tlen(m, base + 12 * MIB, 0, &t), 2 * MIB);
	/* Make [12, 14) continue too: three intervals, 6 MiB. */
	CHECK_EQ(dmac_imap_remove(m, base + 12 * MIB, base + 14 * MIB - 1), 0);
	CHECK_EQ(
	    dmac_imap_insert(m, base + 12 * MIB, base + 14 * MIB - 1, 0x5000000000ULL + 4 * MIB),
	    0);
	CHECK_EQ(tlen(m, base + 8 * MIB, 0, &t), 6 * MIB);
	CHECK_EQ(tlen(m, base + 8 * MIB, 5 * MIB, &t), 5 * MIB);
	/* Small (4 KiB) pages packed in one slot, continuing in value. */
	for (uint64_t i = 0; i < 16; i++)
		CHECK_EQ(dmac_imap_insert(m, 0x40000000 + i * 4 * KIB,
					  0x40000000 + (i + 1) * 4 * KIB - 1, 0x9000 + i * 4 * KIB),
			 0);
	CHECK_EQ(tlen(m, 0x40000000 + 100, 0, &t), 64 * KIB - 100);
	CHECK_EQ(t, 0x9000 + 100);
	CHECK_EQ(tlen(m, 0x40000000 + 100, 5 * KIB, &t), 5 * KIB);
	dmac_imap_destroy(m);
}

/* Regions that fill a whole 1 GiB or 512 GiB index entry, and their removal. */
static void test_index_shapes(void)
{
	struct dmac_imap *m;
	struct dmac_imap_batch *b;
	struct dmac_imap_stats st;

	FATAL_IF(dmac_imap_create(&m) != 0);
	CHECK_EQ(dmac_imap_insert(m, 512 * GIB, 1024 * GIB - 1, 7), 0); /* one top entry */
	CHECK_EQ(dmac_imap_insert(m, 3 * GIB, 4 * GIB - 1, 1), 0);	/* one level-1 entry */
	CHECK_EQ(dmac_imap_insert(m, 3 * GIB - 4096, 3 * GIB - 1, 99), 0);
	CHECK_EQ(dmac_imap_insert(m, 4 * GIB, 4 * GIB + 2 * MIB + 4095, 5), 0);
	CHECK_EQ(dmac_imap_insert(m, 4 * GIB + 8 * MIB, 4 * GIB + 10 * MIB - 1, 6), 0);
	HIT(m, 4 * GIB + 9 * MIB, 4 * GIB + 8 * MIB, 4 * GIB + 10 * MIB - 1, 6);
	MISS(m, 4 * GIB + 10 * MIB);
	HIT(m, 512 * GIB, 512 * GIB, 1024 * GIB - 1, 7);
	HIT(m, 700 * GIB + 5, 512 * GIB, 1024 * GIB - 1, 7);
	HIT(m, 3 * GIB + 123, 3 * GIB, 4 * GIB - 1, 1);
	HIT(m, 3 * GIB - 1, 3 * GIB - 4096, 3 * GIB - 1, 99);
	HIT(m, 4 * GIB + 2 * MIB + 4095, 4 * GIB, 4 * GIB + 2 * MIB + 4095, 5);
	MISS(m, 4 * GIB + 2 * MIB + 4096);
	MISS(m, 3 * GIB - 4097);
	MISS(m, 1024 * GIB);
	CHECK(dmac_imap_stats(m, &st) == 0);
	/*
	 * The root, part of the version, holds [0, 32 TiB) (entries of 512 GiB, the
	 * second FULL); below it one node for [0, 512 GiB), one for [0, 8 GiB) (FULL
	 * 128 MiB entries for [3, 4) GiB) and one for the 128 MiB at 4 GiB, where two
	 * intervals share a 128 MiB entry.
	 */
	CHECK_EQ(st.index_nodes, 3);
	/* Remove everything in one batch: the index must shrink back to no nodes. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 3 * GIB, 4 * GIB - 1), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 3 * GIB - 4096, 3 * GIB - 1), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 4 * GIB, 4 * GIB + 2 * MIB + 4095), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 4 * GIB + 8 * MIB, 4 * GIB + 10 * MIB - 1), 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	CHECK(dmac_imap_stats(m, &st) == 0);
	CHECK_EQ(st.index_nodes, 0);
	HIT(m, 600 * GIB, 512 * GIB, 1024 * GIB - 1, 7);
	MISS(m, 3 * GIB);
	/* Remove and re-insert in one batch, insert then remove in one batch. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 512 * GIB, 1024 * GIB - 1), 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 512 * GIB, 600 * GIB - 1, 8), 0);
	CHECK_EQ(dmac_imap_batch_insert(b, 10 * MIB, 20 * MIB - 1, 8), 0);
	CHECK_EQ(dmac_imap_batch_remove(b, 10 * MIB, 20 * MIB - 1), 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	HIT(m, 599 * GIB, 512 * GIB, 600 * GIB - 1, 8);
	MISS(m, 600 * GIB);
	MISS(m, 10 * MIB);
	CHECK_EQ(dmac_imap_count(m), 1);
	dmac_imap_destroy(m);
}

static void test_next(void)
{
	struct dmac_imap *m;
	struct dmac_imap_entry e;
	static const uint64_t iv[][2] = {
	    {0, 0}, {5, 9}, {4096, 8191}, {W48 - 10, W48 + 10}, {1ULL << 60, UINT64_MAX},
	};
	size_t n = sizeof(iv) / sizeof(iv[0]), k = 0;
	uint64_t a = 0;

	FATAL_IF(dmac_imap_create(&m) != 0);
	for (size_t i = n; i-- > 0;)
		CHECK_EQ(dmac_imap_insert(m, iv[i][0], iv[i][1], i), 0);
	dmac_imap_read_lock();
	for (;;) {
		if (dmac_imap_next(m, a, &e) != 0)
			break;
		FATAL_IF(k >= n);
		CHECK_EQ(e.start, iv[k][0]);
		CHECK_EQ(e.last, iv[k][1]);
		CHECK_EQ(e.value, k);
		k++;
		if (e.last == UINT64_MAX)
			break;
		a = e.last + 1;
	}
	CHECK_EQ(k, n);
	CHECK_EQ(dmac_imap_next(m, 1, &e), 0);
	CHECK_EQ(e.start, 5);
	CHECK_EQ(dmac_imap_next(m, 6, &e), 0); /* inside [5, 9]: the next one starts later */
	CHECK_EQ(e.start, 4096);
	CHECK_EQ(dmac_imap_next(m, (1ULL << 60) + 1, &e), -ENOENT);
	dmac_imap_read_unlock();
	dmac_imap_destroy(m);
}

/*
 * Memory of a realistic layout: a process's hugepage heap as coalesced chunks of
 * 2 MiB .. 1 GiB in a few VA regions, plus a run of 4 KiB memfd pages.
 */
static void test_memory(void)
{
	struct dmac_imap *m;
	struct dmac_imap_batch *b;
	struct dmac_imap_stats st;
	uint64_t va = 0x7f2000000000ULL, iova = 1ULL << 32, x = 88172645463325252ULL;
	size_t n = 0, mem;

	FATAL_IF(dmac_imap_create(&m) != 0);
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	for (int i = 0; i < 1024; i++) {
		uint64_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = 2 * MIB << (x % 10); /* 2 MiB .. 1 GiB */
		if (x % 7 == 0)
			va += 2 * MIB * (1 + (x >> 40) % 64); /* a hole */
		CHECK_EQ(dmac_imap_batch_insert(b, va, va + len - 1, iova), 0);
		va += len;
		iova += len;
		n++;
	}
	va = 0x560000000000ULL;
	for (int i = 0; i < 1024; i++, n++)
		CHECK_EQ(dmac_imap_batch_insert(b, va + i * 4 * KIB, va + (i + 1) * 4 * KIB - 1,
						(1ULL << 44) + i * 8 * KIB),
			 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	CHECK_EQ(dmac_imap_count(m), n);
	mem = dmac_imap_memory(m);
	CHECK(dmac_imap_stats(m, &st) == 0);
	CHECK_EQ(st.record_bytes + st.index_bytes + st.tree_bytes + st.version_bytes, mem);
	CHECK(st.record_bytes / n <= 64);
	printf("memory: %zu intervals, %zu bytes total = %.1f B/interval "
	       "(records %.1f, B-tree %.1f, index %.1f in %zu nodes)\n",
	       n, mem, (double)mem / n, (double)st.record_bytes / n, (double)st.tree_bytes / n,
	       (double)st.index_bytes / n, st.index_nodes);
	dmac_imap_destroy(m);
}

/*
 * Precomputed run ends: one long run of pieces of mixed sizes (4 KiB .. 1 GiB, so
 * FULL, ONE, MANY entries and several levels hold them), built by one-op commits
 * and by batches in both orders, split and joined again. After every step the
 * contiguous length of translate and lookup_range at the start, a middle byte and
 * the last byte of every piece must equal a direct walk over the pieces.
 */
#define RUN_N 48

struct run_model {
	uint64_t st[RUN_N], ln[RUN_N], val[RUN_N];
	int present[RUN_N];
};

static uint64_t run_model_len(const struct run_model *md, int k, uint64_t addr)
{
	uint64_t end = md->st[k] + md->ln[k] - 1, vend = md->val[k] + md->ln[k] - 1;

	for (int j = k + 1; j < RUN_N; j++) {
		if (!md->present[j] || md->st[j] != end + 1 || md->val[j] != vend + 1)
			break;
		end += md->ln[j];
		vend += md->ln[j];
	}
	return end - addr + 1;
}

static void run_check(struct dmac_imap *m, const struct run_model *md, int step)
{
	for (int k = 0; k < RUN_N; k++) {
		uint64_t probe[3] = {md->st[k], md->st[k] + md->ln[k] / 2,
				     md->st[k] + md->ln[k] - 1};

		for (int q = 0; q < 3; q++) {
			uint64_t a = probe[q], t, want;
			int rc;

			if (!md->present[k]) {
				CHECK_EQ(tlen(m, a, 0, &t), 0xdead);
				CHECK_EQ(t, DMAC_IMAP_NONE);
				continue;
			}
			want = run_model_len(md, k, a);
			if (tlen(m, a, 0, &t) != want || rlen(m, a, 0, &rc) != want) {
				fprintf(stderr,
					"run_ends step %d piece %d probe %d: len %" PRIu64
					" want %" PRIu64 "\n",
					step, k, q, tlen(m, a, 0, &t), want);
				CHECK(0);
			}
			CHECK_EQ(t, md->val[k] + (a - md->st[k]));
			CHECK_EQ(tlen(m, a, 8 * MIB, &t), want < 8 * MIB ? want : 8 * MIB);
		}
	}
}

static void test_run_ends(void)
{
	static const uint64_t sizes[] = {2 * MIB,	4 * KIB,  6 * MIB,	     64 * KIB,
					 GIB + 2 * MIB, 12 * KIB, 2 * MIB - 4 * KIB, 4 * MIB};
	struct run_model md;
	struct dmac_imap *m;
	struct dmac_imap_batch *b;
	uint64_t a = 0x7f4000000000ULL - 8 * KIB, v = 0x200000000ULL;
	int step = 0;

	for (int k = 0; k < RUN_N; k++) {
		md.st[k] = a;
		md.ln[k] = sizes[k % 8];
		md.val[k] = v;
		md.present[k] = 0;
		a += md.ln[k];
		v += md.ln[k];
	}
	FATAL_IF(dmac_imap_create(&m) != 0);
	/* Appended one by one: each commit extends the run of every piece before. */
	for (int k = 0; k < RUN_N; k++) {
		CHECK_EQ(dmac_imap_insert(m, md.st[k], md.st[k] + md.ln[k] - 1, md.val[k]), 0);
		md.present[k] = 1;
		if (k % 6 == 5 || k == RUN_N - 1)
			run_check(m, &md, step++);
	}
	/* Split in the middle, rejoined with a value that does not continue, then does. */
	CHECK_EQ(dmac_imap_remove(m, md.st[20], md.st[20] + md.ln[20] - 1), 0);
	md.present[20] = 0;
	run_check(m, &md, step++);
	md.val[20] += 4096;
	CHECK_EQ(dmac_imap_insert(m, md.st[20], md.st[20] + md.ln[20] - 1, md.val[20]), 0);
	md.present[20] = 1;
	run_check(m, &md, step++);
	CHECK_EQ(dmac_imap_remove(m, md.st[20], md.st[20] + md.ln[20] - 1), 0);
	md.val[20] -= 4096;
	CHECK_EQ(dmac_imap_insert(m, md.st[20], md.st[20] + md.ln[20] - 1, md.val[20]), 0);
	run_check(m, &md, step++);
	/* One batch: everything out, back in in reverse order with piece 30 broken. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	for (int k = 0; k < RUN_N; k++)
		CHECK_EQ(dmac_imap_batch_remove(b, md.st[k], md.st[k] + md.ln[k] - 1), 0);
	md.val[30] += 8192;
	for (int k = RUN_N - 1; k >= 0; k--)
		CHECK_EQ(dmac_imap_batch_insert(b, md.st[k], md.st[k] + md.ln[k] - 1, md.val[k]),
			 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	run_check(m, &md, step++);
	/* One batch: piece 30 repaired, pieces 10..15 removed, then 12 alone back. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	CHECK_EQ(dmac_imap_batch_remove(b, md.st[30], md.st[30] + md.ln[30] - 1), 0);
	md.val[30] -= 8192;
	CHECK_EQ(dmac_imap_batch_insert(b, md.st[30], md.st[30] + md.ln[30] - 1, md.val[30]), 0);
	for (int k = 10; k <= 15; k++) {
		CHECK_EQ(dmac_imap_batch_remove(b, md.st[k], md.st[k] + md.ln[k] - 1), 0);
		md.present[k] = 0;
	}
	CHECK_EQ(dmac_imap_batch_insert(b, md.st[12], md.st[12] + md.ln[12] - 1, md.val[12]), 0);
	md.present[12] = 1;
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	run_check(m, &md, step++);
	/* A failing batch that would have joined everything publishes nothing. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	for (int k = 10; k <= 15; k++)
		if (k != 12)
			CHECK_EQ(
			    dmac_imap_batch_insert(b, md.st[k], md.st[k] + md.ln[k] - 1, md.val[k]),
			    0);
	CHECK_EQ(dmac_imap_batch_insert(b, md.st[0], md.st[0], 0), -EEXIST);
	CHECK_EQ(dmac_imap_batch_commit(b), -EEXIST);
	run_check(m, &md, step++);
	dmac_imap_destroy(m);
}

struct writer_arg {
	struct dmac_imap *m;
	uint64_t start;
	int rc;
};

static void *insert_thread(void *p)
{
	struct writer_arg *w = p;

	urcu_memb_register_thread();
	w->rc = dmac_imap_insert(w->m, w->start, w->start + 4095, 1);
	urcu_memb_unregister_thread();
	return NULL;
}

/* Insert [start, start + 4095] from another thread while this one may be in a section. */
static int insert_elsewhere(struct dmac_imap *m, uint64_t start)
{
	struct writer_arg w = {m, start, -1};
	pthread_t th;

	FATAL_IF(pthread_create(&th, NULL, insert_thread, &w) != 0);
	pthread_join(th, NULL);
	return w.rc;
}

static int hits(struct dmac_imap *m, uint64_t addr)
{
	return dmac_imap_translate(m, addr, 0, NULL) != DMAC_IMAP_NONE;
}

/*
 * A snapshot reads one version for as long as its read-side section lasts; the
 * dmac_imap_* calls each read the latest version.
 */
static void test_snapshot(void)
{
	struct dmac_imap *m[2];
	const struct dmac_imap_snap *s[2], *s2;
	struct dmac_imap_entry e;
	uint64_t len = 0;

	for (size_t i = 0; i < 2; i++)
		FATAL_IF(dmac_imap_create(&m[i]) != 0);
	CHECK_EQ(dmac_imap_insert(m[0], 0x200000, 0x3fffff, 0x1000000), 0);

	dmac_imap_read_lock();
	for (size_t i = 0; i < 2; i++)
		s[i] = dmac_imap_snapshot(m[i]);
	CHECK(s[0] != NULL && s[1] != NULL && s[0] != s[1]);
	CHECK(!hits(m[1], 0x1000));
	for (size_t i = 0; i < 2; i++)
		CHECK_EQ(insert_elsewhere(m[i], 0x1000), 0);
	/* The calls on the maps see the new versions ... */
	CHECK(hits(m[0], 0x1000));
	CHECK(hits(m[1], 0x1000));
	CHECK_EQ(dmac_imap_count(m[0]), 2);
	/* ... the snapshots still the old ones, through every reader. */
	CHECK_EQ(dmac_imap_snap_translate(s[0], 0x1000, 0, NULL), DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_snap_translate(s[1], 0x1000, 0, NULL), DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_snap_lookup(s[0], 0x1000, &e), -ENOENT);
	CHECK_EQ(dmac_imap_snap_lookup_range(s[1], 0x1000, 0, &e, &len), -ENOENT);
	CHECK_EQ(dmac_imap_snap_count(s[0]), 1);
	CHECK_EQ(dmac_imap_snap_count(s[1]), 0);
	CHECK_EQ(dmac_imap_snap_next(s[0], 0, &e), 0);
	CHECK_EQ(e.start, 0x200000);
	CHECK_EQ(dmac_imap_snap_next(s[0], 0x200001, &e), -ENOENT);
	CHECK_EQ(dmac_imap_snap_translate(s[0], 0x200010, 0x100, &len), 0x1000010);
	CHECK_EQ(len, 0x100);
	CHECK_EQ(dmac_imap_snap_lookup_range(s[0], 0x200010, 0, &e, &len), 0);
	CHECK_EQ(len, 0x200000 - 0x10);
	/* A nested section shares the outer one: the snapshot stays valid in it. */
	dmac_imap_read_lock();
	s2 = dmac_imap_snapshot(m[0]);
	CHECK(s2 != s[0]);
	CHECK_EQ(dmac_imap_snap_count(s2), 2);
	dmac_imap_read_unlock();
	CHECK_EQ(dmac_imap_snap_count(s[0]), 1);
	dmac_imap_read_unlock();

	/* NULL snapshots (of a NULL map) miss or fail cleanly. */
	CHECK(dmac_imap_snapshot(NULL) == NULL);
	CHECK_EQ(dmac_imap_snap_translate(NULL, 0, 0, &len), DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_snap_lookup(NULL, 0, &e), -EINVAL);
	CHECK_EQ(dmac_imap_snap_lookup_range(NULL, 0, 0, &e, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_snap_next(NULL, 0, &e), -EINVAL);
	CHECK_EQ(dmac_imap_snap_count(NULL), 0);
	dmac_imap_read_lock();
	s2 = dmac_imap_snapshot(m[0]);
	CHECK_EQ(dmac_imap_snap_lookup(s2, 0, NULL), -EINVAL);
	CHECK_EQ(dmac_imap_snap_next(s2, 0, NULL), -EINVAL);
	dmac_imap_read_unlock();
	for (size_t i = 0; i < 2; i++)
		dmac_imap_destroy(m[i]);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();

	urcu_memb_register_thread();
	test_errors();
	test_boundaries();
	test_contiguity();
	test_index_shapes();
	test_next();
	test_memory();
	test_snapshot();
	test_run_ends();
	CHECK_EQ(dmac__alloc_outstanding(), base);
	urcu_memb_unregister_thread();
	return check_report("imap_basic");
}
