/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The imap tests' look at a map's private layout (dmac/imap.h, names with dmac__): how
 * many slots the flat window of the current version has, so that a test can check it
 * exercises the path it means to (0: no window, the radix tree answers).
 * Concurrency: any registered RCU thread, outside or inside a read-side section.
 */
#ifndef DMAC_TEST_IMAP_PEEK_H
#define DMAC_TEST_IMAP_PEEK_H

#include <stdint.h>

#include "dmac/imap.h"

static inline uint64_t imap_flat_slots(const struct dmac_imap *m)
{
	uint64_t n;

	dmac_imap_read_lock();
	n = ((const struct dmac__imap_vhead *)dmac_imap_snapshot(m))->fn;
	dmac_imap_read_unlock();
	return n;
}

#endif /* DMAC_TEST_IMAP_PEEK_H */
