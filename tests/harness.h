/*
 * Test harness (model: libuv test/task.h, neco tests/tests.h).
 *
 * A test file defines `static void test_<m>_<behaviour>(void)` cases and a main:
 *
 *     int main(int argc, char **argv)
 *     {
 *         CF_TEST_BEGIN(argc, argv);
 *         CF_TEST(test_timer_fires_in_order);
 *         return CF_TEST_END();
 *     }
 *
 * Each case prints one TAP line. argv[1], when given, is a substring that selects cases.
 * After every case the harness checks that the library's allocator has no more live blocks
 * than before it (no leaks) and removes the case's temporary folder. A failed assertion prints
 * both values with file and line, reports `not ok`, and ends the process with status 1.
 */
#ifndef CF_TESTS_HARNESS_H
#define CF_TESTS_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calcifer.h"

#ifndef CF_SHARED_DIR
#define CF_SHARED_DIR "../shared"
#endif
#ifndef CF_SOURCE_DIR
#define CF_SOURCE_DIR "."
#endif

static const char *cf_test_filter_;
static const char *cf_test_current_;
static int cf_test_count_;
static int cf_test_failed_;
static char cf_test_tmp_[256];

static inline void cf_test_fail_(void)
{
    printf("not ok %d %s\n", cf_test_count_, cf_test_current_ ? cf_test_current_ : "?");
    fflush(stdout);
    exit(1);
}

#define CF_TEST_FAILF(...)                                                                         \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        cf_test_fail_();                                                                           \
    } while (0)

#define ASSERT(expr)                                                                               \
    do {                                                                                           \
        if (!(expr))                                                                               \
            CF_TEST_FAILF("assertion failed: %s", #expr);                                          \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a);                                                               \
        intmax_t b_ = (intmax_t)(b);                                                               \
        if (a_ != b_)                                                                              \
            CF_TEST_FAILF("%s == %s: %jd != %jd", #a, #b, a_, b_);                                 \
    } while (0)

#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a);                                                               \
        intmax_t b_ = (intmax_t)(b);                                                               \
        if (a_ == b_)                                                                              \
            CF_TEST_FAILF("%s != %s: both %jd", #a, #b, a_);                                       \
    } while (0)

#define ASSERT_GE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a);                                                               \
        intmax_t b_ = (intmax_t)(b);                                                               \
        if (a_ < b_)                                                                               \
            CF_TEST_FAILF("%s >= %s: %jd < %jd", #a, #b, a_, b_);                                  \
    } while (0)

#define ASSERT_LE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a);                                                               \
        intmax_t b_ = (intmax_t)(b);                                                               \
        if (a_ > b_)                                                                               \
            CF_TEST_FAILF("%s <= %s: %jd > %jd", #a, #b, a_, b_);                                  \
    } while (0)

/* Asserts a call returned 0; on failure prints the code's name and message. */
#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        int rc_ = (int)(expr);                                                                     \
        if (rc_ != 0)                                                                              \
            CF_TEST_FAILF("%s: returned %d (%s: %s)", #expr, rc_, cf_err_name(rc_),                \
                          cf_strerror(rc_));                                                       \
    } while (0)

#define ASSERT_PTR(p)                                                                              \
    do {                                                                                           \
        if (!(p))                                                                                  \
            CF_TEST_FAILF("%s is NULL", #p);                                                       \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a);                                                                      \
        const char *b_ = (b);                                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            CF_TEST_FAILF("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                \
                          b_ ? b_ : "(null)");                                                     \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        size_t n_ = (size_t)(n);                                                                   \
        if (memcmp((a), (b), n_) != 0)                                                             \
            CF_TEST_FAILF("%s and %s differ in their first %zu bytes", #a, #b, n_);                \
    } while (0)

static int cf_test_rm_(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/*
 * A folder of the current case's own, created on first use and removed (with everything in
 * it) when the case ends.
 */
static inline const char *cf_test_tmpdir(void)
{
    if (cf_test_tmp_[0])
        return cf_test_tmp_;
    const char *base = getenv("TMPDIR");
    snprintf(cf_test_tmp_, sizeof cf_test_tmp_, "%s/cf-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(cf_test_tmp_))
        CF_TEST_FAILF("mkdtemp failed");
    return cf_test_tmp_;
}

/* Join the case's temporary folder and `name` into `out` (static per call site is fine). */
static inline const char *cf_test_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", cf_test_tmpdir(), name);
    return out;
}

/*
 * Run `fn` with stderr going to a file of the case's folder; the text it wrote is in `out`
 * (at most `len` - 1 bytes, NUL-terminated).
 */
static inline void cf_test_capture_stderr(void (*fn)(void), char *out, size_t len)
{
    char path[512];
    cf_test_path(path, sizeof(path), "stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || saved < 0)
        CF_TEST_FAILF("cannot redirect stderr to %s", path);
    dup2(fd, 2);
    close(fd);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    if (!f)
        CF_TEST_FAILF("cannot read %s", path);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    fclose(f);
}

static inline void cf_test_cleanup_(void)
{
    if (cf_test_tmp_[0]) {
        nftw(cf_test_tmp_, cf_test_rm_, 16, FTW_DEPTH | FTW_PHYS);
        cf_test_tmp_[0] = '\0';
    }
}

static inline void cf_test_run_(const char *name, void (*fn)(void))
{
    if (cf_test_filter_ && !strstr(name, cf_test_filter_))
        return;
    cf_test_count_++;
    cf_test_current_ = name;
    long before = cf_live_allocations();
    fn();
    long after = cf_live_allocations();
    cf_test_cleanup_();
    if (after != before) {
        fprintf(stderr, "%s: %ld allocation(s) leaked\n", name, after - before);
        cf_test_fail_();
    }
    printf("ok %d %s\n", cf_test_count_, name);
    fflush(stdout);
}

#define CF_TEST_BEGIN(argc, argv)                                                                  \
    do {                                                                                           \
        setvbuf(stdout, NULL, _IOLBF, 0);                                                          \
        cf_test_filter_ = (argc) > 1 ? (argv)[1] : NULL;                                           \
    } while (0)

#define CF_TEST(fn) cf_test_run_(#fn, fn)

#define CF_TEST_END() (printf("1..%d\n", cf_test_count_), cf_test_failed_ ? 1 : 0)

#endif
