/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_imap: readers against a writer publishing batches.
 *
 * Two maps, one after the other. The first holds three runs spread over 2^52 bytes
 * (hugepages, a run above 2^48, and 4 KiB pages sharing one 2 MiB slot): too sparse
 * for a flat window, so every read walks the version's radix tree. The second holds
 * four runs in one window of the flat index, so reads go through the slots and tables
 * that commits write in place: 2 MiB pieces and 4 KiB pages in one 1 GiB region (its
 * table stays and is rewritten), a run across a 1 GiB boundary (a contiguous length
 * that crosses two tables), and a 1 GiB region that is one interval (a FULL slot) in
 * odd generations and two (a table, created and retired on every flip) in even ones.
 * Generation g lays every run out in one of two ways (even: many small intervals, odd:
 * few large ones) and maps byte addr of run r to (g << 44) | (r << 40) | (addr - run
 * base). Each batch removes every interval of generation g and inserts every interval
 * of g + 1, so index nodes and flat words are built, copied, rewritten and dropped on
 * every commit and the old ones are freed by call_rcu.
 *
 * Invariants checked by every reader in every read-side section:
 * - through one snapshot (dmac_imap_snapshot()), all translations, lookups, the
 *   contiguous length of each run and the count come from ONE generation (a torn
 *   batch would mix two);
 * - every single call on the map (translate with a length, lookup_range) is
 *   consistent in itself: its value, its interval's bounds and the contiguous length
 *   of the whole run (which spans many intervals of one batch in even generations,
 *   and would break at any interval of the other generation) come from one
 *   generation, never older than the section's snapshot;
 * - generations never go backwards, and each run is contiguous over its whole length. Freed memory
 * touched by a reader is caught by the ASan build; the TSan build checks the ordering (see the TSan
 * model in imap.c). Bounded: per map, the writer stops after 1.5 seconds or 20000 batches,
 * whichever comes first.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "dmac/imap.h"
#include "dmac_alloc.h"
#include "../check.h"
#include "imap_peek.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define NREADERS 3

struct run {
	uint64_t base, len;
	uint64_t piece[2]; /* interval size in even / odd generations */
};

/* The radix tree only (no flat window: the runs spread over 2^52 bytes). */
static const struct run runs_tree[] = {
    {0x7f0000000000ULL, 64 * MIB, {2 * MIB, 64 * MIB}},
    {1ULL << 52, 8 * MIB, {2 * MIB, 8 * MIB}},
    {0x10000000ULL, 256 * KIB, {4 * KIB, 16 * KIB}},
};
/* Within one flat window: slots and tables written in place (see the file comment). */
#define FB 0x7f0000000000ULL
static const struct run runs_flat[] = {
    {FB, 64 * MIB, {2 * MIB, 64 * MIB}},
    {FB + 512 * MIB, 256 * KIB, {4 * KIB, 16 * KIB}},
    {FB + GIB - 4 * MIB, 8 * MIB, {2 * MIB, 8 * MIB}},
    {FB + 2 * GIB, GIB, {512 * MIB, GIB}},
};
static const struct run *runs;
static size_t nruns;

static _Atomic int stop;
static _Atomic int readers_ready;
static _Atomic uint64_t published; /* last generation committed */
static _Atomic uint64_t reader_last[NREADERS];
static _Atomic int reader_errors;

static uint64_t val(uint64_t gen, size_t r, uint64_t addr)
{
	return (gen << 44) | ((uint64_t)r << 40) | (addr - runs[r].base);
}

static size_t layout_count(uint64_t gen)
{
	size_t n = 0;

	for (size_t r = 0; r < nruns; r++)
		n += runs[r].len / runs[r].piece[gen & 1];
	return n;
}

static int layout_ops(struct dmac_imap_batch *b, uint64_t gen, int insert)
{
	for (size_t r = 0; r < nruns; r++) {
		uint64_t p = runs[r].piece[gen & 1];

		for (uint64_t a = runs[r].base; a < runs[r].base + runs[r].len; a += p) {
			int rc = insert ? dmac_imap_batch_insert(b, a, a + p - 1, val(gen, r, a))
					: dmac_imap_batch_remove(b, a, a + p - 1);

			if (rc)
				return rc;
		}
	}
	return 0;
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void reader_fail(int id, const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr, "reader %d: %s (0x%" PRIx64 ", 0x%" PRIx64 ")\n", id, what, a, b);
	atomic_fetch_add(&reader_errors, 1);
}

/*
 * One call on the map itself (not the snapshot) at addr of run r: translate with a
 * length and lookup_range must each be consistent in themselves (one generation,
 * whole run contiguous) and not older than the snapshot's generation 'gen'.
 */
static int check_single_calls(struct dmac_imap *m, int id, size_t r, uint64_t addr, uint64_t gen)
{
	struct dmac_imap_entry e;
	uint64_t len = 0, contig = 0, t, g, p;

	t = dmac_imap_translate(m, addr, 0, &len);
	g = t >> 44;
	if (t == DMAC_IMAP_NONE || t != val(g, r, addr) || g < gen) {
		reader_fail(id, "single translate: bad or old translation", addr, t);
		return 1;
	}
	if (len != runs[r].base + runs[r].len - addr) {
		reader_fail(id, "single translate: torn batch (run not contiguous)", addr, len);
		return 1;
	}
	if (dmac_imap_lookup_range(m, addr, 0, &e, &contig) != 0) {
		reader_fail(id, "single lookup_range: miss", addr, 0);
		return 1;
	}
	g = e.value >> 44;
	p = runs[r].piece[g & 1];
	if (g < gen || e.start != runs[r].base + (addr - runs[r].base) / p * p ||
	    e.last != e.start + p - 1 || e.value != val(g, r, e.start) ||
	    contig != runs[r].base + runs[r].len - addr) {
		reader_fail(id, "single lookup_range: torn batch", addr, e.value);
		return 1;
	}
	return 0;
}

/* One read-side section; returns the generation it saw, or UINT64_MAX on error. */
static uint64_t read_section(struct dmac_imap *m, int id, uint64_t *rs)
{
	const struct dmac_imap_snap *s;
	uint64_t gen = UINT64_MAX;
	int bad = 0;

	dmac_imap_read_lock();
	s = dmac_imap_snapshot(m);
	for (size_t r = 0; r < nruns && !bad; r++) {
		struct dmac_imap_entry e;
		uint64_t len = 0, contig = 0, t, g;

		for (int k = 0; k < 4 && !bad; k++) {
			uint64_t addr = runs[r].base + xs(rs) % runs[r].len;

			t = dmac_imap_snap_translate(s, addr, 0, k == 0 ? &len : NULL);
			g = t >> 44;
			if (t == DMAC_IMAP_NONE || t != val(g, r, addr)) {
				reader_fail(id, "bad translation", addr, t);
				bad = 1;
			} else if (gen != UINT64_MAX && g != gen) {
				reader_fail(id, "torn batch: two generations in one snapshot", gen,
					    g);
				bad = 1;
			} else if (k == 0 && len != runs[r].base + runs[r].len - addr) {
				reader_fail(id, "run not contiguous", addr, len);
				bad = 1;
			}
			gen = g;
			if (!bad && k == 1)
				bad = check_single_calls(m, id, r, addr, gen);
		}
		if (bad)
			break;
		if (dmac_imap_snap_lookup_range(s, runs[r].base, 0, &e, &contig) != 0 ||
		    e.start != runs[r].base ||
		    e.last != runs[r].base + runs[r].piece[gen & 1] - 1 ||
		    e.value != val(gen, r, runs[r].base) || contig != runs[r].len) {
			reader_fail(id, "lookup_range of another generation", gen, e.value);
			bad = 1;
		}
	}
	if (!bad && dmac_imap_snap_count(s) != layout_count(gen)) {
		reader_fail(id, "count of another generation", gen, dmac_imap_snap_count(s));
		bad = 1;
	}
	dmac_imap_read_unlock();
	return bad ? UINT64_MAX : gen;
}

struct reader_arg {
	struct dmac_imap *m;
	int id;
};

static void *reader(void *p)
{
	struct reader_arg *ra = p;
	uint64_t rs = 0x9e3779b97f4a7c15ULL * (ra->id + 1), last = 0, sections = 0;
	int ready = 0;

	urcu_memb_register_thread();
	for (;;) {
		int stopping = atomic_load(&stop);
		uint64_t g = read_section(ra->m, ra->id, &rs);

		sections++;
		if (g == UINT64_MAX)
			break;
		if (g < last) {
			reader_fail(ra->id, "generation went backwards", last, g);
			break;
		}
		last = g;
		atomic_store(&reader_last[ra->id], g);
		if (!ready) {
			ready = 1;
			atomic_fetch_add(&readers_ready, 1);
		}
		/* A section started after the final commit has been seen: done. */
		if (stopping)
			break;
	}
	urcu_memb_unregister_thread();
	printf("reader %d: %" PRIu64 " sections, last generation %" PRIu64 "\n", ra->id, sections,
	       last);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Readers against the writer on a map of the runs of 'set' (flat: in a flat window). */
static void run_map(const struct run *set, size_t nset, int flat, const char *name)
{
	int64_t base = dmac__alloc_outstanding();
	struct reader_arg ra[NREADERS];
	pthread_t th[NREADERS];
	struct dmac_imap *m;
	struct dmac_imap_batch *b;
	uint64_t gen = 0;
	double t0;

	runs = set;
	nruns = nset;
	atomic_store(&stop, 0);
	atomic_store(&readers_ready, 0);
	atomic_store(&published, 0);
	for (int i = 0; i < NREADERS; i++)
		atomic_store(&reader_last[i], 0);
	FATAL_IF(dmac_imap_create(&m) != 0);
	FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
	FATAL_IF(layout_ops(b, 0, 1) != 0);
	FATAL_IF(dmac_imap_batch_commit(b) != 0);
	CHECK_EQ(imap_flat_slots(m) != 0, flat); /* the path this map is meant to test */

	for (int i = 0; i < NREADERS; i++) {
		ra[i] = (struct reader_arg){m, i};
		FATAL_IF(pthread_create(&th[i], NULL, reader, &ra[i]) != 0);
	}
	/* Every reader has seen generation 0 before the first flip. */
	while (atomic_load(&readers_ready) < NREADERS && !atomic_load(&reader_errors))
		sched_yield();

	t0 = now();
	while (gen < 20000 && now() - t0 < 1.5 && !atomic_load(&reader_errors)) {
		FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
		CHECK_EQ(layout_ops(b, gen, 0), 0);
		CHECK_EQ(layout_ops(b, gen + 1, 1), 0);
		CHECK_EQ(dmac_imap_batch_commit(b), 0);
		gen++;
		atomic_store(&published, gen);
		/* Now and then a batch that fails half-way: it must publish nothing. */
		if (gen % 16 == 0) {
			FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
			CHECK_EQ(layout_ops(b, gen, 0), 0);
			CHECK_EQ(dmac_imap_batch_insert(b, runs[0].base, runs[0].base, 0), 0);
			CHECK_EQ(dmac_imap_batch_insert(b, runs[0].base, runs[0].base, 0), -EEXIST);
			CHECK_EQ(dmac_imap_batch_commit(b), -EEXIST);
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);

	printf("%s: writer: %" PRIu64 " batches published in %.2f s\n", name, gen, now() - t0);
	CHECK_EQ(atomic_load(&reader_errors), 0);
	CHECK(gen >= 1);
	for (int i = 0; i < NREADERS; i++)
		CHECK_EQ(atomic_load(&reader_last[i]), gen); /* saw the final generation */
	dmac_imap_destroy(m);
	CHECK_EQ(dmac__alloc_outstanding(), base);
}

int main(void)
{
	urcu_memb_register_thread();
	run_map(runs_tree, sizeof(runs_tree) / sizeof(runs_tree[0]), 0, "radix tree");
	run_map(runs_flat, sizeof(runs_flat) / sizeof(runs_flat[0]), 1, "flat index");
	urcu_memb_unregister_thread();
	return check_report("imap_concurrent");
}
