/*
 * Shared helpers of the event-order scenario programs (tests/conformance/event_order/).
 *
 * Each sNN_<name>.c is the C version of ../shared/conformance/event-order/NN-<name>/steps.md,
 * written against the public API only. The scenario prints one label per line on stdout;
 * test_event_order.c compares that with Node's expected.txt. Vocabulary of steps.md:
 *  - log X                   -> say("X") or the log_cb callback with the label as data
 *  - nextTick / queueMicrotask -> cf_next_tick / cf_queue_microtask
 *  - already-fulfilled promise -> then-handler H: cf_promise_resolved(loop, NULL, NULL) and
 *    cf_promise_then(p, H, NULL, data) (resolved_then below; log_then is H = `log X`); a
 *    chain A -> B -> C on it: cf_promise_then on the promise each step returns
 *  - setTimeout / setInterval / setImmediate, clear*, unref/ref -> calcifer/timer.h
 *  - asynchronous stat       -> cf_work running stat(2) on the pool (≈ fs.stat)
 *  - exit hook               -> code after cf_run returns
 */
#ifndef CF_SCENARIO_H
#define CF_SCENARIO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "calcifer.h"

/* Labels are string literals passed as callback data; callbacks only read them. */
#define LABEL(s) ((void *)(s))

static cf_loop *loop;

static inline void say(const char *s)
{
    fputs(s, stdout);
    fputc('\n', stdout);
}

/* Callback form of `log X`: the data is the label. */
static inline void log_cb(void *label)
{
    say(label);
}

/* Abort the scenario with a message on stderr (the driver then reports it). */
static inline void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, cf_strerror(rc));
        exit(2);
    }
}

#define CHECK(call) check((call), #call)

/* Spin the CPU for at least `ms` milliseconds without returning to the loop. */
static inline void busy_wait_ms(unsigned ms)
{
    struct timespec t0;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
        if (ns >= (int64_t)ms * 1000000)
            return;
    }
}

/* ---- promises ---- */

/* Abort the scenario when a promise could not be made (out of memory). */
static inline cf_promise *check_promise(cf_promise *p, const char *what)
{
    if (!p)
        check(CF_ENOMEM, what);
    return p;
}

#define CHECK_PROMISE(call) check_promise((call), #call)

/* A then-handler for `log X` (≈ () => log(X)): the data is the label; returns undefined. */
static inline void log_then(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

/*
 * ≈ Promise.resolve().then(handler): a promise already fulfilled (no value) and a fulfilment
 * handler on it, called with `data`. Both references are released at once: the pending
 * reaction holds its own.
 */
static inline void resolved_then(cf_promise_cb handler, void *data)
{
    cf_promise *p = CHECK_PROMISE(cf_promise_resolved(loop, NULL, NULL));
    cf_promise *next = CHECK_PROMISE(cf_promise_then(p, handler, NULL, data));
    cf_promise_release(next);
    cf_promise_release(p);
}

/* ---- asynchronous stat (≈ fs.stat(path, cb)) ---- */

typedef struct stat_req {
    const char *path;
    struct stat st;
    int result;
    cf_callback cb;
    void *data;
} stat_req;

static inline void stat_work(void *d)
{
    stat_req *r = d;
    r->result = stat(r->path, &r->st);
}

static inline void stat_done(int status, const cf_error *err, void *d)
{
    (void)err;
    stat_req *r = d;
    cf_callback cb = r->cb;
    void *data = r->data;
    free(r);
    check(status, "stat");
    cb(data);
}

/* Stat `path` on the thread pool, then call `cb(data)` on the loop thread. */
static inline void async_stat(const char *path, cf_callback cb, void *data)
{
    stat_req *r = calloc(1, sizeof(*r));
    if (!r) {
        check(CF_ENOMEM, "calloc");
        return;
    }
    r->path = path;
    r->cb = cb;
    r->data = data;
    CHECK(cf_work(loop, stat_work, NULL, stat_done, r));
}

/* ---- program frame ---- */

static inline void scenario_begin(void)
{
    CHECK(cf_loop_new(&loop));
}

/* After the main program: drain (as Node does after the main module), then run the loop. */
static inline void scenario_run(void)
{
    cf_loop_drain(loop);
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
}

static inline int scenario_end(void)
{
    CHECK(cf_loop_close(loop));
    fflush(stdout);
    return 0;
}

#endif
