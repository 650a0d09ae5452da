/*
 * Fixed-size blocks in 2 MiB regions (util/objpool.h).
 *
 * A region is aligned to its size, so a block's region is its address rounded down: the
 * region's header sits at its start, then the blocks. A region hands out the blocks freed in
 * it first (its own free list, most recently freed first: warm in the cache), then carves its
 * uncarved tail. The pool keeps the regions with room on a list, the one a block was freed in
 * going to its head; a region that runs out of room leaves the list until a block of it is
 * freed. Invariant: a region is on `avail` exactly when it has a free block or uncarved room.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "util/alloc.h"
#include "util/objpool.h"
#include "util/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define OBJPOOL_BY_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OBJPOOL_BY_MALLOC 1
#endif
#endif

#if !defined(OBJPOOL_BY_MALLOC) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MALLOCLIKE_BLOCK(addr, size, rz, zeroed) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(addr, rz)                 ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(addr, size)             ((void)0)
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL and fault on touch */
#endif

#define REGION ((size_t)2 << 20)

struct cf__objpool_region {
    cf__objpool_region *next, *prev; /* on the pool's `avail` list */
    cf_queue link;                   /* on the pool's `all` list */
    void *free;                      /* blocks freed here, linked through their first word */
    char *tail;                      /* the uncarved room, up to `end` */
    char *end;
    size_t used; /* blocks handed out and not given back */
    int listed;  /* on `avail` */
};

/* The header's room (a multiple of 64: the first block starts a cache line; all are 16-byte
 * aligned, the block size being a multiple of 16). */
#define HEAD (((sizeof(cf__objpool_region) + 63) / 64) * 64)

void cf__objpool_init(cf__objpool *s, size_t size)
{
    memset(s, 0, sizeof(*s));
    CF_ASSERT(size <= (size_t)64 << 10); /* many blocks to a region; no wrap when rounded */
    size = size < sizeof(void *) ? sizeof(void *) : size;
    s->size = (size + 15) & ~(size_t)15;
    cf_queue_init(&s->all);
}

#ifdef OBJPOOL_BY_MALLOC

void *cf__objpool_alloc(cf__objpool *s)
{
    return cf__calloc(1, s->size);
}

void cf__objpool_free(cf__objpool *s, void *block)
{
    (void)s;
    cf__free(block);
}

void cf__objpool_destroy(cf__objpool *s)
{
    (void)s;
}

#else

static void list_add(cf__objpool *s, cf__objpool_region *r)
{
    r->prev = NULL;
    r->next = s->avail;
    if (s->avail)
        s->avail->prev = r;
    s->avail = r;
    r->listed = 1;
}

static void list_remove(cf__objpool *s, cf__objpool_region *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        s->avail = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    r->listed = 0;
}

/*
 * Map a region aligned to its size: twice the size, then the parts outside the aligned
 * middle unmapped. All but the first region of a pool ask for huge pages and are populated
 * in one call, which a virtual machine makes far cheaper than a fault per page.
 */
static cf__objpool_region *region_map(cf__objpool *s)
{
    if (cf__alloc_fault())
        return NULL;
    char *raw = mmap(NULL, 2 * REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *base = (char *)(((uintptr_t)raw + REGION - 1) & ~(uintptr_t)(REGION - 1));
    if (base > raw)
        munmap(raw, (size_t)(base - raw));
    if (raw + 2 * REGION > base + REGION)
        munmap(base + REGION, (size_t)(raw + 2 * REGION - (base + REGION)));
    if (s->regions > 0) {
        (void)madvise(base, REGION, MADV_HUGEPAGE);
        (void)madvise(base, REGION, MADV_POPULATE_WRITE);
    }
    cf__objpool_region *r = (cf__objpool_region *)base;
    r->tail = base + HEAD;
    r->end = base + REGION;
    cf_queue_insert_tail(&s->all, &r->link);
    s->regions++;
    cf__alloc_count(1);
    return r;
}

static void region_unmap(cf__objpool *s, cf__objpool_region *r)
{
    if (r->listed)
        list_remove(s, r);
    cf_queue_remove(&r->link);
    s->regions--;
    cf__alloc_count(-1);
    munmap(r, REGION);
}

static int has_room(const cf__objpool *s, const cf__objpool_region *r)
{
    return r->free || (size_t)(r->end - r->tail) >= s->size;
}

/* A block of `r`, which has room: one freed there (cleared again), else new room. */
static void *take_block(cf__objpool *s, cf__objpool_region *r)
{
    void *block = r->free;
    if (block) {
        VALGRIND_MAKE_MEM_DEFINED(block, sizeof(void *));
        r->free = *(void **)block;
        VALGRIND_MALLOCLIKE_BLOCK(block, s->size, 0, 0);
        memset(block, 0, s->size);
        return block;
    }
    block = r->tail; /* never handed out: still the zeroes the kernel mapped */
    r->tail += s->size;
    VALGRIND_MALLOCLIKE_BLOCK(block, s->size, 0, 1);
    return block;
}

void *cf__objpool_alloc(cf__objpool *s)
{
    if (cf__alloc_fault())
        return NULL;
    cf__objpool_region *r = s->avail;
    if (!r) {
        r = region_map(s);
        if (!r)
            return NULL;
        list_add(s, r);
    }
    void *block = take_block(s, r);
    if (r->used++ == 0 && r == s->empty)
        s->empty = NULL;
    if (!has_room(s, r))
        list_remove(s, r);
    return block;
}

void cf__objpool_free(cf__objpool *s, void *block)
{
    if (!block)
        return;
    cf__objpool_region *r = (cf__objpool_region *)((uintptr_t)block & ~(uintptr_t)(REGION - 1));
    *(void **)block = r->free;
    r->free = block;
    VALGRIND_FREELIKE_BLOCK(block, 0);
    if (!r->listed)
        list_add(s, r);
    if (--r->used > 0)
        return;
    /* Empty: keep one such region for the next burst, unmap any other. */
    if (!s->empty) {
        s->empty = r;
        return;
    }
    region_unmap(s, r);
}

void cf__objpool_destroy(cf__objpool *s)
{
    while (!cf_queue_empty(&s->all))
        region_unmap(s, cf_queue_data(cf_queue_head(&s->all), cf__objpool_region, link));
    s->empty = NULL;
}

#endif
