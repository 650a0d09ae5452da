/*
 * 53: the unhandled-rejection modes (CALCIFER_UNHANDLED_REJECTIONS=MODE ≈ node
 * --unhandled-rejections=MODE): a promise rejected in the main code is handled only by a timer
 * later. throw and strict fail the run at the report; warn warns and goes on;
 * warn-with-error-code warns, goes on, and cf_run returns CF_EUNHANDLED once the loop is done
 * (≈ exit code 1); none says nothing. The program re-runs itself under each mode
 * (child_scenario.h); the child's exit status is 1 when cf_run failed.
 */
#include "child_scenario.h"

static int exit_code;
static cf_timeout *t1; /* the timers, until they run (then NULL) */
static cf_timeout *t2;

/* ≈ process.on('exit', (c) => log('exit ' + c)). */
static void on_exit_hook(void *data)
{
    (void)data;
    SAYF("exit %d", exit_code);
}

static void show_caught(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    SAYF("caught %s", cf_promise_error(settled)->message);
}

/* setTimeout(() => { log('timer'); p.catch(...) }, 5) */
static void handle_later(void *p)
{
    t1 = NULL;
    say("timer");
    cf_promise_release(cf_promise_catch(p, show_caught, NULL));
    cf_promise_release(p);
}

static void timer_2(void *data)
{
    (void)data;
    t2 = NULL;
    say("timer 2");
}

static void log_then(cf_promise *settled, cf_promise *next, void *text)
{
    (void)settled;
    (void)next;
    say(text);
}

static int child(void)
{
    scenario_begin();
    CHECK(cf_loop_on_exit(loop, on_exit_hook, NULL));
    cf_promise *p = cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "boom"));
    CHECK(cf_set_timeout(loop, 5, handle_later, p, &t1));
    CHECK(cf_set_timeout(loop, 30, timer_2, NULL, &t2));
    cf_promise *r = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(r, log_then, NULL, TEXT("micro")));
    cf_promise_release(r);
    say("main");
    cf_loop_drain(loop);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    if (rc < 0 && rc != CF_EUNHANDLED)
        check(rc, "cf_run");
    exit_code = rc < 0 ? 1 : 0;
    /* ≈ the process ending at the report (throw, strict): the timers that never ran are
       cleared; the loop frees `p` at close. */
    cf_clear_timeout(t1);
    cf_clear_timeout(t2);
    CHECK(cf_loop_close(loop));
    fflush(stdout);
    return exit_code;
}

int main(void)
{
    if (child_is_child())
        return child();
    static const char *const modes[] = {"throw", "strict", "warn", "warn-with-error-code", "none"};
    static char env[5][64];
    for (size_t i = 0; i < 5; i++) {
        SAYF("--- %s", modes[i]);
        snprintf(env[i], sizeof env[i], "CALCIFER_UNHANDLED_REJECTIONS=%s", modes[i]);
        const char *const vars[] = {env[i], NULL};
        child_run(vars);
    }
    return 0;
}
