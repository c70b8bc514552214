/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An application outside the tree: tests/install/test_install.sh compiles it
 * against the installed libdmacache with pkg-config alone (no include path
 * of the source tree) and runs it as a non-root tenant against
 * dmacached-test. It registers a sealed memfd, leases it, translates an
 * address inside it and releases everything; exit 0 only if each step did
 * what libdmacache(3) says.
 *
 *   ext_client SOCKET TENANT
 */
#define _GNU_SOURCE
#include <dmac/dmacache.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (2u << 20)

static int fail(const char *what, int rc)
{
	fprintf(stderr, "ext_client: %s: %s\n", what, dmac_client_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	struct dmac_client_lease l;
	struct dmac_client *c;
	uint64_t reg, iova;
	size_t len = 4096;
	void *va;
	int fd, rc;

	if (argc != 3) {
		fprintf(stderr, "usage: ext_client SOCKET TENANT\n");
		return 2;
	}
	fd = memfd_create("ext_client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, LEN) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		perror("ext_client: memfd");
		return 1;
	}
	va = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (va == MAP_FAILED) {
		perror("ext_client: mmap");
		return 1;
	}
	rc = dmac_client_connect(argv[1], argv[2], 0, &c);
	if (rc)
		return fail("connect", rc);
	rc = dmac_client_register(c, fd, 0, LEN, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va,
				  &reg);
	if (rc)
		return fail("register", rc);
	rc = dmac_client_lease(c, reg, 0, LEN, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, &l);
	if (rc)
		return fail("lease", rc);
	iova = dmac_client_translate(c, (char *)va + 8192, &len);
	if (iova != l.iova + 8192 || len != 4096) {
		fprintf(stderr, "ext_client: translate gave 0x%llx (%zu bytes), want 0x%llx\n",
			(unsigned long long)iova, len, (unsigned long long)(l.iova + 8192));
		return 1;
	}
	rc = dmac_client_release(c, l.lease_id);
	if (rc)
		return fail("release", rc);
	len = 4096;
	if (dmac_client_translate(c, va, &len) != DMAC_CLIENT_IOVA_ERROR) {
		fprintf(stderr, "ext_client: a released lease still translates\n");
		return 1;
	}
	rc = dmac_client_unregister(c, reg);
	if (rc)
		return fail("unregister", rc);
	dmac_client_close(c);
	printf("ext_client: leased iova 0x%llx, translated, released\n",
	       (unsigned long long)l.iova);
	return 0;
}
