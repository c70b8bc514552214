/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the iommufd vm tests: CHECK macros, a log hook that keeps
 * the last backend message, the IOMMUFD_TEST mock-domain calls, and buffers.
 *
 * Invariants: CHECK() never aborts, it counts failures; vmtest_finish()
 * turns the count into the exit status (0 only if nothing failed and at least
 * one check ran). Everything here runs inside the test guest as root.
 */
#ifndef DMAC_VMTEST_H
#define DMAC_VMTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dmac/backend.h"
#include "dmac/iommufd_backend.h"
#include "iommufd_test_abi.h"

static int vt_failures, vt_checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		vt_checks++;                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			vt_failures++;                                                             \
		}                                                                                  \
	} while (0)

/* Check that an int expression equals an expected (negative errno) value. */
#define CHECK_RET(expr, want)                                                                      \
	do {                                                                                       \
		int vt_r_ = (expr);                                                                \
		CHECK(vt_r_ == (want), "got %d (%s), want %d (%s)", vt_r_,                         \
		      vt_r_ ? strerrorname_np(-vt_r_) : "0", (want),                               \
		      (want) ? strerrorname_np(-(want)) : "0");                                    \
	} while (0)

static char vt_last_log[1024];
static int vt_nr_logs;

static void vt_log(enum dmac_log_level level, const char *msg, void *arg)
{
	snprintf(vt_last_log, sizeof(vt_last_log), "%s", msg);
	vt_nr_logs++;
	fprintf(stderr, "  [log %d] %s\n", level, msg);
}

/* Forget the last log message. */
static inline void vt_log_reset(void)
{
	vt_last_log[0] = '\0';
}

/* Check the last log message contains every given fragment. */
#define CHECK_LOG(...)                                                                             \
	do {                                                                                       \
		const char *vt_frags_[] = {__VA_ARGS__, NULL};                                     \
		for (int vt_i_ = 0; vt_frags_[vt_i_]; vt_i_++)                                     \
			CHECK(strstr(vt_last_log, vt_frags_[vt_i_]), "log '%s' lacks '%s'",        \
			      vt_last_log, vt_frags_[vt_i_]);                                      \
	} while (0)

static inline void vt_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	dmac_backend_set_log(vt_log, NULL, DMAC_LOG_DEBUG);
}

static inline int vt_finish(const char *name)
{
	if (!vt_checks) {
		fprintf(stderr, "%s: no check ran\n", name);
		return 1;
	}
	printf("%s: %d checks, %d failed\n", name, vt_checks, vt_failures);
	return vt_failures ? 1 : 0;
}

/* ---- IOMMUFD_TEST ---------------------------------------------------------- */

static inline int vt_test_cmd(int fd, struct dmac_test_cmd *c)
{
	c->size = sizeof(*c);
	return ioctl(fd, DMAC_TEST_IOMMU_TEST_CMD, c) ? -errno : 0;
}

/* Attach a mock device + mock domain to an IOAS. */
static inline int vt_mock_domain(int fd, uint32_t ioas, uint32_t *stdev, uint32_t *hwpt)
{
	struct dmac_test_cmd c = {.op = DMAC_TEST_OP_MOCK_DOMAIN, .id = ioas};
	int ret = vt_test_cmd(fd, &c);

	if (!ret) {
		*stdev = c.mock_domain.out_stdev_id;
		*hwpt = c.mock_domain.out_hwpt_id;
	}
	return ret;
}

/* 0 iff every IO page of [iova, iova+len) in the mock domain maps va's page. */
static inline int vt_check_map(int fd, uint32_t hwpt, uint64_t iova, uint64_t len, const void *va)
{
	struct dmac_test_cmd c = {
	    .op = DMAC_TEST_OP_MD_CHECK_MAP,
	    .id = hwpt,
	    .check_map = {.iova = iova, .length = len, .uptr = (uintptr_t)va},
	};

	return vt_test_cmd(fd, &c);
}

/* 0 iff every 4 KiB (non-compound) page of [va, va+len) has 'refs' pins. */
static inline int vt_check_refs(int fd, const void *va, uint64_t len, uint32_t refs)
{
	struct dmac_test_cmd c = {
	    .op = DMAC_TEST_OP_MD_CHECK_REFS,
	    .check_refs = {.length = len, .uptr = (uintptr_t)va, .refs = refs},
	};

	return vt_test_cmd(fd, &c);
}

static inline int vt_destroy(int fd, uint32_t id)
{
	struct iommu_destroy d = {.size = sizeof(d), .id = id};

	return ioctl(fd, IOMMU_DESTROY, &d) ? -errno : 0;
}

/* ---- memory ---------------------------------------------------------------- */

/* Anonymous 4 KiB-page memory, every page touched with a distinct pattern. */
static inline void *vt_anon(size_t len)
{
	unsigned char *p =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	return p;
}

/* 2 MiB hugetlb memory (the guest reserves pages with vmrun --hugepages). */
static inline void *vt_huge(size_t len)
{
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	for (size_t i = 0; i < len; i += 2u << 20)
		p[i] = 1;
	return p;
}

/*
 * Open the iommufd backend. With 'choose', the way the daemon does (register +
 * dmac_backend_choose()) in a guest with the NVMe bound to vfio-pci; without,
 * in a guest booted --no-iommu, where no device is bound and /dev/vfio/devices
 * does not exist: the selector must still choose iommufd, from the kernel's
 * VFIO cdev support (/sys/class/vfio-dev), as a daemon started before any
 * device binding needs (checked here too); the ops table is then used directly.
 */
static inline struct dmac_backend *vt_open_backend(const struct dmac_backend_ops **ops, int choose)
{
	struct dmac_backend *be = NULL;
	char reason[512] = "";
	int ret;

	ret = dmac_backend_register(&dmac_iommufd_backend_ops);
	CHECK(ret == 0, "register: %d", ret);
	ret = dmac_backend_choose(NULL, ops, reason, sizeof(reason));
	if (choose) {
		CHECK(ret == 0, "choose: %d (%s)", ret, reason);
		if (ret)
			return NULL;
		CHECK(*ops == &dmac_iommufd_backend_ops, "chose %s", (*ops)->name);
		CHECK(strstr(reason, "/dev/iommu"), "reason '%s'", reason);
	} else {
		CHECK(ret == 0, "choose without bound VFIO devices: %d (%s)", ret, reason);
		CHECK(strstr(reason, "/sys/class/vfio-dev"), "reason '%s'", reason);
		*ops = &dmac_iommufd_backend_ops;
	}
	ret = (*ops)->open(NULL, &be);
	CHECK(ret == 0, "open: %d", ret);
	return ret ? NULL : be;
}

#endif /* DMAC_VMTEST_H */
