/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Minimal checking macros for the imap unit tests.
 *
 * Invariants: a failed CHECK prints file:line, the expression and (for the _EQ forms)
 * both values, increments check_failures and goes on; FATAL forms abort the test.
 * A test's main() returns check_report() so a single failure fails the test.
 */
#ifndef DMAC_TEST_IMAP_CHECK_H
#define DMAC_TEST_IMAP_CHECK_H

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
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                       \
		check_count++;                                                                     \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr,                                                            \
				"%s:%d: CHECK_EQ failed: %s == %s (0x%" PRIx64 " != 0x%" PRIx64    \
				")\n",                                                             \
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

#endif /* DMAC_TEST_IMAP_CHECK_H */
