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

/**
 * Open the listening SOCK_SEQPACKET socket at cfg->socket.
 *
 * The socket's directory and every directory above it must be owned by root
 * or by the daemon's effective uid and must not be writable by group or
 * others unless the sticky bit is set; the socket's directory itself must not
 * be writable by group or others at all, and must not be /. Symlinks on the
 * path are followed only when owned by root or the daemon's uid, and their
 * targets are checked by the same rules. The directory is created when
 * missing (socket_dir_mode, socket_group) and an existing one is corrected to
 * them through an fd. The socket is bound with socket_mode already in effect
 * (umask) and given socket_group with fchownat() relative to the directory;
 * nothing is changed by path. A stale socket at the path is replaced, any
 * other file refuses the start. Every refusal is logged with the path and the
 * reason.
 * @return the listening fd (non-blocking, close-on-exec), or -EINVAL (bad
 *  path), -EPERM (a directory or symlink on the path is not trusted, or the
 *  socket would be directly in /), -ENOTDIR, -ENOENT (a directory above the
 *  socket's is missing), -ELOOP (more than 40 symlinks), -EEXIST (a
 *  non-socket at the path), -EIO (the socket did not get the configured mode
 *  or group), or the -errno of a failed system call (mkdirat, fchown, fchmod,
 *  socket, bind, listen, ...); nothing created by the call is left behind.
 */
int dmd_listen_open(const struct dmd_config *cfg);

#endif /* DMD_LISTEN_H */
