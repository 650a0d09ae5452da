/*
 * Seeing the loop: counters, utilization, phase times, the delay histogram, pool timings,
 * the live-handle listing and the blocked-loop detector (calcifer/metrics.h).
 *
 * The always-on part lives inline in the loop (cf__obs_loop, core/metrics.h); everything else
 * sits in a `struct cf__obs` allocated the first time a feature turns on. `loop->obs.flags`
 * says which features need work per callback or per iteration; with none, the loop runs its
 * plain path and the hooks cost a branch.
 *
 * Names: callbacks are named by their function's address and sites by a return address, both
 * turned into "function file:line" only when a report or a trace needs them (cf__obs_name):
 * dladdr finds the module, addr2line reads its debug information. One addr2line run costs a
 * few milliseconds, so a small per-loop cache keeps the names already asked for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/internal.h"
#include "core/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/error.h"
#include "calcifer/metrics.h"
#include "calcifer/timer.h"
#include "calcifer/trace.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

/* ---- histograms ---- */

#define SUB_BITS 5 /* 32 linear sub-buckets per power of two */
#define SUB      (1u << SUB_BITS)
#define BUCKETS  (2 * SUB + (64 - SUB_BITS - 1) * SUB) /* shifts 1 to 58 */

struct cf_histogram {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t counts[BUCKETS];
};

static unsigned bucket_of(uint64_t v)
{
    if (v < 2 * SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - SUB_BITS;
    return 2 * SUB + (shift - 1) * SUB + (unsigned)((v >> shift) - SUB);
}

/* The highest value of bucket `b` (a percentile reports the top of its bucket, as HDR). */
static uint64_t bucket_top(unsigned b)
{
    if (b < 2 * SUB)
        return b;
    unsigned shift = (b - 2 * SUB) / SUB + 1;
    uint64_t sub = (b - 2 * SUB) % SUB + SUB;
    return ((sub + 1) << shift) - 1;
}

int cf_histogram_new(cf_histogram **out)
{
    if (!out)
        return CF_EINVAL;
    *out = cf__calloc(1, sizeof(cf_histogram));
    return *out ? 0 : CF_ENOMEM;
}

void cf_histogram_free(cf_histogram *h)
{
    cf__free(h);
}

void cf_histogram_record(cf_histogram *h, uint64_t v)
{
    if (!h)
        return;
    if (!h->count || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
    h->counts[bucket_of(v)]++;
}

void cf_histogram_reset(cf_histogram *h)
{
    if (h)
        memset(h, 0, sizeof(*h));
}

uint64_t cf_histogram_percentile(const cf_histogram *h, double pct)
{
    if (!h || !h->count || pct <= 0)
        return 0;
    if (pct >= 100)
        return h->max;
    uint64_t want = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= want) {
            uint64_t top = bucket_top(b);
            return top > h->max ? h->max : top < h->min ? h->min : top;
        }
    }
    return h->max;
}

cf_histogram_stats cf_histogram_summary(const cf_histogram *h)
{
    cf_histogram_stats s = {0};
    if (!h || !h->count)
        return s;
    s.count = h->count;
    s.min = h->min;
    s.max = h->max;
    s.mean = h->sum / (double)h->count;
    s.p50 = cf_histogram_percentile(h, 50);
    s.p90 = cf_histogram_percentile(h, 90);
    s.p99 = cf_histogram_percentile(h, 99);
    s.p999 = cf_histogram_percentile(h, 99.9);
    return s;
}

/* ---- the clock (core/metrics.h) ---- */

/*
 * Process-wide, like the thread pool: the counter's rate is a property of the machine, and one
 * calibration serves every loop and worker. Changed only under `clock_lock` by whichever
 * thread finds the anchor due; read by any thread through the sequence lock.
 *
 * Calibration: the first read records a (counter, CLOCK_MONOTONIC) pair, and reads go on
 * through clock_gettime until CLOCK_CALIB_NS later, when a second pair gives the rate. From
 * then on a read past the anchor's span (8 ms, doubling up to about a second) re-anchors: the
 * rate is measured again over the whole time since the first pair (so its error shrinks as the
 * process runs), and the next span's rate is bent so that the clock meets CLOCK_MONOTONIC at
 * its end. The value is continuous at the anchor, so a thread never sees it go back; a clock
 * behind by more than a sixteenth of the span steps forward, one ahead slows by at most a
 * sixteenth (after a suspend, say: it never steps back). The counter is used only where it
 * runs at a constant rate through sleep states (x86-64: the invariant-TSC bit, CPUID
 * 0x80000007 EDX bit 8; aarch64: always) and CALCIFER_CLOCK is not "monotonic".
 */
cf__clock cf__clock_state = {.counter = 1};

#if CF__CLOCK_TICKS
#include <sched.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#ifdef CF_TESTING
_Atomic uint64_t cf__clock_test_skew;
#endif

#define CLOCK_CALIB_NS       2000000u    /* the first rate: over 2 ms */
#define CLOCK_SPAN0_NS       8000000u    /* the first anchor's span */
#define CLOCK_SPAN_MAX_NS    1000000000u /* re-anchor at least about once a second */
#define CLOCK_MISSES_MAX     8u          /* loose pairs before the counter is given up */
#define CLOCK_PAIR_MAX_TICKS 2000u       /* a pair read further apart was interrupted */
#define CLOCK_STEP_NS        1000000u    /* a counter off its pace by more: it jumped */

static atomic_int clock_mode; /* 0: not probed yet, 1: the counter, -1: clock_gettime */
static atomic_flag clock_lock = ATOMIC_FLAG_INIT;
static uint64_t clock_start_tick; /* the first pair (under clock_lock) */
static uint64_t clock_start_ns;
static uint64_t clock_span_ns;   /* the current anchor's span (under clock_lock) */
static uint64_t clock_last_tick; /* the pair of the last anchor (under clock_lock) */
static uint64_t clock_last_ns;
static uint64_t clock_last_rate; /* its rate, before any slew */
static unsigned clock_misses;    /* loose pairs before the first anchor (under clock_lock) */

/* Lock held: a pair was loose before the counter was in use. A counter that keeps giving
 * loose pairs (trapped by a hypervisor, an emulator) is not worth its reads: give it up. */
static int clock_missed(void)
{
    return ++clock_misses >= CLOCK_MISSES_MAX ? -1 : 0;
}

typedef struct clock_params {
    uint64_t base_tick, base_ns, mult, span;
} clock_params;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int clock_probe(void)
{
    const char *env = getenv("CALCIFER_CLOCK");
    if (env && strcmp(env, "monotonic") == 0)
        return -1;
#if defined(__x86_64__)
    unsigned a = 0;
    unsigned b = 0;
    unsigned c = 0;
    unsigned d = 0;
    if (!__get_cpuid(0x80000007u, &a, &b, &c, &d) || !(d & (1u << 8)))
        return -1; /* no invariant TSC: its rate may change with the CPU's */
#endif
    return 1;
}

/* The counter and CLOCK_MONOTONIC at one moment: the tightest of three brackets. */
static int clock_pair(uint64_t *tick, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t a = cf__clock_ticks();
        uint64_t m = mono_ns();
        uint64_t b = cf__clock_ticks();
        if (b >= a && b - a < best) {
            best = b - a;
            *tick = a + (b - a) / 2;
            *ns = m;
        }
    }
    return best < CLOCK_PAIR_MAX_TICKS;
}

static void clock_load(clock_params *p)
{
    cf__clock *c = &cf__clock_state;
    for (;;) {
        unsigned seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        p->base_tick = atomic_load_explicit(&c->base_tick, memory_order_relaxed);
        p->base_ns = atomic_load_explicit(&c->base_ns, memory_order_relaxed);
        p->mult = atomic_load_explicit(&c->mult, memory_order_relaxed);
        p->span = atomic_load_explicit(&c->span, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (!(seq & 1u) && seq == atomic_load_explicit(&c->seq, memory_order_relaxed))
            return;
        if (seq & 1u)
            sched_yield(); /* the writer may have lost its CPU: let it finish */
    }
}

/* Lock held: from here readers wait (or, on the fast path, fall to the slow one). */
static void clock_write_begin(void)
{
    cf__clock *c = &cf__clock_state;
    unsigned seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
    atomic_store_explicit(&c->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void clock_write_end(const clock_params *p)
{
    cf__clock *c = &cf__clock_state;
    unsigned seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
    atomic_store_explicit(&c->base_tick, p->base_tick, memory_order_relaxed);
    atomic_store_explicit(&c->base_ns, p->base_ns, memory_order_relaxed);
    atomic_store_explicit(&c->mult, p->mult, memory_order_relaxed);
    atomic_store_explicit(&c->span, p->span, memory_order_relaxed);
    atomic_store_explicit(&c->seq, seq + 1, memory_order_release);
}

__extension__ typedef unsigned __int128 clock_u128;

/* The value at `tick`; a tick behind the anchor (another CPU's, a hair behind) is the anchor. */
static uint64_t clock_at(const clock_params *p, uint64_t tick)
{
    if (tick <= p->base_tick)
        return p->base_ns;
    return p->base_ns + (uint64_t)(((clock_u128)(tick - p->base_tick) * p->mult) >> 32);
}

/*
 * No value under `p` is handed out past its span's end (a read there re-anchors), so the span's
 * end is the most a new anchor has to stay above: after a suspend during which the counter ran
 * on and CLOCK_MONOTONIC did not, the old anchor extrapolated to now would be ahead by the
 * whole suspend.
 */
static uint64_t clock_cap(const clock_params *p, uint64_t tick)
{
    uint64_t end = p->base_tick + p->span;
    return tick < end ? tick : end;
}

/* Lock held: the rate since the first pair, nanoseconds per tick in 32.32 (0: not measurable). */
static uint64_t clock_rate(uint64_t tick, uint64_t ns)
{
    if (tick <= clock_start_tick || ns <= clock_start_ns)
        return 0;
    return (uint64_t)(((clock_u128)(ns - clock_start_ns) << 32) / (tick - clock_start_tick));
}

/*
 * Lock held: a new anchor from a fresh pair, after `p` (NULL while calibrating). It is placed
 * at a tick read once readers can no longer use `p`, so no value handed out under `p` is past
 * the old anchor's value there. The clock goes to CLOCK_MONOTONIC's value (projected from the
 * pair at the rate), unless that is below the old anchor's: then it stays there and runs
 * slower (by at most a sixteenth) to meet CLOCK_MONOTONIC at the span's end. Returns the value
 * at `tick`.
 */
/* Lock held: from here on every read is a clock_gettime. */
static uint64_t clock_give_up(void)
{
    atomic_store_explicit(&clock_mode, -1, memory_order_release);
    atomic_store_explicit(&cf__clock_state.counter, 0, memory_order_relaxed);
    return mono_ns();
}

/*
 * Lock held: the counter moved as the rate says since the last anchor's pair (within 1/64 and
 * 1 ms). It does not after a suspend during which it ran on (CLOCK_MONOTONIC stood still), a
 * reset on resume or a migration; the rate, measured over the whole run, would then be wrong
 * for good (a clock stopped, or running at a fraction of its speed), so the counter is given up.
 */
static int clock_kept_pace(uint64_t t, uint64_t m, uint64_t rate)
{
    if (t < clock_last_tick || m < clock_last_ns)
        return 0;
    uint64_t expect = (uint64_t)(((clock_u128)(t - clock_last_tick) * rate) >> 32);
    uint64_t real = m - clock_last_ns;
    uint64_t off = expect > real ? expect - real : real - expect;
    uint64_t slack = real / 64 > CLOCK_STEP_NS ? real / 64 : CLOCK_STEP_NS;
    return off <= slack;
}

static uint64_t clock_anchor(const clock_params *p, uint64_t tick)
{
    uint64_t t = 0;
    uint64_t m = 0;
    int paired = clock_pair(&t, &m);
    if (paired && p && !clock_kept_pace(t, m, clock_last_rate))
        return clock_give_up();
    uint64_t rate = paired ? clock_rate(t, m) : 0;
    if (!rate) { /* interrupted: keep what there is, try again a little later */
        if (!p) {
            if (clock_missed() < 0)
                return clock_give_up();
            return mono_ns();
        }
        clock_params q = *p;
        q.span += q.span / 16 + 1;
        clock_write_begin();
        clock_write_end(&q);
        return clock_at(&q, tick);
    }
    uint64_t span_ns = !p                                      ? CLOCK_SPAN0_NS
                       : clock_span_ns * 2 > CLOCK_SPAN_MAX_NS ? CLOCK_SPAN_MAX_NS
                                                               : clock_span_ns * 2;
    clock_span_ns = span_ns;
    uint64_t span_ticks = (uint64_t)(((clock_u128)span_ns << 32) / rate);
    clock_write_begin();
    clock_params q = {cf__clock_ticks(), 0, rate, span_ticks};
    if (q.base_tick < t)
        q.base_tick = t;
    uint64_t truth = m + (uint64_t)(((clock_u128)(q.base_tick - t) * rate) >> 32);
    /* Calibrating: past any clock_gettime value handed out before (the pair's error). */
    uint64_t floor = p ? clock_at(p, clock_cap(p, q.base_tick)) : truth + 1000u;
    q.base_ns = truth > floor ? truth : floor;
    uint64_t ahead = q.base_ns - truth;
    clock_last_tick = t;
    clock_last_ns = m;
    clock_last_rate = rate;
    if (ahead) {
        uint64_t limit = span_ns / 16;
        q.mult =
            rate - (uint64_t)(((clock_u128)(ahead < limit ? ahead : limit) << 32) / span_ticks);
    }
    clock_write_end(&q);
    return clock_at(&q, tick);
}

uint64_t cf__clock_slow(uint64_t tick)
{
    int mode = atomic_load_explicit(&clock_mode, memory_order_acquire);
    if (mode < 0)
        return mono_ns();
    if (atomic_flag_test_and_set_explicit(&clock_lock, memory_order_acquire)) {
        clock_params p; /* another thread is at it: the old anchor, up to its end */
        clock_load(&p);
        /* The anchor being replaced, or the new one, within its span: the next anchor starts
         * past it. Past the span, wait for the new anchor (the counter may have jumped). */
        if (p.span && tick - p.base_tick < p.span)
            return clock_at(&p, tick);
        /* Calibrating: wait, so that a clock_gettime value handed out comes before the first
         * anchor's pair, or that anchor precedes this one: monotonic on each thread. */
        while (atomic_flag_test_and_set_explicit(&clock_lock, memory_order_acquire)) {
            sched_yield();
        }
    }
    uint64_t v;
    clock_params p;
    clock_load(&p);
    mode = atomic_load_explicit(&clock_mode, memory_order_acquire); /* given up meanwhile? */
    if (mode < 0) {
        v = mono_ns();
    } else if (mode == 0) {
        mode = clock_probe();
        if (mode > 0 && !clock_pair(&clock_start_tick, &clock_start_ns))
            mode = clock_missed(); /* interrupted: probe again on the next read */
        atomic_store_explicit(&clock_mode, mode, memory_order_release);
        if (mode < 0)
            atomic_store_explicit(&cf__clock_state.counter, 0, memory_order_relaxed);
        v = mono_ns();
    } else if (!p.span) {
        v = mono_ns();
        if (v - clock_start_ns >= CLOCK_CALIB_NS)
            v = clock_anchor(NULL, tick);
    } else if (tick < p.base_tick && p.base_tick - tick < p.span) {
        v = p.base_ns; /* read a hair before the anchor (on another CPU, or racing it) */
    } else if (tick - p.base_tick >= p.span) {
        v = clock_anchor(&p, tick); /* due, or the counter went back: a new anchor */
    } else {
        v = clock_at(&p, tick); /* the read raced a re-anchor */
    }
    atomic_flag_clear_explicit(&clock_lock, memory_order_release);
    return v;
}
#else
uint64_t cf__clock_slow(uint64_t tick)
{
    (void)tick;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* ---- per-loop state ---- */

#define NAME_CACHE 64
#define NAME_LEN   192

typedef struct name_entry {
    const void *addr;
    int site;
    char name[NAME_LEN];
} name_entry;

struct cf__obs {
    unsigned want; /* features on (CF__OBS_*); flags = want, trace added by trace.c */
    uint64_t phase_ns[CF_PHASE_COUNT];
    uint64_t last_ns;    /* the last phase boundary */
    uint64_t iter_start; /* when the current iteration began */
    uint64_t iter_idle;  /* idle_ns when it began */
    /* loop delay */
    cf_histogram *delay;
    unsigned delay_res_ms; /* 0: per iteration */
    int delay_on;
    cf_timer *delay_timer;
    uint64_t delay_expected;
    /* pool */
    uint64_t pool_jobs, pool_wait_ns, pool_wait_max, pool_run_ns, pool_run_max;
    unsigned pool_queued_max;
    unsigned counters[4]; /* the trace's counters as last written */
    int counters_set;
    /* detector */
    uint64_t blocked_ns;
    uint64_t reported_t0; /* start of the last span reported */
    cf_blocked_cb blocked_cb;
    void *blocked_data;
    /* names */
    name_entry names[NAME_CACHE];
    unsigned names_next;
};

static struct cf__obs *obs_get(cf_loop *loop)
{
    if (!loop->obs.x)
        loop->obs.x = cf__calloc(1, sizeof(struct cf__obs));
    return loop->obs.x;
}

/* Recompute the per-callback flags from what is on (the trace adds its own bit). */
static void obs_flags(cf_loop *loop)
{
#ifdef CF_NO_OBSERVE
    loop->obs.flags = 0;
    loop->obs.lazy = 0;
    cf__loop_halt_update(loop);
    return;
#endif
    unsigned f = loop->obs.x ? loop->obs.x->want : 0;
    if (loop->obs.x && loop->obs.x->delay_on && !loop->obs.x->delay_res_ms)
        f |= CF__OBS_METRICS;
    if (cf__trace_on(loop))
        f |= CF__OBS_TRACE;
    struct cf__obs *x = loop->obs.x;
    if (x && f && !loop->obs.flags)
        x->last_ns = 0; /* turned on again: no phase boundary yet (not the old one) */
    loop->obs.flags = f;
    cf__loop_halt_update(loop);
    if (!x)
        return;
    int lazy = f == CF__OBS_METRICS && !(x->delay_on && !x->delay_res_ms);
    if (loop->obs.open && !lazy)
        cf__obs_run_end(loop); /* leaving the lazy mode: its running phase ends now */
    loop->obs.lazy = lazy;
}

int cf__obs_refresh(cf_loop *loop)
{
    if (!obs_get(loop))
        return CF_ENOMEM;
    obs_flags(loop);
    return 0;
}

#ifndef CF_NO_OBSERVE
static unsigned env_unsigned(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || v > 3600000u) {
        fprintf(stderr, "calcifer: ignoring %s=%s (expected milliseconds, 0 to 3600000)\n", name,
                s);
        return 0;
    }
    return (unsigned)v;
}
#endif

void cf__obs_loop_init(cf_loop *loop)
{
#ifndef CF_NO_OBSERVE
    unsigned ms = env_unsigned("CALCIFER_BLOCKED_MS");
    if (ms)
        (void)cf_loop_detect_blocked(loop, ms, NULL, NULL);
    cf__trace_env(loop);
#endif
    (void)loop;
}

void cf__obs_loop_close(cf_loop *loop)
{
    if (loop->obs.trace)
        (void)cf_trace_stop(loop); /* the end of the loop: its trace is complete */
    struct cf__obs *x = loop->obs.x;
    if (!x)
        return;
    if (x->delay_timer)
        cf__timer_free_internal(x->delay_timer);
    cf_histogram_free(x->delay);
    cf__free(x);
    loop->obs.x = NULL;
    loop->obs.flags = 0;
    cf__loop_halt_update(loop);
}

/* ---- utilization ---- */

cf_loop_elu cf_loop_utilization(const cf_loop *loop, const cf_loop_elu *prev)
{
    cf_loop_elu e = {0, 0, 0};
    if (!loop || !loop->obs.start_ns)
        return e;
    uint64_t now = cf__obs_now_ns();
    uint64_t idle = loop->obs.idle_ns;
    if (loop->obs.wait_start)
        idle += now - loop->obs.wait_start;
    uint64_t wall = now - loop->obs.start_ns;
    e.idle_ms = (double)idle / 1e6;
    e.active_ms = (double)(wall > idle ? wall - idle : 0) / 1e6;
    if (prev) {
        e.idle_ms -= prev->idle_ms;
        e.active_ms -= prev->active_ms;
    }
    double total = e.idle_ms + e.active_ms;
    e.utilization = total > 0 ? e.active_ms / total : 0;
    return e;
}

/* ---- metrics ---- */

int cf_loop_metrics_enable(cf_loop *loop, int on)
{
    if (!loop)
        return CF_EINVAL;
    struct cf__obs *x = obs_get(loop);
    if (!x)
        return CF_ENOMEM;
    if (on)
        x->want |= CF__OBS_METRICS;
    else
        x->want &= ~(unsigned)CF__OBS_METRICS;
    obs_flags(loop);
    return 0;
}

int cf_loop_metrics_get(const cf_loop *loop, cf_loop_metrics *out)
{
    if (!loop || !out)
        return CF_EINVAL;
    memset(out, 0, sizeof(*out));
    out->iterations = loop->obs.iterations;
    out->callbacks = loop->obs.callbacks;
    out->microtasks = loop->obs.microtasks;
    out->idle_ns = loop->obs.idle_ns;
    out->handles = loop->open_handles;
    out->active_handles = loop->active_handles;
    out->requests = loop->active_reqs;
    out->pool_queued = CF__OBS_POOL_QUEUED(loop);
    const struct cf__obs *x = loop->obs.x;
    if (!x)
        return 0;
    memcpy(out->phase_ns, x->phase_ns, sizeof(out->phase_ns));
    if (loop->obs.open) { /* lazy, asked from a callback: the running phase so far */
        uint64_t busy = cf__obs_now_ns() - loop->obs.idle_ns;
        if (busy > loop->obs.open_busy)
            out->phase_ns[loop->obs.open - 1] += busy - loop->obs.open_busy;
    }
    out->pool_jobs = x->pool_jobs;
    out->pool_wait_ns = x->pool_wait_ns;
    out->pool_wait_max_ns = x->pool_wait_max;
    out->pool_run_ns = x->pool_run_ns;
    out->pool_run_max_ns = x->pool_run_max;
    out->pool_queued_max = x->pool_queued_max;
    return 0;
}

/* ---- iterations and phases (loop.c) ---- */

/*
 * Clock reads are shared between boundaries: an iteration begins at the previous one's last
 * read, and a phase that ran nothing (no callback, no wait) takes no read of its own, its few
 * nanoseconds going to the next phase that is measured. Reads cost 30-80 ns on a VM, as much
 * as an iteration that runs one immediate; traced loops read at every boundary.
 */
void cf__obs_run_begin(cf_loop *loop)
{
    if (loop->obs.x)
        loop->obs.x->last_ns = cf__obs_now_ns();
}

/*
 * Lazy mode: the running phase's time ends at `t`, and `phase` (-1: none) runs from there. The
 * time is kept on a busy clock, the clock less the idle time, so that the waits inside a phase
 * drop out by themselves.
 */
static void lazy_switch(cf_loop *loop, int phase, uint64_t t, uint64_t idle)
{
    struct cf__obs *x = loop->obs.x;
    uint64_t busy = t - idle;
    if (loop->obs.open && busy > loop->obs.open_busy)
        x->phase_ns[loop->obs.open - 1] += busy - loop->obs.open_busy;
    loop->obs.open = phase + 1;
    loop->obs.open_busy = busy;
    if (t > x->last_ns)
        x->last_ns = t;
}

void cf__obs_lazy_switch(cf_loop *loop, int phase, uint64_t t)
{
    lazy_switch(loop, phase, t ? t : cf__obs_now_ns(), loop->obs.idle_ns);
}

void cf__obs_run_end(cf_loop *loop)
{
    if (loop->obs.x && loop->obs.open)
        cf__obs_lazy_switch(loop, -1, 0);
}

void cf__obs_iteration_begin(cf_loop *loop)
{
    struct cf__obs *x = loop->obs.x;
    loop->obs.iterations++;
    if (!x->last_ns)
        x->last_ns = cf__obs_now_ns();
    x->iter_start = x->last_ns;
    x->iter_idle = loop->obs.idle_ns;
}

static const char *const phase_names[CF_PHASE_COUNT] = {"timers", "pending", "poll", "check",
                                                        "close"};

/*
 * Lazy mode (the timed metrics alone, the common case of a loop watched in production): the
 * time of a phase that ran something goes on until another phase is about to run something,
 * and that boundary is the clock read the loop makes anyway when there is one (the timers
 * phase's, before any timer runs) or a read of its own. A loop whose iterations all run
 * callbacks in the same phase, as a chain of immediates or of pool completions does, thus
 * reads no clock and makes no call of its own; the loop (iterate_lazy) does not even enter the
 * phases with empty queues. The poll phase may run nothing: its boundary is read before it,
 * and kept only when it ran something or waited.
 */
void cf__obs_lazy_poll(cf_loop *loop, cf__obs_phase_fn fn, int timeout)
{
    uint64_t t = cf__obs_now_ns();
    uint64_t idle = loop->obs.idle_ns;
    uint64_t work = loop->obs.callbacks + loop->obs.microtasks;
    fn(loop, timeout);
    if (work == loop->obs.callbacks + loop->obs.microtasks && idle == loop->obs.idle_ns)
        return;
    lazy_switch(loop, CF_PHASE_POLL, t, idle); /* the boundary was before the wait */
}

void cf__obs_phase(cf_loop *loop, int phase, cf__obs_phase_fn fn, int arg)
{
    struct cf__obs *x = loop->obs.x;
    uint64_t idle = loop->obs.idle_ns;
    uint64_t work = loop->obs.callbacks + loop->obs.microtasks;
    uint64_t t0 = x->last_ns;
    fn(loop, arg);
    if (idle == loop->obs.idle_ns && work == loop->obs.callbacks + loop->obs.microtasks)
        return; /* nothing ran: no read, no span (see above) */
    uint64_t t1 = cf__obs_now_ns();
    if (CF_UNLIKELY(t1 < t0)) /* the counter clock given up for a clock_gettime behind it */
        t1 = t0;
    x->last_ns = t1;
    uint64_t waited = loop->obs.idle_ns - idle;
    uint64_t busy = t1 - t0 > waited ? t1 - t0 - waited : 0;
    x->phase_ns[phase] += busy;
    if (!(loop->obs.flags & CF__OBS_TRACE))
        return;
    cf__trace_event(loop, 'X', 0, t0, t1 - t0, NULL, phase_names[phase]);
    if (waited) /* the wait inside poll, from the clock reads the utilization makes anyway */
        cf__trace_event(loop, 'X', 0, loop->obs.last_wait, waited, NULL, "wait");
}

void cf__obs_iteration_end(cf_loop *loop)
{
    struct cf__obs *x = loop->obs.x;
    uint64_t end = x->last_ns;
    uint64_t wall = end > x->iter_start ? end - x->iter_start : 0;
    uint64_t idle = loop->obs.idle_ns - x->iter_idle;
    uint64_t busy = wall > idle ? wall - idle : 0;
    if (x->delay_on && !x->delay_res_ms)
        cf_histogram_record(x->delay, busy);
    unsigned q = CF__OBS_POOL_QUEUED(loop);
    if (q > x->pool_queued_max)
        x->pool_queued_max = q;
    if (!(loop->obs.flags & CF__OBS_TRACE))
        return;
    cf__trace_event(loop, 'X', 0, x->iter_start, end - x->iter_start, NULL, "iteration");
    /* Counters only when they change: a busy loop would fill the ring with repeats. */
    unsigned now[4] = {q, loop->open_handles, loop->active_handles, loop->active_reqs};
    static const char *const names[4] = {"pool queue depth", "live handles",
                                         "active handles (timers, I/O)", "requests in flight"};
    for (int i = 0; i < 4; i++) {
        if (now[i] != x->counters[i] || !x->counters_set) {
            x->counters[i] = now[i];
            cf__trace_event(loop, 'C', 0, end, now[i], NULL, names[i]);
        }
    }
    x->counters_set = 1;
}

/* ---- the pool (pool.c) ---- */

void cf__obs_work_submit(cf_loop *loop, cf__work *w)
{
    w->obs_worker = -1;
    w->obs_start_ns = 0;
    w->obs_end_ns = 0;
    w->obs_flow = 0;
    w->obs_submit_ns = cf__obs_now_ns();
    loop->obs.pool_submitted++;
    unsigned q = CF__OBS_POOL_QUEUED(loop);
    if (loop->obs.x && q > loop->obs.x->pool_queued_max) /* the queue is deepest right now */
        loop->obs.x->pool_queued_max = q;
    if (loop->obs.flags & CF__OBS_TRACE) {
        static _Thread_local uint64_t flow_ids;
        w->obs_flow = ((uint64_t)(uintptr_t)loop << 20) ^ ++flow_ids;
        cf__trace_event(loop, 's', 0, w->obs_submit_ns, w->obs_flow, w->obs_origin, NULL);
    }
}

void cf__obs_work_done(cf_loop *loop, cf__work *w, uint64_t t0)
{
    struct cf__obs *x = loop->obs.x;
    if (!w->obs_start_ns) /* never ran (cancelled while queued): no worker took it off */
        loop->obs.pool_submitted--;
    /* Two threads' reads of the counter clock: a hair apart at worst, never negative. */
    if (w->obs_start_ns && w->obs_start_ns < w->obs_submit_ns)
        w->obs_start_ns = w->obs_submit_ns;
    if (w->obs_end_ns < w->obs_start_ns)
        w->obs_end_ns = w->obs_start_ns;
    if (x && w->obs_start_ns) {
        uint64_t wait = w->obs_start_ns - w->obs_submit_ns;
        uint64_t run = w->obs_end_ns - w->obs_start_ns;
        x->pool_jobs++;
        x->pool_wait_ns += wait;
        x->pool_run_ns += run;
        if (wait > x->pool_wait_max)
            x->pool_wait_max = wait;
        if (run > x->pool_run_max)
            x->pool_run_max = run;
    }
    if (!(loop->obs.flags & CF__OBS_TRACE) || !w->obs_flow)
        return;
    if (w->obs_start_ns) {
        int tid = w->obs_worker + 1;
        cf__trace_event(loop, 'X', tid, w->obs_start_ns, w->obs_end_ns - w->obs_start_ns,
                        w->obs_origin, NULL);
        cf__trace_event(loop, 't', tid, w->obs_start_ns, w->obs_flow, w->obs_origin, NULL);
    }
    cf__trace_event(loop, 'f', 0, t0 > 1 ? t0 + 1 : cf__obs_now_ns(), w->obs_flow, w->obs_origin,
                    NULL);
}

/* ---- loop delay ---- */

static void delay_tick(cf_timer *t, void *data)
{
    (void)t;
    cf_loop *loop = data;
    struct cf__obs *x = loop->obs.x;
    uint64_t now = cf__obs_now_ns();
    cf_histogram_record(x->delay, now > x->delay_expected ? now - x->delay_expected : 0);
    x->delay_expected = now + (uint64_t)x->delay_res_ms * 1000000u;
}

int cf_loop_delay_monitor_start(cf_loop *loop, unsigned resolution_ms)
{
    if (!loop)
        return CF_EINVAL;
    struct cf__obs *x = obs_get(loop);
    if (!x)
        return CF_ENOMEM;
    if (!x->delay && cf_histogram_new(&x->delay) < 0)
        return CF_ENOMEM;
    cf_histogram_reset(x->delay);
    if (x->delay_timer)
        cf_timer_stop(x->delay_timer);
    x->delay_res_ms = resolution_ms;
    x->delay_on = 1;
    if (resolution_ms) {
        if (!x->delay_timer && cf__timer_new_internal(loop, &x->delay_timer) < 0)
            return CF_ENOMEM;
        cf_update_time(loop);
        x->delay_expected = cf__obs_now_ns() + (uint64_t)resolution_ms * 1000000u;
        int rc = cf_timer_start(x->delay_timer, resolution_ms, resolution_ms, delay_tick, loop);
        if (rc < 0)
            return rc;
    }
    obs_flags(loop);
    return 0;
}

int cf_loop_delay_monitor_stop(cf_loop *loop)
{
    if (!loop)
        return CF_EINVAL;
    struct cf__obs *x = loop->obs.x;
    if (!x)
        return 0;
    x->delay_on = 0;
    if (x->delay_timer)
        cf_timer_stop(x->delay_timer);
    obs_flags(loop);
    return 0;
}

const cf_histogram *cf_loop_delay(const cf_loop *loop)
{
    return loop && loop->obs.x ? loop->obs.x->delay : NULL;
}

/* ---- names ---- */

/*
 * Names come from the call-site resolver (util/site.h): DWARF line table, else symbols, else
 * the address. A function's own address is passed as a "return address" one byte past it.
 */
void cf__obs_name(const void *addr, int site, char *buf, size_t len)
{
    if (!addr) {
        snprintf(buf, len, "%s", "");
        return;
    }
    cf_site s = {.pc = site ? addr : (const char *)addr + 1};
    cf__site_resolve(&s);
    const char *file = s.file ? s.file : "";
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    const char *func = s.func ? s.func : "?";
    if (!*base)
        snprintf(buf, len, "%s", func);
    else if (site)
        snprintf(buf, len, "%s:%d (%s)", base, s.line, func);
    else
        snprintf(buf, len, "%s %s:%d", func, base, s.line);
}

/* The name of `addr` from the loop's cache, resolving it on a miss. Borrowed until the next
 * call (a later miss may reuse its entry). */
static const char *name_cached(cf_loop *loop, const void *addr, int site)
{
    struct cf__obs *x = loop->obs.x;
    if (!addr)
        return "";
    for (unsigned i = 0; i < NAME_CACHE; i++) {
        if (x->names[i].addr == addr && x->names[i].site == site)
            return x->names[i].name;
    }
    name_entry *e = &x->names[x->names_next++ % NAME_CACHE];
    e->addr = addr;
    e->site = site;
    cf__obs_name(addr, site, e->name, sizeof(e->name));
    return e->name;
}

/* ---- the blocked-loop detector ---- */

static const char *const kind_names[CF__OBS_KIND_COUNT] = {
    "timer",    "immediate", "pending callback", "close callback", "pool completion",
    "nextTick", "microtask", "task step",        "I/O callback"};

const char *cf__obs_kind_name(int kind)
{
    return kind >= 0 && kind < CF__OBS_KIND_COUNT ? kind_names[kind] : "callback";
}

int cf_loop_detect_blocked(cf_loop *loop, unsigned threshold_ms, cf_blocked_cb cb, void *data)
{
    if (!loop)
        return CF_EINVAL;
    struct cf__obs *x = obs_get(loop);
    if (!x)
        return CF_ENOMEM;
    x->blocked_ns = (uint64_t)threshold_ms * 1000000u;
    x->blocked_cb = cb;
    x->blocked_data = data;
    if (threshold_ms)
        x->want |= CF__OBS_DETECT;
    else
        x->want &= ~(unsigned)CF__OBS_DETECT;
    obs_flags(loop);
    return 0;
}

int cf__obs_detecting(const cf_loop *loop)
{
    return (loop->obs.flags & CF__OBS_DETECT) != 0;
}

static void blocked_report(cf_loop *loop, uint64_t dur, int kind, const void *fn, const void *site)
{
    struct cf__obs *x = loop->obs.x;
    char callback[NAME_LEN];
    snprintf(callback, sizeof(callback), "%s", name_cached(loop, fn, 0));
    const char *where = name_cached(loop, site, 1);
    cf_blocked info = {dur, kind_names[kind], callback, where};
    if (x->blocked_cb) {
        x->blocked_cb(&info, x->blocked_data);
        return;
    }
    fprintf(stderr, "calcifer: blocked the loop for %.1f ms (%s): %s%s%s\n", (double)dur / 1e6,
            info.kind, callback, *where ? ", created at " : "", where);
}

uint64_t cf__obs_callback(cf_loop *loop, uint64_t t0, int kind, const void *fn, const void *site)
{
    if (kind == CF__OBS_TICK || kind == CF__OBS_MICROTASK)
        loop->obs.microtasks++;
    else if (kind != CF__OBS_TASK)
        loop->obs.callbacks++;
    if (t0 == 1 || !loop->obs.x)
        return t0;
    uint64_t t1 = cf__obs_now_ns();
    if (CF_UNLIKELY(t1 < t0)) /* a re-anchor of the counter clock a hair off: never negative */
        t1 = t0;
    struct cf__obs *x = loop->obs.x;
    /* Only the innermost of nested spans is reported (a pool completion inside the wakeup's
     * I/O callback, a task step inside a microtask). */
    if ((loop->obs.flags & CF__OBS_DETECT) && t1 - t0 >= x->blocked_ns &&
        !(x->reported_t0 >= t0 && x->reported_t0 < t1)) {
        x->reported_t0 = t0;
        blocked_report(loop, t1 - t0, kind, fn, site);
    }
    if (loop->obs.flags & CF__OBS_TRACE)
        cf__trace_callback(loop, t0, t1 - t0, kind, fn, site);
    return t1;
}

uint64_t cf__obs_step_begin(const cf_loop *loop)
{
    (void)loop;
    return CF__OBS_PER_CALLBACK(loop) ? cf__obs_now_ns() : 0;
}

void cf__obs_step_end(cf_loop *loop, uint64_t t0, const void *fn, const void *site)
{
    if (t0)
        (void)cf__obs_callback(loop, t0, CF__OBS_TASK, fn, site);
}

void cf__obs_report_left(cf_loop *loop, const char *what, const void *fn, const void *started,
                         const void *waits)
{
    char name[NAME_LEN];
    char start[NAME_LEN];
    char wait[NAME_LEN];
    cf__obs_name(fn, 0, name, sizeof(name));
    cf__obs_name(started, 1, start, sizeof(start));
    cf__obs_name(waits, 1, wait, sizeof(wait));
    (void)loop;
    fprintf(stderr, "calcifer: at loop end, %s %s%s%s still waits%s%s\n", what, name,
            *start ? ", started at " : "", start, *wait ? " at " : "", wait);
}

const unsigned *cf__obs_flags_ref(const cf_loop *loop)
{
    return &loop->obs.flags;
}

void cf__obs_report_promise(cf_loop *loop, const void *site)
{
    char where[NAME_LEN];
    cf__obs_name(site, 1, where, sizeof(where));
    (void)loop;
    fprintf(stderr, "calcifer: at loop end, a promise %s%s never settled\n",
            *where ? "created at " : "of unknown origin", where);
}

/* ---- live handles ---- */

int cf_loop_print_handles(cf_loop *loop, FILE *out)
{
    if (!loop || !out)
        return CF_EINVAL;
    int n = 0;
    for (cf_queue *q = loop->all_handles.next; q != &loop->all_handles; q = q->next) {
        cf__handle *h = cf_queue_data(q, cf__handle, all_link);
        char name[NAME_LEN];
        cf__obs_name(h->origin, 1, name, sizeof(name));
        fprintf(out, "[%c%c%c] handle %p made at %s\n", (h->flags & CF__HANDLE_REF) ? 'R' : '-',
                (h->flags & CF__HANDLE_ACTIVE) ? 'A' : '-', cf__handle_is_closing(h) ? 'C' : '-',
                (void *)h, name);
        n++;
    }
    fprintf(out, "requests in flight: %u; pool jobs queued: %u; active handles: %u\n",
            loop->active_reqs, CF__OBS_POOL_QUEUED(loop), loop->active_handles);
    return n;
}
