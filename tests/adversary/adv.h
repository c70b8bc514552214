/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the host adversary tests (the .c files of tests/adversary), on top
 * of the daemon suite's harness (tests/daemon/harness.h): tenant children
 * that talk to each other (a message and maybe an fd), reaping spawned
 * tenants, HELLO, and reading the daemon's state dump directly (root
 * parent only).
 * Invariants: every wait is bounded; a helper that cannot do its set-up
 * exits the process (test set-up, not a result).
 * Concurrency: single-threaded test programs.
 */
#ifndef DMD_ADV_H
#define DMD_ADV_H

#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define MB (1024ull * 1024)

struct adv_msg {
	uint64_t a, b;
};

/* Send {a, b} and, when fd >= 0, the fd (SCM_RIGHTS). Exits 100 on failure. */
void adv_send(int sock, uint64_t a, uint64_t b, int fd);
/* Receive (10 s at most, else exit 100); returns the fd that came, or -1. */
int adv_recv(int sock, struct adv_msg *m);
/* Wait (15 s) for a t_as_spawn() child; add its failures to t_failures. */
void adv_reap(pid_t p);
/* Connect and HELLO (checked). */
int adv_hello(const struct tdaemon *d, const char *tenant);
/* The prot of the map at @p iova in @p space from the dump, or -1. Root only. */
int adv_map_prot(struct tdaemon *d, long space, uint64_t iova);
/* The space of tenant @p tenant (NULL: the master) from the dump, or -1. Root only. */
long adv_space_of(struct tdaemon *d, const char *tenant);
/* A "tstat NAME key value" line of the dump, or -1. Root only. */
long long adv_tstat(struct tdaemon *d, const char *tenant, const char *key);

#endif /* DMD_ADV_H */
