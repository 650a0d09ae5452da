/*
 * Abort signals (≈ AbortController, AbortSignal; calcifer/abort.h).
 *
 * A signal is a reference-counted record: its code and reason once aborted, and a doubly
 * linked list of listeners that live in their owners' memory. A controller is the same
 * allocation seen through another type (the controller holds one reference), so making a
 * controller and its signal costs one allocation.
 *
 * Invariants:
 *  - every listener in a signal's list holds one reference to the signal; the list is empty
 *    once the signal is aborted (listeners are unlinked before their callback runs);
 *  - a timeout signal has a loop timer (and sits in its loop's `timeouts` list) exactly while
 *    it is neither aborted nor freed; the timer's data is the signal, so releasing the last
 *    reference stops the timer first;
 *  - an `any` signal owns an array of listeners on its sources until it aborts or is freed.
 *
 * Aborting runs the listeners in order, synchronously, as JavaScript dispatches the 'abort'
 * event; a temporary reference keeps the signal alive while they run.
 */
#include "calcifer/abort.h"

#include <string.h>

#include "async/task.h"
#include "calcifer/timer.h"
#include "core/loop.h"
#include "util/alloc.h"
#include "util/util.h"

struct cf_abort_signal {
    unsigned refs;
    int code;         /* 0 until aborted */
    cf_error *reason; /* owned once aborted (NULL if it could not be allocated) */
    cf_abort_listener *head;
    cf_abort_listener *tail;
    /* timeout signals */
    cf_timeout *timer;
    cf_queue tlink;
    /* `any` signals */
    cf_abort_listener *sources;
    size_t nsources;
};

/* The controller is its signal, seen through the aborting side's type. */
struct cf_abort_controller {
    cf_abort_signal signal;
};

static cf_abort_signal *signal_new(void)
{
    cf_abort_signal *s = cf__calloc(1, sizeof(cf_abort_controller));
    if (!s)
        return NULL;
    s->refs = 1;
    cf_queue_init(&s->tlink);
    return s;
}

static void stop_timer(cf_abort_signal *s)
{
    if (!s->timer)
        return;
    cf_clear_timeout(s->timer);
    s->timer = NULL;
    cf_queue_remove(&s->tlink);
}

static void drop_sources(cf_abort_signal *s)
{
    cf_abort_listener *src = s->sources;
    size_t n = s->nsources;
    s->sources = NULL;
    s->nsources = 0;
    for (size_t i = 0; i < n; i++) {
        cf_abort_signal_unlisten(&src[i]);
    }
    cf__free(src);
}

static void signal_free(cf_abort_signal *s)
{
    CF_ASSERT(!s->head);
    stop_timer(s);
    drop_sources(s);
    cf_error_free(s->reason);
    cf__free(s);
}

cf_abort_signal *cf_abort_signal_retain(cf_abort_signal *s)
{
    if (s)
        s->refs++;
    return s;
}

void cf_abort_signal_release(cf_abort_signal *s)
{
    if (!s)
        return;
    CF_ASSERT(s->refs > 0);
    if (--s->refs == 0)
        signal_free(s);
}

/* Unlink `l` from its signal's list; the listener's reference is the caller's to drop. */
static void unlink_listener(cf_abort_listener *l)
{
    cf_abort_signal *s = l->_signal;
    if (l->_prev)
        l->_prev->_next = l->_next;
    else
        s->head = l->_next;
    if (l->_next)
        l->_next->_prev = l->_prev;
    else
        s->tail = l->_prev;
    l->_next = NULL;
    l->_prev = NULL;
    l->_signal = NULL;
}

/*
 * Abort `s` with `code` and `reason` (taken): record them, stop its own sources of abort,
 * and run the listeners in order. A signal that is already aborted keeps its first reason.
 */
static void signal_abort(cf_abort_signal *s, int code, cf_error *reason)
{
    if (s->code) {
        cf_error_free(reason);
        return;
    }
    s->code = code;
    s->reason = reason;
    s->refs++; /* alive while the listeners run, whatever they release */
    stop_timer(s);
    drop_sources(s);
    while (s->head) {
        cf_abort_listener *l = s->head;
        cf_abort_cb cb = l->_cb;
        unlink_listener(l);
        s->refs--; /* the listener's reference; ours keeps the count above 0 */
        cb(l, s);
    }
    cf_abort_signal_release(s);
}

/* ---- create ---- */

int cf_abort_new(cf_abort_controller **out)
{
    if (!out)
        return CF_EINVAL;
    cf_abort_signal *s = signal_new();
    *out = (cf_abort_controller *)s;
    return s ? 0 : CF_ENOMEM;
}

cf_abort_signal *cf_abort_get_signal(cf_abort_controller *ctrl)
{
    return ctrl ? &ctrl->signal : NULL;
}

void cf_abort_free(cf_abort_controller *ctrl)
{
    if (ctrl)
        cf_abort_signal_release(&ctrl->signal);
}

int cf_abort(cf_abort_controller *ctrl, cf_error *reason)
{
    if (!ctrl) {
        cf_error_free(reason);
        return CF_EINVAL;
    }
    cf_abort_signal *s = &ctrl->signal;
    if (s->code) {
        cf_error_free(reason);
        return 0;
    }
    if (!reason)
        reason = cf_error_new(CF_ECANCELED, NULL, 0, NULL, "This operation was aborted");
    signal_abort(s, reason ? reason->code : CF_ECANCELED, reason);
    return 0;
}

/* ---- timeout ---- */

static void timeout_fired(void *data)
{
    cf_abort_signal *s = data;
    s->timer = NULL; /* the loop frees a fired timeout */
    cf_queue_remove(&s->tlink);
    cf_error *reason =
        cf_error_new(CF_ETIMEDOUT, NULL, 0, NULL, "The operation was aborted due to timeout");
    signal_abort(s, CF_ETIMEDOUT, reason);
}

int cf_abort_signal_timeout(cf_loop *loop, uint64_t ms, cf_abort_signal **out)
{
    if (!out)
        return CF_EINVAL;
    *out = NULL;
    if (!loop)
        return CF_EINVAL;
    cf__task_loop *cl = cf__task_loop_get(loop);
    cf_abort_signal *s = cl ? signal_new() : NULL;
    if (!s)
        return CF_ENOMEM;
    int rc = cf_set_timeout(loop, ms, timeout_fired, s, &s->timer);
    if (rc < 0) {
        cf__free(s);
        return rc;
    }
    cf_timeout_unref(s->timer);
    cf__timeout_set_owned(s->timer); /* unref'd; cf__abort_loop_closing stops it */
    cf_queue_insert_tail(&cl->timeouts, &s->tlink);
    *out = s;
    return 0;
}

void cf__abort_loop_closing(cf__task_loop *cl)
{
    while (!cf_queue_empty(&cl->timeouts)) {
        cf_abort_signal *s = cf_queue_data(cf_queue_head(&cl->timeouts), cf_abort_signal, tlink);
        stop_timer(s); /* the signal stays, never aborting by itself now */
    }
}

/* ---- any ---- */

static void any_source_aborted(cf_abort_listener *l, cf_abort_signal *source)
{
    cf_abort_signal *s = l->data;
    const cf_error *why = cf_abort_signal_reason(source);
    signal_abort(s, cf_abort_signal_code(source), why ? cf_error_copy(why) : NULL);
}

int cf_abort_signal_any(cf_abort_signal *const *signals, size_t n, cf_abort_signal **out)
{
    if (!out || (!signals && n > 0))
        return CF_EINVAL;
    cf_abort_signal *s = signal_new();
    *out = s;
    if (!s)
        return CF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (signals[i] && signals[i]->code) {
            const cf_error *why = signals[i]->reason;
            signal_abort(s, signals[i]->code, why ? cf_error_copy(why) : NULL);
            return 0;
        }
    }
    if (n == 0)
        return 0;
    s->sources = cf__calloc(n, sizeof(*s->sources));
    if (!s->sources) {
        cf__free(s);
        *out = NULL;
        return CF_ENOMEM;
    }
    s->nsources = n;
    for (size_t i = 0; i < n; i++) {
        s->sources[i].data = s;
        if (signals[i])
            (void)cf_abort_signal_listen(signals[i], &s->sources[i], any_source_aborted);
    }
    return 0;
}

/* ---- inspect ---- */

int cf_abort_signal_aborted(const cf_abort_signal *s)
{
    return s && s->code != 0;
}

int cf_abort_signal_code(const cf_abort_signal *s)
{
    return s ? s->code : 0;
}

cf_error *cf_abort_signal_error(const cf_abort_signal *s)
{
    if (!s || !s->code)
        return NULL;
    cf_error *e = cf_error_new(CF_ECANCELED, NULL, 0, NULL, "The operation was aborted");
    if (e && s->reason && !cf_error_set_cause(e, cf_error_copy(s->reason))->cause) {
        cf_error_free(e); /* without its reason the error would not say why */
        return NULL;
    }
    return e;
}

const cf_error *cf_abort_signal_reason(const cf_abort_signal *s)
{
    return s ? s->reason : NULL;
}

/* ---- listen ---- */

int cf_abort_signal_listen(cf_abort_signal *s, cf_abort_listener *l, cf_abort_cb cb)
{
    if (!s || !l || !cb || l->_signal)
        return CF_EINVAL;
    if (s->code)
        return s->code;
    l->_cb = cb;
    l->_signal = s;
    l->_next = NULL;
    l->_prev = s->tail;
    if (s->tail)
        s->tail->_next = l;
    else
        s->head = l;
    s->tail = l;
    s->refs++;
    return 0;
}

void cf_abort_signal_unlisten(cf_abort_listener *l)
{
    if (!l || !l->_signal)
        return;
    cf_abort_signal *s = l->_signal;
    unlink_listener(l);
    cf_abort_signal_release(s);
}
