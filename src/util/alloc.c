/*
 * The library's allocator: a thin layer over malloc (or the user's replacement) that keeps
 * an atomic count of live blocks. Tests assert that the count returns to its starting value
 * at the end of every case (no leaks), and CF_TESTING builds can fail the Nth allocation to
 * exercise every out-of-memory path (model: SQLite's OOM loops, neco's fail counters).
 *
 * Invariant: `live` is the number of non-NULL pointers returned by cf__malloc/calloc/
 * realloc/strdup and not yet passed to cf__free (realloc of a live block keeps it live).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "util/alloc.h"

static cf_malloc_fn user_malloc = malloc;
static cf_realloc_fn user_realloc = realloc;
static cf_calloc_fn user_calloc = calloc;
static cf_free_fn user_free = free;

/*
 * Counting costs an atomic add per allocation, which shows in the hot paths of a release
 * build (the pool's workers and the loop thread contend for the cache line), so only the
 * testing flavour counts.
 */
#ifdef CF_TESTING
static atomic_long live;
#define COUNT(delta) atomic_fetch_add_explicit(&live, (delta), memory_order_relaxed)
#else
#define COUNT(delta) ((void)0)
#endif

#ifdef CF_TESTING
static atomic_long counted;
static atomic_long fail_at;
static atomic_int fail_sticky;

/* True when this allocation must fail, as set by cf__alloc_fail_after. */
static int should_fail(void)
{
    long n = atomic_fetch_add(&counted, 1) + 1;
    long at = atomic_load(&fail_at);
    if (at <= 0)
        return 0;
    return n == at || (atomic_load(&fail_sticky) && n > at);
}
#else
static int should_fail(void)
{
    return 0;
}
#endif

long cf__alloc_fail_after(long n, int sticky)
{
#ifdef CF_TESTING
    long seen = atomic_exchange(&counted, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_at, n);
    return seen;
#else
    (void)n;
    (void)sticky;
    return 0;
#endif
}

void cf__alloc_count(long delta)
{
    (void)delta;
    COUNT(delta);
}

int cf__alloc_fault(void)
{
    return should_fail();
}

void *cf__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = user_malloc(size ? size : 1);
    if (p)
        COUNT(1);
    return p;
}

/* Zeroed blocks up to this size come from malloc + memset: glibc's calloc skips the
 * per-thread cache that serves small mallocs, so a small calloc costs about twice as much. */
#define CALLOC_SMALL 256

void *cf__calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    count = count ? count : 1;
    size = size ? size : 1;
    void *p;
    if (count <= CALLOC_SMALL && size <= CALLOC_SMALL && count * size <= CALLOC_SMALL) {
        p = user_malloc(count * size);
        if (p)
            memset(p, 0, count * size);
    } else {
        p = user_calloc(count, size);
    }
    if (p)
        COUNT(1);
    return p;
}

void *cf__realloc(void *ptr, size_t size)
{
    if (!ptr)
        return cf__malloc(size);
    if (should_fail())
        return NULL;
    return user_realloc(ptr, size ? size : 1);
}

void cf__free(void *ptr)
{
    if (!ptr)
        return;
    COUNT(-1);
    user_free(ptr);
}

void *cf__memdup(const void *p, size_t len)
{
    char *copy = cf__malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, p, len);
    copy[len] = '\0';
    return copy;
}

char *cf__strndup(const char *s, size_t len)
{
    return cf__memdup(s, len);
}

char *cf__strdup(const char *s)
{
    if (!s)
        return NULL;
    return cf__memdup(s, strlen(s));
}

int cf_replace_allocator(cf_malloc_fn m, cf_realloc_fn r, cf_calloc_fn c, cf_free_fn f)
{
    if (!m || !r || !c || !f)
        return CF_EINVAL;
    user_malloc = m;
    user_realloc = r;
    user_calloc = c;
    user_free = f;
    return 0;
}

long cf_live_allocations(void)
{
#ifdef CF_TESTING
    return atomic_load(&live);
#else
    return -1;
#endif
}

void *cf_malloc(size_t size)
{
    return cf__malloc(size);
}

void *cf_calloc(size_t count, size_t size)
{
    return cf__calloc(count, size);
}

void *cf_realloc(void *ptr, size_t size)
{
    return cf__realloc(ptr, size);
}

void cf_free(void *ptr)
{
    cf__free(ptr);
}

char *cf_strdup(const char *s)
{
    return cf__strdup(s);
}

const char *cf_version(void)
{
    return CF_VERSION_STRING;
}
