/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checking macros for the protocol unit tests.
 *
 * Invariants: a failed CHECK prints file:line and the expression (the _EQ forms
 * both values), counts the failure and goes on; main() returns check_report(),
 * non-zero when any check failed. FATAL_IF aborts (for broken test setup).
 */
#ifndef DMAC_TEST_PROTO_CHECK_H
#define DMAC_TEST_PROTO_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);   \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		int64_t check_a_ = (int64_t)(a), check_b_ = (int64_t)(b);                          \
		check_count++;                                                                     \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr,                                                            \
				"%s:%d: CHECK_EQ failed: %s == %s (%" PRId64 " != %" PRId64 ")\n", \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);                   \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define FATAL_IF(expr)                                                                             \
	do {                                                                                       \
		if (expr) {                                                                        \
			fprintf(stderr, "%s:%d: FATAL: %s\n", __FILE__, __LINE__, #expr);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif /* DMAC_TEST_PROTO_CHECK_H */
