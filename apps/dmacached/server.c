/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The event loop: listening SOCK_SEQPACKET socket, signals (signalfd), client
 * sockets and their pidfds, all in one epoll set on one thread.
 *
 * Invariants:
 * - The socket path is a filesystem path (never abstract), set up by
 *   listen.c: a trusted directory (created with socket_dir_mode and
 *   socket_group when missing), the socket with socket_mode and socket_group;
 *   an existing file at the path is replaced only if it is a socket.
 * - Identity is bound at accept: SO_PEERCRED (uid, gid, pid) and a pidfd from
 *   SO_PEERPIDFD (Linux >= 6.5) or, failing that, pidfd_open(pid) right after
 *   accept. The fallback has a race: if the client exits and its pid is reused
 *   between connect() and pidfd_open(), the pidfd names another process; the
 *   session then still ends on socket hang-up, which the dead client's exit
 *   causes anyway, so the race can delay reclaim, never prevent it.
 * - A session ends on the first of: socket hang-up, its pidfd becoming
 *   readable (the process exited), a session-ending protocol error. Ending it
 *   reclaims everything it held (engine) and closes its socket and pidfd.
 * - SIGTERM/SIGINT: stop accepting (listening socket closed and unlinked),
 *   drain every session, destroy the engine, return 0. SIGHUP: reload the
 *   config file (a bad file is refused and the running config kept).
 * - dmacached-test only (DMACD_TEST_BUILD): SIGUSR1 applies the control file
 *   $DMAC_TEST_CTL (if set and present; then deleted), then writes the state
 *   dump to $DMAC_TEST_DUMP (written to a temporary and renamed, so readers
 *   never see half a dump). The shipped dmacached ignores SIGUSR1.
 * Concurrency: everything runs on the thread that called dmd_server_run().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "bk.h"
#include "dmac_alloc.h"
#include "engine.h"
#include "listen.h"
#include "log.h"
#include "server.h"
#include "session.h"
#ifdef DMACD_TEST_BUILD
#include "test_backend.h"
#include "test_hooks.h"
#endif

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

struct dmd_server {
	int epfd, lfd, sfd;
	struct dmd_config *cfg;
	const struct dmd_server_opts *opts;
	struct dmd_engine *engine;
	struct dmd_conn *conns;
	struct dmd_ev ev_listen, ev_signal, ev_engine;
	int stop;
	int conn_ended; /* a connection ended outside its own event: stop the batch */
};

static void dmd__conn_end(struct dmd_server *srv, struct dmd_conn *c, const char *why)
{
	dmd_info("session pid %d uid %u: ends (%s)", (int)c->pid, (unsigned int)c->uid, why);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	if (c->pidfd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
		close(c->pidfd);
	}
	close(c->sock);
	dmd_engine_session_close(srv->engine, c->es);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	dmac__free(c);
}

/*
 * The peer's identity: SO_PEERCRED, and its supplementary groups from
 * SO_PEERGROUPS (as of connect()). More than DMD_PEER_MAX_GROUPS groups are
 * cut to the first ones (logged): a group left out can only deny access.
 */
static void dmd__peer_groups(int fd, const struct ucred *cred, struct dmd_peer *peer)
{
	gid_t groups[NGROUPS_MAX > 1024 ? 1024 : NGROUPS_MAX];
	socklen_t gl = sizeof(groups);
	unsigned int n;

	memset(peer, 0, sizeof(*peer));
	peer->uid = cred->uid;
	peer->gid = cred->gid;
	peer->pid = cred->pid;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl)) {
		dmd_warn("pid %d: SO_PEERGROUPS: %s; supplementary groups ignored", (int)cred->pid,
			 strerror(errno));
		return;
	}
	n = (unsigned int)(gl / sizeof(gid_t));
	if (n > DMD_PEER_MAX_GROUPS) {
		dmd_warn("pid %d: %u supplementary groups, only the first %u are used",
			 (int)cred->pid, n, DMD_PEER_MAX_GROUPS);
		n = DMD_PEER_MAX_GROUPS;
	}
	memcpy(peer->groups, groups, n * sizeof(gid_t));
	peer->ngroups = n;
}

/* Engine hook: end a session the engine has revoked (reload). */
static void dmd__end_session(void *arg, void *owner, const char *why)
{
	struct dmd_server *srv = arg;

	dmd__conn_end(srv, owner, why);
	srv->conn_ended = 1;
}

static void dmd__accept(struct dmd_server *srv)
{
	struct dmd_peer peer;
	struct epoll_event ev;
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	struct dmd_conn *c;
	int fd, pidfd = -1;

	fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			dmd_warn("accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl)) {
		dmd_warn("SO_PEERCRED: %s; connection refused", strerror(errno));
		goto err_close_sock;
	}
	sl = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl)) {
		pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
		if (pidfd < 0) {
			dmd_warn("pid %d: no pidfd (%s); reclaim on socket hang-up only",
				 (int)cred.pid, strerror(errno));
			pidfd = -1;
		}
	}
	c = dmac__calloc(1, sizeof(*c));
	if (!c)
		goto err_close_pidfd;
	dmd__peer_groups(fd, &cred, &peer);
	c->sock = fd;
	c->pidfd = pidfd;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->ev_sock = (struct dmd_ev){DMD_EV_CONN, c};
	c->ev_pidfd = (struct dmd_ev){DMD_EV_PIDFD, c};
	if (dmd_engine_session_open(srv->engine, &peer, c, &c->es))
		goto err_free_conn;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = &c->ev_sock;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev))
		goto err_close_session;
	if (pidfd >= 0) {
		ev.events = EPOLLIN;
		ev.data.ptr = &c->ev_pidfd;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, pidfd, &ev))
			goto err_del_sock;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	dmd_info("session pid %d uid %u gid %u: accepted%s", (int)c->pid, (unsigned int)c->uid,
		 (unsigned int)c->gid, pidfd >= 0 ? "" : " (no pidfd)");
	return;

err_del_sock:
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, fd, NULL);
err_close_session:
	dmd_engine_session_close(srv->engine, c->es);
err_free_conn:
	dmac__free(c);
err_close_pidfd:
	if (pidfd >= 0)
		close(pidfd);
	dmd_warn("pid %d: connection refused (out of memory or epoll)", (int)cred.pid);
err_close_sock:
	close(fd);
}

static void dmd__reload(struct dmd_server *srv)
{
	struct dmd_config *ncfg = NULL;
	char *report = NULL;
	size_t n = 0;
	FILE *errs;
	int rc;

	if (!srv->opts->config_path) {
		dmd_warn("SIGHUP: no config file to reload");
		return;
	}
	errs = open_memstream(&report, &n);
	rc = dmd_config_load(srv->opts->config_path, dmd_bk_known, errs, &ncfg);
	if (errs)
		fclose(errs);
	if (rc) {
		dmd_err("SIGHUP: config %s refused, running config kept: %s",
			srv->opts->config_path, report ? report : strerror(-rc));
		free(report);
		return;
	}
	free(report);
	if (strcmp(ncfg->socket, srv->cfg->socket) || strcmp(ncfg->backend, srv->cfg->backend) ||
	    ncfg->socket_group_set != srv->cfg->socket_group_set ||
	    (ncfg->socket_group_set && ncfg->socket_group != srv->cfg->socket_group) ||
	    ncfg->socket_mode != srv->cfg->socket_mode ||
	    ncfg->socket_dir_mode != srv->cfg->socket_dir_mode)
		dmd_warn("SIGHUP: socket, socket_group, socket_mode, socket_dir_mode and backend "
			 "changes take effect at restart only; running values kept");
	/* what only a restart changes stays as running */
	strcpy(ncfg->socket, srv->cfg->socket);
	strcpy(ncfg->backend, srv->cfg->backend);
	ncfg->socket_group_set = srv->cfg->socket_group_set;
	ncfg->socket_group = srv->cfg->socket_group;
	ncfg->socket_mode = srv->cfg->socket_mode;
	ncfg->socket_dir_mode = srv->cfg->socket_dir_mode;
	rc = dmd_engine_reload(srv->engine, ncfg);
	if (rc) {
		/* nothing was applied: the engine logged the reason */
		dmd_err("SIGHUP: configuration %s refused (%s), running configuration kept",
			srv->opts->config_path, strerror(-rc));
		dmd_config_free(ncfg);
		return;
	}
	dmd_log_setup(srv->opts->foreground ? ncfg->log_target : DMD_LOG_SYSLOG, ncfg->log_level);
	dmd_config_free(srv->cfg);
	srv->cfg = ncfg;
	dmd_info("SIGHUP: configuration %s reloaded", srv->opts->config_path);
}

#ifdef DMACD_TEST_BUILD
/* Test control: apply $DMAC_TEST_CTL, then write the dump to $DMAC_TEST_DUMP. */
static void dmd__test_control(struct dmd_server *srv)
{
	const char *ctl = getenv("DMAC_TEST_CTL");
	const char *dump = getenv("DMAC_TEST_DUMP");
	char tmp[PATH_MAX], line[128];
	uint64_t alloc_arm = 0;
	int arm_alloc = 0;
	FILE *f;

	if (ctl && (f = fopen(ctl, "re"))) {
		while (fgets(line, sizeof(line), f)) {
			unsigned long long nth;
			int err;

			if (sscanf(line, "backend_fail %llu %d", &nth, &err) == 2)
				dmd_test_backend_fail(nth, err);
			else if (sscanf(line, "alloc_fail %llu", &nth) == 1) {
				alloc_arm = nth;
				arm_alloc = 1;
			} else {
				dmd_test_hooks_ctl(line);
			}
		}
		fclose(f);
		unlink(ctl);
	}
	if (dump) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", dump);
		f = fopen(tmp, "we");
		if (f) {
			dmd_engine_dump(srv->engine, f);
			fprintf(f, "alloc_outstanding %" PRId64 "\n", dmac__alloc_outstanding());
			fprintf(f, "alloc_fired %d\n", dmac__fault_alloc_fired());
			dmd_test_backend_dump(f);
			dmd_test_hooks_dump(f);
			fclose(f);
			rename(tmp, dump);
		}
	}
	/* armed last, so that the dump above does not count */
	if (arm_alloc)
		dmac__fault_alloc_arm(alloc_arm);
}
#endif

static void dmd__signal(struct dmd_server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			dmd_info("signal %u: draining and exiting", si.ssi_signo);
			srv->stop = 1;
			break;
		case SIGHUP:
			dmd__reload(srv);
			break;
		case SIGUSR1:
#ifdef DMACD_TEST_BUILD
			dmd__test_control(srv);
#else
			dmd_debug("SIGUSR1 ignored");
#endif
			break;
		default:
			break;
		}
	}
}

int dmd_server_run(struct dmd_config *cfg, const struct dmd_server_opts *opts)
{
	struct dmd_server srv = {.epfd = -1, .lfd = -1, .sfd = -1, .cfg = cfg, .opts = opts};
	struct dmd_engine_hooks hooks = {dmd__end_session, &srv};
	struct epoll_event ev, evs[64];
	sigset_t mask;
	int rc;

	if (opts->backend)
		snprintf(cfg->backend, sizeof(cfg->backend), "%s", opts->backend);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (srv.sfd < 0) {
		rc = -errno;
		goto err_free_cfg;
	}
	srv.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv.epfd < 0) {
		rc = -errno;
		goto err_close_sfd;
	}
	rc = dmd_engine_create(cfg, &hooks, &srv.engine);
	if (rc)
		goto err_close_epfd;
	rc = dmd_listen_open(cfg);
	if (rc < 0)
		goto err_destroy_engine;
	srv.lfd = rc;
	srv.ev_listen = (struct dmd_ev){DMD_EV_LISTEN, NULL};
	srv.ev_signal = (struct dmd_ev){DMD_EV_SIGNAL, NULL};
	ev.events = EPOLLIN;
	ev.data.ptr = &srv.ev_listen;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.lfd, &ev)) {
		rc = -errno;
		goto err_close_listen;
	}
	ev.data.ptr = &srv.ev_signal;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.sfd, &ev)) {
		rc = -errno;
		goto err_close_listen;
	}
	srv.ev_engine = (struct dmd_ev){DMD_EV_ENGINE, NULL};
	ev.data.ptr = &srv.ev_engine;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, dmd_engine_poll_fd(srv.engine), &ev)) {
		rc = -errno;
		goto err_close_listen;
	}
	dmd_info("listening on %s (pid %d)", cfg->socket, (int)getpid());

	while (!srv.stop) {
		int n = epoll_wait(srv.epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			dmd_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !srv.stop; i++) {
			struct dmd_ev *de = evs[i].data.ptr;
			struct dmd_conn *c = de->conn;

			switch (de->kind) {
			case DMD_EV_LISTEN:
				dmd__accept(&srv);
				break;
			case DMD_EV_SIGNAL:
				dmd__signal(&srv);
				/* a reload may have ended sessions named later in
				 * this batch: stop the batch */
				if (srv.conn_ended)
					i = n;
				srv.conn_ended = 0;
				break;
			case DMD_EV_ENGINE:
				dmd_engine_poll(srv.engine);
				break;
			case DMD_EV_PIDFD:
				dmd__conn_end(&srv, c, "process exited");
				/* later events of this batch may name c: stop the batch */
				i = n;
				break;
			case DMD_EV_CONN:
				if (evs[i].events & EPOLLIN) {
					rc = dmd_conn_handle(srv.engine, c);
					if (rc) {
						/* The fd layer reports a client's close
						 * (EOF) as ECONNRESET. */
						dmd__conn_end(&srv, c,
							      rc == -ECONNRESET
								  ? "client closed the connection"
								  : strerror(-rc));
						i = n;
					}
				} else if (evs[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
					dmd__conn_end(&srv, c, "hang-up");
					i = n;
				}
				break;
			}
		}
	}

	/* drain: stop accepting, reclaim every session, destroy everything */
	close(srv.lfd);
	unlink(srv.cfg->socket); /* srv.cfg: a SIGHUP may have replaced cfg */
	while (srv.conns)
		dmd__conn_end(&srv, srv.conns, "daemon shutting down");
	dmd_engine_destroy(srv.engine);
	close(srv.epfd);
	close(srv.sfd);
	dmd_info("stopped");
	dmd_config_free(srv.cfg);
	return 0;

err_close_listen:
	close(srv.lfd);
	unlink(cfg->socket);
err_destroy_engine:
	dmd_engine_destroy(srv.engine);
err_close_epfd:
	close(srv.epfd);
err_close_sfd:
	close(srv.sfd);
err_free_cfg:
	dmd_config_free(cfg);
	return rc;
}
