/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Notifications to the service manager (notify.h), through libsystemd's
 * sd_notify(): it speaks the datagram protocol of $NOTIFY_SOCKET, so the
 * daemon does not carry its own copy of it.
 *
 * Why the rate limit: STATUS= follows sessions, which a busy host opens and
 * closes many times a second; the service manager needs the state, not
 * every step to it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static uint64_t dmd__mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void dmd__send(const char *msg)
{
	int rc = sd_notify(0, msg);

	if (rc < 0)
		dmd_warn("sd_notify(%.*s): %s", (int)strcspn(msg, "\n"), msg, strerror(-rc));
}

int dmd_notify_init(struct dmd_notify *n)
{
	const char *e = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->tfd = -1;
	if (!e || !*e)
		return 0;
	n->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n->tfd < 0)
		return -errno;
	n->enabled = 1;
	return 0;
}

int dmd_notify_fd(const struct dmd_notify *n)
{
	return n->tfd;
}

static void dmd__text(char *buf, size_t cap, uint64_t tenants, uint64_t sessions)
{
	snprintf(buf, cap, "%" PRIu64 " tenant%s, %" PRIu64 " session%s", tenants,
		 tenants == 1 ? "" : "s", sessions, sessions == 1 ? "" : "s");
}

/* Send 'want' as STATUS= now (with @p prefix lines before it). */
static void dmd__status_now(struct dmd_notify *n, const char *prefix)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, n->want);
	dmd__send(msg);
	memcpy(n->sent, n->want, sizeof(n->sent));
	n->last_ms = dmd__mono_us() / 1000;
	n->pending = 0;
}

void dmd_notify_ready(struct dmd_notify *n, uint64_t tenants, uint64_t sessions)
{
	if (!n->enabled)
		return;
	dmd__text(n->want, sizeof(n->want), tenants, sessions);
	dmd__status_now(n, "READY=1\n");
}

void dmd_notify_status(struct dmd_notify *n, uint64_t tenants, uint64_t sessions)
{
	uint64_t now, next;

	if (!n->enabled)
		return;
	dmd__text(n->want, sizeof(n->want), tenants, sessions);
	if (!strcmp(n->want, n->sent)) {
		n->pending = 0;
		return;
	}
	if (n->pending)
		return; /* the armed timer sends the latest text */
	now = dmd__mono_us() / 1000;
	next = n->last_ms + DMD_NOTIFY_STATUS_MS;
	if (now >= next) {
		dmd__status_now(n, "");
		return;
	}
	{
		struct itimerspec its = {{0, 0}, {0, 0}};

		its.it_value.tv_sec = (time_t)((next - now) / 1000);
		its.it_value.tv_nsec = (long)((next - now) % 1000) * 1000000L;
		if (timerfd_settime(n->tfd, 0, &its, NULL) == 0)
			n->pending = 1;
		else
			dmd__status_now(n, ""); /* no timer: rather early than never */
	}
}

void dmd_notify_timer(struct dmd_notify *n)
{
	uint64_t exp;

	while (read(n->tfd, &exp, sizeof(exp)) == sizeof(exp))
		;
	if (n->pending && strcmp(n->want, n->sent))
		dmd__status_now(n, "");
	n->pending = 0;
}

void dmd_notify_reloading(struct dmd_notify *n)
{
	char msg[96];

	if (!n->enabled)
		return;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading",
		 dmd__mono_us());
	dmd__send(msg);
	/* the READY=1 after the reload sends the state again */
	n->sent[0] = '\0';
}

void dmd_notify_stopping(struct dmd_notify *n, uint64_t sessions)
{
	char msg[160];

	if (!n->enabled)
		return;
	snprintf(msg, sizeof(msg),
		 "STOPPING=1\nSTATUS=stopping: ending %" PRIu64 " session%s, unmapping everything",
		 sessions, sessions == 1 ? "" : "s");
	dmd__send(msg);
}

void dmd_notify_fini(struct dmd_notify *n)
{
	if (n->tfd >= 0)
		close(n->tfd);
	n->tfd = -1;
	n->enabled = 0;
}
