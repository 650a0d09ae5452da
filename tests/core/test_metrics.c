/* ctest-labels: core tsan */
/* ctest-timeout: 60 */
/*
 * Seeing the loop (calcifer/metrics.h): the event-loop utilization of a loop that sleeps and
 * of one that spins, the blocked-loop detector naming a deliberately slow callback by file
 * and line (to a callback and to stderr), the histogram's percentiles and both delay modes,
 * the timed metrics of phases and of the thread pool, and the live-handle listing.
 */
#include "harness.h"

#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_ms(unsigned ms)
{
    uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
    while (now_ns() < end) {
    }
}

static void nothing(void *data)
{
    (void)data;
}

/* ---- utilization ---- */

static void test_metrics_utilization_of_a_sleeping_loop(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_set_timeout(loop, 200, nothing, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_loop_elu e = cf_loop_utilization(loop, NULL);
    ASSERT(e.idle_ms >= 150);
    ASSERT(e.utilization < 0.1);
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct spinner {
    cf_loop *loop;
    uint64_t until;
} spinner;

static void spin_again(void *data)
{
    spinner *s = data;
    spin_ms(1);
    if (now_ns() < s->until)
        ASSERT_OK(cf_set_immediate(s->loop, spin_again, s, NULL));
}

static void test_metrics_utilization_of_a_spinning_loop(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_set_timeout(loop, 50, nothing, NULL, NULL)); /* a wait first: then spin */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_loop_elu before = cf_loop_utilization(loop, NULL);
    spinner s = {loop, now_ns() + 200000000u};
    ASSERT_OK(cf_set_immediate(loop, spin_again, &s, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_loop_elu e = cf_loop_utilization(loop, &before);
    ASSERT(e.active_ms >= 150);
    ASSERT(e.utilization > 0.9);
    ASSERT(before.utilization < 0.5); /* the sleeping part alone was mostly idle */
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct ticker {
    cf_timeout *iv;
    int left;
} ticker;

static void busy_tick(void *data)
{
    ticker *t = data;
    spin_ms(20);
    if (--t->left == 0)
        cf_clear_interval(t->iv);
}

/*
 * The wait after a timers phase begins at that phase's clock read only when nothing ran in
 * between: timer callbacks that keep the loop busy 20 ms out of every 40 count as active, not
 * as part of the wait that follows them.
 */
static void test_metrics_utilization_of_busy_timers(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ticker t = {NULL, 10};
    ASSERT_OK(cf_set_interval(loop, 20, busy_tick, &t, &t.iv));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_loop_elu e = cf_loop_utilization(loop, NULL);
    ASSERT(e.active_ms >= 180); /* ten callbacks of 20 ms */
    ASSERT(e.utilization > 0.35 && e.utilization < 0.75);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the blocked-loop detector ---- */

typedef struct report {
    int count;
    uint64_t duration_ns;
    char kind[64];
    char callback[256];
    char site[256];
} report;

static void on_blocked(const cf_blocked *info, void *data)
{
    report *r = data;
    r->count++;
    r->duration_ns = info->duration_ns;
    snprintf(r->kind, sizeof(r->kind), "%s", info->kind);
    snprintf(r->callback, sizeof(r->callback), "%s", info->callback);
    snprintf(r->site, sizeof(r->site), "%s", info->site);
}

/* The function spans busy_line to busy_line + 4: a report may name any line of it (optimized
 * code starts with whichever statement the compiler put first). */
static const int busy_line = __LINE__ + 1;
static void busy_50ms(void *data)
{
    (void)data;
    spin_ms(50);
}

/* The line number after "test_metrics.c:" in `s`, or -1. */
static int line_in(const char *s)
{
    const char *p = strstr(s, "test_metrics.c:");
    return p ? (int)strtol(p + strlen("test_metrics.c:"), NULL, 10) : -1;
}

static void test_metrics_blocked_callback_is_reported_with_its_line(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    report r = {0};
    ASSERT_OK(cf_loop_detect_blocked(loop, 20, on_blocked, &r));
    ASSERT_OK(cf_set_timeout(loop, 1, nothing, NULL, NULL)); /* fast: not reported */
    int set_line = __LINE__ + 1;
    ASSERT_OK(cf_set_timeout(loop, 2, busy_50ms, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r.count, 1);
    ASSERT(r.duration_ns >= 50000000u);
    ASSERT_STR_EQ(r.kind, "timer");
    ASSERT(strstr(r.callback, "busy_50ms"));
    int line = line_in(r.callback);
    if (!(line >= busy_line && line <= busy_line + 4))
        CF_TEST_FAILF("callback '%s', expected line %d", r.callback, busy_line);
    ASSERT_EQ(line_in(r.site), set_line);
    ASSERT_OK(cf_loop_close(loop));
}

static void blocked_to_stderr(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_detect_blocked(loop, 20, NULL, NULL));
    ASSERT_OK(cf_set_immediate(loop, busy_50ms, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_metrics_blocked_default_report_goes_to_stderr(void)
{
    char text[2048];
    cf_test_capture_stderr(blocked_to_stderr, text, sizeof(text));
    ASSERT(strstr(text, "calcifer: blocked the loop for "));
    ASSERT(strstr(text, " ms (immediate): busy_50ms "));
    ASSERT(strstr(text, "busy_50ms"));
    int line = line_in(text);
    ASSERT(line >= busy_line && line <= busy_line + 4);
}

static void test_metrics_detector_off_by_default(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    report r = {0};
    ASSERT_OK(cf_loop_detect_blocked(loop, 20, on_blocked, &r));
    ASSERT_OK(cf_loop_detect_blocked(loop, 0, NULL, NULL)); /* off again */
    ASSERT_OK(cf_set_immediate(loop, busy_50ms, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r.count, 0);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- tasks: long steps and tasks left suspended ---- */

static int busy_task(cf_task *task, void *arg)
{
    (void)task;
    cf_loop *loop = arg;
    cf_result r = cf_sleep(loop, 1);
    if (r.status < 0)
        return r.status;
    spin_ms(50); /* the step after the sleep blocks the loop */
    return 0;
}

static void test_metrics_blocked_task_step_is_reported(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    report r = {0};
    ASSERT_OK(cf_loop_detect_blocked(loop, 20, on_blocked, &r));
    int async_line = __LINE__ + 1;
    cf_promise *p = cf_async(loop, busy_task, loop);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(p);
    ASSERT_EQ(r.count, 1);
    ASSERT_STR_EQ(r.kind, "task step");
    ASSERT(strstr(r.callback, "busy_task"));
    ASSERT(r.duration_ns >= 50000000u);
    ASSERT_EQ(line_in(r.site), async_line);
    ASSERT_OK(cf_loop_close(loop));
}

static cf_promise *never;
static int wait_line;

static int stuck_task(cf_task *task, void *arg)
{
    (void)task;
    (void)arg;
    wait_line = __LINE__ + 1;
    cf_result r = cf_await(cf_promise_retain(never));
    return r.status;
}

static void left_suspended(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_detect_blocked(loop, 1000, NULL, NULL));
    never = cf_promise_new(loop);
    ASSERT_PTR(never);
    cf_promise *p = cf_async(loop, stuck_task, NULL);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* ends: nothing keeps the loop alive */
    cf_promise_release(p);
    cf_promise_release(never);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_metrics_loop_end_lists_suspended_tasks(void)
{
    char text[2048];
    cf_test_capture_stderr(left_suspended, text, sizeof(text));
    ASSERT(strstr(text, "calcifer: at loop end, task stuck_task "));
    const char *at = strstr(text, " still waits at ");
    ASSERT(at);
    ASSERT_EQ(line_in(at), wait_line);
}

static int pending_line;

static void promises_left(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_detect_blocked(loop, 1000, NULL, NULL));
    pending_line = __LINE__ + 1;
    cf_promise *pending = cf_promise_new(loop);
    cf_promise *settled = cf_promise_new(loop);
    ASSERT_PTR(pending);
    ASSERT_PTR(settled);
    ASSERT_OK(cf_promise_resolve(settled, NULL, NULL));
    cf_promise *freed = cf_promise_new(loop); /* freed before the end: its entry goes */
    ASSERT_PTR(freed);
    ASSERT_OK(cf_promise_resolve(freed, NULL, NULL));
    cf_promise_release(freed);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop)); /* the promises' memory goes with the loop */
    (void)pending;
    (void)settled;
}

static void promise_left_undetected(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_PTR(cf_promise_new(loop));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_metrics_loop_end_lists_pending_promises(void)
{
    char text[2048];
    cf_test_capture_stderr(promises_left, text, sizeof(text));
    const char *at = strstr(text, "calcifer: at loop end, a promise created at test_metrics.c:");
    if (!at)
        CF_TEST_FAILF("no promise listed in '%s'", text);
    ASSERT_EQ(line_in(at), pending_line);
    ASSERT(strstr(at, "(promises_left) never settled"));
    ASSERT(!strstr(strchr(at, '\n'), "at loop end")); /* only the pending one */
    cf_test_capture_stderr(promise_left_undetected, text, sizeof(text));
    ASSERT_STR_EQ(text, ""); /* detector off: nothing kept, nothing listed */
}

/* ---- histograms and loop delay ---- */

static void test_metrics_histogram_percentiles(void)
{
    cf_histogram *h;
    ASSERT_OK(cf_histogram_new(&h));
    ASSERT_EQ(cf_histogram_percentile(h, 50), 0);
    for (uint64_t v = 1; v <= 1000; v++) {
        cf_histogram_record(h, v * 1000u); /* 1 us .. 1 ms */
    }
    cf_histogram_stats s = cf_histogram_summary(h);
    ASSERT_EQ(s.count, 1000);
    ASSERT_EQ(s.min, 1000);
    ASSERT_EQ(s.max, 1000000);
    ASSERT(s.p50 >= 500000 && s.p50 <= 516000); /* within the 3.2% of a bucket */
    ASSERT(s.p99 >= 990000 && s.p99 <= 1000000);
    ASSERT(s.mean > 500000 && s.mean < 501000);
    ASSERT_EQ(cf_histogram_percentile(h, 100), 1000000);
    cf_histogram_record(h, UINT64_MAX); /* the top bucket exists */
    ASSERT_EQ(cf_histogram_summary(h).max, UINT64_MAX);
    cf_histogram_reset(h);
    ASSERT_EQ(cf_histogram_summary(h).count, 0);
    cf_histogram_free(h);
}

static void block_30ms(void *data)
{
    (void)data;
    spin_ms(30);
}

static void test_metrics_delay_timer_mode_sees_a_block(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_delay_monitor_start(loop, 5));
    for (int i = 1; i <= 3; i++) {
        ASSERT_OK(cf_set_timeout(loop, (uint64_t)i * 20, block_30ms, NULL, NULL));
    }
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* the monitor's timer is unref'd: it ends */
    cf_histogram_stats s = cf_histogram_summary(cf_loop_delay(loop));
    ASSERT(s.count >= 3);
    ASSERT(s.max >= 20000000u); /* a sample waited behind a 30 ms block */
    ASSERT(s.p50 < 20000000u);  /* most did not */
    ASSERT_OK(cf_loop_delay_monitor_stop(loop));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_metrics_delay_per_iteration_mode(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_delay_monitor_start(loop, 0));
    ASSERT_OK(cf_set_timeout(loop, 5, block_30ms, NULL, NULL));
    ASSERT_OK(cf_set_timeout(loop, 60, nothing, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_histogram_stats s = cf_histogram_summary(cf_loop_delay(loop));
    ASSERT(s.count >= 2);
    ASSERT(s.max >= 30000000u && s.max < 45000000u); /* the busy iteration, not the waits */
    ASSERT(s.min < 5000000u);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- timed metrics: phases, callbacks, microtasks, the pool ---- */

static void sleep_20ms(void *data)
{
    (void)data;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
}

static int pool_done;
static void work_done(int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    pool_done++;
}

static void test_metrics_phases_and_pool(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_metrics_enable(loop, 1));
    pool_done = 0;
    int jobs = cf_pool_size() + 2; /* more jobs than workers: some wait */
    for (int i = 0; i < jobs; i++) {
        ASSERT_OK(cf_work(loop, sleep_20ms, NULL, work_done, NULL));
    }
    ASSERT_OK(cf_queue_microtask(loop, nothing, NULL));
    ASSERT_OK(cf_next_tick(loop, nothing, NULL));
    ASSERT_OK(cf_set_timeout(loop, 1, block_30ms, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(pool_done, jobs);
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_EQ(m.pool_jobs, jobs);
    ASSERT(m.pool_run_ns >= (uint64_t)jobs * 19000000u);
    ASSERT(m.pool_run_max_ns >= 19000000u);
    ASSERT(m.pool_wait_max_ns >= 15000000u); /* the jobs beyond the workers queued a turn */
    ASSERT_EQ(m.pool_queued, 0);
    ASSERT(m.callbacks >= (uint64_t)jobs + 1);
    ASSERT(m.microtasks >= 2);
    ASSERT(m.iterations >= 2);
    ASSERT(m.phase_ns[CF_PHASE_TIMERS] >= 30000000u); /* the 30 ms timer ran there */
    ASSERT(m.idle_ns > 0);
    ASSERT_EQ(m.requests, 0);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- live handles ---- */

static void timer_nothing(cf_timer *t, void *data)
{
    (void)t;
    (void)data;
}

static void test_metrics_print_handles(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_timer *t;
    int new_line = __LINE__ + 1;
    ASSERT_OK(cf_timer_new(loop, &t));
    ASSERT_OK(cf_timer_start(t, 1000, 0, timer_nothing, NULL));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_PTR(f);
    ASSERT_EQ(cf_loop_print_handles(loop, f), 1);
    fclose(f);
    ASSERT(strstr(text, "[RA-] handle"));
    const char *made = strstr(text, " made at test_metrics.c:");
    if (!made)
        CF_TEST_FAILF("no user site in '%s'", text);
    ASSERT_EQ(line_in(made), new_line);
    ASSERT(strstr(made, "(test_metrics_print_handles)"));
    ASSERT(strstr(text, "requests in flight: 0"));
    free(text);
    ASSERT_OK(cf_timer_close(t, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    f = open_memstream(&text, &len);
    ASSERT_EQ(cf_loop_print_handles(loop, f), 0);
    fclose(f);
    free(text);
    ASSERT_EQ(cf_loop_print_handles(NULL, stderr), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

/* Every handle kind names the line that made it: a signal watcher, a task group, a TCP handle. */
static void test_metrics_print_handles_names_each_kind(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_signal *sig;
    int sig_line = __LINE__ + 1;
    ASSERT_OK(cf_signal_new(loop, &sig));
    cf_group *g;
    int group_line = __LINE__ + 1;
    ASSERT_OK(cf_group_new(loop, &g));
    cf_tcp *tcp;
    int tcp_line = __LINE__ + 1;
    ASSERT_OK(cf_tcp_new(loop, &tcp));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_PTR(f);
    ASSERT_EQ(cf_loop_print_handles(loop, f), 3);
    fclose(f);
    char want[64];
    snprintf(want, sizeof want, "made at test_metrics.c:%d ", tcp_line);
    if (!strstr(text, want))
        CF_TEST_FAILF("no '%s' in '%s'", want, text);
    snprintf(want, sizeof want, "made at test_metrics.c:%d ", sig_line);
    if (!strstr(text, want))
        CF_TEST_FAILF("no '%s' in '%s'", want, text);
    snprintf(want, sizeof want, "made at test_metrics.c:%d ", group_line);
    if (!strstr(text, want))
        CF_TEST_FAILF("no '%s' in '%s'", want, text);
    free(text);
    ASSERT_OK(cf_signal_close(sig, NULL, NULL));
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    ASSERT_OK(cf_tcp_close(tcp, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    setenv("CF_THREADPOOL_SIZE", "2", 1);
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_metrics_utilization_of_a_sleeping_loop);
    CF_TEST(test_metrics_utilization_of_a_spinning_loop);
    CF_TEST(test_metrics_utilization_of_busy_timers);
    CF_TEST(test_metrics_blocked_callback_is_reported_with_its_line);
    CF_TEST(test_metrics_blocked_default_report_goes_to_stderr);
    CF_TEST(test_metrics_detector_off_by_default);
    CF_TEST(test_metrics_blocked_task_step_is_reported);
    CF_TEST(test_metrics_loop_end_lists_suspended_tasks);
    CF_TEST(test_metrics_loop_end_lists_pending_promises);
    CF_TEST(test_metrics_histogram_percentiles);
    CF_TEST(test_metrics_delay_timer_mode_sees_a_block);
    CF_TEST(test_metrics_delay_per_iteration_mode);
    CF_TEST(test_metrics_phases_and_pool);
    CF_TEST(test_metrics_print_handles);
    CF_TEST(test_metrics_print_handles_names_each_kind);
    return CF_TEST_END();
}
