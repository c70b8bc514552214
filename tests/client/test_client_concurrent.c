/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmac_client_translate() under concurrency: reader threads translate while the
 * main thread leases and releases ranges through the fake daemon.
 *
 * Invariants checked:
 * - A translate never returns a wrong IOVA: only the right one (the fake daemon's
 *   IOVAs are a fixed function of the registration offset) or an error.
 * - One range is leased for the whole run: it always translates.
 * - Per churned range, a sequence counter seq (main thread, release stores)
 *   brackets every call: seq % 4 == 0 released and stable, 1 leasing, 2 leased and
 *   stable, 3 releasing. A reader that reads the same seq before and after its
 *   translate must get an error when seq % 4 == 0 (a released lease is never
 *   translated: the release rule) and the exact IOVA when seq % 4 == 2.
 * - The daemon never unmaps an IOVA a translate may still return: the fake daemon
 *   counts the live leases of each half range (lease_hook); a reader that got an
 *   IOVA inside its own read-side section (around the translate's, nested) finds
 *   the half still leased before leaving that section, because the library sends
 *   RELEASE only after a grace period that waits for the section.
 * - All of this with RELEASE sent at once and with DMAC_CLIENT_DEFER_RELEASE
 *   (RELEASEs batched behind one grace period, later).
 * - Threads are registered with liburcu by the library itself (lazily), except
 *   that readers register up front to open their own section.
 * Timing is never asserted; the run is bounded by a round count.
 */
#include <errno.h>
#include <fcntl.h>
#include <urcu/urcu-memb.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "dmac/dmacache.h"
#include "fake_server.h"

#define NRANGES 8
#define RANGE	(64 * 1024)
#define ROUNDS	400
#define READERS 2

#define FS_SET(s, field, val)                                                                      \
	do {                                                                                       \
		pthread_mutex_lock(&(s)->lock);                                                    \
		(s)->field = (val);                                                                \
		pthread_mutex_unlock(&(s)->lock);                                                  \
	} while (0)

static struct dmac_client *client;
static char *base;
static atomic_uint seq[NRANGES + 1]; /* index 0: the fixed range */
static atomic_bool stop;
static atomic_ulong bad, hits, misses, stable_checks, unmapped_hits;
static atomic_int live[2 * (NRANGES + 1)]; /* leases live at the daemon, per half range */

static void lease_hook(void *arg, uint64_t iova, uint64_t length, int delta)
{
	uint64_t h0 = (iova - fake_iova(0, 0)) / (RANGE / 2), h1 = h0 + length / (RANGE / 2);

	(void)arg;
	for (uint64_t h = h0; h < h1 && h < 2 * (NRANGES + 1); h++)
		atomic_fetch_add(&live[h], delta);
}

static void *reader(void *arg)
{
	unsigned int r = (unsigned int)(uintptr_t)arg;

	unsigned long iter = 0;

	dmac_client_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_acquire)) {
		for (unsigned int k = 0; k <= NRANGES; k++) {
			uint64_t off = (uint64_t)k * RANGE + ((r * 4099 + k * 131) % RANGE);
			unsigned int s1 = atomic_load_explicit(&seq[k], memory_order_acquire);
			size_t len = RANGE;
			uint64_t iova;
			unsigned int s2;
			bool unmapped;

			urcu_memb_read_lock(); /* the translate's section nests in this one */
			iova = dmac_client_translate(client, base + off, &len);
			if ((++iter & 7) == 0)
				sched_yield(); /* a long section: a release may be under way */
			unmapped = iova != DMAC_CLIENT_IOVA_ERROR &&
				   atomic_load(&live[off / (RANGE / 2)]) <= 0;
			urcu_memb_read_unlock();
			s2 = atomic_load_explicit(&seq[k], memory_order_acquire);
			if (unmapped)
				atomic_fetch_add(&unmapped_hits, 1);

			if (iova == DMAC_CLIENT_IOVA_ERROR) {
				atomic_fetch_add(&misses, 1);
				if (k == 0 || (s1 == s2 && s1 % 4 == 2))
					atomic_fetch_add(&bad, 1);
				else if (s1 == s2)
					atomic_fetch_add(&stable_checks, 1);
				continue;
			}
			atomic_fetch_add(&hits, 1);
			if (iova != fake_iova(0, off) || len == 0 || len > RANGE)
				atomic_fetch_add(&bad, 1);
			if (k != 0 && s1 == s2 && s1 % 4 == 0)
				atomic_fetch_add(&bad, 1); /* translated after its release */
			else if (s1 == s2)
				atomic_fetch_add(&stable_checks, 1);
		}
	}
	dmac_client_thread_unregister();
	return NULL;
}

static void run(uint32_t flags)
{
	struct fake_server s;
	struct dmac_client_lease l[NRANGES + 1];
	pthread_t th[READERS];
	size_t size = (NRANGES + 1) * RANGE;
	uint64_t reg;
	void *va;
	int fd;

	fd = memfd_create("dmac-conc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	FATAL_IF(fd < 0 || ftruncate(fd, (off_t)size));
	FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	FATAL_IF(va == MAP_FAILED);
	base = va;

	atomic_store(&stop, false);
	atomic_store(&hits, 0);
	atomic_store(&misses, 0);
	atomic_store(&stable_checks, 0);
	for (unsigned int k = 0; k <= NRANGES; k++)
		atomic_store(&seq[k], 0);
	fake_server_start(&s);
	FS_SET(&s, hook_arg, NULL);
	pthread_mutex_lock(&s.lock);
	s.lease_hook = lease_hook;
	pthread_mutex_unlock(&s.lock);
	FATAL_IF(dmac_client_connect_fd(s.client_sock, "conc", flags, &client));
	CHECK_EQ(dmac_client_register(client, fd, 0, size, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	CHECK_EQ(dmac_client_lease(client, reg, 0, RANGE, DMAC_CLIENT_PROT_READ, &l[0]), 0);

	for (unsigned int i = 0; i < READERS; i++)
		FATAL_IF(pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)i));

	for (unsigned int round = 0; round < ROUNDS; round++) {
		unsigned int k = 1 + round % NRANGES;

		atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* -> leasing */
		if (round % 2) {
			CHECK_EQ(dmac_client_lease(client, reg, (uint64_t)k * RANGE, RANGE,
						   DMAC_CLIENT_PROT_READ, &l[k]),
				 0);
		} else {
			/* Vector form: the range in two halves, published at once. */
			struct dmac_client_lease_req q[2] = {
			    {.reg_id = reg,
			     .offset = (uint64_t)k * RANGE,
			     .length = RANGE / 2,
			     .prot = DMAC_CLIENT_PROT_READ},
			    {.reg_id = reg,
			     .offset = (uint64_t)k * RANGE + RANGE / 2,
			     .length = RANGE / 2,
			     .prot = DMAC_CLIENT_PROT_READ},
			};
			struct dmac_client_lease two[2];
			uint64_t ids[2];

			CHECK_EQ(dmac_client_lease_v(client, q, 2, two), 0);
			atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* leased */
			sched_yield();
			atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* releasing */
			ids[0] = two[0].lease_id;
			ids[1] = two[1].lease_id;
			CHECK_EQ(dmac_client_release_v(client, ids, 2, NULL), 0);
			atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* released */
			continue;
		}
		atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* -> leased */
		sched_yield();
		atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* -> releasing */
		CHECK_EQ(dmac_client_release(client, l[k].lease_id), 0);
		if (round % 3 == 1)
			CHECK_EQ(dmac_client_flush(client), 0); /* deferred: RELEASE now */
		atomic_fetch_add_explicit(&seq[k], 1, memory_order_release); /* -> released */
	}
	atomic_store_explicit(&stop, true, memory_order_release);
	for (unsigned int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);

	CHECK_EQ(atomic_load(&bad), 0);
	CHECK_EQ(atomic_load(&unmapped_hits), 0);
	CHECK(atomic_load(&hits) > 0);
	CHECK_EQ(dmac_client_flush(client), 0);
	CHECK_EQ(fake_server_leases(&s), 1);
	printf("concurrent (flags %u): hits %lu misses %lu stable checks %lu\n", flags,
	       atomic_load(&hits), atomic_load(&misses), atomic_load(&stable_checks));
	CHECK_EQ(dmac_client_release(client, l[0].lease_id), 0);
	dmac_client_close(client);
	fake_server_join(&s);
	munmap(va, size);
	close(fd);
}

int main(void)
{
	run(0);
	run(DMAC_CLIENT_DEFER_RELEASE);
	return check_report("client_concurrent");
}
