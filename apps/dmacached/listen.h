/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's listening socket and its directory (docs/protocol.md section 8,
 * docs/operations.md "Socket and directory").
 *
 * Concurrency: call from the daemon's thread before it serves anything; the
 * umask and the working directory are process-wide and are changed for the
 * duration of a call (restored before it returns).
 */
#ifndef DMD_LISTEN_H
#define DMD_LISTEN_H

#include "config.h"

/** The daemon's listening socket and the lock beside it. */
struct dmd_listen {
	int fd;	       /**< listening, non-blocking, close-on-exec */
	int lock_fd;   /**< SOCKET.lock, flock()ed for the daemon's life */
	int inherited; /**< passed by the service manager (socket activation) */
};

/**
 * Open the listening SOCK_SEQPACKET socket at cfg->socket, or take the one
 * the service manager passed (sd_listen_fds(): exactly one listening AF_UNIX
 * SOCK_SEQPACKET socket bound at cfg->socket; anything else refuses the
 * start).
 *
 * The socket's directory and every directory above it must be owned by root
 * or by the daemon's effective uid and must not be writable by group or
 * others unless the sticky bit is set; the socket's directory itself must not
 * be writable by group or others at all, and must not be /. Symlinks on the
 * path are followed only when owned by root or the daemon's uid, and their
 * targets are checked by the same rules. The directory is created when
 * missing (socket_dir_mode, socket_group).
 *
 * One daemon per socket: before anything at the path is changed, the lock
 * file SOCKET.lock beside the socket (0600, the daemon's uid, one link) is
 * flock()ed; a daemon holding it turns this one away. Then an existing
 * directory is corrected to socket_dir_mode and socket_group through an fd.
 * A socket found at the path is probed with connect(): replaced only when
 * refused (stale: its daemon is gone), never when something listens on it;
 * any other file refuses the start. The new socket is bound with socket_mode
 * already in effect (umask) and given socket_group with fchownat() relative
 * to the directory; nothing is changed by path. An inherited socket is
 * checked instead: its file must have exactly socket_mode and socket_group.
 * Every refusal is logged with the path and the reason.
 * @return 0 with *out filled, or -EINVAL (bad path; an inherited socket of
 *  the wrong kind or path, or more than one), -EPERM (a directory or symlink
 *  on the path is not trusted, the socket would be directly in /, the lock
 *  is not a file of ours), -EADDRINUSE (another daemon holds the lock or
 *  listens on the socket), -ENOTDIR, -ENOENT (a directory above the
 *  socket's is missing), -ELOOP (more than 40 symlinks), -EEXIST (a
 *  non-socket at the path), -EIO (the socket does not have the configured
 *  mode or group), or the -errno of a failed system call (mkdirat, fchown,
 *  fchmod, socket, bind, listen, ...); nothing created by the call is left
 *  behind but corrections of an existing directory and its lock file.
 */
int dmd_listen_open(const struct dmd_config *cfg, struct dmd_listen *out);

/**
 * Close the socket, unlink it unless it was inherited (the service manager
 * keeps that one), then release the lock. Never fails.
 */
void dmd_listen_close(struct dmd_listen *l, const struct dmd_config *cfg);

#endif /* DMD_LISTEN_H */
