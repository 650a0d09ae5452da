/*
 * `ghibli <resource> --style callbacks`: the job written as the tutorial's first program
 * (callbackMovies.js) is: one operation with a completion callback, written right after the
 * code that passes it, so the file reads from top to bottom in the order things happen. The
 * operation is a stream pipeline (≈ stream.pipeline(...stages, callback)):
 *
 *   HTTP body -> JSON array elements -> CSV rows -> atomic file (or standard output)
 *     -> on_piped: done
 *
 * An error in any stage destroys every stage and ends the job with that error; the atomic
 * file is then aborted, so the previous output file stays as it was.
 */
#include <stdlib.h>

#include "ghibli.h"

static void on_piped(cf_stream *last, int status, const cf_error *error, void *data);

/* Start: make the stages and pipe them; on_piped runs once every stage is done. */
void ghibli_films_callbacks(ghibli_job *job)
{
    ghibli_pipe *p = ghibli_pipe_new(job);
    if (!p) {
        job->done(job);
        return;
    }
    size_t n;
    cf_stream *const *stages = ghibli_pipe_stages(p, &n);
    int rc = cf_stream_pipeline(stages, n, NULL, on_piped, p);
    if (rc != 0) {
        cf_error *e = CF_ERROR(rc, "%s", cf_strerror(rc));
        ghibli_pipe_end(p, rc, e)->done(job);
        cf_error_free(e);
    }
}

/* The list is written (or a stage failed and the previous file is untouched). */
static void on_piped(cf_stream *last, int status, const cf_error *error, void *data)
{
    (void)last;
    ghibli_job *job = ghibli_pipe_end(data, status, error);
    job->done(job);
}
