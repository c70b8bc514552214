/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dmacached server: one epoll loop over the listening socket, a signalfd
 * and every connection's socket and pidfd.
 *
 * Concurrency: runs on the calling thread, which then owns the engine.
 */
#ifndef DMD_SERVER_H
#define DMD_SERVER_H

#include "config.h"

struct dmd_server_opts {
	const char *config_path; /**< reloaded on SIGHUP (NULL: no reload) */
	const char *backend;	 /**< overrides the config's backend when non-NULL */
	int foreground;		 /**< 0: detached, logs always go to syslog */
	/** called once when the socket listens (the detached parent may exit) */
	void (*ready)(void *arg);
	void *ready_arg;
};

/**
 * Create the engine and the socket, tell the service manager READY=1 (when
 * $NOTIFY_SOCKET is set) and call opts->ready, serve until SIGTERM/SIGINT,
 * then end every session at once (reclaiming what it held), destroy
 * everything.
 * @param cfg the loaded configuration; the server takes ownership (frees it).
 * @return 0 after a clean shutdown, or -errno if start-up failed (logged).
 */
int dmd_server_run(struct dmd_config *cfg, const struct dmd_server_opts *opts);

#endif /* DMD_SERVER_H */
