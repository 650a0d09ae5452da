/*
 * `ghibli <resource> --style async` (the default): the job written as the tutorial's third
 * program (asyncAwaitMovies.js) is: one async function with one error path. The work is a
 * stream pipeline, awaited (≈ `await pipeline(...stages)` from 'stream/promises'):
 *
 *   async function films(job) {
 *       try {
 *           await pipeline(body, elements, csv, file);
 *       } catch (error) {
 *           job.error = error;
 *       }
 *       done();
 *   }
 *
 * cf_await returns a cf_result: its status is 0 or the rejection's code, its error the caught
 * exception (the first stage's error; every stage is then destroyed and the atomic file
 * aborted); ghibli_pipe_end records which stage failed.
 */
#include <stdlib.h>

#include "ghibli.h"

static int films(cf_task *task, void *arg)
{
    (void)task;
    ghibli_job *job = arg;
    ghibli_pipe *p = ghibli_pipe_new(job);
    if (!p) {
        job->done(job);
        return 0;
    }
    size_t n;
    cf_stream *const *stages = ghibli_pipe_stages(p, &n);
    cf_result r = cf_await(cf_stream_pipeline_p(stages, n, NULL));
    ghibli_pipe_end(p, r.status, r.status < 0 ? r.error : NULL);
    job->done(job);
    return 0;
}

/* Start: run `films` as a task; it runs now until its first await. */
void ghibli_films_async(ghibli_job *job)
{
    cf_promise_release(cf_async(job->loop, films, job));
}
