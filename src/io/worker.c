/*
 * Workers: a loop on a thread of its own, and the message ports between it and its parent
 * (calcifer/worker.h).
 *
 * One block, struct cf_worker, holds both sides: the parent's handle and, embedded, the
 * worker's end (cf_worker_self). Each field is used by one thread only; the two threads
 * meet through remotes (core/remote.c), whose posts order and publish everything a post
 * carries, and through the start handshake (a semaphore) and pthread_join. The block is
 * freed by the parent, in its close phase, always after the join: the worker thread never
 * outlives it.
 *
 * - Messages are one allocation each (struct cf_worker_message, with the remote's post
 *   embedded) and carry their payload by pointer: a JSON tree or a byte buffer is moved,
 *   never copied. A side without a listener keeps arriving messages in an inbox, in order,
 *   and hands them over from its pending phase once a listener is set.
 * - The parent posts to the worker's loop through `to_worker`, a plain remote it holds until
 *   the join. The worker posts through its own reference to `to_parent`. Its last post, the
 *   exit (embedded in the block, so it cannot fail), follows all its messages; the parent
 *   joins the thread when it runs, then reports the error and the exit.
 * - Keep-alive: the parent's handle is active until the exit was handled. The worker's port
 *   holds a keep-alive remote to its own loop while a listener is set and the port is ref'd.
 * - Stopping (terminate, cf_worker_fail, an uncaught error): the worker's abort signal aborts,
 *   its loop is stopped, the work in flight is run to completion and the loop is closed.
 *
 * This file sits in io because messages carry JSON (the data layer), which async may not use.
 */
#include "calcifer/worker.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "calcifer/remote.h"
#include "calcifer/timer.h"
#include "core/handle.h"
#include "core/loop.h"
#include "core/remote.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

enum { MSG_JSON, MSG_BYTES };

/* How long a terminated worker waits for work in flight before it closes everything. */
#define TEARDOWN_GRACE_MS 1000
/*
 * Rounds of close-everything and one loop iteration before a loop that will not empty is
 * reported (each waits for I/O, so a round that has something to wait for is not wasted).
 */
#define TEARDOWN_ROUNDS 1000

struct cf_worker_message {
    cf__post post;                  /* the remote's post, embedded: one allocation a message */
    struct cf_worker_message *next; /* in the receiver's inbox */
    void *target;                   /* the receiving side: cf_worker * or cf_worker_self * */
    int kind;
    cf_json *json;
    void *bytes;
    size_t len;
    cf_free_fn free_fn;
};

/* Messages that arrived while no listener was set, oldest first. */
typedef struct inbox {
    cf_worker_message *head;
    cf_worker_message *tail;
    cf__pending flush; /* hands them over once a listener is set */
} inbox;

struct cf_worker_self {
    cf_worker *w;
    cf_loop *loop;
    cf_remote *to_parent; /* the worker's own reference; released at the very end */
    cf_remote *keep;      /* keep-alive remote to `loop` while listening and ref'd */
    cf_abort_controller *abort;
    cf_worker_self_message_cb on_message;
    void *on_message_data;
    inbox in;
    int unref;
    int closed;   /* cf_worker_parent_close, or the worker is stopping */
    int stopping; /* terminated or failed: the loop is being stopped */
    int exit_code;
    cf_error *error; /* the first failure, handed to the parent with the exit */
};

struct cf_worker {
    cf__handle h;
    cf_loop *loop;
    cf_site site; /* the call to cf_worker_new */
    pthread_t thread;
    sem_t started;
    int start_rc;
    cf_worker_entry entry;
    void *arg;
    char name[16];
    cf_remote *to_parent; /* to the parent's loop */
    cf_remote *to_worker; /* to the worker's loop; made by the worker, released after join */
    cf__post term_post;   /* the termination, posted once */
    cf__post exit_post;   /* the worker's last post */
    int term_sent;
    int exited;
    int closing;
    int exit_code; /* valid once exited */
    cf_worker_message_cb on_message;
    void *on_message_data;
    cf_worker_error_cb on_error;
    void *on_error_data;
    cf_worker_exit_cb on_exit;
    void *on_exit_data;
    inbox in;
    cf_promise *exit_p; /* fulfilled with the exit code (cf_worker_terminate_p) */
    cf_abort_listener abort_l;
    cf_close_cb close_cb;
    void *close_data;
    cf_worker_self self;
};

/* ---- messages ---- */

static void msg_free(cf_worker_message *m)
{
    if (m->json)
        cf_json_free(m->json);
    if (m->bytes && m->free_fn)
        m->free_fn(m->bytes);
    cf__free(m);
}

static cf_worker_message *msg_new(void *target)
{
    cf_worker_message *m = cf__calloc(1, sizeof(*m));
    if (m)
        m->target = target;
    return m;
}

static void inbox_push(inbox *in, cf_worker_message *m)
{
    m->next = NULL;
    if (in->tail)
        in->tail->next = m;
    else
        in->head = m;
    in->tail = m;
}

static cf_worker_message *inbox_pop(inbox *in)
{
    cf_worker_message *m = in->head;
    if (m) {
        in->head = m->next;
        if (!in->head)
            in->tail = NULL;
    }
    return m;
}

static void inbox_clear(cf_loop *loop, inbox *in)
{
    cf__loop_undefer(loop, &in->flush);
    cf_worker_message *m;
    while ((m = inbox_pop(in)) != NULL) {
        msg_free(m);
    }
}

const cf_json *cf_worker_message_json(const cf_worker_message *msg)
{
    return msg ? msg->json : NULL;
}

const void *cf_worker_message_bytes(const cf_worker_message *msg, size_t *len)
{
    if (len)
        *len = msg && msg->bytes ? msg->len : 0;
    return msg ? msg->bytes : NULL;
}

cf_json *cf_worker_message_take_json(cf_worker_message *msg)
{
    if (!msg)
        return NULL;
    cf_json *v = msg->json;
    msg->json = NULL;
    return v;
}

void *cf_worker_message_take_bytes(cf_worker_message *msg, size_t *len, cf_free_fn *free_fn)
{
    void *b = msg ? msg->bytes : NULL;
    if (len)
        *len = b ? msg->len : 0;
    if (free_fn)
        *free_fn = b ? msg->free_fn : NULL;
    if (msg)
        msg->bytes = NULL;
    return b;
}

/* Fill `m` with the payload; takes it. */
static void msg_set(cf_worker_message *m, cf_json *json, void *bytes, size_t len, cf_free_fn fn)
{
    m->kind = json ? MSG_JSON : MSG_BYTES;
    m->json = json;
    m->bytes = bytes;
    m->len = len;
    m->free_fn = fn;
}

/* Make a message of the payload and push it through `r`; takes the payload either way. */
static int post_payload(cf_remote *r, cf_remote_cb deliver, void *target, cf_json *json,
                        void *bytes, size_t len, cf_free_fn fn)
{
    cf_worker_message *m = msg_new(target);
    if (!m) {
        cf_json_free(json);
        if (bytes && fn)
            fn(bytes);
        return CF_ENOMEM;
    }
    msg_set(m, json, bytes, len, fn);
    int rc = cf__remote_push(r, &m->post, deliver, m);
    if (rc < 0)
        msg_free(m);
    return rc;
}

/* ---- the parent's side ---- */

static void parent_flush(cf_loop *loop, cf__pending *p);

/* On the parent's loop: a message from the worker. */
static void parent_deliver(cf_loop *loop, int status, void *data)
{
    cf_worker_message *m = data;
    cf_worker *w = m->target;
    if (status < 0 || w->closing) {
        msg_free(m);
        return;
    }
    if (!w->on_message || w->in.head) {
        inbox_push(&w->in, m);
        return;
    }
    w->on_message(w, m, w->on_message_data);
    msg_free(m);
    (void)loop;
}

static void parent_flush(cf_loop *loop, cf__pending *p)
{
    cf_worker *w = CF_CONTAINER_OF(p, cf_worker, in.flush);
    while (w->in.head && w->on_message && !w->closing) {
        cf_worker_message *m = inbox_pop(&w->in);
        w->on_message(w, m, w->on_message_data);
        msg_free(m);
        cf__drain_ticks(loop);
    }
}

/* ---- the worker's side ---- */

/* Hold the keep-alive remote exactly while a listener is set on an open, ref'd port. */
static void self_update_keep(cf_worker_self *self)
{
    int want = self->on_message && !self->unref && !self->closed;
    if (want && !self->keep) {
        /* On failure the port just does not keep the loop alive: nothing else is lost. */
        (void)cf_remote_new(self->loop, CF_REMOTE_KEEP_ALIVE, &self->keep);
    } else if (!want && self->keep) {
        cf_remote_release(self->keep);
        self->keep = NULL;
    }
}

/* On the worker's loop: a message from the parent. */
static void self_deliver(cf_loop *loop, int status, void *data)
{
    cf_worker_message *m = data;
    cf_worker_self *self = m->target;
    if (status < 0 || self->closed) {
        msg_free(m);
        return;
    }
    if (!self->on_message || self->in.head) {
        inbox_push(&self->in, m);
        return;
    }
    self->on_message(self, m, self->on_message_data);
    msg_free(m);
    (void)loop;
}

static void self_flush(cf_loop *loop, cf__pending *p)
{
    cf_worker_self *self = CF_CONTAINER_OF(p, cf_worker_self, in.flush);
    while (self->in.head && self->on_message && !self->closed) {
        cf_worker_message *m = inbox_pop(&self->in);
        self->on_message(self, m, self->on_message_data);
        msg_free(m);
        cf__drain_ticks(loop);
    }
}

/*
 * Stop the worker (on its thread): record `err` (taken; the first failure wins), close the
 * port, abort the worker's signal (its operations fail and its listeners close handles),
 * then stop the loop at the end of the current callback.
 */
static void self_stop(cf_worker_self *self, cf_error *err)
{
    if (err && !self->error)
        self->error = err;
    else
        cf_error_free(err);
    self->exit_code = CF_WORKER_EXIT_FAILURE;
    if (self->stopping)
        return;
    self->stopping = 1;
    cf_worker_parent_close(self);
    cf_abort(self->abort, cf_error_new(CF_ECANCELED, NULL, 0, NULL, "The worker was terminated"));
    cf_stop(self->loop);
}

/* On the worker's loop: the parent terminates it. */
static void self_terminate(cf_loop *loop, int status, void *data)
{
    (void)loop;
    if (status == 0)
        self_stop(data, NULL);
}

static void self_uncaught(const cf_error *err, cf_promise *p, void *data)
{
    (void)p;
    cf_error *copy = cf_error_copy(err);
    self_stop(data, copy ? copy : cf_error_new(CF_ENOMEM, NULL, 0, NULL, NULL));
}

/* Make the worker's loop and what the parent needs of it. */
static int self_setup(cf_worker *w)
{
    cf_worker_self *self = &w->self;
    int rc = cf_loop_new(&self->loop);
    if (rc < 0)
        return rc;
    rc = cf_remote_new(self->loop, 0, &w->to_worker);
    if (rc == 0)
        rc = cf_abort_new(&self->abort);
    if (rc < 0) {
        cf_remote_release(w->to_worker);
        w->to_worker = NULL;
        cf_loop_close(self->loop);
        return rc;
    }
    cf__pending_init(&self->in.flush);
    self->w = w;
    self->to_parent = cf_remote_dup(w->to_parent);
    if (!self->to_parent) {
        cf_abort_free(self->abort);
        cf_remote_release(w->to_worker);
        w->to_worker = NULL;
        cf_loop_close(self->loop);
        return CF_ENOMEM;
    }
    return 0;
}

static void grace_over(void *data)
{
    *(int *)data = 1;
}

/*
 * A stopping worker's work in flight gets TEARDOWN_GRACE_MS to end by itself (a write being
 * flushed, a request about to answer), as it would have in the worker's normal run.
 */
static void self_grace(cf_worker_self *self)
{
    int over = 0;
    cf_timeout *grace = NULL;
    if (self->stopping && cf__loop_in_flight(self->loop) &&
        cf_set_timeout(self->loop, TEARDOWN_GRACE_MS, grace_over, &over, &grace) < 0)
        over = 1; /* no timer: do not wait at all */
    while (self->stopping && !over && cf__loop_in_flight(self->loop)) {
        if (cf_run(self->loop, CF_RUN_ONCE) < 0 && !self->error)
            self->error = CF_ERROR_AT(self->w->site, CF_EUNKNOWN, "worker failed while stopping");
    }
    if (grace && !over)
        cf_clear_timeout(grace);
}

/* Something is left that cf_loop_close would refuse. */
static int self_loop_busy(cf_worker_self *self)
{
    unsigned open;
    unsigned active;
    cf__loop_handle_counts(self->loop, &open, &active);
    return open || active || cf__loop_in_flight(self->loop);
}

/*
 * Close everything left (cf__loop_close_all: handles, transfers, timeouts, queued pool
 * jobs) and run the loop until it is empty. Each round closes what the callbacks of the one
 * before opened (a cancelled request's callback may start another). A round waits in the poll
 * phase for what cannot be stopped (a pool job a thread runs, a child being reaped), so the
 * rounds are bounded, not the time.
 */
static void self_close_all(cf_worker_self *self)
{
    for (int i = 0; i < TEARDOWN_ROUNDS && self_loop_busy(self); i++) {
        (void)cf__loop_close_all(self->loop);
        if (cf_run(self->loop, CF_RUN_ONCE) < 0 && !self->error)
            self->error = CF_ERROR_AT(self->w->site, CF_EUNKNOWN, "worker failed while stopping");
    }
}

/*
 * Close the worker's loop after the grace period and the close of everything left; a loop
 * that still cannot close is reported and left as it is.
 */
static void self_teardown(cf_worker_self *self)
{
    cf_worker_parent_close(self);
    self_grace(self);
    self_close_all(self);
    cf_abort_free(self->abort);
    self->abort = NULL;
    unsigned open;
    unsigned active;
    cf__loop_handle_counts(self->loop, &open, &active);
    if (cf_loop_close(self->loop) == 0)
        return;
    self->exit_code = CF_WORKER_EXIT_FAILURE;
    cf_error *e = CF_ERROR_AT(self->w->site, CF_EBUSY,
                              "worker '%s' ended with %u open handle(s) and %u active one(s); "
                              "its loop could not be closed",
                              self->w->name, open, active);
    if (!self->error)
        self->error = e;
    else
        cf_error_free(e);
}

/* Run the entry, then the loop to its end. */
static void self_run(cf_worker_self *self)
{
    cf_worker *w = self->w;
    int rc = w->entry(self, self->loop, w->arg);
    if (rc != 0) {
        self_stop(self, CF_ERROR_AT(w->site, rc < 0 ? rc : CF_EUNKNOWN,
                                    "worker '%s': entry function returned %d", w->name, rc));
    } else {
        /* After the entry: a hook the entry set itself takes precedence (CF_EBUSY here). */
        (void)cf_on_uncaught_exception(self->loop, self_uncaught, self);
    }
    if (!self->stopping) {
        rc = cf_run(self->loop, CF_RUN_DEFAULT);
        if (rc < 0) {
            self_stop(self, CF_ERROR_AT(w->site, rc, "worker '%s': its loop failed: %s", w->name,
                                        cf_strerror(rc)));
        }
    }
}

static void parent_exit(cf_loop *loop, int status, void *data);

static void *worker_main(void *arg)
{
    cf_worker *w = arg;
    cf_worker_self *self = &w->self;
    if (w->name[0])
        pthread_setname_np(pthread_self(), w->name);
    w->start_rc = self_setup(w);
    sem_post(&w->started);
    if (w->start_rc < 0)
        return NULL; /* the parent joins and frees */
    self_run(self);
    self_teardown(self);
    w->exit_code = self->exit_code;
    /* The last touch of the block: once the exit is posted, the parent may join and free it. */
    cf_remote *to_parent = self->to_parent;
    (void)cf__remote_push(to_parent, &w->exit_post, parent_exit, w);
    cf_remote_release(to_parent);
    return NULL;
}

/* ---- the parent's handle ---- */

static void worker_free(cf_worker *w)
{
    cf_remote_release(w->to_parent);
    cf_remote_release(w->to_worker);
    sem_destroy(&w->started);
    cf__free(w);
}

static void worker_closed(cf__handle *h)
{
    cf_worker *w = CF_CONTAINER_OF(h, cf_worker, h);
    cf_close_cb cb = w->close_cb;
    void *data = w->close_data;
    inbox_clear(w->loop, &w->in);
    worker_free(w);
    if (cb)
        cb(data);
}

/* Report the worker's failure: to the listener, else thrown on the parent's loop. */
static void report_error(cf_worker *w, cf_error *err)
{
    if (w->on_error) {
        w->on_error(w, err, w->on_error_data);
        cf_error_free(err);
        return;
    }
    (void)cf_throw_uncaught(w->loop, err);
}

/* On the parent's loop: the worker's last post. Join, then report. */
static void parent_exit(cf_loop *loop, int status, void *data)
{
    (void)loop;
    (void)status; /* the parent's loop cannot close while the handle is open */
    cf_worker *w = data;
    pthread_join(w->thread, NULL);
    w->exited = 1;
    cf_remote_release(w->to_worker);
    w->to_worker = NULL;
    cf_abort_signal_unlisten(&w->abort_l);
    cf__handle_stop(&w->h);
    cf_error *err = w->self.error;
    w->self.error = NULL;
    if (w->exit_p) {
        cf_promise_resolve(w->exit_p, (void *)(intptr_t)w->exit_code, NULL);
        cf_promise_release(w->exit_p);
        w->exit_p = NULL;
    }
    if (w->closing) {
        cf_error_free(err);
        cf__handle_close(&w->h, worker_closed);
        return;
    }
    if (err)
        report_error(w, err);
    if (w->on_exit && !w->closing)
        w->on_exit(w, w->exit_code, w->on_exit_data);
}

static void on_signal_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    (void)signal;
    cf_worker_terminate(l->data);
}

/* cf__loop_close_all: terminate it; the handle closes after its exit (cf_worker_close). */
static void worker_close_req(cf__handle *h)
{
    (void)cf_worker_close(CF_CONTAINER_OF(h, cf_worker, h), NULL, NULL);
}

static int worker_start(cf_worker *w, const cf_worker_opts *opts)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return CF_ENOMEM;
    int rc = 0;
    if (opts && opts->stack_size && pthread_attr_setstacksize(&attr, opts->stack_size) != 0)
        rc = CF_EINVAL;
    if (rc == 0 && pthread_create(&w->thread, &attr, worker_main, w) != 0)
        rc = CF_EAGAIN;
    pthread_attr_destroy(&attr);
    if (rc < 0)
        return rc;
    while (sem_wait(&w->started) != 0 && errno == EINTR) {
    }
    if (w->start_rc < 0) {
        pthread_join(w->thread, NULL);
        return w->start_rc;
    }
    return 0;
}

CF__NOINLINE int cf_worker_new(cf_loop *loop, const cf_worker_opts *opts, cf_worker_entry entry,
                               void *arg, cf_worker **out)
{
    if (out)
        *out = NULL;
    if (!loop || !entry || !out)
        return CF_EINVAL;
    cf_worker *w = cf__calloc(1, sizeof(*w));
    if (!w)
        return CF_ENOMEM;
    w->site = CF__SITE_CALLER();
    w->loop = loop;
    w->entry = entry;
    w->arg = arg;
    static atomic_uint next_id;
    if (opts && opts->name && opts->name[0])
        snprintf(w->name, sizeof w->name, "%s", opts->name);
    else /* errors and the thread's name say which worker */
        snprintf(w->name, sizeof w->name, "worker %u", atomic_fetch_add(&next_id, 1) + 1);
    cf__pending_init(&w->in.flush);
    if (sem_init(&w->started, 0, 0) != 0) {
        cf__free(w);
        return CF_ENOMEM;
    }
    int rc = cf_remote_new(loop, 0, &w->to_parent);
    if (rc == 0)
        rc = worker_start(w, opts);
    if (rc < 0) {
        worker_free(w);
        return rc;
    }
    cf__handle_init_at(loop, &w->h, w->site.pc);
    cf__handle_set_close_req(&w->h, worker_close_req);
    cf__handle_start(&w->h);
    w->abort_l.data = w;
    if (opts && opts->signal &&
        cf_abort_signal_listen(opts->signal, &w->abort_l, on_signal_abort) < 0) {
        cf_worker_terminate(w); /* aborted already */
    }
    *out = w;
    return 0;
}

int cf_worker_post_json(cf_worker *w, cf_json *value)
{
    if (!w || !value) {
        cf_json_free(value);
        return CF_EINVAL;
    }
    if (w->exited || w->closing) {
        cf_json_free(value);
        return CF_ECLOSED;
    }
    return post_payload(w->to_worker, self_deliver, &w->self, value, NULL, 0, NULL);
}

int cf_worker_post_bytes(cf_worker *w, void *bytes, size_t len, cf_free_fn free_fn)
{
    if (!w || w->exited || w->closing) {
        if (bytes && free_fn)
            free_fn(bytes);
        return w ? CF_ECLOSED : CF_EINVAL;
    }
    return post_payload(w->to_worker, self_deliver, &w->self, NULL, bytes, len, free_fn);
}

int cf_worker_on_message(cf_worker *w, cf_worker_message_cb cb, void *data)
{
    if (!w)
        return CF_EINVAL;
    w->on_message = cb;
    w->on_message_data = data;
    if (cb && w->in.head)
        cf__loop_defer(w->loop, &w->in.flush, parent_flush);
    return 0;
}

int cf_worker_on_error(cf_worker *w, cf_worker_error_cb cb, void *data)
{
    if (!w)
        return CF_EINVAL;
    w->on_error = cb;
    w->on_error_data = data;
    return 0;
}

int cf_worker_on_exit(cf_worker *w, cf_worker_exit_cb cb, void *data)
{
    if (!w)
        return CF_EINVAL;
    w->on_exit = cb;
    w->on_exit_data = data;
    return 0;
}

int cf_worker_terminate(cf_worker *w)
{
    if (!w)
        return CF_EINVAL;
    if (w->exited)
        return CF_ECLOSED;
    if (w->term_sent)
        return 0;
    w->term_sent = 1;
    /* CF_ECLOSED: the worker's loop has closed, and its exit is on its way. */
    (void)cf__remote_push(w->to_worker, &w->term_post, self_terminate, &w->self);
    return 0;
}

cf_promise *cf_worker_terminate_p(cf_worker *w)
{
    if (!w)
        return NULL;
    if (w->exited)
        return cf_promise_resolved(w->loop, (void *)(intptr_t)w->exit_code, NULL);
    if (!w->exit_p) {
        w->exit_p = cf_promise_new(w->loop);
        if (!w->exit_p)
            return NULL;
    }
    cf_worker_terminate(w);
    return cf_promise_retain(w->exit_p);
}

int cf_worker_close(cf_worker *w, cf_close_cb cb, void *data)
{
    if (!w)
        return CF_EINVAL;
    if (w->closing)
        return CF_ECLOSED;
    w->closing = 1;
    w->close_cb = cb;
    w->close_data = data;
    cf__loop_undefer(w->loop, &w->in.flush);
    if (w->exited)
        return cf__handle_close(&w->h, worker_closed);
    cf__handle_ref(&w->h); /* the loop waits for the exit, which finishes the close */
    cf_worker_terminate(w);
    return 0;
}

void cf_worker_ref(cf_worker *w)
{
    if (w)
        cf__handle_ref(&w->h);
}

void cf_worker_unref(cf_worker *w)
{
    if (w && !w->closing)
        cf__handle_unref(&w->h);
}

int cf_worker_has_ref(const cf_worker *w)
{
    return w && cf__handle_has_ref(&w->h);
}

int cf_worker_is_active(const cf_worker *w)
{
    return w && !w->exited;
}

/* ---- inside the worker ---- */

int cf_worker_parent_post_json(cf_worker_self *self, cf_json *value)
{
    if (!self || !value) {
        cf_json_free(value);
        return CF_EINVAL;
    }
    if (self->closed) {
        cf_json_free(value);
        return CF_ECLOSED;
    }
    return post_payload(self->to_parent, parent_deliver, self->w, value, NULL, 0, NULL);
}

int cf_worker_parent_post_bytes(cf_worker_self *self, void *bytes, size_t len, cf_free_fn free_fn)
{
    if (!self || self->closed) {
        if (bytes && free_fn)
            free_fn(bytes);
        return self ? CF_ECLOSED : CF_EINVAL;
    }
    return post_payload(self->to_parent, parent_deliver, self->w, NULL, bytes, len, free_fn);
}

int cf_worker_parent_on_message(cf_worker_self *self, cf_worker_self_message_cb cb, void *data)
{
    if (!self)
        return CF_EINVAL;
    if (self->closed)
        return CF_ECLOSED;
    self->on_message = cb;
    self->on_message_data = data;
    self_update_keep(self);
    if (cb && self->in.head)
        cf__loop_defer(self->loop, &self->in.flush, self_flush);
    return 0;
}

void cf_worker_parent_close(cf_worker_self *self)
{
    if (!self)
        return;
    self->closed = 1;
    self->on_message = NULL;
    self_update_keep(self);
    inbox_clear(self->loop, &self->in);
}

void cf_worker_parent_ref(cf_worker_self *self)
{
    if (!self)
        return;
    self->unref = 0;
    self_update_keep(self);
}

void cf_worker_parent_unref(cf_worker_self *self)
{
    if (!self)
        return;
    self->unref = 1;
    self_update_keep(self);
}

int cf_worker_fail(cf_worker_self *self, cf_error *err)
{
    if (!self) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    self_stop(self, err ? err : cf_error_new(CF_EUNKNOWN, NULL, 0, NULL, NULL));
    return 0;
}

cf_abort_signal *cf_worker_signal(cf_worker_self *self)
{
    return self ? cf_abort_get_signal(self->abort) : NULL;
}
