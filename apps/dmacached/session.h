/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One client connection: its socket, its pidfd, the identity bound at accept
 * and its engine session; and the request dispatcher (wire protocol <->
 * engine).
 *
 * Invariants: 'sock' and 'pidfd' (or -1) are owned by the connection and
 * closed only by the server when it ends the session; uid/gid/pid come from
 * SO_PEERCRED at accept and never change; a tenant is never looked up by pid.
 * Concurrency: event-loop thread only.
 */
#ifndef DMD_SESSION_H
#define DMD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dmac/proto.h"

#include "engine.h"

struct dmd_conn;

/** Event source kinds stored in epoll data (struct dmd_ev). */
enum dmd_ev_kind {
	DMD_EV_LISTEN,
	DMD_EV_SIGNAL,
	DMD_EV_CONN,
	DMD_EV_PIDFD,
	DMD_EV_ENGINE,
	DMD_EV_TIMER,
	DMD_EV_RETRY,
	DMD_EV_NOTIFY,
};

struct dmd_ev {
	enum dmd_ev_kind kind;
	struct dmd_conn *conn;
};

struct dmd_conn {
	struct dmd_conn *prev, *next;
	int sock;
	int pidfd; /**< -1 if neither SO_PEERPIDFD nor pidfd_open() gave one */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char comm[16]; /**< process name at accept ("" unknown): logs */
	struct dmd_session *es;
	uint32_t version; /**< negotiated by HELLO (0 before) */
	struct dmd_ev ev_sock, ev_pidfd;
	/** not bound by HELLO yet: on the server's deadline list, accept order */
	struct dmd_conn *dprev, *dnext;
	int on_deadline;
	uint64_t deadline_ms; /**< CLOCK_MONOTONIC ms by which HELLO must succeed */
	/**
	 * A reply the socket could not take at once (EAGAIN): at most one per
	 * connection, because the server stops reading a connection while it
	 * holds one (epoll EPOLLOUT instead of EPOLLIN) and resumes once it is
	 * sent. Owned here, fds included, until sent or the session ends.
	 */
	void *out;
	size_t out_len;
	int out_fds[DMAC_PROTO_MAX_FDS];
	unsigned int out_nfds;
};

/**
 * Send the queued reply of @p c, if any.
 * @return 0 (sent, or nothing queued), -EAGAIN (still queued), or another
 * -errno of the send (the session must end).
 */
int dmd_conn_flush(struct dmd_conn *c);

/** Drop the queued reply (closing its fds). Never fails. */
void dmd_conn_drop_output(struct dmd_conn *c);

/**
 * Whether the daemon itself is short of fds (fewer than 2 *
 * DMAC_PROTO_MAX_FDS below its RLIMIT_NOFILE soft limit): then a
 * MSG_CTRUNC on a request is the daemon's shortage, not the client's fault.
 */
bool dmd_fds_short(void);

/**
 * Receive one message from @p c and answer it.
 * @return 0 to keep the session (also when nothing was queued, and when the
 * reply was queued because the socket was full: c->out is then set and the
 * caller must stop reading @p c until dmd_conn_flush() sent it), or a
 * negative errno when the session must end (peer gone, a session-ending
 * protocol error such as MSG_CTRUNC of the client's making or a wrong fd
 * type - answered first when possible - or a reply that could not be sent).
 * A MSG_CTRUNC while the daemon is short of fds (dmd_fds_short()) is
 * answered with EMFILE and the session goes on.
 * Every fd received is closed before return (the engine keeps no client fd).
 * Must not be called while c->out is set.
 */
int dmd_conn_handle(struct dmd_engine *e, struct dmd_conn *c);

#endif /* DMD_SESSION_H */
