/*
 * Calcifer: streams with backpressure (≈ Node's `stream`: Readable, Writable, Duplex,
 * Transform, pipe, pipeline, finished).
 *
 * One opaque type, `cf_stream`, is any of the four kinds. Its behaviour comes from an
 * implementation (`cf_stream_impl`, ≈ the _read/_write/_final/_transform/_flush/_destroy
 * methods of a Node subclass) and its state machine is Node's, event for event: the same
 * events ('data', 'readable', 'end', 'drain', 'prefinish', 'finish', 'error', 'close') in the
 * same order and on the same ticks (nextTick queue), as the traces recorded from Node 20 in
 * tests/conformance/streams/ check.
 *
 * Backpressure: each side has a high-water mark, in bytes, or in objects for a side in object
 * mode. cf_stream_write returns CF_STREAM_FULL once the bytes waiting reach the mark (≈
 * write() returning false; the chunk is queued all the same) and CF_STREAM_EV_DRAIN is emitted
 * when they are all written; cf_stream_push returns CF_STREAM_FULL when the readable buffer
 * reached its mark (≈ push() returning false): the producer stops until its `read` hook is
 * called again. pipe and pipeline pause the source while the destination is full, so memory
 * stays within the marks. In a task, cf_stream_write_p suspends until the destination drains
 * and cf_stream_read_p gives the next chunk (≈ `for await (const chunk of readable)`).
 *
 * Ownership: the caller owns a stream from cf_stream_new (or an adapter's constructor) and
 * frees it with cf_stream_close, which destroys it first if needed; the memory goes after the
 * 'close' event and the close callback. pipe, pipeline and finished borrow the streams: close
 * them yourself (in the pipeline's callback, say). Bytes given to write and push are copied
 * (or taken, with the _take forms); objects (object mode) are taken and freed with the
 * options' `free_object`. Chunks handed to a callback are borrowed until it returns.
 *
 * Errors: calls return 0, CF_STREAM_FULL, or a negative CF_E*; failures of a running stream
 * are its 'error' event, with a cf_error borrowed until the listener returns, followed by
 * 'close'. Writing after end fails with CF_EPIPE ("write after end"), writing after destroy
 * with CF_ECLOSED ("Cannot call write after a stream was destroyed"); the first also destroys
 * the stream, as Node does. A stream closed before its end or finish is reported by finished
 * and pipeline as CF_EPIPE, "Premature close" (≈ ERR_STREAM_PREMATURE_CLOSE). The errors an
 * adapter makes name the line of the program that made the stream.
 *
 * Promise forms never fail synchronously: every error rejects the promise. They return NULL
 * when memory is exhausted, and for a NULL stream (there is then no loop to make a promise on).
 *
 * Thread: every call is loop-thread only.
 */
#ifndef CALCIFER_STREAM_H
#define CALCIFER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/tcp.h"
#include "calcifer/fs.h"
#include "calcifer/json.h"
#include "calcifer/csv.h"
#include "calcifer/process.h"
#include "calcifer/http_client.h"
#include "calcifer/http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A stream of any kind (≈ stream.Readable, Writable, Duplex or Transform). Opaque. */
typedef struct cf_stream cf_stream;

/* Which sides a stream has. */
typedef enum cf_stream_kind {
    CF_STREAM_READABLE = 1, /* a source: read hook, push */
    CF_STREAM_WRITABLE = 2, /* a sink: write hook (and final) */
    CF_STREAM_DUPLEX = 3,   /* both sides, independent (a socket) */
    CF_STREAM_TRANSFORM = 7 /* both sides, the readable one made by transform and flush */
} cf_stream_kind;

/* The events (≈ the names given to stream.on). */
typedef enum cf_stream_event {
    CF_STREAM_EV_DATA = 0,  /* a chunk in flowing mode (cf_stream_on_data) */
    CF_STREAM_EV_READABLE,  /* data, or the end, can be read (paused mode; ≈ 'readable') */
    CF_STREAM_EV_END,       /* the readable side has given everything (≈ 'end') */
    CF_STREAM_EV_DRAIN,     /* the writable side went under its mark after a CF_STREAM_FULL */
    CF_STREAM_EV_PREFINISH, /* everything written and final done, before 'finish' */
    CF_STREAM_EV_FINISH,    /* the writable side ended and wrote everything (≈ 'finish') */
    CF_STREAM_EV_ERROR,     /* the stream failed; `err` says why (≈ 'error') */
    CF_STREAM_EV_CLOSE,     /* the stream and its resources are done (≈ 'close') */
    CF_STREAM_EV_PAUSE,     /* flowing mode stopped (≈ 'pause') */
    CF_STREAM_EV_RESUME,    /* flowing mode started (≈ 'resume') */
    CF_STREAM_EV_COUNT
} cf_stream_event;

/*
 * An event listener. `err` is the error for CF_STREAM_EV_ERROR (borrowed until the listener
 * returns), NULL for every other event. May call anything on the stream, cf_stream_close
 * included (the memory goes later, from the loop).
 */
typedef void (*cf_stream_event_cb)(cf_stream *s, cf_stream_event ev, const cf_error *err,
                                   void *data);

/*
 * A 'data' listener: `chunk` is `len` bytes, or in object mode the object itself with `len`
 * 1; borrowed until the listener returns (the stream frees it then).
 */
typedef void (*cf_stream_data_cb)(cf_stream *s, const void *chunk, size_t len, void *data);

/*
 * Completion of pipeline and finished (≈ their callback(err)): `s` is the last stage (for
 * finished, the stream watched); `status` 0 or a negative CF_E*, `err` NULL exactly when
 * `status` is 0, borrowed until the callback returns.
 */
typedef void (*cf_stream_cb)(cf_stream *s, int status, const cf_error *err, void *data);

/*
 * The implementation of a stream (≈ the methods of a Node subclass). Every hook may be NULL
 * where it makes no sense for the kind; `data` is the pointer given to cf_stream_new.
 *  - read (readable side, ≈ _read(size)): produce data with cf_stream_push, now or later, and
 *    cf_stream_push_end at the end. Called again only after a push.
 *  - write (writable side, ≈ _write(chunk, cb)): consume `len` bytes at `chunk` (object mode:
 *    the object, `len` 1), borrowed until the write is done, then call cf_stream_done (now or
 *    later). One write at a time.
 *  - final (≈ _final(cb)): called after the last write once end was asked; cf_stream_done.
 *  - transform (Transform, ≈ _transform(chunk, cb)): push what the chunk gives, then
 *    cf_stream_done. A transform has no write hook; NULL passes the chunk through. In object
 *    mode, cf_stream_take_object takes the chunk itself, to push it on without a copy.
 *  - flush (Transform, ≈ _flush(cb)): push what is left, then cf_stream_done; the readable
 *    side then ends.
 *  - destroy (≈ _destroy(err, cb)): release the resources (close a socket, say), then call
 *    cf_stream_destroy_done; 'error' (if any) and 'close' follow. `err` is borrowed until the
 *    hook returns. NULL: nothing to release.
 *  - free_data: called once with `data` when the stream's memory goes (may be NULL).
 *  - writev (writable side in bytes mode, not a Transform; ≈ _writev(chunks, cb)): when
 *    several chunks wait behind a write that completed, they come in one call: `chunks[0..n)`
 *    (2 ≤ n ≤ CF_STREAM_WRITEV_MAX, in the order written; the array and the bytes borrowed
 *    until the write is done). Consume them all, then call cf_stream_done once: success
 *    completes every chunk of the batch, an error fails them all (and destroys the stream, as
 *    a failed write does). The first chunk of a run still goes to `write`. NULL: one `write`
 *    per chunk.
 */
typedef struct cf_stream_impl {
    void (*read)(cf_stream *s, size_t size, void *data);
    void (*write)(cf_stream *s, const void *chunk, size_t len, void *data);
    void (*final)(cf_stream *s, void *data);
    void (*transform)(cf_stream *s, const void *chunk, size_t len, void *data);
    void (*flush)(cf_stream *s, void *data);
    void (*destroy)(cf_stream *s, const cf_error *err, void *data);
    void (*free_data)(void *data);
    void (*writev)(cf_stream *s, const cf_buf *chunks, size_t n, void *data);
} cf_stream_impl;

/* cf_stream_options flags. */
#define CF_STREAM_OBJECTS          0x1u /* both sides in object mode (≈ objectMode) */
#define CF_STREAM_READABLE_OBJECTS 0x2u /* the readable side only (≈ readableObjectMode) */
#define CF_STREAM_WRITABLE_OBJECTS 0x4u /* the writable side only (≈ writableObjectMode) */
#define CF_STREAM_NO_HALF_OPEN                                                                     \
    0x8u /* a Duplex ends its writable side with the readable                                      \
            one (≈ allowHalfOpen: false) */

/* Options of cf_stream_new; zero-initialize for Node's defaults. */
typedef struct cf_stream_options {
    size_t high_water;              /* both sides; 0: 16 KiB, or 16 objects (≈ highWaterMark) */
    size_t readable_high_water;     /* 0: `high_water` (≈ readableHighWaterMark) */
    size_t writable_high_water;     /* 0: `high_water` (≈ writableHighWaterMark) */
    unsigned flags;                 /* CF_STREAM_* above */
    void (*free_object)(void *obj); /* frees the objects of an object-mode side; NULL: none */
} cf_stream_options;

/* ---- constants ---- */

/* cf_stream_write / cf_stream_push result: the mark is reached (≈ write() returning false). */
#define CF_STREAM_FULL 1
/* Default high-water marks (≈ getDefaultHighWaterMark in Node 20). */
#define CF_STREAM_HIGH_WATER         (16 * 1024)
#define CF_STREAM_HIGH_WATER_OBJECTS 16
/* Most chunks one call of the writev hook is given (IOV_MAX on Linux). */
#define CF_STREAM_WRITEV_MAX 1024

/* ---- create ---- */

/*
 * Make a stream of `kind` run by `impl` (≈ new Readable({ read }) and so on). `impl` must
 * give the hooks the kind needs (read for a readable side, write for a writable one, except a
 * Transform, which passes chunks through without a transform hook). Ownership: `impl` is
 * borrowed while the stream lives (use static storage); `opts` is copied (NULL: defaults);
 * `data` is borrowed, and impl->free_data(data) runs when the stream is freed; the caller
 * owns `*out` (cf_stream_close). Returns 0, CF_EINVAL (NULL or a missing hook) or
 * CF_ENOMEM (then free_data has not run). Thread: loop only.
 */
CF_EXTERN int cf_stream_new(cf_loop *loop, cf_stream_kind kind, const cf_stream_impl *impl,
                            const cf_stream_options *opts, void *data, cf_stream **out);

/* The stream's loop, kind and implementation data. Thread: loop only. */
CF_EXTERN cf_loop *cf_stream_loop(const cf_stream *s);
CF_EXTERN cf_stream_kind cf_stream_get_kind(const cf_stream *s);
CF_EXTERN void *cf_stream_data(const cf_stream *s);

/* ---- events ---- */

/*
 * Add a listener for `ev` (≈ stream.on(ev, fn)); listeners run in the order they were added.
 * A CF_STREAM_EV_READABLE listener switches the stream to paused mode (≈ on('readable')).
 * For CF_STREAM_EV_DATA use cf_stream_on_data. Ownership: `data` borrowed while registered.
 * Returns 0, CF_EINVAL (NULL, CF_STREAM_EV_DATA or an unknown event) or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_on(cf_stream *s, cf_stream_event ev, cf_stream_event_cb cb, void *data);

/*
 * Add a 'data' listener and switch to flowing mode unless paused explicitly (≈
 * stream.on('data', fn)). Returns 0, CF_EINVAL (no readable side) or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_on_data(cf_stream *s, cf_stream_data_cb cb, void *data);

/*
 * Remove the listener added last with this event, callback and data (≈ removeListener).
 * For CF_STREAM_EV_DATA pass the cf_stream_data_cb cast to cf_stream_event_cb. Returns 0 or
 * CF_ENOENT (no such listener).
 */
CF_EXTERN int cf_stream_off(cf_stream *s, cf_stream_event ev, cf_stream_event_cb cb, void *data);

/* ---- the readable side: producing ---- */

/*
 * Add `len` bytes (copied) to the readable buffer (≈ push(chunk)), or give them to the 'data'
 * listeners at once when flowing and nothing waits. Returns 0 when the producer may go on,
 * CF_STREAM_FULL when the buffer reached its mark (stop until `read` is called again), or
 * CF_EINVAL (no readable side, object mode), CF_EPIPE (after cf_stream_push_end: the stream
 * is destroyed with "stream.push() after EOF"), CF_ECLOSED (destroyed), CF_ENOMEM.
 */
CF_EXTERN int cf_stream_push(cf_stream *s, const void *bytes, size_t len);

/*
 * cf_stream_push without a copy: takes `bytes`, memory from cf_malloc, on success and on
 * failure (freed with cf_free). Returns as cf_stream_push.
 */
CF_EXTERN int cf_stream_push_take(cf_stream *s, void *bytes, size_t len);

/*
 * Add an object to an object-mode readable side (≈ push(obj)). Takes `obj` on success and on
 * failure (freed with the stream's free_object; a stream without one leaves it to the
 * caller on failure). Returns as cf_stream_push; CF_EINVAL for a NULL `obj` (the end is
 * cf_stream_push_end) or a side not in object mode.
 */
CF_EXTERN int cf_stream_push_object(cf_stream *s, void *obj);

/* End the readable side (≈ push(null)). Returns 0, CF_EINVAL or CF_ECLOSED. */
CF_EXTERN int cf_stream_push_end(cf_stream *s);

/*
 * Finish the pending write, final, transform or flush (≈ their callback(err)); `err` NULL
 * for success. An error destroys the stream with it. Ownership: takes `err`. Returns 0, or
 * CF_EINVAL when nothing is pending (a second call; `err` is freed).
 */
CF_EXTERN int cf_stream_done(cf_stream *s, cf_error *err);

/*
 * Take the object the pending write or transform hook was given (object-mode writable side),
 * so that it can be passed on without a copy (≈ handing `chunk` to push in a Node
 * transform): call it from the hook, or later but before cf_stream_done. Ownership: the
 * caller owns the object returned (push it with cf_stream_push_object, which takes it, or
 * free it as the stream's free_object would); the stream then frees nothing for that write.
 * Returns the object, or NULL when no such write or transform is pending, the side is not in
 * object mode, or the object was taken already. Thread: loop only.
 */
CF_EXTERN void *cf_stream_take_object(cf_stream *s);

/*
 * Finish the destroy hook (≈ the callback of _destroy): 'error' and 'close' are emitted on
 * the next tick. Returns 0, or CF_EINVAL when no destroy is pending.
 */
CF_EXTERN int cf_stream_destroy_done(cf_stream *s);

/* ---- the readable side: consuming ---- */

/*
 * Take data in paused mode (≈ read(n)): `n` 0 takes everything buffered (≈ read()), else
 * exactly `n` bytes, or fewer only at the end. Returns 1 with `*out` set (the caller owns
 * out->base: cf_free), 0 when there is nothing to take now (≈ null: wait for
 * CF_STREAM_EV_READABLE or CF_STREAM_EV_END), or CF_EINVAL (no readable side, object mode).
 */
CF_EXTERN int cf_stream_read(cf_stream *s, size_t n, cf_buf *out);

/*
 * Take the next object of an object-mode readable side (≈ read()). Returns 1 with `*out`
 * set (the caller owns it: free it as the producer's free_object would), 0 when none now, or
 * CF_EINVAL.
 */
CF_EXTERN int cf_stream_read_object(cf_stream *s, void **out);

/* Stop / start flowing mode (≈ pause(), resume()). Return 0 or CF_EINVAL. */
CF_EXTERN int cf_stream_pause(cf_stream *s);
CF_EXTERN int cf_stream_resume(cf_stream *s);
/* Non-zero when paused explicitly (≈ isPaused()). */
CF_EXTERN int cf_stream_is_paused(const cf_stream *s);
/* Non-zero in flowing mode (≈ readableFlowing === true). */
CF_EXTERN int cf_stream_is_flowing(const cf_stream *s);

/*
 * Promise form of taking the next chunk (≈ one step of `for await (const chunk of s)`):
 * fulfils with a `cf_buf *` (bytes; borrowed until the task's next await: copy it to keep it)
 * or the object (object mode; keep it with cf_promise_take), both owned by the promise, or
 * with NULL at the end; rejects with the stream's error, with
 * CF_EPIPE "Premature close" when it closes before the end, or with the abort error when
 * `signal` (NULL: none) aborts. Puts the stream in paused mode; one read at a time.
 * Never fails synchronously; NULL only when memory is exhausted.
 */
CF_EXTERN cf_promise *cf_stream_read_p(cf_stream *s, cf_abort_signal *signal);

/* ---- the writable side ---- */

/*
 * Write `len` bytes, copied (≈ write(chunk)). Returns 0, CF_STREAM_FULL when the bytes
 * waiting reached the mark (the chunk is queued all the same: wait for CF_STREAM_EV_DRAIN), or
 * CF_EINVAL (no writable side, object mode), CF_EPIPE (after end), CF_ECLOSED (destroyed),
 * CF_ENOMEM. CF_EPIPE also destroys the stream with that error, as Node does.
 */
CF_EXTERN int cf_stream_write(cf_stream *s, const void *bytes, size_t len);

/* cf_stream_write without a copy: takes `bytes` (cf_malloc'd) on success and on failure. */
CF_EXTERN int cf_stream_write_take(cf_stream *s, void *bytes, size_t len);

/*
 * Write an object to an object-mode writable side (≈ write(obj)); takes `obj` as
 * cf_stream_push_object does. Returns as cf_stream_write.
 */
CF_EXTERN int cf_stream_write_object(cf_stream *s, void *obj);

/*
 * Promise form of a write that respects backpressure (≈ `if (!s.write(chunk)) await
 * once(s, 'drain')`): `bytes` is copied and queued; the promise fulfils (with no value) at
 * once when the stream is under its mark, else at CF_STREAM_EV_DRAIN; it rejects with the
 * stream's error, or CF_EPIPE "Premature close" when it closes first, or with the abort
 * error when `signal` (NULL: none) aborts (the bytes stay queued). Never fails synchronously.
 */
CF_EXTERN cf_promise *cf_stream_write_p(cf_stream *s, const void *bytes, size_t len,
                                        cf_abort_signal *signal);

/*
 * End the writable side (≈ end()): what is queued is written, then final runs, then
 * 'prefinish', 'finish' and 'close'. Returns 0, CF_EINVAL, or CF_EPIPE (already ended).
 */
CF_EXTERN int cf_stream_end(cf_stream *s);

/* ---- state ---- */

/* Bytes (or objects) buffered on each side (≈ readableLength, writableLength). */
CF_EXTERN size_t cf_stream_readable_length(const cf_stream *s);
CF_EXTERN size_t cf_stream_writable_length(const cf_stream *s);
/* Non-zero once end was called (≈ writableEnded), once 'finish' came (≈ writableFinished). */
CF_EXTERN int cf_stream_writable_ended(const cf_stream *s);
CF_EXTERN int cf_stream_writable_finished(const cf_stream *s);
/* Non-zero after a write returned CF_STREAM_FULL, until 'drain' (≈ writableNeedDrain). */
CF_EXTERN int cf_stream_needs_drain(const cf_stream *s);
/* Non-zero once destroyed (≈ destroyed). */
CF_EXTERN int cf_stream_is_destroyed(const cf_stream *s);
/* The error the stream failed with, or NULL (≈ errored); borrowed while the stream lives. */
CF_EXTERN const cf_error *cf_stream_error(const cf_stream *s);

/* ---- pipe, pipeline, finished ---- */

/*
 * Send everything `src` gives to `dst` and end `dst` at the end (≈ src.pipe(dst)): `src`
 * pauses while `dst` is full and resumes at its 'drain'. Errors are not forwarded (use
 * pipeline for that). A file read stream that has read nothing piped (as its only reader)
 * into a file write stream that has written nothing copies in the kernel instead
 * (cf_fs_copy_file_range, see cf_stream_fs_read_new): no 'data' or 'drain' events then, the
 * others as usual. Ownership: both borrowed while piping. Returns 0, CF_EINVAL (no
 * readable side on `src` or writable side on `dst`) or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_pipe(cf_stream *src, cf_stream *dst);

/*
 * Pipe `streams[0]` into `streams[1]` ... into `streams[n-1]` (≈ stream.pipeline(...streams,
 * cb)): the first error, from any stage, destroys every stage with it; `cb` runs once, after
 * every stage has closed, with 0 or that error (CF_EPIPE "Premature close" for a stage closed
 * early; the abort error when `signal` aborts, which destroys every stage too). Ownership:
 * `streams` is copied, the streams are borrowed until `cb` runs (close them afterwards);
 * `signal` borrowed (a reference is kept until `cb`). Returns 0, or CF_EINVAL (n < 2, a NULL
 * stream, a middle stage that is not a Duplex or Transform), CF_ENOMEM; then `cb` never runs.
 */
CF_EXTERN int cf_stream_pipeline(cf_stream *const *streams, size_t n, cf_abort_signal *signal,
                                 cf_stream_cb cb, void *data);
/* Promise form: fulfils with no value, or rejects with the first error. */
CF_EXTERN cf_promise *cf_stream_pipeline_p(cf_stream *const *streams, size_t n,
                                           cf_abort_signal *signal);

/*
 * Call `cb` once `s` is done (≈ stream.finished(s, cb)): 0 once it has ended (readable side)
 * and finished (writable side) and closed; its error when it fails; CF_EPIPE "Premature
 * close" when it closes before that; the abort error when `signal` aborts. Ownership: `s`
 * borrowed until `cb`. Returns 0, CF_EINVAL or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_finished(cf_stream *s, cf_abort_signal *signal, cf_stream_cb cb,
                                 void *data);
/* Promise form: fulfils with no value, or rejects. */
CF_EXTERN cf_promise *cf_stream_finished_p(cf_stream *s, cf_abort_signal *signal);

/* ---- destroy and close ---- */

/*
 * Destroy the stream (≈ destroy(err)): buffers are dropped, the destroy hook runs, then
 * 'error' (when `err` is not NULL) and 'close' are emitted on the next tick. A second destroy
 * does nothing. Ownership: takes `err` (NULL: no error). Returns 0 or CF_EINVAL.
 */
CF_EXTERN int cf_stream_destroy(cf_stream *s, cf_error *err);

/*
 * Destroy the stream if needed and free it once it has closed: `cb(data)` (may be NULL)
 * runs from the loop after 'close', then the memory goes. Returns 0, CF_EINVAL, or
 * CF_ECLOSED (closed twice).
 */
CF_EXTERN int cf_stream_close(cf_stream *s, cf_close_cb cb, void *data);

/* ---- adapters ---- */

/* cf_stream_fs_write_new flags. */
#define CF_STREAM_FS_ATOMIC                                                                        \
    0x1u                         /* write through cf_fs_writer: the file appears whole at the      \
                                    finish, or not at all (destroyed, failed) */
#define CF_STREAM_FS_APPEND 0x2u /* append instead of truncating (not with ATOMIC) */

/*
 * A Readable of the file at `path` (≈ fs.createReadStream(path, { highWaterMark })): chunks
 * of up to `chunk_size` bytes (0: 64 KiB), read on the pool; the high-water mark is one chunk.
 * While they are consumed the next ones are read ahead: a pool job reads up to 256 KiB (four
 * 64 KiB chunks, or one larger chunk), and the next job starts while the last one's chunks
 * are consumed, so up to two jobs' worth wait, even for a paused consumer (512 KiB with the
 * default chunk, two chunks when a chunk is 256 KiB or more); the stream keeps as many spare
 * buffers for reuse.
 * The file is opened on the first read; its errors (CF_ENOENT, ...) are the stream's 'error'.
 * Piped straight into a file write stream (cf_stream_pipe, cf_stream_pipeline), it moves the
 * bytes with cf_fs_copy_file_range, 16 MiB a call, into that stream's file (or its atomic
 * writer's temporary file) and pushes only the end; a failed copy is this stream's error,
 * "copy 'SRC' to 'DST': ...". Ownership: `path` copied; the caller owns `*out`. Returns 0,
 * CF_EINVAL or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_fs_read_new(cf_loop *loop, const char *path, size_t chunk_size,
                                    cf_stream **out);

/*
 * A Writable into the file at `path` (≈ fs.createWriteStream(path)), `flags` CF_STREAM_FS_*;
 * with CF_STREAM_FS_ATOMIC the bytes go through an atomic writer (cf_fs_writer) that is
 * committed at the end and aborted when the stream is destroyed first, so a failed pipeline
 * leaves no partial file. High-water mark: `high_water` bytes (0: 64 KiB, one read chunk of
 * cf_stream_fs_read_new, so a copy keeps one read and one write in flight). Chunks that queue
 * behind a write are written together (writev(2) on the pool, up to CF_STREAM_WRITEV_MAX
 * chunks a batch); a failed batch is the stream's error, "write 'PATH': ...", and the bytes
 * written before the failure stay in the file. Ownership: `path`
 * copied; the caller owns `*out`. Returns 0, CF_EINVAL or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_fs_write_new(cf_loop *loop, const char *path, unsigned flags,
                                     size_t high_water, cf_stream **out);

/*
 * A Duplex over a connected socket (≈ net.Socket as a stream): reading stops while the
 * readable buffer is full (the kernel's buffer and the peer's window then hold the rest);
 * writes wait for the socket's drain past its mark; the end sends FIN (cf_tcp_end); destroy
 * closes the socket. Ownership: takes `t` on success (closed with the stream); the caller
 * owns `*out`. Returns 0, CF_EINVAL or CF_ENOMEM. `high_water` 0: 16 KiB each side.
 */
CF_EXTERN int cf_stream_tcp_new(cf_tcp *t, size_t high_water, cf_stream **out);

/*
 * The child's stdin (fd 0, a Writable), stdout (1) or stderr (2, Readables) as a stream
 * (≈ child.stdin / child.stdout), over cf_process_stdio(p, fd). The socket is taken: the
 * stream closes it; cf_process_close leaves it alone then. Returns 0, CF_EINVAL (no pipe on
 * that fd) or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_process_stdio_new(cf_process *p, int fd, cf_stream **out);

/*
 * A Transform from JSON text to the elements of the array at `path` (cf_json_select syntax;
 * NULL or "" for a top-level array): the writable side takes bytes, the readable side gives
 * one `cf_json *` per element (object mode, freed with cf_json_free) as soon as it is
 * complete. Malformed JSON is the stream's error (CF_EPARSE with the selector's message).
 * Piped straight into a cf_stream_csv_new stream, and while it has no other reader, each
 * element is built with only the members the CSV columns start with (the CSV text is the
 * same); any other reader gets whole elements.
 * Returns 0, CF_EINVAL (malformed path) or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_json_elements_new(cf_loop *loop, const char *path,
                                          const cf_json_limits *limits, cf_stream **out);

/*
 * A Transform from `cf_json *` objects (object mode, taken) to CSV text: one record per
 * object, the columns selected as cf_csv_write_json_record does, after a header row when
 * `header` is non-zero; `flags` as cf_csv_writer_init. The records written in one tick are
 * pushed as one chunk when the tick ends (sooner past 64 KiB, and before the end or an error
 * the stream reports). Ownership: `columns` copied.
 * Returns 0, CF_EINVAL or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_csv_new(cf_loop *loop, unsigned flags, const char *const *columns, size_t n,
                                int header, cf_stream **out);

/*
 * A Readable of the body of a GET (or `opts`) request for `url` (≈ the IncomingMessage of
 * http.get): the transfer pauses while the buffer is full (cf_http_req_pause). A failed
 * request (with CF_HTTP_FAIL_ON_STATUS, a non-2xx too) is the stream's error; destroying the
 * stream cancels the request. Ownership: `url` and `opts` copied (opts->on_data is replaced).
 * Returns 0, CF_EINVAL, CF_EURL or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_http_body_new(cf_loop *loop, const char *url, const cf_http_options *opts,
                                      cf_stream **out);

/*
 * A Writable into a server response (≈ http.ServerResponse as a stream): writes go to
 * cf_http_res_write (waiting for its drain past the mark), the end is cf_http_res_end.
 * Ownership: `res` borrowed until the stream finishes or is destroyed. Returns 0, CF_EINVAL
 * or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_http_res_new(cf_http_res *res, cf_loop *loop, cf_stream **out);

/*
 * A Readable of a server request's body (≈ the server's IncomingMessage as a stream), for a
 * server made with CF_HTTP_SERVER_STREAM_BODY: the first read starts cf_http_incoming_read;
 * the delivery is paused (cf_http_incoming_pause) while the buffer is full and resumed by the
 * read hook. A body error (CF_ETOOBIG, CF_ECONNRESET, ...) is the stream's error, "request
 * body: ..."; so is a server in buffered mode (CF_EINVAL, at the first read). A stream
 * destroyed after its first read resumes the delivery, and the rest of the body is dropped.
 * `high_water` 0: 16 KiB. Ownership: `req` borrowed until the body has been delivered or
 * failed; the caller owns `*out`. Returns 0, CF_EINVAL or CF_ENOMEM.
 */
CF_EXTERN int cf_stream_http_incoming_new(cf_http_incoming *req, cf_loop *loop, size_t high_water,
                                          cf_stream **out);

/*
 * A Writable that is the body of a request to `url` (≈ the ClientRequest of http.request):
 * the request (method `opts->method`, default "POST") starts now, and the body goes out as it
 * is written, with `Transfer-Encoding: chunked` over HTTP/1.1 (no `Expect: 100-continue`;
 * redirects are not followed, since the body cannot be sent twice). A write is done once the client
 * has taken its bytes, so the server's pace holds the writer back: the stream keeps at most its
 * high-water mark (16 KiB) and the chunk being sent, and cf_stream_write_p suspends while the
 * server reads nothing. The end ends the body; the stream finishes when the request completed,
 * after `cb` (NULL: none) was given the response as cf_http_request gives it.
 * Errors, each the stream's error (a pending write or cf_stream_write_p gets it) with a
 * message that starts with the method and the URL: a failed request (with
 * CF_HTTP_FAIL_ON_STATUS, a non-2xx too); an answer before the whole body was sent, "the
 * server answered HTTP 413 Payload Too Large before the whole request body was sent (N bytes
 * sent)" (CF_EHTTP, CF_EPIPE for a 2xx, or the connection's error after it); the abort error
 * when `opts->signal` aborts. Destroying the stream cancels the request (`cb` then runs with
 * CF_ECANCELED). The request keeps the loop alive until it completes: end or destroy it.
 * Ownership: `url` and `opts` copied (`signal` borrowed until the request completes); the
 * written bytes are copied; `data` borrowed until `cb` ran; the caller owns `*out`.
 * Returns 0, CF_EINVAL (NULL loop, url or out, `opts` with a body or body_file, a bad method
 * or header), CF_EURL (not an http or https URL) or CF_ENOMEM; then no request was made.
 * Thread: loop only.
 */
CF_EXTERN int cf_stream_http_req_new(cf_loop *loop, const char *url, const cf_http_options *opts,
                                     cf_http_cb cb, void *data, cf_stream **out);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_STREAM_H */
