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

#include <sys/types.h>

#include "engine.h"

struct dmd_conn;

/** Event source kinds stored in epoll data (struct dmd_ev). */
enum dmd_ev_kind { DMD_EV_LISTEN, DMD_EV_SIGNAL, DMD_EV_CONN, DMD_EV_PIDFD, DMD_EV_ENGINE };

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
	struct dmd_session *es;
	struct dmd_ev ev_sock, ev_pidfd;
};

/**
 * Receive one message from @p c and answer it.
 * @return 0 to keep the session (also when nothing was queued), or a
 * negative errno when the session must end (peer gone, a session-ending
 * protocol error such as MSG_CTRUNC or a wrong fd type - answered first when
 * possible - or a reply that could not be sent).
 * Every fd received is closed before return (the engine dups what it keeps).
 */
int dmd_conn_handle(struct dmd_engine *e, struct dmd_conn *c);

#endif /* DMD_SESSION_H */
