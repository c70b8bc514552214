/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to libdmacache: the id tables.
 *
 * - struct dmac__table: a small chained hash of records keyed by a 64-bit id,
 *   for registrations (few, looked up once per request). The table owns
 *   nothing: records are allocated and freed by the caller.
 * - struct dmac__ltab: the lease index, open addressing with linear probing,
 *   the record stored in its slot (one 64-byte line): no allocation per lease,
 *   one cache line touched by a lookup that hits at its home slot. Removal
 *   shifts the following entries back (no tombstones), so a lease-and-release
 *   churn never degrades the probes.
 *
 * Invariants:
 * - Ids are unique within one table; id 0 never appears (the protocol forbids it;
 *   in dmac__ltab, id 0 marks an empty slot).
 * - Insert never fails: callers reserve room first (dmac__table_reserve(),
 *   dmac__ltab_reserve()), before any IPC, so a granted lease always finds its slot.
 * - dmac__ltab: at most 3/4 of the slots are used; every used slot is reached from
 *   its home slot (the hash) through used slots only. A pointer to a slot is valid
 *   until the next insert, remove, reserve or clear.
 * - Not thread-safe: every access is under the client mutex.
 */
#ifndef DMAC_CLIENT_TABLE_H
#define DMAC_CLIENT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dmac__rec {
	struct dmac__rec *next;
	uint64_t id;
};

struct dmac__table {
	struct dmac__rec **bucket;
	unsigned int shift; /* log2 of the bucket count */
	size_t count;
};

/* Empty table with 16 buckets. 0, -ENOMEM. */
int dmac__table_init(struct dmac__table *t);
/* Free the buckets (not the records). NULL-safe on a zeroed table. */
void dmac__table_fini(struct dmac__table *t);
/* Make room so that @p extra more inserts keep the load <= 1. 0, -ENOMEM (unchanged). */
int dmac__table_reserve(struct dmac__table *t, size_t extra);
/* Insert a record whose id is not in the table (room reserved). */
void dmac__table_insert(struct dmac__table *t, struct dmac__rec *r);
/* The record with this id, or NULL. */
struct dmac__rec *dmac__table_find(const struct dmac__table *t, uint64_t id);
/* Unlink and return the record with this id, or NULL. */
struct dmac__rec *dmac__table_remove(struct dmac__table *t, uint64_t id);
/* Unlink every record, calling fn on each (fn may free it). */
void dmac__table_drain(struct dmac__table *t, void (*fn)(struct dmac__rec *r));

struct dmac__reg; /* client.c */

/* A lease as the client records it, in its slot of the lease index. */
struct dmac__lease {
	uint64_t id; /* lease_id; 0: the slot is empty */
	uint64_t generation;
	uint64_t va, length; /* its VA range in the local table: [va, va + length) */
	struct dmac__reg *reg;
	uint32_t mark; /* scratch for duplicate detection, 0 outside a call */
	uint32_t pad[5];
};
_Static_assert(sizeof(struct dmac__lease) == 64, "a lease is one cache line");

struct dmac__ltab {
	struct dmac__lease *slot; /* 1 << shift slots, 64-byte aligned */
	unsigned int shift;
	size_t count;
};

/* Empty index of 16 slots. 0, -ENOMEM. */
int dmac__ltab_init(struct dmac__ltab *t);
/* Free the slots. Safe on a zeroed or finished index. */
void dmac__ltab_fini(struct dmac__ltab *t);
/* Make room for @p extra more inserts (load <= 3/4). 0, -ENOMEM (unchanged). */
int dmac__ltab_reserve(struct dmac__ltab *t, size_t extra);
/* The empty slot for @p id (not in the index; room reserved), its id set: fill the rest. */
struct dmac__lease *dmac__ltab_insert(struct dmac__ltab *t, uint64_t id);
/* The slot holding @p id, or NULL. */
struct dmac__lease *dmac__ltab_find(const struct dmac__ltab *t, uint64_t id);
/* Remove @p id: true and the record copied to *out (may be NULL), or false if absent. */
bool dmac__ltab_remove(struct dmac__ltab *t, uint64_t id, struct dmac__lease *out);
/* Empty every slot (keeps the memory). */
void dmac__ltab_clear(struct dmac__ltab *t);

#endif /* DMAC_CLIENT_TABLE_H */
