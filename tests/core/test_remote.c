/*
 * Remotes (calcifer/remote.h): callbacks posted to a loop from other threads run on the loop's
 * thread, in order, and none is lost or run twice when the loop closes; promises settled from
 * another thread (or another loop) run their reactions on their owner's loop.
 */
/* ctest-labels: tsan */
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

typedef struct msg {
    int producer;
    int seq;
} msg;

typedef struct order_state {
    pthread_t loop_thread;
    int next[PRODUCERS]; /* the sequence number expected next from each producer */
    long received;
    int wrong_thread;
    int out_of_order;
} order_state;

typedef struct producer {
    cf_remote *remote; /* keep-alive: released when done */
    int id;
    int failed;
} producer;

static order_state order;

static void on_msg(cf_loop *loop, int status, void *data)
{
    (void)loop;
    msg *m = data;
    if (status == 0) {
        if (!pthread_equal(pthread_self(), order.loop_thread))
            order.wrong_thread++;
        if (m->seq != order.next[m->producer])
            order.out_of_order++;
        order.next[m->producer] = m->seq + 1;
        order.received++;
    }
    free(m);
}

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        msg *m = malloc(sizeof(*m));
        m->producer = p->id;
        m->seq = i;
        if (cf_remote_post(p->remote, on_msg, m) != 0) {
            free(m);
            p->failed++;
        }
    }
    cf_remote_release(p->remote); /* the loop may end once every producer is done */
    return NULL;
}

/*
 * Four threads post at once; each one's messages arrive in its order, all on the loop thread.
 * With busy polling the loop also finds posts by spinning on the mailbox, and posters skip the
 * eventfd while it spins: nothing may be lost between the two ways.
 */
static void run_posts_under_contention(unsigned busy_us)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_set_busy_poll(loop, busy_us));
    memset(&order, 0, sizeof order);
    order.loop_thread = pthread_self();
    producer ps[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        ps[i] = (producer){.id = i};
        ASSERT_OK(cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &ps[i].remote));
    }
    for (int i = 0; i < PRODUCERS; i++) {
        ASSERT_EQ(pthread_create(&th[i], NULL, produce, &ps[i]), 0);
    }
    /* Nothing else keeps the loop alive: it runs until the last remote is released. */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ(ps[i].failed, 0);
        ASSERT_EQ(order.next[i], PER_PRODUCER);
    }
    ASSERT_EQ(order.received, (long)PRODUCERS * PER_PRODUCER);
    ASSERT_EQ(order.out_of_order, 0);
    ASSERT_EQ(order.wrong_thread, 0);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_remote_posts_keep_order_under_contention(void)
{
    run_posts_under_contention(0);
}

static void test_remote_posts_keep_order_while_busy_polling(void)
{
    for (int round = 0; round < 5; round++) { /* a post racing the end of a spin, many times */
        run_posts_under_contention(round % 2 ? 1 : 50);
    }
}

typedef struct counts {
    int ran;
    int canceled;
    int immediate_first; /* the immediate ran before the post */
    int immediate_ran;
} counts;

static void count_post(cf_loop *loop, int status, void *data)
{
    (void)loop;
    counts *c = data;
    if (status == CF_ECANCELED)
        c->canceled++;
    else if (status == 0)
        c->ran++;
}

typedef struct self_post {
    cf_remote *remote;
    int ran;
} self_post;

static void release_on_run(cf_loop *loop, int status, void *data)
{
    (void)loop;
    self_post *sp = data;
    sp->ran += status == 0;
    cf_remote_release(sp->remote); /* the last keep-alive reference: the loop may end */
    sp->remote = NULL;
}

/* A post from the loop's own thread runs in a later poll phase, never inside the call. */
static void test_remote_post_from_loop_thread_runs_later(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    self_post sp = {0};
    ASSERT_OK(cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &sp.remote));
    ASSERT_OK(cf_remote_post(sp.remote, release_on_run, &sp));
    ASSERT_EQ(sp.ran, 0);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* ends when the callback releases the remote */
    ASSERT_EQ(sp.ran, 1);
    ASSERT(sp.remote == NULL);
    /* A plain remote keeps nothing alive (≈ an unref'd uv_async), but what it posted runs. */
    cf_remote *plain;
    ASSERT_OK(cf_remote_new(loop, 0, &plain));
    counts c = {0};
    ASSERT_OK(cf_remote_post(plain, count_post, &c));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(c.ran, 1);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* nothing left: returns at once */
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(c.canceled, 0);
    cf_remote_release(plain);
}

/* Closing runs what landed with CF_ECANCELED; later posts fail; the remote outlives the loop. */
static void test_remote_close_cancels_queued_and_refuses_later_posts(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_remote *r;
    ASSERT_OK(cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &r));
    cf_remote *d = cf_remote_dup(r);
    ASSERT_PTR(d);
    counts c = {0};
    ASSERT_OK(cf_remote_post(r, count_post, &c));
    ASSERT_OK(cf_remote_post(d, count_post, &c));
    ASSERT_EQ(cf_remote_closed(r), 0);
    /* Keep-alive remotes do not make close busy: a remote is a reference, not a handle. */
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(c.canceled, 2);
    ASSERT_EQ(c.ran, 0);
    ASSERT(cf_remote_closed(r));
    ASSERT_EQ(cf_remote_post(d, count_post, &c), CF_ECLOSED);
    ASSERT_EQ(c.canceled, 2);
    cf_remote_release(r);
    cf_remote_release(d);
    ASSERT_EQ(cf_remote_post(NULL, count_post, &c), CF_EINVAL);
    cf_loop *l2;
    ASSERT_OK(cf_loop_new(&l2));
    cf_remote *bad = (cf_remote *)1;
    ASSERT_EQ(cf_remote_new(l2, 0x80, &bad), CF_EINVAL);
    ASSERT(bad == NULL);
    ASSERT_OK(cf_loop_close(l2));
}

/* ---- promises settled from another thread ---- */

typedef struct settle_job {
    cf_settler *settler;
    int reject;
    int delay_ms;
    int rc; /* what the settle returned */
} settle_job;

static void *settle_later(void *arg)
{
    settle_job *j = arg;
    usleep((useconds_t)j->delay_ms * 1000);
    if (j->reject) {
        j->rc = cf_settler_reject(j->settler, CF_ERROR(CF_ETIMEDOUT, "work on another thread"));
    } else {
        int *v = malloc(sizeof(*v));
        *v = 42;
        j->rc = cf_settler_resolve(j->settler, v, free);
    }
    return NULL;
}

typedef struct reaction {
    pthread_t loop_thread;
    int on_loop_thread;
    int status;
    int value;
    char message[128];
} reaction;

static void on_settled(cf_promise *p, void *data)
{
    reaction *r = data;
    r->on_loop_thread = pthread_equal(pthread_self(), r->loop_thread);
    r->status = cf_promise_code(p);
    if (cf_promise_state(p) == CF_PROMISE_FULFILLED) {
        r->value = *(int *)cf_promise_value(p);
    } else if (cf_promise_error(p)) {
        snprintf(r->message, sizeof r->message, "%s", cf_promise_error(p)->message);
    }
}

static void run_remote_promise(int reject)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_promise *p;
    settle_job job = {.reject = reject, .delay_ms = 20};
    ASSERT_OK(cf_promise_remote(loop, &p, &job.settler));
    reaction r = {.loop_thread = pthread_self()};
    ASSERT_OK(cf_promise_on_settle(p, on_settled, &r));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, settle_later, &job), 0);
    /* The pending promise alone keeps the loop running until the other thread settles it. */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    pthread_join(th, NULL);
    ASSERT_EQ(job.rc, 0);
    ASSERT_EQ(r.on_loop_thread, 1);
    if (reject) {
        ASSERT_EQ(r.status, CF_ETIMEDOUT);
        ASSERT(strstr(r.message, "work on another thread") != NULL);
    } else {
        ASSERT_EQ(r.status, 0);
        ASSERT_EQ(r.value, 42);
    }
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_remote_promise_resolved_from_thread(void)
{
    run_remote_promise(0);
}

static void test_remote_promise_rejected_from_thread(void)
{
    run_remote_promise(1);
}

static atomic_int freed_values;

static void count_free(void *v)
{
    free(v);
    atomic_fetch_add(&freed_values, 1);
}

/*
 * The loop closes before the settlement runs: the promise is rejected with CF_ECANCELED from
 * cf_loop_close (its reaction runs there) and the value is freed, whether the other thread
 * settled before the close (the settlement waits in the mailbox) or after it (CF_ECLOSED).
 */
static void run_close_before_settlement(int settle_first)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_promise *p;
    cf_settler *s;
    ASSERT_OK(cf_promise_remote(loop, &p, &s));
    reaction r = {.loop_thread = pthread_self()};
    ASSERT_OK(cf_promise_on_settle(p, on_settled, &r));
    cf_promise_release(p); /* cf_loop_close frees what is left of the loop's promises */
    atomic_store(&freed_values, 0);
    int *v = malloc(sizeof(*v));
    if (settle_first)
        ASSERT_OK(cf_settler_resolve(s, v, count_free));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(r.status, CF_ECANCELED);
    if (!settle_first) {
        ASSERT(strstr(r.message, "loop closed before the promise was settled") != NULL);
        ASSERT_EQ(atomic_load(&freed_values), 0);
        ASSERT_EQ(cf_settler_resolve(s, v, count_free), CF_ECLOSED);
    }
    ASSERT_EQ(atomic_load(&freed_values), 1);
}

static void test_remote_promise_pending_at_close_is_canceled(void)
{
    run_close_before_settlement(0);
}

static void test_remote_promise_settled_but_not_run_at_close(void)
{
    run_close_before_settlement(1);
}

/* ---- a promise of loop A settled by work that runs on loop B ---- */

typedef struct cross {
    cf_settler *settler; /* A's promise */
    cf_timer *timer;     /* on B */
    pthread_t b_thread;
    int settled_on_b;
} cross;

static void b_timer_closed(void *data)
{
    (void)data;
}

static void b_timer_fired(cf_timer *t, void *data)
{
    cross *c = data;
    c->settled_on_b = pthread_equal(pthread_self(), c->b_thread);
    int *v = malloc(sizeof(*v));
    *v = 7;
    cf_settler_resolve(c->settler, v, free);
    cf_timer_close(t, b_timer_closed, NULL);
}

/* Runs on B's thread: start B's part of the work (a 10 ms timer). */
static void b_start(cf_loop *b, int status, void *data)
{
    cross *c = data;
    if (status < 0) {
        cf_settler_drop(c->settler);
        return;
    }
    if (cf_timer_new(b, &c->timer) != 0 || cf_timer_start(c->timer, 10, 0, b_timer_fired, c) != 0)
        cf_settler_drop(c->settler);
}

typedef struct b_loop {
    cf_loop *loop;
    cf_remote *remote; /* keep-alive: B runs until A releases it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
} b_loop;

static void *run_b(void *arg)
{
    b_loop *b = arg;
    cf_loop_new(&b->loop);
    cf_remote_new(b->loop, CF_REMOTE_KEEP_ALIVE, &b->remote);
    pthread_mutex_lock(&b->mu);
    b->ready = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    cf_run(b->loop, CF_RUN_DEFAULT);
    cf_loop_close(b->loop);
    return NULL;
}

static void test_remote_promise_settled_by_another_loop(void)
{
    b_loop b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t bt;
    ASSERT_EQ(pthread_create(&bt, NULL, run_b, &b), 0);
    pthread_mutex_lock(&b.mu);
    while (!b.ready) {
        pthread_cond_wait(&b.cv, &b.mu);
    }
    pthread_mutex_unlock(&b.mu);
    ASSERT_PTR(b.remote);

    cf_loop *a;
    ASSERT_OK(cf_loop_new(&a));
    cf_promise *p;
    cross c = {.b_thread = bt};
    ASSERT_OK(cf_promise_remote(a, &p, &c.settler));
    reaction r = {.loop_thread = pthread_self()};
    ASSERT_OK(cf_promise_on_settle(p, on_settled, &r));
    ASSERT_OK(cf_remote_post(b.remote, b_start, &c));
    ASSERT_OK(cf_run(a, CF_RUN_DEFAULT));
    ASSERT_EQ(r.on_loop_thread, 1);
    ASSERT_EQ(r.value, 7);
    ASSERT_EQ(c.settled_on_b, 1);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(a));
    cf_remote_release(b.remote); /* B has nothing left: it ends */
    pthread_join(bt, NULL);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_remote_posts_keep_order_under_contention);
    CF_TEST(test_remote_posts_keep_order_while_busy_polling);
    CF_TEST(test_remote_post_from_loop_thread_runs_later);
    CF_TEST(test_remote_close_cancels_queued_and_refuses_later_posts);
    CF_TEST(test_remote_promise_resolved_from_thread);
    CF_TEST(test_remote_promise_rejected_from_thread);
    CF_TEST(test_remote_promise_pending_at_close_is_canceled);
    CF_TEST(test_remote_promise_settled_but_not_run_at_close);
    CF_TEST(test_remote_promise_settled_by_another_loop);
    return CF_TEST_END();
}
