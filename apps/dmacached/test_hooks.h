/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-only hooks of dmacached-test (DMACD_TEST_BUILD; never compiled into the
 * shipped dmacached) for the vm tier's daemon tests on a real /dev/iommu.
 *
 * - DMAC_TEST_MOCK_DOMAINS=1 in the environment, with the iommufd backend:
 *   every space the daemon allocates (the master IOAS and every tenant IOAS)
 *   gets an IOMMUFD_TEST mock device and mock domain attached right after
 *   IOMMU_IOAS_ALLOC, so the kernel really pins and maps what the daemon maps
 *   (the guest must boot without VT-d: `vmrun --no-iommu`). The mock device
 *   is destroyed before its IOAS. Any other value, or no variable: no-op.
 * - Control line "md_check_map SPACE IOVA LENGTH PID FD OFFSET" (IOVA, LENGTH,
 *   OFFSET in hex, 0x optional; the other numbers decimal; the SIGUSR1
 *   control file): checks with IOMMU_TEST_OP_MD_CHECK_MAP that every IO page
 *   of [IOVA, IOVA + LENGTH) in SPACE's mock domain maps the page backing
 *   [OFFSET, OFFSET + LENGTH) of the file open as fd FD in process PID
 *   (reopened through /proc/PID/fd/FD and mapped MAP_SHARED here).
 * - Control line "fake_ino N" (decimal; 0 turns it off): from then on every
 *   fd a REGISTER carries reports (st_dev, st_ino) = (1, N) to the daemon, as
 *   if tmpfs's wrapping inode counter had given two live files the same
 *   number; lets the adversary suite check that a cache hit needs the same
 *   file, not the same (st_dev, st_ino).
 * - Control line "hog_fds fill" opens /dev/null until the daemon is out of
 *   fds (EMFILE), "hog_fds N" keeps N such fds, "hog_fds 0" closes them: a
 *   simulated fd shortage for the tests of accept() at EMFILE and of a
 *   request whose fds the daemon cannot receive. The dump gets "hog_fds N".
 *   The server lends a few of them back around each SIGUSR1 (control file,
 *   dump) and takes them back after.
 * - The dump gets "mock_domains N" (spaces with a mock domain), "md_checks N"
 *   (md_check_map lines run so far) and "md_last_rc RC" (0 or -errno of the
 *   last one).
 *
 * Concurrency: event-loop thread only (the daemon is single-threaded).
 */
#ifndef DMD_TEST_HOOKS_H
#define DMD_TEST_HOOKS_H

#include <stdint.h>
#include <stdio.h>

/**
 * A space was just allocated. @p iommufd is the iommufd of the backend, or -1
 * for a backend without one (then a no-op).
 * @return 0; or, with DMAC_TEST_MOCK_DOMAINS=1, the -errno of MOCK_DOMAIN
 *  (the caller then destroys the space and fails).
 */
int dmd_test_hooks_space_alloc(int iommufd, uint32_t space);

/** A space is about to be destroyed: destroy its mock device first. Never fails. */
void dmd_test_hooks_space_destroy(int iommufd, uint32_t space);

/** Apply one control line. @return 1 if the line was one of this module's, else 0. */
int dmd_test_hooks_ctl(const char *line);

/** The st_ino every REGISTER fd reports ("fake_ino"), 0 when off. */
uint64_t dmd_test_hooks_fake_ino(void);

/** Before the control file and the dump: give back a few hog_fds fds. */
void dmd_test_hooks_lend(void);

/** After them: hold those fds again, so the shortage stays as the test set it. */
void dmd_test_hooks_take_back(void);

/** Append this module's dump lines (see above). */
void dmd_test_hooks_dump(FILE *f);

#endif /* DMD_TEST_HOOKS_H */
