/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interface between a fuzz target and replay_main.c, the plain driver that runs
 * a target's seed corpus in the unit suite without libFuzzer.
 *
 * Invariants: a target built with -DDMAC_FUZZ_REPLAY defines
 * LLVMFuzzerTestOneInput() and fuzz_write_seeds(); the driver calls them from
 * one thread.
 */
#ifndef DMAC_FUZZ_REPLAY_H
#define DMAC_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the target's seed corpus into dir (which exists). Returns 0 or -1. */
int fuzz_write_seeds(const char *dir);

#endif /* DMAC_FUZZ_REPLAY_H */
