/*
 * The handle base: what every long-lived loop resource (timer, fd watcher, signal, TCP
 * socket, server, ...) embeds to take part in keep-alive accounting and the close phase
 * (model: libuv's uv_handle_t and uv__handle_start/stop/ref/unref).
 *
 * Keep-alive: a handle keeps the loop alive while it is ACTIVE (doing something: a started
 * timer, a watcher with events, a listening server) and REF'd (the default). The loop counts
 * such handles in loop->active_handles; cf__handle_start/stop/ref/unref keep that count
 * right, so a module only says when its handle becomes active or idle.
 *
 * Closing (STYLE §7.1): cf__handle_close marks the handle CLOSING, makes it inactive and
 * queues it for the close phase of the current iteration (one that has not reached it yet)
 * or of the next one. A closing handle keeps the loop alive. In the close phase the loop
 * calls the handle's `close_fn(h)`; that function belongs to the module: it completes what
 * is still pending with CF_ECANCELED if not done already, frees the memory, then calls the
 * user's cf_close_cb (the handle is gone when it runs, as docs/conventions.md promises: the
 * callback may free what the caller kept beside it). After `close_fn` the loop drains ticks
 * and microtasks. Closing a closing handle is refused (the public calls return CF_ECLOSED). The
 * module must not touch `h` after its memory is freed, and must never free it before `close_fn`.
 *
 * Closing everything (cf__loop_close_all, model: libuv's uv_walk + uv_close): each module
 * registers, right after init, the function that requests a handle's close the way its public
 * close does, with no user callback (cf__handle_set_close_req). A handle without one belongs
 * to a library object that closes it itself (an HTTP server's timer): the walk leaves it.
 *
 * A typical module:
 *
 *     struct cf_thing { cf__handle h; ... };
 *     cf__handle_init(loop, &t->h);           // at creation: REF, not ACTIVE
 *     cf__handle_set_close_req(&t->h, thing_close_req); // calls cf_thing_close(t, NULL, NULL)
 *     cf__handle_start(&t->h);                // when it starts doing something
 *     cf__handle_stop(&t->h);                 // when it goes idle
 *     cf__handle_close(&t->h, thing_closed);  // user's close: stop work, queue the close
 *     static void thing_closed(cf__handle *h) // close phase: cf__free(thing), then user cb
 *
 * Every function is loop-thread only and cannot fail.
 */
#ifndef CF_CORE_HANDLE_H
#define CF_CORE_HANDLE_H

#include "calcifer/loop.h"
#include "util/queue.h"

enum {
    CF__HANDLE_ACTIVE = 1u << 0,   /* doing something: counts for keep-alive if REF */
    CF__HANDLE_REF = 1u << 1,      /* keeps the loop alive while ACTIVE (default on) */
    CF__HANDLE_CLOSING = 1u << 2,  /* close requested; close_fn not yet run */
    CF__HANDLE_CLOSED = 1u << 3,   /* close_fn is running or has run */
    CF__HANDLE_INTERNAL = 1u << 4, /* not counted as open by cf_loop_close */
    CF__HANDLE_USER = 1u << 8      /* first bit free for the module's own flags */
};

typedef struct cf__handle cf__handle;
/* Run in the close phase; owns the handle's memory from then on (usually frees it). */
typedef void (*cf__close_fn)(cf__handle *h);

struct cf__handle {
    cf_loop *loop;
    unsigned flags;
    /*
     * One word for two functions that are never needed at once: while the handle is open,
     * how cf__loop_close_all asks it to close (NULL: its owner closes it); once closing, what
     * the close phase runs.
     */
    union {
        cf__close_fn close_req;
        cf__close_fn close_fn;
    };
    cf_queue close_link; /* in loop->closing while CLOSING */
    cf_queue all_link;   /* in loop->all_handles until close_fn runs (internal ones: never) */
    const void *origin;  /* return address of the user's call that made it (print_handles) */
};

/*
 * Bind `h` to `loop`: REF'd, not ACTIVE, not closing. The handle counts as open until its
 * close_fn has run: cf_loop_close returns CF_EBUSY while any handle is open.
 */
void cf__handle_init(cf_loop *loop, cf__handle *h);

/*
 * cf__handle_init for a public constructor that captured its caller (CF__SITE_CALLER().pc,
 * util/site.h): `site` is the user's place, which cf_loop_print_handles and the blocked-loop
 * detector name. cf__handle_init names the library function that called it instead.
 */
void cf__handle_init_at(cf_loop *loop, cf__handle *h, const void *site);

/*
 * The same for a handle that the library owns and frees by itself without the close phase
 * (a timeout, a timer or watcher of a layer's per-loop state freed by its slot
 * destructor): it is not counted as open, so cf_loop_close does not wait for it. It must be
 * stopped (or unref'd) by the time cf_loop_close runs, or the loop is still alive.
 */
void cf__handle_init_internal(cf_loop *loop, cf__handle *h);

/*
 * Register how cf__loop_close_all closes `h`: `req(h)` requests its close as the module's
 * public close does (stop the work, complete what is pending with CF_ECANCELED, then
 * cf__handle_close), with no user close callback. It may also leave the handle open for a
 * while (a child process that must be reaped first): the walk then calls it again later, and
 * it must tolerate that. Call it once, after init; NULL (the default) leaves the handle to
 * the library object that owns it.
 */
void cf__handle_set_close_req(cf__handle *h, cf__close_fn req);

/* Mark `h` ACTIVE (idempotent); a REF'd active handle keeps the loop alive. */
void cf__handle_start(cf__handle *h);

/* Mark `h` not ACTIVE (idempotent). */
void cf__handle_stop(cf__handle *h);

/* ≈ uv_ref / uv_unref / uv_has_ref: idempotent, may be called in any state. */
void cf__handle_ref(cf__handle *h);
void cf__handle_unref(cf__handle *h);
int cf__handle_has_ref(const cf__handle *h);

static inline int cf__handle_is_active(const cf__handle *h)
{
    return (h->flags & CF__HANDLE_ACTIVE) != 0;
}

/* Non-zero once close has been requested (CLOSING or CLOSED). */
static inline int cf__handle_is_closing(const cf__handle *h)
{
    return (h->flags & (CF__HANDLE_CLOSING | CF__HANDLE_CLOSED)) != 0;
}

/*
 * Request the close of `h`: stops it (cf__handle_stop) and queues `close_fn` for the close
 * phase. Returns 0, or CF_EINVAL if `h` is already closing (then nothing changes).
 */
int cf__handle_close(cf__handle *h, cf__close_fn close_fn);

#endif
