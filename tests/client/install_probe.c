/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Built by test_install.sh against the INSTALLED libdmacache (pkg-config), so it
 * includes only the installed header and links only the installed library.
 * Invariants: exits 0 only if every check passed; needs no daemon.
 */
#include <errno.h>
#include <stdio.h>

#include <dmac/dmacache.h>

int main(void)
{
	struct dmac_client *c = NULL;
	size_t len = 8;
	int rc, bad = 0;

	rc = dmac_client_connect("/nonexistent-dmacache-dir/dmacached.sock", "probe", 0, &c);
	if (rc != -ENOENT || c) {
		fprintf(stderr, "connect to a missing socket: %d, expected %d\n", rc, -ENOENT);
		bad++;
	}
	if (dmac_client_translate(NULL, &rc, &len) != DMAC_CLIENT_IOVA_ERROR || len != 0) {
		fprintf(stderr, "translate on NULL did not fail\n");
		bad++;
	}
	if (dmac_client_thread_register()) {
		fprintf(stderr, "thread register failed\n");
		bad++;
	}
	dmac_client_thread_unregister();
	printf("install probe: %s (%s)\n", bad ? "FAILED" : "ok", dmac_client_strerror(-ENOENT));
	return bad ? 1 : 0;
}
