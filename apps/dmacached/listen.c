/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The listening socket and its directory.
 *
 * Why the directory matters: whoever may write in the socket's directory, or
 * in any directory above it, can rename the daemon's socket away and bind
 * their own at the same path; tenants would then hand their memfds to them.
 * So the path is trusted only if no one but root and the daemon's uid can
 * change what it names.
 *
 * Invariants:
 * - The path is resolved here, component by component from /, with openat()
 *   and fstatat(AT_SYMLINK_NOFOLLOW) on the directory fd reached so far; the
 *   kernel never resolves more than one name of it for us. Every directory
 *   reached (/, each ancestor, the socket's directory) is fstat()ed through
 *   its own fd and must be owned by root or the daemon's euid and must not be
 *   writable by group or others unless it has the sticky bit (/tmp: there
 *   only an entry's owner can rename it, and every entry we pass is owned by
 *   root or us). The socket's directory itself must not be writable by group
 *   or others at all (a sticky /tmp is not a directory of its own: we would
 *   have to change its mode) and must not be /.
 * - Symlinks are resolved, not refused (/var/run -> /run is common): a
 *   symlink is followed only if it is owned by root or the daemon's euid
 *   (its directory is already trusted, so nobody else can replace it), and
 *   its target is walked by the same rules, from / when absolute, from the
 *   symlink's directory when relative; ".." goes to the physical parent,
 *   which is checked again. At most DMD__MAX_LINKS symlinks (ELOOP).
 * - Only the last component of the resolved path is created when missing,
 *   with mkdirat() under umask(~mode) so it never exists with a wider mode,
 *   then given socket_group and the exact mode through its fd. An existing
 *   directory is corrected through its fd: first narrowed to the
 *   intersection of its old and new modes, then its group changed, then the
 *   new mode set, so no step is wider than both the old and the new state.
 * - The socket is bound relative to the directory fd (fchdir), under
 *   umask(~socket_mode), so it exists with its final mode from the start; its
 *   group is set with fchownat(AT_SYMLINK_NOFOLLOW) relative to the same fd,
 *   and the result is checked with fstatat() before listen(). Nothing is
 *   chmod()ed or chown()ed by path.
 * - One daemon per socket: SOCKET.lock beside the socket is flock()ed before
 *   the directory or the socket is touched and held for the daemon's life;
 *   a socket found at the path is probed with connect() and replaced only
 *   when the connection is refused (nothing listens: a killed daemon's). A
 *   live daemon's socket is never unlinked, whether it holds the lock (an
 *   old daemon, a service manager's socket unit) or not.
 * - Socket activation: a socket passed by the service manager is used when
 *   it is one listening AF_UNIX SOCK_SEQPACKET socket bound at cfg->socket.
 *   The daemon cannot choose how it was created, so it checks instead: the
 *   same path walk, the lock, the directory corrected, and the socket file's
 *   mode and group must be the configured ones (else it refuses to start);
 *   it never unlinks that socket.
 * - The umask and the working directory are restored before returning, on
 *   every path. On error the socket bound and the directory created by this
 *   call are removed again; corrections of an existing directory are kept
 *   (they only ever make it match the configuration).
 * Concurrency: single-threaded start-up (umask and cwd are process-wide).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "listen.h"
#include "log.h"

#define DMD__MAX_LINKS 40

/* The walk's state: the directory reached so far and where it is. */
struct dmd__walk {
	int fd;			    /* O_PATH fd of the directory reached */
	char where[PATH_MAX];	    /* its resolved path, for messages */
	struct stat root;	    /* identity of /, to refuse a socket directly in it */
	unsigned int links;	    /* symlinks followed */
	int parent;		    /* created: O_PATH fd of the new directory's parent */
	char created[NAME_MAX + 1]; /* created: the new directory's name, else "" */
};

/* Append a component to a resolved path ("/" + "a" = "/a"). */
static void dmd__where_push(char *where, const char *name)
{
	size_t n = strlen(where);

	snprintf(where + n, PATH_MAX - n, "%s%s", n > 1 ? "/" : (n == 1 ? "" : "/"), name);
}

/* Drop the last component ("/a/b" -> "/a", "/a" -> "/"). */
static void dmd__where_pop(char *where)
{
	char *s = strrchr(where, '/');

	if (!s || s == where)
		strcpy(where, "/");
	else
		*s = '\0';
}

/*
 * May a directory on the path stay trusted? Owner root or us; no write for
 * group or others unless sticky. Logs the refusal.
 */
static int dmd__check_dir(const char *where, const struct stat *st)
{
	uid_t me = geteuid();

	if (!S_ISDIR(st->st_mode)) {
		dmd_err("socket path: %s is not a directory", where);
		return -ENOTDIR;
	}
	if (st->st_uid != 0 && st->st_uid != me) {
		dmd_err("socket path: %s is owned by uid %u, not by root or the daemon's uid %u: "
			"its owner could replace the socket; refusing to start",
			where, (unsigned int)st->st_uid, (unsigned int)me);
		return -EPERM;
	}
	if ((st->st_mode & 0022) && !(st->st_mode & S_ISVTX)) {
		dmd_err("socket path: %s has mode %04o: writable by group or others without the "
			"sticky bit, they could replace the socket; refusing to start",
			where, (unsigned int)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Step into the directory fd @p next (named @p name in the walk's directory). */
static int dmd__enter(struct dmd__walk *w, int next, const char *name)
{
	struct stat st;
	int rc;

	if (fstat(next, &st)) {
		rc = -errno;
		close(next);
		return rc;
	}
	close(w->fd);
	w->fd = next;
	if (!strcmp(name, ".."))
		dmd__where_pop(w->where);
	else
		dmd__where_push(w->where, name);
	return dmd__check_dir(w->where, &st);
}

/* Create the missing last component @p name with the configured mode and group. */
static int dmd__create(struct dmd__walk *w, const struct dmd_config *cfg, const char *name)
{
	mode_t old;
	int rc;

	old = umask(~cfg->socket_dir_mode & 0777);
	rc = mkdirat(w->fd, name, cfg->socket_dir_mode);
	rc = rc ? -errno : 0;
	umask(old);
	if (rc == -EEXIST)
		return 0; /* created meanwhile: the caller looks again */
	if (rc) {
		dmd_err("socket directory: cannot create %s/%s: %s",
			strcmp(w->where, "/") ? w->where : "", name, strerror(-rc));
		return rc;
	}
	w->parent = dup(w->fd);
	if (w->parent < 0) {
		rc = -errno;
		unlinkat(w->fd, name, AT_REMOVEDIR);
		return rc;
	}
	snprintf(w->created, sizeof(w->created), "%s", name);
	return 0;
}

/*
 * Resolve @p dir (absolute) as described at the top of the file, creating its
 * last component when missing. On success w->fd is the socket directory (an
 * O_PATH fd) and w->where its resolved path.
 */
static int dmd__walk(struct dmd__walk *w, const struct dmd_config *cfg, const char *dir)
{
	char rest[PATH_MAX], link[PATH_MAX];
	int rc;

	w->fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	if (fstat(w->fd, &w->root))
		return -errno;
	strcpy(w->where, "/");
	rc = dmd__check_dir(w->where, &w->root);
	if (rc)
		return rc;
	if (strlen(dir) >= sizeof(rest))
		return -ENAMETOOLONG;
	strcpy(rest, dir);

	for (;;) {
		char name[NAME_MAX + 1], *p = rest, *end;
		struct stat st;
		size_t n;
		bool last;
		int next;

		while (*p == '/')
			p++;
		if (!*p)
			return 0;
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		memmove(rest, p, strlen(p) + 1);
		last = strspn(rest, "/") == strlen(rest);

		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			next = openat(w->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (next < 0)
				return -errno;
			rc = dmd__enter(w, next, name);
			if (rc)
				return rc;
			continue;
		}
		if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = -errno;
			if (rc == -ENOENT && last && !w->created[0]) {
				rc = dmd__create(w, cfg, name);
				if (rc)
					return rc;
				/* look at it again, through the usual checks */
				memmove(rest + n + 1, rest, strlen(rest) + 1);
				memcpy(rest, name, n);
				rest[n] = '/';
				continue;
			}
			dmd_err("socket path: %s%s%s: %s%s", w->where,
				strcmp(w->where, "/") ? "/" : "", name, strerror(-rc),
				rc == -ENOENT ? " (only the socket's own directory is created)"
					      : "");
			return rc;
		}
		if (S_ISLNK(st.st_mode)) {
			uid_t me = geteuid();
			ssize_t ln;

			if (st.st_uid != 0 && st.st_uid != me) {
				dmd_err(
				    "socket path: symlink %s%s%s is owned by uid %u, not by root "
				    "or the daemon's uid %u; refusing to follow it",
				    w->where, strcmp(w->where, "/") ? "/" : "", name,
				    (unsigned int)st.st_uid, (unsigned int)me);
				return -EPERM;
			}
			if (++w->links > DMD__MAX_LINKS) {
				dmd_err("socket path: more than %d symlinks", DMD__MAX_LINKS);
				return -ELOOP;
			}
			ln = readlinkat(w->fd, name, link, sizeof(link));
			if (ln < 0)
				return -errno;
			if ((size_t)ln >= sizeof(link) ||
			    (size_t)ln + 1 + strlen(rest) >= sizeof(rest))
				return -ENAMETOOLONG;
			/* rest = target + "/" + rest */
			memmove(rest + ln + 1, rest, strlen(rest) + 1);
			memcpy(rest, link, (size_t)ln);
			rest[ln] = '/';
			if (link[0] == '/') {
				next = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (next < 0)
					return -errno;
				close(w->fd);
				w->fd = next;
				strcpy(w->where, "/");
			}
			continue;
		}
		next = openat(w->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			rc = -errno;
			dmd_err("socket path: %s%s%s: %s", w->where,
				strcmp(w->where, "/") ? "/" : "", name, strerror(-rc));
			return rc;
		}
		rc = dmd__enter(w, next, name);
		if (rc)
			return rc;
	}
}

/*
 * Open the socket directory for changes (O_RDONLY) and check that it is one
 * of its own: not /, not writable by group or others (dmd__walk() checked
 * the owner). @return the fd or -errno (logged).
 */
static int dmd__open_dir(const struct dmd__walk *w, const struct dmd_config *cfg)
{
	struct stat st;
	int fd, rc;

	fd = openat(w->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		dmd_err("socket directory %s: cannot open: %s", w->where, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		goto err_close;
	}
	if (st.st_dev == w->root.st_dev && st.st_ino == w->root.st_ino) {
		dmd_err("socket %s: the socket may not be directly in /: it needs a directory of "
			"its own, whose mode and group the daemon sets",
			cfg->socket);
		rc = -EPERM;
		goto err_close;
	}
	/* dmd__walk() checked owner and group/other write without sticky */
	if (st.st_mode & 0022) {
		dmd_err("socket directory %s has mode %04o: a shared directory (writable by "
			"others, sticky); the socket needs a directory of its own",
			w->where, (unsigned int)(st.st_mode & 07777));
		rc = -EPERM;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return rc;
}

/*
 * Make the mode and group of the socket directory @p fd (from
 * dmd__open_dir()) the configured ones. @return 0 or -errno (logged).
 */
static int dmd__fix_dir(const struct dmd__walk *w, const struct dmd_config *cfg, int fd)
{
	mode_t want = cfg->socket_dir_mode, have;
	struct stat st;
	int rc;

	if (fstat(fd, &st))
		return -errno;
	have = st.st_mode & 07777;
	if (have == want && (!cfg->socket_group_set || st.st_gid == cfg->socket_group)) {
		if (w->created[0])
			dmd_info("created socket directory %s (mode %04o, group %u)", w->where,
				 (unsigned int)want, (unsigned int)st.st_gid);
		return 0;
	}
	/* never wider than both the old and the new state: narrow, chown, set */
	if (fchmod(fd, have & want)) {
		rc = -errno;
		goto err_log;
	}
	if (cfg->socket_group_set && st.st_gid != cfg->socket_group &&
	    fchown(fd, (uid_t)-1, cfg->socket_group)) {
		rc = -errno;
		goto err_log;
	}
	if (fchmod(fd, want)) {
		rc = -errno;
		goto err_log;
	}
	if (w->created[0])
		dmd_info("created socket directory %s (mode %04o, group %u)", w->where,
			 (unsigned int)want,
			 (unsigned int)(cfg->socket_group_set ? cfg->socket_group : st.st_gid));
	else
		dmd_info("socket directory %s: mode %04o group %u corrected to mode %04o group %u",
			 w->where, (unsigned int)have, (unsigned int)st.st_gid, (unsigned int)want,
			 (unsigned int)(cfg->socket_group_set ? cfg->socket_group : st.st_gid));
	return 0;

err_log:
	dmd_err("socket directory %s: cannot set mode %04o / group: %s", w->where,
		(unsigned int)want, strerror(-rc));
	return rc;
}

/*
 * bind() (@p do_bind) or connect() @p sock to @p name in directory @p dfd,
 * by a name relative to it (fchdir), so that the kernel resolves no path but
 * the last component. A bind happens with @p mode in effect (umask).
 */
static int dmd__sock_at(int sock, int dfd, const char *name, bool do_bind, mode_t mode)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int cwd, rc = 0;
	mode_t old;

	if (strlen(name) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, name);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return -errno;
	if (fchdir(dfd)) {
		rc = -errno;
		goto out_close_cwd;
	}
	if (do_bind) {
		old = umask(~mode & 0777);
		if (bind(sock, (const struct sockaddr *)&sa, sizeof(sa)))
			rc = -errno;
		umask(old);
	} else if (connect(sock, (const struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
	}
	if (fchdir(cwd) && !rc) {
		/* the daemon would run in the socket's directory */
		rc = -errno;
		if (do_bind)
			unlinkat(dfd, name, 0);
	}
out_close_cwd:
	close(cwd);
	return rc;
}

/* Bind @p sock to @p name in directory @p dfd with the socket's mode in effect. */
static int dmd__bind_in(int sock, int dfd, const char *name, mode_t mode)
{
	return dmd__sock_at(sock, dfd, name, true, mode);
}

/*
 * Does a daemon listen on the socket @p name in @p dfd? A non-blocking
 * connect() says: accepted or queued (0, EINPROGRESS) or a full backlog
 * (EAGAIN) is a live listener; ECONNREFUSED is a stale socket (its daemon
 * is gone). @return 1 live, 0 stale, -ENOENT gone meanwhile, or another
 * -errno (the caller refuses to touch the socket).
 */
static int dmd__probe(int dfd, const char *name)
{
	int s, rc;

	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	rc = dmd__sock_at(s, dfd, name, false, 0);
	close(s);
	if (rc == 0 || rc == -EINPROGRESS || rc == -EAGAIN)
		return 1;
	if (rc == -ECONNREFUSED)
		return 0;
	return rc;
}

/*
 * The lock beside the socket: NAME.lock in the socket's directory (@p dfd,
 * trusted: only root and the daemon's uid can write there), created 0600,
 * a regular file owned by the daemon's uid with one link, flock()ed
 * exclusively for the daemon's life and holding its pid (for the message of
 * the daemon it turns away). Never unlinked: removing a lock file lets two
 * daemons hold locks on two different files.
 * @return 0 and the lock's fd in *out, -EADDRINUSE (another daemon holds
 *  it), -EPERM (not a file of ours), or another -errno; logged.
 */
static int dmd__lock(int dfd, const char *name, const char *sock_path, int *out)
{
	char lname[NAME_MAX + 1], buf[32];
	struct stat st;
	ssize_t n;
	mode_t old;
	int fd, rc;

	if ((size_t)snprintf(lname, sizeof(lname), "%s.lock", name) >= sizeof(lname)) {
		dmd_err("socket %s: its lock file's name would be too long", sock_path);
		return -ENAMETOOLONG;
	}
	old = umask(077);
	fd = openat(dfd, lname, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : 0;
	umask(old);
	if (rc) {
		dmd_err("socket %s: cannot open its lock file %s.lock: %s", sock_path, sock_path,
			strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		dmd_err("socket %s: %s.lock is not a regular file of the daemon's uid %u with one "
			"link; refusing to start",
			sock_path, sock_path, (unsigned int)geteuid());
		rc = -EPERM;
		goto err_close;
	}
	if ((st.st_mode & 0077) && fchmod(fd, 0600)) {
		rc = -errno;
		goto err_close;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		rc = -errno;
		if (rc != -EWOULDBLOCK) {
			dmd_err("socket %s: flock %s.lock: %s", sock_path, sock_path,
				strerror(-rc));
			goto err_close;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		dmd_err("socket %s: another dmacached (pid %s) holds %s.lock and serves it; "
			"refusing to start (one daemon per socket)",
			sock_path, buf[0] ? buf : "unknown", sock_path);
		rc = -EADDRINUSE;
		goto err_close;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n)
		dmd_warn("socket %s: cannot write the pid into %s.lock: %s", sock_path, sock_path,
			 strerror(errno));
	*out = fd;
	return 0;

err_close:
	close(fd);
	return rc;
}

/*
 * The socket the service manager passed (socket activation), if any:
 * @return 0 and *fd = -1 (none), 0 and the fd (one listening AF_UNIX
 * SOCK_SEQPACKET socket bound at cfg->socket), or -errno (logged: more than
 * one fd, another kind of socket, another path).
 */
static int dmd__inherited(const struct dmd_config *cfg, int *fd)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	int n, s, fl;

	*fd = -1;
	n = sd_listen_fds(1);
	if (n < 0) {
		dmd_err("socket activation: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return 0;
	if (n > 1) {
		dmd_err("socket activation: %d sockets passed, dmacached takes exactly one "
			"(ListenSequentialPacket=%s)",
			n, cfg->socket);
		return -EINVAL;
	}
	s = SD_LISTEN_FDS_START;
	if (sd_is_socket_unix(s, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
		dmd_err("socket activation: the socket passed is not a listening AF_UNIX "
			"SOCK_SEQPACKET socket (ListenSequentialPacket=%s)",
			cfg->socket);
		return -EINVAL;
	}
	memset(&sa, 0, sizeof(sa));
	if (getsockname(s, (struct sockaddr *)&sa, &sl))
		return -errno;
	if (sl <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == '\0' ||
	    strncmp(sa.sun_path, cfg->socket, sizeof(sa.sun_path))) {
		dmd_err("socket activation: the socket passed is bound at '%.*s', the "
			"configuration says %s; refusing to start",
			(int)sizeof(sa.sun_path), sa.sun_path[0] ? sa.sun_path : "(abstract)",
			cfg->socket);
		return -EINVAL;
	}
	fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) || fcntl(s, F_SETFD, FD_CLOEXEC))
		return -errno;
	*fd = s;
	return 0;
}

/*
 * What clients meet at @p name in @p dfd: a socket with exactly the
 * configured mode and group. @return 0 and its stat in *st, or -errno.
 */
static int dmd__check_sock(const struct dmd_config *cfg, int dfd, const char *name, const char *how,
			   struct stat *st)
{
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISSOCK(st->st_mode) || (st->st_mode & 07777) != cfg->socket_mode ||
	    (cfg->socket_group_set && st->st_gid != cfg->socket_group)) {
		dmd_err("socket %s: has mode %04o group %u %s, not mode %04o%s%s", cfg->socket,
			(unsigned int)(st->st_mode & 07777), (unsigned int)st->st_gid, how,
			(unsigned int)cfg->socket_mode,
			cfg->socket_group_set ? " and its group" : "",
			S_ISSOCK(st->st_mode) ? "" : " (not a socket)");
		return -EIO;
	}
	return 0;
}

int dmd_listen_open(const struct dmd_config *cfg, struct dmd_listen *out)
{
	struct dmd__walk w = {.fd = -1, .parent = -1};
	char dir[sizeof(cfg->socket)];
	const char *name;
	struct stat st;
	int dfd = -1, lock = -1, fd = -1, rc;
	bool bound = false;

	if (cfg->socket[0] != '/' ||
	    strlen(cfg->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		dmd_err("socket path '%s' refused: must be absolute and < %zu bytes (never "
			"abstract)",
			cfg->socket, sizeof(((struct sockaddr_un *)0)->sun_path));
		return -EINVAL;
	}
	strcpy(dir, cfg->socket);
	name = strrchr(dir, '/') + 1;
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		dmd_err("socket path '%s' refused: it names no file", cfg->socket);
		return -EINVAL;
	}
	name = cfg->socket + (name - dir);
	dir[name - cfg->socket] = '\0';

	rc = dmd__inherited(cfg, &fd);
	if (rc)
		return rc;
	rc = dmd__walk(&w, cfg, dir);
	if (!rc) {
		dfd = dmd__open_dir(&w, cfg);
		rc = dfd < 0 ? dfd : 0;
	}
	if (rc) {
		/* the reason was logged where it was found; one line to sum up */
		dmd_err("socket %s: its directory cannot be used (%s); refusing to start",
			cfg->socket, strerror(-rc));
		goto err_walk;
	}
	/* one daemon per socket: the lock first, before anything is changed */
	rc = dmd__lock(dfd, name, cfg->socket, &lock);
	if (rc)
		goto err_close_dir;
	rc = dmd__fix_dir(&w, cfg, dfd);
	if (rc)
		goto err_unlock;

	if (fd >= 0) {
		/* socket activation: the service manager bound it and keeps it;
		 * the daemon checks what clients meet and never unlinks it */
		rc = dmd__check_sock(cfg, dfd, name, "as passed by the service manager", &st);
		if (rc) {
			if (rc == -EIO)
				dmd_err("socket activation: make SocketMode= and SocketGroup= of "
					"the socket unit agree with socket_mode and socket_group");
			goto err_unlock;
		}
		dmd_info("socket %s: inherited (socket activation), mode %04o group %u, in %s "
			 "(mode %04o)",
			 cfg->socket, (unsigned int)(st.st_mode & 07777), (unsigned int)st.st_gid,
			 w.where, (unsigned int)cfg->socket_dir_mode);
		goto out;
	}

	/* a stale socket (a killed daemon's: nothing listens) is replaced; a
	 * live one, or anything else, is never touched */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			dmd_err("%s exists and is not a socket; refusing to replace it",
				cfg->socket);
			rc = -EEXIST;
			goto err_unlock;
		}
		rc = dmd__probe(dfd, name);
		if (rc == 1) {
			dmd_err("socket %s: a daemon is listening on it (connect() succeeded); "
				"refusing to start (one daemon per socket)",
				cfg->socket);
			rc = -EADDRINUSE;
			goto err_unlock;
		}
		if (rc < 0 && rc != -ENOENT) {
			dmd_err("socket %s: cannot tell whether a daemon listens on it (%s); "
				"refusing to replace it",
				cfg->socket, strerror(-rc));
			goto err_unlock;
		}
		if (rc == 0) {
			dmd_info("replacing stale socket %s (connect() refused: no daemon "
				 "listens on it)",
				 cfg->socket);
			if (unlinkat(dfd, name, 0) && errno != ENOENT) {
				rc = -errno;
				dmd_err("cannot unlink stale socket %s: %s", cfg->socket,
					strerror(-rc));
				goto err_unlock;
			}
		}
	} else if (errno != ENOENT) {
		rc = -errno;
		dmd_err("socket %s: %s", cfg->socket, strerror(-rc));
		goto err_unlock;
	}

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto err_unlock;
	}
	rc = dmd__bind_in(fd, dfd, name, cfg->socket_mode);
	if (rc) {
		dmd_err("bind %s: %s", cfg->socket, strerror(-rc));
		goto err_close_sock;
	}
	bound = true;
	if (cfg->socket_group_set &&
	    fchownat(dfd, name, (uid_t)-1, cfg->socket_group, AT_SYMLINK_NOFOLLOW)) {
		rc = -errno;
		dmd_err("socket %s: cannot set group %u: %s", cfg->socket,
			(unsigned int)cfg->socket_group, strerror(-rc));
		goto err_close_sock;
	}
	/* what clients will meet: exactly the configured mode and group */
	rc = dmd__check_sock(cfg, dfd, name, "after bind", &st);
	if (rc)
		goto err_close_sock;
	if (listen(fd, 128)) {
		rc = -errno;
		goto err_close_sock;
	}
	dmd_info("socket %s: mode %04o group %u, in %s (mode %04o)", cfg->socket,
		 (unsigned int)(st.st_mode & 07777), (unsigned int)st.st_gid, w.where,
		 (unsigned int)cfg->socket_dir_mode);
out:
	close(dfd);
	if (w.parent >= 0)
		close(w.parent);
	close(w.fd);
	out->fd = fd;
	out->lock_fd = lock;
	out->inherited = !bound;
	return 0;

err_close_sock:
	if (bound)
		unlinkat(dfd, name, 0);
	close(fd); /* never the inherited one: that path does not come here */
err_unlock:
	if (w.created[0]) {
		/* a directory of this call: its lock file goes with it (removed
		 * while still held, so no other daemon holds a lock on it) */
		char lname[NAME_MAX + 1];

		snprintf(lname, sizeof(lname), "%s.lock", name);
		unlinkat(dfd, lname, 0);
	}
	close(lock);
err_close_dir:
	close(dfd);
err_walk:
	if (w.created[0]) {
		/* this call's directory goes again (empty unless someone raced us) */
		unlinkat(w.parent, w.created, AT_REMOVEDIR);
	}
	if (w.parent >= 0)
		close(w.parent);
	if (w.fd >= 0)
		close(w.fd);
	return rc;
}

void dmd_listen_close(struct dmd_listen *l, const struct dmd_config *cfg)
{
	if (l->fd >= 0) {
		close(l->fd);
		/* the socket is ours to remove only if we bound it; the lock,
		 * still held, keeps any other daemon from binding meanwhile */
		if (!l->inherited)
			unlink(cfg->socket);
	}
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	l->fd = l->lock_fd = -1;
}
