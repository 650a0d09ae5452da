/*
 * Promises settled from another thread (cf_promise_remote, calcifer/remote.h).
 *
 * A settler is shared by two sides: the owner's loop, which holds the promise, and the
 * settling thread. It counts two references, one per side. The settling side stores the
 * outcome in the settler and posts the settler itself (its post is embedded, so settling
 * never fails for want of memory); the post carries that side's reference to the loop, which
 * settles the promise and drops both. The settler's remote keeps the loop's cf_run running,
 * and it is released on the loop thread after the settlement ran, never before: the loop
 * cannot see itself idle between the post and its reactions.
 *
 * If the loop closes first, cf_loop_close runs the posts that landed with CF_ECANCELED, then
 * (this module's loop slot) rejects every promise still pending and runs their reactions. A
 * settling thread that comes later finds the mailbox closed, frees its value and drops its
 * reference, which frees the settler.
 */
#include <stdatomic.h>

#include "calcifer/remote.h"

#include "core/loop.h"
#include "core/remote.h"
#include "util/alloc.h"
#include "util/queue.h"
#include "util/site.h"
#include "util/util.h"

struct cf_settler {
    cf__post post;       /* the settlement, posted to the owner's loop */
    atomic_int refs;     /* the loop's side and the settling side */
    cf_remote *remote;   /* keep-alive; released on the loop thread (or by a late settler) */
    cf_promise *promise; /* the loop's reference; NULL once the loop rejected it on close */
    cf_queue link;       /* loop thread: in the loop's pending list */
    cf_site site;        /* the call to cf_promise_remote, named by the loop-closed error */
    int rejected;        /* the outcome, written before the post */
    void *value;
    void (*dtor)(void *);
    cf_error *err;
};

typedef struct pending_list {
    cf_queue settlers;
} pending_list;

static void settler_unref(cf_settler *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        cf__free(s);
}

static cf_error *closed_error(cf_site site)
{
    cf_error *e =
        cf_error_new(CF_ECANCELED, NULL, 0, NULL, "The loop closed before the promise was settled");
    return e ? cf__error_set_site(e, site) : NULL;
}

/* Reject the loop side's promise because the loop closes, and drop that side. */
static void reject_closed(cf_loop *loop, cf_settler *s)
{
    cf_queue_remove(&s->link);
    cf_promise_reject(s->promise, closed_error(s->site));
    cf_promise_release(s->promise);
    s->promise = NULL;
    cf__drain_ticks(loop); /* the reactions run now: the loop will not run again */
}

/* Slot destructor, from cf_loop_close: the promises nobody settled in time. */
static void pending_free(void *p)
{
    pending_list *pl = p;
    cf_loop *loop = NULL;
    while (!cf_queue_empty(&pl->settlers)) {
        cf_settler *s = cf_queue_data(cf_queue_head(&pl->settlers), cf_settler, link);
        loop = cf_promise_loop(s->promise);
        reject_closed(loop, s);
        settler_unref(s);
    }
    cf__free(pl);
}

static pending_list *pending_of(cf_loop *loop)
{
    pending_list *pl = cf__loop_slot(loop, CF__SLOT_REMOTE);
    if (pl)
        return pl;
    pl = cf__malloc(sizeof(*pl));
    if (!pl)
        return NULL;
    cf_queue_init(&pl->settlers);
    cf__loop_slot_set(loop, CF__SLOT_REMOTE, pl, pending_free);
    return pl;
}

CF__NOINLINE int cf_promise_remote(cf_loop *loop, cf_promise **p, cf_settler **settler)
{
    if (p)
        *p = NULL;
    if (settler)
        *settler = NULL;
    if (!loop || !p || !settler)
        return CF_EINVAL;
    pending_list *pl = pending_of(loop);
    cf_settler *s = pl ? cf__calloc(1, sizeof(*s)) : NULL;
    if (!s)
        return CF_ENOMEM;
    s->site = CF__SITE_CALLER();
    int rc = cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &s->remote);
    if (rc == 0) {
        s->promise = cf_promise_new(loop);
        rc = s->promise ? 0 : CF_ENOMEM;
    }
    if (rc < 0) {
        cf_remote_release(s->remote);
        cf__free(s);
        return rc;
    }
    atomic_init(&s->refs, 2);
    cf_queue_insert_tail(&pl->settlers, &s->link);
    *p = cf_promise_retain(s->promise);
    *settler = s;
    return 0;
}

/* On the owner's loop: settle, or (status CF_ECANCELED) the loop is closing first. */
static void on_settle(cf_loop *loop, int status, void *data)
{
    cf_settler *s = data;
    if (status < 0) {
        if (s->dtor)
            s->dtor(s->value);
        cf_error_free(s->err);
        reject_closed(loop, s);
    } else {
        cf_queue_remove(&s->link);
        if (s->rejected)
            cf_promise_reject(s->promise, s->err);
        else
            cf_promise_resolve(s->promise, s->value, s->dtor);
        cf_promise_release(s->promise);
        s->promise = NULL;
    }
    cf_remote_release(s->remote); /* after the settlement: the loop may end now */
    settler_unref(s);             /* the post's (the settling side's) reference */
    settler_unref(s);             /* the loop's */
}

static int settle(cf_settler *s)
{
    int rc = cf__remote_push(s->remote, &s->post, on_settle, s);
    if (rc == 0)
        return 0;
    /* The loop has closed: its side has rejected the promise and let go. */
    if (s->dtor)
        s->dtor(s->value);
    cf_error_free(s->err);
    cf_remote_release(s->remote);
    settler_unref(s);
    return rc;
}

int cf_settler_resolve(cf_settler *settler, void *value, void (*dtor)(void *))
{
    if (!settler) {
        if (dtor)
            dtor(value);
        return CF_EINVAL;
    }
    settler->value = value;
    settler->dtor = dtor;
    return settle(settler);
}

int cf_settler_reject(cf_settler *settler, cf_error *err)
{
    if (!settler) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    if (!err)
        err = cf_error_new(CF_EUNKNOWN, NULL, 0, NULL, NULL);
    settler->rejected = 1;
    settler->err = err;
    return settle(settler);
}

void cf_settler_drop(cf_settler *settler)
{
    if (!settler)
        return;
    cf_settler_reject(settler, cf_error_new(CF_ECANCELED, NULL, 0, NULL,
                                            "The settler was dropped before settling"));
}
