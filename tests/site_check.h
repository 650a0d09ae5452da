/*
 * Checks shared by the tests of the place an error names (cf_error's file, line and func;
 * cf_error_site): ASSERT_PLACE, and `handled` for promises that are meant to reject.
 * Include after harness.h.
 */
#ifndef CF_TESTS_SITE_CHECK_H
#define CF_TESTS_SITE_CHECK_H

#include <string.h>

#include "harness.h"

static inline void settled_ignore(cf_promise *settled, void *data)
{
    (void)settled;
    (void)data;
}

/* `p` with a handler, so that its rejection is not reported as unhandled. */
static inline cf_promise *handled(cf_promise *p)
{
    ASSERT_PTR(p);
    ASSERT_OK(cf_promise_on_settle(p, settled_ignore, NULL));
    return p;
}

/* `e` names the file `path` (compared by its last component), the function `func`, the line
 * `line`, and cf_error_site(e) says the same. */
static inline void site_check_place_(const cf_error *e, const char *path, const char *func,
                                     int line)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    ASSERT_PTR(e);
    cf_site s = cf_error_site(e);
    ASSERT_PTR(s.file);
    ASSERT(strstr(s.file, base) != NULL);
    ASSERT_PTR(s.func);
    ASSERT_STR_EQ(s.func, func);
    ASSERT_EQ(s.line, line);
    ASSERT(s.file == e->file && s.line == e->line && s.func == e->func);
}

/* The error `e` names the source file this is written in, the function `func` and `line`. */
#define ASSERT_PLACE(e, func, line) site_check_place_((e), __FILE__, (func), (line))

#endif
