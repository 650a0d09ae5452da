/*
 * Fiber stacks (private to fiber.c, fiber_stack.c and fiber_guard.c).
 *
 * A stack is a guard page at the low end, then the usable bytes [lo, hi), and this
 * descriptor in the last bytes above `hi`, so that pooling a stack allocates nothing.
 * Dedicated stacks are slots carved from large per-thread regions (one mapping for many
 * stacks), belong to one fiber at a time and go back to a per-thread pool (LIFO free lists
 * per size, the part that keeps its pages bounded in bytes). Shared run stacks (copy-stack
 * mode) are mappings of their own, bound to many fibers, of which one, `owner`, has its
 * frames on the stack at a time.
 */
#ifndef CF_ASYNC_FIBER_STACK_H
#define CF_ASYNC_FIBER_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "async/fiber.h"

/* A region: a header page (this struct), then `n_slots` slots of guard page + stack. */
typedef struct cf__region {
    char *map;
    size_t len;
    size_t slot_len;
    size_t n_slots;
    size_t carved; /* slots handed out at least once (the lowest ones) */
    size_t live;   /* slots held by fibers now */
    struct cf__region *next;
} cf__region;

typedef struct cf__stack {
    char *map;              /* where the stack starts; [map, lo) is the guard page */
    size_t map_len;         /* guard page + usable bytes (a shared stack's whole mapping) */
    char *lo;               /* lowest usable byte */
    char *hi;               /* one past the highest usable byte (16-byte aligned) */
    size_t size;            /* the usable size asked for (what overflow messages print) */
    struct cf__stack *next; /* pool or shared-stack list link */
    cf__region *region;     /* dedicated: the region it was carved from */
    cf__fiber *owner;       /* shared: the fiber whose frames are on the stack, or NULL */
    size_t users;           /* shared: fibers bound to the stack and not done */
    unsigned vg_id;         /* valgrind's stack id */
    int shared;             /* non-zero for a shared run stack */
} cf__stack;

/* The smallest stack size accepted; smaller requests are raised to it. */
#define CF__STACK_MIN (16 * 1024)

/* `size` rounded up to whole pages and raised to CF__STACK_MIN. Thread: any. */
size_t cf__stack_round(size_t size);

/*
 * A dedicated stack of `size` usable bytes (rounded), from the thread's pool or carved from
 * one of its regions (mapping one when all are taken). Returns NULL when no region can be
 * mapped or more than 16 distinct sizes are in use. Thread: any (per-thread pool).
 */
cf__stack *cf__stack_acquire(size_t size);

/*
 * Give a dedicated stack back to the thread's pool; when the pool is full, another free
 * stack's pages are given back to the system. The stack may be the one running now.
 */
void cf__stack_release(cf__stack *s);

/*
 * Bind a fiber to one of the thread's shared run stacks of `size` bytes (round robin over
 * up to four), mapping it on first use, and count the fiber as a user. NULL on failure.
 */
cf__stack *cf__stack_share(size_t size);

/* Non-zero when `p` lies in one of the thread's shared run stacks (usable part). */
int cf__stack_in_shared(const void *p);

/* A fiber bound by cf__stack_share is done or freed: one user fewer. */
void cf__stack_unshare(cf__stack *s);

/*
 * Give back the pages of the thread's pooled stacks, unmap its regions that have no stack in
 * use, and its shared stacks that have no users.
 */
void cf__stack_trim(void);

/* Add the thread's stack counters (mapped, unmapped, pooled) to `out`. */
void cf__stack_stats(cf__fiber_stats *out);

/*
 * Overflow detection (fiber_guard.c). cf__guard_thread_init installs, once per process, the
 * SIGSEGV handler that recognises a fault in a fiber's guard page (chaining to the handler
 * it replaced for every other fault), and gives the calling thread an alternate signal
 * stack if it has none, so the handler can run when a stack is exhausted. Returns 0 or
 * CF_ENOMEM. cf__guard_thread_exit releases the alternate stack it made for the thread.
 */
int cf__guard_thread_init(void);
void cf__guard_thread_exit(void);

/* The stack the calling thread runs on now, or NULL on its own stack (fiber.c). */
const cf__stack *cf__fiber_running_stack(void);

#endif
