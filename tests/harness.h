/* The test harness: each test file defines `test_cases`, a table ending in {NULL, NULL}.
 * `test_x CASE` runs one case in this process (ctest does that, one process per case);
 * `test_x` alone runs every case, each in a child process, and prints "N passed, N failed". */
#ifndef EDDY_TEST_HARNESS_H
#define EDDY_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case_t;

/** Defined by each test file; the last entry is {NULL, NULL}. */
extern const test_case_t test_cases[];

/** Fails the case (abort, so sanitizers and ctest both see it) with where and what. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/** Integer equality, printing both sides on failure. */
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", __FILE__,         \
                    __LINE__, #a, #b, check_a_, check_b_);                                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Sanitizer builds: ASan's quarantine keeps freed memory resident and TSan maps shadow memory,
 * so RSS bounds only hold in plain builds; TSan also runs code 5-15x slower, so cases that move
 * gigabytes move less under it (the races they look for do not depend on the size). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_RSS_BOUNDS 0
#else
#define TEST_RSS_BOUNDS 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_SIZE_SHIFT 3
#else
#define TEST_SIZE_SHIFT 0
#endif

/** Exit status of a skipped case; ctest reports it as skipped (SKIP_RETURN_CODE), not passed. */
#define TEST_SKIP_STATUS 77

/** Ends the case as skipped, printing why: for what the machine cannot do, never for a failure. */
__attribute__((noreturn, format(printf, 1, 2))) void test_skip(const char *fmt, ...);

struct eddy_loop_s;
/** Closes every handle left on the loop, runs it until the closes are done, and asserts that
 * eddy_loop_close returns 0: how a test that made a loop ends. */
void test_finish_loop(struct eddy_loop_s *loop);

/** Opens descriptors in this process, for leak checks (counts /proc/self/fd entries). */
int test_open_fds(void);

/** Picks a free loopback TCP port (bind to port 0, read it back, close). */
int test_free_port(void);

#endif
