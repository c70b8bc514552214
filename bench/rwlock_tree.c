/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rwlock_tree: the lock-based peer of the translate benchmark, an ordered set of
 * intervals (a sorted array, binary-searched) behind a pthread_rwlock_t.
 *
 * Invariants:
 * - iv[0 .. n) is sorted by start, intervals are [start, last] with 'last'
 *   inclusive and never overlap.
 * - Every lookup holds the read lock for the duration of the search; inserts hold
 *   the write lock. Nothing is freed while the structure is alive.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "bench.h"
#include "dmac_alloc.h"

struct dmac__rwtree {
	pthread_rwlock_t lock;
	size_t n, cap;
	struct dmac__bench_ival *iv;
};

/* Returns 0, -ENOMEM or the error of pthread_rwlock_init() (negated). */
int dmac__rwtree_create(struct dmac__rwtree **out, size_t capacity)
{
	struct dmac__rwtree *t;
	int ret;

	if (capacity == 0)
		return -EINVAL;
	t = dmac__calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->iv = dmac__calloc(capacity, sizeof(*t->iv));
	if (t->iv == NULL) {
		ret = -ENOMEM;
		goto free_t;
	}
	ret = -pthread_rwlock_init(&t->lock, NULL);
	if (ret < 0)
		goto free_iv;
	t->cap = capacity;
	*out = t;
	return 0;

free_iv:
	dmac__free(t->iv);
free_t:
	dmac__free(t);
	return ret;
}

/* Index of the first interval whose start is > va. Caller holds the lock. */
static size_t upper(const struct dmac__rwtree *t, uint64_t va)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->iv[mid].start <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Insert [start, last] -> iova. Returns 0, -EINVAL (last < start, iova + length
 * wraps, or an overlap) or -ENOSPC (capacity reached). Takes the write lock.
 */
int dmac__rwtree_insert(struct dmac__rwtree *t, uint64_t start, uint64_t last, uint64_t iova)
{
	size_t i;
	int ret = 0;

	if (last < start || iova > UINT64_MAX - (last - start))
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	if (t->n == t->cap) {
		ret = -ENOSPC;
		goto unlock;
	}
	i = upper(t, start);
	if ((i > 0 && t->iv[i - 1].last >= start) || (i < t->n && t->iv[i].start <= last)) {
		ret = -EINVAL;
		goto unlock;
	}
	memmove(&t->iv[i + 1], &t->iv[i], (t->n - i) * sizeof(t->iv[0]));
	t->iv[i] = (struct dmac__bench_ival){.start = start, .last = last, .iova = iova};
	t->n++;
unlock:
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

/*
 * The IOVA of va or DMAC__BENCH_NONE; *len = bytes mapped contiguously from va,
 * clipped to max_len (0: no clip), 0 on a miss. Takes the read lock; any thread.
 */
uint64_t dmac__rwtree_translate(struct dmac__rwtree *t, uint64_t va, uint64_t max_len,
				uint64_t *len)
{
	uint64_t ret = DMAC__BENCH_NONE, l = 0;
	size_t i;

	pthread_rwlock_rdlock(&t->lock);
	i = upper(t, va);
	if (i > 0 && va <= t->iv[i - 1].last) {
		const struct dmac__bench_ival *p = &t->iv[i - 1];

		l = p->last - va + 1;
		if (max_len != 0 && l > max_len)
			l = max_len;
		ret = p->iova + (va - p->start);
	}
	pthread_rwlock_unlock(&t->lock);
	*len = l;
	return ret;
}

/* Destroy; no lookup may run. Never fails. */
void dmac__rwtree_destroy(struct dmac__rwtree *t)
{
	if (t == NULL)
		return;
	pthread_rwlock_destroy(&t->lock);
	dmac__free(t->iv);
	dmac__free(t);
}
