/*
 * Private declarations of the stream module (calcifer/stream.h), shared by stream.c (the
 * state machines of the readable and writable sides), stream_pipe.c (pipe, pipeline,
 * finished and the promise forms) and the adapters (stream_fs.c, stream_net.c,
 * stream_data.c). The field names follow Node's ReadableState and WritableState
 * (lib/internal/streams/readable.js and writable.js), whose logic stream.c ports, so that a
 * reader can check one against the other.
 */
#ifndef CF_IO_STREAM_H
#define CF_IO_STREAM_H

#include "calcifer/stream.h"
#include "core/loop.h"
#include "util/site.h"

/* A buffered chunk: bytes (buf, in memory `mem` of its own) or one object. */
typedef struct cf__chunk {
    cf_buf buf; /* first member: a cf_buf * handed out is the chunk */
    struct cf__chunk *next;
    char *mem;     /* the allocation buf.base points into (bytes mode) */
    void *obj;     /* object mode */
    int stealable; /* emitted by flow: a pipe may take it instead of copying it */
    void (*free_object)(void *obj);
    /* `mem` lent by an adapter: handed back to release() instead of freed (NULL: freed) */
    void (*release)(void *mem, void *ctx);
    void *release_ctx;
} cf__chunk;

typedef struct cf__cqueue {
    cf__chunk *head;
    cf__chunk *tail;
} cf__cqueue;

typedef struct cf__listener {
    struct cf__listener *next;
    int ev;
    int dead;
    cf_stream_event_cb cb;
    cf_stream_data_cb dcb;
    void *data;
} cf__listener;

/* ≈ ReadableState. `flowing` is -1 for null (never chosen), 0 false, 1 true. */
typedef struct cf__rstate {
    int objects;
    size_t hwm;
    size_t length;
    cf__cqueue buffer;
    int flowing;
    unsigned ended : 1;
    unsigned end_emitted : 1;
    unsigned reading : 1;
    unsigned sync : 1;
    unsigned need_readable : 1;
    unsigned emitted_readable : 1;
    unsigned readable_listening : 1;
    unsigned resume_scheduled : 1;
    unsigned reading_more : 1;
    unsigned data_emitted : 1;
    unsigned paused : 1;
    cf__chunk *emitting; /* the chunk the 'data' listeners are looking at */
    int stolen;          /* a pipe took `emitting` */
    int in_flow;         /* do_read runs for flow(): its chunk may be taken */
    void *await_drain;   /* the pipe waiting for its destination's drain */
    int npipes;
} cf__rstate;

/* ≈ WritableState. */
typedef struct cf__wstate {
    int objects;
    size_t hwm;
    size_t length;
    cf__cqueue buffered;
    cf__chunk *current; /* the chunk the write hook holds */
    cf__cqueue batch;   /* the chunks the writev hook holds (current is NULL then) */
    cf_buf *vec;        /* their bytes, as the writev hook sees them; reused */
    size_t vec_cap;
    size_t writelen;
    int pending_cb;
    int after_write_count; /* writes completed synchronously, reported on the next tick */
    unsigned writing : 1;
    unsigned sync : 1;
    unsigned need_drain : 1;
    unsigned ending : 1;
    unsigned ended : 1;
    unsigned finished : 1;
    unsigned final_called : 1;
    unsigned prefinished : 1;
    unsigned buffer_processing : 1;
} cf__wstate;

/* What cf_stream_done completes. */
enum cf__op { CF__OP_NONE, CF__OP_WRITE, CF__OP_TRANSFORM, CF__OP_FINAL, CF__OP_FLUSH };

struct cf_stream {
    cf_loop *loop;
    cf_stream_kind kind;
    const cf_stream_impl *impl;
    void *data;
    void (*free_object)(void *obj);
    unsigned flags;
    int has_r;
    int has_w;
    cf__rstate r;
    cf__wstate w;
    cf__listener *lhead;
    cf__listener *ltail;
    int emitting;
    int refs;
    enum cf__op op;
    size_t t_length; /* readable length when the transform started */
    int t_deferred;  /* ≈ Transform's kCallback: the write's callback waits for a read */
    unsigned destroyed : 1;
    unsigned destroy_pending : 1;
    unsigned destroy_has_err : 1;
    unsigned closed : 1;
    unsigned close_emitted : 1;
    unsigned error_emitted : 1;
    unsigned close_called : 1;
    unsigned freeing : 1;
    unsigned iterating : 1; /* cf_stream_read_p put it in paused mode */
    cf_error *errored;      /* the first error; owned */
    cf_error *destroy_err;  /* the error given to destroy when another was first; owned */
    cf_close_cb close_cb;
    void *close_data;
    cf_site site;           /* the line that made the stream (its adapter's caller) */
    cf__loop_closer closer; /* cf__loop_close_all closes it as its owner would */
};

/* Chunks. */
cf__chunk *cf__chunk_bytes(const void *bytes, size_t len);
cf__chunk *cf__chunk_take(void *mem, size_t len);
/*
 * cf_stream_push_take for memory an adapter lends (bytes mode): when the chunk is done with,
 * `release(mem, ctx)` runs (loop thread) instead of a free, so the adapter can reuse it;
 * cf_stream_read hands out a copy of such a chunk. Takes `mem` even on failure (released).
 */
int cf__stream_push_lent(cf_stream *s, void *mem, size_t len, void (*release)(void *, void *),
                         void *ctx);
cf__chunk *cf__chunk_object(void *obj, void (*free_object)(void *));
void cf__chunk_free(cf__chunk *c);
void cf__chunk_free_buf(void *buf);

/* cf_stream_new for a caller at `site` (the adapters pass their own caller's). */
int cf__stream_new_at(cf_site site, cf_loop *loop, cf_stream_kind kind, const cf_stream_impl *impl,
                      const cf_stream_options *opts, void *data, cf_stream **out);
/*
 * Place `e` (taken, returned) at the line that made `s`: an adapter's error then names the
 * user's line rather than the library's. NULL stays NULL.
 */
cf_error *cf__stream_at(const cf_stream *s, cf_error *e);

/* Internals used by stream_pipe.c. */
void cf__stream_hold(cf_stream *s);
void cf__stream_release(cf_stream *s);
int cf__stream_write_chunk(cf_stream *s, cf__chunk *c);
cf__chunk *cf__stream_read_chunk(cf_stream *s);
int cf__stream_listener_count(const cf_stream *s, int ev);
int cf__stream_readable_done(const cf_stream *s);
int cf__stream_writable_done(const cf_stream *s);
int cf__stream_on_data_internal(cf_stream *s, cf_stream_data_cb cb, void *data);
/*
 * The destination the next object `s` pushes goes to at once, and to nothing else: `s` is
 * flowing with an empty buffer and its only 'data' listener is one pipe (stream_pipe.c).
 * NULL otherwise. Lets an object-mode adapter shape what it pushes for that destination.
 */
cf_stream *cf__stream_pipe_direct(const cf_stream *s);
cf_error *cf__stream_premature_close(void);
/*
 * cf_stream_pipe's fast path (stream_fs.c): when `src` is a file read stream that has read
 * nothing and the pipe is its only reader, and `dst` a file write stream that has written
 * nothing, make `src` move its bytes into `dst`'s descriptor with cf_fs_copy_file_range
 * instead of pushing chunks. Returns 1 when linked, 0 when the pipe stays an ordinary one.
 */
int cf__stream_fs_link(cf_stream *src, cf_stream *dst);
/*
 * From a write hook in progress (bytes mode, an implementation with a writev hook), before
 * its cf_stream_done: turn the write into a batch of its chunk and the chunks queued behind
 * it (up to CF_STREAM_WRITEV_MAX in all), which its one cf_stream_done then completes or
 * fails together, as a writev batch. Sets `*vec` to the batch (borrowed until the done) and
 * returns its length, or 0 when no write is pending (then nothing changed).
 */
size_t cf__stream_write_gather(cf_stream *s, const cf_buf **vec);
/* ≈ errorOrDestroy: destroy with `err` (taken) unless destroyed already. */
void cf__stream_error_or_destroy(cf_stream *s, cf_error *err);

#endif
