/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to libdmacache: a small chained hash of records keyed by a 64-bit id
 * (registration ids, lease ids), and the records themselves.
 *
 * Invariants:
 * - Ids are unique within one table; id 0 never appears (the protocol forbids it).
 * - Insert never fails: callers reserve room first with dmac__table_reserve(),
 *   before any IPC, so a granted lease always finds its slot.
 * - The table owns nothing: records are allocated and freed by the caller.
 * - Not thread-safe: every access is under the client mutex.
 */
#ifndef DMAC_CLIENT_TABLE_H
#define DMAC_CLIENT_TABLE_H

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

#endif /* DMAC_CLIENT_TABLE_H */
