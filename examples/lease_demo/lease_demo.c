/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-lease-demo: what a dataplane does with dmacached, end to end.
 *
 * Two clients, of two tenants, share one sealed memfd (hugetlb when asked):
 * the first registers and leases it (the daemon pins it once into the master
 * IOAS and copies it into tenant A's IOAS); the second registers the same
 * memory with the same protection - a cache hit, no new pin - and leases it
 * read-only for tenant B (a read-only copy from the master). Both translate
 * VA -> IOVA from their local lock-free table and check the answer, then
 * release.
 *
 * Invariants checked (exit status 1 if any fails): the IOVA of every byte is
 * the lease's IOVA plus its offset; both tenants get the same IOVA for the
 * same memory; B's registration is a cache hit (STATS tells each tenant its
 * own figures: A one miss, B one hit and no miss); after the releases neither
 * client has a lease.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <fcntl.h>

#include "dmac/dmacache.h"

#define MIB ((uint64_t)1024 * 1024)

static int failures;

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAILED: " __VA_ARGS__);                                   \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dmacache-lease-demo [--socket PATH] [--tenant-a NAME] [--tenant-b NAME]\n"
		"                           [--size BYTES] [--hugetlb]\n");
}

static void print_stats(const char *when, const struct dmac_client_stats *s)
{
	printf("  stats %-16s hits %" PRIu64 ", misses %" PRIu64 ", pinned %" PRIu64
	       " bytes in %" PRIu64 " area(s), %" PRIu64 " lease(s), %" PRIu64 " session(s)\n",
	       when, s->cache_hits, s->cache_misses, s->bytes_pinned, s->areas, s->leases,
	       s->sessions);
}

static int check_translate(struct dmac_client *c, const char *name, void *va, uint64_t size,
			   uint64_t iova)
{
	uint64_t offs[] = {0, 4096, size / 2, size - 1};
	unsigned i;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		size_t len = size;
		uint64_t got = dmac_client_translate(c, (char *)va + offs[i], &len);

		printf("  %s: translate(va + 0x%" PRIx64 ") = 0x%" PRIx64
		       ", %zu bytes contiguous\n",
		       name, offs[i], got, len);
		EXPECT(got == iova + offs[i],
		       "%s: va + 0x%" PRIx64 " -> 0x%" PRIx64 ", want 0x%" PRIx64, name, offs[i],
		       got, iova + offs[i]);
		EXPECT(len == size - offs[i], "%s: contiguous %zu, want %" PRIu64, name, len,
		       size - offs[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
					     {"tenant-a", required_argument, NULL, 'a'},
					     {"tenant-b", required_argument, NULL, 'b'},
					     {"size", required_argument, NULL, 'z'},
					     {"hugetlb", no_argument, NULL, 'H'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *sock = DMAC_CLIENT_DEFAULT_SOCKET, *ta = "demo-a", *tb = "demo-b";
	uint64_t size = 8 * MIB, reg_a, reg_b;
	struct dmac_client *a = NULL, *b = NULL;
	struct dmac_client_lease la, lb;
	struct dmac_client_stats s0, s1, s2;
	struct dmac_client_info info;
	int hugetlb = 0, fd, ret, opt;
	void *va;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'a':
			ta = optarg;
			break;
		case 'b':
			tb = optarg;
			break;
		case 'z':
			size = strtoull(optarg, NULL, 0);
			break;
		case 'H':
			hugetlb = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (size == 0 || size % (2 * MIB)) {
		fprintf(stderr,
			"dmacache-lease-demo: --size must be a non-zero multiple of 2 MiB\n");
		return 2;
	}

	fd = memfd_create("dmacache-demo",
			  MFD_CLOEXEC | MFD_ALLOW_SEALING | (hugetlb ? MFD_HUGETLB : 0));
	if (fd < 0) {
		perror("dmacache-lease-demo: memfd_create");
		return 1;
	}
	if (ftruncate(fd, (off_t)size) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		perror("dmacache-lease-demo: size and seal the memfd");
		return 1;
	}
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (va == MAP_FAILED) {
		perror("dmacache-lease-demo: mmap");
		return 1;
	}
	printf("memory: %" PRIu64 " MiB %s memfd at %p\n", size / MIB,
	       hugetlb ? "hugetlb" : "shmem", va);

	ret = dmac_client_connect(sock, ta, 0, &a);
	if (ret) {
		fprintf(stderr, "dmacache-lease-demo: connect to %s as %s: %s\n", sock, ta,
			dmac_client_strerror(ret));
		return 1;
	}
	dmac_client_info(a, &info);
	printf("client A: tenant %s, session %" PRIu64 ", protocol %u, lease quota %" PRIu64 "\n",
	       info.tenant, info.session_id, info.version, info.quota_leases);
	if ((ret = dmac_client_stats(a, &s0)))
		goto fail;
	print_stats("at start", &s0);

	if ((ret = dmac_client_register(
		 a, fd, 0, size, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va, &reg_a)))
		goto fail;
	if ((ret = dmac_client_lease(a, reg_a, 0, size,
				     DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, &la)))
		goto fail;
	printf("client A: lease 0x%016" PRIx64 " gen %" PRIu64 ": va %p -> iova 0x%" PRIx64
	       ", %" PRIu64 " bytes\n",
	       la.lease_id, la.generation, la.va, la.iova, la.length);
	check_translate(a, "client A", va, size, la.iova);
	if ((ret = dmac_client_stats(a, &s1)))
		goto fail;
	print_stats("after A's lease", &s1);
	EXPECT(s1.cache_misses == s0.cache_misses + 1, "A's lease must be a cache miss (a pin)");
	EXPECT(s1.bytes_pinned >= s0.bytes_pinned + size, "A's lease must pin its memory");

	ret = dmac_client_connect(sock, tb, 0, &b);
	if (ret) {
		fprintf(stderr, "dmacache-lease-demo: connect to %s as %s: %s\n", sock, tb,
			dmac_client_strerror(ret));
		goto out;
	}
	/* the same memory with the same protection: a hit on A's area (a
	 * cached area is shared only for the same file and the same prot) */
	if ((ret = dmac_client_register(
		 b, fd, 0, size, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va, &reg_b)))
		goto fail;
	if ((ret = dmac_client_lease(b, reg_b, 0, size, DMAC_CLIENT_PROT_READ, &lb)))
		goto fail;
	printf("client B: lease 0x%016" PRIx64 " gen %" PRIu64 ": va %p -> iova 0x%" PRIx64
	       ", %" PRIu64 " bytes\n",
	       lb.lease_id, lb.generation, lb.va, lb.iova, lb.length);
	check_translate(b, "client B", va, size, lb.iova);
	if ((ret = dmac_client_stats(b, &s2)))
		goto fail;
	print_stats("after B's lease", &s2);
	EXPECT(lb.iova == la.iova, "the same memory must have the same IOVA in every tenant");
	EXPECT(s2.cache_hits == 1 && s2.cache_misses == 0,
	       "B's registration must be a cache hit, no new pin");

	if ((ret = dmac_client_release(a, la.lease_id)) ||
	    (ret = dmac_client_release(b, lb.lease_id)))
		goto fail;
	{
		size_t len = 4096;

		EXPECT(dmac_client_translate(a, va, &len) == DMAC_CLIENT_IOVA_ERROR,
		       "a released lease must not translate");
	}
	if ((ret = dmac_client_stats(b, &s2)) || (ret = dmac_client_stats(a, &s1)))
		goto fail;
	print_stats("B after releases", &s2);
	EXPECT(s2.leases == 0 && s1.leases == s0.leases, "every lease must be gone");
	printf("released both leases; the master area stays cached for the next lease\n");
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "dmacache-lease-demo: %s\n", dmac_client_strerror(ret));
out:
	dmac_client_close(b);
	dmac_client_close(a);
	munmap(va, size);
	close(fd);
	if (ret || failures) {
		fprintf(stderr, "dmacache-lease-demo: FAILED (%d check(s))\n", failures);
		return 1;
	}
	printf("dmacache-lease-demo: all checks passed\n");
	return 0;
}
