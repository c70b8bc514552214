/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_imap: the persistent structure itself.
 *
 * Invariants checked:
 * - B-tree: thousands of intervals inserted and removed in random orders, one-op and
 *   in batches, split and merge nodes at every level (16 entries a node, 8 at least):
 *   after each phase every interval is found by lookup, translate and an ordered walk
 *   with next, nothing else is, and the node counts shrink back to zero when the map
 *   is empty (no node is leaked by a merge or a root collapse).
 * - Path copying, and the dead flag that sends a replaced version's readers from the
 *   flat index back to their own tree, leave old versions intact: a snapshot taken
 *   before a long series of commits (that rewrite every leaf and the root, rewrite
 *   flat tables in place, drop the flat window and bring it back) answers exactly as
 *   before through every snap_* reader until its section ends.
 * - Flat index: the window follows the intervals (none when empty or too sparse, moved
 *   as a map grows, tables carried over), and translate through it, with lengths
 *   across 1 GiB tables and over runs longer than 64 words, gives what the version's
 *   radix tree gives (dmac__imap_translate_slow()) and what the layout says.
 * - Radix index: runs of FULL entries across 128 MiB and 8 GiB node boundaries and
 *   across a partly covered 2 MiB slot give exact contiguous lengths; the root moves
 *   up for a far insert and back down when it is removed.
 * - dmac_imap_translate_burst() gives what single translates give, from one version.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>

#include "dmac/imap.h"
#include "dmac_alloc.h"
#include "../check.h"
#include "imap_peek.h"

#define KIB  (1ULL << 10)
#define MIB  (1ULL << 20)
#define GIB  (1ULL << 30)
#define N    6000
#define BASE 0x7f1000000000ULL
#define H    96				  /* hugepage intervals of test_old_versions */
#define HB   (BASE + 64 * GIB - 64 * MIB) /* their first; some cross a 1 GiB boundary */

static uint64_t rs = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static void shuffle(size_t *p, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1), t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
}

/* Interval k: page 2k of BASE, value a distinct page (never contiguous). */
static uint64_t st(size_t k)
{
	return BASE + 2 * k * 4 * KIB;
}

static uint64_t val(size_t k)
{
	return (1ULL << 40) + (k * 7919 % N) * 8 * KIB;
}

/* The map holds exactly the k with present[k]. */
static void check_all(struct dmac_imap *m, const bool *present, int line)
{
	struct dmac_imap_entry e;
	size_t cnt = 0, walked = 0, bad = 0;
	uint64_t a = 0;

	dmac_imap_read_lock();
	for (size_t k = 0; k < N; k++) {
		uint64_t t = dmac_imap_translate(m, st(k) + 100, 0, NULL);
		int rc = dmac_imap_lookup(m, st(k) + 4 * KIB, &e); /* the hole after it */

		cnt += present[k];
		if (present[k] ? t != val(k) + 100 : t != DMAC_IMAP_NONE)
			bad++;
		if (rc != -ENOENT)
			bad++;
	}
	while (dmac_imap_next(m, a, &e) == 0) {
		size_t k = (e.start - BASE) / (8 * KIB);

		if (k >= N || !present[k] || e.start != st(k) || e.last != st(k) + 4 * KIB - 1 ||
		    e.value != val(k))
			bad++;
		walked++;
		a = e.last + 1;
	}
	if (dmac_imap_count(m) != cnt || walked != cnt)
		bad++;
	dmac_imap_read_unlock();
	if (bad)
		fprintf(stderr, "line %d: %zu mismatches (count %zu walked %zu want %zu)\n", line,
			bad, dmac_imap_count(m), walked, cnt);
	CHECK_EQ(bad, 0);
}

static void test_btree(void)
{
	static bool present[N];
	static size_t order[N];
	struct dmac_imap_stats s;
	struct dmac_imap_batch *b;
	struct dmac_imap *m;

	FATAL_IF(dmac_imap_create(&m) != 0);
	for (size_t k = 0; k < N; k++)
		order[k] = k;
	/* Half one-op inserts in random order, half in random batches of 1..64. */
	shuffle(order, N);
	for (size_t i = 0; i < N / 2; i++) {
		CHECK_EQ(
		    dmac_imap_insert(m, st(order[i]), st(order[i]) + 4 * KIB - 1, val(order[i])),
		    0);
		present[order[i]] = true;
	}
	check_all(m, present, __LINE__);
	for (size_t i = N / 2; i < N;) {
		size_t n = 1 + rnd() % 64;

		FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
		for (; n && i < N; n--, i++) {
			CHECK_EQ(dmac_imap_batch_insert(b, st(order[i]), st(order[i]) + 4 * KIB - 1,
							val(order[i])),
				 0);
			present[order[i]] = true;
		}
		CHECK_EQ(dmac_imap_batch_commit(b), 0);
	}
	check_all(m, present, __LINE__);
	CHECK(dmac_imap_stats(m, &s) == 0);
	/* At least N / 16 leaves and an inner level; no more than N / 8 * 2 nodes. */
	CHECK(s.tree_nodes > N / 16 && s.tree_nodes < N / 4);
	/* Remove three quarters in random order, one-op: merges at every level. */
	shuffle(order, N);
	for (size_t i = 0; i < 3 * N / 4; i++) {
		CHECK_EQ(dmac_imap_remove(m, st(order[i]), st(order[i]) + 4 * KIB - 1), 0);
		present[order[i]] = false;
		if (i % 1000 == 999)
			check_all(m, present, __LINE__);
	}
	/* Remove and re-insert in one batch, then the rest in batches. */
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	for (size_t i = 3 * N / 4; i < N; i++)
		CHECK_EQ(dmac_imap_batch_remove(b, st(order[i]), st(order[i]) + 4 * KIB - 1), 0);
	for (size_t i = 3 * N / 4; i < N; i += 2)
		CHECK_EQ(dmac_imap_batch_insert(b, st(order[i]), st(order[i]) + 4 * KIB - 1,
						val(order[i])),
			 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	for (size_t i = 3 * N / 4; i < N; i++)
		present[order[i]] = (i - 3 * N / 4) % 2 == 0;
	check_all(m, present, __LINE__);
	for (size_t i = 3 * N / 4; i < N;) {
		size_t n = 1 + rnd() % 100;

		FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
		for (; n && i < N; n--, i += 2) {
			CHECK_EQ(
			    dmac_imap_batch_remove(b, st(order[i]), st(order[i]) + 4 * KIB - 1), 0);
			present[order[i]] = false;
		}
		CHECK_EQ(dmac_imap_batch_commit(b), 0);
	}
	check_all(m, present, __LINE__);
	CHECK(dmac_imap_stats(m, &s) == 0);
	CHECK_EQ(s.intervals, 0);
	CHECK_EQ(s.tree_nodes, 0);
	CHECK_EQ(s.index_nodes, 0);
	dmac_imap_destroy(m);
}

/* Hugepage interval k of test_old_versions: 2 MiB every 6 MiB; value: see hval(). */
static uint64_t hst(size_t k)
{
	return HB + k * 6 * MIB;
}

static uint64_t hval(size_t k, int moved)
{
	return (1ULL << 41) + k * 4 * MIB + (moved ? 1ULL << 30 : 0);
}

struct churn_arg {
	struct dmac_imap *m;
	int rc;
};

/* Rewrite the whole map many times over: every leaf, the root, merges and splits. */
static void *churn(void *p)
{
	struct churn_arg *a = p;

	urcu_memb_register_thread();
	for (int round = 0; round < 4 && !a->rc; round++) {
		for (size_t k = 0; k < N && !a->rc; k += 3)
			a->rc = dmac_imap_remove(a->m, st(k), st(k) + 4 * KIB - 1);
		for (size_t k = 0; k < N && !a->rc; k += 3)
			a->rc =
			    dmac_imap_insert(a->m, st(k), st(k) + 4 * KIB - 1, val(k) + 4 * KIB);
		for (size_t k = 0; k < N && !a->rc; k += 3)
			a->rc = dmac_imap_remove(a->m, st(k), st(k) + 4 * KIB - 1);
		for (size_t k = 0; k < N && !a->rc; k += 3)
			a->rc = dmac_imap_insert(a->m, st(k), st(k) + 4 * KIB - 1, val(k));
	}
	/* The hugepages: their 2 MiB entries rewritten in place, some tables dropped. */
	for (size_t k = 0; k < H && !a->rc; k += 3) {
		a->rc = dmac_imap_remove(a->m, hst(k), hst(k) + 2 * MIB - 1);
		if (!a->rc)
			a->rc = dmac_imap_insert(a->m, hst(k), hst(k) + 2 * MIB - 1, hval(k, 1));
		if (!a->rc && k + 1 < H)
			a->rc = dmac_imap_remove(a->m, hst(k + 1), hst(k + 1) + 2 * MIB - 1);
	}
	/* A key far away: no flat window (too sparse), then the window is rebuilt. */
	if (!a->rc)
		a->rc = dmac_imap_insert(a->m, 1ULL << 60, (1ULL << 60) + 4095, 0);
	if (!a->rc && imap_flat_slots(a->m) != 0)
		a->rc = -1;
	if (!a->rc)
		a->rc = dmac_imap_remove(a->m, 1ULL << 60, (1ULL << 60) + 4095);
	if (!a->rc && imap_flat_slots(a->m) == 0)
		a->rc = -2;
	/* End unlike the start: every third moved, every third + 1 gone. */
	for (size_t k = 0; k < N && !a->rc; k += 3) {
		a->rc = dmac_imap_remove(a->m, st(k), st(k) + 4 * KIB - 1);
		if (!a->rc)
			a->rc =
			    dmac_imap_insert(a->m, st(k), st(k) + 4 * KIB - 1, val(k) + 4 * KIB);
		if (!a->rc && k + 1 < N)
			a->rc = dmac_imap_remove(a->m, st(k + 1), st(k + 1) + 4 * KIB - 1);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static void test_old_versions(void)
{
	struct churn_arg a = {0};
	const struct dmac_imap_snap *s;
	struct dmac_imap_entry e;
	struct dmac_imap_batch *b;
	pthread_t th;
	size_t bad = 0, walked = 0;
	uint64_t x = 0, len;

	FATAL_IF(dmac_imap_create(&a.m) != 0);
	FATAL_IF(dmac_imap_batch_begin(a.m, &b) != 0);
	for (size_t k = 0; k < N; k++)
		CHECK_EQ(dmac_imap_batch_insert(b, st(k), st(k) + 4 * KIB - 1, val(k)), 0);
	for (size_t k = 0; k < H; k++)
		CHECK_EQ(dmac_imap_batch_insert(b, hst(k), hst(k) + 2 * MIB - 1, hval(k, 0)), 0);
	CHECK_EQ(dmac_imap_batch_commit(b), 0);
	CHECK(imap_flat_slots(a.m) != 0); /* the snapshot below reads a flat window */

	/* The snapshot's section lasts while another thread commits 8 * N ops. */
	dmac_imap_read_lock();
	s = dmac_imap_snapshot(a.m);
	FATAL_IF(pthread_create(&th, NULL, churn, &a) != 0);
	pthread_join(th, NULL);
	CHECK_EQ(a.rc, 0);
	for (size_t k = 0; k < N; k++) {
		if (dmac_imap_snap_translate(s, st(k) + 5, 4 * KIB, &len) != val(k) + 5 ||
		    len != 4 * KIB - 5)
			bad++;
		if (dmac_imap_snap_lookup_range(s, st(k), 0, &e, &len) || e.value != val(k) ||
		    len != 4 * KIB)
			bad++;
	}
	for (size_t k = 0; k < H; k++) {
		uint64_t o = k * 12345 % (2 * MIB);

		if (dmac_imap_snap_translate(s, hst(k) + o, 0, &len) != hval(k, 0) + o ||
		    len != 2 * MIB - o ||
		    dmac_imap_snap_translate(s, hst(k) + o, 0, NULL) != hval(k, 0) + o)
			bad++;
		if (dmac_imap_snap_translate(s, hst(k) + 2 * MIB + o, 0, NULL) != DMAC_IMAP_NONE)
			bad++;
	}
	while (dmac_imap_snap_next(s, x, &e) == 0) {
		if (e.start < HB ? e.value != val((e.start - BASE) / (8 * KIB))
				 : e.value != hval((e.start - HB) / (6 * MIB), 0))
			bad++;
		walked++;
		x = e.last + 1;
	}
	CHECK_EQ(walked, N + H);
	CHECK_EQ(dmac_imap_snap_count(s), N + H);
	CHECK_EQ(bad, 0);
	/* The map itself shows the last version. */
	CHECK_EQ(dmac_imap_translate(a.m, st(3) + 5, 0, NULL), val(3) + 4 * KIB + 5);
	CHECK_EQ(dmac_imap_translate(a.m, st(4) + 5, 0, NULL), DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_translate(a.m, hst(3) + 5, 0, NULL), hval(3, 1) + 5);
	CHECK_EQ(dmac_imap_translate(a.m, hst(4) + 5, 0, NULL), DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_translate(a.m, hst(5) + 5, 0, NULL), hval(5, 0) + 5);
	CHECK_EQ(dmac_imap_count(a.m), N - (N + 2) / 3 + H - H / 3);
	dmac_imap_read_unlock();
	dmac_imap_destroy(a.m);
}

static uint64_t tlen(struct dmac_imap *m, uint64_t addr, uint64_t max_len, uint64_t *t)
{
	uint64_t len = 0xdead;

	dmac_imap_read_lock();
	*t = dmac_imap_translate(m, addr, max_len, &len);
	dmac_imap_read_unlock();
	return len;
}

static void test_index_runs(void)
{
	struct dmac_imap_stats s;
	struct dmac_imap *m;
	uint64_t t, a = 8 * GIB - 64 * MIB, v = 1ULL << 36;

	FATAL_IF(dmac_imap_create(&m) != 0);
	/* A run of 2 MiB pieces across the 8 GiB node boundary (and 128 MiB ones). */
	for (int i = 0; i < 64; i++)
		CHECK_EQ(dmac_imap_insert(m, a + i * 2 * MIB, a + (i + 1) * 2 * MIB - 1,
					  v + i * 2 * MIB),
			 0);
	CHECK_EQ(tlen(m, a, 0, &t), 128 * MIB);
	CHECK_EQ(t, v);
	CHECK_EQ(tlen(m, a + 63 * MIB, 0, &t), 65 * MIB);
	CHECK_EQ(tlen(m, a + 63 * MIB, 8 * MIB, &t), 8 * MIB);
	CHECK_EQ(tlen(m, a + 1, 200 * MIB, &t), 128 * MIB - 1);
	/* Continued by a 4 KiB piece that shares its 2 MiB slot with a stranger. */
	CHECK_EQ(dmac_imap_insert(m, a + 128 * MIB, a + 128 * MIB + 4 * KIB - 1, v + 128 * MIB), 0);
	CHECK_EQ(dmac_imap_insert(m, a + 129 * MIB, a + 129 * MIB + 4 * KIB - 1, 5 * GIB), 0);
	CHECK_EQ(tlen(m, a + 100 * MIB, 0, &t), 28 * MIB + 4 * KIB);
	CHECK_EQ(tlen(m, a + 100 * MIB, 28 * MIB + 1, &t), 28 * MIB + 1);
	/* Break the run in the middle (the piece right after the node boundary). */
	CHECK_EQ(dmac_imap_remove(m, a + 64 * MIB, a + 66 * MIB - 1), 0);
	CHECK_EQ(tlen(m, a, 0, &t), 64 * MIB);
	CHECK_EQ(tlen(m, a + 64 * MIB, 0, &t), 0xdead);
	CHECK_EQ(t, DMAC_IMAP_NONE);
	CHECK_EQ(dmac_imap_insert(m, a + 64 * MIB, a + 66 * MIB - 1, v + 64 * MIB + 4 * KIB), 0);
	CHECK_EQ(tlen(m, a, 0, &t), 64 * MIB); /* value does not continue */
	CHECK_EQ(tlen(m, a + 64 * MIB, 0, &t), 2 * MIB);
	CHECK_EQ(dmac_imap_remove(m, a + 64 * MIB, a + 66 * MIB - 1), 0);
	CHECK_EQ(dmac_imap_insert(m, a + 64 * MIB, a + 66 * MIB - 1, v + 64 * MIB), 0);
	CHECK_EQ(tlen(m, a, 0, &t), 128 * MIB + 4 * KIB);

	/* The root moves up for a far insert (keys past 2^63) and back down. */
	CHECK(dmac_imap_stats(m, &s) == 0);
	size_t nodes = s.index_nodes;

	CHECK_EQ(dmac_imap_insert(m, UINT64_MAX - 4095, UINT64_MAX, 0), 0);
	CHECK_EQ(dmac_imap_translate(m, UINT64_MAX - 1, 0, NULL), 4094);
	CHECK_EQ(tlen(m, a + 1, 0, &t), 128 * MIB + 4 * KIB - 1);
	CHECK(dmac_imap_stats(m, &s) == 0);
	CHECK(s.index_nodes > nodes);
	CHECK_EQ(dmac_imap_remove(m, UINT64_MAX - 4095, UINT64_MAX), 0);
	CHECK(dmac_imap_stats(m, &s) == 0);
	CHECK_EQ(s.index_nodes, nodes);
	dmac_imap_destroy(m);
}

/*
 * translate of addr with max_len, inline (the flat index when the version has a window)
 * and by the version's radix tree, must agree; returns the length (0xdead on a miss).
 */
static uint64_t both(struct dmac_imap *m, uint64_t addr, uint64_t max_len, uint64_t *t)
{
	uint64_t len = 0xdead, tlen = 0xdead, tt;
	const struct dmac_imap_snap *s;

	dmac_imap_read_lock();
	s = dmac_imap_snapshot(m);
	*t = dmac_imap_snap_translate(s, addr, max_len, &len);
	tt = dmac__imap_translate_slow(s, addr, max_len, &tlen);
	dmac_imap_read_unlock();
	CHECK_EQ(tt, *t);
	CHECK_EQ(tlen, len);
	return len;
}

/* The flat window's life and the answers through it (see the file comment). */
static void test_flat(void)
{
	const uint64_t a = 0x7f2000000000ULL, v = 1ULL << 42;
	struct dmac_imap_stats st;
	struct dmac_imap *m;
	uint64_t t, n0, n1;

	FATAL_IF(dmac_imap_create(&m) != 0);
	CHECK_EQ(imap_flat_slots(m), 0);
	/* 300 pieces of 2 MiB marching right by 1 GiB + 2 MiB: the window moves. */
	for (int i = 0; i < 300; i++) {
		uint64_t k = a + i * (GIB + 2 * MIB);

		CHECK_EQ(dmac_imap_insert(m, k, k + 2 * MIB - 1, v + i * 4 * MIB), 0);
		CHECK(imap_flat_slots(m) > (uint64_t)i);
		CHECK_EQ(both(m, k + 5, 0, &t), 2 * MIB - 5);
		CHECK_EQ(t, v + i * 4 * MIB + 5);
		CHECK_EQ(both(m, k + 2 * MIB, 0, &t), 0xdead);
	}
	for (int i = 0; i < 300; i++) {
		uint64_t k = a + i * (GIB + 2 * MIB);

		CHECK_EQ(both(m, k + 2 * MIB - 1, 0, &t), 1);
		CHECK_EQ(t, v + i * 4 * MIB + 2 * MIB - 1);
		CHECK_EQ(both(m, k + 2 * MIB, 0, &t), 0xdead);
		CHECK_EQ(both(m, k - 1, 0, &t), 0xdead);
	}
	/* A run of 200 pieces of 2 MiB (400 MiB, continuing values) across two tables. */
	const uint64_t r = a + 400 * GIB - 200 * MIB, rv = 1ULL << 43;

	for (int i = 0; i < 200; i++)
		CHECK_EQ(dmac_imap_insert(m, r + i * 2 * MIB, r + (i + 1) * 2 * MIB - 1,
					  rv + i * 2 * MIB),
			 0);
	for (uint64_t o = 0; o < 400 * MIB; o += 7 * MIB + 4096 * 3) {
		CHECK_EQ(both(m, r + o, 0, &t), 400 * MIB - o);
		CHECK_EQ(t, rv + o);
		CHECK_EQ(both(m, r + o, 8 * MIB, &t),
			 400 * MIB - o < 8 * MIB ? 400 * MIB - o : 8 * MIB);
		CHECK_EQ(both(m, r + o, 300 * MIB, &t),
			 400 * MIB - o < 300 * MIB ? 400 * MIB - o : 300 * MIB);
	}
	/* 80 GiB of 1 GiB pieces, continuing values: FULL slots, k saturating at 63. */
	const uint64_t g = a + 512 * GIB, gv = 1ULL << 44;

	for (int i = 0; i < 80; i++)
		CHECK_EQ(dmac_imap_insert(m, g + i * GIB, g + (i + 1) * GIB - 1, gv + i * GIB), 0);
	for (int i = 0; i < 80; i += 3) {
		CHECK_EQ(both(m, g + i * GIB + 12345, 0, &t), (80 - i) * GIB - 12345);
		CHECK_EQ(t, gv + i * GIB + 12345);
		CHECK_EQ(both(m, g + i * GIB + 1, 70 * GIB, &t),
			 (80 - i) * GIB - 1 < 70 * GIB ? (80 - i) * GIB - 1 : 70 * GIB);
	}
	CHECK_EQ(both(m, g + 80 * GIB, 0, &t), 0xdead);
	CHECK_EQ(dmac_imap_stats(m, &st), 0);
	n0 = imap_flat_slots(m);
	CHECK(st.index_bytes >= n0 * 8 + 4096); /* the top and at least a table */

	/* A key far away: too sparse for a window, the tree answers; then back. */
	CHECK_EQ(dmac_imap_insert(m, 1ULL << 60, (1ULL << 60) + GIB - 1, 1ULL << 45), 0);
	CHECK_EQ(imap_flat_slots(m), 0);
	CHECK_EQ(both(m, g + 5 * GIB + 7, 0, &t), 75 * GIB - 7);
	CHECK_EQ(both(m, r + 5, 0, &t), 400 * MIB - 5);
	CHECK_EQ(both(m, (1ULL << 60) + 9, 0, &t), GIB - 9);
	CHECK_EQ(dmac_imap_remove(m, 1ULL << 60, (1ULL << 60) + GIB - 1), 0);
	n1 = imap_flat_slots(m);
	CHECK(n1 != 0);
	CHECK_EQ(both(m, g + 5 * GIB + 7, 0, &t), 75 * GIB - 7);
	CHECK_EQ(t, gv + 5 * GIB + 7);
	CHECK_EQ(both(m, r + 5, 0, &t), 400 * MIB - 5);
	for (int i = 0; i < 300; i += 7) {
		uint64_t k = a + i * (GIB + 2 * MIB);

		CHECK_EQ(both(m, k + 3, 0, &t), 2 * MIB - 3);
		CHECK_EQ(t, v + i * 4 * MIB + 3);
	}
	/* Shrink to the 1 GiB pieces: a smaller window; then empty: none, nothing left. */
	for (int i = 0; i < 300; i++) {
		uint64_t k = a + i * (GIB + 2 * MIB);

		CHECK_EQ(dmac_imap_remove(m, k, k + 2 * MIB - 1), 0);
	}
	for (int i = 0; i < 200; i++)
		CHECK_EQ(dmac_imap_remove(m, r + i * 2 * MIB, r + (i + 1) * 2 * MIB - 1), 0);
	CHECK(imap_flat_slots(m) != 0 && imap_flat_slots(m) < n1);
	CHECK_EQ(both(m, g + 79 * GIB, 0, &t), GIB);
	CHECK_EQ(both(m, g - 1, 0, &t), 0xdead);
	for (int i = 0; i < 80; i++)
		CHECK_EQ(dmac_imap_remove(m, g + i * GIB, g + (i + 1) * GIB - 1), 0);
	CHECK_EQ(imap_flat_slots(m), 0);
	CHECK_EQ(dmac_imap_stats(m, &st), 0);
	CHECK_EQ(st.index_nodes, 0);
	CHECK_EQ(st.index_bytes % 4096, 0); /* no top: the pool's tables, kept for reuse */
	dmac_imap_destroy(m);
}

static void test_burst(void)
{
	enum { B = 64 };
	uint64_t addr[B], iova[B], len[B], one, l1;
	struct dmac_imap *m;

	FATAL_IF(dmac_imap_create(&m) != 0);
	for (size_t k = 0; k < 200; k++)
		CHECK_EQ(dmac_imap_insert(m, st(k), st(k) + 4 * KIB - 1, val(k)), 0);
	CHECK_EQ(dmac_imap_insert(m, 64 * GIB, 66 * GIB - 1, 2 * GIB), 0);
	for (int i = 0; i < B; i++)
		addr[i] =
		    i % 3 == 0 ? 64 * GIB + rnd() % (2 * GIB) : st(rnd() % 210) + rnd() % 8192;
	dmac_imap_read_lock();
	for (int i = 0; i < B; i++)
		len[i] = i % 2 ? 0 : 4 * MIB;
	CHECK_EQ(dmac_imap_translate_burst(NULL, addr, iova, len, B), 0);
	CHECK_EQ(iova[0], DMAC_IMAP_NONE);
	CHECK_EQ(len[0], 0);
	size_t hits = 0;

	for (int i = 0; i < B; i++)
		len[i] = i % 2 ? 0 : 4 * MIB;
	size_t got = dmac_imap_translate_burst(m, addr, iova, len, B);

	for (int i = 0; i < B; i++) {
		l1 = 0;
		one = dmac_imap_translate(m, addr[i], i % 2 ? 0 : 4 * MIB, &l1);
		CHECK_EQ(iova[i], one);
		CHECK_EQ(len[i], one == DMAC_IMAP_NONE ? 0 : l1);
		hits += one != DMAC_IMAP_NONE;
	}
	CHECK_EQ(got, hits);
	CHECK(hits > 0 && hits < B);
	CHECK_EQ(dmac_imap_translate_burst(m, addr, iova, NULL, B), hits);
	dmac_imap_read_unlock();
	dmac_imap_destroy(m);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();

	urcu_memb_register_thread();
	test_btree();
	test_old_versions();
	test_index_runs();
	test_flat();
	test_burst();
	CHECK_EQ(dmac__alloc_outstanding(), base);
	urcu_memb_unregister_thread();
	return check_report("imap_tree");
}
