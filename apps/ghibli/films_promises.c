/*
 * `ghibli <resource> --style promises`: the job written as the tutorial's second program
 * (promiseMovies.js) is: one promise chain with one catch.
 *
 *   getJson(url)
 *       .then(list => { writeRows(list); return writer.commit(); })
 *       .then(() => done())
 *       .catch(error => done(error));
 *
 * A handler "returns" by settling `next`, the promise of its step: cf_promise_adopt(next, q)
 * is `return q`, cf_promise_reject(next, e) is `throw e`. The catch learns where the chain
 * failed from `stage`, which each step sets before it can fail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghibli.h"

typedef struct films {
    ghibli_job *job;
    ghibli_stage stage; /* the step running, for the catch */
} films;

static int to_stdout(void *ctx, const char *bytes, size_t len)
{
    (void)ctx;
    errno = 0;
    return fwrite(bytes, 1, len, stdout) == len ? 0 : ghibli_stdout_error();
}

/* The header row, then one row per record, through `sink`. */
static int write_rows(ghibli_job *job, const cf_json *list, cf_csv_write_fn sink, void *ctx)
{
    cf_csv_writer csv;
    cf_csv_writer_init(&csv, job->csv_flags, sink, ctx);
    int rc = cf_csv_write_json_header(&csv, job->columns, job->ncolumns);
    for (size_t i = 0; rc == 0 && i < cf_json_size(list); i++) {
        rc = cf_csv_write_json_record(&csv, cf_json_at(list, i), job->columns, job->ncolumns);
        job->rows += rc == 0;
    }
    return rc;
}

/* .then(list => { writeRows(list); return writer.commit(); }) */
static void write_csv(cf_promise *fetched, cf_promise *next, void *data)
{
    films *f = data;
    ghibli_job *job = f->job;
    const cf_json *list = cf_promise_value(fetched);
    f->stage = GHIBLI_SHAPE;
    if (cf_json_type_of(list) != CF_JSON_ARRAY) {
        cf_promise_reject(next, CF_ERROR(CF_EPARSE, "GET %s: the body is a JSON %s, not an array",
                                         job->url, cf_json_type_name(cf_json_type_of(list))));
        return;
    }
    cf_error *bad = ghibli_check_list(job, list);
    if (bad) {
        cf_promise_reject(next, bad);
        return;
    }
    f->stage = GHIBLI_WRITE;
    if (!job->output) {
        int rc = write_rows(job, list, to_stdout, NULL);
        if (rc == 0)
            rc = ghibli_flush_stdout();
        if (rc != 0)
            cf_promise_reject(next, CF_ERROR_SYS(rc, "write to standard output"));
        return;
    }
    cf_fs_writer *writer;
    int rc = cf_fs_writer_open(job->loop, job->output, 0, &writer);
    if (rc != 0) {
        cf_promise_reject(next, CF_ERROR_SYS(rc, "open '%s'", job->output));
        return;
    }
    /* A failed write fails the commit too, with its message. */
    write_rows(job, list, cf_fs_writer_sink, writer);
    cf_promise *committed = cf_fs_writer_commit_p(writer);
    cf_promise_adopt(next, committed);
    cf_promise_release(committed);
}

/* .then(() => done()) */
static void report_done(cf_promise *committed, cf_promise *next, void *data)
{
    (void)committed, (void)next;
    films *f = data;
    ghibli_job *job = f->job;
    free(f);
    job->status = 0;
    job->done(job);
}

/* .catch(error => done(error)) */
static void report_error(cf_promise *failed, cf_promise *next, void *data)
{
    (void)next;
    films *f = data;
    ghibli_job *job = f->job;
    const cf_error *error = cf_promise_error(failed);
    job->status = cf_promise_code(failed);
    job->error = error ? cf_error_copy(error) : NULL;
    job->failed_at = f->stage;
    free(f);
    job->done(job);
}

/* Start: build the chain. The loop keeps each promise while it is pending. */
void ghibli_films_promises(ghibli_job *job)
{
    films *f = calloc(1, sizeof *f);
    if (!f) {
        job->status = CF_ENOMEM;
        job->done(job);
        return;
    }
    f->job = job;
    f->stage = GHIBLI_FETCH;
    cf_promise *fetched = cf_http_get_json_p(job->loop, job->url, &job->http);
    cf_promise *written = cf_promise_then(fetched, write_csv, NULL, f);
    cf_promise *finished = cf_promise_then(written, report_done, NULL, f);
    cf_promise *handled = cf_promise_catch(finished, report_error, f);
    /* Out of memory (handled NULL): main.c sees that done never ran. `f` is then left to
     * the handlers that could be attached, which may still run. */
    cf_promise_release(handled);
    cf_promise_release(finished);
    cf_promise_release(written);
    cf_promise_release(fetched);
}
