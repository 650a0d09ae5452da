/*
 * `ghibli <resource> --style promises`: the job written as the tutorial's second program
 * (promiseMovies.js) is: one promise with one handler for each outcome. The work is a stream
 * pipeline (≈ require('stream/promises').pipeline(...stages)):
 *
 *   pipeline(body, elements, csv, file)
 *       .then(() => done())
 *       .catch(error => done(error));
 *
 * The pipeline's promise fulfils once every stage has finished, or rejects with the first
 * stage's error (every stage is then destroyed and the atomic file aborted). The catch learns
 * which stage failed from the pipe (ghibli_pipe_end).
 */
#include <stdlib.h>

#include "ghibli.h"

/* .then(() => done()) */
static void report_done(cf_promise *piped, cf_promise *next, void *data)
{
    (void)piped, (void)next;
    ghibli_job *job = ghibli_pipe_end(data, 0, NULL);
    job->done(job);
}

/* .catch(error => done(error)) */
static void report_error(cf_promise *failed, cf_promise *next, void *data)
{
    (void)next;
    ghibli_job *job = ghibli_pipe_end(data, cf_promise_code(failed), cf_promise_error(failed));
    job->done(job);
}

/* Start: make the stages, build the chain. The loop keeps each promise while it is pending. */
void ghibli_films_promises(ghibli_job *job)
{
    ghibli_pipe *p = ghibli_pipe_new(job);
    if (!p) {
        job->done(job);
        return;
    }
    size_t n;
    cf_stream *const *stages = ghibli_pipe_stages(p, &n);
    cf_promise *piped = cf_stream_pipeline_p(stages, n, NULL);
    cf_promise *finished = cf_promise_then(piped, report_done, NULL, p);
    cf_promise *handled = cf_promise_catch(finished, report_error, p);
    /* Out of memory (handled NULL): main.c sees that done never ran. */
    cf_promise_release(handled);
    cf_promise_release(finished);
    cf_promise_release(piped);
}
