/*
 * Promise internals shared by the files of the async layer (promise.c, combine.c, the task
 * and await code). Nothing here is public.
 *
 * - Reactions: a `cf__reaction` is what waits on a promise; when the promise settles it is
 *   queued on the loop's microtask FIFO and run there. Code that awaits promises without
 *   allocating (an async task) embeds one and attaches it with cf__promise_react: its
 *   function runs one microtask turn after the promise settles, exactly like V8's
 *   PerformPromiseThen with no derived promise (which is what `await` uses).
 * - Combinators attach internal reactions with cf__promise_react_call.
 * - Teardown: cf_loop_close frees every promise and every pooled reaction of the loop.
 *   Embedded reactions are their owner's business: a reaction still attached to a pending
 *   promise when the loop closes is simply never run (the promise layer never walks reaction
 *   lists at teardown, so the memory may already be gone). The async slot's destructor runs
 *   after the coroutine slot's (core runs slot destructors in reverse slot order).
 * - The promise layer owns the loop's drain hook (core/loop.h) for unhandled rejections;
 *   nothing else may set it.
 */
#ifndef CF_ASYNC_PROMISE_H
#define CF_ASYNC_PROMISE_H

#include <stddef.h>
#include <stdint.h>

#include "calcifer/promise.h"

typedef struct cf__reaction cf__reaction;

/* The function of an embedded reaction: `settled` is borrowed until it returns. */
typedef void (*cf__reaction_fn)(cf__reaction *r, cf_promise *settled);

/* The function of an internal reaction (combinators): `index` is the one given at attach. */
typedef void (*cf__react_call_fn)(cf_promise *settled, void *data, size_t index);

/*
 * A reaction. Embed one in your own struct for cf__promise_react and initialize it with
 * cf__reaction_init; the fields are private to promise.c.
 */
struct cf__reaction {
    union {
        cf__reaction *next; /* in the promise's reaction list (or the pool's free list) */
        cf_promise *src;    /* once queued: the settled promise (one reference held) */
    } link;
    cf_promise *derived; /* the promise this step settles (one reference held), or NULL */
    union {
        cf_promise_cb cb;
        cf_promise_settle_cb settle;
        cf__reaction_fn embed;
        cf__react_call_fn call;
    } a;
    union {
        cf_promise_cb cb;
        size_t index;
    } b;
    void *data;
    uint8_t kind;
};

/* Make `r` an embedded reaction that runs `fn`. */
void cf__reaction_init(cf__reaction *r, cf__reaction_fn fn);

/*
 * Attach the embedded reaction `r` to `p`: `fn(r, p)` runs in a microtask once `p` is
 * settled (queued at once if it already is). Marks `p` handled. `r` is borrowed until its
 * function starts; it may be attached again from there. Returns 0 or CF_ENOMEM (the
 * microtask queue could not grow; `r` is not attached).
 */
int cf__promise_react(cf_promise *p, cf__reaction *r);

/*
 * Attach an internal reaction that runs `fn(settled, data, index)` in a microtask once `p` is
 * settled. Marks `p` handled. Returns 0 or CF_ENOMEM (nothing attached).
 */
int cf__promise_react_call(cf_promise *p, cf__react_call_fn fn, void *data, size_t index);

/* Make `p`'s value impossible to take (cf_promise_take): it lives inside library state. */
void cf__promise_pin(cf_promise *p);

/* Mark `p` as having a handler (for unhandled-rejection tracking), as attaching one does. */
void cf__promise_mark_handled(cf_promise *p);

/* A statically allocated CF_ENOMEM error, used when an error cannot be allocated. */
extern const cf_error cf__promise_enomem;

/* The static stand-in error of a rejection whose reason is a value (cf_promise_error). */
extern const cf_error cf__promise_value_reason;

/*
 * A resource the promise layer frees at loop close if it is still alive (combinator state):
 * register it with cf__async_track, unregister with cf__async_untrack before freeing it.
 */
typedef struct cf__async_res cf__async_res;
struct cf__async_res {
    cf__async_res *prev;
    cf__async_res *next;
    void (*destroy)(cf__async_res *res);
};

/* Track `res` on `loop` (whose async state must exist: a promise of it exists). */
void cf__async_track(cf_loop *loop, cf__async_res *res);
void cf__async_untrack(cf_loop *loop, cf__async_res *res);

/* Non-zero while the loop's promises are being freed by cf_loop_close. */
int cf__async_closing(const cf_loop *loop);

#endif
