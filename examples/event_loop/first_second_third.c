/*
 * The event loop, from the tutorial's "The Event Loop" section: the same three functions as
 * call_stack.c, but second() logs from a timer of 0 ms. The timer's callback waits in the
 * timers queue until the call stack is empty, so 2 comes last.
 *
 *   function first() {
 *       console.log(1);
 *   }
 *
 *   function second() {
 *       setTimeout(() => {
 *           console.log(2);
 *       }, 0);
 *   }
 *
 *   function third() {
 *       console.log(3);
 *   }
 *
 *   first();
 *   second();
 *   third();
 *
 * Prints 1, 3, 2, one per line. In Node the loop is implicit and runs after the main module;
 * in C the main program runs it, with cf_run, once its own code is done.
 */
#include <stdio.h>

#include <calcifer.h>

static void first(cf_loop *loop)
{
    (void)loop;
    printf("%d\n", 1);
}

static void log_two(void *data)
{
    (void)data;
    printf("%d\n", 2);
}

static void second(cf_loop *loop)
{
    cf_set_timeout(loop, 0, log_two, NULL, NULL);
}

static void third(cf_loop *loop)
{
    (void)loop;
    printf("%d\n", 3);
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    first(loop);
    second(loop);
    third(loop);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return rc < 0 ? 1 : 0;
}
