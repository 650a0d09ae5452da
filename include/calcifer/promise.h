/*
 * Calcifer: promises (≈ JavaScript's Promise, with Node/V8's exact microtask timing).
 *
 * A promise is pending, then fulfilled with a value or rejected with an error, once. Reactions
 * (then/catch/finally handlers, cf_promise_on_settle callbacks, awaits) run as microtasks on
 * the loop's one microtask FIFO, shared with cf_queue_microtask, in registration order, and
 * never inside the call that registered them. A reaction is queued when its promise settles,
 * or at once when it is attached to a settled promise, so a chain advances one step per
 * microtask turn and independent chains interleave, as in Node.
 *
 * Handlers: a then/catch/finally handler receives the settled promise and `next`, the promise
 * its step produces, and says what it "returns" by settling `next` before it returns:
 *   cf_promise_resolve(next, v, dtor)   ≈ return v
 *   cf_promise_reject(next, err)        ≈ throw err
 *   cf_promise_adopt(next, q)           ≈ return q (a promise: two extra turns, as V8)
 *   cf_promise_adopt_thenable(next, t)  ≈ return thenable
 *   cf_promise_follow(next, settled)    ≈ return v / throw e (the handler's own argument)
 *   (nothing)                           ≈ return undefined (fulfilled with NULL)
 * Whatever the handler does to `next` takes effect when the handler returns, as in JS, where
 * the derived promise is resolved with the handler's return value.
 *
 * Ownership (STYLE.md §7): promises are reference counted. The creator holds one reference,
 * the loop one while the promise is pending, and each pending reaction one. A promise owns its
 * value (with the destructor given when it was settled) or its error; handlers see them
 * borrowed until they return. cf_loop_close frees every promise of the loop that is left
 * (pending ones included), running value destructors: release your references before it.
 *
 * Rejection reasons: a promise is rejected with a cf_error (cf_promise_reject) or with any
 * value (cf_promise_reject_value, ≈ `throw 42` / `reject(undefined)` in JS). cf_promise_reason
 * lends the reason either way and cf_promise_reason_is_error says which it is; for a value,
 * cf_promise_error lends a stand-in error of code CF_EUNKNOWN, so code that only knows errors
 * (combinators, awaits, reports) still works.
 *
 * Unhandled rejections: a promise rejected with no handler attached by the time the nextTick
 * and microtask queues are empty after the callback that rejected it is reported (≈ Node's
 * 'unhandledRejection'), in a batch with the others pending, before the next callback. What a
 * report does depends on the loop's mode (≈ node --unhandled-rejections=MODE, see
 * cf_unhandled_mode; the default is throw, Node's default since v15): in throw mode it calls
 * the cf_on_unhandled_rejection hook if one is set, else the cf_on_uncaught_exception hook,
 * else prints "calcifer: unhandled promise rejection: <message> (at file:line in func)" on
 * stderr and cf_run returns CF_EUNHANDLED. A handler attached after the report calls the
 * cf_on_rejection_handled hook (≈ 'rejectionHandled') after that callback's microtasks, or,
 * without that hook, prints a PromiseRejectionHandledWarning line on stderr.
 *
 * Everything here is loop-thread only.
 */
#ifndef CALCIFER_PROMISE_H
#define CALCIFER_PROMISE_H

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A promise. Opaque; reference counted (cf_promise_retain / cf_promise_release). */
typedef struct cf_promise cf_promise;

/* A promise's state (≈ the [[PromiseState]] slot); cf_promise_state(p) reads it. */
enum cf_promise_state { CF_PROMISE_PENDING = 0, CF_PROMISE_FULFILLED = 1, CF_PROMISE_REJECTED = 2 };

/*
 * The value of a promise made by cf_promise_allv or cf_promise_all_settledv: the input
 * promises, settled, in input order (all: every item fulfilled; allSettled: each fulfilled or
 * rejected; read them with cf_promise_state, _value, _error). Owned by the result promise, which
 * holds a reference to each item: valid while you hold a reference to the result promise.
 */
typedef struct cf_promise_list {
    size_t len;
    cf_promise **items;
} cf_promise_list;

/*
 * A C "thenable" (≈ an object with a then method): another library's future, adopted as JS
 * adopts thenables (cf_promise_from_thenable, cf_promise_adopt_thenable). Embed it as the
 * first member of your own struct.
 *
 * `then(self, resolver)` is called once, in a microtask of its own. It settles `resolver`
 * (with cf_promise_resolve, cf_promise_reject, cf_promise_adopt) now or later; only the first
 * settle counts (later ones return CF_EINVAL and free what they were given). `resolver` is
 * borrowed until `then` returns: cf_promise_retain it to settle it later. Returning an error
 * (taken by the library) ≈ throwing from then: it rejects the promise unless `resolver` was
 * already settled; return NULL otherwise.
 *
 * `release(self)`, if not NULL, is called once the library no longer uses `self`: after `then`
 * returns, or when `then` will never be called (the loop closed first, or memory ran out).
 * Until then `self` is borrowed by the library.
 */
typedef struct cf_thenable cf_thenable;
struct cf_thenable {
    cf_error *(*then)(cf_thenable *self, cf_promise *resolver);
    void (*release)(cf_thenable *self);
};

/* ---- callback types ---- */

/*
 * A then/catch/finally handler. `settled` is the promise the handler was attached to, settled
 * (borrowed until the handler returns; cf_promise_retain it to keep it). `next` is the promise
 * of the handler's step, to settle before returning (see the top of this file; for finally,
 * a value given to `next` is ignored: the original outcome passes through unless `next` is
 * rejected, or adopts a promise that rejects). `data` is the pointer given with the handler.
 */
typedef void (*cf_promise_cb)(cf_promise *settled, cf_promise *next, void *data);

/* A plain reaction (cf_promise_on_settle): `settled` is borrowed until the callback returns. */
typedef void (*cf_promise_settle_cb)(cf_promise *settled, void *data);

/* An unhandled-rejection / rejection-handled hook; `p` is borrowed until the hook returns. */
typedef void (*cf_rejection_cb)(cf_promise *p, void *data);

/*
 * An uncaught-exception hook (≈ process.on('uncaughtException', (err, origin) => ...)).
 * `err` is the exception: the error given to cf_throw_uncaught (then `p` is NULL, ≈ origin
 * 'uncaughtException'), or the error of an unhandled rejection (then `p` is that promise, ≈
 * origin 'unhandledRejection'; for a value reason `err` is the CF_EUNKNOWN stand-in and
 * cf_promise_reason(p) gives the value). Both are borrowed until the hook returns.
 */
typedef void (*cf_uncaught_cb)(const cf_error *err, cf_promise *p, void *data);

/*
 * What an unhandled rejection does (≈ node --unhandled-rejections=MODE). "Warning" means a
 * line "calcifer: UnhandledPromiseRejectionWarning (rejection id: N): <message> (at ...)" on
 * stderr; "the uncaught path" means the cf_on_uncaught_exception hook, else the default report
 * (stderr, and cf_run returns CF_EUNHANDLED). The unhandled-rejection hook is called in every
 * mode when it is set.
 */
typedef enum cf_unhandled_mode {
    CF_UNHANDLED_THROW = 0,                /* the hook; without it, the uncaught path (default) */
    CF_UNHANDLED_STRICT = 1,               /* the uncaught path first; if a hook handled it, the
                                              unhandled-rejection hook, else a warning */
    CF_UNHANDLED_WARN = 2,                 /* the hook if set, and always a warning; run goes on */
    CF_UNHANDLED_WARN_WITH_ERROR_CODE = 3, /* the hook; without it, a warning and exit code 1
                                              (cf_unhandled_exit_code): run goes on, and
                                              returns CF_EUNHANDLED when it drains the loop */
    CF_UNHANDLED_NONE = 4                  /* the hook if set, nothing else */
} cf_unhandled_mode;

/* ---- create ---- */

/*
 * A new pending promise (≈ new Promise(executor): the executor is the code after this call).
 * Settle it with cf_promise_resolve / cf_promise_reject / cf_promise_adopt /
 * cf_promise_settle. Ownership: the caller owns one reference. Returns NULL when memory is
 * exhausted or `loop` is NULL.
 */
CF_EXTERN cf_promise *cf_promise_new(cf_loop *loop);

/*
 * A promise already fulfilled with `value` (≈ Promise.resolve(value) for a plain value).
 * Ownership: takes `value` on success and on failure (on failure `dtor(value)` runs before
 * this returns); `dtor(value)` runs once, when the last reference goes; `dtor` may be NULL.
 * The caller owns one reference. Returns NULL when memory is exhausted.
 */
CF_EXTERN cf_promise *cf_promise_resolved(cf_loop *loop, void *value, void (*dtor)(void *));

/*
 * A promise already rejected with `err` (≈ Promise.reject(err)). Ownership: takes `err` on
 * success and on failure; a NULL `err` means a CF_ENOMEM error (so
 * `cf_promise_rejected(loop, CF_ERROR(...))` is safe when memory runs out). The caller owns one
 * reference. Returns NULL when memory is exhausted.
 */
CF_EXTERN cf_promise *cf_promise_rejected(cf_loop *loop, cf_error *err);

/*
 * A promise already rejected with the value `value` (≈ Promise.reject(42)); see
 * cf_promise_reject_value. Ownership: takes `value` on success and on failure (`dtor(value)`
 * runs once, when the last reference goes, or before this returns NULL). The caller owns one
 * reference. Returns NULL when memory is exhausted or `loop` is NULL.
 */
CF_EXTERN cf_promise *cf_promise_rejected_value(cf_loop *loop, void *value, void (*dtor)(void *));

/*
 * ≈ Promise.resolve(p) for a promise: returns `p` itself with one more reference (no new
 * promise, no extra turn). A NULL `p` (a `_p` function that ran out of memory) gives a new
 * promise rejected with CF_ENOMEM. Ownership: `p` is borrowed; the caller owns one reference
 * to the result. Returns NULL only when memory is exhausted.
 */
CF_EXTERN cf_promise *cf_promise_resolve_p(cf_loop *loop, cf_promise *p);

/*
 * ≈ Promise.resolve(thenable): a new promise that adopts `t`: in a later microtask,
 * `t->then(t, resolver)` is called and the promise settles as the thenable settles `resolver`.
 * Ownership: `t` is borrowed until its `release` is called (or, without `release`, until
 * `then` has been called or the loop is closed). The caller owns one reference to the result.
 * A NULL `t` or `t->then` gives a promise rejected with CF_EINVAL. Returns NULL when memory
 * is exhausted (then `t->release` has run).
 */
CF_EXTERN cf_promise *cf_promise_from_thenable(cf_loop *loop, cf_thenable *t);

/* ---- settle ---- */

/*
 * Fulfil `p` with `value` (≈ resolve(value) with a plain value). Reactions run later, as
 * microtasks. Ownership: takes `value` on success and on failure; `dtor(value)` runs once,
 * when the last reference to `p` is released (or, on failure, before this returns). `dtor`
 * may be NULL. Returns 0, or CF_EINVAL when `p` is NULL or already resolved (settled, or
 * adopting another promise or thenable).
 */
CF_EXTERN int cf_promise_resolve(cf_promise *p, void *value, void (*dtor)(void *));

/*
 * Reject `p` with `err` (≈ reject(err)). Ownership: takes `err` on success and on failure; a
 * NULL `err` means a CF_ENOMEM error. Returns 0, or CF_EINVAL when `p` is NULL or already
 * resolved.
 */
CF_EXTERN int cf_promise_reject(cf_promise *p, cf_error *err);

/*
 * Reject `p` with `err` freed by `dtor(err)` instead of cf_error_free: for an error embedded
 * in a larger struct of your own (≈ throwing a value that is not an Error: a binding to another
 * language keeps that language's exception beside the cf_error, and identifies its errors
 * itself, by a field of the cf_error such as `file`). Reactions see `err` borrowed, as with
 * cf_promise_reject; pass-through steps borrow it from `p`. `dtor` may be NULL (a static
 * error). Ownership: takes `err` on success and on failure (on failure `dtor(err)` runs before
 * this returns); a NULL `err` means a CF_ENOMEM error. Returns 0, or CF_EINVAL when `p` is NULL
 * or already resolved.
 */
CF_EXTERN int cf_promise_reject_with(cf_promise *p, cf_error *err, void (*dtor)(void *));

/*
 * Reject `p` with a reason that is any value, not a cf_error (≈ reject(42), reject('text'),
 * reject(undefined), reject({...}), or `throw value` in a handler): NULL stands for undefined.
 * Reactions see the value with cf_promise_reason (borrowed), and cf_promise_reason_is_error
 * returns 0 for it; pass-through steps, adoption, cf_promise_follow and awaits carry the value
 * on unchanged (borrowed from `p`). cf_promise_error lends a stand-in error (code CF_EUNKNOWN,
 * "promise rejected with a value that is not an error") and cf_promise_code returns
 * CF_EUNKNOWN, so such a rejection fails an await with CF_EUNKNOWN. Ownership: takes `value`
 * on success and on failure; `dtor(value)` runs once, when the last reference goes (or, on
 * failure, before this returns); `dtor` may be NULL. Returns 0, or CF_EINVAL when `p` is NULL
 * or already resolved.
 */
CF_EXTERN int cf_promise_reject_value(cf_promise *p, void *value, void (*dtor)(void *));

/*
 * Resolve `p` with the promise `other` (≈ resolve(otherPromise), or returning a promise from
 * a handler): `p` follows `other`, settling with its outcome. As in V8 this costs two extra
 * microtask turns (a job calls other's then, and other's reaction settles `p`). `other == p`
 * rejects `p` with CF_ECYCLE ("Chaining cycle detected for promise"); a NULL `other` rejects
 * it with CF_ENOMEM. `p`'s value then belongs to `other` (it is borrowed through `p`).
 * Ownership: `other` is borrowed (the library takes its own reference). Returns 0, or
 * CF_EINVAL when `p` is NULL or already resolved.
 */
CF_EXTERN int cf_promise_adopt(cf_promise *p, cf_promise *other);

/*
 * Resolve `p` with a thenable (≈ resolve(thenable)): `t->then` is called in a microtask of
 * its own and `p` settles as the thenable says. A NULL `t` or `t->then` rejects `p` with
 * CF_EINVAL; running out of memory rejects it with CF_ENOMEM. Ownership: `t` as
 * cf_promise_from_thenable (`t->release` has run when `p` could not adopt it). Returns 0, or
 * CF_EINVAL when `p` is NULL or already resolved.
 */
CF_EXTERN int cf_promise_adopt_thenable(cf_promise *p, cf_thenable *t);

/*
 * Settle `p` at once exactly like the settled promise `from`: fulfilled with the same value or
 * rejected with the same error, borrowed from `from` (≈ `return v` or `throw e` in a handler
 * that received them; unlike cf_promise_adopt, no extra turn). Ownership: `from` is borrowed
 * (the library takes its own reference). Returns 0, or CF_EINVAL when an argument is NULL,
 * `from` is pending, or `p` is already resolved.
 */
CF_EXTERN int cf_promise_follow(cf_promise *p, cf_promise *from);

/*
 * Settle `p` from a callback-style completion (the promisify helper): `status` 0 fulfils it
 * with `value` (and `dtor`) and frees `err` if given; a negative `status` rejects it with `err`
 * (or, when `err` is NULL, with a new error of code `status` and message cf_strerror(status))
 * and runs `dtor(value)` if `value` is not NULL. Ownership: takes `value` and `err` on success
 * and on failure. Returns 0, or CF_EINVAL when `p` is NULL or already resolved.
 */
CF_EXTERN int cf_promise_settle(cf_promise *p, int status, void *value, void (*dtor)(void *),
                                cf_error *err);

/* ---- react ---- */

/*
 * Attach handlers (≈ p.then(onFulfilled, onRejected)) and return the promise of this step.
 * When `p` is fulfilled, `on_fulfilled(p, next, data)` runs in a microtask; when it is
 * rejected, `on_rejected(p, next, data)`. A NULL handler passes the value or the rejection
 * through to `next` (one turn per step, as V8). The handlers never run inside this call.
 * Ownership: `data` is borrowed until the handler has run (it is never freed by the library);
 * the caller owns one reference to the result. Returns NULL when `p` is NULL or memory is
 * exhausted (then nothing was attached).
 */
CF_EXTERN cf_promise *cf_promise_then(cf_promise *p, cf_promise_cb on_fulfilled,
                                      cf_promise_cb on_rejected, void *data);

/* ≈ p.catch(onRejected): cf_promise_then(p, NULL, on_rejected, data). */
CF_EXTERN cf_promise *cf_promise_catch(cf_promise *p, cf_promise_cb on_rejected, void *data);

/*
 * ≈ p.finally(onFinally): `on_finally(p, next, data)` runs when `p` settles either way; the
 * returned promise then settles like `p` (value or error passed through, borrowed from `p`),
 * unless the handler rejects `next` (that error replaces the outcome), or adopts a promise
 * with `next`, which is waited for and replaces the outcome if it rejects. The step costs the
 * microtask turns V8 charges (the handler's result is adopted through an internal promise).
 * Ownership and errors as cf_promise_then.
 */
CF_EXTERN cf_promise *cf_promise_finally(cf_promise *p, cf_promise_cb on_finally, void *data);

/*
 * Run `cb(p, data)` in a microtask once `p` is settled (at once if it already is), without
 * making a new promise (≈ the internal reaction an await uses; costs one turn). It counts as a
 * handler for unhandled-rejection tracking. Ownership: `data` borrowed until `cb` has run.
 * Returns 0, CF_EINVAL (`p` or `cb` NULL), or CF_ENOMEM (then `cb` never runs).
 */
CF_EXTERN int cf_promise_on_settle(cf_promise *p, cf_promise_settle_cb cb, void *data);

/* ---- combine (≈ Promise.all, allSettled, race, any) ---- */

/*
 * ≈ Promise.all(promises): fulfilled, once every input is fulfilled, with a cf_promise_list
 * of the inputs in input order; rejected as the first input that rejects (its error is
 * borrowed from that input). Plain values: wrap them with cf_promise_resolved. A NULL entry
 * counts as a promise rejected with CF_ENOMEM (so `_p` results can be passed directly).
 * `n == 0` gives a promise already fulfilled with an empty list. Ownership: `promises` is
 * copied and each input borrowed (the library takes its own references); the caller owns one
 * reference to the result. Never fails synchronously: a NULL `promises` with `n > 0` rejects
 * the result with CF_EINVAL. Returns NULL only when memory is exhausted.
 */
CF_EXTERN cf_promise *cf_promise_allv(cf_loop *loop, cf_promise *const *promises, size_t n);

/*
 * ≈ Promise.allSettled(promises): fulfilled once every input is settled, with a
 * cf_promise_list of the inputs (each fulfilled or rejected) in input order; never rejected
 * but for CF_EINVAL/CF_ENOMEM as cf_promise_allv. `n == 0`: already fulfilled, empty list.
 * Ownership and errors as cf_promise_allv.
 */
CF_EXTERN cf_promise *cf_promise_all_settledv(cf_loop *loop, cf_promise *const *promises, size_t n);

/*
 * ≈ Promise.race(promises): settles like the first input to settle (value or error borrowed
 * from it); among inputs already settled, the first in input order wins. `n == 0` gives a
 * promise that stays pending forever (freed by cf_loop_close). Ownership and errors as
 * cf_promise_allv.
 */
CF_EXTERN cf_promise *cf_promise_racev(cf_loop *loop, cf_promise *const *promises, size_t n);

/*
 * ≈ Promise.any(promises): fulfilled like the first input to fulfil; rejected, once every
 * input is rejected, with an aggregate error (code CF_EAGGREGATE, message "All promises were
 * rejected") listing every input's error in input order (cf_promise_aggregate_errors).
 * `n == 0` gives a promise already rejected with an empty aggregate. Ownership and errors as
 * cf_promise_allv.
 */
CF_EXTERN cf_promise *cf_promise_anyv(cf_loop *loop, cf_promise *const *promises, size_t n);

/*
 * The errors an aggregate error lists (≈ AggregateError.errors), in input order: `*len`
 * entries (copies owned by `err`, valid as long as `err`). For any error not made by
 * cf_promise_anyv, returns NULL and sets `*len` to 0. `len` may be NULL.
 */
CF_EXTERN const cf_error *cf_promise_aggregate_errors(const cf_error *err, size_t *len);

/* ---- inspect ---- */

/* The promise's state (CF_PROMISE_PENDING, _FULFILLED, _REJECTED). `p` must not be NULL. */
CF_EXTERN enum cf_promise_state cf_promise_state(const cf_promise *p);

/*
 * The fulfillment value (borrowed while you hold a reference to `p`), or NULL when `p` is not
 * fulfilled (or was fulfilled with NULL, or the value was taken).
 */
CF_EXTERN void *cf_promise_value(const cf_promise *p);

/*
 * The rejection error (borrowed while you hold a reference to `p`), or NULL when not rejected.
 * For a rejection with a value (cf_promise_reject_value): a static stand-in error of code
 * CF_EUNKNOWN.
 */
CF_EXTERN const cf_error *cf_promise_error(const cf_promise *p);

/*
 * The rejection reason, whatever it is (≈ the `e` of catch (e)): the cf_error (as a pointer to
 * it) when cf_promise_reason_is_error(p) is 1, the value given to cf_promise_reject_value
 * when it is 0 (NULL for undefined). NULL when `p` is NULL or not rejected. Borrowed while you
 * hold a reference to `p`.
 */
CF_EXTERN void *cf_promise_reason(const cf_promise *p);

/*
 * 1 when `p` was rejected with a cf_error, 0 when with a value (cf_promise_reject_value);
 * CF_EINVAL when `p` is NULL or not rejected.
 */
CF_EXTERN int cf_promise_reason_is_error(const cf_promise *p);

/* The rejection's code (a negative CF_E*), or 0 when `p` is pending or fulfilled. */
CF_EXTERN int cf_promise_code(const cf_promise *p);

/* The loop `p` belongs to. */
CF_EXTERN cf_loop *cf_promise_loop(const cf_promise *p);

/*
 * Non-zero once `p` is resolved (≈ the [[AlreadyResolved]] record of JS's resolving
 * functions): settled, or following a promise or thenable while still pending. From then on
 * cf_promise_resolve, _reject, _reject_with, _adopt, _adopt_thenable, _follow and _settle on
 * `p` return CF_EINVAL. A binding checks it before converting a value it was asked to resolve
 * `p` with, since that conversion can have effects (reading a JavaScript `then` property calls
 * its getter) that a second resolve must not have. 0 for NULL.
 */
CF_EXTERN int cf_promise_is_resolved(const cf_promise *p);

/*
 * Move the fulfillment value out of `p` (model: SQLite's destructor argument): on success
 * `*value` is owned by the caller and `p`'s destructor will not run on it (the value reads as
 * NULL from then on). Allowed only while the caller's reference is the only one (nobody else
 * can still see the value). Returns 0, CF_EBUSY (other references exist), or CF_EINVAL (`p` is
 * not fulfilled, a NULL argument, or the value is a combinator's list, which lives inside
 * the library's state).
 */
CF_EXTERN int cf_promise_take(cf_promise *p, void **value);

/* ---- references ---- */

/* Take one more reference to `p`; returns `p` (NULL stays NULL). */
CF_EXTERN cf_promise *cf_promise_retain(cf_promise *p);

/*
 * Drop one reference. When the last one goes, the promise is freed and its value's
 * destructor (or its error's) runs. A pending promise is kept by the loop until it settles.
 * NULL is a no-op.
 */
CF_EXTERN void cf_promise_release(cf_promise *p);

/* ---- unhandled rejections (≈ process.on('unhandledRejection' / 'rejectionHandled')) ---- */

/*
 * Set the unhandled-rejection hook (≈ process.on('unhandledRejection')): `fn(p, data)` is
 * called once per rejection, in rejection order, in a batch once the nextTick and microtask
 * queues are empty after the callback that rejected them; ticks and microtasks queued by `fn`
 * run after the batch. In throw mode (the default) it replaces the default report (stderr +
 * cf_run returning CF_EUNHANDLED); other modes: see cf_unhandled_mode. A second call replaces
 * the hook; `fn` NULL removes it.
 * Ownership: `data` is borrowed until the hook is replaced or the loop is closed. Returns 0,
 * CF_EINVAL (NULL loop) or CF_ENOMEM.
 */
CF_EXTERN int cf_on_unhandled_rejection(cf_loop *loop, cf_rejection_cb fn, void *data);

/*
 * Call `fn(p, data)` when a handler is attached to a promise already reported as unhandled
 * (≈ 'rejectionHandled'), after the microtasks of the callback that attached it. `fn` NULL
 * removes the hook; without a hook, a line "calcifer: PromiseRejectionHandledWarning: Promise
 * rejection was handled asynchronously (rejection id: N)" goes to stderr, in every mode (as
 * Node). Returns 0, CF_EINVAL or CF_ENOMEM, as cf_on_unhandled_rejection.
 */
CF_EXTERN int cf_on_rejection_handled(cf_loop *loop, cf_rejection_cb fn, void *data);

/*
 * Set what unhandled rejections do on `loop` (≈ node --unhandled-rejections=MODE; see
 * cf_unhandled_mode). A loop's mode starts as the environment variable
 * CALCIFER_UNHANDLED_REJECTIONS names it (throw, strict, warn, warn-with-error-code, none; read
 * when the loop's first promise, hook or mode is made; an unknown name prints a line on
 * stderr and gives throw), else throw. Returns 0, CF_EINVAL (NULL loop, mode out of range) or
 * CF_ENOMEM.
 */
CF_EXTERN int cf_loop_set_unhandled_rejections(cf_loop *loop, cf_unhandled_mode mode);

/*
 * The mode named `name` ("throw", "strict", "warn", "warn-with-error-code", "none"), for a
 * program's own --unhandled-rejections flag. Returns the cf_unhandled_mode, or CF_EINVAL for
 * NULL or an unknown name. Thread: any.
 */
CF_EXTERN int cf_unhandled_rejections_parse(const char *name);

/*
 * The exit code the unhandled rejections of `loop` ask for (≈ process.exitCode): 1 once a
 * rejection was reported in warn-with-error-code mode without an unhandled-rejection hook,
 * else 0. The run itself goes on to its end; then every cf_run that ends with nothing left on
 * the loop (and did not fail otherwise) returns CF_EUNHANDLED while this is 1, as Node exits
 * with code 1 once its loop is done (a run that leaves work returns > 0 as usual). CF_EINVAL
 * for a NULL loop.
 */
CF_EXTERN int cf_unhandled_exit_code(cf_loop *loop);

/*
 * Set the uncaught-exception hook (≈ process.on('uncaughtException')): it receives what
 * cf_throw_uncaught throws from callbacks and microtasks, and, in throw and strict modes, the
 * unhandled rejections the mode sends down the uncaught path. With it the run goes on. `fn`
 * NULL removes it. Ownership: `data` is borrowed until the hook is removed or the loop is
 * closed. Returns 0, CF_EINVAL (NULL loop), CF_EBUSY (a hook is already set: remove it first),
 * or CF_ENOMEM.
 */
CF_EXTERN int cf_on_uncaught_exception(cf_loop *loop, cf_uncaught_cb fn, void *data);

/*
 * ≈ an exception escaping a callback or a microtask (a C callback "throws" by calling this as
 * its last action, then returning). With an uncaught-exception hook, `fn(err, NULL, data)` runs
 * now, inside this call (as Node calls the listener before the next callback or microtask),
 * and the run goes on. Without one, "calcifer: uncaught exception: <message> (at ...)" goes to
 * stderr and the run fails: it stops at the end of the current callback and cf_run returns
 * the error's code (CF_EUNKNOWN if that is not negative). Ownership: takes `err`; NULL stands
 * for a CF_ENOMEM error. Returns 0 (a hook handled it), the code the run fails with, or
 * CF_EINVAL (NULL loop; `err` is freed).
 */
CF_EXTERN int cf_throw_uncaught(cf_loop *loop, cf_error *err);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_PROMISE_H */
