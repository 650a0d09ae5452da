/* Scenario 21: finally costs more microtask turns than an equivalent then. */
#include <stdio.h>

#include "calcifer.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    printf("%s\n", (const char *)data);
}

static void after(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    printf("%s%s\n", (const char *)data, (const char *)cf_promise_value(settled));
}

static void then_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)data;
    printf("then handler\n");
    cf_promise_follow(next, settled); /* return v */
}

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

    cf_promise *p = cf_promise_resolved(loop, "f", NULL);
    step(&p, cf_promise_finally(p, log_handler, "finally handler"));
    step(&p, cf_promise_then(p, after, NULL, "after finally: "));
    cf_promise_release(p);

    p = cf_promise_resolved(loop, "t", NULL);
    step(&p, cf_promise_then(p, then_handler, NULL, NULL));
    step(&p, cf_promise_then(p, after, NULL, "after then: "));
    cf_promise_release(p);

    static const char *ticks[] = {"tick 1", "tick 2", "tick 3", "tick 4", "tick 5"};
    p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        step(&p, cf_promise_then(p, log_handler, NULL, (void *)ticks[i]));
    }
    cf_promise_release(p);

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
