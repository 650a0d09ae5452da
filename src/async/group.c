/*
 * Task groups: structured concurrency (calcifer/group.h; model: libdill's bundles).
 *
 * A group is an abort controller, the list of its tasks that have not ended, the first
 * failure, and the promise its waiters wait on. Its tasks are ordinary tasks started with the
 * group's signal as their cancellation signal, so cancelling the group is aborting that
 * signal; each task reports its end here (cf__group_task_ended) before its own promise
 * settles.
 *
 * Invariants:
 *  - `count` is the length of `tasks`: a task joins before it first runs and leaves when its
 *    function has returned;
 *  - `idle` is pending, or NULL: it is made by the first waiter while tasks run and settled
 *    (then dropped) when `count` falls to 0;
 *  - the first failure is kept in `error_code` (and `error`, a copy); any failure aborts the
 *    group's signal (fail fast);
 *  - closing resumes every suspended task with CF_ECANCELED until it ends; since every await
 *    of a cancelled task fails at once, each ends within that one resumption;
 *  - the group is a loop handle (core/handle.h) so that its close callback runs in the close
 *    phase like every handle's, and cf_loop_close reports a group never closed (CF_EBUSY). It
 *    is never ACTIVE for keep-alive: a group holds no loop resource of its own, its tasks
 *    keep the loop alive through what they await (as pending promises do not, in Node).
 */
#include "calcifer/group.h"

#include "async/task.h"
#include "core/handle.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

struct cf_group {
    cf__handle h;
    cf_loop *loop;
    cf_abort_controller *ctrl;
    cf_queue tasks; /* tasks that have not ended (cf_task.glink) */
    size_t count;
    int error_code;
    cf_error *error;          /* copy of the first failure (NULL if it could not be copied) */
    cf_promise *idle;         /* what waiters wait on while tasks run */
    cf_abort_listener parent; /* on the signal of the task that made the group */
    int closing;
    cf_close_cb close_cb;
    void *close_data;
};

static void on_parent_abort(cf_abort_listener *l, cf_abort_signal *s)
{
    cf_group *g = CF_CONTAINER_OF(l, cf_group, parent);
    const cf_error *why = cf_abort_signal_reason(s);
    (void)cf_abort(g->ctrl, why ? cf_error_copy(why) : NULL);
}

/*
 * cf__loop_close_all: close it as cf_group_close does (its waiting tasks end with
 * CF_ECANCELED). From inside one of its own tasks the close is refused; it stays open.
 */
static void group_close_req(cf__handle *h)
{
    (void)cf_group_close(CF_CONTAINER_OF(h, cf_group, h), NULL, NULL);
}

CF__NOINLINE int cf_group_new(cf_loop *loop, cf_group **out)
{
    const void *site = CF__SITE_CALLER().pc; /* named by cf_loop_print_handles */
    if (!out)
        return CF_EINVAL;
    *out = NULL;
    if (!loop)
        return CF_EINVAL;
    cf_group *g = cf__calloc(1, sizeof(*g));
    if (!g)
        return CF_ENOMEM;
    if (cf_abort_new(&g->ctrl) < 0) {
        cf__free(g);
        return CF_ENOMEM;
    }
    g->loop = loop;
    cf__handle_init_at(loop, &g->h, site);
    cf__handle_set_close_req(&g->h, group_close_req);
    cf_queue_init(&g->tasks);
    cf_task *t = cf_task_current();
    cf_abort_signal *parent = t && cf_task_loop(t) == loop ? cf_task_signal(t) : NULL;
    if (parent && cf_abort_signal_listen(parent, &g->parent, on_parent_abort) < 0) {
        const cf_error *why = cf_abort_signal_reason(parent);
        (void)cf_abort(g->ctrl, why ? cf_error_copy(why) : NULL);
    }
    *out = g;
    return 0;
}

/* ---- start ---- */

int cf_group_spawn_ex(cf_group *g, cf_async_fn fn, void *arg, const cf_task_opts *opts,
                      cf_promise **out)
{
    if (out)
        *out = NULL;
    if (!g || !fn || g->closing || (opts && opts->signal))
        return CF_EINVAL;
    cf_promise *p = NULL;
    if (out) {
        p = cf_promise_new(g->loop);
        if (!p)
            return CF_ENOMEM;
        cf__promise_mark_handled(p); /* the group reports the failures */
    }
    int rc = cf__task_start(g->loop, fn, arg, opts, g, p);
    if (rc < 0) {
        cf_promise_release(p);
        return rc;
    }
    if (out)
        *out = p;
    return 0;
}

int cf_group_spawn(cf_group *g, cf_async_fn fn, void *arg)
{
    return cf_group_spawn_ex(g, fn, arg, NULL, NULL);
}

void cf__group_task_joined(cf_group *g, cf_task *t)
{
    cf_queue_insert_tail(&g->tasks, &t->glink);
    g->count++;
}

/* Settle `p` with the group's outcome: NULL, or a copy of the first failure. */
static void settle_outcome(cf_group *g, cf_promise *p)
{
    if (!g->error_code) {
        (void)cf_promise_resolve(p, NULL, NULL);
        return;
    }
    cf_error *e = g->error ? cf_error_copy(g->error) : NULL;
    (void)cf_promise_reject(p, e ? e : cf_error_new(g->error_code, NULL, 0, NULL, NULL));
}

void cf__group_task_ended(cf_group *g, cf_task *t, int rc, const cf_error *err)
{
    CF_UNUSED(t);
    CF_ASSERT(g->count > 0);
    g->count--;
    if (rc < 0 && !g->error_code) {
        g->error_code = rc;
        g->error = err ? cf_error_copy(err) : NULL;
        (void)cf_abort(g->ctrl, NULL); /* fail fast: cancel the others */
    }
    if (g->count == 0 && g->idle) {
        cf_promise *p = g->idle;
        g->idle = NULL;
        settle_outcome(g, p);
        cf_promise_release(p);
    }
}

/* ---- wait, cancel ---- */

cf_promise *cf_group_wait_p(cf_group *g)
{
    if (!g)
        return NULL;
    if (g->count == 0) {
        cf_promise *p = cf_promise_new(g->loop);
        if (p)
            settle_outcome(g, p);
        return p;
    }
    if (!g->idle) {
        g->idle = cf_promise_new(g->loop);
        if (!g->idle)
            return NULL;
    }
    return cf_promise_retain(g->idle);
}

/* The errors of waits that cannot start. */
static const cf_error wait_notask = {.code = CF_ENOTASK, .message = "group wait outside a task"};
static const cf_error wait_null = {.code = CF_EINVAL, .message = "group wait on a NULL group"};
static const cf_error wait_own = {.code = CF_EBUSY,
                                  .message = "group wait from one of the group's own tasks"};

__attribute__((noinline)) cf_result cf_group_wait(cf_group *g)
{
    cf_task *t = cf_task_current();
    if (!t)
        return (cf_result){CF_ENOTASK, 0, NULL, &wait_notask};
    if (!g)
        return (cf_result){CF_EINVAL, 0, NULL, &wait_null};
    if (t->group == g)
        return (cf_result){CF_EBUSY, 0, NULL, &wait_own};
    return cf__await_from(cf_group_wait_p(g),
                          __builtin_extract_return_addr(__builtin_return_address(0)));
}

void cf_group_cancel(cf_group *g)
{
    if (g)
        (void)cf_abort(g->ctrl, NULL);
}

/* ---- inspect ---- */

cf_abort_signal *cf_group_signal(const cf_group *g)
{
    return g ? cf_abort_get_signal(g->ctrl) : NULL;
}

size_t cf_group_count(const cf_group *g)
{
    return g ? g->count : 0;
}

const cf_error *cf_group_error(const cf_group *g)
{
    return g ? g->error : NULL;
}

int cf_group_is_active(const cf_group *g)
{
    return g && g->count > 0;
}

/* ---- close ---- */

/* The close phase: the tasks ended in cf_group_close; free the rest, then the callback. */
static void group_closed(cf__handle *h)
{
    cf_group *g = CF_CONTAINER_OF(h, cf_group, h);
    cf_close_cb cb = g->close_cb;
    void *data = g->close_data;
    cf_abort_free(g->ctrl);
    cf_error_free(g->error);
    cf__free(g);
    if (cb)
        cb(data);
}

int cf_group_close(cf_group *g, cf_close_cb cb, void *data)
{
    if (!g)
        return CF_EINVAL;
    if (g->closing)
        return CF_ECLOSED;
    if (cf__task_chain_in_group(g))
        return CF_EBUSY;
    g->closing = 1;
    cf_group_cancel(g);
    while (!cf_queue_empty(&g->tasks)) {
        cf_task *t = cf_queue_data(cf_queue_head(&g->tasks), cf_task, glink);
        CF_ASSERT(t->waiting);
        cf__task_force(t, CF_ECANCELED);
    }
    CF_ASSERT(!g->idle);
    cf_abort_signal_unlisten(&g->parent);
    g->close_cb = cb;
    g->close_data = data;
    return cf__handle_close(&g->h, group_closed);
}
