/*
 * Promises, as in the tutorial's "Using Promises" section: a promise settled later by a
 * timer, a chain of then() steps each handing a value to the next, and one catch at the end.
 *
 *   const promise = new Promise((resolve) => {
 *     setTimeout(() => resolve('Resolving an asynchronous request!'), 100);
 *   });
 *   promise
 *     .then((response) => { console.log(response); return response.length; })
 *     .then((length) => console.log(`The message had ${length} characters`))
 *     .catch((error) => { console.error(error.message); process.exitCode = 1; });
 */
#include <stdio.h>
#include <string.h>

#include <calcifer.h>

static int exit_code;

/* setTimeout(() => resolve('Resolving an asynchronous request!'), 100) */
static void resolve_later(void *data)
{
    cf_promise *promise = data;
    cf_promise_resolve(promise, (void *)"Resolving an asynchronous request!", NULL);
    cf_promise_release(promise);
}

/* (response) => { console.log(response); return response.length; } */
static void print_response(cf_promise *settled, cf_promise *next, void *data)
{
    (void)data;
    const char *response = cf_promise_value(settled);
    printf("%s\n", response);
    cf_promise_resolve(next, (void *)(uintptr_t)strlen(response), NULL);
}

/* (length) => console.log(`The message had ${length} characters`) */
static void print_length(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("The message had %zu characters\n", (size_t)(uintptr_t)cf_promise_value(settled));
}

/* (error) => { console.error(error.message); process.exitCode = 1; } */
static void print_error(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    fprintf(stderr, "%s\n", cf_promise_error(settled)->message);
    exit_code = 1;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise *promise = cf_promise_new(loop);
    if (!promise || cf_set_timeout(loop, 100, resolve_later, cf_promise_retain(promise), NULL)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    cf_promise *step1 = cf_promise_then(promise, print_response, NULL, NULL);
    cf_promise *step2 = cf_promise_then(step1, print_length, NULL, NULL);
    cf_promise *done = cf_promise_catch(step2, print_error, NULL);
    cf_promise_release(promise);
    cf_promise_release(step1);
    cf_promise_release(step2);
    cf_promise_release(done);

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    if (cf_loop_close(loop) != 0 || rc != 0)
        return 1;
    return exit_code;
}
