/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hash map, u64 -> pointer (see dmac/hmap.h).
 *
 * Layout: slots[0..mask], a power of two. A key's home slot is
 * mix(key) & mask; it lives at the first free position from there on
 * (wrapping). Deleting at slot i shifts later members of the same cluster
 * back into the hole when the hole lies on their probe path (between their
 * home and their current slot, cyclically), so a lookup may stop at the first
 * empty slot.
 */
#include <errno.h>
#include <string.h>

#include "dmac/hmap.h"
#include "dmac_alloc.h"

#define DMAC__HMAP_MIN 16

/* splitmix64's finalizer: every key bit reaches every slot bit. */
static inline uint64_t dmac__hmap_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static size_t dmac__hmap_find(const struct dmac_hmap *m, uint64_t key, int *found)
{
	size_t i = (size_t)dmac__hmap_mix(key) & m->mask;

	for (;;) {
		const struct dmac_hmap_slot *s = &m->slots[i];

		if (!s->val) {
			*found = 0;
			return i;
		}
		if (s->key == key) {
			*found = 1;
			return i;
		}
		i = (i + 1) & m->mask;
	}
}

void *dmac_hmap_get(const struct dmac_hmap *m, uint64_t key)
{
	size_t i;
	int found;

	if (!m->slots)
		return NULL;
	i = dmac__hmap_find(m, key, &found);
	return found ? m->slots[i].val : NULL;
}

/* Rehash into an array of @p cap slots (a power of two > count / 0.75). */
static int dmac__hmap_resize(struct dmac_hmap *m, size_t cap)
{
	struct dmac_hmap_slot *old = m->slots;
	size_t oldcap = old ? m->mask + 1 : 0;
	struct dmac_hmap_slot *ns = dmac__calloc(cap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	m->slots = ns;
	m->mask = cap - 1;
	for (size_t i = 0; i < oldcap; i++) {
		int found;

		if (!old[i].val)
			continue;
		ns[dmac__hmap_find(m, old[i].key, &found)] = old[i];
	}
	dmac__free(old);
	return 0;
}

/* Smallest power-of-two capacity that holds @p n keys at <= 3/4 load. */
static int dmac__hmap_cap_for(size_t n, size_t *cap)
{
	size_t c = DMAC__HMAP_MIN;

	while (c - c / 4 < n) {
		if (c > SIZE_MAX / 2 / sizeof(struct dmac_hmap_slot))
			return -ENOMEM;
		c *= 2;
	}
	*cap = c;
	return 0;
}

int dmac_hmap_reserve(struct dmac_hmap *m, size_t n)
{
	size_t cap;

	if (dmac__hmap_cap_for(n, &cap))
		return -ENOMEM;
	if (m->slots && cap <= m->mask + 1)
		return 0;
	return dmac__hmap_resize(m, cap);
}

int dmac_hmap_put(struct dmac_hmap *m, uint64_t key, void *val, void **old)
{
	size_t i;
	int found, rc;

	if (!val)
		return -EINVAL;
	if (m->slots) {
		i = dmac__hmap_find(m, key, &found);
		if (found) {
			if (old)
				*old = m->slots[i].val;
			m->slots[i].val = val;
			return 0;
		}
	}
	if (m->count == SIZE_MAX)
		return -ENOMEM;
	rc = dmac_hmap_reserve(m, m->count + 1);
	if (rc)
		return rc;
	i = dmac__hmap_find(m, key, &found);
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->count++;
	if (old)
		*old = NULL;
	return 0;
}

void *dmac_hmap_del(struct dmac_hmap *m, uint64_t key)
{
	size_t i, j;
	void *val;
	int found;

	if (!m->slots)
		return NULL;
	i = dmac__hmap_find(m, key, &found);
	if (!found)
		return NULL;
	val = m->slots[i].val;
	/* Backward shift: pull later cluster members whose home is not in
	 * (i, j] cyclically into the hole at i. */
	for (j = (i + 1) & m->mask; m->slots[j].val; j = (j + 1) & m->mask) {
		size_t home = (size_t)dmac__hmap_mix(m->slots[j].key) & m->mask;

		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].val = NULL;
	m->slots[i].key = 0;
	m->count--;
	return val;
}

int dmac_hmap_foreach(const struct dmac_hmap *m, dmac_hmap_iter_fn fn, void *arg)
{
	if (!m->slots)
		return 0;
	for (size_t i = 0; i <= m->mask; i++) {
		int rc;

		if (!m->slots[i].val)
			continue;
		rc = fn(arg, m->slots[i].key, m->slots[i].val);
		if (rc)
			return rc;
	}
	return 0;
}

void dmac_hmap_clear(struct dmac_hmap *m)
{
	dmac__free(m->slots);
	m->slots = NULL;
	m->mask = 0;
	m->count = 0;
}

int dmac__hmap_check(const struct dmac_hmap *m)
{
	size_t n = 0;

	if (!m->slots)
		return m->count == 0 && m->mask == 0 ? 0 : -1;
	if ((m->mask + 1) & m->mask)
		return -2; /* not a power of two */
	if (m->count > (m->mask + 1) - (m->mask + 1) / 4)
		return -3; /* over 3/4 load */
	for (size_t i = 0; i <= m->mask; i++) {
		size_t home, k;

		if (!m->slots[i].val)
			continue;
		n++;
		/* no empty slot between home and i */
		home = (size_t)dmac__hmap_mix(m->slots[i].key) & m->mask;
		for (k = home; k != i; k = (k + 1) & m->mask)
			if (!m->slots[k].val)
				return -4;
		/* unique key: the lookup finds this very slot */
		{
			int found;

			if (dmac__hmap_find(m, m->slots[i].key, &found) != i || !found)
				return -5;
		}
	}
	return n == m->count ? 0 : -6;
}
