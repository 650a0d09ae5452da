/*
 * File streams (calcifer/stream.h): a Readable of a file (≈ fs.createReadStream) and a
 * Writable into one (≈ fs.createWriteStream), plain or through the atomic writer
 * (cf_fs_writer), built on the public calls of calcifer/fs.h.
 *
 * The read stream reads on the pool into memory it hands to the stream (cf_stream_push_take:
 * no copy), a chunk at a time, and reads ahead while the stream's consumer works: one pool
 * job reads up to READ_AHEAD bytes of consecutive chunks (one pread each), kept in a ring of
 * two jobs' worth until the read hook asks for them one by one, and the next job starts as
 * soon as the ring has room for what it reads: the pool reads one batch while the other is
 * consumed. A pipeline that parses what it reads so never waits for the pool unless the
 * parse is the faster (a job that only started when the last chunk of a batch was taken
 * made the parse wait for each batch's read), and pays one pool round trip (two thread
 * wake-ups) per batch, not per chunk. At most 2 × READ_AHEAD bytes wait in the ring.
 * The chunks' memory is lent (cf__stream_push_lent) and comes back to a small pool of spare
 * buffers (`rpool`, counted references: it outlives the stream while chunks are out), so a
 * long read reuses a few buffers instead of making the allocator hand memory back to the
 * system and fault it in again for each batch.
 *
 * The plain write stream opens the file with its first chunk and writes it with cf_fs_write.
 * After that, each write waits for the next tick and takes along the chunks written
 * meanwhile (cf__stream_write_gather), and the chunks that queue while it runs come to the
 * writev hook (≈ fs.WriteStream's _writev): each batch is one pool job of writev(2) calls
 * over up to CF_STREAM_WRITEV_MAX chunks, borrowed until it completes. A producer of small
 * chunks (a CSV stage pushes a row at a time) so costs a system call per batch, not per chunk.
 * The atomic one copies chunks into the writer's queue and waits for the writer's drain when that
 * queue is past its mark; the end commits (the file appears whole) and a destroy aborts (nothing
 * appears).
 *
 * Invariant: at most one pool operation (or a write waiting for its tick) runs per stream
 * (`busy`); a destroy that finds one running waits for it (the memory it uses belongs to the
 * stream) before closing the file and reporting cf_stream_destroy_done.
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

#include "core/pool.h"
#include "io/internal.h"
#include "io/stream.h"
#include "util/alloc.h"
#include "util/sys.h"
#include "util/util.h"

/* Errors of the adapter name the line that made the stream (see cf__stream_at). */
#define AT_STREAM(e) cf__stream_at(a->s, (e))

#define FS_CHUNK (64 * 1024)
/* Bytes one read job reads ahead: four default chunks, or one larger chunk. */
#define READ_AHEAD (256 * 1024)
#define READ_BATCH 4
/* Chunks read and not yet taken: at most two jobs' worth (2 × rk), so the next job reads while
 * one is consumed; the ring has room for two jobs of the largest batch. */
#define READ_RING (2 * READ_BATCH)
/* One cf_fs_copy_file_range of the fast path: few pool round trips, an abort within ~10 ms. */
#define COPY_CHUNK ((size_t)16 << 20)

/* Spare read buffers, shared by the read stream and the chunks it lent (loop thread). */
typedef struct rpool {
    int refs; /* the stream's, plus one per chunk out */
    int n;
    int max; /* spares kept: two jobs' worth (2 × rk), so memory stays bound to READ_AHEAD */
    char *spare[READ_RING];
} rpool;

static void rpool_unref(rpool *p)
{
    if (--p->refs > 0)
        return;
    for (int i = 0; i < p->n; i++)
        cf__free(p->spare[i]);
    cf__free(p);
}

/* A lent chunk is done with: keep its buffer as a spare (or free it) and drop its reference. */
static void rpool_release(void *mem, void *ctx)
{
    rpool *p = ctx;
    if (mem && p->n < p->max && p->refs > 1)
        p->spare[p->n++] = mem;
    else
        cf__free(mem);
    rpool_unref(p);
}

typedef struct fs_ad {
    cf_loop *loop;
    cf_stream *s;
    char *path;
    int fd;
    int busy;       /* an open, read or write runs on the pool */
    int destroying; /* destroy waits for `busy` to end */
    unsigned flags; /* CF_STREAM_FS_* (write streams) */
    size_t chunk;   /* read size */
    int64_t pos;    /* next read offset */
    int want;       /* the read hook waits for the read in flight */
    /* the read job: up to `rk` chunks into rbuf[], ssize_t results in rres[] (worker) */
    cf__work rw;
    char *rbuf[READ_BATCH]; /* allocated on the loop thread; kept when unused */
    ssize_t rres[READ_BATCH];
    int rk;       /* chunks a job may read */
    rpool *rpool; /* read streams */
    int rn;       /* chunks the job read (its last result may be 0 or an error) */
    /* what the jobs read, waiting for the read hook: bytes, 0 at the end, or an error */
    struct fs_ready {
        char *buf;
        int status;
        cf_error *err;
    } ready[READ_RING];
    int ready_head;
    int ready_n;
    int rdone;          /* the end or an error was read: no job follows */
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
    /* a batch of chunks written with writev(2) on the pool (plain write stream) */
    cf__work wv;
    struct iovec *iov; /* the batch; the worker advances it past what was written */
    size_t iov_cap;
    int iov_n;
    int wv_status; /* the worker's result: 0 or a negative code */
    int wv_calls;  /* writev calls the batch took */
} fs_ad;

static void link_end(fs_ad *a);

static void fs_free(void *data)
{
    fs_ad *a = data;
    link_end(a);
    for (int i = 0; i < READ_BATCH; i++)
        cf__free(a->rbuf[i]);
    for (int i = 0; i < READ_RING; i++) {
        cf__free(a->ready[i].buf);
        cf_error_free(a->ready[i].err);
    }
    if (a->rpool)
        rpool_unref(a->rpool);
    cf__free(a->iov);
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
    finish_destroy(a);
    return 1;
}

/* ---- read stream ---- */

static void start_read(fs_ad *a);
static void copy_step(fs_ad *a);

/* Hand a read's result to the stream: `buf` and `err` are taken. */
static void deliver(fs_ad *a, int status, char *buf, cf_error *err)
{
    if (status < 0) {
        cf__free(buf);
        cf_stream_destroy(a->s, AT_STREAM(err));
    } else if (status == 0) {
        cf__free(buf);
        cf_stream_push_end(a->s);
    } else {
        a->rpool->refs++;
        cf__stream_push_lent(a->s, buf, (size_t)status, rpool_release, a->rpool);
    }
}

/* Worker thread: consecutive chunks from `pos`, until one comes short, empty or failed. */
static void read_work(cf__work *wk)
{
    fs_ad *a = CF_CONTAINER_OF(wk, fs_ad, rw);
    int64_t pos = a->pos;
    a->rn = 0;
    while (a->rn < a->rk) {
        ssize_t n = cf__sys_pread(a->fd, a->rbuf[a->rn], a->chunk, (off_t)pos);
        a->rres[a->rn++] = n;
        if (n <= 0 || (size_t)n < a->chunk)
            break;
        pos += n;
    }
}

static void ready_add(fs_ad *a, char *buf, int status, cf_error *err)
{
    struct fs_ready *r = &a->ready[(a->ready_head + a->ready_n++) % READ_RING];
    if (status <= 0)
        a->rdone = 1;
    r->buf = buf;
    r->status = status;
    r->err = err;
}

/*
 * Start the next job when at most one job's worth waits and more may follow, so the pool
 * reads the next batch while this one is consumed (a parse never waits for a job that only
 * starts when it has taken the last chunk), and a paused consumer finds at most two jobs'
 * worth read ahead, whatever the chunk size. (The copy fast path reads nothing ahead.)
 */
static void read_ahead(fs_ad *a)
{
    if (a->busy || a->rdone || a->linked || a->fd < 0 || a->ready_n > a->rk)
        return;
    start_read(a);
}

/* The read hook takes what was read: the next chunk waiting (the next job started first). */
static void take_ready(fs_ad *a)
{
    struct fs_ready r = a->ready[a->ready_head];
    a->ready[a->ready_head] = (struct fs_ready){0};
    a->ready_head = (a->ready_head + 1) % READ_RING;
    a->ready_n--;
    read_ahead(a);
    deliver(a, r.status, r.buf, r.err);
}

/* A read job completed: queue its chunks (their buffers move out), then feed a waiting hook. */
static void read_done(cf__work *wk, int status)
{
    fs_ad *a = CF_CONTAINER_OF(wk, fs_ad, rw);
    if (op_ended(a))
        return;
    if (status < 0) {
        a->rn = 1;
        a->rres[0] = status;
    }
    for (int i = 0; i < a->rn; i++) {
        ssize_t n = a->rres[i];
        if (n > 0) {
            a->pos += n;
            ready_add(a, a->rbuf[i], (int)n, NULL);
            a->rbuf[i] = NULL;
        } else {
            int rc = (int)n;
            ready_add(a, NULL, rc,
                      rc < 0 ? CF_ERROR(rc, "read '%s': %s", a->path, cf_strerror(rc)) : NULL);
        }
    }
    if (a->want) {
        a->want = 0;
        take_ready(a);
    } else {
        read_ahead(a);
    }
}

static void start_read(fs_ad *a)
{
    if (a->linked) {
        copy_step(a);
        return;
    }
    for (int i = 0; i < a->rk; i++) {
        if (!a->rbuf[i] && a->rpool->n)
            a->rbuf[i] = a->rpool->spare[--a->rpool->n];
        if (!a->rbuf[i] && !(a->rbuf[i] = cf__malloc(a->chunk))) {
            cf_stream_destroy(a->s,
                              AT_STREAM(CF_ERROR(CF_ENOMEM, "read '%s': out of memory", a->path)));
            return;
        }
    }
    a->busy = 1;
    int rc = cf__work_submit(a->loop, &a->rw, NULL, read_work, read_done);
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

/* The read hook: a chunk read ahead if there is one, else a read. */
static void fs_read(cf_stream *s, size_t size, void *data)
{
    fs_ad *a = data;
    (void)s;
    (void)size;
    if (a->ready_n) {
        take_ready(a);
        return;
    }
    a->want = 1;
    if (a->busy)
        return; /* the read ahead in flight is delivered when it completes */
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
    a->rk = (int)CF_MAX((size_t)1, CF_MIN((size_t)READ_BATCH, READ_AHEAD / a->chunk));
    a->rpool = cf__calloc(1, sizeof *a->rpool);
    if (!a->rpool) {
        fs_free(a);
        return CF_ENOMEM;
    }
    a->rpool->refs = 1;
    a->rpool->max = 2 * a->rk;
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

/*
 * Worker thread: write the whole batch, one writev(2) after another. A short write goes on
 * from where it stopped: the kernel's cap on one call, a signal, a file size limit reached
 * mid-batch. An error stops the batch, the bytes before it staying written.
 */
static void writev_work(cf__work *wk)
{
    fs_ad *a = CF_CONTAINER_OF(wk, fs_ad, wv);
    struct iovec *iov = a->iov;
    int n = a->iov_n;
    a->wv_status = 0;
    a->wv_calls = 0;
    while (n > 0) {
        ssize_t w = cf__sys_writev(a->fd, iov, n);
        a->wv_calls++;
        if (w <= 0) {
            a->wv_status = w < 0 ? (int)w : CF_EIO;
            return;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
}

static void writev_done(cf__work *wk, int status)
{
    fs_ad *a = CF_CONTAINER_OF(wk, fs_ad, wv);
    if (op_ended(a))
        return;
    int rc = status < 0 ? status : a->wv_status;
    cf_stream_done(
        a->s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "write '%s': %s", a->path, cf_strerror(rc))) : NULL);
}

/* Submit the batch `chunks[0..n)` as one pool job. */
static void submit_writev(fs_ad *a, const cf_buf *chunks, size_t n)
{
    cf_stream *s = a->s;
    if (n > a->iov_cap) {
        struct iovec *v = cf__realloc(a->iov, n * sizeof *v);
        if (!v) {
            cf_stream_done(s, AT_STREAM(CF_ERROR(CF_ENOMEM, "write '%s': out of memory", a->path)));
            return;
        }
        a->iov = v;
        a->iov_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        a->iov[i].iov_base = chunks[i].base;
        a->iov[i].iov_len = chunks[i].len;
    }
    a->iov_n = (int)n;
    a->busy = 1;
    int rc = cf__work_submit(a->loop, &a->wv, NULL, writev_work, writev_done);
    if (rc < 0) {
        a->busy = 0;
        cf_stream_done(s, AT_STREAM(CF_ERROR(rc, "write '%s': %s", a->path, cf_strerror(rc))));
    }
}

/* The writev hook (≈ fs.WriteStream's _writev): the queued chunks in one pool job. */
static void fs_writev(cf_stream *s, const cf_buf *chunks, size_t n, void *data)
{
    fs_ad *a = data;
    (void)s;
    a->wrote = 1;
    CF_ASSERT(a->fd >= 0); /* a batch only follows a completed write, so the file is open */
    submit_writev(a, chunks, n);
}

/*
 * The next tick after a lone write: the chunks written meanwhile (a CSV stage pushes a row at
 * a time, all in one callback) join it, and the whole batch is one pool job rather than a
 * job for the first chunk and one for the rest.
 */
static void write_tick(void *data)
{
    fs_ad *a = data;
    if (op_ended(a)) /* destroyed meanwhile: the write never started */
        return;
    const cf_buf *vec;
    size_t n = cf__stream_write_gather(a->s, &vec);
    if (n == 0) {
        cf_stream_done(a->s,
                       AT_STREAM(CF_ERROR(CF_EINVAL, "write '%s': no write pending", a->path)));
        return;
    }
    submit_writev(a, vec, n);
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
        /* busy already: a destroy meanwhile waits for the tick, which then stops */
        a->busy = 1;
        if (cf_next_tick(a->loop, write_tick, a) < 0) {
            a->busy = 0;
            do_write(a, chunk, len);
        }
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

static const cf_stream_impl fs_write_impl = {.write = fs_write,
                                             .final = fs_final,
                                             .destroy = fs_destroy,
                                             .free_data = fs_free,
                                             .writev = fs_writev};

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

/* After queueing into the writer (`rc` its last result): complete now, or at its drain. */
static void atomic_queued(cf_stream *s, fs_ad *a, int rc)
{
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

static void atomic_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    fs_ad *a = data;
    a->wrote = 1;
    atomic_queued(s, a, cf_fs_writer_write(a->writer, chunk, len));
}

/* A batch: every chunk into the writer's queue (which writes it in large pieces), one done. */
static void atomic_writev(cf_stream *s, const cf_buf *chunks, size_t n, void *data)
{
    fs_ad *a = data;
    a->wrote = 1;
    int rc = 0;
    for (size_t i = 0; i < n && rc >= 0; i++)
        rc = cf_fs_writer_write(a->writer, chunks[i].base, chunks[i].len);
    atomic_queued(s, a, rc);
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
                                           .free_data = atomic_free,
                                           .writev = atomic_writev};

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
