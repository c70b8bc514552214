/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * unit test vtophys: dmac_vtophys() (SPDK spdk_vtophys() semantics) over a
 * real libdmacache client talking to the fake daemon of tests/client
 * (fake_server.c: the real codec over a socketpair, deterministic IOVAs).
 *
 * Checks: no default client -> DMAC_VTOPHYS_ERROR; hits at the first, a
 * middle and the last byte of a lease; *size in/out: clipped to the bytes
 * wanted, to the end of a lease, extended across an adjacent lease that
 * continues the IOVA run, stopped at a lease that does not; 0 asks for the
 * whole run; a miss returns the sentinel and leaves *size unchanged; the
 * ops-shaped callback agrees; clearing the client makes everything miss.
 *
 * Invariants: CHECK() counts, never aborts; exit status 0 only if at least
 * one check ran and none failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_server.h"
#include "vtophys.h"

static int failures, checks;

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		checks++;                                                                          \
		if (a_ != b_) {                                                                    \
			fprintf(stderr, "FAIL %s:%d: %s == %s: 0x%llx != 0x%llx\n", __FILE__,      \
				__LINE__, #a, #b, a_, b_);                                         \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define MB (UINT64_C(1) << 20)

/* A sealed memfd of size bytes mapped at *va. */
static int make_memfd(size_t size, void **va)
{
	int fd = memfd_create("vtophys-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		perror("memfd");
		exit(1);
	}
	*va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*va == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return fd;
}

int main(void)
{
	const uint32_t rw = DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE;
	struct dmac_client_lease a, b, c;
	struct fake_server s;
	struct dmac_client *cl = NULL;
	uint64_t reg1, reg2, size, base;
	void *v1, *v2;
	char *va1, *va2;
	int fd1, fd2, ret;

	/* no client: every address misses, *size untouched */
	size = 1234;
	CHECK_EQ(dmac_vtophys(&size, &size), DMAC_VTOPHYS_ERROR);
	CHECK_EQ(size, 1234);
	CHECK_EQ(dmac_vtophys(&size, NULL), DMAC_VTOPHYS_ERROR);

	fake_server_start(&s);
	ret = dmac_client_connect_fd(s.client_sock, "tenant-a", 0, &cl);
	CHECK_EQ(ret, 0);
	if (ret)
		return 1;
	fd1 = make_memfd(4 * MB, &v1);
	fd2 = make_memfd(1 * MB, &v2);
	va1 = v1;
	va2 = v2;
	CHECK_EQ(dmac_client_register(cl, fd1, 0, 4 * MB, rw, va1, &reg1), 0);
	CHECK_EQ(dmac_client_register(cl, fd2, 0, 1 * MB, rw, va2, &reg2), 0);
	/* a = [1 MiB, 2 MiB) and b = [2 MiB, 3 MiB) of reg1: one IOVA run;
	 * c = [0, 64 KiB) of reg2: elsewhere */
	CHECK_EQ(dmac_client_lease(cl, reg1, MB, MB, rw, &a), 0);
	CHECK_EQ(dmac_client_lease(cl, reg1, 2 * MB, MB, rw, &b), 0);
	CHECK_EQ(dmac_client_lease(cl, reg2, 0, 64 << 10, rw, &c), 0);
	base = fake_iova(0, MB);
	CHECK_EQ(a.iova, base);
	CHECK_EQ(b.iova, base + MB);

	dmac_vtophys_set_client(cl);
	CHECK_EQ((uintptr_t)dmac_vtophys_get_client(), (uintptr_t)cl);

	/* hits, size NULL */
	CHECK_EQ(dmac_vtophys(va1 + MB, NULL), base);
	CHECK_EQ(dmac_vtophys(va1 + MB + 12345, NULL), base + 12345);
	CHECK_EQ(dmac_vtophys(va1 + 3 * MB - 1, NULL), base + 2 * MB - 1);
	CHECK_EQ(dmac_vtophys(va2 + 4095, NULL), fake_iova(1, 4095));

	/* size clipped to the bytes wanted */
	size = 4096;
	CHECK_EQ(dmac_vtophys(va1 + MB + 100, &size), base + 100);
	CHECK_EQ(size, 4096);
	/* across the adjacent lease b (IOVA continues), to the end of b */
	size = 8 * MB;
	CHECK_EQ(dmac_vtophys(va1 + MB + 100, &size), base + 100);
	CHECK_EQ(size, 2 * MB - 100);
	/* 0: the whole contiguous run */
	size = 0;
	CHECK_EQ(dmac_vtophys(va1 + 2 * MB, &size), base + MB);
	CHECK_EQ(size, MB);
	/* c stops at its own end: reg2's IOVA is not contiguous with anything */
	size = MB;
	CHECK_EQ(dmac_vtophys(va2 + 60 * 1024, &size), fake_iova(1, 60 * 1024));
	CHECK_EQ(size, 4096);

	/* misses: before a, after b, past c; *size unchanged */
	size = 777;
	CHECK_EQ(dmac_vtophys(va1 + MB - 1, &size), DMAC_VTOPHYS_ERROR);
	CHECK_EQ(dmac_vtophys(va1 + 3 * MB, &size), DMAC_VTOPHYS_ERROR);
	CHECK_EQ(dmac_vtophys(va2 + (64 << 10), &size), DMAC_VTOPHYS_ERROR);
	CHECK_EQ(dmac_vtophys(NULL, &size), DMAC_VTOPHYS_ERROR);
	CHECK_EQ(size, 777);

	/* the ops-shaped callback is the same function */
	size = 4096;
	CHECK_EQ(dmac_vtophys_cb(NULL, va1 + MB + 8, &size), base + 8);
	CHECK_EQ(size, 4096);

	/* after a release the range misses */
	CHECK_EQ(dmac_client_release(cl, b.lease_id), 0);
	size = 8 * MB;
	CHECK_EQ(dmac_vtophys(va1 + MB, &size), base);
	CHECK_EQ(size, MB);
	CHECK_EQ(dmac_vtophys(va1 + 2 * MB, NULL), DMAC_VTOPHYS_ERROR);

	/* no default client any more */
	dmac_vtophys_set_client(NULL);
	CHECK_EQ(dmac_vtophys(va1 + MB, NULL), DMAC_VTOPHYS_ERROR);

	dmac_client_close(cl);
	fake_server_join(&s);
	munmap(v1, 4 * MB);
	munmap(v2, MB);
	close(fd1);
	close(fd2);
	printf("vtophys: %d checks, %d failed\n", checks, failures);
	return failures || !checks ? 1 : 0;
}
