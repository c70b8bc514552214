/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The in-process test backend (dmacached-test only; never in the shipped
 * dmacached). Registered under the name "test".
 *
 * Concurrency: event-loop thread only (the daemon is single-threaded).
 */
#ifndef DMD_TEST_BACKEND_H
#define DMD_TEST_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct dmac_device;

/**
 * Register the "test" backend. Reads DMAC_TEST_BACKEND_FAIL=N:ERRNO (fail the
 * Nth counted call with -ERRNO) from the environment once.
 */
void dmd_test_backend_register(void);

/** Fail the @p n th counted call from now with -@p err; n == 0 disarms. */
void dmd_test_backend_fail(uint64_t n, int err);

/**
 * Write the state: "calls N", "failed N", one "space ID" line per live space,
 * one "map SPACE IOVA LENGTH VA PROT" line per mapping, "mapped N" (total
 * mappings), one "device BDF SPACE BUS_MASTER" line per open device (SPACE 0:
 * detached), then the call log "call OP SPACE IOVA LENGTH VA RC".
 */
void dmd_test_backend_dump(FILE *f);

/**
 * Simulated PCI command register write (the daemon's BUS_MASTER set/clear on a
 * test-backend device): recorded in the call log and the device log.
 * @return 0, or -EINVAL if @p dev is not open.
 */
int dmd_test_backend_bus_master(struct dmac_device *dev, bool on);

#endif /* DMD_TEST_BACKEND_H */
