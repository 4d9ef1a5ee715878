/* A small test harness of our own: TEST() functions, CHECK/REQUIRE macros,
 * and a closing line "N passed, N failed" (exit 1 if any failed).
 *
 *   #include "test.h"
 *   TEST(parses_empty_object) { CHECK(x == 1); CHECK_EQ_STR(a, "b"); }
 *   int main(void) { RUN(parses_empty_object); return test_summary(); }
 */
#ifndef C360_TESTS_TEST_H
#define C360_TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;
static const char *test_cur_name;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                 \
	do {                                                                      \
		test_cur_name = #name;                                            \
		test_cur_failed = 0;                                              \
		test_##name();                                                    \
		if (test_cur_failed) {                                            \
			test_failed++;                                            \
			printf("FAIL %s\n", #name);                               \
		} else {                                                          \
			test_passed++;                                            \
			printf("ok   %s\n", #name);                               \
		}                                                                 \
		fflush(stdout);                                                   \
	} while (0)

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			printf("  %s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, \
			       test_cur_name, #cond);                              \
			test_cur_failed = 1;                                      \
		}                                                                 \
	} while (0)

/* Like CHECK but returns from the test function on failure. */
#define REQUIRE(cond)                                                             \
	do {                                                                      \
		if (!(cond)) {                                                    \
			printf("  %s:%d: %s: REQUIRE(%s) failed\n", __FILE__, __LINE__, \
			       test_cur_name, #cond);                              \
			test_cur_failed = 1;                                      \
			return;                                                   \
		}                                                                 \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                        \
	do {                                                                      \
		long long _a = (long long)(a), _b = (long long)(b);              \
		if (_a != _b) {                                                   \
			printf("  %s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, \
			       __LINE__, test_cur_name, #a, _a, #b, _b);            \
			test_cur_failed = 1;                                      \
		}                                                                 \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                        \
	do {                                                                      \
		const char *_a = (a), *_b = (b);                                  \
		if (!_a || !_b || strcmp(_a, _b)) {                               \
			printf("  %s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__, \
			       __LINE__, test_cur_name, #a, _a ? _a : "(null)",     \
			       _b ? _b : "(null)");                                 \
			test_cur_failed = 1;                                      \
		}                                                                 \
	} while (0)

static inline int test_summary(void)
{
	printf("%d passed, %d failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
