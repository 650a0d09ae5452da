/*
 * A worker thread (≈ Node's worker_threads): the main loop sends numbers to a worker, which
 * answers with their squares on its own loop and thread; "end" closes the worker's port, its
 * loop runs out of work and the worker exits.
 *
 *   const worker = new Worker('./square.js');
 *   worker.on('message', (sq) => { sum += sq; if (++n === 5) worker.postMessage('end'); });
 *   worker.on('exit', (code) => console.log(`worker exited with ${code}, sum ${sum}`));
 *   for (let i = 1; i <= 5; i++) worker.postMessage(i);
 *   // square.js: parentPort.on('message', (m) => m === 'end' ? parentPort.close()
 *   //                                                 : parentPort.postMessage(m * m));
 */
#include <stdio.h>

#include <calcifer.h>

/* ---- the worker: runs on its own thread and loop ---- */

static void square(cf_worker_self *self, cf_worker_message *msg, void *data)
{
    (void)data;
    int64_t n = 0;
    if (cf_json_get_i64(cf_worker_message_json(msg), &n) != 0) {
        cf_worker_parent_close(self); /* "end": nothing keeps the worker's loop alive now */
        return;
    }
    cf_worker_parent_post_json(self, cf_json_new_i64(n * n));
}

static int worker_main(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return cf_worker_parent_on_message(self, square, NULL);
}

/* ---- the main thread ---- */

typedef struct totals {
    int64_t sum;
    int answers;
} totals;

static void on_answer(cf_worker *w, cf_worker_message *msg, void *data)
{
    totals *t = data;
    int64_t sq = 0;
    cf_json_get_i64(cf_worker_message_json(msg), &sq);
    t->sum += sq;
    if (++t->answers == 5)
        cf_worker_post_json(w, cf_json_new_string("end", 3));
}

static void worker_exited(cf_worker *w, int exit_code, void *data)
{
    (void)w;
    totals *t = data;
    printf("worker exited with %d, sum of squares %lld\n", exit_code, (long long)t->sum);
}

static void on_closed(void *data)
{
    (void)data;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    totals t = {0};
    cf_worker *w;
    cf_worker_opts opts = {.name = "squares"};
    int rc = cf_worker_new(loop, &opts, worker_main, NULL, &w);
    if (rc != 0) {
        fprintf(stderr, "worker: %s\n", cf_strerror(rc));
        return 1;
    }
    cf_worker_on_message(w, on_answer, &t);
    cf_worker_on_exit(w, worker_exited, &t);
    for (int i = 1; i <= 5; i++) {
        cf_worker_post_json(w, cf_json_new_i64(i));
    }
    cf_run(loop, CF_RUN_DEFAULT); /* until the worker has exited */
    cf_worker_close(w, on_closed, NULL);
    cf_run(loop, CF_RUN_DEFAULT);
    return cf_loop_close(loop) == 0 && t.sum == 55 ? 0 : 1;
}
