/*
 * async/await, as in the tutorial's "Writing JavaScript with async/await" section: one async
 * function that awaits one step after the other, and one error path (try/catch).
 *
 *   const sleep = require('timers/promises').setTimeout;
 *   async function fetchGreeting() {
 *     await sleep(100);                       // stands for a request
 *     return 'Hello from an async function';
 *   }
 *   async function saveGreeting(greeting) {
 *     await sleep(50);                        // stands for writing a file that fails
 *     throw new Error("EACCES: permission denied, open 'greeting.txt'");
 *   }
 *   async function main() {
 *     try {
 *       const greeting = await fetchGreeting();
 *       console.log(greeting);
 *       await saveGreeting(greeting);
 *       console.log('Saved');                 // not reached
 *     } catch (error) {
 *       console.error(`Could not save the greeting: ${error.message}`);
 *     }
 *   }
 *   main();
 */
#include <stdio.h>

#include <calcifer.h>

static int fetch_greeting(cf_task *task, void *arg)
{
    (void)arg;
    int rc = cf_sleep(cf_task_loop(task), 100).status;
    if (rc < 0)
        return rc;
    return cf_task_return(task, (void *)"Hello from an async function", NULL);
}

static int save_greeting(cf_task *task, void *arg)
{
    int rc = cf_sleep(cf_task_loop(task), 50).status;
    if (rc < 0)
        return rc;
    (void)arg; /* the greeting would be written to greeting.txt */
    return cf_task_throw(task, CF_ERROR_SYS(CF_EACCES, "open '%s'", "greeting.txt"));
}

static int main_task(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_result r = cf_await(cf_async(loop, fetch_greeting, NULL));
    if (r.status == 0) {
        const char *greeting = r.value;
        printf("%s\n", greeting);
        r = cf_await(cf_async(loop, save_greeting, (void *)greeting));
    }
    if (r.status < 0) {
        /* The error says where it was made: the line of the CF_ERROR in save_greeting. */
        fprintf(stderr, "Could not save the greeting: %s\n", cf_error_message(r.error));
        return 0;
    }
    printf("Saved\n");
    return 0;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_promise_release(cf_async(loop, main_task, NULL));
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
