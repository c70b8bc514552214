/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host unit tests of the backend core (registry, selector, log hook) and of
 * the parts of the iommufd backend that need no /dev/iommu: PCI address
 * parsing, the sysfs cdev lookup against a fake sysfs/dev tree, error paths
 * with ioctls that the kernel refuses (the backend is opened on /dev/null,
 * where every ioctl is ENOTTY), and allocation-fault unwinding.
 *
 * Invariants: the registry is process-global and never shrinks, so the
 * checks run in a fixed order (empty registry first). The fake tree lives in
 * a mkdtemp() directory removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dmac/backend.h"
#include "dmac/iommufd_backend.h"
#include "dmac_alloc.h"

int dmac__iofd_parse_bdf(const char *in, char out[16]);

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static char last_msg[1024];
static enum dmac_log_level last_level;

static void capture(enum dmac_log_level level, const char *msg, void *arg)
{
	int *counter = arg;

	(*counter)++;
	last_level = level;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

/* Fake backends: the iommufd table with another name, priority and probe. */
static int probe_yes(char *reason, size_t len)
{
	snprintf(reason, len, "fake device nodes present");
	return 0;
}

static int probe_no(char *reason, size_t len)
{
	snprintf(reason, len, "fake node /dev/nothing missing");
	return -ENODEV;
}

static struct dmac_backend_ops fake_lo, fake_hi_unusable, fake_mid, fake_dup, fake_bad;

static struct dmac_backend_ops make_fake(const char *name, int prio, int (*probe)(char *, size_t))
{
	struct dmac_backend_ops o = dmac_iommufd_backend_ops;

	o.name = name;
	o.priority = prio;
	o.probe = probe;
	return o;
}

static void test_log(void)
{
	int counter = 0, saved;

	dmac_backend_set_log(capture, &counter, DMAC_LOG_INFO);
	dmac_backend_log(DMAC_LOG_ERR, "call %s(ioas %u)", "X", 7u);
	CHECK(counter == 1 && !strcmp(last_msg, "call X(ioas 7)") && last_level == DMAC_LOG_ERR,
	      "got %d '%s'", counter, last_msg);
	dmac_backend_log(DMAC_LOG_DEBUG, "dropped");
	CHECK(counter == 1, "DEBUG passed an INFO filter");
	errno = 1234;
	dmac_backend_log(DMAC_LOG_WARN, "w");
	saved = errno;
	CHECK(saved == 1234 && counter == 2, "errno %d counter %d", saved, counter);
	dmac_backend_set_log(capture, &counter, DMAC_LOG_DEBUG);
	dmac_backend_log(DMAC_LOG_DEBUG, "kept");
	CHECK(counter == 3 && !strcmp(last_msg, "kept"), "DEBUG dropped");
}

static void test_registry_and_choose(void)
{
	const struct dmac_backend_ops *o = NULL;
	char reason[1024];
	int i;

	unsetenv("DMAC_BACKEND");
	CHECK(dmac_backend_choose(NULL, &o, reason, sizeof(reason)) == -ENODEV, "empty registry");
	CHECK(strstr(reason, "no backend registered"), "reason '%s'", reason);
	CHECK(strstr(last_msg, "/dev/vfio/devices") && last_level == DMAC_LOG_ERR, "log '%s'",
	      last_msg);

	fake_lo = make_fake("lo", 10, probe_yes);
	fake_hi_unusable = make_fake("hi", 50, probe_no);
	fake_mid = make_fake("mid", 20, probe_yes);
	fake_dup = make_fake("lo", 99, probe_yes);
	fake_bad = make_fake("bad", 1, probe_yes);
	fake_bad.copy = NULL;

	CHECK(dmac_backend_register(NULL) == -EINVAL, "NULL");
	CHECK(dmac_backend_register(&fake_bad) == -EINVAL, "table with a NULL member");
	CHECK(dmac_backend_register(&fake_lo) == 0, "lo");
	CHECK(dmac_backend_register(&fake_lo) == 0, "same table twice");
	CHECK(dmac_backend_register(&fake_dup) == -EEXIST, "duplicate name");
	CHECK(dmac_backend_register(&fake_hi_unusable) == 0, "hi");
	CHECK(dmac_backend_find("lo") == &fake_lo && !dmac_backend_find("nope"), "find");

	/* automatic: hi is preferred but unusable, lo is the only usable one */
	CHECK(dmac_backend_choose(NULL, &o, reason, sizeof(reason)) == 0 && o == &fake_lo,
	      "auto chose %s", o ? o->name : "-");
	CHECK(strstr(reason, "'hi' not usable: fake node /dev/nothing missing") &&
		  strstr(reason, "'lo' chosen automatically"),
	      "reason '%s'", reason);
	CHECK(dmac_backend_register(&fake_mid) == 0, "mid");
	CHECK(dmac_backend_choose("auto", &o, reason, sizeof(reason)) == 0 && o == &fake_mid,
	      "priority order: chose %s", o->name);

	/* forced */
	CHECK(dmac_backend_choose("lo", &o, reason, sizeof(reason)) == 0 && o == &fake_lo,
	      "forced lo");
	CHECK(strstr(reason, "forced by config key"), "reason '%s'", reason);
	CHECK(dmac_backend_choose("hi", &o, reason, sizeof(reason)) == -ENODEV, "forced hi");
	CHECK(strstr(reason, "not usable here: fake node /dev/nothing missing"), "reason '%s'",
	      reason);
	CHECK(dmac_backend_choose("vfio", &o, reason, sizeof(reason)) == -EINVAL, "unknown");
	setenv("DMAC_BACKEND", "lo", 1);
	CHECK(dmac_backend_choose(NULL, &o, reason, sizeof(reason)) == 0 && o == &fake_lo, "env");
	CHECK(strstr(reason, "environment DMAC_BACKEND"), "reason '%s'", reason);
	CHECK(dmac_backend_choose("mid", &o, reason, sizeof(reason)) == 0 && o == &fake_mid,
	      "config key beats the environment");
	setenv("DMAC_BACKEND", "", 1);
	CHECK(dmac_backend_choose(NULL, &o, NULL, 0) == 0 && o == &fake_mid, "empty env = auto");
	unsetenv("DMAC_BACKEND");

	/* capacity */
	{
		static struct dmac_backend_ops many[DMAC_BACKEND_MAX];
		static char names[DMAC_BACKEND_MAX][8];
		int ret = 0;

		for (i = 0; i < DMAC_BACKEND_MAX && !ret; i++) {
			snprintf(names[i], sizeof(names[i]), "f%d", i);
			many[i] = make_fake(names[i], 0, probe_no);
			ret = dmac_backend_register(&many[i]);
		}
		/* 3 already registered: the 6th fake is the 9th table */
		CHECK(ret == -ENOSPC && i == DMAC_BACKEND_MAX - 2, "ENOSPC at %d (%d)", i, ret);
	}
}

static void test_parse_bdf(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"0000:00:04.0", "0000:00:04.0"},
	    {"00:1f.7", "0000:00:1f.7"},
	    {"ABCD:EF:1F.7", "abcd:ef:1f.7"},
	};
	static const char *const bad[] = {"",	       "0000:00:20.0", "0000:00:04.8",
					  "0:00:04.0", "0000-00:04.0", "0000:00:04.0 ",
					  "zz:00.0",   "00:04:0"};
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CHECK(dmac__iofd_parse_bdf(ok[i].in, out) == 0 && !strcmp(out, ok[i].out),
		      "'%s' -> '%s'", ok[i].in, out);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(dmac__iofd_parse_bdf(bad[i], out) == -EINVAL, "'%s' accepted", bad[i]);
	CHECK(dmac__iofd_parse_bdf(NULL, out) == -EINVAL, "NULL accepted");
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL, "create %s", path);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void mkdirs(const char *path)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	CHECK(system(cmd) == 0, "%s", cmd);
}

/* A fake tree: <root>/sys/bus/pci/devices/0000:00:04.0/vfio-dev/vfio0/dev and
 * <root>/dev/vfio/devices/vfio0 -> /dev/null. */
static void test_device_lookup(void)
{
	const struct dmac_backend_ops *ops = &dmac_iommufd_backend_ops;
	char root[] = "/tmp/dmac-iofd-XXXXXX", p[512], sys[300], dev[300], rdev[32];
	struct dmac_backend_config cfg = {.path = "/dev/null"};
	struct dmac_backend *be = NULL;
	struct dmac_device *d = NULL;
	int64_t base = dmac__alloc_outstanding();
	struct stat st;
	uint32_t id;
	int ret;

	CHECK(mkdtemp(root) != NULL, "mkdtemp");
	CHECK(stat("/dev/null", &st) == 0, "stat /dev/null");
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(dev, sizeof(dev), "%s/dev", root);
	cfg.sysfs_root = sys;
	cfg.dev_root = dev;

	/* The backend opens any node; on /dev/null every ioctl is ENOTTY, so
	 * feature detection finds nothing and each op reports "unsupported". */
	CHECK(ops->open(&cfg, &be) == 0, "open on /dev/null");
	if (!be)
		return;
	CHECK(ops->features(be) ==
		  (DMAC_BACKEND_F_UNMAP_ALL | DMAC_BACKEND_F_MULTI_SPACE | DMAC_BACKEND_F_REPLACE),
	      "features 0x%llx", (unsigned long long)ops->features(be));
	CHECK(ops->space_alloc(be, &id) == -ENOTTY, "IOAS_ALLOC on /dev/null");
	CHECK(strstr(last_msg, "IOMMU_IOAS_ALLOC") && strstr(last_msg, "ENOTTY") &&
		  strstr(last_msg, "not supported by this kernel"),
	      "log '%s'", last_msg);
	CHECK(ops->copy(be, 2, 1, 0, 4096, DMAC_PROT_READ, 0, &(uint64_t){0}) == -EOPNOTSUPP,
	      "copy without COPY");

	ret = ops->device_open(be, "0000:00:04.0", &d);
	CHECK(ret == -ENODEV && strstr(last_msg, "no PCI device"), "%d '%s'", ret, last_msg);

	snprintf(p, sizeof(p), "%s/bus/pci/devices/0000:00:04.0", sys);
	mkdirs(p);
	snprintf(p, sizeof(p), "%s/vfio/devices", dev);
	mkdirs(p);
	ret = ops->device_open(be, "00:04.0", &d);
	CHECK(ret == -ENODEV && strstr(last_msg, "not bound to vfio-pci"), "%d '%s'", ret,
	      last_msg);

	snprintf(p, sizeof(p), "%s/bus/pci/devices/0000:00:04.0/vfio-dev/vfio0", sys);
	mkdirs(p);
	snprintf(p, sizeof(p), "%s/bus/pci/devices/0000:00:04.0/vfio-dev/vfio0/dev", sys);
	snprintf(rdev, sizeof(rdev), "%u:%u\n", major(st.st_rdev), minor(st.st_rdev) + 1);
	put(p, rdev);
	snprintf(p, sizeof(p), "%s/vfio/devices/vfio0", dev);
	CHECK(symlink("/dev/null", p) == 0, "symlink %s", p);

	/* sysfs names another char device: refused */
	ret = ops->device_open(be, "0000:00:04.0", &d);
	CHECK(ret == -ENODEV && strstr(last_msg, "is not the char device"), "%d '%s'", ret,
	      last_msg);

	/* right device number: the lookup passes, BIND is ENOTTY on /dev/null */
	snprintf(p, sizeof(p), "%s/bus/pci/devices/0000:00:04.0/vfio-dev/vfio0/dev", sys);
	snprintf(rdev, sizeof(rdev), "%u:%u\n", major(st.st_rdev), minor(st.st_rdev));
	put(p, rdev);
	ret = ops->device_open(be, "0000:00:04.0", &d);
	CHECK(ret == -ENOTTY && strstr(last_msg, "VFIO_DEVICE_BIND_IOMMUFD(0000:00:04.0"),
	      "%d '%s'", ret, last_msg);

	/* allocation failure in device_open unwinds */
	dmac__fault_alloc_arm(1);
	ret = ops->device_open(be, "0000:00:04.0", &d);
	CHECK(ret == -ENOMEM && dmac__fault_alloc_fired(), "fault: %d", ret);
	dmac__fault_alloc_arm(0);
	ops->close(be);

	/* allocation failure in open unwinds */
	dmac__fault_alloc_arm(1);
	be = NULL;
	CHECK(ops->open(&cfg, &be) == -ENOMEM && !be, "open fault");
	dmac__fault_alloc_arm(0);
	CHECK(ops->open(&(struct dmac_backend_config){.path = "/nonexistent/iommu"}, &be) ==
		  -ENOENT,
	      "open of a missing node");
	CHECK(dmac__alloc_outstanding() == base, "leak: %lld allocations outstanding",
	      (long long)(dmac__alloc_outstanding() - base));

	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		CHECK(system(cmd) == 0, "cleanup");
	}
}

int main(void)
{
	int counter = 0;

	dmac_backend_set_log(capture, &counter, DMAC_LOG_DEBUG);
	test_registry_and_choose();
	test_log();
	test_parse_bdf();
	dmac_backend_set_log(capture, &counter, DMAC_LOG_DEBUG);
	test_device_lookup();
	printf("backend-core: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
