/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lease table: two chained hash tables (leases by id, tenants by id) and, per
 * tenant, a doubly linked list of its leases in creation order.
 *
 * Invariants (checked by dmac__lease_check()):
 * - Bucket counts are powers of two; an entry with key k is in bucket
 *   hash(k) & (nbuckets - 1). Lease ids are unique and non-zero.
 * - Every lease is in the lease hash and in exactly its owner's list; the
 *   owner is registered. A tenant's 'leases' and 'bytes' are the count and
 *   the sum of lengths over its list; the table's count is the total.
 * - The tables grow (double) when the load would pass 1 entry per bucket. A
 *   failed growth is not an error: chains just get longer, lookups stay correct.
 * - 'generation' is the generation of the last lease created.
 * - Lease ranges are [iova, iova + length), iova + length - 1 never wraps.
 *
 * Costs: lookup, remove, tenant stats O(1) expected; create O(1) expected
 * (amortized over growth; the expected number of random draws is 1 + n/2^64);
 * tenant add/remove O(1) expected; foreach O(leases of the tenant).
 *
 * Concurrency: none inside; see lease.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dmac/lease.h"
#include "dmac_alloc.h"

#define INITIAL_BUCKETS 16
#define MAX_DRAWS	64

struct tenant;

struct lease {
	struct lease *hnext; /* hash chain */
	struct lease *tprev; /* owner's list */
	struct lease *tnext;
	struct tenant *owner;
	struct dmac_lease_info info;
};

struct tenant {
	struct tenant *hnext;
	uint64_t id;
	struct dmac_lease_tenant_stats st;
	struct lease *head; /* oldest */
	struct lease *tail;
};

struct dmac_lease_table {
	struct lease **lbuckets;
	size_t nlbuckets;
	struct tenant **tbuckets;
	size_t ntbuckets;
	struct dmac_lease_stats st;
	int (*random)(void *arg, void *buf, size_t len);
	void *random_arg;
};

static inline size_t hash64(uint64_t k, size_t nbuckets)
{
	/* Fibonacci hashing on the top bits: ids may come from a test hook. */
	k ^= k >> 29;
	k *= UINT64_C(0x9e3779b97f4a7c15);
	return (size_t)(k >> 32) & (nbuckets - 1);
}

static int sys_random(void *arg, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int dmac_lease_table_create(struct dmac_lease_table **out)
{
	struct dmac_lease_table *t;

	if (!out)
		return -EINVAL;
	t = dmac__calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->lbuckets = dmac__calloc(INITIAL_BUCKETS, sizeof(*t->lbuckets));
	if (!t->lbuckets)
		goto err_free_table;
	t->tbuckets = dmac__calloc(INITIAL_BUCKETS, sizeof(*t->tbuckets));
	if (!t->tbuckets)
		goto err_free_lbuckets;
	t->nlbuckets = INITIAL_BUCKETS;
	t->ntbuckets = INITIAL_BUCKETS;
	t->random = sys_random;
	*out = t;
	return 0;

err_free_lbuckets:
	dmac__free(t->lbuckets);
err_free_table:
	dmac__free(t);
	return -ENOMEM;
}

void dmac_lease_table_destroy(struct dmac_lease_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nlbuckets; i++) {
		struct lease *l = t->lbuckets[i], *next;

		for (; l; l = next) {
			next = l->hnext;
			dmac__free(l);
		}
	}
	for (i = 0; i < t->ntbuckets; i++) {
		struct tenant *tn = t->tbuckets[i], *next;

		for (; tn; tn = next) {
			next = tn->hnext;
			dmac__free(tn);
		}
	}
	dmac__free(t->lbuckets);
	dmac__free(t->tbuckets);
	dmac__free(t);
}

void dmac__lease_set_random(struct dmac_lease_table *t, int (*fn)(void *arg, void *buf, size_t len),
			    void *arg)
{
	t->random = fn ? fn : sys_random;
	t->random_arg = fn ? arg : NULL;
}

static struct tenant *tenant_find(const struct dmac_lease_table *t, uint64_t id)
{
	struct tenant *tn = t->tbuckets[hash64(id, t->ntbuckets)];

	while (tn && tn->id != id)
		tn = tn->hnext;
	return tn;
}

static struct lease *lease_find(const struct dmac_lease_table *t, uint64_t id)
{
	struct lease *l = t->lbuckets[hash64(id, t->nlbuckets)];

	while (l && l->info.id != id)
		l = l->hnext;
	return l;
}

/* Doubles the tenant hash if it would pass load 1; failure is harmless. */
static void tenant_grow(struct dmac_lease_table *t)
{
	struct tenant **nb;
	size_t n, i;

	if (t->st.tenants + 1 <= t->ntbuckets || t->ntbuckets > SIZE_MAX / 2 / sizeof(*nb))
		return;
	n = t->ntbuckets * 2;
	nb = dmac__calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < t->ntbuckets; i++) {
		struct tenant *tn = t->tbuckets[i], *next;

		for (; tn; tn = next) {
			size_t h = hash64(tn->id, n);

			next = tn->hnext;
			tn->hnext = nb[h];
			nb[h] = tn;
		}
	}
	dmac__free(t->tbuckets);
	t->tbuckets = nb;
	t->ntbuckets = n;
}

static void lease_grow(struct dmac_lease_table *t)
{
	struct lease **nb;
	size_t n, i;

	if (t->st.leases + 1 <= t->nlbuckets || t->nlbuckets > SIZE_MAX / 2 / sizeof(*nb))
		return;
	n = t->nlbuckets * 2;
	nb = dmac__calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < t->nlbuckets; i++) {
		struct lease *l = t->lbuckets[i], *next;

		for (; l; l = next) {
			size_t h = hash64(l->info.id, n);

			next = l->hnext;
			l->hnext = nb[h];
			nb[h] = l;
		}
	}
	dmac__free(t->lbuckets);
	t->lbuckets = nb;
	t->nlbuckets = n;
}

int dmac_lease_tenant_add(struct dmac_lease_table *t, uint64_t tenant, uint64_t max_leases,
			  uint64_t max_bytes)
{
	struct tenant *tn;
	size_t h;

	if (!t || tenant == DMAC_LEASE_TENANT_ANY)
		return -EINVAL;
	if (tenant_find(t, tenant))
		return -EEXIST;
	tn = dmac__calloc(1, sizeof(*tn));
	if (!tn)
		return -ENOMEM;
	tenant_grow(t);
	tn->id = tenant;
	tn->st.max_leases = max_leases;
	tn->st.max_bytes = max_bytes;
	h = hash64(tenant, t->ntbuckets);
	tn->hnext = t->tbuckets[h];
	t->tbuckets[h] = tn;
	t->st.tenants++;
	return 0;
}

int dmac_lease_tenant_remove(struct dmac_lease_table *t, uint64_t tenant)
{
	struct tenant **pp, *tn;

	if (!t)
		return -EINVAL;
	for (pp = &t->tbuckets[hash64(tenant, t->ntbuckets)]; (tn = *pp); pp = &tn->hnext)
		if (tn->id == tenant)
			break;
	if (!tn)
		return -ENOENT;
	if (tn->st.leases)
		return -EBUSY;
	*pp = tn->hnext;
	t->st.tenants--;
	dmac__free(tn);
	return 0;
}

int dmac_lease_tenant_set_quota(struct dmac_lease_table *t, uint64_t tenant, uint64_t max_leases,
				uint64_t max_bytes)
{
	struct tenant *tn = t ? tenant_find(t, tenant) : NULL;

	if (!tn)
		return -ENOENT;
	tn->st.max_leases = max_leases;
	tn->st.max_bytes = max_bytes;
	return 0;
}

int dmac_lease_tenant_stats(const struct dmac_lease_table *t, uint64_t tenant,
			    struct dmac_lease_tenant_stats *st)
{
	const struct tenant *tn = t ? tenant_find(t, tenant) : NULL;

	if (!tn)
		return -ENOENT;
	if (st)
		*st = tn->st;
	return 0;
}

/* Draws a fresh id: non-zero and not in use. */
static int draw_id(struct dmac_lease_table *t, uint64_t *id)
{
	int i, rc;

	for (i = 0; i < MAX_DRAWS; i++) {
		uint64_t v = 0;

		rc = t->random(t->random_arg, &v, sizeof(v));
		if (rc)
			return rc < 0 ? rc : -EIO;
		if (v && !lease_find(t, v)) {
			*id = v;
			return 0;
		}
		t->st.id_retries++;
	}
	return -EIO;
}

int dmac_lease_create(struct dmac_lease_table *t, uint64_t tenant, uint64_t iova, uint64_t length,
		      uint32_t prot, void *priv, struct dmac_lease_info *out)
{
	uint64_t id = 0, retries;
	struct tenant *tn;
	struct lease *l;
	size_t h;
	int rc;

	if (!t || !length || length - 1 > UINT64_MAX - iova || !prot ||
	    (prot & ~DMAC_LEASE_PROT_MASK) || tenant == DMAC_LEASE_TENANT_ANY)
		return -EINVAL;
	tn = tenant_find(t, tenant);
	if (!tn)
		return -ENOENT;
	if (tn->st.leases >= tn->st.max_leases || tn->st.bytes > tn->st.max_bytes ||
	    length > tn->st.max_bytes - tn->st.bytes)
		return -EDQUOT;
	l = dmac__calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	retries = t->st.id_retries;
	rc = draw_id(t, &id);
	if (rc)
		goto err_free_lease;
	lease_grow(t);

	l->owner = tn;
	l->info.id = id;
	l->info.tenant = tenant;
	l->info.iova = iova;
	l->info.length = length;
	l->info.prot = prot;
	l->info.priv = priv;
	l->info.generation = ++t->st.generation;
	h = hash64(id, t->nlbuckets);
	l->hnext = t->lbuckets[h];
	t->lbuckets[h] = l;
	l->tprev = tn->tail;
	if (tn->tail)
		tn->tail->tnext = l;
	else
		tn->head = l;
	tn->tail = l;
	tn->st.leases++;
	tn->st.bytes += length;
	t->st.leases++;
	if (out)
		*out = l->info;
	return 0;

err_free_lease:
	t->st.id_retries = retries; /* an error changes nothing */
	dmac__free(l);
	return rc;
}

int dmac_lease_lookup(const struct dmac_lease_table *t, uint64_t tenant, uint64_t id,
		      struct dmac_lease_info *out)
{
	const struct lease *l;

	if (!t)
		return -EINVAL;
	l = id ? lease_find(t, id) : NULL;
	if (!l || (tenant != DMAC_LEASE_TENANT_ANY && l->info.tenant != tenant))
		return -ENOENT;
	if (out)
		*out = l->info;
	return 0;
}

int dmac_lease_remove(struct dmac_lease_table *t, uint64_t tenant, uint64_t id,
		      struct dmac_lease_info *out)
{
	struct lease **pp, *l;
	struct tenant *tn;

	if (!t || tenant == DMAC_LEASE_TENANT_ANY)
		return -EINVAL;
	for (pp = &t->lbuckets[hash64(id, t->nlbuckets)]; (l = *pp); pp = &l->hnext)
		if (l->info.id == id)
			break;
	if (!l || l->info.tenant != tenant)
		return -ENOENT; /* same answer for "unknown" and "not yours" */
	*pp = l->hnext;
	tn = l->owner;
	if (l->tprev)
		l->tprev->tnext = l->tnext;
	else
		tn->head = l->tnext;
	if (l->tnext)
		l->tnext->tprev = l->tprev;
	else
		tn->tail = l->tprev;
	tn->st.leases--;
	tn->st.bytes -= l->info.length;
	t->st.leases--;
	if (out)
		*out = l->info;
	dmac__free(l);
	return 0;
}

int dmac_lease_foreach_tenant(struct dmac_lease_table *t, uint64_t tenant, dmac_lease_iter_fn fn,
			      void *arg)
{
	struct tenant *tn = t ? tenant_find(t, tenant) : NULL;
	struct lease *l, *next;
	struct dmac_lease_info info;
	int rc;

	if (!tn)
		return -ENOENT;
	for (l = tn->head; l; l = next) {
		next = l->tnext; /* fetched first: fn may remove l */
		info = l->info;
		rc = fn(arg, &info);
		if (rc)
			return rc;
	}
	return 0;
}

void dmac_lease_stats(const struct dmac_lease_table *t, struct dmac_lease_stats *st)
{
	*st = t->st;
}

int dmac__lease_check(const struct dmac_lease_table *t)
{
	uint64_t leases = 0, tenants = 0, tenant_leases = 0;
	size_t i;

	if (!t->nlbuckets || (t->nlbuckets & (t->nlbuckets - 1)) || !t->ntbuckets ||
	    (t->ntbuckets & (t->ntbuckets - 1)))
		return -1;
	for (i = 0; i < t->nlbuckets; i++) {
		const struct lease *l;

		for (l = t->lbuckets[i]; l; l = l->hnext) {
			const struct dmac_lease_info *in = &l->info;

			if (hash64(in->id, t->nlbuckets) != i || !in->id)
				return -2;
			if (lease_find(t, in->id) != l)
				return -3; /* duplicate id */
			if (!l->owner || tenant_find(t, in->tenant) != l->owner)
				return -4;
			if (!in->length || in->length - 1 > UINT64_MAX - in->iova || !in->prot ||
			    (in->prot & ~DMAC_LEASE_PROT_MASK))
				return -5;
			if (!in->generation || in->generation > t->st.generation)
				return -6;
			leases++;
		}
	}
	if (leases != t->st.leases)
		return -7;
	for (i = 0; i < t->ntbuckets; i++) {
		const struct tenant *tn;

		for (tn = t->tbuckets[i]; tn; tn = tn->hnext) {
			const struct lease *l, *prev = NULL;
			uint64_t n = 0, bytes = 0;

			if (hash64(tn->id, t->ntbuckets) != i || tenant_find(t, tn->id) != tn ||
			    tn->id == DMAC_LEASE_TENANT_ANY)
				return -8;
			for (l = tn->head; l; prev = l, l = l->tnext) {
				if (l->tprev != prev || l->owner != tn ||
				    lease_find(t, l->info.id) != l)
					return -9;
				if (prev && prev->info.generation >= l->info.generation)
					return -10; /* creation order */
				n++;
				bytes += l->info.length;
			}
			if (prev != tn->tail || n != tn->st.leases || bytes != tn->st.bytes)
				return -11;
			tenant_leases += n;
			tenants++;
		}
	}
	if (tenants != t->st.tenants || tenant_leases != leases)
		return -12;
	return 0;
}
