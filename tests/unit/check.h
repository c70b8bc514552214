/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checking macros shared by the unit tests of lib/iova_cache and the protocol
 * (imap, iova_alloc, cache, lease, proto). Include as "../check.h".
 *
 * Every failure prints "file:line:" (__FILE__, __LINE__ of the call site) and
 * the expression text on stderr, then, depending on the mode the test picked:
 *
 *  - counting mode (default): the failure is counted in check_failures and the
 *    test goes on; every CHECK* counts one check in check_count. main() ends
 *    with 'return check_report("name");', which prints
 *    "name: <checks> checks, <failed> failed" and returns non-zero when any
 *    check failed, so a single failure fails the test.
 *  - abort mode (#define CHECK_ABORT before the include): the first failure
 *    calls abort(), so the test dies at the faulty line and the code after a
 *    check may rely on it having held.
 *
 * Macros:
 *  CHECK(cond)          cond is true. Counting mode prints
 *                       "CHECK failed: cond", abort mode "CHECK(cond) failed".
 *  CHECK_EQ(a, b)       a == b, both converted to 64 bits; prints both values,
 *                       in hex (0x..., unsigned) by default or in signed
 *                       decimal when CHECK_EQ_SIGNED is defined before the
 *                       include (errno-style negative values read better).
 *  CHECK_RC(expr, want) the int 'expr' equals 'want'; prints
 *                       "expr = <rc>, want <want>".
 *  FATAL_IF(cond)       cond is false; else prints "FATAL: cond" and aborts in
 *                       either mode (for broken test setup, not for results).
 *
 * If CHECK_SEED is defined before the include (an expression convertible to
 * uint64_t, e.g. the seed of a randomized test), CHECK and CHECK_RC append
 * " (seed <n>)" to their message so a failing run can be reproduced.
 *
 * Invariants: expressions are evaluated exactly once; each macro is a single
 * statement (do { } while (0)); nothing here allocates.
 */
#ifndef DMAC_TEST_UNIT_CHECK_H
#define DMAC_TEST_UNIT_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures __attribute__((unused));
static int check_count __attribute__((unused));

#ifdef CHECK_ABORT
#define CHECK_FAILED_() abort()
#define CHECK_MSG_	"%s:%d: CHECK(%s) failed"
#else
#define CHECK_FAILED_() (check_failures++)
#define CHECK_MSG_	"%s:%d: CHECK failed: %s"
#endif

#ifdef CHECK_SEED
#define CHECK_SEED_FMT_ " (seed %" PRIu64 ")"
#define CHECK_SEED_ARG_ , (uint64_t)(CHECK_SEED)
#else
#define CHECK_SEED_FMT_ ""
#define CHECK_SEED_ARG_
#endif

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(expr)) {                                                                     \
			fprintf(stderr, CHECK_MSG_ CHECK_SEED_FMT_ "\n", __FILE__, __LINE__,       \
				#expr CHECK_SEED_ARG_);                                            \
			CHECK_FAILED_();                                                           \
		}                                                                                  \
	} while (0)

#define CHECK_RC(expr, want)                                                                       \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		check_count++;                                                                     \
		if (rc_ != (want)) {                                                               \
			fprintf(stderr, "%s:%d: %s = %d, want %d" CHECK_SEED_FMT_ "\n", __FILE__,  \
				__LINE__, #expr, rc_, (int)(want)CHECK_SEED_ARG_);                 \
			CHECK_FAILED_();                                                           \
		}                                                                                  \
	} while (0)

#ifdef CHECK_EQ_SIGNED
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		int64_t check_a_ = (int64_t)(a), check_b_ = (int64_t)(b);                          \
		check_count++;                                                                     \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr,                                                            \
				"%s:%d: CHECK_EQ failed: %s == %s (%" PRId64 " != %" PRId64 ")\n", \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);                   \
			CHECK_FAILED_();                                                           \
		}                                                                                  \
	} while (0)
#else
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                       \
		check_count++;                                                                     \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr,                                                            \
				"%s:%d: CHECK_EQ failed: %s == %s (0x%" PRIx64 " != 0x%" PRIx64    \
				")\n",                                                             \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);                   \
			CHECK_FAILED_();                                                           \
		}                                                                                  \
	} while (0)
#endif

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

#endif /* DMAC_TEST_UNIT_CHECK_H */
