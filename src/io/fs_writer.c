/*
 * The atomic streaming file writer (cf_fs_writer in calcifer/fs.h).
 *
 * State: `fill` receives the caller's bytes on the loop thread; `flight` is what the one
 * running pool job writes. A job is one of: create the output (cf__fs_out_open in fs.c: a
 * temporary file beside the target, or the target itself for a device, a FIFO or a
 * descriptor of this process), write `flight`, commit (fsync, close, rename, fsync the
 * folder), or clean up (close, unlink). Opening a FIFO waits on the pool for a reader; an
 * abort during that wait (cf_fs_writer_abort, or the open's signal) opens the FIFO for reading
 * itself, so the wait ends. The open's signal watches the creation job only (the pool's
 * listener, removed when the job is done): its abort becomes the writer's error. When a write
 * job ends, the buffers swap and the next job starts if there is more; the queue size the
 * high-water mark is measured against is fill.len + flight.len.
 *
 * Invariants: at most one job runs (`busy`); the worker touches only `flight`, `out`, the
 * path and `job_status` (the loop reads `out->fifo_wait` and `out->target` during the
 * creation, through cf__fs_out_wake); the first failure is kept in `error` and every later call
 * returns it; the writer is freed after the commit or abort callback, and only once no job
 * runs.
 *
 * Places: the error of a failure names the caller of cf_fs_writer_open (the creation and the
 * writes), or of cf_fs_writer_commit (the commit's fsync and rename).
 */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "calcifer/fs.h"
#include "core/loop.h"
#include "core/pool.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/sys.h"
#include "util/util.h"
#include "util/site.h"

enum job { JOB_NONE, JOB_CREATE, JOB_WRITE, JOB_COMMIT, JOB_CLEANUP };
enum end { END_NONE, END_COMMIT, END_ABORT };

struct cf_fs_writer {
    cf__work work;
    cf_loop *loop;
    cf_site site;     /* where cf_fs_writer_open was called */
    cf_site end_site; /* where cf_fs_writer_commit was called */
    char *path;
    cf__fs_out *out; /* the temporary file or the target written through */
    int wake_fd;     /* a FIFO opened for reading to end the creation's wait (abort), or -1 */
    int busy;
    enum job job;
    int job_status;
    const char *job_step; /* the system call that failed in the job */
    int error;            /* the first failure, sticky */
    cf_error *err;        /* its message */
    int opened;
    int created; /* `out` holds an open descriptor or a temporary file */
    size_t high_water;
    cf_dbuf fill;
    cf_dbuf flight;
    cf_fs_writer_cb drain_cb;
    void *drain_data;
    cf_promise *drain_p;
    cf__pending drain_pend;
    cf__pending end_pend; /* runs `finish` when no job is left to end it */
    enum end end;
    cf_fs_writer_cb end_cb;
    void *end_data;
};

static void start_job(cf_fs_writer *w, enum job job, cf_abort_signal *signal);

/* ---- worker side ---- */

static int job_write(cf_fs_writer *w)
{
    const char *p = w->flight.data;
    size_t len = w->flight.len;
    while (len) {
        ssize_t n = cf__sys_write(w->out->fd, p, CF_MIN(len, (size_t)1 << 20));
        if (n < 0)
            return (int)n;
        if (n == 0)
            return CF_EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void work_fn(cf__work *wk)
{
    cf_fs_writer *w = CF_CONTAINER_OF(wk, cf_fs_writer, work);
    w->job_step = NULL;
    switch (w->job) {
    case JOB_CREATE:
        w->job_status = cf__fs_out_open(w->out, w->path);
        w->job_step = w->out->step;
        if (w->job_status == 0 && atomic_load(&w->out->cancel))
            w->job_status = CF_ECANCELED; /* an abort ended a FIFO's wait: write nothing */
        w->created = w->job_status == 0;
        if (w->job_status < 0)
            cf__fs_out_discard(w->out);
        break;
    case JOB_WRITE:
        w->job_step = "write";
        w->job_status = job_write(w);
        break;
    case JOB_COMMIT:
        w->job_status = cf__fs_out_commit(w->out);
        w->job_step = w->out->step;
        break;
    case JOB_CLEANUP:
        cf__fs_out_discard(w->out);
        w->created = 0;
        w->job_status = 0;
        break;
    case JOB_NONE:
        break;
    }
}

/* ---- loop side ---- */

static size_t queued(const cf_fs_writer *w)
{
    return w->fill.len + w->flight.len;
}

int cf_fs_writer_full(const cf_fs_writer *w)
{
    return w && queued(w) >= w->high_water;
}

/* Keep the first failure, `code`, as the writer's error, placed at `site`. */
static void set_error(cf_fs_writer *w, cf_site site, int code, const char *step)
{
    if (w->error)
        return;
    w->error = code;
    w->err = CF_ERROR_SYS_AT(site, code, "%s '%s'", step ? step : "write", w->path);
}

/* The place of a failure at the end: the commit's caller, else the open's. */
static cf_site end_site(const cf_fs_writer *w)
{
    return w->end_site.pc ? w->end_site : w->site;
}

static const cf_error *error_of(cf_fs_writer *w, cf_error *fb)
{
    if (w->err)
        return w->err;
    memset(fb, 0, sizeof *fb);
    fb->code = w->error;
    fb->message = cf_strerror(w->error);
    return fb;
}

static void writer_free(cf_fs_writer *w)
{
    cf__loop_undefer(w->loop, &w->drain_pend);
    cf__loop_undefer(w->loop, &w->end_pend);
    cf__dbuf_free(&w->fill);
    cf__dbuf_free(&w->flight);
    cf_error_free(w->err);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    cf__free(w->out);
    cf__free(w->path);
    cf__free(w);
}

/* Report the drain (status 0) or the error to whoever waits for it. */
static void report_drain(cf_fs_writer *w)
{
    cf_error fb;
    const cf_error *e = w->error ? error_of(w, &fb) : NULL;
    if (w->drain_p) {
        cf_promise *p = w->drain_p;
        w->drain_p = NULL;
        cf_promise_settle(p, w->error, NULL, NULL, e ? cf_error_copy(e) : NULL);
        cf_promise_release(p);
    }
    if (w->drain_cb) {
        cf_fs_writer_cb cb = w->drain_cb;
        w->drain_cb = NULL;
        cb(w, w->error, e, w->drain_data);
    }
}

static void finish(cf_fs_writer *w)
{
    cf_error fb;
    int status = w->end == END_ABORT ? 0 : w->error;
    const cf_error *e = status ? error_of(w, &fb) : NULL;
    if (w->drain_cb || w->drain_p) {
        if (!w->error)
            set_error(w, end_site(w), CF_ECLOSED, "write");
        report_drain(w);
    }
    if (w->end_cb)
        w->end_cb(w, status, e, w->end_data);
    writer_free(w);
}

static void finish_later(cf_loop *loop, cf__pending *p)
{
    (void)loop;
    finish(CF_CONTAINER_OF(p, cf_fs_writer, end_pend));
}

/* Decide the next job once none runs. Never calls back: an end without a job is deferred. */
static void next_step(cf_fs_writer *w)
{
    if (w->busy)
        return;
    if (w->error || w->end == END_ABORT) {
        if (w->created) {
            start_job(w, JOB_CLEANUP, NULL);
            return;
        }
        if (w->end != END_NONE)
            cf__loop_defer(w->loop, &w->end_pend, finish_later);
        return;
    }
    if (!w->opened)
        return;
    if (w->fill.len) {
        cf_dbuf t = w->flight;
        w->flight = w->fill;
        w->fill = t;
        cf__dbuf_reset(&w->fill);
        start_job(w, JOB_WRITE, NULL);
        return;
    }
    if (w->end == END_COMMIT) {
        if (w->created)
            start_job(w, JOB_COMMIT, NULL);
        else
            cf__loop_defer(w->loop, &w->end_pend, finish_later);
    }
}

static void done_fn(cf__work *wk, int status)
{
    cf_fs_writer *w = CF_CONTAINER_OF(wk, cf_fs_writer, work);
    w->busy = 0;
    enum job job = w->job;
    w->job = JOB_NONE;
    if (w->wake_fd >= 0) {
        close(w->wake_fd);
        w->wake_fd = -1;
    }
    if (job == JOB_CREATE && status == CF_ECANCELED && cf_abort_signal_aborted(wk->signal) &&
        !w->error) {
        w->error = CF_ECANCELED; /* the open's signal: the one abort error */
        w->err = cf__work_abort_error(wk, w->site);
    }
    if (status == 0)
        status = w->job_status;
    if (status < 0)
        set_error(w, job == JOB_COMMIT ? end_site(w) : w->site, status, w->job_step);
    if (job == JOB_CREATE && status == 0)
        w->opened = 1;
    if (job == JOB_WRITE)
        cf__dbuf_reset(&w->flight);
    if (job == JOB_COMMIT && status == 0) {
        finish(w);
        return;
    }
    int was_waiting = w->drain_cb || w->drain_p;
    if (was_waiting && (w->error || queued(w) < w->high_water))
        report_drain(w);
    next_step(w);
}

/* The open's signal aborted while the creation runs (loop thread): end a FIFO's wait. */
static void on_abort(cf__work *wk)
{
    cf_fs_writer *w = CF_CONTAINER_OF(wk, cf_fs_writer, work);
    if (w->job == JOB_CREATE && w->wake_fd < 0)
        w->wake_fd = cf__fs_out_wake(w->out);
}

static void start_job(cf_fs_writer *w, enum job job, cf_abort_signal *signal)
{
    w->job = job;
    w->busy = 1;
    w->work.on_abort = on_abort;
    int rc = cf__work_submit(w->loop, &w->work, signal, work_fn, done_fn);
    if (rc < 0) {
        w->busy = 0;
        w->job = JOB_NONE;
        set_error(w, job == JOB_COMMIT ? end_site(w) : w->site, rc, "write");
        /* Nothing can be done through the pool any more; leave the rest to the caller. */
    }
}

int cf__fs_writer_open_at(cf_loop *loop, const char *path, size_t high_water,
                          cf_abort_signal *signal, cf_fs_writer **out, cf_site site)
{
    if (!loop || !path || !*path || !out)
        return CF_EINVAL;
    cf_fs_writer *w = cf__calloc(1, sizeof *w);
    if (!w)
        return CF_ENOMEM;
    w->loop = loop;
    w->site = site;
    w->wake_fd = -1;
    w->high_water = high_water ? high_water : CF_FS_WRITER_HIGH_WATER;
    cf__dbuf_init(&w->fill, 0);
    cf__dbuf_init(&w->flight, 0);
    cf__pending_init(&w->drain_pend);
    cf__pending_init(&w->end_pend);
    w->path = cf__strdup(path);
    w->out = cf__malloc(sizeof *w->out);
    if (!w->path || !w->out) {
        writer_free(w);
        return CF_ENOMEM;
    }
    cf__fs_out_init(w->out);
    start_job(w, JOB_CREATE, signal);
    if (w->error) {
        int rc = w->error;
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

CF__NOINLINE int cf_fs_writer_open(cf_loop *loop, const char *path, size_t high_water,
                                   cf_abort_signal *signal, cf_fs_writer **out)
{
    return cf__fs_writer_open_at(loop, path, high_water, signal, out, CF__SITE_CALLER());
}

int cf_fs_writer_write(cf_fs_writer *w, const void *bytes, size_t len)
{
    if (!w || (!bytes && len))
        return CF_EINVAL;
    if (w->end != END_NONE)
        return CF_ECLOSED;
    if (w->error)
        return w->error;
    int rc = cf__dbuf_add(&w->fill, bytes, len);
    if (rc < 0)
        return rc;
    next_step(w);
    return cf_fs_writer_full(w) ? CF_FS_WRITER_FULL : 0;
}

int cf_fs_writer_sink(const char *bytes, size_t len, void *data)
{
    int rc = cf_fs_writer_write(data, bytes, len);
    return rc > 0 ? 0 : rc;
}

static void drain_later(cf_loop *loop, cf__pending *p)
{
    (void)loop;
    cf_fs_writer *w = CF_CONTAINER_OF(p, cf_fs_writer, drain_pend);
    if (w->drain_cb && (w->error || !cf_fs_writer_full(w)))
        report_drain(w);
}

int cf_fs_writer_drain(cf_fs_writer *w, cf_fs_writer_cb cb, void *data)
{
    if (!w || !cb)
        return CF_EINVAL;
    if (w->end != END_NONE)
        return CF_ECLOSED;
    w->drain_cb = cb;
    w->drain_data = data;
    if (cb && (w->error || !cf_fs_writer_full(w)))
        cf__loop_defer(w->loop, &w->drain_pend, drain_later);
    return 0;
}

int cf__fs_writer_idle(cf_fs_writer *w, cf_fs_writer_cb cb, void *data)
{
    if (!w || !cb)
        return CF_EINVAL;
    if (w->end != END_NONE)
        return CF_ECLOSED;
    w->drain_cb = cb;
    w->drain_data = data;
    /* Otherwise the creation's end (done_fn) reports it, the queue being empty. */
    if (w->error || (w->opened && !w->busy && !queued(w)))
        cf__loop_defer(w->loop, &w->drain_pend, drain_later);
    return 0;
}

int cf__fs_writer_fd(const cf_fs_writer *w)
{
    return w && w->opened && !w->busy && !w->error && w->end == END_NONE ? w->out->fd : -1;
}

CF__NOINLINE cf_promise *cf_fs_writer_drain_p(cf_fs_writer *w)
{
    cf_site site = CF__SITE_CALLER();
    if (!w)
        return NULL;
    cf_promise *p = cf_promise_new(w->loop);
    if (!p)
        return NULL;
    if (w->end != END_NONE) {
        cf_promise_reject(p, CF_ERROR_SYS_AT(site, CF_ECLOSED, "write '%s'", w->path));
    } else if (w->error) {
        cf_error fb;
        cf_promise_reject(p, cf_error_copy(error_of(w, &fb)));
    } else if (!cf_fs_writer_full(w) || w->drain_p) {
        if (w->drain_p)
            cf_promise_adopt(p, w->drain_p);
        else
            cf_promise_resolve(p, NULL, NULL);
    } else {
        w->drain_p = cf_promise_retain(p);
    }
    return p;
}

static int commit(cf_fs_writer *w, cf_fs_writer_cb cb, void *data, cf_site site)
{
    if (!w)
        return CF_EINVAL;
    if (w->end != END_NONE)
        return CF_ECLOSED;
    w->end = END_COMMIT;
    w->end_site = site;
    w->end_cb = cb;
    w->end_data = data;
    if (!w->busy && !w->opened && !w->error) {
        /* The creation could not be submitted: nothing more will happen by itself. */
        set_error(w, end_site(w), CF_EIO, "open");
    }
    next_step(w);
    return 0;
}

CF__NOINLINE int cf_fs_writer_commit(cf_fs_writer *w, cf_fs_writer_cb cb, void *data)
{
    return commit(w, cb, data, CF__SITE_CALLER());
}

int cf__fs_writer_commit_at(cf_fs_writer *w, cf_fs_writer_cb cb, void *data, cf_site site)
{
    return commit(w, cb, data, site);
}

static void commit_settle(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    cf__io_settle(data, status, err, NULL, NULL);
}

CF__NOINLINE cf_promise *cf_fs_writer_commit_p(cf_fs_writer *w)
{
    cf_site site = CF__SITE_CALLER();
    if (!w)
        return NULL;
    cf_promise *p = cf_promise_new(w->loop);
    if (!p)
        return NULL;
    int rc = commit(w, commit_settle, cf_promise_retain(p), site);
    return cf__io_p_started(p, site, rc, "commit");
}

int cf_fs_writer_abort(cf_fs_writer *w, cf_fs_writer_cb cb, void *data)
{
    if (!w)
        return CF_EINVAL;
    if (w->end != END_NONE)
        return CF_ECLOSED;
    w->end = END_ABORT;
    w->end_cb = cb;
    w->end_data = data;
    cf__dbuf_reset(&w->fill);
    if (w->busy && w->job == JOB_CREATE && w->wake_fd < 0)
        w->wake_fd = cf__fs_out_wake(w->out); /* a FIFO waiting for a reader: end the wait */
    next_step(w);
    return 0;
}
