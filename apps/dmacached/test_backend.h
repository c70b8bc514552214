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

/** Simulated VFIO_DEVICE_GET_IRQ_INFO count for VFIO irq @p index (MSI-X: 4). */
uint32_t dmd_test_backend_irq_count(struct dmac_device *dev, unsigned int index);

/** Simulated VFIO_DEVICE_SET_IRQS of @p n eventfds (0: disable); logged. @return 0. */
int dmd_test_backend_set_irqs(struct dmac_device *dev, unsigned int index, uint32_t n);

/** Simulated VFIO_DEVICE_RESET; logged ("reset BDF"). @return 0. */
int dmd_test_backend_reset(struct dmac_device *dev);

#endif /* DMD_TEST_BACKEND_H */
