/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Allocation wrappers with a fault-injection hook (see dmac_alloc.h).
 *
 * Invariants: 'outstanding' counts successful allocations minus frees of
 * non-NULL pointers; it returns to its starting value when a structure built
 * through these wrappers is destroyed. The countdown is 0 when disarmed.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "dmac_alloc.h"

static _Atomic uint64_t fault_countdown;
static _Atomic int fault_fired;
static _Atomic int64_t outstanding;

static int should_fail(void)
{
	uint64_t cur = atomic_load_explicit(&fault_countdown, memory_order_relaxed);

	while (cur != 0) {
		if (atomic_compare_exchange_weak(&fault_countdown, &cur, cur - 1)) {
			if (cur == 1) {
				atomic_store(&fault_fired, 1);
				return 1;
			}
			return 0;
		}
	}
	return 0;
}

static void *account(void *p)
{
	if (p)
		atomic_fetch_add_explicit(&outstanding, 1, memory_order_relaxed);
	return p;
}

void *dmac__malloc(size_t size)
{
	if (should_fail())
		return NULL;
	return account(malloc(size ? size : 1));
}

void *dmac__calloc(size_t nmemb, size_t size)
{
	if (should_fail())
		return NULL;
	return account(calloc(nmemb ? nmemb : 1, size ? size : 1));
}

void *dmac__realloc(void *ptr, size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = realloc(ptr, size ? size : 1);
	if (p && !ptr)
		atomic_fetch_add_explicit(&outstanding, 1, memory_order_relaxed);
	return p;
}

void *dmac__aligned_alloc(size_t alignment, size_t size)
{
	void *p = NULL;

	if (should_fail())
		return NULL;
	if (posix_memalign(&p, alignment, size ? size : 1))
		return NULL;
	return account(p);
}

void dmac__free(void *ptr)
{
	if (!ptr)
		return;
	atomic_fetch_sub_explicit(&outstanding, 1, memory_order_relaxed);
	free(ptr);
}

void dmac__fault_alloc_arm(uint64_t n)
{
	atomic_store(&fault_fired, 0);
	atomic_store(&fault_countdown, n);
}

int dmac__fault_alloc_fired(void)
{
	return atomic_load(&fault_fired);
}

int64_t dmac__alloc_outstanding(void)
{
	return atomic_load(&outstanding);
}
