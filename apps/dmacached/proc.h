/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the daemon reads about a peer process from /proc: its name (comm),
 * for the operator's view (ADMIN_SESSIONS) and logs. Never used to decide
 * anything: identity is SO_PEERCRED and the pidfd (docs/protocol.md 8).
 *
 * Concurrency: any thread; no state.
 */
#ifndef DMD_PROC_H
#define DMD_PROC_H

#include <sys/types.h>

/**
 * Read /proc/@p pid/comm into @p out (16 bytes, NUL-terminated, the trailing
 * newline dropped) and make sure it was the peer's: a pid can be reused once
 * its process has been reaped, so the name counts only if the process
 * behind @p pidfd is still there after the read (pidfd_send_signal(0): a
 * live process keeps its pid). Without a pidfd (@p pidfd < 0) nothing
 * proves it, and the name stays empty.
 * @return 0 and out; -errno (ENOENT, ESRCH: the process is gone; EINVAL:
 * pid <= 0) with out = "". Never blocks beyond a procfs read.
 */
int dmd_proc_comm(pid_t pid, int pidfd, char out[16]);

#endif /* DMD_PROC_H */
