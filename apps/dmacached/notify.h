/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service manager's notification protocol (sd_notify(3), libsystemd):
 * READY=1 once the socket listens, STATUS= with tenants and sessions,
 * RELOADING=1 / READY=1 around a reload, STOPPING=1 at SIGTERM.
 *
 * Invariants: without $NOTIFY_SOCKET every call is a no-op and no fd is
 * held. STATUS= is sent only when its text changes and at most once per
 * DMD_NOTIFY_STATUS_MS: a change within that time is kept pending and sent
 * when the timer (dmd_notify_fd()) fires, so the last state always arrives.
 * Concurrency: the daemon's thread only.
 */
#ifndef DMD_NOTIFY_H
#define DMD_NOTIFY_H

#include <stdint.h>

#define DMD_NOTIFY_STATUS_MS 1000

struct dmd_notify {
	int enabled;	  /* $NOTIFY_SOCKET was set at start */
	int tfd;	  /* timerfd for a pending STATUS=, or -1 */
	uint64_t last_ms; /* CLOCK_MONOTONIC ms of the last STATUS= sent */
	int pending;	  /* 'want' differs from 'sent' and waits for the timer */
	char sent[128];	  /* the last STATUS= text sent */
	char want[128];	  /* the current state's text */
};

/** Start: enabled when $NOTIFY_SOCKET is set. @return 0 or -errno (timerfd). */
int dmd_notify_init(struct dmd_notify *n);
/** The timer's fd to watch for EPOLLIN (-1 when disabled). */
int dmd_notify_fd(const struct dmd_notify *n);
/** The timer fired: send the pending STATUS=. */
void dmd_notify_timer(struct dmd_notify *n);
/** READY=1 with the first STATUS= (tenants, sessions). */
void dmd_notify_ready(struct dmd_notify *n, uint64_t tenants, uint64_t sessions);
/** The state is (tenants, sessions): STATUS= when it changed (rate-limited). */
void dmd_notify_status(struct dmd_notify *n, uint64_t tenants, uint64_t sessions);
/** RELOADING=1 with MONOTONIC_USEC= (what systemd 253's Type=notify-reload wants). */
void dmd_notify_reloading(struct dmd_notify *n);
/** STOPPING=1 with a STATUS= saying what happens. */
void dmd_notify_stopping(struct dmd_notify *n, uint64_t sessions);
/** Close the timer. Never fails. */
void dmd_notify_fini(struct dmd_notify *n);

#endif /* DMD_NOTIFY_H */
