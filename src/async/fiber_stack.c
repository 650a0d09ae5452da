/*
 * Fiber stacks: regions of dedicated stacks, the per-thread pool, shared run stacks.
 *
 * Dedicated stacks are slots carved from regions: one anonymous mapping of 32 MiB (or one
 * slot, for huge stacks) holds a header page and as many slots as fit, each slot a guard
 * page and the usable bytes, with the cf__stack descriptor in the top bytes of the slot.
 * A stack thus costs no mapping of its own: vm.max_map_count (65530 by default) no longer
 * bounds the number of live tasks. The guard pages are installed with MADV_GUARD_INSTALL
 * (Linux 6.13), which makes pages fault without splitting the mapping; on older kernels
 * they fall back to mprotect, which splits it (then each stack costs two mappings again, as
 * a stack of its own would, and overflow detection stays exact either way). Regions are
 * reserved with MAP_NORESERVE and cost resident memory only for the pages stacks touch.
 *
 * Invariants: per size class, a free stack is `warm` (its pages kept: the pool, at most
 * POOL_MAX_BYTES of usable stack per thread) or `cold` (pages given back with
 * MADV_DONTNEED, except the top page with the descriptor); every other carved slot is held
 * by one fiber. A region's `live` counts its held slots; a region with none is unmapped by
 * cf__stack_trim (and at thread exit). The lists are intrusive and allocate nothing (they
 * never show up in the allocation counts that tests check). Each stack is registered with
 * valgrind from its carving until its region is unmapped.
 *
 * Shared run stacks (copy-stack mode, a handful per thread) are mappings of their own with
 * an mprotect'd guard page.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
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
#define MAX_CLASSES      16  /* distinct dedicated stack sizes per thread */
#define REGION_BYTES     ((size_t)32 * 1024 * 1024) /* address space reserved per region */
#define REGION_MAX_SLOTS 4096

#ifndef MADV_GUARD_INSTALL
#define CF_MADV_GUARD_INSTALL 102 /* Linux 6.13; older kernels fail with EINVAL */
#else
#define CF_MADV_GUARD_INSTALL MADV_GUARD_INSTALL
#endif

/* The free dedicated stacks of one size, and the region being carved for it. */
typedef struct stack_class {
    size_t size;
    cf__stack *warm;   /* free, pages kept (the pool), most recently used first */
    cf__stack *cold;   /* free, pages given back */
    cf__region *fresh; /* the region new slots are carved from */
} stack_class;

typedef struct stack_thread {
    stack_class classes[MAX_CLASSES];
    size_t n_classes;
    cf__region *regions; /* every region of this thread */
    size_t n_regions;
    size_t pool_bytes; /* usable bytes in the warm lists */
    size_t pool_count;
    cf__stack *shared; /* the shared run stacks of this thread */
    unsigned shared_next;
    uint64_t mapped;
    uint64_t unmapped;
} stack_thread;

static _Thread_local stack_thread st CF__FIBER_TLS;

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

/*
 * Make [p, p + len) inaccessible without splitting its mapping when the kernel can
 * (MADV_GUARD_INSTALL, Linux 6.13), else with mprotect (one more mapping). Returns 0 or -1.
 */
static int guard_pages(char *p, size_t len)
{
    /*
     * Process-wide and read by every thread that makes stacks (one loop per thread): an
     * atomic, relaxed, since a plain int written by one thread and read by another is a data
     * race (undefined, and reported by ThreadSanitizer) even when every writer stores 1.
     */
    static atomic_int no_madv_guard;
    if (!atomic_load_explicit(&no_madv_guard, memory_order_relaxed)) {
        if (madvise(p, len, CF_MADV_GUARD_INSTALL) == 0)
            return 0;
        /* EINVAL: an older kernel */
        atomic_store_explicit(&no_madv_guard, 1, memory_order_relaxed);
    }
    return mprotect(p, len, PROT_NONE);
}

/* Fill in the descriptor of a stack whose guard starts at `base`. */
static cf__stack *stack_init(char *base, size_t size, cf__region *r)
{
    size_t guard = page_size();
    cf__stack *s = (cf__stack *)(base + guard + size - DESCRIPTOR_SPACE);
    s->map = base;
    s->map_len = guard + size;
    s->lo = base + guard;
    s->hi = (char *)s;
    s->size = size;
    s->next = NULL;
    s->owner = NULL;
    s->users = 0;
    s->shared = 0;
    s->region = r;
#if defined(CF_HAVE_VALGRIND)
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#else
    s->vg_id = 0;
#endif
    return s;
}

/* Map a stack of its own (a shared run stack): `size` usable bytes, guard page below. */
static cf__stack *stack_map(size_t size)
{
    size_t len = size + page_size();
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, page_size(), PROT_NONE) != 0) {
        munmap(map, len);
        return NULL;
    }
    st.mapped++;
    return stack_init(map, size, NULL);
}

static void stack_unmap(cf__stack *s)
{
#if defined(CF_HAVE_VALGRIND)
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    st.unmapped++;
    munmap(s->map, s->map_len);
}

/* ---- regions: dedicated stacks carved from large mappings ---- */

/* The size class of `size`, made on first use; NULL when all classes are taken. */
static stack_class *class_of(size_t size)
{
    for (size_t i = 0; i < st.n_classes; i++) {
        if (st.classes[i].size == size)
            return &st.classes[i];
    }
    if (st.n_classes == MAX_CLASSES)
        return NULL;
    stack_class *c = &st.classes[st.n_classes++];
    memset(c, 0, sizeof *c);
    c->size = size;
    return c;
}

/* Map a region for `c`: REGION_BYTES or at least one slot, each slot guard + stack. */
static cf__region *region_map(stack_class *c)
{
    size_t slot = c->size + page_size();
    size_t n = REGION_BYTES / slot;
    if (n < 1)
        n = 1;
    if (n > REGION_MAX_SLOTS)
        n = REGION_MAX_SLOTS;
    size_t len = page_size() + n * slot; /* a header page, then the slots */
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    cf__region *r = (cf__region *)map;
    r->map = map;
    r->len = len;
    r->slot_len = slot;
    r->n_slots = n;
    r->carved = 0;
    r->live = 0;
    r->next = st.regions;
    st.regions = r;
    st.n_regions++;
    return r;
}

/* A never-used slot of `c`'s newest region, mapping a region when it is full. */
static cf__stack *carve(stack_class *c)
{
    cf__region *r = c->fresh;
    if (!r || r->carved == r->n_slots) {
        r = region_map(c);
        if (!r)
            return NULL;
        c->fresh = r;
    }
    char *base = r->map + page_size() + r->carved * r->slot_len;
    if (guard_pages(base, page_size()) != 0)
        return NULL;
    r->carved++;
    st.mapped++;
    return stack_init(base, c->size, r);
}

/* Give the pages of a free slot back to the system (it stays carved, for reuse). */
static void slot_cool(stack_class *c, cf__stack *s)
{
    /* Keep the page with the descriptor; the rest is read as zeros when touched again. */
    char *top = (char *)((uintptr_t)s->hi & ~(uintptr_t)(page_size() - 1));
    if (top > s->lo)
        (void)madvise(s->lo, (size_t)(top - s->lo), MADV_DONTNEED);
    s->next = c->cold;
    c->cold = s;
    st.unmapped++;
}

cf__stack *cf__stack_acquire(size_t size)
{
    size = cf__stack_round(size);
    stack_class *c = class_of(size);
    if (!c)
        return NULL;
    cf__stack *s = c->warm;
    if (s) {
        c->warm = s->next;
        st.pool_bytes -= size;
        st.pool_count--;
    } else if ((s = c->cold) != NULL) {
        c->cold = s->next;
        st.mapped++; /* its pages were given back: a pool miss, as a fresh slot */
    } else if ((s = carve(c)) == NULL) {
        return NULL;
    }
    s->next = NULL;
    s->region->live++;
    return s;
}

/*
 * Back to the pool. The stack may be the one running now (a fiber that just finished), so
 * its own pages are never given back here: when the pool is full, the stack that was at its
 * head goes cold instead.
 */
void cf__stack_release(cf__stack *s)
{
    CF_ASSERT(!s->shared && s->region);
    stack_class *c = class_of(s->size);
    s->region->live--;
    if (st.pool_bytes + s->size > POOL_MAX_BYTES && c->warm) {
        cf__stack *old = c->warm;
        c->warm = old->next;
        st.pool_bytes -= old->size;
        st.pool_count--;
        slot_cool(c, old);
    }
    s->next = c->warm;
    c->warm = s;
    st.pool_bytes += s->size;
    st.pool_count++;
}

/* Unmap the regions with no stack in use, and drop their slots from the cold lists. */
static void regions_trim(void)
{
    for (size_t i = 0; i < st.n_classes; i++) {
        stack_class *c = &st.classes[i];
        cf__stack **link = &c->cold;
        while (*link) {
            if ((*link)->region->live == 0)
                *link = (*link)->next;
            else
                link = &(*link)->next;
        }
        if (c->fresh && c->fresh->live == 0)
            c->fresh = NULL;
    }
    cf__region **rl = &st.regions;
    while (*rl) {
        cf__region *r = *rl;
        if (r->live != 0) {
            rl = &r->next;
            continue;
        }
        *rl = r->next;
        st.n_regions--;
#if defined(CF_HAVE_VALGRIND)
        for (size_t k = 0; k < r->carved; k++) {
            char *base = r->map + page_size() + k * r->slot_len;
            VALGRIND_STACK_DEREGISTER(
                ((cf__stack *)(base + r->slot_len - DESCRIPTOR_SPACE))->vg_id);
        }
#endif
        munmap(r->map, r->len);
    }
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

int cf__stack_in_shared(const void *p)
{
    const char *c = p;
    for (const cf__stack *s = st.shared; s; s = s->next) {
        if (c >= s->lo && c < s->hi)
            return 1;
    }
    return 0;
}

void cf__stack_unshare(cf__stack *s)
{
    CF_ASSERT(s->shared && s->users > 0);
    s->users--;
}

void cf__stack_trim(void)
{
    for (size_t i = 0; i < st.n_classes; i++) {
        stack_class *c = &st.classes[i];
        while (c->warm) {
            cf__stack *s = c->warm;
            c->warm = s->next;
            slot_cool(c, s);
        }
    }
    st.pool_bytes = 0;
    st.pool_count = 0;
    regions_trim();
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
    out->regions += st.n_regions;
}
