/*
 * Calcifer: common definitions shared by every public header.
 *
 * Export macro, version numbers and the small value types (`cf_buf`) that many modules pass
 * around. Nothing here allocates or needs a loop.
 */
#ifndef CALCIFER_COMMON_H
#define CALCIFER_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CF_EXTERN __attribute__((visibility("default")))
#else
#define CF_EXTERN
#endif

#define CF_VERSION_MAJOR  0
#define CF_VERSION_MINOR  2
#define CF_VERSION_PATCH  0
#define CF_VERSION_STRING "0.2.0"

/* A borrowed or owned run of bytes; who owns `base` is said wherever one is passed. */
typedef struct cf_buf {
    char *base;
    size_t len;
} cf_buf;

/* ---- version ---- */

/*
 * The library's version as "MAJOR.MINOR.PATCH" (≈ process.versions). Static storage.
 * Thread: any.
 */
CF_EXTERN const char *cf_version(void);

/* ---- allocator ---- */

typedef void *(*cf_malloc_fn)(size_t size);
typedef void *(*cf_realloc_fn)(void *ptr, size_t size);
typedef void *(*cf_calloc_fn)(size_t count, size_t size);
typedef void (*cf_free_fn)(void *ptr);

/*
 * Replace the allocator every part of the library uses (model: uv_replace_allocator), with
 * one exception: tasks (calcifer/task.h) live in 2 MiB regions a loop maps itself (mmap), so
 * that a million of them cost no allocator header each and no page fault per 4 KiB.
 * Call it once, before any loop or other object exists; all four functions are required.
 * Returns 0, or CF_EINVAL when a function is NULL. Thread: call before starting threads.
 */
CF_EXTERN int cf_replace_allocator(cf_malloc_fn m, cf_realloc_fn r, cf_calloc_fn c, cf_free_fn f);

/*
 * Memory blocks currently allocated through the library's allocator and not yet freed, in
 * the testing flavour of the library (built with CF_TESTING), where tests use it to prove
 * that a scenario leaks nothing; -1 in the shipped library, which does not count (counting
 * costs an atomic operation per allocation). Thread: any (atomic read).
 */
CF_EXTERN long cf_live_allocations(void);

/*
 * Allocate/free through the library's allocator, for values whose ownership passes to the
 * library (a promise value with `cf_free` as destructor, say). `cf_free(NULL)` is a no-op.
 * Returns NULL on exhaustion. Thread: any.
 */
CF_EXTERN void *cf_malloc(size_t size);
CF_EXTERN void *cf_calloc(size_t count, size_t size);
CF_EXTERN void *cf_realloc(void *ptr, size_t size);
CF_EXTERN void cf_free(void *ptr);
/* Copy a NUL-terminated string with cf_malloc. Returns NULL on exhaustion or NULL input. */
CF_EXTERN char *cf_strdup(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_COMMON_H */
