/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backend core: registry of ops tables, the run-time selector and the log hook
 * (see include/dmac/backend.h). Shared by every backend; no ioctls here.
 *
 * Invariants: registry[0..nr_registered) are distinct, fully populated tables
 * with distinct names; entries are never removed, so a pointer read under the
 * mutex stays valid forever. The log sink triple (fn, arg, max level) is
 * swapped as one pointer to an immutable record so a reader never sees a fn
 * with another sink's arg.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/backend.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct dmac_backend_ops *registry[DMAC_BACKEND_MAX];
static unsigned int nr_registered;

static int ops_complete(const struct dmac_backend_ops *o)
{
	return o->name && o->name[0] && o->probe && o->open && o->close && o->features &&
	       o->strerror && o->space_alloc && o->space_destroy && o->iova_ranges &&
	       o->allow_iovas && o->map && o->map_file && o->copy && o->unmap && o->unmap_all &&
	       o->option_get && o->option_set && o->change_process && o->device_open &&
	       o->device_close && o->device_attach && o->device_replace && o->device_detach &&
	       o->device_hw_info && o->device_fd && o->device_space;
}

DMAC_EXPORT int dmac_backend_register(const struct dmac_backend_ops *ops)
{
	unsigned int i;
	int ret = 0;

	if (!ops || !ops_complete(ops))
		return -EINVAL;
	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < nr_registered; i++) {
		if (registry[i] == ops)
			goto out_unlock;
		if (!strcmp(registry[i]->name, ops->name)) {
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	if (nr_registered == DMAC_BACKEND_MAX) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	registry[nr_registered++] = ops;
out_unlock:
	pthread_mutex_unlock(&registry_lock);
	return ret;
}

DMAC_EXPORT const struct dmac_backend_ops *dmac_backend_find(const char *name)
{
	const struct dmac_backend_ops *found = NULL;
	unsigned int i;

	if (!name)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < nr_registered; i++) {
		if (!strcmp(registry[i]->name, name)) {
			found = registry[i];
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

/* Snapshot of the registry sorted by priority, highest first (stable). */
static unsigned int registry_sorted(const struct dmac_backend_ops **out)
{
	unsigned int n, i, j;

	pthread_mutex_lock(&registry_lock);
	n = nr_registered;
	memcpy(out, registry, n * sizeof(*out));
	pthread_mutex_unlock(&registry_lock);
	for (i = 1; i < n; i++) {
		const struct dmac_backend_ops *o = out[i];

		for (j = i; j > 0 && out[j - 1]->priority < o->priority; j--)
			out[j] = out[j - 1];
		out[j] = o;
	}
	return n;
}

static void set_reason(char *reason, size_t len, const char *msg)
{
	if (reason && len)
		snprintf(reason, len, "%s", msg);
}

static int forced(const char *name)
{
	return name && name[0] && strcmp(name, "auto") != 0;
}

DMAC_EXPORT int dmac_backend_choose(const char *force, const struct dmac_backend_ops **out,
				    char *reason, size_t reason_len)
{
	const struct dmac_backend_ops *sorted[DMAC_BACKEND_MAX];
	char why[256], all[1024];
	const char *name = NULL, *source = NULL;
	unsigned int n, i;
	size_t used = 0;
	int ret;

	if (!out)
		return -EINVAL;
	if (forced(force)) {
		name = force;
		source = "config key 'backend'";
	} else {
		const char *env = getenv("DMAC_BACKEND");

		if (forced(env)) {
			name = env;
			source = "environment DMAC_BACKEND";
		}
	}

	if (name) {
		const struct dmac_backend_ops *o = dmac_backend_find(name);

		if (!o) {
			snprintf(all, sizeof(all),
				 "backend '%s' forced by %s is unknown (known: iommufd, vfio; "
				 "registered ones only)",
				 name, source);
			dmac_backend_log(DMAC_LOG_ERR, "dmac_backend_choose: %s", all);
			set_reason(reason, reason_len, all);
			return -EINVAL;
		}
		why[0] = '\0';
		ret = o->probe(why, sizeof(why));
		if (ret) {
			snprintf(all, sizeof(all),
				 "backend '%s' forced by %s is not usable here: %s", name, source,
				 why);
			dmac_backend_log(DMAC_LOG_ERR, "dmac_backend_choose: %s", all);
			set_reason(reason, reason_len, all);
			return -ENODEV;
		}
		snprintf(all, sizeof(all), "backend '%s' forced by %s: %s", name, source, why);
		dmac_backend_log(DMAC_LOG_INFO, "dmac_backend_choose: %s", all);
		set_reason(reason, reason_len, all);
		*out = o;
		return 0;
	}

	n = registry_sorted(sorted);
	all[0] = '\0';
	for (i = 0; i < n; i++) {
		why[0] = '\0';
		ret = sorted[i]->probe(why, sizeof(why));
		if (!ret) {
			snprintf(all + used, sizeof(all) - used, "%s'%s' chosen automatically: %s",
				 used ? "; " : "", sorted[i]->name, why);
			dmac_backend_log(DMAC_LOG_INFO, "dmac_backend_choose: %s", all);
			set_reason(reason, reason_len, all);
			*out = sorted[i];
			return 0;
		}
		ret = snprintf(all + used, sizeof(all) - used, "%s'%s' not usable: %s",
			       used ? "; " : "", sorted[i]->name, why);
		if (ret > 0)
			used +=
			    (size_t)ret < sizeof(all) - used ? (size_t)ret : sizeof(all) - used - 1;
	}
	if (!n)
		snprintf(all, sizeof(all), "no backend registered");
	dmac_backend_log(DMAC_LOG_ERR,
			 "dmac_backend_choose: no usable DMA backend (%s); need /dev/iommu and "
			 "/dev/vfio/devices (iommufd) or /dev/vfio/vfio (VFIO type1)",
			 all);
	set_reason(reason, reason_len, all);
	return -ENODEV;
}

/* ---- logging ------------------------------------------------------------ */

struct log_sink {
	dmac_log_fn fn;
	void *arg;
	enum dmac_log_level max_level;
};

static void log_stderr(enum dmac_log_level level, const char *msg, void *arg)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	fprintf(stderr, "dmacache: %s: %s\n", (unsigned int)level < 4 ? names[level] : "?", msg);
}

#define NR_SINK_SLOTS 32
static const struct log_sink default_sink = {log_stderr, NULL, DMAC_LOG_INFO};
/*
 * Installed sinks are immutable records taken round-robin from a static ring;
 * a record is rewritten only NR_SINK_SLOTS installs later, long after any
 * logger that loaded it has finished (set_log is a configuration-time call).
 */
static struct log_sink sink_slots[NR_SINK_SLOTS];
static _Atomic unsigned int next_slot;
static _Atomic(const struct log_sink *) cur_sink = &default_sink;

DMAC_EXPORT void dmac_backend_set_log(dmac_log_fn fn, void *arg, enum dmac_log_level max_level)
{
	struct log_sink *s = &sink_slots[atomic_fetch_add(&next_slot, 1) % NR_SINK_SLOTS];

	s->fn = fn ? fn : log_stderr;
	s->arg = fn ? arg : NULL;
	s->max_level = max_level;
	atomic_store(&cur_sink, s);
}

DMAC_EXPORT void dmac_backend_vlog(enum dmac_log_level level, const char *fmt, va_list ap)
{
	const struct log_sink *s = atomic_load(&cur_sink);
	int saved = errno;
	char msg[512];

	if (level > s->max_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	s->fn(level, msg, s->arg);
	errno = saved;
}

DMAC_EXPORT void dmac_backend_log(enum dmac_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dmac_backend_vlog(level, fmt, ap);
	va_end(ap);
}
