/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_imap: allocation fault injection.
 *
 * For n = 1, 2, ... the nth allocation from the start of a scenario fails
 * (dmac__fault_alloc_arm(n)); the loop ends with the first run in which no fault
 * fired. The scenario creates a map, runs batches that build, copy-on-write and drop
 * index nodes, grow the sorted array, insert and remove inside one batch, and
 * destroys the map.
 *
 * Invariants checked: a step that fails returns -ENOMEM (from the op or from the
 * commit) and leaves the map answering exactly as before the step (every interval's
 * bounds, misses around them, count and ordered iteration); a step that succeeds
 * publishes exactly its ops; after destroy, dmac__alloc_outstanding() is back to its
 * starting value.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "dmac/imap.h"
#include "dmac_alloc.h"
#include "../check.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define MAXIV 512

struct iv {
	uint64_t start, last, value;
};

struct model {
	struct iv a[MAXIV];
	size_t n;
};

struct op {
	int remove;
	uint64_t start, last, value;
};

static void model_apply(struct model *md, const struct op *o)
{
	if (!o->remove) {
		FATAL_IF(md->n == MAXIV);
		md->a[md->n++] = (struct iv){o->start, o->last, o->value};
		return;
	}
	for (size_t i = 0; i < md->n; i++) {
		if (md->a[i].start == o->start && md->a[i].last == o->last) {
			md->a[i] = md->a[--md->n];
			return;
		}
	}
	fprintf(stderr, "remove of missing [0x%" PRIx64 ", 0x%" PRIx64 "]\n", o->start, o->last);
	FATAL_IF(1); /* scenarios only remove what exists */
}

static int probe(struct dmac_imap *m, const struct model *md, uint64_t addr)
{
	struct dmac_imap_entry e;
	uint64_t t;
	int rc;

	dmac_imap_read_lock();
	rc = dmac_imap_lookup(m, addr, &e);
	t = dmac_imap_translate(m, addr, 0, NULL);
	dmac_imap_read_unlock();
	for (size_t i = 0; i < md->n; i++) {
		const struct iv *x = &md->a[i];

		if (x->start <= addr && addr <= x->last)
			return rc == 0 && e.start == x->start && e.last == x->last &&
			       e.value == x->value && t == x->value + (addr - x->start);
	}
	return rc == -ENOENT && t == DMAC_IMAP_NONE;
}

/* The map answers exactly as the model. Returns 0 when it does. */
static int consistent(struct dmac_imap *m, const struct model *md)
{
	struct dmac_imap_entry e;
	uint64_t a = 0;
	size_t seen = 0;
	int bad = 0;

	for (size_t i = 0; i < md->n; i++) {
		const struct iv *x = &md->a[i];

		bad |= !probe(m, md, x->start) || !probe(m, md, x->last) ||
		       !probe(m, md, x->start + (x->last - x->start) / 2) ||
		       !probe(m, md, x->start - 1) || !probe(m, md, x->last + 1);
	}
	dmac_imap_read_lock();
	if (dmac_imap_count(m) != md->n)
		bad = 1;
	while (!bad && dmac_imap_next(m, a, &e) == 0) {
		seen++;
		if (e.last == UINT64_MAX)
			break;
		a = e.last + 1;
	}
	dmac_imap_read_unlock();
	return bad || seen != md->n;
}

#define INS(s, l, v)                                                                               \
	{                                                                                          \
		0, (s), (l), (v)                                                                   \
	}
#define REM(s, l)                                                                                  \
	{                                                                                          \
		1, (s), (l), 0                                                                     \
	}
#define END                                                                                        \
	{                                                                                          \
		-1, 0, 0, 0                                                                        \
	}

/* One batch per row; a row of a single op (marked one = 1) uses insert()/remove(). */
struct step {
	int one;
	struct op ops[48];
};

static struct step steps[8];

static void build_steps(void)
{
	int k;
	struct step *s;

	/* 0: hugepages in one 1 GiB region + 4 KiB pages in one slot + a key >= 2^48. */
	s = &steps[0];
	k = 0;
	for (int i = 0; i < 24; i++)
		s->ops[k++] =
		    (struct op)INS(GIB + i * 4 * MIB, GIB + i * 4 * MIB + 2 * MIB - 1, i * 2 * MIB);
	for (int i = 0; i < 16; i++)
		s->ops[k++] = (struct op)INS(8 * GIB + i * 4 * KIB, 8 * GIB + i * 4 * KIB + 4095,
					     (1ULL << 40) + i * 4 * KIB);
	s->ops[k++] = (struct op)INS(1ULL << 50, (1ULL << 50) + GIB - 1, 7);
	s->ops[k++] = (struct op)INS((1ULL << 48) - 2 * MIB, (1ULL << 48) + 2 * MIB - 1, 9);
	s->ops[k++] = (struct op)END;
	/* 1: a one-op insert into an existing leaf node (copy-on-write of the path). */
	steps[1] = (struct step){1, {INS(GIB + 2 * MIB, GIB + 4 * MIB - 1, 5), END}};
	/* 2: mixed batch: removes, inserts into a fresh region, insert+remove. */
	steps[2] =
	    (struct step){0,
			  {REM(GIB, GIB + 2 * MIB - 1), REM(8 * GIB, 8 * GIB + 4095),
			   INS(600 * GIB, 600 * GIB + 3 * GIB - 1, 11),
			   INS(600 * GIB + 3 * GIB, 600 * GIB + 3 * GIB + 4095, 12),
			   INS(33 * GIB, 33 * GIB + 4095, 1), REM(33 * GIB, 33 * GIB + 4095), END}};
	/* 3: one-op remove. */
	steps[3] = (struct step){1, {REM(1ULL << 50, (1ULL << 50) + GIB - 1), END}};
	/* 4: empty a whole 1 GiB region: its leaf node is dropped. */
	s = &steps[4];
	k = 0;
	for (int i = 1; i < 24; i++)
		s->ops[k++] = (struct op)REM(GIB + i * 4 * MIB, GIB + i * 4 * MIB + 2 * MIB - 1);
	s->ops[k++] = (struct op)REM(GIB + 2 * MIB, GIB + 4 * MIB - 1);
	s->ops[k++] = (struct op)END;
	/* 5: cover the whole window below the existing intervals' top entry. */
	steps[5] = (struct step){0,
				 {INS(1024 * GIB, (1ULL << 47) - 1, 3),
				  INS((1ULL << 47), (1ULL << 48) - 2 * MIB - 1, 4), END}};
	/* 6: remove the big ones again, and the window-edge one, in one batch. */
	steps[6] = (struct step){0,
				 {REM(1024 * GIB, (1ULL << 47) - 1),
				  REM((1ULL << 47), (1ULL << 48) - 2 * MIB - 1),
				  REM((1ULL << 48) - 2 * MIB, (1ULL << 48) + 2 * MIB - 1), END}};
	/* 7: many small intervals: grows the sorted array past its first capacity. */
	s = &steps[7];
	k = 0;
	for (int i = 0; i < 40; i++)
		s->ops[k++] =
		    (struct op)INS(2 * GIB + i * 3 * MIB, 2 * GIB + i * 3 * MIB + 4 * KIB - 1, i);
	s->ops[k++] = (struct op)END;
}

/* Run one step; on success apply it to *md. Returns 0 or the error. */
static int run_step(struct dmac_imap *m, const struct step *s, struct model *md)
{
	struct model next = *md;
	int err = 0, rc;

	if (s->one) {
		const struct op *o = &s->ops[0];

		err = o->remove ? dmac_imap_remove(m, o->start, o->last)
				: dmac_imap_insert(m, o->start, o->last, o->value);
		model_apply(&next, o);
	} else {
		struct dmac_imap_batch *b;

		FATAL_IF(dmac_imap_batch_begin(m, &b) != 0);
		for (const struct op *o = s->ops; o->remove >= 0; o++) {
			rc = o->remove ? dmac_imap_batch_remove(b, o->start, o->last)
				       : dmac_imap_batch_insert(b, o->start, o->last, o->value);
			if (rc && !err)
				err = rc;
			model_apply(&next, o);
		}
		rc = dmac_imap_batch_commit(b);
		if (err)
			CHECK_EQ(rc, err); /* the poisoning error */
		err = rc;
	}
	if (!err)
		*md = next;
	return err;
}

static void scenario(int64_t *faults_seen)
{
	struct dmac_imap *m;
	struct model md = {0};
	int rc;

	rc = dmac_imap_create(&m);
	if (rc) {
		CHECK_EQ(rc, -ENOMEM);
		(*faults_seen)++;
		return;
	}
	for (size_t si = 0; si < sizeof(steps) / sizeof(steps[0]); si++) {
		/* A step that failed is retried once: the injected fault is single-shot. */
		for (int attempt = 0; attempt < 2; attempt++) {
			int err = run_step(m, &steps[si], &md);

			if (err) {
				CHECK_EQ(err, -ENOMEM);
				CHECK_EQ(attempt, 0);
				(*faults_seen)++;
			}
			if (consistent(m, &md)) {
				fprintf(stderr, "step %zu (err %d): map differs from the model\n",
					si, err);
				check_failures++;
			}
			if (!err)
				break;
		}
	}
	dmac_imap_destroy(m);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();
	uint64_t n;

	urcu_memb_register_thread();
	build_steps();
	for (n = 1; n < 100000; n++) {
		int64_t faults = 0;

		dmac__fault_alloc_arm(n);
		scenario(&faults);
		if (!dmac__fault_alloc_fired()) {
			CHECK_EQ(faults, 0);
			break;
		}
		/* The one injected failure surfaced as exactly one -ENOMEM. */
		CHECK_EQ(faults, 1);
		CHECK_EQ(dmac__alloc_outstanding(), base);
	}
	dmac__fault_alloc_arm(0);
	printf("imap_fault: %" PRIu64 " runs, the last without a fault\n", n);
	CHECK(n > 10);
	CHECK_EQ(dmac__alloc_outstanding(), base);
	urcu_memb_unregister_thread();
	return check_report("imap_fault");
}
