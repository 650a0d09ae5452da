/*
 * Calcifer's promises as JavaScript promises: a Node-API addon, the adapter the Promises/A+
 * test suite (the promises-aplus-tests npm package) runs against (adapter.js).
 *
 * Every promise a script sees is a cf_promise of one Calcifer loop per Node environment,
 * wrapped in a CalciferPromise object whose `then` is cf_promise_then. The addon only
 * translates between the two worlds; what a promise does (states, settling once, reaction
 * order and timing, adopting promises and thenables, ignoring a thenable's later calls and a
 * throw after it resolved, rejecting a promise resolved with itself) is Calcifer's:
 *   - values: a fulfilled promise holds a `jsval` (a napi_ref to the value, boxed when the
 *     value is a primitive, which older Node-API versions cannot reference), deleted by the
 *     promise's value destructor; `undefined` is NULL both ways;
 *   - reasons: a rejected promise holds a `js_reason`, a cf_error with the JavaScript value
 *     beside it (cf_promise_reject_with, freed by its own destructor), told from Calcifer's
 *     own errors by its `file` field; Calcifer's errors reach JavaScript as Error objects
 *     (TypeError for CF_ECYCLE, as the A+ resolution procedure requires);
 *   - handlers: a JavaScript onFulfilled/onRejected runs from a C handler of cf_promise_then,
 *     called with `this` undefined; what it returns resolves `next`, what it throws rejects it;
 *   - [[Resolve]](promise, x) (resolve_js): a CalciferPromise is adopted with cf_promise_adopt;
 *     for any other object or function, `x.then` is read once (a throw rejects) and, if it is
 *     callable, adopted through Calcifer's thenable interface (cf_promise_adopt_thenable),
 *     whose `then` calls it with `x` as `this` and resolving functions bound to Calcifer's
 *     resolver; anything else fulfils.
 *
 * Driving the loop (see docs/promise.md): Calcifer queues reactions on its own microtask FIFO;
 * after every call from JavaScript that can queue Calcifer work, the addon queues one Node
 * microtask (queueMicrotask) that runs cf_run(loop, CF_RUN_NOWAIT), which drains that FIFO
 * (reactions queued meanwhile included) and returns. Calls made from inside that drain need
 * none: the drain runs their work too.
 *
 * Lifetimes: a CalciferPromise object holds one reference to its cf_promise, released when it
 * is collected; finalizers only note the promise (GC may run them at any allocation), and the
 * references are dropped at the start of the next drain. The environment's teardown closes the
 * loop, which frees every promise left.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

typedef struct addon addon;

/* The handlers of one `then` call, kept in the addon's list until they run or teardown. */
typedef struct handlers {
    struct handlers *prev;
    struct handlers *next;
    addon *a;
    napi_ref on_fulfilled; /* NULL: not a function (the outcome passes through) */
    napi_ref on_rejected;
} handlers;

struct addon {
    napi_env env;
    cf_loop *loop;
    napi_ref ctor;     /* the CalciferPromise class */
    napi_ref enqueue;  /* globalThis.queueMicrotask */
    napi_ref drain;    /* the function queued to drain the loop */
    int scheduled;     /* a drain is queued */
    int draining;      /* inside cf_run */
    int closing;       /* the environment is being torn down: no more Node-API calls */
    int wrapping;      /* set by the constructor once it wrapped its promise */
    cf_promise **dead; /* released by finalizers, dropped at the next drain */
    size_t ndead;
    size_t capdead;
    handlers live; /* sentinel of the list of handlers not yet run */
    double drains; /* figures for the test's report (stats()) */
    double handler_calls;
    double thenable_calls;
    double unhandled;
};

/* The tag of CalciferPromise objects (napi_check_object_type_tag). */
static const napi_type_tag promise_tag = {0xca1c1fe7a91u, 0x5eed0f0a11b1e5u};

/* The `file` of the cf_errors that carry a JavaScript value (compared by address). */
static const char js_reason_file[] = "<javascript>";

/* ---- small Node-API helpers ---- */

static napi_value undefined_value(napi_env env)
{
    napi_value u = NULL;
    napi_get_undefined(env, &u);
    return u;
}

static napi_value throw_error(napi_env env, const char *message)
{
    napi_throw_error(env, NULL, message);
    return NULL;
}

static int is_function(napi_env env, napi_value v)
{
    napi_valuetype t = napi_undefined;
    return v && napi_typeof(env, v, &t) == napi_ok && t == napi_function;
}

static napi_value ref_value(napi_env env, napi_ref ref)
{
    napi_value v = NULL;
    if (napi_get_reference_value(env, ref, &v) != napi_ok)
        return NULL;
    return v;
}

/* The pending exception, cleared (an Error when a call failed without one). */
static napi_value take_exception(napi_env env)
{
    bool pending = false;
    napi_value e = NULL;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &e) == napi_ok && e)
        return e;
    napi_value msg = NULL;
    napi_create_string_utf8(env, "a Node-API call failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &e);
    return e;
}

/* ---- values and reasons ---- */

typedef struct jsval {
    addon *a;
    napi_ref ref;
    int boxed; /* ref is {v: value}: the value is a primitive */
} jsval;

static int jsval_init(jsval *j, addon *a, napi_value v)
{
    napi_valuetype t = napi_undefined;
    napi_env env = a->env;
    j->a = a;
    j->ref = NULL;
    j->boxed = 0;
    if (napi_typeof(env, v, &t) != napi_ok)
        return -1;
    if (t != napi_object && t != napi_function && t != napi_external) {
        napi_value box = NULL;
        if (napi_create_object(env, &box) != napi_ok ||
            napi_set_named_property(env, box, "v", v) != napi_ok)
            return -1;
        v = box;
        j->boxed = 1;
    }
    return napi_create_reference(env, v, 1, &j->ref) == napi_ok ? 0 : -1;
}

static napi_value jsval_get(const jsval *j)
{
    napi_env env = j->a->env;
    napi_value v = ref_value(env, j->ref);
    if (v && j->boxed) {
        napi_value inner = NULL;
        if (napi_get_named_property(env, v, "v", &inner) != napi_ok)
            return NULL;
        v = inner;
    }
    return v;
}

static void jsval_clear(jsval *j)
{
    /* At teardown the environment has deleted every reference already. */
    if (j->ref && !j->a->closing)
        napi_delete_reference(j->a->env, j->ref);
    j->ref = NULL;
}

/* A promise value destructor. */
static void jsval_free(void *v)
{
    jsval_clear(v);
    free(v);
}

typedef struct js_reason {
    cf_error base; /* first: the promise holds &base */
    jsval v;
} js_reason;

/* A cf_promise_reject_with destructor. */
static void js_reason_free(void *e)
{
    jsval_clear(&((js_reason *)e)->v);
    free(e);
}

/* Reject `target` with the JavaScript value `reason` (ignored by Calcifer when resolved). */
static void reject_js(addon *a, cf_promise *target, napi_value reason)
{
    js_reason *r = calloc(1, sizeof(*r));
    if (!r || jsval_init(&r->v, a, reason) < 0) {
        if (r)
            js_reason_free(r);
        cf_promise_reject(target, CF_ERROR(CF_ENOMEM, "cannot hold a JavaScript reason"));
        return;
    }
    r->base.code = CF_EUNKNOWN;
    r->base.message = "rejected with a JavaScript value";
    r->base.file = js_reason_file;
    r->base.line = 0;
    r->base.func = "javascript";
    cf_promise_reject_with(target, &r->base, js_reason_free);
}

static void reject_exception(addon *a, cf_promise *target)
{
    reject_js(a, target, take_exception(a->env));
}

/* What JavaScript sees of a settled promise: its value or its reason. */
static napi_value outcome_to_js(addon *a, cf_promise *settled)
{
    napi_env env = a->env;
    if (cf_promise_state(settled) == CF_PROMISE_FULFILLED) {
        jsval *v = cf_promise_value(settled);
        return v ? jsval_get(v) : undefined_value(env);
    }
    const cf_error *e = cf_promise_error(settled);
    if (e->file == js_reason_file)
        return jsval_get(&((const js_reason *)e)->v);
    /* One of Calcifer's own errors: an Error with its code, a TypeError for a cycle. */
    napi_value code = NULL;
    napi_value msg = NULL;
    napi_value err = NULL;
    if (napi_create_string_utf8(env, cf_err_name(e->code), NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_string_utf8(env, cf_error_message(e), NAPI_AUTO_LENGTH, &msg) != napi_ok)
        return NULL;
    if (e->code == CF_ECYCLE)
        napi_create_type_error(env, code, msg, &err);
    else
        napi_create_error(env, code, msg, &err);
    return err;
}

/* ---- CalciferPromise objects ---- */

static void note_dead(addon *a, cf_promise *p)
{
    if (a->ndead == a->capdead) {
        size_t cap = a->capdead ? a->capdead * 2 : 64;
        cf_promise **d = realloc(a->dead, cap * sizeof(*d));
        if (!d)
            return; /* the promise stays until the loop closes */
        a->dead = d;
        a->capdead = cap;
    }
    a->dead[a->ndead++] = p;
}

static void release_dead(addon *a)
{
    while (a->ndead > 0) {
        cf_promise_release(a->dead[--a->ndead]);
    }
}

/* Finalizer of a CalciferPromise: only note the promise (GC can run this anywhere). */
static void promise_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    note_dead(hint, data);
}

/* new CalciferPromise(external): only the addon makes them. */
static napi_value promise_construct(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value arg = NULL;
    napi_value self = NULL;
    addon *a = NULL;
    napi_valuetype t = napi_undefined;
    if (napi_get_cb_info(env, info, &argc, &arg, &self, (void **)&a) != napi_ok)
        return NULL;
    if (argc < 1 || napi_typeof(env, arg, &t) != napi_ok || t != napi_external) {
        napi_throw_type_error(env, NULL,
                              "CalciferPromise objects are made by resolved, rejected, deferred "
                              "and then");
        return NULL;
    }
    void *p = NULL;
    if (napi_get_value_external(env, arg, &p) != napi_ok ||
        napi_wrap(env, self, p, promise_finalize, a, NULL) != napi_ok)
        return NULL;
    a->wrapping = 1;
    napi_type_tag_object(env, self, &promise_tag);
    return self;
}

/* A CalciferPromise for `p`, taking the caller's reference to it. NULL: exception pending. */
static napi_value wrap_promise(addon *a, cf_promise *p)
{
    napi_env env = a->env;
    napi_value ctor = ref_value(env, a->ctor);
    napi_value ext = NULL;
    napi_value obj = NULL;
    a->wrapping = 0;
    if (!ctor || napi_create_external(env, p, NULL, NULL, &ext) != napi_ok ||
        napi_new_instance(env, ctor, 1, &ext, &obj) != napi_ok) {
        if (!a->wrapping)
            cf_promise_release(p);
        return NULL;
    }
    return obj;
}

/* The cf_promise of a CalciferPromise, or NULL for any other value. */
static cf_promise *unwrap_promise(addon *a, napi_value v)
{
    napi_env env = a->env;
    napi_valuetype t = napi_undefined;
    bool tagged = false;
    void *p = NULL;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_object ||
        napi_check_object_type_tag(env, v, &promise_tag, &tagged) != napi_ok || !tagged ||
        napi_unwrap(env, v, &p) != napi_ok)
        return NULL;
    return p;
}

/* ---- driving the loop ---- */

/* Queue a drain of the Calcifer loop as a Node microtask, unless one is queued or running. */
static void schedule_drain(addon *a)
{
    if (a->draining || a->scheduled || a->closing)
        return;
    napi_env env = a->env;
    napi_value enqueue = ref_value(env, a->enqueue);
    napi_value drain = ref_value(env, a->drain);
    napi_value global = NULL;
    napi_value ignored = NULL;
    if (!enqueue || !drain || napi_get_global(env, &global) != napi_ok)
        return;
    if (napi_call_function(env, global, enqueue, 1, &drain, &ignored) == napi_ok)
        a->scheduled = 1;
}

/* The queued microtask: run Calcifer's microtasks (and an iteration of its loop). */
static napi_value drain_loop(napi_env env, napi_callback_info info)
{
    addon *a = NULL;
    if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&a) != napi_ok)
        return NULL;
    a->scheduled = 0;
    a->drains++;
    release_dead(a);
    a->draining = 1;
    int rc = cf_run(a->loop, CF_RUN_NOWAIT);
    a->draining = 0;
    if (rc < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "calcifer: the loop's run failed: %s", cf_strerror(rc));
        return throw_error(env, msg);
    }
    return NULL;
}

/* The A+ suite leaves rejected promises unobserved on purpose: count them, nothing more. */
static void on_unhandled(cf_promise *p, void *data)
{
    (void)p;
    ((addon *)data)->unhandled++;
}

/* ---- [[Resolve]](target, x) ---- */

typedef struct js_thenable {
    cf_thenable base; /* first: Calcifer holds &base */
    addon *a;
    napi_ref x;
    napi_ref then;
} js_thenable;

static void resolve_js(addon *a, cf_promise *target, napi_value x);

/* Resolving functions (resolvePromise, rejectPromise) bound to one Calcifer promise. */
typedef struct resolving {
    addon *a;
    cf_promise *target; /* one reference, dropped when both functions are collected */
    int functions;
} resolving;

static napi_value resolving_call(napi_env env, napi_callback_info info, int reject)
{
    size_t argc = 1;
    napi_value x = NULL;
    resolving *r = NULL;
    if (napi_get_cb_info(env, info, &argc, &x, NULL, (void **)&r) != napi_ok)
        return NULL;
    if (argc < 1)
        x = undefined_value(env);
    /* Once resolved, a call does nothing: not even read x.then. */
    if (!cf_promise_is_resolved(r->target)) {
        if (reject)
            reject_js(r->a, r->target, x);
        else
            resolve_js(r->a, r->target, x);
    }
    schedule_drain(r->a);
    return NULL;
}

static napi_value resolve_function(napi_env env, napi_callback_info info)
{
    return resolving_call(env, info, 0);
}

static napi_value reject_function(napi_env env, napi_callback_info info)
{
    return resolving_call(env, info, 1);
}

static void resolving_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    resolving *r = data;
    if (--r->functions == 0) {
        note_dead(r->a, r->target);
        free(r);
    }
}

/* resolvePromise and rejectPromise for `target` (retained). Returns 0, or -1 (exception). */
static int make_resolving_functions(addon *a, cf_promise *target, napi_value out[2])
{
    napi_env env = a->env;
    resolving *r = calloc(1, sizeof(*r));
    if (!r) {
        napi_throw_error(env, NULL, "calcifer: out of memory");
        return -1;
    }
    r->a = a;
    r->target = cf_promise_retain(target);
    static const char *names[2] = {"resolvePromise", "rejectPromise"};
    napi_callback fns[2] = {resolve_function, reject_function};
    for (int i = 0; i < 2; i++) {
        if (napi_create_function(env, names[i], NAPI_AUTO_LENGTH, fns[i], r, &out[i]) != napi_ok ||
            napi_add_finalizer(env, out[i], r, resolving_finalize, NULL, NULL) != napi_ok) {
            if (r->functions == 0) {
                cf_promise_release(r->target);
                free(r);
            }
            return -1;
        }
        r->functions++;
    }
    return 0;
}

/* Calcifer's thenable hook: x.then(resolvePromise, rejectPromise), in its own microtask. */
static cf_error *js_thenable_then(cf_thenable *self, cf_promise *resolver)
{
    js_thenable *t = (js_thenable *)self;
    addon *a = t->a;
    napi_env env = a->env;
    napi_handle_scope scope = NULL;
    napi_open_handle_scope(env, &scope);
    a->thenable_calls++;
    napi_value x = ref_value(env, t->x);
    napi_value then = ref_value(env, t->then);
    napi_value fns[2];
    napi_value ignored = NULL;
    if (!x || !then || make_resolving_functions(a, resolver, fns) < 0 ||
        napi_call_function(env, x, then, 2, fns, &ignored) != napi_ok) {
        /* ≈ then threw: Calcifer ignores it if the resolver was resolved already. */
        reject_exception(a, resolver);
    }
    napi_close_handle_scope(env, scope);
    return NULL;
}

static void js_thenable_release(cf_thenable *self)
{
    js_thenable *t = (js_thenable *)self;
    if (!t->a->closing) {
        if (t->x)
            napi_delete_reference(t->a->env, t->x);
        if (t->then)
            napi_delete_reference(t->a->env, t->then);
    }
    free(t);
}

/* Adopt the thenable x whose then is `then`, through Calcifer's thenable interface. */
static void adopt_js_thenable(addon *a, cf_promise *target, napi_value x, napi_value then)
{
    napi_env env = a->env;
    js_thenable *t = calloc(1, sizeof(*t));
    if (!t) {
        cf_promise_reject(target, CF_ERROR(CF_ENOMEM, "cannot adopt a JavaScript thenable"));
        return;
    }
    t->base.then = js_thenable_then;
    t->base.release = js_thenable_release;
    t->a = a;
    if (napi_create_reference(env, x, 1, &t->x) != napi_ok ||
        napi_create_reference(env, then, 1, &t->then) != napi_ok) {
        js_thenable_release(&t->base);
        reject_exception(a, target);
        return;
    }
    cf_promise_adopt_thenable(target, &t->base);
}

/* Resolve `target` with the JavaScript value x (the Promises/A+ resolution procedure). */
static void resolve_js(addon *a, cf_promise *target, napi_value x)
{
    napi_env env = a->env;
    napi_valuetype t = napi_undefined;
    if (napi_typeof(env, x, &t) != napi_ok) {
        reject_exception(a, target);
        return;
    }
    cf_promise *inner = unwrap_promise(a, x);
    if (inner) {
        cf_promise_adopt(target, inner); /* itself: Calcifer rejects with CF_ECYCLE */
        return;
    }
    if (t == napi_object || t == napi_function) {
        napi_value then = NULL;
        if (napi_get_named_property(env, x, "then", &then) != napi_ok) {
            reject_exception(a, target); /* the getter threw */
            return;
        }
        if (is_function(env, then)) {
            adopt_js_thenable(a, target, x, then);
            return;
        }
    }
    if (t == napi_undefined) {
        cf_promise_resolve(target, NULL, NULL);
        return;
    }
    jsval *v = calloc(1, sizeof(*v));
    if (!v || jsval_init(v, a, x) < 0) {
        if (v)
            jsval_free(v);
        reject_exception(a, target);
        return;
    }
    cf_promise_resolve(target, v, jsval_free);
}

/* ---- then ---- */

static void handlers_free(handlers *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
    if (!h->a->closing) {
        if (h->on_fulfilled)
            napi_delete_reference(h->a->env, h->on_fulfilled);
        if (h->on_rejected)
            napi_delete_reference(h->a->env, h->on_rejected);
    }
    free(h);
}

/* The C handler of both outcomes: call the JavaScript one, or pass the outcome through. */
static void run_handler(cf_promise *settled, cf_promise *next, void *data)
{
    handlers *h = data;
    addon *a = h->a;
    napi_env env = a->env;
    int fulfilled = cf_promise_state(settled) == CF_PROMISE_FULFILLED;
    napi_ref fn_ref = fulfilled ? h->on_fulfilled : h->on_rejected;
    if (!fn_ref) {
        cf_promise_follow(next, settled); /* 2.2.7.3, 2.2.7.4: the same value or reason */
        handlers_free(h);
        return;
    }
    napi_handle_scope scope = NULL;
    napi_open_handle_scope(env, &scope);
    a->handler_calls++;
    napi_value fn = ref_value(env, fn_ref);
    napi_value arg = outcome_to_js(a, settled);
    napi_value result = NULL;
    handlers_free(h);
    /* Called as a plain function: `this` is undefined (2.2.5). */
    if (fn && arg && napi_call_function(env, undefined_value(env), fn, 1, &arg, &result) == napi_ok)
        resolve_js(a, next, result);
    else
        reject_exception(a, next);
    napi_close_handle_scope(env, scope);
}

static napi_ref function_ref(napi_env env, napi_value v)
{
    napi_ref ref = NULL;
    if (is_function(env, v))
        napi_create_reference(env, v, 1, &ref);
    return ref;
}

/* CalciferPromise.prototype.then(onFulfilled, onRejected) */
static napi_value promise_then(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL};
    napi_value self = NULL;
    addon *a = NULL;
    if (napi_get_cb_info(env, info, &argc, argv, &self, (void **)&a) != napi_ok)
        return NULL;
    cf_promise *p = unwrap_promise(a, self);
    if (!p) {
        napi_throw_type_error(env, NULL, "then: `this` is not a CalciferPromise");
        return NULL;
    }
    napi_ref on_f = argc > 0 ? function_ref(env, argv[0]) : NULL;
    napi_ref on_r = argc > 1 ? function_ref(env, argv[1]) : NULL;
    cf_promise *next = NULL;
    if (!on_f && !on_r) {
        next = cf_promise_then(p, NULL, NULL, NULL); /* 2.2.1: both ignored */
    } else {
        handlers *h = calloc(1, sizeof(*h));
        if (h) {
            h->a = a;
            h->on_fulfilled = on_f;
            h->on_rejected = on_r;
            h->next = a->live.next;
            h->prev = &a->live;
            h->next->prev = h;
            a->live.next = h;
            next = cf_promise_then(p, run_handler, run_handler, h);
            if (!next)
                handlers_free(h);
        } else {
            if (on_f)
                napi_delete_reference(env, on_f);
            if (on_r)
                napi_delete_reference(env, on_r);
        }
    }
    if (!next)
        return throw_error(env, "then: out of memory");
    schedule_drain(a);
    return wrap_promise(a, next);
}

/* ---- the adapter: resolved, rejected, deferred ---- */

static addon *adapter_call(napi_env env, napi_callback_info info, napi_value *arg)
{
    size_t argc = 1;
    addon *a = NULL;
    *arg = NULL;
    if (napi_get_cb_info(env, info, &argc, arg, NULL, (void **)&a) != napi_ok)
        return NULL;
    if (argc < 1)
        *arg = undefined_value(env);
    return a;
}

static napi_value adapter_resolved(napi_env env, napi_callback_info info)
{
    napi_value x = NULL;
    addon *a = adapter_call(env, info, &x);
    cf_promise *p = a ? cf_promise_new(a->loop) : NULL;
    if (!p)
        return throw_error(env, "resolved: out of memory");
    resolve_js(a, p, x);
    schedule_drain(a);
    return wrap_promise(a, p);
}

static napi_value adapter_rejected(napi_env env, napi_callback_info info)
{
    napi_value reason = NULL;
    addon *a = adapter_call(env, info, &reason);
    cf_promise *p = a ? cf_promise_new(a->loop) : NULL;
    if (!p)
        return throw_error(env, "rejected: out of memory");
    reject_js(a, p, reason);
    schedule_drain(a);
    return wrap_promise(a, p);
}

/* deferred(): {promise, resolve, reject} */
static napi_value adapter_deferred(napi_env env, napi_callback_info info)
{
    addon *a = NULL;
    if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&a) != napi_ok)
        return NULL;
    cf_promise *p = cf_promise_new(a->loop);
    if (!p)
        return throw_error(env, "deferred: out of memory");
    napi_value fns[2];
    napi_value obj = NULL;
    if (make_resolving_functions(a, p, fns) < 0 || napi_create_object(env, &obj) != napi_ok) {
        cf_promise_release(p);
        return NULL;
    }
    napi_value promise = wrap_promise(a, p);
    if (!promise || napi_set_named_property(env, obj, "promise", promise) != napi_ok ||
        napi_set_named_property(env, obj, "resolve", fns[0]) != napi_ok ||
        napi_set_named_property(env, obj, "reject", fns[1]) != napi_ok)
        return NULL;
    return obj;
}

/* stats(): figures for the test's report. */
static napi_value adapter_stats(napi_env env, napi_callback_info info)
{
    addon *a = NULL;
    napi_value obj = NULL;
    if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&a) != napi_ok ||
        napi_create_object(env, &obj) != napi_ok)
        return NULL;
    const struct {
        const char *name;
        double value;
    } fields[] = {{"drains", a->drains},
                  {"handlerCalls", a->handler_calls},
                  {"thenableCalls", a->thenable_calls},
                  {"unhandledRejections", a->unhandled}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        napi_value v = NULL;
        if (napi_create_double(env, fields[i].value, &v) != napi_ok ||
            napi_set_named_property(env, obj, fields[i].name, v) != napi_ok)
            return NULL;
    }
    return obj;
}

/* ---- module ---- */

/* The environment's teardown (after every object's finalizer): close the loop. */
static void addon_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    addon *a = data;
    a->closing = 1;
    release_dead(a);
    if (a->loop && cf_loop_close(a->loop) < 0)
        fprintf(stderr, "calcifer_aplus: the loop could not be closed\n");
    while (a->live.next != &a->live) {
        handlers_free(a->live.next);
    }
    free(a->dead);
    free(a);
}

static int define_class(addon *a, napi_env env)
{
    napi_property_descriptor then = {"then", NULL, promise_then, NULL, NULL, NULL, napi_default, a};
    napi_value ctor = NULL;
    return napi_define_class(env, "CalciferPromise", NAPI_AUTO_LENGTH, promise_construct, a, 1,
                             &then, &ctor) == napi_ok &&
                   napi_create_reference(env, ctor, 1, &a->ctor) == napi_ok
               ? 0
               : -1;
}

static int export_functions(addon *a, napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        {"resolved", NULL, adapter_resolved, NULL, NULL, NULL, napi_enumerable, a},
        {"rejected", NULL, adapter_rejected, NULL, NULL, NULL, napi_enumerable, a},
        {"deferred", NULL, adapter_deferred, NULL, NULL, NULL, napi_enumerable, a},
        {"stats", NULL, adapter_stats, NULL, NULL, NULL, napi_enumerable, a},
    };
    return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok
               ? 0
               : -1;
}

/* queueMicrotask and the drain function it is given. */
static int init_scheduler(addon *a, napi_env env)
{
    napi_value global = NULL;
    napi_value enqueue = NULL;
    napi_value drain = NULL;
    if (napi_get_global(env, &global) != napi_ok ||
        napi_get_named_property(env, global, "queueMicrotask", &enqueue) != napi_ok ||
        !is_function(env, enqueue))
        return -1;
    if (napi_create_reference(env, enqueue, 1, &a->enqueue) != napi_ok ||
        napi_create_function(env, "drainCalcifer", NAPI_AUTO_LENGTH, drain_loop, a, &drain) !=
            napi_ok ||
        napi_create_reference(env, drain, 1, &a->drain) != napi_ok)
        return -1;
    return 0;
}

/* The module's entry points (the macro below defines them without a prototype). */
NAPI_MODULE_EXPORT int32_t NODE_API_MODULE_GET_API_VERSION(void);
NAPI_MODULE_EXPORT napi_value NAPI_MODULE_INITIALIZER(napi_env env, napi_value exports);

NAPI_MODULE_INIT()
{
    addon *a = calloc(1, sizeof(*a));
    if (!a)
        return throw_error(env, "calcifer_aplus: out of memory");
    a->env = env;
    a->live.next = &a->live;
    a->live.prev = &a->live;
    int rc = cf_loop_new(&a->loop);
    if (rc < 0) {
        free(a);
        return throw_error(env, cf_strerror(rc));
    }
    if (napi_set_instance_data(env, a, addon_finalize, NULL) != napi_ok) {
        cf_loop_close(a->loop);
        free(a);
        return throw_error(env, "calcifer_aplus: cannot set the instance data");
    }
    cf_on_unhandled_rejection(a->loop, on_unhandled, a);
    if (define_class(a, env) < 0 || init_scheduler(a, env) < 0 ||
        export_functions(a, env, exports) < 0)
        return throw_error(env, "calcifer_aplus: cannot set up the module");
    return exports;
}
