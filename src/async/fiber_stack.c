/*
 * Fiber stacks: mapping with a guard page, the per-thread pool, shared run stacks.
 *
 * Every stack is one mmap: the guard page (PROT_NONE) at the low end, the usable bytes,
 * and the cf__stack descriptor in the top bytes of the mapping, so the pool and the shared
 * list are intrusive and allocate nothing (they never show up in the allocation counts that
 * tests check). Each stack is registered with valgrind for as long as it is mapped.
 *
 * Invariants: the pool (a LIFO free list, per thread) holds at most POOL_MAX_BYTES of
 * usable stack; a stack is either in the pool, held by one fiber, or a shared stack in the
 * thread's shared list. Pooled stacks keep the pages their last fiber touched: re-touching
 * them would cost page faults on every task, and the pool bound caps what that keeps.
 *
 * Trade-off: the guard page makes each stack two memory mappings, so vm.max_map_count
 * (65530 by default) limits a process to about 32,000 dedicated stacks alive at once.
 * Copy-stack mode, which needs a handful of stacks per thread, is the answer for more tasks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "async/fiber_stack.h"
#include "calcifer/error.h"
#include "util/util.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CF_HAVE_VALGRIND 1
#endif
#endif

#define POOL_MAX_BYTES   ((size_t)16 * 1024 * 1024)
#define SHARED_PER_SIZE  4
#define DEFAULT_SIZE     ((size_t)64 * 1024)
#define MAX_SIZE         ((size_t)1024 * 1024 * 1024)
#define DESCRIPTOR_SPACE 128 /* bytes kept above `hi` for the descriptor, 16-aligned */

typedef struct stack_thread {
    cf__stack *pool;   /* free dedicated stacks, most recently used first */
    size_t pool_bytes; /* usable bytes in the pool */
    size_t pool_count;
    cf__stack *shared; /* the shared run stacks of this thread */
    unsigned shared_next;
    uint64_t mapped;
    uint64_t unmapped;
} stack_thread;

static _Thread_local stack_thread st;

static pthread_once_t sizes_once = PTHREAD_ONCE_INIT;
static size_t page_bytes = 4096;
static size_t default_size = DEFAULT_SIZE;

static void read_default_size(void);

/* Set once per process: the page size and the default stack size. */
static void init_sizes(void)
{
    long p = sysconf(_SC_PAGESIZE);
    if (p > 0)
        page_bytes = (size_t)p;
    read_default_size();
}

static size_t page_size(void)
{
    pthread_once(&sizes_once, init_sizes);
    return page_bytes;
}

size_t cf__stack_round(size_t size)
{
    size_t page = page_size();
    if (size < CF__STACK_MIN)
        size = CF__STACK_MIN;
    if (size > MAX_SIZE)
        size = MAX_SIZE;
    return (size + page - 1) / page * page;
}

/* Parse CF_STACK_SIZE: a byte count with an optional K or M suffix; invalid means unset. */
static void read_default_size(void)
{
    const char *env = getenv("CF_STACK_SIZE");
    if (!env || !*env)
        return;
    char *end = NULL;
    unsigned long long n = strtoull(env, &end, 10);
    if (end == env)
        return;
    if (*end == 'k' || *end == 'K') {
        n *= 1024;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        n *= 1024 * 1024;
        end++;
    }
    if (*end || n == 0 || n > MAX_SIZE)
        return;
    size_t size = (size_t)n < CF__STACK_MIN ? CF__STACK_MIN : (size_t)n;
    default_size = (size + page_bytes - 1) / page_bytes * page_bytes;
}

size_t cf__fiber_default_stack_size(void)
{
    pthread_once(&sizes_once, init_sizes);
    return default_size;
}

/* Map a new stack of `size` usable bytes (already rounded), guard page and descriptor. */
static cf__stack *stack_map(size_t size)
{
    size_t guard = page_size();
    size_t len = size + guard;
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, guard, PROT_NONE) != 0) {
        munmap(map, len);
        return NULL;
    }
    cf__stack *s = (cf__stack *)(map + len - DESCRIPTOR_SPACE);
    s->map = map;
    s->map_len = len;
    s->lo = map + guard;
    s->hi = (char *)s;
    s->size = size;
    s->next = NULL;
    s->owner = NULL;
    s->users = 0;
    s->shared = 0;
#if defined(CF_HAVE_VALGRIND)
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#else
    s->vg_id = 0;
#endif
    st.mapped++;
    return s;
}

static void stack_unmap(cf__stack *s)
{
#if defined(CF_HAVE_VALGRIND)
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    st.unmapped++;
    munmap(s->map, s->map_len);
}

cf__stack *cf__stack_acquire(size_t size)
{
    size = cf__stack_round(size);
    cf__stack **link = &st.pool;
    while (*link) {
        cf__stack *s = *link;
        if (s->size == size) {
            *link = s->next;
            s->next = NULL;
            st.pool_bytes -= size;
            st.pool_count--;
            return s;
        }
        link = &s->next;
    }
    return stack_map(size);
}

void cf__stack_release(cf__stack *s)
{
    CF_ASSERT(!s->shared);
    if (st.pool_bytes + s->size > POOL_MAX_BYTES) {
        stack_unmap(s);
        return;
    }
    s->next = st.pool;
    st.pool = s;
    st.pool_bytes += s->size;
    st.pool_count++;
}

cf__stack *cf__stack_share(size_t size)
{
    size = cf__stack_round(size);
    unsigned want = st.shared_next++ % SHARED_PER_SIZE;
    unsigned seen = 0;
    cf__stack *last = NULL;
    cf__stack **tail = &st.shared;
    for (cf__stack *s = st.shared; s; s = s->next) {
        tail = &s->next;
        if (s->size != size)
            continue;
        last = s;
        if (seen++ == want)
            break;
    }
    cf__stack *s = last;
    if (seen <= want || !last) {
        /* Fewer than `want + 1` stacks of this size: append one, so that the positions of
         * the others stay put (or reuse the last one if mapping fails). */
        while (*tail)
            tail = &(*tail)->next;
        cf__stack *fresh = stack_map(size);
        if (fresh) {
            fresh->shared = 1;
            *tail = fresh;
            s = fresh;
        }
    }
    if (!s)
        return NULL;
    s->users++;
    return s;
}

void cf__stack_unshare(cf__stack *s)
{
    CF_ASSERT(s->shared && s->users > 0);
    s->users--;
}

void cf__stack_trim(void)
{
    while (st.pool) {
        cf__stack *s = st.pool;
        st.pool = s->next;
        stack_unmap(s);
    }
    st.pool_bytes = 0;
    st.pool_count = 0;
    cf__stack **link = &st.shared;
    while (*link) {
        cf__stack *s = *link;
        if (s->users == 0 && !s->owner) {
            *link = s->next;
            stack_unmap(s);
        } else {
            link = &s->next;
        }
    }
}

void cf__stack_stats(cf__fiber_stats *out)
{
    out->stacks_mapped += st.mapped;
    out->stacks_unmapped += st.unmapped;
    out->stacks_pooled += st.pool_count;
}
