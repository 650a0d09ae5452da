/*
 * Calcifer: seeing the loop — metrics and the blocked-loop detector (≈ Node's
 * performance.eventLoopUtilization, perf_hooks.monitorEventLoopDelay,
 * process.getActiveResourcesInfo and libuv's uv_print_all_handles).
 *
 * Always on, for every loop: the event-loop utilization (one clock read before each poll wait
 * that may sleep). Turned on per loop: counters, phase times and thread-pool timings
 * (cf_loop_metrics_enable), the loop-delay histogram
 * (cf_loop_delay_monitor_start) and the blocked-loop detector (cf_loop_detect_blocked, or the
 * environment variable CALCIFER_BLOCKED_MS=N read when a loop is created).
 *
 * Names of callbacks and sites are code addresses resolved only when reported, through the
 * program's debug information (addr2line); without it a report names the symbol or the
 * module and offset. docs/observability.md shows every piece at work.
 */
#ifndef CALCIFER_METRICS_H
#define CALCIFER_METRICS_H

#include <stdio.h>

#include "calcifer/common.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/*
 * Event-loop utilization (≈ the object of performance.eventLoopUtilization()): `idle_ms` is
 * the time the loop spent waiting for events inside the poll phase, `active_ms` the rest of
 * the wall time, `utilization` active / (idle + active), from 0 to 1.
 */
typedef struct cf_loop_elu {
    double idle_ms;
    double active_ms;
    double utilization;
} cf_loop_elu;

/* The phases of an iteration, in order (indexes of cf_loop_metrics.phase_ns). */
enum {
    CF_PHASE_TIMERS = 0,
    CF_PHASE_PENDING,
    CF_PHASE_POLL, /* without the time spent waiting, which is idle_ns */
    CF_PHASE_CHECK,
    CF_PHASE_CLOSE,
    CF_PHASE_COUNT
};

/* A snapshot of a loop's metrics (cf_loop_metrics_get). Times are in nanoseconds. */
typedef struct cf_loop_metrics {
    /* Counted while anything is on (metrics, delay monitor per iteration, detector, trace). */
    uint64_t iterations;
    uint64_t callbacks;                /* phase callbacks (timers, immediates, I/O, pool, close) */
    uint64_t microtasks;               /* nextTicks and microtasks */
    uint64_t idle_ns;                  /* inside poll waits; always */
    uint64_t phase_ns[CF_PHASE_COUNT]; /* while metrics are enabled */
    uint64_t pool_jobs;                /* pool jobs completed while enabled */
    uint64_t pool_wait_ns;             /* their total time queued before a worker took them */
    uint64_t pool_wait_max_ns;
    uint64_t pool_run_ns; /* their total time running on a worker */
    uint64_t pool_run_max_ns;
    unsigned pool_queued;     /* this loop's jobs waiting for a worker now (while enabled) */
    unsigned pool_queued_max; /* the most seen at once */
    unsigned handles;         /* open handles (closed ones whose close callback is pending too) */
    unsigned active_handles;  /* active and referenced */
    unsigned requests;        /* requests in flight (pool jobs, lookups, transfers) */
} cf_loop_metrics;

/*
 * A histogram of durations in nanoseconds with log-linear buckets (HDR style: 32 linear
 * sub-buckets per power of two, so a percentile is within 3.2% of the value recorded). Fixed
 * size (15 KiB); recording never allocates. Opaque.
 */
typedef struct cf_histogram cf_histogram;

/* A histogram's summary (cf_histogram_summary); values in nanoseconds. */
typedef struct cf_histogram_stats {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double mean;
    uint64_t p50;
    uint64_t p90;
    uint64_t p99;
    uint64_t p999;
} cf_histogram_stats;

/* What the blocked-loop detector reports (cf_blocked_cb). Strings are borrowed until the
 * callback returns. */
typedef struct cf_blocked {
    uint64_t duration_ns;
    const char *kind;     /* "timer", "immediate", "pool completion", "microtask", ... */
    const char *callback; /* "function file:line" of the code that ran */
    const char *site;     /* "file:line (function)" that created it, or "" when unknown */
} cf_blocked;

/* Receives a detector report on the loop thread; must not call back into the loop. */
typedef void (*cf_blocked_cb)(const cf_blocked *info, void *data);

/* ---- utilization ---- */

/*
 * The loop's utilization since its first cf_run, or since `prev` (a value returned earlier)
 * when `prev` is not NULL (≈ performance.eventLoopUtilization(prev)). A loop that only waits
 * for timers is near 0; one that never waits is near 1. All zero for a NULL loop or one that
 * never ran. Thread: loop only.
 */
CF_EXTERN cf_loop_elu cf_loop_utilization(const cf_loop *loop, const cf_loop_elu *prev);

/* ---- metrics ---- */

/*
 * Turn the timed metrics on (`on` non-zero) or off: phase times, pool queue and run times and
 * depth. Costs a count per callback, a clock read when the phase that runs changes (none when
 * every iteration runs the same phase) and three per pool job (no atomic operation).
 * Returns 0, CF_EINVAL for a NULL loop, CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_loop_metrics_enable(cf_loop *loop, int on);

/* Fill `*out` with the loop's metrics now. Returns 0 or CF_EINVAL (NULL). Thread: loop only. */
CF_EXTERN int cf_loop_metrics_get(const cf_loop *loop, cf_loop_metrics *out);

/*
 * Write the loop's live handles to `out`, one a line: kind, state (active, ref, closing) and
 * where it was created (the caller of cf_timer_new or cf_watch_new; for handles other
 * constructors made, the library function), then the requests in flight and
 * the queues (≈ uv_print_all_handles, process.getActiveResourcesInfo()). Returns the number
 * of handles written, or CF_EINVAL (NULL). `out` is borrowed. Thread: loop only.
 */
CF_EXTERN int cf_loop_print_handles(cf_loop *loop, FILE *out);

/* ---- loop delay (≈ monitorEventLoopDelay) ---- */

/*
 * Start measuring the loop's delay into its histogram. With `resolution_ms` > 0, as Node's
 * monitorEventLoopDelay({resolution}): an unreferenced timer fires every `resolution_ms` and
 * records how late it ran. With 0, per iteration: each iteration records how long the loop
 * was busy in it (the wall time minus the wait), the delay an event arriving at its start
 * would see. Starting again resets the histogram and changes the mode.
 * Returns 0, CF_EINVAL (NULL loop), CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_loop_delay_monitor_start(cf_loop *loop, unsigned resolution_ms);

/* Stop measuring; the histogram keeps its values. Returns 0 or CF_EINVAL. Thread: loop only. */
CF_EXTERN int cf_loop_delay_monitor_stop(cf_loop *loop);

/*
 * The loop's delay histogram, NULL before cf_loop_delay_monitor_start. Borrowed until the
 * loop is closed. Thread: loop only.
 */
CF_EXTERN const cf_histogram *cf_loop_delay(const cf_loop *loop);

/* ---- histograms ---- */

/* Make an empty histogram. Ownership: the caller owns `*out` (cf_histogram_free). Returns 0,
 * CF_EINVAL (NULL out) or CF_ENOMEM. Thread: any. */
CF_EXTERN int cf_histogram_new(cf_histogram **out);

/* Free a histogram from cf_histogram_new. NULL is a no-op. Thread: any. */
CF_EXTERN void cf_histogram_free(cf_histogram *h);

/* Record one value (ns). Never allocates. NULL is a no-op. Thread: the histogram's owner. */
CF_EXTERN void cf_histogram_record(cf_histogram *h, uint64_t value_ns);

/* Forget every value. NULL is a no-op. Thread: the histogram's owner. */
CF_EXTERN void cf_histogram_reset(cf_histogram *h);

/*
 * The value below which `pct` percent of the recorded values lie (0 < pct <= 100), to the
 * histogram's precision; 0 when empty or NULL. Thread: the histogram's owner.
 */
CF_EXTERN uint64_t cf_histogram_percentile(const cf_histogram *h, double pct);

/* Count, min, max, mean and the usual percentiles. All zero when empty or NULL. */
CF_EXTERN cf_histogram_stats cf_histogram_summary(const cf_histogram *h);

/* ---- blocked-loop detector ---- */

/*
 * Report every callback, microtask or task step that runs for `threshold_ms` or longer, with
 * its duration, the code that ran and, when known, the place that created it (0 turns the
 * detector off; the default, unless CALCIFER_BLOCKED_MS=N was set when the loop was made).
 * `cb` NULL writes one line to stderr:
 *     calcifer: blocked the loop for 52.1 ms (timer): busy_cb test.c:40, created at
 *     test.c:88 (main)
 * While it is on, cf_loop_close also lists the tasks still suspended, with the place they
 * wait at, and the promises never settled, with the place of the call that made them. Costs
 * two clock reads per callback, and a table entry per promise made, while on.
 * Ownership: `data` is borrowed until the detector is turned off or the loop is closed.
 * Returns 0, CF_EINVAL (NULL loop), CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_loop_detect_blocked(cf_loop *loop, unsigned threshold_ms, cf_blocked_cb cb,
                                     void *data);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_METRICS_H */
