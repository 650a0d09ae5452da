/*
 * Small internal helpers every layer may use: assertions for internal invariants,
 * container_of, array length, likely/unlikely.
 */
#ifndef CF_UTIL_UTIL_H
#define CF_UTIL_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * CF_ASSERT checks an internal invariant in debug and test builds; it never checks input
 * (input errors are returned as codes). Compiled out in release builds (NDEBUG).
 */
#if defined(NDEBUG) && !defined(CF_TESTING)
#define CF_ASSERT(expr) ((void)0)
#else
#define CF_ASSERT(expr)                                                                            \
    ((expr) ? (void)0                                                                              \
            : (fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__, __LINE__, __func__,  \
                       #expr),                                                                     \
               abort()))
#endif

#define CF_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define CF_ARRAY_LEN(a)                    (sizeof(a) / sizeof((a)[0]))
#define CF_MIN(a, b)                       ((a) < (b) ? (a) : (b))
#define CF_MAX(a, b)                       ((a) > (b) ? (a) : (b))
#define CF_LIKELY(x)                       __builtin_expect(!!(x), 1)
#define CF_UNLIKELY(x)                     __builtin_expect(!!(x), 0)
#define CF_UNUSED(x)                       ((void)(x))

#endif
