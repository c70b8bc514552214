/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-only hooks of dmacached-test (see test_hooks.h). Linked into
 * dmacached-test only; bk.c and server.c call them under DMACD_TEST_BUILD.
 *
 * Invariants:
 * - mds[] holds one entry per live space that has a mock domain: the IOAS id,
 *   the mock device (stdev) id and the mock domain (hwpt) id; at most
 *   DMD_TH_MAX spaces (a test daemon has a handful). No heap: the hooks must
 *   not disturb the allocation fault injection (dmac__* counts).
 * - md_fd is the iommufd the entries belong to (one backend per daemon).
 * - A mock device is destroyed before its IOAS, so the IOAS destroy succeeds.
 *
 * Why MD_CHECK_MAP through a fresh MAP_SHARED mapping proves the client's
 * pages: MD_CHECK_MAP resolves the given VA with get_user_pages in the
 * calling process (this daemon) and compares the page frame with the one the
 * mock domain holds for each IOVA. A MAP_SHARED mapping of the same file
 * (memfd or hugetlbfs inode) at the same offset is backed by the same page
 * cache pages in every process, so the frame found here is the frame behind
 * the client's own VA. Reopening the client's file through /proc/PID/fd
 * (rather than using the daemon's own area mapping) keeps the check
 * independent of the daemon's bookkeeping of which area backs which IOVA.
 *
 * Concurrency: event-loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../tests/vm/iommufd/iommufd_test_abi.h"
#include "log.h"
#include "test_hooks.h"

#define DMD_TH_MAX 64

struct dmd_th_md {
	uint32_t ioas, stdev, hwpt;
};

static struct dmd_th_md mds[DMD_TH_MAX];
static unsigned int nmds;
static int md_fd = -1;
static uint64_t md_checks;
static int md_last_rc;

static int dmd__th_cmd(int fd, struct dmac_test_cmd *c)
{
	c->size = sizeof(*c);
	return ioctl(fd, DMAC_TEST_IOMMU_TEST_CMD, c) ? -errno : 0;
}

static int dmd__th_enabled(void)
{
	const char *v = getenv("DMAC_TEST_MOCK_DOMAINS");

	return v && !strcmp(v, "1");
}

int dmd_test_hooks_space_alloc(int iommufd, uint32_t space)
{
	struct dmac_test_cmd c = {.op = DMAC_TEST_OP_MOCK_DOMAIN, .id = space};
	int rc;

	if (iommufd < 0 || !dmd__th_enabled())
		return 0;
	if (nmds == DMD_TH_MAX)
		return -ENOSPC;
	rc = dmd__th_cmd(iommufd, &c);
	if (rc) {
		dmd_err("test: MOCK_DOMAIN on IOAS %u: %s", space, strerror(-rc));
		return rc;
	}
	md_fd = iommufd;
	mds[nmds].ioas = space;
	mds[nmds].stdev = c.mock_domain.out_stdev_id;
	mds[nmds].hwpt = c.mock_domain.out_hwpt_id;
	nmds++;
	dmd_info("test: IOAS %u: mock device %u, mock domain %u", space, c.mock_domain.out_stdev_id,
		 c.mock_domain.out_hwpt_id);
	return 0;
}

void dmd_test_hooks_space_destroy(int iommufd, uint32_t space)
{
	for (unsigned int i = 0; i < nmds; i++) {
		struct iommu_destroy d = {.size = sizeof(d), .id = mds[i].stdev};

		if (mds[i].ioas != space)
			continue;
		if (ioctl(iommufd, IOMMU_DESTROY, &d))
			dmd_err("test: destroy mock device %u: %s", mds[i].stdev, strerror(errno));
		mds[i] = mds[--nmds];
		return;
	}
}

static int dmd__th_check_map(uint32_t space, uint64_t iova, uint64_t length, int pid, int fd,
			     uint64_t offset)
{
	struct dmac_test_cmd c = {.op = DMAC_TEST_OP_MD_CHECK_MAP};
	const struct dmd_th_md *md = NULL;
	char path[64];
	void *va;
	int f, rc;

	for (unsigned int i = 0; i < nmds; i++)
		if (mds[i].ioas == space)
			md = &mds[i];
	if (!md || !length)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	va = mmap(NULL, length, PROT_READ, MAP_SHARED, f, (off_t)offset);
	if (va == MAP_FAILED) {
		rc = -errno;
		goto out_close;
	}
	c.id = md->hwpt;
	c.check_map.iova = iova;
	c.check_map.length = length;
	c.check_map.uptr = (uintptr_t)va;
	rc = dmd__th_cmd(md_fd, &c);
	munmap(va, length);
out_close:
	close(f);
	return rc;
}

static uint64_t fake_ino;

/* "hog_fds fill|N|0": fds held open to simulate the daemon's fd shortage */
static int *hog;
static size_t nhog, hog_lent;
static int hog_fill;

static void dmd__th_hog(const char *arg);

void dmd_test_hooks_lend(void)
{
	/* the control file, its stdio buffer's fd and the dump need fds */
	for (hog_lent = 0; hog_lent < 3 && nhog; hog_lent++)
		close(hog[--nhog]);
}

void dmd_test_hooks_take_back(void)
{
	for (; hog_lent; hog_lent--) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			break;
		hog[nhog++] = fd; /* room: the array never shrinks */
	}
	hog_lent = 0;
	if (hog_fill)
		dmd__th_hog("fill again"); /* what the control file's stdio freed too */
}

static void dmd__th_hog(const char *arg)
{
	size_t want = 0;
	int fill = !strncmp(arg, "fill", 4);

	if (!fill)
		want = (size_t)strtoull(arg, NULL, 10);
	hog_fill = fill;
	if (strcmp(arg, "fill again"))
		hog_lent = 0; /* what was lent for this control line is not taken back */
	while (nhog > want && !fill)
		close(hog[--nhog]);
	for (;;) {
		int fd;
		int *n;

		if (!fill && nhog >= want)
			break;
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break; /* EMFILE: the table is full */
		n = realloc(hog, (nhog + 1) * sizeof(*hog));
		if (!n) {
			close(fd);
			break;
		}
		hog = n;
		hog[nhog++] = fd;
	}
	if (fill && strcmp(arg, "fill again"))
		dmd_test_hooks_lend(); /* the dump of this SIGUSR1 needs them */
	dmd_info("test: %zu fds held by hog_fds", nhog + hog_lent);
}

uint64_t dmd_test_hooks_fake_ino(void)
{
	return fake_ino;
}

int dmd_test_hooks_ctl(const char *line)
{
	unsigned long long iova, length, offset, ino;
	unsigned int space;
	int pid, fd;

	if (!strncmp(line, "hog_fds ", 8)) {
		dmd__th_hog(line + 8);
		return 1;
	}
	if (sscanf(line, "fake_ino %llu", &ino) == 1) {
		fake_ino = ino;
		dmd_info("test: every REGISTER fd now reports st_ino %llu", ino);
		return 1;
	}
	if (sscanf(line, "md_check_map %u %llx %llx %d %d %llx", &space, &iova, &length, &pid, &fd,
		   &offset) != 6)
		return 0;
	md_last_rc = dmd__th_check_map(space, iova, length, pid, fd, offset);
	md_checks++;
	dmd_info("test: md_check_map space %u iova 0x%llx length 0x%llx: %d", space, iova, length,
		 md_last_rc);
	return 1;
}

void dmd_test_hooks_dump(FILE *f)
{
	fprintf(f, "mock_domains %u\nmd_checks %" PRIu64 "\nmd_last_rc %d\nhog_fds %zu\n", nmds,
		md_checks, md_last_rc, nhog);
}
