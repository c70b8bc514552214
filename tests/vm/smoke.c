/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smoke.c: checks that the VM test guest is what the vm suite relies on.
 *
 * Usage (inside the guest, through tests/vm/vmrun): vm-smoke HUGEPAGES
 *
 * Invariants:
 * - Run on the host instead of the guest, it fails (no /dev/iommu, or a
 *   writable root): every check asserts a property of the guest only.
 * - HUGEPAGES is the count given to vmrun --hugepages; the guest must have
 *   exactly that many 2 MiB pages reserved, and one must be usable.
 * - Exit status: 0 when every check passed, 1 otherwise (each failure is
 *   printed on stderr with its errno).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HUGE_2M (2UL << 20)

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* Returns the value of the /proc/meminfo line 'key', or -1 if absent. */
static long meminfo(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static int is_chardev(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

static void check_iommu(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	CHECK(fd >= 0, "open /dev/iommu: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	CHECK(is_chardev("/dev/vfio/vfio"), "/dev/vfio/vfio is not a character device");
}

static void check_nvme(void)
{
	const char *cdev = getenv("DMAC_VM_NVME_CDEV");
	const char *group = getenv("DMAC_VM_NVME_GROUP");
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	char path[64];
	char link[256];
	ssize_t n;

	CHECK(cdev && *cdev, "DMAC_VM_NVME_CDEV is not set");
	CHECK(group && *group, "DMAC_VM_NVME_GROUP is not set");
	CHECK(bdf && *bdf, "DMAC_VM_NVME_BDF is not set");
	if (!cdev || !*cdev || !group || !*group || !bdf || !*bdf)
		return;
	CHECK(!strncmp(cdev, "/dev/vfio/devices/vfio", 22), "unexpected cdev path %s", cdev);
	CHECK(is_chardev(cdev), "%s is not a character device", cdev);
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	CHECK(is_chardev(path), "%s is not a character device", path);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	CHECK(n > 0, "readlink %s: %s", path, strerror(errno));
	if (n > 0) {
		link[n] = '\0';
		CHECK(strstr(link, "/vfio-pci") != NULL, "%s is bound to %s, not vfio-pci", bdf,
		      link);
	}
}

static void check_hugepages(long want)
{
	long total = meminfo("HugePages_Total");
	long size = meminfo("Hugepagesize");
	long free_before;
	void *p;

	CHECK(total == want, "HugePages_Total is %ld, asked for %ld", total, want);
	CHECK(size == 2048, "Hugepagesize is %ld kB, expected 2048", size);
	if (want <= 0)
		return;
	free_before = meminfo("HugePages_Free");
	p = mmap(NULL, HUGE_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	CHECK(p != MAP_FAILED, "mmap of one 2 MiB hugepage: %s", strerror(errno));
	if (p == MAP_FAILED)
		return;
	memset(p, 0x5a, HUGE_2M);
	CHECK(meminfo("HugePages_Free") == free_before - 1,
	      "HugePages_Free did not drop by one after a populated mapping");
	munmap(p, HUGE_2M);
}

static void check_readonly_root(const char *self)
{
	char probe[4096];
	const char *slash = strrchr(self, '/');
	int len = slash ? (int)(slash - self) : 1;
	int fd, err;

	/* A new file beside this executable: on the host root, never writable. */
	snprintf(probe, sizeof(probe), "%.*s/vm-smoke-rofs-probe", len, slash ? self : ".");
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	err = errno;
	CHECK(fd < 0 && err == EROFS, "creating %s: expected EROFS, got %s", probe,
	      fd < 0 ? strerror(err) : "success");
	if (fd >= 0) {
		close(fd);
		unlink(probe);
	}
	fd = open("/tmp/vm-smoke-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0, "guest /tmp is not writable: %s", strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlink("/tmp/vm-smoke-probe");
	}
}

int main(int argc, char **argv)
{
	char *end;
	long want;

	if (argc != 2) {
		fprintf(stderr, "usage: %s HUGEPAGES\n", argv[0]);
		return 1;
	}
	want = strtol(argv[1], &end, 10);
	if (*end || want < 0) {
		fprintf(stderr, "bad hugepage count '%s'\n", argv[1]);
		return 1;
	}
	check_iommu();
	check_nvme();
	check_hugepages(want);
	check_readonly_root(argv[0]);
	if (failures) {
		fprintf(stderr, "vm-smoke: %d check(s) failed\n", failures);
		return 1;
	}
	printf("vm-smoke: guest ok\n");
	return 0;
}
