/*
 * Observability of the loop, private side (metrics.c, trace.c): the per-loop state and the
 * hooks the loop, the timers, the tick queues and the thread pool call.
 *
 * Cost model. What stays on for every loop: one clock read before each poll wait that may
 * block (the event-loop utilization: the wait ends with the clock read the loop already
 * makes). Everything else (counters, phase times, the per-callback clock reads of the
 * blocked-loop detector, trace events, pool timings) runs only while `flags` is non-zero,
 * behind one predictable branch per callback (per phase for immediates) and per iteration.
 * Built with -DCF_NO_OBSERVE, the hooks compile to nothing (the baseline of bench_observe).
 *
 * Threads: every field is the loop thread's, except `pool_taken` (counted by the workers when
 * they take an observed job off the pool's queue, under the pool's lock: a load and a store,
 * no atomic read-modify-write, on a cache line of its own). Worker timings travel in the job
 * itself (core/pool.h) and are read by the loop after the completion stack's release/acquire
 * hand-off.
 */
#ifndef CF_CORE_METRICS_H
#define CF_CORE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "calcifer/loop.h"
#include "util/util.h"

enum {
    CF__OBS_METRICS = 1u << 0, /* phase times, pool timings, per-iteration delay */
    CF__OBS_DETECT = 1u << 1,  /* blocked-loop detector: clock around every callback */
    CF__OBS_TRACE = 1u << 2    /* trace events into the ring */
};

/* What ran a callback, for names and reports. */
enum cf__obs_kind {
    CF__OBS_TIMER,
    CF__OBS_IMMEDIATE,
    CF__OBS_PENDING,
    CF__OBS_CLOSE,
    CF__OBS_POOL,
    CF__OBS_TICK,
    CF__OBS_MICROTASK,
    CF__OBS_TASK,
    CF__OBS_IO,
    CF__OBS_KIND_COUNT
};

struct cf__obs;

/* Embedded in struct cf_loop (core/internal.h). */
typedef struct cf__obs_loop {
    unsigned flags;          /* CF__OBS_*: per-callback work is on */
    int lazy;                /* timed metrics alone: phase ends reuse the loop's reads */
    int open;                /* lazy: 1 + the phase whose time is running, 0: none */
    uint64_t open_busy;      /* lazy: the busy clock (clock less idle_ns) when it began */
    uint64_t start_ns;       /* the first cf_run (the utilization's origin) */
    uint64_t idle_ns;        /* time spent inside poll waits */
    uint64_t wait_start;     /* non-zero while a wait is open */
    uint64_t clock_ns;       /* the clock cf__loop_update_time last took (a free boundary) */
    int ran_since_clock;     /* a timer or pending callback ran since the poll's last read */
    uint64_t last_wait;      /* when the last wait began (its length: the idle_ns it added) */
    uint64_t iterations;     /* loop iterations */
    uint64_t callbacks;      /* phase callbacks run */
    uint64_t microtasks;     /* ticks and microtasks run */
    struct cf__obs *x;       /* the rest, allocated when something turns on */
    struct cf__trace *trace; /* trace.c: the ring, while traced */
    unsigned pool_submitted; /* observed jobs submitted, less those cancelled while queued */
    /* Observed jobs a worker took (pool.c, under the pool's lock), away from the fields above
     * that the loop reads all the time. Padding, as the loop comes from cf__calloc. */
    char pool_pad0[64];
    atomic_uint pool_taken;
    char pool_pad1[60];
} cf__obs_loop;

/* This loop's observed jobs that no worker has taken yet. */
#define CF__OBS_POOL_QUEUED(loop)                                                                  \
    ((loop)->obs.pool_submitted -                                                                  \
     atomic_load_explicit(&(loop)->obs.pool_taken, memory_order_relaxed))

/*
 * The clock of the loop, the metrics and the trace: CLOCK_MONOTONIC nanoseconds, read from the
 * CPU's counter where that is cheaper and safe (metrics.c, "the clock"). x86-64 uses `rdtsc`
 * when the CPU reports an invariant TSC, aarch64 the virtual counter (cntvct_el0); the counter
 * is converted with a rate measured against CLOCK_MONOTONIC and re-anchored to it about once a
 * second, slewing the rate so that the value never steps back on the thread that reads it.
 * Elsewhere, and during the first milliseconds of the process (while the rate is measured),
 * every read is a clock_gettime.
 *
 * The parameters sit behind a sequence lock: a read is a handful of loads, the counter and a
 * multiply; any thread may read. `span` is 0 while the counter is not in use, which sends
 * every read to the slow path.
 */
typedef struct cf__clock {
    atomic_int counter;         /* 0 once the counter is given up: clock_gettime, inline */
    atomic_uint seq;            /* odd while a re-anchor writes the fields below */
    _Atomic uint64_t base_tick; /* the counter at the anchor */
    _Atomic uint64_t base_ns;   /* the clock's value there */
    _Atomic uint64_t mult;      /* nanoseconds per tick, 32.32 fixed point */
    _Atomic uint64_t span;      /* ticks past the anchor that need a re-anchor; 0: no counter */
} cf__clock;

extern cf__clock cf__clock_state;

uint64_t cf__clock_slow(uint64_t tick); /* metrics.c: calibrate, re-anchor, or clock_gettime */

#ifdef CF_TESTING
/* Added to every counter read: a test makes the counter jump as over a suspend. */
extern _Atomic uint64_t cf__clock_test_skew;
#define CF__CLOCK_SKEW() atomic_load_explicit(&cf__clock_test_skew, memory_order_relaxed)
#else
#define CF__CLOCK_SKEW() 0u
#endif

#if defined(__x86_64__)
#define CF__CLOCK_TICKS 1
static inline uint64_t cf__clock_ticks(void)
{
    unsigned lo;
    unsigned hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return (((uint64_t)hi << 32) | lo) + CF__CLOCK_SKEW();
}
#elif defined(__aarch64__)
#define CF__CLOCK_TICKS 1
static inline uint64_t cf__clock_ticks(void)
{
    uint64_t v;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
    return v + CF__CLOCK_SKEW();
}
#else
#define CF__CLOCK_TICKS 0
#endif

static inline uint64_t cf__obs_now_ns(void)
{
#if CF__CLOCK_TICKS
    cf__clock *c = &cf__clock_state;
    if (CF_UNLIKELY(!atomic_load_explicit(&c->counter, memory_order_relaxed))) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    unsigned seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    uint64_t base_tick = atomic_load_explicit(&c->base_tick, memory_order_relaxed);
    uint64_t base_ns = atomic_load_explicit(&c->base_ns, memory_order_relaxed);
    uint64_t mult = atomic_load_explicit(&c->mult, memory_order_relaxed);
    uint64_t span = atomic_load_explicit(&c->span, memory_order_relaxed);
    uint64_t tick = cf__clock_ticks();
    atomic_thread_fence(memory_order_acquire);
    uint64_t delta = tick - base_tick; /* huge when the counter is behind the anchor */
    if (CF_UNLIKELY(delta >= span || (seq & 1u) ||
                    seq != atomic_load_explicit(&c->seq, memory_order_relaxed)))
        return cf__clock_slow(tick);
    __extension__ typedef unsigned __int128 u128;
    return base_ns + (uint64_t)(((u128)delta * mult) >> 32);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* Loop creation and cf_loop_close (metrics.c). Init reads CALCIFER_BLOCKED_MS/_TRACE. */
void cf__obs_loop_init(cf_loop *loop);
void cf__obs_loop_close(cf_loop *loop);

/* A callback starts while something is observed: 1, or the clock when it is timed. Inline:
 * the counted-only case (the timed metrics) costs a test, not a call, per callback. */
#define cf__obs_begin(loop)                                                                        \
    (((loop)->obs.flags & (CF__OBS_DETECT | CF__OBS_TRACE)) ? cf__obs_now_ns() : (uint64_t)1)

/*
 * The end of a callback that began at `t0` (from cf__obs_begin): counts it, and when timed
 * feeds the detector and the trace. Returns the clock value it took (1 when not timed), which a
 * run of queued callbacks uses as the next one's start.
 */
uint64_t cf__obs_callback(cf_loop *loop, uint64_t t0, int kind, const void *fn, const void *site);

/* One observed iteration (loop.c calls it instead of the plain one when flags are set). */
typedef void (*cf__obs_phase_fn)(cf_loop *loop, int arg);
void cf__obs_phase(cf_loop *loop, int phase, cf__obs_phase_fn fn, int arg);
void cf__obs_iteration_begin(cf_loop *loop);
void cf__obs_run_begin(cf_loop *loop); /* cf_run starts: the next phase boundary is now */
void cf__obs_run_end(cf_loop *loop);   /* cf_run returns: a phase still open ends now */
void cf__obs_iteration_end(cf_loop *loop);
/*
 * The lazy mode's phases (loop.c runs them itself): the time of the phase that runs goes on
 * until another phase runs something, so an iteration whose callbacks all run in the phase
 * that ran last pays no clock read and no call. cf__obs_lazy_switch: `phase` is about to run
 * something (or -1: nothing is running), at `t` (0: read the clock now). cf__obs_lazy_poll: the
 * poll phase when another phase is running; it becomes the running one when it ran or waited.
 */
void cf__obs_lazy_switch(cf_loop *loop, int phase, uint64_t t);
void cf__obs_lazy_poll(cf_loop *loop, cf__obs_phase_fn fn, int timeout);
#define CF__OBS_LAZY_ENTER(loop, phase)                                                            \
    do {                                                                                           \
        if ((loop)->obs.open != (phase) + 1)                                                       \
            cf__obs_lazy_switch((loop), (phase), 0);                                               \
    } while (0)

/* A pool job submitted / completed (pool.c, loop thread): metrics, flows, worker spans. */
struct cf__work;
void cf__obs_work_submit(cf_loop *loop, struct cf__work *w);
void cf__obs_work_done(cf_loop *loop, struct cf__work *w, uint64_t t0);

/* trace.c: the ring and its events (loop thread). */
void cf__trace_event(cf_loop *loop, char ph, int tid, uint64_t ts, uint64_t dur_or_id,
                     const void *addr, const char *name);
/* The same for a callback span: its kind and the return address of the call that made it. */
void cf__trace_callback(cf_loop *loop, uint64_t ts, uint64_t dur, int kind, const void *fn,
                        const void *site);
void cf__trace_close(cf_loop *loop);
void cf__trace_iteration(cf_loop *loop); /* once per traced iteration: flush on SIGUSR2 */
int cf__trace_on(const cf_loop *loop);
void cf__trace_env(cf_loop *loop); /* CALCIFER_TRACE: trace the process's first loop */
/* Allocate the shared state and recompute the flags after a feature changed (metrics.c). */
int cf__obs_refresh(cf_loop *loop);

/*
 * Name a code address "function file:line" (resolved lazily through the debug information,
 * with addr2line; falls back to the symbol or module+offset). `site` non-zero means a return
 * address (the call instruction is one byte before). Writes at most `len` bytes to `buf`.
 */
void cf__obs_name(const void *addr, int site, char *buf, size_t len);

/* "timer", "microtask", ... */
const char *cf__obs_kind_name(int kind);

/*
 * For the layers above core, which do not see the loop's fields: a task step (from a resume to
 * the next suspension) as a span. `cf__obs_step_begin` returns 0 unless the detector or the
 * trace is on; pass what it returned to `cf__obs_step_end` (a no-op for 0). `fn` names the
 * task's function, `site` is the return address of the call that started it (or NULL).
 */
uint64_t cf__obs_step_begin(const cf_loop *loop);
void cf__obs_step_end(cf_loop *loop, uint64_t t0, const void *fn, const void *site);

/*
 * Non-zero while the blocked-loop detector is on: cf_loop_close then lists what is left.
 * cf__obs_report_left writes one line for one thing left (a task still suspended): what it
 * is, its function, where it was started and where it waits (return addresses, or NULL).
 */
int cf__obs_detecting(const cf_loop *loop);
void cf__obs_report_left(cf_loop *loop, const char *what, const void *fn, const void *started,
                         const void *waits);

/*
 * For the promise layer, which keeps the creation sites of its promises only while the
 * detector is on: the loop's flag word (test CF__OBS_DETECT in it: one load, no call), and
 * the line for a promise still pending at the loop's end, created at `site` (a return
 * address, or NULL).
 */
const unsigned *cf__obs_flags_ref(const cf_loop *loop);
void cf__obs_report_promise(cf_loop *loop, const void *site);

#ifndef CF_NO_OBSERVE
#define CF__OBS_ON(loop) CF_UNLIKELY((loop)->obs.flags != 0)
/* Read once before a batch of callbacks: whether each one needs its clock reads. */
#define CF__OBS_PER_CALLBACK(loop) ((loop)->obs.flags & (CF__OBS_DETECT | CF__OBS_TRACE))
/*
 * Around a phase callback. `t0` is 0 while nothing is observed (the plain path: a load and
 * two predicted branches), 1 when only counting, else the clock at the start.
 */
#define CF__OBS_CB_BEGIN(loop) (CF__OBS_ON(loop) ? cf__obs_begin(loop) : 0)
/* Count a callback as cf__obs_callback does (`kind` is a constant: the test folds away). */
#define CF__OBS_COUNT(loop, kind)                                                                  \
    do {                                                                                           \
        if ((kind) == CF__OBS_TICK || (kind) == CF__OBS_MICROTASK)                                 \
            (loop)->obs.microtasks++;                                                              \
        else if ((kind) != CF__OBS_TASK)                                                           \
            (loop)->obs.callbacks++;                                                               \
    } while (0)
#define CF__OBS_CB_END(loop, t0, kind, fn, site)                                                   \
    do {                                                                                           \
        if (CF_UNLIKELY(t0)) {                                                                     \
            if ((t0) == 1) /* counted only (the timed metrics alone): no call */                   \
                CF__OBS_COUNT((loop), (kind));                                                     \
            else                                                                                   \
                (void)cf__obs_callback((loop), (t0), (kind), (const void *)(fn), (site));          \
        }                                                                                          \
    } while (0)
#else
#define CF__OBS_ON(loop)           0
#define CF__OBS_PER_CALLBACK(loop) 0
#define CF__OBS_CB_BEGIN(loop)     0
#define CF__OBS_CB_END(loop, t0, kind, fn, site)                                                   \
    do {                                                                                           \
        (void)(t0);                                                                                \
    } while (0)
#endif

#endif
