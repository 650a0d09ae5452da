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
 * Threads: every field is the loop thread's, except `pool_queued` (atomic: decremented by the
 * worker that takes a job). Worker timings travel in the job itself (core/pool.h) and are read
 * by the loop after the completion stack's release/acquire hand-off.
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
    uint64_t start_ns;       /* the first cf_run (the utilization's origin) */
    uint64_t idle_ns;        /* time spent inside poll waits */
    uint64_t wait_start;     /* non-zero while a wait is open */
    uint64_t clock_ns;       /* the clock cf__loop_update_time last took (a free boundary) */
    uint64_t last_wait;      /* when the last wait began (its length: the idle_ns it added) */
    uint64_t iterations;     /* loop iterations */
    uint64_t callbacks;      /* phase callbacks run */
    uint64_t microtasks;     /* ticks and microtasks run */
    struct cf__obs *x;       /* the rest, allocated when something turns on */
    struct cf__trace *trace; /* trace.c: the ring, while traced */
    atomic_uint pool_queued; /* this loop's jobs waiting for a worker (when observed) */
} cf__obs_loop;

static inline uint64_t cf__obs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Loop creation and cf_loop_close (metrics.c). Init reads CALCIFER_BLOCKED_MS/_TRACE. */
void cf__obs_loop_init(cf_loop *loop);
void cf__obs_loop_close(cf_loop *loop);

/* A callback starts while something is observed: 1, or the clock when it is timed. */
uint64_t cf__obs_begin(const cf_loop *loop);

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
#define CF__OBS_CB_END(loop, t0, kind, fn, site)                                                   \
    do {                                                                                           \
        if (CF_UNLIKELY(t0))                                                                       \
            (void)cf__obs_callback((loop), (t0), (kind), (const void *)(fn), (site));              \
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
