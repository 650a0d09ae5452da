/*
 * Calcifer: trace export (≈ node --trace-event-categories, viewed in Perfetto or
 * chrome://tracing).
 *
 * A traced loop records, into a ring buffer of a fixed number of events, each iteration and
 * its phases, each callback (named by its function and the place that created it), pool jobs
 * on their worker's own track, flows from where a pool job was submitted to where its
 * completion ran, and counters (pool queue depth, live handles, requests in flight). The ring
 * never grows: when it is full the oldest events give way, so memory does not grow with run
 * time. A flush writes what the ring holds as Chrome Trace Event JSON (the whole file, each
 * time): on cf_trace_flush, cf_trace_stop, cf_loop_close, and when the process receives
 * SIGUSR2 (a flag the loop reads once per iteration).
 *
 * CALCIFER_TRACE=FILE traces the first loop the process creates (CALCIFER_TRACE_EVENTS=N sets
 * its ring size), flushed at cf_loop_close and at exit. scripts/trace2svg.py draws a trace.
 */
#ifndef CALCIFER_TRACE_H
#define CALCIFER_TRACE_H

#include <stddef.h>

#include "calcifer/common.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ring's size when none is given: 65,536 events of 48 bytes (3 MiB). */
#define CF_TRACE_EVENTS_DEFAULT 65536u
/* The largest ring: 16 Mi events. */
#define CF_TRACE_EVENTS_MAX (16u << 20)

/*
 * Start tracing `loop` into the file `path` (≈ starting a trace session), keeping the last
 * `max_events` events (0: CF_TRACE_EVENTS_DEFAULT; rounded up to a power of two). The file is
 * created at once, so that a path that cannot be written fails here: the error is returned
 * and one line naming the path and the reason goes to stderr (calcifer: cannot write trace
 * 'PATH': Permission denied); the loop runs on untraced. Starting a traced loop again
 * flushes the current trace and switches to the new file.
 * Ownership: `path` is copied. Returns 0, CF_EINVAL (NULL, max_events too large), CF_ENOMEM,
 * or a negative -errno from creating the file (CF_EACCES, CF_ENOENT, ...). Thread: loop only.
 */
CF_EXTERN int cf_trace_start(cf_loop *loop, const char *path, size_t max_events);

/*
 * Write the ring's events to the trace file now (the file is rewritten whole: it always holds
 * one valid JSON document). Names are resolved now. Returns 0, CF_EINVAL (NULL, not traced),
 * CF_ENOMEM or a negative -errno from writing (reported on stderr once, with the path).
 * Thread: loop only.
 */
CF_EXTERN int cf_trace_flush(cf_loop *loop);

/* Flush, then stop tracing (the ring is freed). Returns what cf_trace_flush returns, or
 * CF_EINVAL when the loop is not traced. Thread: loop only. */
CF_EXTERN int cf_trace_stop(cf_loop *loop);

/* Non-zero while `loop` is traced. Thread: loop only. */
CF_EXTERN int cf_trace_active(const cf_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_TRACE_H */
