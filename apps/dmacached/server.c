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
 * - SIGTERM/SIGINT: stop accepting (listening socket closed and unlinked
 *   unless inherited), end every session at once (no waiting for clients:
 *   each is reclaimed as if its process had died), destroy the engine,
 *   release the socket's lock, return 0.
 * - The service manager (notify.h) hears READY=1 once the socket listens,
 *   STATUS= on changes of tenants and sessions, RELOADING=1 / READY=1
 *   around SIGHUP and STOPPING=1 at SIGTERM. SIGHUP: reload the
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
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "bk.h"
#include "dmac/hmap.h"
#include "dmac_alloc.h"
#include "engine.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
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
	int epfd, lfd, sfd, tfd, rfd; /* rfd: retry timer for failed unmaps */
	int retry_armed;
	struct dmd_config *cfg;
	const struct dmd_server_opts *opts;
	struct dmd_engine *engine;
	struct dmd_conn *conns;
	struct dmd_ev ev_listen, ev_signal, ev_engine, ev_timer, ev_retry, ev_notify;
	struct dmd_listen lis; /* lfd is lis.fd; its lock is held while running */
	struct dmd_notify nt;  /* the service manager's view (sd_notify) */
	int stop;
	int conn_ended; /* a connection ended outside its own event: stop the batch */
	/* connection caps: all connections, and per peer uid (uid -> count) */
	uint64_t nconns;
	uint64_t naccepts; /* connections taken off the queue, ever (tests read it) */
	struct dmac_hmap per_uid;
	/* connections not bound by HELLO yet, accept order = deadline order */
	struct dmd_conn *dhead, *dtail;
	/* accept() at EMFILE/ENFILE: the reserve fd is given up to accept and
	 * close one connection; without it the listening fd is not watched
	 * until a connection ends (listen_paused) */
	int reserve_fd;
	int listen_paused;
	/* rate-limited warnings: refusals since the last line, and its time */
	uint64_t refused, refused_logged_ms;
};

static uint64_t dmd__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A refused connection: counted, logged at most once a second. */
static void dmd__refuse_log(struct dmd_server *srv, const char *why)
{
	uint64_t now = dmd__now_ms();

	srv->refused++;
	if (now - srv->refused_logged_ms < 1000 && srv->refused_logged_ms)
		return;
	dmd_warn("connection refused: %s (%" PRIu64 " refused since the last such line)", why,
		 srv->refused);
	srv->refused = 0;
	srv->refused_logged_ms = now;
}

/* Arm the timer for the oldest connection still waiting for HELLO. */
static void dmd__deadline_arm(struct dmd_server *srv)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	uint64_t now, left;

	if (srv->dhead) {
		now = dmd__now_ms();
		left = srv->dhead->deadline_ms > now ? srv->dhead->deadline_ms - now : 1;
		its.it_value.tv_sec = (time_t)(left / 1000);
		its.it_value.tv_nsec = (long)(left % 1000) * 1000000L;
	}
	timerfd_settime(srv->tfd, 0, &its, NULL);
}

static void dmd__deadline_del(struct dmd_server *srv, struct dmd_conn *c)
{
	if (!c->on_deadline)
		return;
	if (c->dprev)
		c->dprev->dnext = c->dnext;
	else
		srv->dhead = c->dnext;
	if (c->dnext)
		c->dnext->dprev = c->dprev;
	else
		srv->dtail = c->dprev;
	c->on_deadline = 0;
	c->dprev = c->dnext = NULL;
}

/* Watch the listening fd again (a connection ended: an fd is free). */
static void dmd__listen_resume(struct dmd_server *srv)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv->ev_listen};

	if (srv->reserve_fd < 0)
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!srv->listen_paused || srv->reserve_fd < 0)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &ev) == 0) {
		srv->listen_paused = 0;
		dmd_info("accepting connections again");
	}
}

static void dmd__conn_end(struct dmd_server *srv, struct dmd_conn *c, const char *why)
{
	uintptr_t n;

	{
		const char *tenant = dmd_engine_session_tenant(c->es);

		dmd_info("session %" PRIu64 ": pid %d (%s) uid %u%s%s: ends (%s)",
			 dmd_engine_session_id(c->es), (int)c->pid, c->comm[0] ? c->comm : "?",
			 (unsigned int)c->uid, tenant[0] ? " tenant " : " (no HELLO)", tenant, why);
	}
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	if (c->pidfd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
		close(c->pidfd);
	}
	dmd_conn_drop_output(c);
	close(c->sock);
	dmd_engine_session_close(srv->engine, c->es);
	dmd__deadline_del(srv, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	n = (uintptr_t)dmac_hmap_get(&srv->per_uid, c->uid);
	if (n > 1)
		dmac_hmap_put(&srv->per_uid, c->uid, (void *)(n - 1), NULL);
	else
		dmac_hmap_del(&srv->per_uid, c->uid);
	dmac__free(c);
	dmd__listen_resume(srv);
}

/* Connections that did not say HELLO in time end; the timer is re-armed. */
static void dmd__deadlines(struct dmd_server *srv)
{
	uint64_t now = dmd__now_ms(), exp;

	while (read(srv->tfd, &exp, sizeof(exp)) == sizeof(exp))
		;
	while (srv->dhead && srv->dhead->deadline_ms <= now) {
		dmd__conn_end(srv, srv->dhead, "no HELLO within hello_timeout_ms");
		srv->conn_ended = 1;
	}
	dmd__deadline_arm(srv);
}

/* While unmaps wait for a retry, try them once a second; stop when none is left. */
static void dmd__retry_arm(struct dmd_server *srv)
{
	int want = dmd_engine_unmap_failures(srv->engine) != 0;
	struct itimerspec its = {{want, 0}, {want, 0}};

	if (want == srv->retry_armed)
		return;
	if (timerfd_settime(srv->rfd, 0, &its, NULL) == 0)
		srv->retry_armed = want;
}

/* Stop or resume reading @p c: while it holds a queued reply the server
 * waits for EPOLLOUT instead (one reply queued per connection at most). */
static int dmd__conn_watch(struct dmd_server *srv, struct dmd_conn *c)
{
	struct epoll_event ev = {.events = (c->out ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP,
				 .data.ptr = &c->ev_sock};

	return epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->sock, &ev) ? -errno : 0;
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
		struct epoll_event none = {.events = 0, .data.ptr = &srv->ev_listen};

		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;
		if (errno != EMFILE && errno != ENFILE) {
			dmd_warn("accept: %s", strerror(errno));
			return;
		}
		/* Out of fds: take the pending connection off the queue with the
		 * reserve fd and close it, so the level-triggered listening fd
		 * does not wake the loop forever. Without a reserve, stop
		 * watching it until a connection ends. */
		if (srv->reserve_fd >= 0) {
			close(srv->reserve_fd);
			srv->reserve_fd = -1;
			fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				close(fd);
			srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
		if (srv->reserve_fd < 0 && !srv->listen_paused &&
		    !epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &none)) {
			srv->listen_paused = 1;
			dmd_warn("out of file descriptors: not accepting until a connection ends");
		}
		dmd__refuse_log(srv, "the daemon is out of file descriptors (RLIMIT_NOFILE)");
		return;
	}
	srv->naccepts++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl)) {
		dmd_warn("SO_PEERCRED: %s; connection refused", strerror(errno));
		goto err_close_sock;
	}
	if (srv->nconns >= srv->cfg->max_sessions) {
		dmd__refuse_log(srv, "max_sessions reached");
		goto err_close_sock;
	}
	if ((uintptr_t)dmac_hmap_get(&srv->per_uid, cred.uid) >= srv->cfg->max_sessions_per_uid) {
		char why[96];

		snprintf(why, sizeof(why), "uid %u reached max_sessions_per_uid",
			 (unsigned int)cred.uid);
		dmd__refuse_log(srv, why);
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
	/* display only (ADMIN_SESSIONS): empty unless the pidfd proves it */
	dmd_proc_comm(cred.pid, pidfd, peer.comm);
	peer.pidfd = pidfd >= 0;
	memcpy(c->comm, peer.comm, sizeof(c->comm));
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
	{
		uintptr_t n = (uintptr_t)dmac_hmap_get(&srv->per_uid, cred.uid);

		if (dmac_hmap_put(&srv->per_uid, cred.uid, (void *)(n + 1), NULL))
			goto err_del_pidfd;
	}
	srv->nconns++;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	/* HELLO must come within hello_timeout_ms */
	c->deadline_ms = dmd__now_ms() + srv->cfg->hello_timeout_ms;
	c->on_deadline = 1;
	c->dprev = srv->dtail;
	if (srv->dtail)
		srv->dtail->dnext = c;
	else
		srv->dhead = c;
	srv->dtail = c;
	if (srv->dhead == c)
		dmd__deadline_arm(srv);
	dmd_info("session %" PRIu64 ": pid %d (%s) uid %u gid %u: accepted%s",
		 dmd_engine_session_id(c->es), (int)c->pid, c->comm[0] ? c->comm : "?",
		 (unsigned int)c->uid, (unsigned int)c->gid, pidfd >= 0 ? "" : " (no pidfd)");
	return;

err_del_pidfd:
	if (pidfd >= 0)
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, pidfd, NULL);
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

/*
 * RLIMIT_NOFILE: the soft limit is raised to what max_sessions needs (a
 * socket and a pidfd per connection, the fds of one request and of one
 * DEVICE reply in flight, a queued DEVICE reply's fds per connection at
 * worst, and a margin for the daemon's own), up to the hard limit; if the
 * hard limit is lower, max_sessions is lowered to fit (logged).
 */
static void dmd__fd_limit(struct dmd_config *cfg)
{
	const uint64_t fixed = 64 + 2 * DMAC_PROTO_MAX_FDS, per = 2;
	struct rlimit rl;
	uint64_t want = fixed + per * cfg->max_sessions;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < want) {
		struct rlimit nl = rl;

		nl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
			rl = nl;
	}
	if (rl.rlim_cur < want) {
		uint64_t fit = rl.rlim_cur > fixed + per ? (rl.rlim_cur - fixed) / per : 1;

		dmd_warn("RLIMIT_NOFILE %llu (hard %llu) is below what max_sessions %" PRIu64
			 " needs (%" PRIu64 "): max_sessions lowered to %" PRIu64,
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			 cfg->max_sessions, want, fit);
		cfg->max_sessions = fit;
	}
	dmd_info("file descriptors: limit %llu, max_sessions %" PRIu64
		 ", max_sessions_per_uid %" PRIu64 ", hello_timeout_ms %" PRIu64,
		 (unsigned long long)rl.rlim_cur, cfg->max_sessions, cfg->max_sessions_per_uid,
		 cfg->hello_timeout_ms);
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
	if (dmd_config_warning(ncfg))
		dmd_warn("SIGHUP: config %s: %s", srv->opts->config_path, dmd_config_warning(ncfg));
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
	dmd__fd_limit(ncfg);
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

	dmd_test_hooks_lend();
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
			fprintf(f, "connections %" PRIu64 "\naccepts %" PRIu64 "\n", srv->nconns,
				srv->naccepts);
			fprintf(f, "alloc_outstanding %" PRId64 "\n", dmac__alloc_outstanding());
			fprintf(f, "alloc_fired %d\n", dmac__fault_alloc_fired());
			dmd_test_backend_dump(f);
			dmd_test_hooks_dump(f);
			fclose(f);
		}
	}
	/* the fds lent for the dump are taken back before the dump appears:
	 * a test that sees it may rely on the shortage it asked for */
	dmd_test_hooks_take_back();
	if (dump)
		rename(tmp, dump);
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
		case SIGINT: {
			/* what really happens: no waiting for clients; their
			 * sessions end at once as if they had died */
			dmd_info("signal %u: stopping now: closing the socket, ending %" PRIu64
				 " connection(s) (their leases and registrations are reclaimed "
				 "at once, clients are not waited for), unmapping every area, "
				 "exit 0",
				 si.ssi_signo, srv->nconns);
			dmd_notify_stopping(&srv->nt, srv->nconns);
			srv->stop = 1;
			break;
		}
		case SIGHUP: {
			struct dmd_engine_stats st;

			dmd_notify_reloading(&srv->nt);
			dmd__reload(srv);
			dmd_engine_stats(srv->engine, &st);
			dmd_notify_ready(&srv->nt, st.tenants, st.sessions);
			break;
		}
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
	struct dmd_server srv = {.epfd = -1,
				 .lfd = -1,
				 .lis = {.fd = -1, .lock_fd = -1},
				 .sfd = -1,
				 .tfd = -1,
				 .rfd = -1,
				 .reserve_fd = -1,
				 .cfg = cfg,
				 .opts = opts};
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
	srv.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	srv.rfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (srv.tfd < 0 || srv.rfd < 0) {
		rc = -errno;
		goto err_close_timers;
	}
	rc = dmd_notify_init(&srv.nt);
	if (rc)
		goto err_close_timers;
	srv.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	dmd__fd_limit(cfg);
	rc = dmd_engine_create(cfg, &hooks, &srv.engine);
	if (rc)
		goto err_close_notify;
	rc = dmd_listen_open(cfg, &srv.lis);
	if (rc < 0)
		goto err_destroy_engine;
	srv.lfd = srv.lis.fd;
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
	srv.ev_timer = (struct dmd_ev){DMD_EV_TIMER, NULL};
	ev.data.ptr = &srv.ev_timer;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.tfd, &ev)) {
		rc = -errno;
		goto err_close_listen;
	}
	srv.ev_retry = (struct dmd_ev){DMD_EV_RETRY, NULL};
	ev.data.ptr = &srv.ev_retry;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.rfd, &ev)) {
		rc = -errno;
		goto err_close_listen;
	}
	if (srv.nt.enabled) {
		srv.ev_notify = (struct dmd_ev){DMD_EV_NOTIFY, NULL};
		ev.data.ptr = &srv.ev_notify;
		if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, dmd_notify_fd(&srv.nt), &ev)) {
			rc = -errno;
			goto err_close_listen;
		}
	}
	dmd_info("listening on %s (pid %d)", cfg->socket, (int)getpid());
	/* ready: the socket listens and every fd is watched */
	{
		struct dmd_engine_stats st;

		dmd_engine_stats(srv.engine, &st);
		dmd_notify_ready(&srv.nt, st.tenants, st.sessions);
	}
	if (opts->ready)
		opts->ready(opts->ready_arg);

	while (!srv.stop) {
		int n;

		dmd__retry_arm(&srv);
		if (srv.nt.enabled) {
			struct dmd_engine_stats st;

			dmd_engine_stats(srv.engine, &st);
			dmd_notify_status(&srv.nt, st.tenants, st.sessions);
		}
		n = epoll_wait(srv.epfd, evs, 64, -1);

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
			case DMD_EV_NOTIFY:
				dmd_notify_timer(&srv.nt);
				break;
			case DMD_EV_TIMER:
				dmd__deadlines(&srv);
				if (srv.conn_ended)
					i = n;
				srv.conn_ended = 0;
				break;
			case DMD_EV_RETRY: {
				uint64_t exp;

				while (read(srv.rfd, &exp, sizeof(exp)) == sizeof(exp))
					;
				dmd_engine_retry(srv.engine);
				break;
			}
			case DMD_EV_PIDFD:
				dmd__conn_end(&srv, c, "process exited");
				/* later events of this batch may name c: stop the batch */
				i = n;
				break;
			case DMD_EV_CONN:
				if (evs[i].events & EPOLLOUT) {
					/* a queued reply: send it, then read again */
					rc = dmd_conn_flush(c);
					if (rc == 0)
						rc = dmd__conn_watch(&srv, c);
					if (rc && rc != -EAGAIN) {
						dmd__conn_end(&srv, c, strerror(-rc));
						i = n;
					}
				} else if (evs[i].events & EPOLLIN) {
					rc = dmd_conn_handle(srv.engine, c);
					if (!rc && c->out)
						rc = dmd__conn_watch(&srv, c);
					if (!rc && c->on_deadline &&
					    dmd_engine_session_bound(c->es)) {
						dmd__deadline_del(&srv, c);
						dmd__deadline_arm(&srv);
					}
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

	/* stop accepting (the socket goes, the lock stays held until the
	 * end), reclaim every session, destroy everything */
	close(srv.lfd);
	srv.lis.fd = -1;
	if (!srv.lis.inherited)
		unlink(srv.cfg->socket); /* srv.cfg: a SIGHUP may have replaced cfg */
	while (srv.conns)
		dmd__conn_end(&srv, srv.conns, "daemon shutting down");
	dmd_engine_destroy(srv.engine);
	dmac_hmap_clear(&srv.per_uid);
	if (srv.reserve_fd >= 0)
		close(srv.reserve_fd);
	close(srv.rfd);
	close(srv.tfd);
	close(srv.epfd);
	close(srv.sfd);
	dmd_notify_fini(&srv.nt);
	dmd_info("stopped");
	dmd_listen_close(&srv.lis, srv.cfg); /* the lock, last */
	dmd_config_free(srv.cfg);
	return 0;

err_close_listen:
	dmd_listen_close(&srv.lis, cfg);
err_destroy_engine:
	dmd_engine_destroy(srv.engine);
err_close_notify:
	if (srv.reserve_fd >= 0)
		close(srv.reserve_fd);
	dmd_notify_fini(&srv.nt);
err_close_timers:
	if (srv.rfd >= 0)
		close(srv.rfd);
	if (srv.tfd >= 0)
		close(srv.tfd);
	close(srv.epfd);
err_close_sfd:
	close(srv.sfd);
err_free_cfg:
	dmd_config_free(cfg);
	return rc;
}
