/*
 * Scenario 20: finally passes the value or reason through (its own result is ignored)
 * unless it fails; catch recovers and the chain goes on.
 */
#include <stdio.h>

#include "calcifer.h"

static void log_line(const char *s)
{
    printf("%s\n", s);
}

static void finally_1(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    log_line("finally 1");
    cf_promise_resolve(next, "ignored", NULL);
}

static void after_finally_1(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("after finally 1: %s\n", (const char *)cf_promise_value(settled));
}

static void log_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    log_line(data);
}

static void catch_2(cf_promise *settled, cf_promise *next, void *data)
{
    (void)data;
    printf("catch: %s\n", cf_promise_error(settled)->message);
    cf_promise_resolve(next, "recovered", NULL);
}

static void after_catch(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("after catch: %s\n", (const char *)cf_promise_value(settled));
}

static void finally_throws(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    cf_promise_reject(next, CF_ERROR(CF_EINVAL, "from finally"));
}

static void finally_threw(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("finally threw: %s\n", cf_promise_error(settled)->message);
}

/* Attach a step to `*p`, dropping the reference to the previous step. */
static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise *p = cf_promise_resolved(loop, "value", NULL);
    step(&p, cf_promise_finally(p, finally_1, NULL));
    step(&p, cf_promise_then(p, after_finally_1, NULL, NULL));
    cf_promise_release(p);

    p = cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "oops"));
    step(&p, cf_promise_then(p, log_handler, NULL, "skipped then"));
    step(&p, cf_promise_finally(p, log_handler, "finally 2"));
    step(&p, cf_promise_catch(p, catch_2, NULL));
    step(&p, cf_promise_then(p, after_catch, NULL, NULL));
    cf_promise_release(p);

    p = cf_promise_resolved(loop, "v", NULL);
    step(&p, cf_promise_finally(p, finally_throws, NULL));
    step(&p, cf_promise_catch(p, finally_threw, NULL));
    cf_promise_release(p);

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
