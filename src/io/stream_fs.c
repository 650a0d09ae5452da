/*
 * File streams (calcifer/stream.h): a Readable of a file (≈ fs.createReadStream) and a
 * Writable into one (≈ fs.createWriteStream), plain or through the atomic writer
 * (cf_fs_writer), built on the public calls of calcifer/fs.h.
 *
 * The read stream reads one chunk at a time on the pool into memory it hands to the stream
 * (cf_stream_push_take: no copy). The plain write stream writes each chunk with cf_fs_write,
 * borrowing the stream's chunk until the write completes. The atomic one copies chunks into
 * the writer's queue and waits for the writer's drain when that queue is past its mark; the
 * end commits (the file appears whole) and a destroy aborts (nothing appears).
 *
 * Invariant: at most one pool operation runs per stream (`busy`); a destroy that finds one
 * running waits for it (the memory it uses belongs to the stream) before closing the file
 * and reporting cf_stream_destroy_done.
 *
 * The copy fast path: a read stream piped straight into a write stream (cf__stream_fs_link,
 * from cf_stream_pipe) moves the bytes with cf_fs_copy_file_range (16 MiB a call, inside the
 * kernel) from its descriptor into a duplicate of the write stream's: the plain one's file,
 * opened by the read stream and handed to the write stream (whose final or destroy closes
 * it), or the atomic writer's temporary file once created. The read stream pushes no chunk;
 * at the end of the input it pushes the end, so the pipe ends the write stream, which closes
 * or commits its file as usual; a destroy of either aborts as usual (the duplicate only keeps
 * an unlinked temporary file open until the copy in flight returns). The duplicate makes the
 * read stream independent of when the write stream closes its own descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "io/internal.h"
#include "io/stream.h"
#include "util/alloc.h"
#include "util/util.h"

/* Errors of the adapter name the line that made the stream (see cf__stream_at). */
#define AT_STREAM(e) cf__stream_at(a->s, (e))

#define FS_CHUNK (64 * 1024)
/* One cf_fs_copy_file_range of the fast path: few pool round trips, an abort within ~10 ms. */
#define COPY_CHUNK ((size_t)16 << 20)

typedef struct fs_ad {
    cf_loop *loop;
    cf_stream *s;
    char *path;
    int fd;
    int busy;           /* an open, read or write runs on the pool */
    int destroying;     /* destroy waits for `busy` to end */
    unsigned flags;     /* CF_STREAM_FS_* (write streams) */
    size_t chunk;       /* read size */
    int64_t pos;        /* next read offset */
    char *buf;          /* the read in flight */
    const void *wbytes; /* the write waiting for the open */
    size_t wlen;
    int final_pending; /* final waits for the open */
    cf_fs_writer *writer;
    int drain_pending; /* the writer's drain callback is due */
    int committing;    /* the writer's commit callback is due */
    int aborting;      /* the writer's abort callback is due */
    /* the copy fast path */
    int linked;      /* (read stream) copies into `peer` instead of pushing chunks */
    cf_stream *peer; /* the write stream, held while linked */
    struct fs_ad *peer_ad;
    int out_fd;  /* a duplicate of the peer's descriptor, or -1 */
    int claimed; /* (write stream) a read stream copies into it */
    int wrote;   /* (write stream) a write or final came */
} fs_ad;

static void link_end(fs_ad *a);

static void fs_free(void *data)
{
    fs_ad *a = data;
    link_end(a);
    cf__free(a->buf);
    cf__free(a->path);
    cf__free(a);
}

static void closed_cb(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    (void)status;
    (void)err;
    cf_stream_destroy_done(a->s);
}

/* The destroy can go on once nothing runs: close the descriptor, then report. */
static void finish_destroy(fs_ad *a)
{
    link_end(a);
    int fd = a->fd;
    a->fd = -1;
    if (fd < 0 || cf_fs_close(a->loop, fd, NULL, closed_cb, a) < 0)
        cf_stream_destroy_done(a->s);
}

static void fs_destroy(cf_stream *s, const cf_error *err, void *data)
{
    fs_ad *a = data;
    (void)s;
    (void)err;
    if (a->busy)
        a->destroying = 1;
    else
        finish_destroy(a);
}

/* A pool operation ended; returns 1 when the stream is being destroyed (then stop). */
static int op_ended(fs_ad *a)
{
    a->busy = 0;
    if (!a->destroying)
        return 0;
    cf__free(a->buf);
    a->buf = NULL;
    finish_destroy(a);
    return 1;
}

/* ---- read stream ---- */

static void start_read(fs_ad *a);
static void copy_step(fs_ad *a);

static void on_read(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (op_ended(a))
        return;
    char *buf = a->buf;
    a->buf = NULL;
    if (status < 0) {
        cf__free(buf);
        cf_stream_destroy(a->s, AT_STREAM(cf_error_copy(err)));
    } else if (status == 0) {
        cf__free(buf);
        cf_stream_push_end(a->s);
    } else {
        a->pos += status;
        cf_stream_push_take(a->s, buf, (size_t)status);
    }
}

static void start_read(fs_ad *a)
{
    if (a->linked) {
        copy_step(a);
        return;
    }
    a->buf = cf__malloc(a->chunk);
    if (!a->buf) {
        cf_stream_destroy(a->s,
                          AT_STREAM(CF_ERROR(CF_ENOMEM, "read '%s': out of memory", a->path)));
        return;
    }
    a->busy = 1;
    int rc = cf_fs_read(a->loop, a->fd, a->buf, a->chunk, a->pos, NULL, on_read, a);
    if (rc < 0) {
        a->busy = 0;
        cf_stream_destroy(a->s, AT_STREAM(CF_ERROR(rc, "read '%s': %s", a->path, cf_strerror(rc))));
    }
}

static void on_open_read(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (status >= 0)
        a->fd = status;
    if (op_ended(a))
        return;
    if (status < 0)
        cf_stream_destroy(a->s, AT_STREAM(cf_error_copy(err)));
    else
        start_read(a);
}

static void fs_read(cf_stream *s, size_t size, void *data)
{
    fs_ad *a = data;
    (void)s;
    (void)size;
    if (a->fd >= 0) {
        start_read(a);
        return;
    }
    a->busy = 1;
    int rc = cf_fs_open(a->loop, a->path, O_RDONLY, 0, NULL, on_open_read, a);
    if (rc < 0) {
        a->busy = 0;
        cf_stream_destroy(a->s, AT_STREAM(CF_ERROR(rc, "open '%s': %s", a->path, cf_strerror(rc))));
    }
}

static const cf_stream_impl fs_read_impl = {
    .read = fs_read, .destroy = fs_destroy, .free_data = fs_free};

static fs_ad *ad_new(cf_loop *loop, const char *path)
{
    fs_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->path = cf__strdup(path);
    if (!a->path) {
        cf__free(a);
        return NULL;
    }
    a->loop = loop;
    a->fd = -1;
    a->out_fd = -1;
    return a;
}

CF__NOINLINE int cf_stream_fs_read_new(cf_loop *loop, const char *path, size_t chunk_size,
                                       cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !path || !out)
        return CF_EINVAL;
    fs_ad *a = ad_new(loop, path);
    if (!a)
        return CF_ENOMEM;
    a->chunk = chunk_size ? chunk_size : FS_CHUNK;
    cf_stream_options o = {.high_water = a->chunk};
    int rc = cf__stream_new_at(site, loop, CF_STREAM_READABLE, &fs_read_impl, &o, a, &a->s);
    if (rc < 0) {
        fs_free(a);
        return rc;
    }
    *out = a->s;
    return 0;
}

/* ---- plain write stream ---- */

static void on_write(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (op_ended(a))
        return;
    cf_stream_done(a->s, status < 0 ? AT_STREAM(cf_error_copy(err)) : NULL);
}

static void do_write(fs_ad *a, const void *bytes, size_t len)
{
    a->busy = 1;
    int rc = cf_fs_write(a->loop, a->fd, bytes, len, -1, NULL, on_write, a);
    if (rc < 0) {
        a->busy = 0;
        cf_stream_done(a->s, AT_STREAM(CF_ERROR(rc, "write '%s': %s", a->path, cf_strerror(rc))));
    }
}

static void on_final_close(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (op_ended(a))
        return;
    cf_stream_done(a->s, status < 0 ? AT_STREAM(cf_error_copy(err)) : NULL);
}

static void do_final(fs_ad *a)
{
    int fd = a->fd;
    a->fd = -1;
    a->busy = 1;
    int rc = cf_fs_close(a->loop, fd, NULL, on_final_close, a);
    if (rc < 0) {
        a->busy = 0;
        cf_stream_done(a->s, AT_STREAM(CF_ERROR(rc, "close '%s': %s", a->path, cf_strerror(rc))));
    }
}

static void on_open_write(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (status >= 0)
        a->fd = status;
    if (op_ended(a))
        return;
    if (status < 0)
        cf_stream_done(a->s, AT_STREAM(cf_error_copy(err)));
    else if (a->final_pending)
        do_final(a);
    else
        do_write(a, a->wbytes, a->wlen);
}

static void open_for_write(fs_ad *a)
{
    int flags = O_WRONLY | O_CREAT | ((a->flags & CF_STREAM_FS_APPEND) ? O_APPEND : O_TRUNC);
    a->busy = 1;
    int rc = cf_fs_open(a->loop, a->path, flags, 0666, NULL, on_open_write, a);
    if (rc < 0) {
        a->busy = 0;
        cf_stream_done(a->s, AT_STREAM(CF_ERROR(rc, "open '%s': %s", a->path, cf_strerror(rc))));
    }
}

static void fs_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    fs_ad *a = data;
    (void)s;
    a->wrote = 1;
    if (a->fd >= 0) {
        do_write(a, chunk, len);
        return;
    }
    a->wbytes = chunk;
    a->wlen = len;
    open_for_write(a);
}

static void fs_final(cf_stream *s, void *data)
{
    fs_ad *a = data;
    (void)s;
    a->wrote = 1;
    if (a->fd >= 0) {
        do_final(a);
        return;
    }
    a->final_pending = 1; /* nothing written: create the (empty) file all the same */
    open_for_write(a);
}

static const cf_stream_impl fs_write_impl = {
    .write = fs_write, .final = fs_final, .destroy = fs_destroy, .free_data = fs_free};

/* ---- atomic write stream (cf_fs_writer) ---- */

static void on_writer_drain(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    (void)w;
    a->drain_pending = 0;
    if (a->destroying) { /* aborted: report the destroy once both callbacks ran */
        if (!a->aborting)
            cf_stream_destroy_done(a->s);
        return;
    }
    cf_stream_done(a->s, status < 0 ? AT_STREAM(cf_error_copy(err)) : NULL);
}

static void atomic_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    fs_ad *a = data;
    a->wrote = 1;
    int rc = cf_fs_writer_write(a->writer, chunk, len);
    /* Full: wait for the drain. Failed (the file could not be created, say): the drain
     * reports the writer's own error, whose message names the step and the path. */
    if (rc == CF_FS_WRITER_FULL || rc < 0) {
        int drc = cf_fs_writer_drain(a->writer, on_writer_drain, a);
        if (drc == 0) {
            a->drain_pending = 1;
            return;
        }
        rc = rc < 0 ? rc : drc;
    }
    cf_stream_done(s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "write '%s': %s", a->path, cf_strerror(rc)))
                             : NULL);
}

static void on_commit(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    (void)w;
    a->writer = NULL; /* freed after this callback */
    a->committing = 0;
    if (a->destroying)
        cf_stream_destroy_done(a->s);
    else
        cf_stream_done(a->s, status < 0 ? AT_STREAM(cf_error_copy(err)) : NULL);
}

static void atomic_final(cf_stream *s, void *data)
{
    fs_ad *a = data;
    a->committing = 1;
    int rc = cf_fs_writer_commit(a->writer, on_commit, a);
    if (rc < 0) {
        a->committing = 0;
        a->writer = NULL;
        cf_stream_done(s, AT_STREAM(CF_ERROR(rc, "commit '%s': %s", a->path, cf_strerror(rc))));
    }
}

static void on_abort(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    (void)w;
    (void)status;
    (void)err;
    a->writer = NULL;
    a->aborting = 0;
    if (!a->drain_pending)
        cf_stream_destroy_done(a->s);
}

static void atomic_destroy(cf_stream *s, const cf_error *err, void *data)
{
    fs_ad *a = data;
    (void)err;
    a->destroying = 1;
    if (a->committing)
        return; /* the commit's callback reports the destroy */
    if (!a->writer) {
        cf_stream_destroy_done(s);
        return;
    }
    a->aborting = 1;
    if (cf_fs_writer_abort(a->writer, on_abort, a) < 0) {
        a->aborting = 0;
        a->writer = NULL;
        if (!a->drain_pending)
            cf_stream_destroy_done(s);
    }
}

static void atomic_free(void *data)
{
    fs_ad *a = data;
    if (a->writer) /* never started: nothing waits for the abort */
        cf_fs_writer_abort(a->writer, NULL, NULL);
    fs_free(a);
}

static const cf_stream_impl atomic_impl = {.write = atomic_write,
                                           .final = atomic_final,
                                           .destroy = atomic_destroy,
                                           .free_data = atomic_free};

CF__NOINLINE int cf_stream_fs_write_new(cf_loop *loop, const char *path, unsigned flags,
                                        size_t high_water, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !path || !out || (flags & ~(CF_STREAM_FS_ATOMIC | CF_STREAM_FS_APPEND)) ||
        ((flags & CF_STREAM_FS_ATOMIC) && (flags & CF_STREAM_FS_APPEND)))
        return CF_EINVAL;
    fs_ad *a = ad_new(loop, path);
    if (!a)
        return CF_ENOMEM;
    a->flags = flags;
    int rc = 0;
    if (flags & CF_STREAM_FS_ATOMIC)
        rc = cf_fs_writer_open(loop, path, high_water, NULL, &a->writer);
    if (rc < 0) {
        fs_free(a);
        return rc;
    }
    cf_stream_options o = {.high_water = high_water ? high_water : FS_CHUNK};
    const cf_stream_impl *impl = (flags & CF_STREAM_FS_ATOMIC) ? &atomic_impl : &fs_write_impl;
    rc = cf__stream_new_at(site, loop, CF_STREAM_WRITABLE, impl, &o, a, &a->s);
    if (rc < 0) {
        impl->free_data(a);
        return rc;
    }
    *out = a->s;
    return 0;
}

/* ---- the copy fast path ---- */

/* Leave the fast path: close the duplicate, let the write stream go. */
static void link_end(fs_ad *a)
{
    if (a->out_fd >= 0) {
        close(a->out_fd); /* a duplicate: the write stream still holds (or closed) its own */
        a->out_fd = -1;
    }
    if (a->peer) {
        cf_stream *peer = a->peer;
        a->peer = NULL;
        a->peer_ad = NULL;
        cf__stream_release(peer);
    }
}

/*
 * The output could not be opened or created: that is the write stream's failure, as it would
 * have been at its first write. The read stream stops (a pipeline destroys it with the error;
 * a bare pipe leaves it as a source whose destination failed).
 */
static void output_failed(fs_ad *a, int code, const cf_error *err)
{
    cf_stream *peer = a->peer;
    cf_error *e = err ? cf_error_copy(err)
                      : CF_ERROR(code, "open '%s': %s", a->peer_ad->path, cf_strerror(code));
    cf_stream_destroy(peer, cf__stream_at(peer, e));
    link_end(a);
}

static void take_output(fs_ad *a, int fd)
{
    a->out_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (a->out_fd < 0) {
        output_failed(a, cf_translate_sys_error(errno), NULL);
        return;
    }
    copy_step(a);
}

static void on_output_open(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    int fd = status;
    if (fd >= 0 && (a->destroying || cf_stream_is_destroyed(a->peer))) {
        close(fd); /* nobody will write into it */
        fd = -1;
    }
    if (op_ended(a))
        return;
    if (status < 0) {
        output_failed(a, status, err);
        return;
    }
    if (fd < 0) {
        link_end(a); /* the write stream was destroyed meanwhile: stop */
        return;
    }
    a->peer_ad->fd = fd; /* the write stream owns it now: its final or destroy closes it */
    take_output(a, fd);
}

static void on_output_ready(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (op_ended(a))
        return;
    if (cf_stream_is_destroyed(a->peer)) {
        link_end(a); /* aborted: its abort removes the temporary file */
        return;
    }
    if (status < 0) {
        output_failed(a, status, err);
        return;
    }
    take_output(a, cf__fs_writer_fd(w));
}

/* Make the output descriptor: open the plain file, or wait for the writer's temporary file. */
static void open_output(fs_ad *a)
{
    fs_ad *d = a->peer_ad;
    int rc;
    a->busy = 1;
    if (d->writer) {
        rc = cf__fs_writer_idle(d->writer, on_output_ready, a);
    } else {
        int flags = O_WRONLY | O_CREAT | ((d->flags & CF_STREAM_FS_APPEND) ? O_APPEND : O_TRUNC);
        rc = cf_fs_open(a->loop, d->path, flags, 0666, NULL, on_output_open, a);
    }
    if (rc < 0) {
        a->busy = 0;
        output_failed(a, rc, NULL);
    }
}

static void on_copy(int status, const cf_error *err, void *data)
{
    fs_ad *a = data;
    if (op_ended(a))
        return;
    if (status < 0) {
        const char *to = a->peer_ad ? a->peer_ad->path : "?";
        cf_error *e = CF_ERROR(status, "copy '%s' to '%s': %s", a->path, to,
                               err ? err->message : cf_strerror(status));
        link_end(a);
        cf_stream_destroy(a->s, AT_STREAM(e));
    } else if (status == 0) {
        link_end(a); /* the end: the pipe ends the write stream, which closes or commits */
        cf_stream_push_end(a->s);
    } else {
        a->pos += status;
        copy_step(a);
    }
}

/* The next step of the copy; the read hook runs once, this loop carries it to the end. */
static void copy_step(fs_ad *a)
{
    if (!a->peer)
        return; /* stopped: the output failed or went away */
    if (cf_stream_is_destroyed(a->peer)) {
        link_end(a); /* the write stream failed or was destroyed: its pipe is gone */
        return;
    }
    if (a->out_fd < 0) {
        open_output(a);
        return;
    }
    a->busy = 1;
    int rc =
        cf_fs_copy_file_range(a->loop, a->fd, a->pos, a->out_fd, -1, COPY_CHUNK, NULL, on_copy, a);
    if (rc < 0) {
        a->busy = 0;
        on_copy(rc, NULL, a);
    }
}

int cf__stream_fs_link(cf_stream *src, cf_stream *dst)
{
    if (src->impl != &fs_read_impl || (dst->impl != &fs_write_impl && dst->impl != &atomic_impl))
        return 0;
    fs_ad *a = src->data, *d = dst->data;
    /* Only a fresh pair, and only when the pipe is the one reader: no chunk is ever pushed. */
    if (a->linked || a->busy || a->fd >= 0 || a->pos || d->claimed || d->wrote || d->busy ||
        d->fd >= 0 || (dst->impl == &atomic_impl && !d->writer))
        return 0;
    if (src->destroyed || dst->destroyed || src->r.ended || src->r.length || dst->w.length ||
        dst->w.ending || cf__stream_listener_count(src, CF_STREAM_EV_DATA) != 1 ||
        cf__stream_listener_count(src, CF_STREAM_EV_READABLE) != 0)
        return 0;
    a->linked = 1;
    a->peer = dst;
    a->peer_ad = d;
    d->claimed = 1;
    cf__stream_hold(dst);
    return 1;
}
