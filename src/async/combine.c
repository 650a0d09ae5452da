/*
 * Promise combinators (≈ Promise.all, allSettled, race, any), as V8 runs them.
 *
 * Each call makes one `combine` state holding a reference to every input (in input order)
 * and to the result promise until it settles, and attaches one internal reaction per input,
 * in input order. A reaction runs one microtask turn after its input settles, so among inputs
 * already settled the first in input order is seen first (race's winner) and an all over
 * settled inputs takes two turns (V8: the element functions, then the result's reactions).
 *
 * The state is reference counted: one reference for the setup, one per attached reaction and,
 * for all/allSettled, one held by the result promise's value (the `cf_promise_list` inside the
 * state, listing the inputs). Aggregate errors (any) are one block that cf_error_free releases:
 * the cf_error, a tag, the count, the copied reasons, then every message.
 */
#include <string.h>

#include "async/promise.h"
#include "util/alloc.h"
#include "util/util.h"

enum { K_ALL, K_ALL_SETTLED, K_RACE, K_ANY };

typedef struct combine {
    cf__async_res res; /* tracked, so cf_loop_close frees it if it is still alive */
    cf_loop *loop;
    cf_promise *result; /* one reference until the result settles */
    cf_promise_list list;
    size_t remaining;
    size_t refs;
    int kind;
    cf_promise *items[]; /* one reference each (NULL past a failed setup) */
} combine;

#define AGG_MAGIC UINT64_C(0x63666167677265) /* "cfaggre" */

typedef struct agg_header {
    cf_error base;
    uint64_t magic;
    size_t len;
} agg_header;

static const cf_promise_list empty_list = {0, NULL};
static const char agg_message[] = "All promises were rejected";

static void combine_unref(combine *c)
{
    if (--c->refs > 0)
        return;
    cf__async_untrack(c->loop, &c->res);
    cf_promise_release(c->result);
    for (size_t i = 0; i < c->list.len; i++) {
        cf_promise_release(c->items[i]);
    }
    cf__free(c);
}

/* The result promise's value destructor (all, allSettled). */
static void combine_value_unref(void *list)
{
    combine *c = CF_CONTAINER_OF(list, combine, list);
    combine_unref(c);
}

/* cf_loop_close: memory only (the promises are being freed by the promise layer). */
static void combine_destroy(cf__async_res *res)
{
    cf__free(CF_CONTAINER_OF(res, combine, res));
}

/* The result has settled: drop the reference to it. */
static void combine_done(combine *c)
{
    cf_promise *r = c->result;
    c->result = NULL;
    cf_promise_release(r);
}

/* ---- aggregate errors ---- */

/* An aggregate error listing the errors of the (rejected) `items`, in order. */
static cf_error *aggregate_new(cf_promise *const *items, size_t n)
{
    size_t size = sizeof(agg_header) + n * sizeof(cf_error) + sizeof(agg_message);
    for (size_t i = 0; i < n; i++) {
        const cf_error *e = cf_promise_error(items[i]);
        size += strlen(e && e->message ? e->message : "") + 1;
    }
    agg_header *h = cf__malloc(size);
    if (!h)
        return NULL;
    cf_error *errs = (cf_error *)(h + 1);
    char *text = (char *)(errs + n);
    memcpy(text, agg_message, sizeof(agg_message));
    h->base = (cf_error){CF_EAGGREGATE, text, NULL, 0, NULL, NULL, NULL};
    h->magic = AGG_MAGIC;
    h->len = n;
    text += sizeof(agg_message);
    for (size_t i = 0; i < n; i++) {
        const cf_error *e = cf_promise_error(items[i]);
        const char *m = e && e->message ? e->message : "";
        size_t len = strlen(m) + 1;
        memcpy(text, m, len);
        errs[i] = e ? *e : (cf_error){CF_EUNKNOWN, NULL, NULL, 0, NULL, NULL, NULL};
        errs[i].message = text;
        errs[i].cause = NULL; /* the items live in this block; a cause stays with its error */
        text += len;
    }
    return &h->base;
}

const cf_error *cf_promise_aggregate_errors(const cf_error *err, size_t *len)
{
    if (len)
        *len = 0;
    /* An error made by cf_error_new keeps its message right after the struct. */
    if (!err || err->code != CF_EAGGREGATE || err->message == (const char *)(err + 1))
        return NULL;
    const agg_header *h = (const agg_header *)err;
    if (h->magic != AGG_MAGIC)
        return NULL;
    if (len)
        *len = h->len;
    return (const cf_error *)(h + 1);
}

/* ---- element reactions ---- */

static void element(cf_promise *src, void *data, size_t index)
{
    combine *c = data;
    (void)index;
    if (!c->result) {
        combine_unref(c);
        return;
    }
    int fulfilled = cf_promise_state(src) == CF_PROMISE_FULFILLED;
    switch (c->kind) {
    case K_ALL:
    case K_ALL_SETTLED:
        if (c->kind == K_ALL && !fulfilled) {
            cf_promise_follow(c->result, src);
            combine_done(c);
        } else if (--c->remaining == 0) {
            c->refs++;
            cf__promise_pin(c->result);
            cf_promise_resolve(c->result, &c->list, combine_value_unref);
            combine_done(c);
        }
        break;
    case K_RACE:
        cf_promise_follow(c->result, src);
        combine_done(c);
        break;
    case K_ANY:
        if (fulfilled) {
            cf_promise_follow(c->result, src);
            combine_done(c);
        } else if (--c->remaining == 0) {
            cf_promise_reject(c->result, aggregate_new(c->items, c->list.len));
            combine_done(c);
        }
        break;
    }
    combine_unref(c);
}

/* ---- setup ---- */

/* The result of a combinator over no input. */
static void settle_empty(cf_promise *result, int kind)
{
    if (kind == K_ALL || kind == K_ALL_SETTLED)
        cf_promise_resolve(result, (void *)&empty_list, NULL);
    else if (kind == K_ANY)
        cf_promise_reject(result, aggregate_new(NULL, 0));
    /* race([]) stays pending forever. */
}

/* Take a reference to every input (a NULL one becomes a promise rejected with CF_ENOMEM). */
static int take_inputs(combine *c, cf_promise *const *promises, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cf_promise *p = promises[i];
        c->items[i] = p ? cf_promise_retain(p) : cf_promise_rejected(c->loop, NULL);
        if (!c->items[i])
            return CF_ENOMEM;
        c->list.len = i + 1;
    }
    return 0;
}

static combine *combine_new(cf_loop *loop, cf_promise *result, size_t n, int kind)
{
    if (n > (SIZE_MAX - sizeof(combine)) / sizeof(cf_promise *))
        return NULL;
    combine *c = cf__calloc(1, sizeof(*c) + n * sizeof(cf_promise *));
    if (!c)
        return NULL;
    c->loop = loop;
    c->result = cf_promise_retain(result);
    c->list.items = c->items;
    c->remaining = n;
    c->refs = 1;
    c->kind = kind;
    c->res.destroy = combine_destroy;
    cf__async_track(loop, &c->res);
    return c;
}

static cf_promise *combine_start(cf_loop *loop, cf_promise *const *promises, size_t n, int kind)
{
    cf_promise *result = cf_promise_new(loop);
    if (!result)
        return NULL;
    if (n > 0 && !promises) {
        cf_promise_reject(result, CF_ERROR(CF_EINVAL, "promise combinator: NULL input array"));
        return result;
    }
    if (n == 0) {
        settle_empty(result, kind);
        return result;
    }
    combine *c = combine_new(loop, result, n, kind);
    if (!c) {
        cf_promise_reject(result, NULL);
        return result;
    }
    int rc = take_inputs(c, promises, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cf__promise_react_call(c->items[i], element, c, i);
        if (rc == 0)
            c->refs++;
    }
    if (rc < 0) {
        /* Reactions already attached find the result settled and do nothing. */
        cf_promise_reject(c->result, NULL);
        combine_done(c);
    }
    combine_unref(c);
    return result;
}

cf_promise *cf_promise_allv(cf_loop *loop, cf_promise *const *promises, size_t n)
{
    return combine_start(loop, promises, n, K_ALL);
}

cf_promise *cf_promise_all_settledv(cf_loop *loop, cf_promise *const *promises, size_t n)
{
    return combine_start(loop, promises, n, K_ALL_SETTLED);
}

cf_promise *cf_promise_racev(cf_loop *loop, cf_promise *const *promises, size_t n)
{
    return combine_start(loop, promises, n, K_RACE);
}

cf_promise *cf_promise_anyv(cf_loop *loop, cf_promise *const *promises, size_t n)
{
    return combine_start(loop, promises, n, K_ANY);
}
