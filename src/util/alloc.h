/*
 * Private allocator entry points. Every allocation in the library goes through these, so
 * that tests can count live blocks and inject failures (CF_TESTING builds only).
 */
#ifndef CF_UTIL_ALLOC_H
#define CF_UTIL_ALLOC_H

#include <stddef.h>

void *cf__malloc(size_t size);
void *cf__calloc(size_t count, size_t size);
void *cf__realloc(void *ptr, size_t size);
void cf__free(void *ptr);
char *cf__strdup(const char *s);
char *cf__strndup(const char *s, size_t len);
void *cf__memdup(const void *p, size_t len);

/*
 * Fault injection (CF_TESTING builds; no-ops elsewhere). After `cf__alloc_fail_after(n)`,
 * allocation number n (1-based, counted from this call) fails; with `sticky` every later
 * one fails too. `cf__alloc_fail_after(0, 0)` turns injection off. Returns how many
 * allocations were counted since the last call. Thread: any (atomics).
 */
long cf__alloc_fail_after(long n, int sticky);

/*
 * For memory the library maps itself (util/objpool.h): count such a block as live (+1) or given
 * back (-1), and ask whether an allocation made there must fail (fault injection, counted
 * like the others). No-ops that never fail outside CF_TESTING builds. Thread: any.
 */
void cf__alloc_count(long delta);
int cf__alloc_fault(void);

#endif
