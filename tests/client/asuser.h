/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Non-root processes for the libdmacache tests: a child that drops root for
 * good, and a fake daemon served by such a child (its uid is what the client
 * sees in SO_PEERCRED).
 *
 * Invariants: a dropped child has real, effective and saved uid and gid equal
 * to the ones asked, no supplementary group, PR_SET_NO_NEW_PRIVS, and empty
 * effective and permitted capability sets (checked; otherwise it aborts
 * before running anything). Every wait is bounded (10 s, then SIGKILL).
 * Concurrency: call from the test's main thread.
 */
#ifndef DMAC_TEST_ASUSER_H
#define DMAC_TEST_ASUSER_H

#include <sys/types.h>

/* Drop root for good in the calling process, as described above; abort() if
 * anything is left. The parent-death signal is SIGKILL afterwards. */
void as_user_drop(uid_t uid, gid_t gid);

/*
 * Fork a child that drops to @p uid (gid = the same number) and runs fn(arg);
 * its return value (0..100) is the child's exit status.
 * @return that status, or 101 for a signal, a setup failure or a time-out
 *  after @p timeout_s seconds.
 */
int as_user_run(uid_t uid, int timeout_s, int (*fn)(void *), void *arg);

/*
 * A fake dmacached (fake_server.c) run by a child that dropped to @p uid:
 * over a socketpair it creates after dropping (SO_PEERCRED of the client end
 * names @p uid), whose client end is returned in *client_sock; or, when
 * @p path is not NULL, on a listening socket the child binds at @p path
 * (its directory must let @p uid create it) and serves the first client.
 * Returns once the socket exists. The child serves one client until it hangs
 * up, then exits with the number of requests it received.
 * @return the child's pid (abort()s on a setup failure).
 */
pid_t fake_server_spawn_as(uid_t uid, const char *path, int *client_sock);

/* Wait (bounded, 10 s) for a fake_server_spawn_as() child: the requests it
 * received, or -1 (killed, timed out, setup failure). */
int fake_server_spawn_wait(pid_t pid);

#endif /* DMAC_TEST_ASUSER_H */
