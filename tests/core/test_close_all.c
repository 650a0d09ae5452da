/*
 * cf_loop_close_all (≈ uv_walk + uv_close): a loop left with a repeating timer, an idle timer,
 * an fd watcher, a signal handle, a ref'd interval and timeout, and a pool job queued behind a
 * running one cannot close; after cf_loop_close_all and one cf_run it closes. Pending work
 * completes with CF_ECANCELED, a handle already closing keeps its callback, the running job
 * finishes, the queued one never runs. Also from inside a callback, and with bad arguments.
 */
/* ctest-labels: tsan */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

typedef struct state {
    int ticks;     /* repeating timer and interval callbacks */
    int closed_cb; /* the close callback of the handle closed before cf_loop_close_all */
    int running_done;
    int running_status;
    int queued_done;
    int queued_status;
    atomic_int queued_ran;
    atomic_int running_started;
} state;

static void on_tick(cf_timer *t, void *data)
{
    (void)t;
    ((state *)data)->ticks++;
}

static void on_interval(void *data)
{
    ((state *)data)->ticks++;
}

static void on_readable(cf_watch *w, unsigned events, void *data)
{
    (void)w;
    (void)events;
    (void)data;
}

static void on_signal(cf_signal *sig, int signum, void *data)
{
    (void)sig;
    (void)signum;
    (void)data;
}

static void on_closed(void *data)
{
    ((state *)data)->closed_cb++;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The pool has one thread (main): this job holds it while the next one waits in the queue. */
static void running_work(void *data)
{
    state *s = data;
    atomic_store(&s->running_started, 1);
    sleep_ms(150);
}

static void running_done(int status, const cf_error *err, void *data)
{
    (void)err;
    state *s = data;
    s->running_done++;
    s->running_status = status;
}

static void queued_work(void *data)
{
    atomic_store(&((state *)data)->queued_ran, 1);
}

static void queued_done(int status, const cf_error *err, void *data)
{
    state *s = data;
    s->queued_done++;
    s->queued_status = status;
    ASSERT(status == 0 || err != NULL);
}

/* Open one of each kind on `loop`; returns the pipe to close after the loop. */
static void open_everything(cf_loop *loop, state *s, int fds[2])
{
    cf_timer *rep;
    ASSERT_OK(cf_timer_new(loop, &rep));
    ASSERT_OK(cf_timer_start(rep, 5, 5, on_tick, s));
    cf_timer *idle;
    ASSERT_OK(cf_timer_new(loop, &idle)); /* open, never started */
    cf_timer *closing;
    ASSERT_OK(cf_timer_new(loop, &closing));
    ASSERT_OK(cf_timer_close(closing, on_closed, s)); /* left alone: its callback runs */
    ASSERT_OK(pipe(fds));
    cf_watch *w;
    ASSERT_OK(cf_watch_new(loop, fds[0], &w));
    ASSERT_OK(cf_watch_start(w, CF_WATCH_READABLE, on_readable, s));
    cf_signal *sig;
    ASSERT_OK(cf_signal_new(loop, &sig));
    ASSERT_OK(cf_signal_start(sig, SIGUSR1, on_signal, s));
    ASSERT_OK(cf_set_interval(loop, 5, on_interval, s, NULL));
    ASSERT_OK(cf_set_timeout(loop, 3600 * 1000, on_interval, s, NULL));
    ASSERT_OK(cf_work(loop, running_work, NULL, running_done, s));
    for (int i = 0; i < 1000 && !atomic_load(&s->running_started); i++) {
        sleep_ms(1);
    }
    /* Submitted once the pool's thread runs the first: it waits in the queue. */
    ASSERT(atomic_load(&s->running_started));
    ASSERT_OK(cf_work(loop, queued_work, NULL, queued_done, s));
}

static void test_close_all_closes_every_kind_of_handle(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    state s = {0};
    int fds[2];
    open_everything(loop, &s, fds);
    ASSERT_EQ(cf_loop_close(loop), CF_EBUSY);
    ASSERT_OK(cf_loop_close_all(loop));
    ASSERT_OK(cf_loop_close_all(loop)); /* again: everything is closing already */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.ticks, 0); /* nothing ran after the close */
    ASSERT_EQ(s.closed_cb, 1);
    ASSERT_EQ(s.running_done, 1);
    ASSERT_EQ(s.running_status, 0);
    ASSERT_EQ(s.queued_done, 1);
    ASSERT_EQ(s.queued_status, CF_ECANCELED);
    ASSERT_EQ(atomic_load(&s.queued_ran), 0);
    ASSERT_OK(cf_loop_close(loop));
    close(fds[0]);
    close(fds[1]);
}

/* From a callback: the interval's own timer closes everything, including itself. */
typedef struct inside {
    cf_loop *loop;
    int fired;
    int timeout_ran;
} inside;

static void close_all_now(cf_timer *t, void *data)
{
    (void)t;
    inside *in = data;
    in->fired++;
    ASSERT_OK(cf_loop_close_all(in->loop));
}

static void late_timeout(void *data)
{
    ((inside *)data)->timeout_ran++;
}

static void test_close_all_from_a_callback_ends_the_run(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    inside in = {.loop = loop};
    cf_timer *t;
    ASSERT_OK(cf_timer_new(loop, &t));
    ASSERT_OK(cf_timer_start(t, 1, 1, close_all_now, &in));
    ASSERT_OK(cf_set_timeout(loop, 50, late_timeout, &in, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(in.fired, 1);
    ASSERT_EQ(in.timeout_ran, 0);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_close_all_on_an_empty_loop_and_bad_arguments(void)
{
    ASSERT_EQ(cf_loop_close_all(NULL), CF_EINVAL);
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_close_all(loop));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    setenv("CF_THREADPOOL_SIZE", "1", 1); /* before the pool starts: one job at a time */
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_close_all_closes_every_kind_of_handle);
    CF_TEST(test_close_all_from_a_callback_ends_the_run);
    CF_TEST(test_close_all_on_an_empty_loop_and_bad_arguments);
    return CF_TEST_END();
}
