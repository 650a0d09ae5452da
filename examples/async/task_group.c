/*
 * Task groups (structured concurrency): start several tasks, wait for all of them; when
 * one fails the others are cancelled, and closing the group leaves none running.
 * Beyond Node (where this is Promise.all plus an AbortController by hand); the model is
 * libdill's bundles and Trio's nurseries.
 */
#include <stdio.h>

#include <calcifer.h>

typedef struct download {
    const char *name;
    uint64_t ms; /* how long it takes */
    int fails;   /* ends with an error instead */
} download;

static int fetch(cf_task *task, void *arg)
{
    download *d = arg;
    int rc = cf_sleep(cf_task_loop(task), d->ms).status;
    if (rc < 0) {
        printf("  %-8s cancelled (%s)\n", d->name, cf_err_name(rc));
        return rc;
    }
    if (d->fails)
        return cf_task_throw(task, CF_ERROR(CF_ECONNRESET, "%s: connection reset", d->name));
    printf("  %-8s done after %u ms\n", d->name, (unsigned)d->ms);
    return 0;
}

static int fetch_all(cf_loop *loop, download *list, size_t n)
{
    cf_group *g;
    int rc = cf_group_new(loop, &g);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = cf_group_spawn(g, fetch, &list[i]);
    }
    if (rc == 0)
        rc = cf_group_wait(g).status;
    if (rc < 0)
        printf("  first failure: %s\n", cf_group_error(g) ? cf_group_error(g)->message : "?");
    cf_group_close(g, NULL, NULL); /* nothing of the group runs after this */
    return rc;
}

static int main_task(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    /* static: a task's locals move while it waits (copy-stack tasks), and the spawned tasks
     * keep pointers to these until they end (docs/stacks.md). */
    static download good[] = {{"films", 30, 0}, {"people", 10, 0}, {"species", 20, 0}};
    static download bad[] = {{"films", 30, 0}, {"people", 10, 1}, {"species", 20, 0}};
    printf("all succeed:\n");
    int rc = fetch_all(loop, good, 3);
    printf("  -> %s\n", rc == 0 ? "ok" : cf_err_name(rc));
    printf("one fails:\n");
    rc = fetch_all(loop, bad, 3);
    printf("  -> %s\n", rc == 0 ? "ok" : cf_err_name(rc));
    return 0;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_promise *p = cf_async(loop, main_task, NULL);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    int ok = rc == 0 && p && cf_promise_state(p) == CF_PROMISE_FULFILLED;
    cf_promise_release(p);
    return ok && cf_loop_close(loop) == 0 ? 0 : 1;
}
