/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * File identity through inotify watch descriptors (see ident.h for why and
 * the invariants). refs lives in a hash map keyed by the watch descriptor;
 * the stored value is the count itself (never 0 while present).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "dmac/hmap.h"
#include "dmac_alloc.h"
#include "ident.h"
#include "log.h"

struct dmd_ident {
	int ifd;
	struct dmac_hmap refs; /* wd -> (uintptr_t)holds */
};

int dmd_ident_create(struct dmd_ident **out)
{
	struct dmd_ident *id = dmac__calloc(1, sizeof(*id));
	int rc;

	if (!id)
		return -ENOMEM;
	id->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (id->ifd < 0) {
		rc = -errno;
		dmd_err("inotify_init1: %s (file identity needs inotify)", strerror(-rc));
		dmac__free(id);
		return rc;
	}
	*out = id;
	return 0;
}

void dmd_ident_destroy(struct dmd_ident *id)
{
	if (!id)
		return;
	if (dmac_hmap_count(&id->refs))
		dmd_warn("ident: %zu file identities still held at shutdown",
			 dmac_hmap_count(&id->refs));
	dmac_hmap_clear(&id->refs);
	close(id->ifd);
	dmac__free(id);
}

int dmd_ident_fd(const struct dmd_ident *id)
{
	return id->ifd;
}

void dmd_ident_drain(struct dmd_ident *id)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(id->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			if ((ev->mask & IN_IGNORED) && dmac_hmap_get(&id->refs, (uint64_t)ev->wd))
				dmd_err("ident: the kernel dropped the watch of held identity %d",
					ev->wd);
			if (ev->mask & IN_Q_OVERFLOW)
				dmd_debug("ident: inotify queue overflow (events are not used)");
			p += sizeof(*ev) + ev->len;
		}
	}
}

int dmd_ident_get(struct dmd_ident *id, int fd, uint64_t *ident)
{
	char path[48];
	uintptr_t refs;
	int wd, rc;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* IN_DELETE_SELF: any valid mask works; this one fires at most once per
	 * file and never while the daemon holds it open. */
	wd = inotify_add_watch(id->ifd, path, IN_DELETE_SELF);
	if (wd < 0) {
		rc = -errno;
		if (rc == -ENOSPC) {
			dmd_err("ident: out of inotify watches (fs.inotify.max_user_watches) "
				"with %zu files held",
				dmac_hmap_count(&id->refs));
			return -ENOMEM;
		}
		dmd_warn("ident: cannot watch fd %d: %s", fd, strerror(-rc));
		return rc;
	}
	refs = (uintptr_t)dmac_hmap_get(&id->refs, (uint64_t)wd);
	rc = dmac_hmap_put(&id->refs, (uint64_t)wd, (void *)(refs + 1), NULL);
	if (rc) {
		if (!refs)
			inotify_rm_watch(id->ifd, wd);
		return rc;
	}
	*ident = (uint64_t)wd;
	return 0;
}

void dmd_ident_hold(struct dmd_ident *id, uint64_t ident)
{
	uintptr_t refs = (uintptr_t)dmac_hmap_get(&id->refs, ident);

	/* the key exists: replacing its value cannot allocate, cannot fail */
	if (!refs || dmac_hmap_put(&id->refs, ident, (void *)(refs + 1), NULL))
		dmd_err("ident: hold on identity %" PRIu64 " that is not held", ident);
}

void dmd_ident_put(struct dmd_ident *id, uint64_t ident)
{
	uintptr_t refs = (uintptr_t)dmac_hmap_get(&id->refs, ident);

	if (!refs) {
		dmd_err("ident: put of identity %" PRIu64 " that is not held", ident);
		return;
	}
	if (refs > 1) {
		dmac_hmap_put(&id->refs, ident, (void *)(refs - 1), NULL);
		return;
	}
	dmac_hmap_del(&id->refs, ident);
	if (!dmac_hmap_count(&id->refs))
		dmac_hmap_clear(&id->refs); /* nothing held: no memory held either */
	if (inotify_rm_watch(id->ifd, (int)ident))
		dmd_warn("ident: inotify_rm_watch(%" PRIu64 "): %s", ident, strerror(errno));
}

uint64_t dmd_ident_count(const struct dmd_ident *id)
{
	return dmac_hmap_count(&id->refs);
}
