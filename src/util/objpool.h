/*
 * Fixed-size blocks carved from 2 MiB regions the allocator maps itself, for objects a
 * program may hold by the million at once (a task each): no malloc header per block, and
 * memory the kernel hands over a region at a time instead of a page fault per 4 KiB.
 *
 * A pool's first region is faulted in page by page as it fills, so a program with a few
 * objects pays for the pages it touches; the later ones (a program past one region's worth:
 * ~3,900 tasks) ask for transparent huge pages and are populated in one call (where the
 * kernel has MADV_POPULATE_WRITE), which on a virtual machine makes a million tasks' memory
 * cost about 1/40 of the time of faulting it page by page. A region whose blocks are all free
 * is unmapped, except one kept for reuse, so a burst's memory goes back to the system.
 *
 * Under AddressSanitizer the blocks come from cf__calloc (ASan sees each block); under
 * valgrind they are reported as heap blocks (client requests). CF_TESTING builds count a
 * region as one live block and fail a block's allocation when fault injection says so.
 *
 * Thread: a pool is used by one thread at a time (a loop's).
 */
#ifndef CF_UTIL_OBJPOOL_H
#define CF_UTIL_OBJPOOL_H

#include <stddef.h>

#include "util/queue.h"

typedef struct cf__objpool_region cf__objpool_region;

typedef struct cf__objpool {
    size_t size;               /* block size: a multiple of 16 */
    cf__objpool_region *avail; /* regions with room (free blocks or an uncarved tail) */
    cf__objpool_region *empty; /* the one region kept with no block in use, or NULL */
    cf_queue all;              /* every region mapped */
    size_t regions;            /* mapped */
} cf__objpool;

/* Set up `s` for blocks of `size` bytes (at most 64 KiB). Nothing is mapped yet; `s` must not
 * move while regions are mapped. */
void cf__objpool_init(cf__objpool *s, size_t size);

/* A zeroed block, or NULL (CF_ENOMEM: no region could be mapped). */
void *cf__objpool_alloc(cf__objpool *s);

/* Give back a block `cf__objpool_alloc(s)` returned (NULL: nothing). */
void cf__objpool_free(cf__objpool *s, void *block);

/* Unmap every region; blocks still in use are gone with them. */
void cf__objpool_destroy(cf__objpool *s);

#endif
