/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_vtophys() over libdmacache (see vtophys.h).
 *
 * Invariants: default_client is read with an acquire load on every call and
 * written with a release store; a translation result comes from one call of
 * dmac_client_translate() (one published version of the client's table).
 */
#include <stddef.h>

#include "vtophys.h"

static struct dmac_client *default_client;

void dmac_vtophys_set_client(struct dmac_client *client)
{
	__atomic_store_n(&default_client, client, __ATOMIC_RELEASE);
}

struct dmac_client *dmac_vtophys_get_client(void)
{
	return __atomic_load_n(&default_client, __ATOMIC_ACQUIRE);
}

uint64_t dmac_vtophys(const void *vaddr, uint64_t *size)
{
	struct dmac_client *c = __atomic_load_n(&default_client, __ATOMIC_ACQUIRE);
	size_t len;
	uint64_t iova;

	if (!c)
		return DMAC_VTOPHYS_ERROR;
	if (!size)
		return dmac_client_translate(c, vaddr, NULL);
	len = (size_t)*size;
	iova = dmac_client_translate(c, vaddr, &len);
	if (iova == DMAC_CLIENT_IOVA_ERROR)
		return DMAC_VTOPHYS_ERROR;
	*size = len;
	return iova;
}

uint64_t dmac_vtophys_cb(void *ctx, const void *vaddr, uint64_t *size)
{
	(void)ctx;
	return dmac_vtophys(vaddr, size);
}
