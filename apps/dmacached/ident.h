/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * File identity: a number that names one live file (inode) and no other,
 * for as long as the daemon holds it. The master cache keys areas by it, so
 * a cache hit is granted only for the very file that was mapped.
 *
 * Why not (st_dev, st_ino): tmpfs (every memfd) and hugetlbfs take inode
 * numbers from a wrapping 32-bit counter, so two live files can share
 * (st_dev, st_ino); a tenant that creates files until one collides with a
 * cached area would be handed that area's pages.
 *
 * How: the daemon owns one inotify instance and adds a watch on each file it
 * is given (through /proc/self/fd/N, which resolves to the file's own inode).
 * The kernel keeps at most one watch per (instance, inode) and returns the
 * existing watch descriptor when the same inode is watched again, so two fds
 * get the same descriptor exactly when they refer to the same inode. A watch
 * descriptor is never reused while its watch exists (the kernel allocates
 * them cyclically, and the watch holds the inode), and the daemon removes a
 * watch only when nothing holds its identity any more. Identities are
 * therefore unique among the files the daemon holds.
 *
 * Invariants:
 * - ident = the watch descriptor (> 0); refs counts the holds (dmd_ident_get
 *   takes one, dmd_ident_put drops one); the watch is removed at 0.
 * - A watch could only vanish on its own when its inode is deleted; every
 *   holder also keeps the file open (a master area maps it MAP_SHARED), so
 *   that cannot happen while it is held. An IN_IGNORED event for a held watch
 *   is logged as an error (dmd_ident_drain()).
 * - The daemon needs search/read permission on the file for the watch
 *   (inode permission, root: CAP_DAC_READ_SEARCH); failures are errors, never
 *   a fall back to (st_dev, st_ino).
 * Concurrency: event-loop thread only.
 */
#ifndef DMD_IDENT_H
#define DMD_IDENT_H

#include <stdint.h>

struct dmd_ident;

/** @return 0 and *out; -errno of inotify_init1(); -ENOMEM. */
int dmd_ident_create(struct dmd_ident **out);

/** Close the instance (every watch goes with it). NULL is a no-op. Never fails. */
void dmd_ident_destroy(struct dmd_ident *id);

/** The inotify fd, to be polled for input and then drained (dmd_ident_drain()). */
int dmd_ident_fd(const struct dmd_ident *id);

/** Read and drop queued events (logs a held watch that the kernel removed). */
void dmd_ident_drain(struct dmd_ident *id);

/**
 * The identity of the file @p fd refers to, with one hold on it.
 * @return 0 and *ident (> 0); -ENOMEM (out of memory, or out of inotify
 * watches: fs.inotify.max_user_watches, logged); -EACCES (the daemon may not
 * watch the file); another -errno of inotify_add_watch(). Nothing is held on
 * error.
 */
int dmd_ident_get(struct dmd_ident *id, int fd, uint64_t *ident);

/** Take one more hold on an identity held already. Never fails. */
void dmd_ident_hold(struct dmd_ident *id, uint64_t ident);

/** Drop one hold; the last one removes the watch. Never fails. */
void dmd_ident_put(struct dmd_ident *id, uint64_t ident);

/** Identities held (distinct files). */
uint64_t dmd_ident_count(const struct dmd_ident *id);

#endif /* DMD_IDENT_H */
