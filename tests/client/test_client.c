/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmacache against the fake daemon (fake_server.c): connect/HELLO, register
 * with a real sealed memfd, lease -> translate at every byte boundary, release,
 * daemon errors, a lost connection, argument errors, allocation faults, the
 * admin calls (version 3 included), bounded waits (-ETIMEDOUT), and
 * who the daemon is (a fake daemon run by a non-root uid is refused before
 * anything is sent, unless that uid is trusted). Runs as root.
 *
 * Invariants checked throughout: a call that fails changes nothing - no request
 * reaches the daemon when the arguments are wrong, the daemon's lease count and
 * the local translations are what they were - and no allocation leaks
 * (dmac__alloc_outstanding() returns to its baseline after every close).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asuser.h"
#include "check.h"
#include "dmac/dmacache.h"
#include "dmac_alloc.h"
#include "fake_server.h"

#define FAKE_DAEMON_UID 4003 /* a non-root uid without a passwd entry */

#define MB (UINT64_C(1) << 20)

#define FS_SET(s, field, val)                                                                      \
	do {                                                                                       \
		pthread_mutex_lock(&(s)->lock);                                                    \
		(s)->field = (val);                                                                \
		pthread_mutex_unlock(&(s)->lock);                                                  \
	} while (0)

/* A memfd of @p size bytes, sealed against shrinking when @p seal, mapped at *va. */
static int make_memfd(size_t size, bool seal, void **va)
{
	int fd = memfd_create("dmac-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	FATAL_IF(fd < 0);
	FATAL_IF(ftruncate(fd, (off_t)size));
	if (seal)
		FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	*va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	FATAL_IF(*va == MAP_FAILED);
	return fd;
}

static struct dmac_client *connect_fake(struct fake_server *s)
{
	struct dmac_client *c = NULL;

	fake_server_start(s);
	FATAL_IF(dmac_client_connect_fd(s->client_sock, "tenant-a", 0, &c));
	return c;
}

static void close_fake(struct fake_server *s, struct dmac_client *c)
{
	dmac_client_close(c);
	fake_server_join(s);
}

static void test_connect(void)
{
	struct dmac_client_info info;
	struct fake_server s;
	struct dmac_client *c = NULL;

	fake_server_start(&s);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "bad name", 0, &c), -EINVAL);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "", 0, &c), -EINVAL);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "-x", 0, &c), -EINVAL);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "tenant-a", 2, &c), -EINVAL); /* unknown */
	CHECK_EQ(dmac_client_connect_fd(-1, "tenant-a", 0, &c), -EINVAL);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, NULL, 0, &c), -EINVAL);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "tenant-a", 0, NULL), -EINVAL);
	CHECK(c == NULL);
	CHECK_EQ(fake_server_requests(&s), 0);

	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "tenant-a", 0, &c), 0);
	CHECK(c != NULL);
	CHECK_EQ(fake_server_requests(&s), 1);
	CHECK_EQ(dmac_client_info(c, &info), 0);
	CHECK_EQ(info.version, 3); /* both ends speak protocol version 3 */
	CHECK_EQ(info.session_id, 42);
	CHECK_EQ(info.quota_leases, 1000);
	CHECK_EQ(info.quota_pinned_bytes, UINT64_C(1) << 30);
	CHECK_EQ(info.iova_start, FAKE_IOVA_BASE);
	CHECK_EQ(info.max_vec, 256);
	CHECK_EQ(info.max_fds, 16);
	CHECK(!strcmp(info.tenant, "tenant-a"));
	CHECK_EQ(dmac_client_info(NULL, &info), -EINVAL);
	CHECK_EQ(dmac_client_info(c, NULL), -EINVAL);
	close_fake(&s, c);

	/* The daemon refuses the tenant: -EPERM, and the caller keeps its socket. */
	fake_server_start(&s);
	FS_SET(&s, fail_next, EPERM);
	c = NULL;
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "tenant-a", 0, &c), -EPERM);
	CHECK(c == NULL);
	CHECK(fcntl(s.client_sock, F_GETFD) >= 0);
	close(s.client_sock);
	fake_server_join(&s);

	/* Path errors of dmac_client_connect(). */
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK_EQ(dmac_client_connect(longpath, "t", 0, &c), -ENAMETOOLONG);
	CHECK_EQ(dmac_client_connect("/nonexistent/dmacache.sock", "t", 0, &c), -ENOENT);
	CHECK_EQ(dmac_client_connect("", "t", 0, &c), -EINVAL);
}

static void test_register(void)
{
	struct fake_server s;
	struct dmac_client *c = connect_fake(&s);
	void *va, *va2;
	int fd = make_memfd(4 * MB, true, &va);
	int fd2 = make_memfd(4 * MB, true, &va2);
	int unsealed;
	void *uva;
	uint64_t id = 0, ids[3] = {0};
	unsigned int before;
	struct stat st, st2;
	int pfd[2];

	FATAL_IF(fstat(fd, &st) || fstat(fd2, &st2));
	CHECK_EQ(dmac_client_register(c, fd, 0, 4 * MB,
				      DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va, &id),
		 0);
	CHECK(id != 0);
	pthread_mutex_lock(&s.lock);
	CHECK_EQ(s.last_nfds, 1);
	CHECK_EQ(s.last_ino[0], st.st_ino); /* the daemon got the same file */
	pthread_mutex_unlock(&s.lock);

	/* Vector: three ranges over two files, the first fd sent once. */
	struct dmac_client_range r[3] = {
	    {.fd = fd, .prot = DMAC_CLIENT_PROT_READ, .offset = 0, .length = MB, .va = va},
	    {.fd = fd2,
	     .prot = DMAC_CLIENT_PROT_WRITE,
	     .offset = MB,
	     .length = MB,
	     .va = (char *)va2 + MB},
	    {.fd = fd,
	     .prot = DMAC_CLIENT_PROT_READ,
	     .offset = 2 * MB,
	     .length = MB,
	     .va = (char *)va + 2 * MB},
	};
	CHECK_EQ(dmac_client_register_v(c, r, 3, ids), 0);
	CHECK(ids[0] && ids[1] && ids[2] && ids[0] != ids[1] && ids[1] != ids[2]);
	pthread_mutex_lock(&s.lock);
	CHECK_EQ(s.last_nfds, 2);
	CHECK_EQ(s.last_ino[0], st.st_ino);
	CHECK_EQ(s.last_ino[1], st2.st_ino);
	pthread_mutex_unlock(&s.lock);

	/* Argument errors: refused locally, nothing reaches the daemon. */
	before = fake_server_requests(&s);
	unsealed = make_memfd(MB, false, &uva);
	FATAL_IF(pipe(pfd));
	id = 77;
	CHECK_EQ(dmac_client_register(c, unsealed, 0, MB, DMAC_CLIENT_PROT_READ, uva, &id), -EPERM);
	CHECK_EQ(dmac_client_register(c, pfd[0], 0, 4096, DMAC_CLIENT_PROT_READ, uva, &id),
		 -EBADFD);
	CHECK_EQ(dmac_client_register(c, 1000, 0, 4096, DMAC_CLIENT_PROT_READ, uva, &id), -EBADF);
	/* the fd's access mode and write seals bound the prot (protocol.md 5.4) */
	{
		char p[64];
		int ro, op;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		ro = open(p, O_RDONLY | O_CLOEXEC);
		op = open(p, O_PATH | O_CLOEXEC);
		FATAL_IF(ro < 0 || op < 0);
		CHECK_EQ(dmac_client_register(c, ro, 0, 4096,
					      DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va,
					      &id),
			 -EACCES);
		CHECK_EQ(dmac_client_register(c, ro, 0, 4096, DMAC_CLIENT_PROT_WRITE, va, &id),
			 -EACCES);
		CHECK_EQ(dmac_client_register(c, op, 0, 4096, DMAC_CLIENT_PROT_READ, va, &id),
			 -EBADF);
		close(op);
		close(ro);
	}
	CHECK_EQ(dmac_client_register(c, fd, 0, 8 * MB, DMAC_CLIENT_PROT_READ, va, &id), -ERANGE);
	CHECK_EQ(dmac_client_register(c, fd, 100, 4096, DMAC_CLIENT_PROT_READ, va, &id), -EINVAL);
	CHECK_EQ(dmac_client_register(c, fd, 0, 0, DMAC_CLIENT_PROT_READ, va, &id), -EINVAL);
	CHECK_EQ(dmac_client_register(c, fd, 0, 4096, 0, va, &id), -EINVAL);
	CHECK_EQ(dmac_client_register(c, fd, 0, 4096, 4, va, &id), -EOPNOTSUPP);
	CHECK_EQ(dmac_client_register(c, fd, 0, 4096, DMAC_CLIENT_PROT_READ, NULL, &id), -EINVAL);
	CHECK_EQ(dmac_client_register(c, fd, 0, 4096, DMAC_CLIENT_PROT_READ, va, NULL), -EINVAL);
	CHECK_EQ(dmac_client_register(NULL, fd, 0, 4096, DMAC_CLIENT_PROT_READ, va, &id), -EINVAL);
	CHECK_EQ(
	    dmac_client_register(c, fd, UINT64_MAX - 4095, 8192, DMAC_CLIENT_PROT_READ, va, &id),
	    -EOVERFLOW);
	CHECK_EQ(dmac_client_register(c, fd, 0, 8192, DMAC_CLIENT_PROT_READ,
				      (void *)(UINTPTR_MAX - 4095), &id),
		 -EOVERFLOW);
	CHECK_EQ(dmac_client_register_v(c, r, 0, ids), -EINVAL);
	CHECK_EQ(dmac_client_register_v(c, r, 257, ids), -E2BIG);
	CHECK_EQ(id, 77);
	CHECK_EQ(fake_server_requests(&s), before);

	/* 17 distinct fds do not fit one message: -E2BIG, nothing sent. */
	struct dmac_client_range many[17];
	uint64_t mids[17];
	int mfd[17];
	void *mva[17];

	for (int i = 0; i < 17; i++) {
		mfd[i] = make_memfd(4096, true, &mva[i]);
		many[i] = (struct dmac_client_range){
		    .fd = mfd[i], .prot = DMAC_CLIENT_PROT_READ, .length = 4096, .va = mva[i]};
	}
	CHECK_EQ(dmac_client_register_v(c, many, 17, mids), -E2BIG);
	CHECK_EQ(fake_server_requests(&s), before);
	CHECK_EQ(dmac_client_register_v(c, many, 16, mids), 0);
	for (int i = 0; i < 17; i++) {
		munmap(mva[i], 4096);
		close(mfd[i]);
	}

	/* The daemon's refusal becomes -status. */
	FS_SET(&s, fail_next, ENOSPC);
	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &id), -ENOSPC);

	close(pfd[0]);
	close(pfd[1]);
	munmap(uva, MB);
	close(unsealed);
	close_fake(&s, c);
	munmap(va, 4 * MB);
	munmap(va2, 4 * MB);
	close(fd);
	close(fd2);
}

static void test_lease_translate(void)
{
	struct fake_server s;
	struct dmac_client *c = connect_fake(&s);
	void *vbase;
	int fd = make_memfd(4 * MB, true, &vbase);
	char *va = vbase;
	struct dmac_client_lease l, lv[2];
	uint64_t reg, want;
	unsigned int before;
	size_t len;

	CHECK_EQ(dmac_client_register(c, fd, 0, 4 * MB,
				      DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va, &reg),
		 0);
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);

	CHECK_EQ(dmac_client_lease(c, reg, 8192, 16384, DMAC_CLIENT_PROT_READ, &l), 0);
	CHECK(l.lease_id != 0);
	CHECK_EQ(l.length, 16384);
	CHECK(l.va == va + 8192);
	want = fake_iova(0, 8192);
	CHECK_EQ(l.iova, want);
	struct dmac_client_lease first = l;

	/* Every byte boundary: first, last, one past, one before. */
	CHECK_EQ(dmac_client_translate(c, va + 8192, NULL), want);
	CHECK_EQ(dmac_client_translate(c, va + 8192 + 1, NULL), want + 1);
	CHECK_EQ(dmac_client_translate(c, va + 8192 + 16383, NULL), want + 16383);
	CHECK_EQ(dmac_client_translate(c, va + 8192 + 16384, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_translate(c, va + 8191, NULL), DMAC_CLIENT_IOVA_ERROR);
	for (uint64_t off = 0; off < 16384; off += 4096) {
		CHECK_EQ(dmac_client_translate(c, va + 8192 + off, NULL), want + off);
		CHECK_EQ(dmac_client_translate(c, va + 8192 + off + 4095, NULL), want + off + 4095);
	}
	/* *len: 0 asks for all, else clipped; 0 on a miss. */
	len = 0;
	CHECK_EQ(dmac_client_translate(c, va + 8192, &len), want);
	CHECK_EQ(len, 16384);
	len = 100;
	CHECK_EQ(dmac_client_translate(c, va + 8192 + 10, &len), want + 10);
	CHECK_EQ(len, 100);
	len = 1 << 20;
	CHECK_EQ(dmac_client_translate(c, va + 8192 + 16000, &len), want + 16000);
	CHECK_EQ(len, 384);
	len = 5;
	CHECK_EQ(dmac_client_translate(c, va, &len), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(len, 0);
	len = 5;
	CHECK_EQ(dmac_client_translate(NULL, va + 8192, &len), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(len, 0);

	/* Vector: VA-adjacent leases whose IOVAs are contiguous too (same registration). */
	struct dmac_client_lease_req q[2] = {
	    {.reg_id = reg, .offset = MB, .length = MB, .prot = DMAC_CLIENT_PROT_WRITE},
	    {.reg_id = reg, .offset = 2 * MB, .length = MB, .prot = DMAC_CLIENT_PROT_READ},
	};
	CHECK_EQ(dmac_client_lease_v(c, q, 2, lv), 0);
	CHECK_EQ(lv[0].iova, fake_iova(0, MB));
	CHECK_EQ(lv[1].iova, fake_iova(0, 2 * MB));
	len = 0;
	CHECK_EQ(dmac_client_translate(c, va + MB + 4096, &len), fake_iova(0, MB + 4096));
	CHECK_EQ(len, 2 * MB - 4096); /* runs on through the adjacent lease */
	CHECK_EQ(fake_server_leases(&s), 3);

	/* Errors checked locally change nothing and send nothing. */
	before = fake_server_requests(&s);
	memset(&l, 0xab, sizeof(l));
	struct dmac_client_lease keep = l;

	CHECK_EQ(dmac_client_lease(c, reg, 8192, 4096, DMAC_CLIENT_PROT_READ, &l), -EEXIST);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 3 * 4096, DMAC_CLIENT_PROT_READ, &l), -EEXIST);
	CHECK_EQ(dmac_client_lease(c, reg, 4 * MB - 4096, 8192, DMAC_CLIENT_PROT_READ, &l),
		 -ERANGE);
	CHECK_EQ(dmac_client_lease(c, reg + 999, 0, 4096, DMAC_CLIENT_PROT_READ, &l), -ENOENT);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, 0, &l), -EINVAL);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, 8, &l), -EOPNOTSUPP);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 100, DMAC_CLIENT_PROT_READ, &l), -EINVAL);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, NULL), -EINVAL);
	CHECK_EQ(dmac_client_lease(c, 0, 0, 4096, DMAC_CLIENT_PROT_READ, &l), -EINVAL);
	CHECK_EQ(dmac_client_lease(c, reg, UINT64_MAX - 4095, 8192, DMAC_CLIENT_PROT_READ, &l),
		 -EOVERFLOW);
	struct dmac_client_lease_req dup[2] = {
	    {.reg_id = reg, .offset = 3 * MB, .length = 8192, .prot = DMAC_CLIENT_PROT_READ},
	    {.reg_id = reg, .offset = 3 * MB + 4096, .length = 8192, .prot = DMAC_CLIENT_PROT_READ},
	};
	CHECK_EQ(dmac_client_lease_v(c, dup, 2, lv), -EINVAL);
	dup[1].offset = 3 * MB + 8192;
	dup[1].reserved = 1;
	CHECK_EQ(dmac_client_lease_v(c, dup, 2, lv), -EINVAL);
	CHECK_EQ(dmac_client_lease_v(c, dup, 0, lv), -EINVAL);
	CHECK_EQ(dmac_client_lease_v(c, dup, 257, lv), -E2BIG);
	CHECK(!memcmp(&l, &keep, sizeof(l)));
	CHECK_EQ(fake_server_requests(&s), before);
	CHECK_EQ(dmac_client_translate(c, va + 3 * MB, NULL), DMAC_CLIENT_IOVA_ERROR);

	/* A registration with read-only prot refuses a write lease (-EACCES). */
	uint64_t ro;

	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &ro), 0);
	before = fake_server_requests(&s);
	CHECK_EQ(dmac_client_lease(c, ro, 0, 4096, DMAC_CLIENT_PROT_WRITE, &l), -EACCES);
	CHECK_EQ(fake_server_requests(&s), before);

	/* A daemon error maps to -errno, and changes nothing here either. */
	FS_SET(&s, fail_next, EDQUOT);
	CHECK_EQ(dmac_client_lease(c, reg, 3 * MB, 4096, DMAC_CLIENT_PROT_READ, &l), -EDQUOT);
	CHECK_EQ(dmac_client_translate(c, va + 3 * MB, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(fake_server_leases(&s), 3);
	CHECK(!memcmp(&l, &keep, sizeof(l)));

	/* Unregister with leases: -EBUSY locally. */
	before = fake_server_requests(&s);
	CHECK_EQ(dmac_client_unregister(c, reg), -EBUSY);
	CHECK_EQ(dmac_client_unregister(c, 12345), -ENOENT);
	CHECK_EQ(dmac_client_unregister(c, 0), -EINVAL);
	CHECK_EQ(fake_server_requests(&s), before);

	/* Release: translation gone first; errors for unknown and duplicate ids. */
	uint64_t two[2] = {lv[0].lease_id, lv[0].lease_id};
	int res[2] = {9, 9};

	CHECK_EQ(dmac_client_release_v(c, two, 2, res), -EINVAL);
	CHECK_EQ(res[0], 9);
	CHECK_EQ(dmac_client_release(c, 12345), -ENOENT);
	CHECK_EQ(dmac_client_release_v(c, two, 0, res), -EINVAL);
	CHECK_EQ(fake_server_requests(&s), before);
	CHECK_EQ(dmac_client_translate(c, va + MB, NULL), fake_iova(0, MB));

	CHECK_EQ(dmac_client_release(c, lv[1].lease_id), 0);
	CHECK_EQ(dmac_client_translate(c, va + 2 * MB, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_translate(c, va + MB, NULL), fake_iova(0, MB));
	CHECK_EQ(fake_server_leases(&s), 2);

	/* A per-lease daemon failure is reported; the translation stays gone. */
	FS_SET(&s, item_fail_next, EBUSY);
	two[0] = lv[0].lease_id;
	two[1] = 0;
	res[0] = 0;
	CHECK_EQ(dmac_client_release_v(c, two, 1, res), -EBUSY);
	CHECK_EQ(res[0], -EBUSY);
	CHECK_EQ(dmac_client_translate(c, va + MB, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_release(c, lv[0].lease_id), -ENOENT); /* no local record left */

	/* Query pages through what the daemon holds; va filled from local records. */
	struct dmac_client_lease_info info[2];
	uint64_t cursor = 0;
	size_t count = 0, total = 0;
	int pages = 0;

	CHECK_EQ(dmac_client_lease(c, reg, 3 * MB, 4096, DMAC_CLIENT_PROT_READ, &lv[1]), 0);
	do {
		CHECK_EQ(dmac_client_query(c, &cursor, info, 1, &count), 0);
		CHECK(count <= 1);
		for (size_t i = 0; i < count; i++) {
			if (info[i].lease_id == first.lease_id) {
				CHECK(info[i].va == va + 8192);
				CHECK_EQ(info[i].iova, want);
			}
			if (info[i].lease_id == lv[0].lease_id)
				CHECK(info[i].va == NULL); /* the daemon kept it; we did not */
		}
		total += count;
		pages++;
	} while (cursor && pages < 10);
	CHECK_EQ(total, 3);
	CHECK_EQ(pages, 3);
	CHECK_EQ(dmac_client_query(c, &cursor, info, 0, &count), -EINVAL);
	cursor = 999;
	CHECK_EQ(dmac_client_query(c, &cursor, info, 2, &count), -EINVAL); /* daemon: stale */

	/* Stats. */
	struct dmac_client_stats st;

	CHECK_EQ(dmac_client_stats(c, &st), 0);
	CHECK_EQ(st.cache_hits, 7);
	CHECK_EQ(st.leases, 3);
	CHECK_EQ(dmac_client_stats(c, NULL), -EINVAL);

	/* Release the rest; then the registration can go. */
	CHECK_EQ(dmac_client_release(c, first.lease_id), 0);
	CHECK_EQ(dmac_client_release(c, lv[1].lease_id), 0);
	CHECK_EQ(dmac_client_translate(c, va + 8192, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_unregister(c, reg), 0);
	CHECK_EQ(dmac_client_unregister(c, reg), -ENOENT);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, &l), -ENOENT);

	close_fake(&s, c);
	munmap(vbase, 4 * MB);
	close(fd);
}

/* Many leases in one call and a release of more than max_vec (split messages). */
static void test_vectors(void)
{
	enum { N = 300 };
	static struct dmac_client_lease_req q[N];
	static struct dmac_client_lease out[N];
	static uint64_t ids[N];
	static int res[N];
	struct fake_server s;
	struct dmac_client *c;
	void *vbase;
	int fd = make_memfd(N * 4096, true, &vbase);
	char *va = vbase;
	uint64_t reg;

	fake_server_start(&s);
	FS_SET(&s, max_vec, 100); /* before HELLO */
	FATAL_IF(dmac_client_connect_fd(s.client_sock, "t", 0, &c));
	CHECK_EQ(dmac_client_register(c, fd, 0, N * 4096, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	for (int i = 0; i < N; i++)
		q[i] = (struct dmac_client_lease_req){.reg_id = reg,
						      .offset = (uint64_t)i * 4096,
						      .length = 4096,
						      .prot = DMAC_CLIENT_PROT_READ};
	CHECK_EQ(dmac_client_lease_v(c, q, 101, out), -E2BIG); /* above the daemon's max_vec */
	for (int i = 0; i < N; i += 100)
		CHECK_EQ(dmac_client_lease_v(c, q + i, 100, out + i), 0);
	CHECK_EQ(fake_server_leases(&s), N);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(dmac_client_translate(c, va + i * 4096 + 17, NULL),
			 fake_iova(0, i * 4096 + 17));
		ids[i] = out[i].lease_id;
	}
	CHECK_EQ(dmac_client_release_v(c, ids, N, res), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(res[i], 0);
	CHECK_EQ(fake_server_leases(&s), 0);
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	pthread_mutex_lock(&s.lock);
	CHECK_EQ(s.op_count[5], 3); /* RELEASE sent in 3 messages of <= 100 */
	pthread_mutex_unlock(&s.lock);
	close_fake(&s, c);
	munmap(vbase, N * 4096);
	close(fd);
}

static unsigned int op_count(struct fake_server *s, unsigned int op)
{
	unsigned int n;

	pthread_mutex_lock(&s->lock);
	n = s->op_count[op];
	pthread_mutex_unlock(&s->lock);
	return n;
}

/*
 * DMAC_CLIENT_DEFER_RELEASE: a release removes the translation at once and sends
 * RELEASE later, batched: at DMAC_CLIENT_DEFER_MAX pending, before unregister,
 * query and stats, on dmac_client_flush(), and when a lease conflicts. The
 * daemon's per-lease failures come back through dmac_client_flush().
 */
static void test_deferred_release(void)
{
	enum { N = DMAC_CLIENT_DEFER_MAX + 8 };
	static struct dmac_client_lease l[N];
	struct dmac_client_lease_info qi[4];
	struct dmac_client_stats st;
	struct fake_server s;
	struct dmac_client *c = NULL;
	uint64_t reg, cur = 0;
	size_t cnt;
	void *vbase;
	int fd = make_memfd(N * 4096, true, &vbase), res[2];
	char *va = vbase;

	fake_server_start(&s);
	FATAL_IF(dmac_client_connect_fd(s.client_sock, "tenant-a", DMAC_CLIENT_DEFER_RELEASE, &c));
	CHECK_EQ(dmac_client_flush(NULL), -EINVAL);
	CHECK_EQ(dmac_client_flush(c), 0); /* nothing pending: nothing sent */
	CHECK_EQ(op_count(&s, 5), 0);
	CHECK_EQ(dmac_client_register(c, fd, 0, N * 4096, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(dmac_client_lease(c, reg, (uint64_t)i * 4096, 4096, DMAC_CLIENT_PROT_READ,
					   &l[i]),
			 0);
	CHECK_EQ(fake_server_leases(&s), N);

	/* Released locally at once, at the daemon later. */
	CHECK_EQ(dmac_client_release(c, l[0].lease_id), 0);
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_release(c, l[0].lease_id), -ENOENT); /* no local record */
	CHECK_EQ(op_count(&s, 5), 0);
	CHECK_EQ(fake_server_leases(&s), N);
	CHECK_EQ(dmac_client_flush(c), 0);
	CHECK_EQ(op_count(&s, 5), 1);
	CHECK_EQ(fake_server_leases(&s), N - 1);

	/* The pending list fills up: one message for DMAC_CLIENT_DEFER_MAX of them. */
	for (int i = 1; i <= (int)DMAC_CLIENT_DEFER_MAX; i++) {
		CHECK_EQ(dmac_client_release(c, l[i].lease_id), 0);
		CHECK_EQ(dmac_client_translate(c, va + i * 4096, NULL), DMAC_CLIENT_IOVA_ERROR);
	}
	CHECK_EQ(op_count(&s, 5), 2);
	CHECK_EQ(fake_server_leases(&s), N - 1 - DMAC_CLIENT_DEFER_MAX);

	/* query and stats see the daemon after the pending releases. */
	CHECK_EQ(dmac_client_release(c, l[N - 1].lease_id), 0);
	CHECK_EQ(dmac_client_query(c, &cur, qi, 4, &cnt), 0);
	CHECK_EQ(op_count(&s, 5), 3);
	CHECK_EQ(dmac_client_release(c, l[N - 2].lease_id), 0);
	CHECK_EQ(dmac_client_stats(c, &st), 0);
	CHECK_EQ(op_count(&s, 5), 4);
	CHECK_EQ(fake_server_leases(&s), N - 3 - DMAC_CLIENT_DEFER_MAX);

	/* A per-lease failure of a deferred release is reported by the flush. */
	FS_SET(&s, item_fail_next, ESTALE);
	CHECK_EQ(dmac_client_release(c, l[N - 3].lease_id), 0);
	CHECK_EQ(dmac_client_flush(c), -ESTALE);
	CHECK_EQ(dmac_client_flush(c), 0); /* reported once */
	CHECK_EQ(dmac_client_translate(c, va + (N - 3) * 4096, NULL), DMAC_CLIENT_IOVA_ERROR);

	/* A lease the daemon refuses while releases are pending: flush, ask again. */
	CHECK_EQ(dmac_client_release(c, l[N - 4].lease_id), 0);
	FS_SET(&s, fail_next, EDQUOT);
	CHECK_EQ(dmac_client_lease(c, reg, (uint64_t)(N - 4) * 4096, 4096, DMAC_CLIENT_PROT_READ,
				   &l[N - 4]),
		 0);
	CHECK_EQ(op_count(&s, 5), 6);
	CHECK_EQ(dmac_client_translate(c, va + (N - 4) * 4096, NULL),
		 fake_iova(0, (uint64_t)(N - 4) * 4096));
	/* Without pending releases the refusal is the caller's. */
	FS_SET(&s, fail_next, EDQUOT);
	CHECK_EQ(dmac_client_lease(c, reg, (uint64_t)(N - 3) * 4096, 4096, DMAC_CLIENT_PROT_READ,
				   &l[N - 3]),
		 -EDQUOT);

	/* More than DMAC_CLIENT_DEFER_MAX at once are released at once; results filled. */
	{
		uint64_t ids[2] = {l[N - 5].lease_id, l[N - 6].lease_id};

		CHECK_EQ(dmac_client_release_v(c, ids, 2, res), 0);
		CHECK_EQ(res[0], 0);
		CHECK_EQ(res[1], 0);
	}
	/* unregister flushes first, or the daemon would still see leases. */
	for (int i = DMAC_CLIENT_DEFER_MAX + 1; i < N - 6; i++)
		CHECK_EQ(dmac_client_release(c, l[i].lease_id), 0);
	CHECK_EQ(dmac_client_release(c, l[N - 4].lease_id), 0);
	CHECK_EQ(dmac_client_unregister(c, reg), 0);
	CHECK_EQ(op_count(&s, 3), 1);
	CHECK_EQ(fake_server_leases(&s), 1); /* the one whose RELEASE it answered ESTALE */
	close_fake(&s, c);
	munmap(vbase, N * 4096);
	close(fd);
}

/*
 * A deferred release_v that must first send the pending releases, on a
 * connection that is gone: the flush kills the client (its records are
 * dropped), and the call must not touch the records it had looked up.
 * Under ASan this is the test for that use after free.
 */
static void test_deferred_release_dead(void)
{
	enum { N = DMAC_CLIENT_DEFER_MAX + 1 };
	static struct dmac_client_lease l[N];
	struct fake_server s;
	struct dmac_client *c = NULL;
	uint64_t reg, two[2];
	void *vbase;
	int fd = make_memfd(N * 4096, true, &vbase), res[2] = {7, 7};
	char *va = vbase;

	fake_server_start(&s);
	FATAL_IF(dmac_client_connect_fd(s.client_sock, "tenant-a", DMAC_CLIENT_DEFER_RELEASE, &c));
	CHECK_EQ(dmac_client_register(c, fd, 0, N * 4096, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(dmac_client_lease(c, reg, (uint64_t)i * 4096, 4096, DMAC_CLIENT_PROT_READ,
					   &l[i]),
			 0);
	/* DMAC_CLIENT_DEFER_MAX - 1 pending: two more do not fit, a flush comes first. */
	for (int i = 0; i < (int)DMAC_CLIENT_DEFER_MAX - 1; i++)
		CHECK_EQ(dmac_client_release(c, l[i].lease_id), 0);
	CHECK_EQ(op_count(&s, 5), 0);
	pthread_mutex_lock(&s.lock);
	shutdown(s.sock, SHUT_RDWR);
	pthread_mutex_unlock(&s.lock);
	fake_server_join(&s);
	two[0] = l[N - 2].lease_id;
	two[1] = l[N - 1].lease_id;
	CHECK_EQ(dmac_client_release_v(c, two, 2, res), -EPIPE);
	CHECK_EQ(res[0], 7); /* not reached: the call failed before its releases */
	CHECK_EQ(dmac_client_translate(c, va + (N - 1) * 4096, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_release(c, two[0]), -ECONNRESET);
	dmac_client_close(c);
	munmap(vbase, N * 4096);
	close(fd);
}

/* The connection dies mid-session: translations vanish, calls fail cleanly. */
static void test_connection_loss(void)
{
	struct fake_server s;
	struct dmac_client *c;
	struct dmac_client_lease l;
	struct dmac_client_stats st;
	void *vbase;
	int fd = make_memfd(MB, true, &vbase);
	char *va = vbase;
	uint64_t reg;

	/* The daemon hangs up instead of answering: -ECONNRESET. */
	c = connect_fake(&s);
	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, &l), 0);
	CHECK_EQ(dmac_client_translate(c, va, NULL), fake_iova(0, 0));
	FS_SET(&s, hangup_next, true);
	CHECK_EQ(dmac_client_lease(c, reg, 4096, 4096, DMAC_CLIENT_PROT_READ, &l), -ECONNRESET);
	/* The daemon reclaims on hang-up, so the local table is empty now. */
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_stats(c, &st), -ECONNRESET);
	CHECK_EQ(dmac_client_release(c, l.lease_id), -ECONNRESET);
	close_fake(&s, c);

	/* The daemon is gone before the request: -EPIPE on send. */
	c = connect_fake(&s);
	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, &l), 0);
	FS_SET(&s, hangup_next, true);
	CHECK_EQ(dmac_client_stats(c, &st), -ECONNRESET);
	fake_server_join(&s); /* its end is closed now */
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	dmac_client_close(c);

	c = connect_fake(&s);
	pthread_mutex_lock(&s.lock);
	shutdown(s.sock, SHUT_RDWR);
	pthread_mutex_unlock(&s.lock);
	fake_server_join(&s);
	CHECK_EQ(dmac_client_stats(c, &st), -EPIPE);
	CHECK_EQ(dmac_client_stats(c, &st), -ECONNRESET);
	dmac_client_close(c);

	/* A reply with the wrong tag: -EPROTO, and the session is over. */
	c = connect_fake(&s);
	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, &l), 0);
	FS_SET(&s, bad_tag_next, true);
	CHECK_EQ(dmac_client_stats(c, &st), -EPROTO);
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_stats(c, &st), -ECONNRESET);
	close_fake(&s, c);

	/* A grant of the wrong length: -EPROTO, nothing inserted. */
	c = connect_fake(&s);
	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	FS_SET(&s, short_grant_next, true);
	CHECK_EQ(dmac_client_lease(c, reg, 0, 8192, DMAC_CLIENT_PROT_READ, &l), -EPROTO);
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	close_fake(&s, c);

	munmap(vbase, MB);
	close(fd);
}

/*
 * Fail the Nth allocation of a lease for every N until none fails: each failure
 * must leave no lease at the daemon (granted ones are given back), no local
 * translation, and no leaked allocation. A one-element lease or release makes
 * no allocation of the library's own (its arrays are on the stack, its record
 * goes into a slot reserved earlier): its failures are the imap batch's, after
 * the grant for a lease (so a RELEASE gives it back), before anything is sent
 * for a release. Vectors longer than the stack arrays, and a lease that makes
 * the lease index grow, fail before anything is sent.
 */
static void test_alloc_faults(void)
{
	enum { V = 17, GROW = 100 }; /* V: one more than the stack arrays hold */
	struct fake_server s;
	struct dmac_client *c = connect_fake(&s);
	struct dmac_client_lease l, lv[V];
	struct dmac_client_lease_req q[V];
	uint64_t ids[V];
	void *vbase;
	int fd = make_memfd(MB, true, &vbase);
	char *va = vbase;
	uint64_t reg;
	unsigned int req0, rel0;
	int rc, failures = 0, grown = 0;

	CHECK_EQ(dmac_client_register(c, fd, 0, MB, DMAC_CLIENT_PROT_READ, va, &reg), 0);
	/* Warm the table so the baseline counts its steady state. */
	CHECK_EQ(dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, &l), 0);
	CHECK_EQ(dmac_client_release(c, l.lease_id), 0);
	for (uint64_t n = 1; n < 200; n++) {
		req0 = fake_server_requests(&s);
		rel0 = op_count(&s, 5);
		dmac__fault_alloc_arm(n);
		rc = dmac_client_lease(c, reg, 0, 4096, DMAC_CLIENT_PROT_READ, &l);
		bool fired = dmac__fault_alloc_fired();

		dmac__fault_alloc_arm(0);
		if (!fired) {
			CHECK_EQ(rc, 0);
			break;
		}
		failures++;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(fake_server_leases(&s), 0);
		CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
		/* granted, then given back: LEASE and RELEASE went out */
		CHECK_EQ(fake_server_requests(&s), req0 + 2);
		CHECK_EQ(op_count(&s, 5), rel0 + 1);
	}
	CHECK(failures >= 3); /* the imap batch: its record, its nodes, its version */
	CHECK_EQ(dmac_client_translate(c, va, NULL), fake_iova(0, 0));
	CHECK_EQ(fake_server_leases(&s), 1);

	/* Same for release: a failure before step 1 keeps the lease and sends nothing. */
	failures = 0;
	for (uint64_t n = 1; n < 200; n++) {
		req0 = fake_server_requests(&s);
		dmac__fault_alloc_arm(n);
		rc = dmac_client_release(c, l.lease_id);
		bool fired = dmac__fault_alloc_fired();

		dmac__fault_alloc_arm(0);
		if (!fired) {
			CHECK_EQ(rc, 0);
			break;
		}
		failures++;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(fake_server_leases(&s), 1);
		CHECK_EQ(fake_server_requests(&s), req0);
		CHECK_EQ(dmac_client_translate(c, va, NULL), fake_iova(0, 0));
	}
	CHECK(failures >= 1);
	CHECK_EQ(fake_server_leases(&s), 0);

	/* Vectors above the stack arrays: their one block fails first, nothing sent. */
	for (int i = 0; i < V; i++)
		q[i] = (struct dmac_client_lease_req){.reg_id = reg,
						      .offset = (uint64_t)i * 4096,
						      .length = 4096,
						      .prot = DMAC_CLIENT_PROT_READ};
	req0 = fake_server_requests(&s);
	dmac__fault_alloc_arm(1);
	CHECK_EQ(dmac_client_lease_v(c, q, V, lv), -ENOMEM);
	dmac__fault_alloc_arm(0);
	CHECK_EQ(fake_server_requests(&s), req0);
	CHECK_EQ(dmac_client_translate(c, va, NULL), DMAC_CLIENT_IOVA_ERROR);
	CHECK_EQ(dmac_client_lease_v(c, q, V, lv), 0);
	for (int i = 0; i < V; i++)
		ids[i] = lv[i].lease_id;
	req0 = fake_server_requests(&s);
	dmac__fault_alloc_arm(1);
	CHECK_EQ(dmac_client_release_v(c, ids, V, NULL), -ENOMEM);
	dmac__fault_alloc_arm(0);
	CHECK_EQ(fake_server_requests(&s), req0);
	CHECK_EQ(dmac_client_translate(c, va + (V - 1) * 4096, NULL), fake_iova(0, (V - 1) * 4096));
	CHECK_EQ(dmac_client_release_v(c, ids, V, NULL), 0); /* and nothing was left marked */
	CHECK_EQ(fake_server_leases(&s), 0);

	/*
	 * Lease pages one by one, the first allocation of each failing: the index
	 * grows on the way (its new slots are the first allocation, before the
	 * request), and those leases fail with nothing sent; the others fail in the
	 * imap batch and are given back. Either way nothing is left behind.
	 */
	for (int i = 0; i < GROW; i++) {
		req0 = fake_server_requests(&s);
		dmac__fault_alloc_arm(1);
		rc = dmac_client_lease(c, reg, (uint64_t)i * 4096, 4096, DMAC_CLIENT_PROT_READ, &l);
		dmac__fault_alloc_arm(0);
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(fake_server_leases(&s), (unsigned int)i);
		if (fake_server_requests(&s) == req0)
			grown++;
		else
			CHECK_EQ(fake_server_requests(&s), req0 + 2);
		CHECK_EQ(
		    dmac_client_lease(c, reg, (uint64_t)i * 4096, 4096, DMAC_CLIENT_PROT_READ, &l),
		    0);
		ids[i % V] = l.lease_id;
	}
	CHECK(grown >= 2); /* 100 leases outgrow the slots of 17 twice at least */
	for (int i = 0; i < GROW; i++)
		CHECK_EQ(dmac_client_translate(c, va + i * 4096 + 5, NULL),
			 fake_iova(0, i * 4096 + 5));
	close_fake(&s, c);
	munmap(vbase, MB);
	close(fd);
}

static void test_admin(void)
{
	struct dmac_client_tenant_info t[2];
	struct dmac_client_admin_lease a[3];
	struct fake_server s;
	struct dmac_client *c = NULL;
	uint64_t cursor = 0;
	size_t n = 0, total = 0;
	int pages = 0;

	/* A tenant session is refused by the daemon: -EPERM. */
	c = connect_fake(&s);
	CHECK_EQ(dmac_client_admin_tenants(c, &cursor, t, 2, &n), -EPERM);
	CHECK_EQ(dmac_client_admin_leases(c, &cursor, a, 3, &n), -EPERM);
	CHECK_EQ(dmac_client_admin_tenants(c, &cursor, t, 0, &n), -EINVAL);
	CHECK_EQ(dmac_client_admin_tenants(c, NULL, t, 2, &n), -EINVAL);
	close_fake(&s, c);

	fake_server_start(&s);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "@admin2", 0, &c), -EINVAL);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, DMAC_CLIENT_ADMIN_TENANT, 0, &c), 0);
	do {
		CHECK_EQ(dmac_client_admin_tenants(c, &cursor, t, 2, &n), 0);
		CHECK(n <= 2);
		for (size_t i = 0; i < n; i++) {
			char want[16];

			snprintf(want, sizeof(want), "tenant-%zu", total + i);
			CHECK(!strcmp(t[i].name, want));
			CHECK_EQ(t[i].quota_leases, 100 + total + i);
		}
		total += n;
	} while (cursor && ++pages < 10);
	CHECK_EQ(total, FAKE_TENANTS);
	CHECK_EQ(pages, 2); /* 2 + 2 + 1 */

	/* Leases of every session: preload the fake daemon's table. */
	pthread_mutex_lock(&s.lock);
	for (unsigned int i = 0; i < 4; i++)
		s.leases[s.nleases++] = (struct fake_lease){.lease_id = 100 + i,
							    .generation = 1,
							    .iova = fake_iova(0, i * 4096),
							    .length = 4096,
							    .reg_id = 7,
							    .prot = DMAC_CLIENT_PROT_READ};
	pthread_mutex_unlock(&s.lock);
	cursor = 0;
	total = 0;
	do {
		CHECK_EQ(dmac_client_admin_leases(c, &cursor, a, 3, &n), 0);
		for (size_t i = 0; i < n; i++) {
			CHECK_EQ(a[i].info.lease_id, 100 + total + i);
			CHECK_EQ(a[i].session_id, 42);
			CHECK(!strcmp(a[i].tenant, "tenant-a"));
			CHECK(a[i].info.va == NULL);
		}
		total += n;
	} while (cursor && total < 100);
	CHECK_EQ(total, 4);
	cursor = 99;
	CHECK_EQ(dmac_client_admin_leases(c, &cursor, a, 3, &n), -EINVAL);
	close_fake(&s, c);
}

/*
 * Protocol version 3: the tenants' accounting (and zeros from a version-2
 * daemon's shorter elements), the sessions list and the lease histogram;
 * a tenant session gets -EPERM for both new calls.
 */
static void test_admin_v3(void)
{
	struct dmac_client_session_info si[2];
	struct dmac_client_tenant_info t[FAKE_TENANTS];
	struct dmac_client_histogram h;
	struct fake_server s;
	struct dmac_client *c;
	uint64_t cursor = 0;
	size_t n = 0, total = 0;

	c = connect_fake(&s);
	CHECK_EQ(dmac_client_admin_sessions(c, &cursor, si, 2, &n), -EPERM);
	CHECK_EQ(dmac_client_admin_histogram(c, DMAC_CLIENT_HIST_LEASE, &h), -EPERM);
	CHECK_EQ(dmac_client_admin_histogram(c, 0, &h), -EINVAL);
	CHECK_EQ(dmac_client_admin_histogram(c, 1, NULL), -EINVAL);
	close_fake(&s, c);

	fake_server_start(&s);
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, DMAC_CLIENT_ADMIN_TENANT, 0, &c), 0);
	CHECK_EQ(dmac_client_admin_tenants(c, &cursor, t, FAKE_TENANTS, &n), 0);
	CHECK_EQ(n, FAKE_TENANTS);
	CHECK_EQ(t[3].bytes_registered, 3 * MB);
	CHECK_EQ(t[3].bytes_pinned, 6 * MB);
	CHECK_EQ(t[3].lease_requests, 21);
	CHECK_EQ(t[3].quota_leases, 103);
	FS_SET(&s, v2_tenants, true); /* an older daemon: the newer fields read 0 */
	cursor = 0;
	memset(t, 0xff, sizeof(t));
	CHECK_EQ(dmac_client_admin_tenants(c, &cursor, t, FAKE_TENANTS, &n), 0);
	CHECK_EQ(n, FAKE_TENANTS);
	CHECK_EQ(t[3].quota_leases, 103);
	CHECK_EQ(t[3].bytes_registered, 0);
	CHECK_EQ(t[3].bytes_pinned, 0);
	CHECK_EQ(t[4].lease_requests, 0);

	cursor = 0;
	do {
		CHECK_EQ(dmac_client_admin_sessions(c, &cursor, si, 2, &n), 0);
		for (size_t i = 0; i < n; i++) {
			char want[16];

			snprintf(want, sizeof(want), "proc-%zu", total + i);
			CHECK_EQ(si[i].session_id, 42 + total + i);
			CHECK_EQ(si[i].pid, 1000 + total + i);
			CHECK_EQ(si[i].uid, 4001);
			CHECK_EQ(si[i].gid, 4100);
			CHECK_EQ(si[i].pidfd, 1);
			CHECK(!strcmp(si[i].comm, want));
			CHECK_EQ(si[i].leases, total + i);
		}
		total += n;
	} while (cursor && total < 100);
	CHECK_EQ(total, FAKE_SESSIONS);

	memset(&h, 0xff, sizeof(h));
	CHECK_EQ(dmac_client_admin_histogram(c, DMAC_CLIENT_HIST_LEASE, &h), 0);
	CHECK_EQ(h.count, 4);
	CHECK_EQ(h.sum, 9000);
	CHECK_EQ(h.nbuckets, 3);
	CHECK_EQ(h.buckets[0].le, 1024);
	CHECK_EQ(h.buckets[0].count, 2);
	CHECK_EQ(h.buckets[2].le, UINT64_MAX);
	CHECK_EQ(h.buckets[3].le, 0); /* zeroed past nbuckets */
	CHECK_EQ(dmac_client_admin_histogram(c, 2, &h), -ENOENT);
	close_fake(&s, c);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Bounded waits: a daemon that never answers (a listening socket nobody
 * accepts, a socketpair nobody reads, a reply that never comes) costs
 * -ETIMEDOUT after about the timeout, never a hang; a reply timeout kills
 * the client. Connect errors keep their errno (no socket, stale socket).
 */
static void test_timeout(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	char dir[] = "/tmp/dmac-client-timeout-XXXXXX";
	struct dmac_client_stats st;
	struct dmac_client *c = NULL;
	struct fake_server s;
	uint64_t t0;
	int l, sp[2];

	/* a socketpair nobody reads: HELLO times out */
	FATAL_IF(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp));
	FATAL_IF(setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	t0 = now_ms();
	CHECK_EQ(dmac_client_connect_fd(sp[0], "tenant-a", 0, &c), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 150 && now_ms() - t0 < 3000);
	close(sp[0]);
	close(sp[1]);

	/* a path whose listener never accepts (a stopped daemon) */
	FATAL_IF(!mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	FATAL_IF(l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4));
	t0 = now_ms();
	CHECK_EQ(dmac_client_connect_timeout(sa.sun_path, "tenant-a", 0, 300, &c), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 250 && now_ms() - t0 < 3000);
	/* the socket file without a listener: refused, at once */
	close(l);
	CHECK_EQ(dmac_client_connect_timeout(sa.sun_path, "tenant-a", 0, 300, &c), -ECONNREFUSED);
	unlink(sa.sun_path);
	CHECK_EQ(dmac_client_connect_timeout(sa.sun_path, "tenant-a", 0, 300, &c), -ENOENT);
	rmdir(dir);

	/* a reply that never comes: -ETIMEDOUT, then the client is dead */
	fake_server_start(&s);
	FATAL_IF(setsockopt(s.client_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	CHECK_EQ(dmac_client_connect_fd(s.client_sock, "tenant-a", 0, &c), 0);
	CHECK_EQ(dmac_client_stats(c, &st), 0);
	FS_SET(&s, mute_next, true);
	t0 = now_ms();
	CHECK_EQ(dmac_client_stats(c, &st), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 150 && now_ms() - t0 < 3000);
	CHECK_EQ(dmac_client_stats(c, &st), -ECONNRESET);
	close_fake(&s, c);
}

/*
 * The daemon's uid (SO_PEERCRED) decides before anything is sent: root's
 * socketpairs above pass; a fake daemon run by uid 4003 is refused with -EPERM
 * and receives nothing, unless DMACACHE_DAEMON_UID or the _uid connect trusts
 * 4003; a malformed DMACACHE_DAEMON_UID is -EINVAL before any connect().
 */
static void test_daemon_identity(void)
{
	static const char *const bad_env[] = {"",      "abc",	     "-1",
					      "4003x", "4294967295", "99999999999999999999"};
	struct dmac_client_info info;
	struct dmac_client *c = NULL;
	int sock, p[2];
	pid_t srv;

	unsetenv(DMAC_CLIENT_DAEMON_UID_ENV);
	srv = fake_server_spawn_as(FAKE_DAEMON_UID, NULL, &sock);
	/* not trusted: refused, nothing sent, the caller still owns the socket */
	CHECK_EQ(dmac_client_connect_fd(sock, "tenant-a", 0, &c), -EPERM);
	CHECK_EQ(dmac_client_connect_fd_uid(sock, "tenant-a", 0, FAKE_DAEMON_UID + 1, &c), -EPERM);
	setenv(DMAC_CLIENT_DAEMON_UID_ENV, "4004", 1);
	CHECK_EQ(dmac_client_connect_fd(sock, "tenant-a", 0, &c), -EPERM);
	CHECK_EQ(dmac_client_connect_fd(sock, DMAC_CLIENT_ADMIN_TENANT, 0, &c), -EPERM);
	for (size_t i = 0; i < sizeof(bad_env) / sizeof(bad_env[0]); i++) {
		setenv(DMAC_CLIENT_DAEMON_UID_ENV, bad_env[i], 1);
		CHECK_EQ(dmac_client_connect_fd(sock, "tenant-a", 0, &c), -EINVAL);
		/* the path is never tried: -EINVAL, not -ENOENT */
		CHECK_EQ(dmac_client_connect("/nonexistent/dmac.sock", "tenant-a", 0, &c), -EINVAL);
	}
	unsetenv(DMAC_CLIENT_DAEMON_UID_ENV);
	CHECK_EQ(dmac_client_connect_fd_uid(sock, "tenant-a", 0, (uid_t)-1, &c), -EINVAL);
	CHECK(c == NULL);
	/* trusted through the API: HELLO goes out, the first request it sees */
	CHECK_EQ(dmac_client_connect_fd_uid(sock, "tenant-a", 0, FAKE_DAEMON_UID, &c), 0);
	CHECK_EQ(dmac_client_info(c, &info), 0);
	CHECK_EQ(info.session_id, 42);
	dmac_client_close(c); /* closes sock */
	c = NULL;
	CHECK_EQ(fake_server_spawn_wait(srv), 1);

	/* trusted through the environment */
	srv = fake_server_spawn_as(FAKE_DAEMON_UID, NULL, &sock);
	CHECK_EQ(dmac_client_connect_fd(sock, "tenant-a", 0, &c), -EPERM);
	setenv(DMAC_CLIENT_DAEMON_UID_ENV, "4003", 1);
	CHECK_EQ(dmac_client_connect_fd(sock, "tenant-a", 0, &c), 0);
	unsetenv(DMAC_CLIENT_DAEMON_UID_ENV);
	dmac_client_close(c);
	c = NULL;
	CHECK_EQ(fake_server_spawn_wait(srv), 1);

	/* a refused socket closed by its owner: the server saw no request */
	srv = fake_server_spawn_as(FAKE_DAEMON_UID, NULL, &sock);
	CHECK_EQ(dmac_client_connect_fd(sock, "tenant-a", 0, &c), -EPERM);
	close(sock);
	CHECK_EQ(fake_server_spawn_wait(srv), 0);

	/* not a socket: getsockopt's error */
	FATAL_IF(pipe(p));
	CHECK_EQ(dmac_client_connect_fd(p[0], "tenant-a", 0, &c), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	CHECK(c == NULL);
}

int main(void)
{
	int64_t base = dmac__alloc_outstanding();

	test_connect();
	test_register();
	test_lease_translate();
	test_vectors();
	test_deferred_release();
	test_deferred_release_dead();
	test_connection_loss();
	test_alloc_faults();
	test_admin();
	test_admin_v3();
	test_timeout();
	test_daemon_identity();
	dmac_client_thread_unregister();
	CHECK_EQ(dmac__alloc_outstanding(), base);
	return check_report("client");
}
