/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CHECK macros and a capturing log hook for the parametrized backend tests.
 *
 * Invariants: CHECK() never aborts, it counts failures; bt_finish() turns the
 * count into the exit status (0 only if nothing failed and at least one check
 * ran). The last backend log message is kept in bt_last_log.
 */
#ifndef DMAC_BT_CHECK_H
#define DMAC_BT_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dmac/backend.h"

static int bt_failures, bt_checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		bt_checks++;                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			bt_failures++;                                                             \
		}                                                                                  \
	} while (0)

#define CHECK_RET(expr, want)                                                                      \
	do {                                                                                       \
		int bt_r_ = (expr);                                                                \
		CHECK(bt_r_ == (want), "got %d (%s), want %d (%s)", bt_r_,                         \
		      bt_r_ ? strerrorname_np(-bt_r_) : "0", (want),                               \
		      (want) ? strerrorname_np(-(want)) : "0");                                    \
	} while (0)

static char bt_last_log[1024];

static void bt_log(enum dmac_log_level level, const char *msg, void *arg)
{
	(void)arg;
	snprintf(bt_last_log, sizeof(bt_last_log), "%s", msg);
	fprintf(stderr, "  [log %d] %s\n", level, msg);
}

/* Check that the last log message contains every fragment. */
#define CHECK_LOG(...)                                                                             \
	do {                                                                                       \
		const char *bt_frags_[] = {__VA_ARGS__, NULL};                                     \
		for (int bt_i_ = 0; bt_frags_[bt_i_]; bt_i_++)                                     \
			CHECK(strstr(bt_last_log, bt_frags_[bt_i_]), "log '%s' lacks '%s'",        \
			      bt_last_log, bt_frags_[bt_i_]);                                      \
	} while (0)

static inline int bt_finish(const char *name)
{
	if (!bt_checks) {
		fprintf(stderr, "%s: no check ran\n", name);
		return 1;
	}
	printf("%s: %d checks, %d failed\n", name, bt_checks, bt_failures);
	return bt_failures ? 1 : 0;
}

#endif /* DMAC_BT_CHECK_H */
