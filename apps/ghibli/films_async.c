/*
 * `ghibli <resource> --style async` (the default): the job written as the tutorial's third
 * program (asyncAwaitMovies.js) is: one async function with one error path.
 *
 *   async function films(job) {
 *       try {
 *           const list = await getJson(job.url);
 *           writeRows(list);
 *           await writer.commit();
 *       } catch (error) {
 *           job.error = error;
 *       }
 *       done();
 *   }
 *
 * cf_await returns 0 or the rejection's code, so `catch_error` is a label that every failure jumps
 * to; `stage` says which step failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghibli.h"

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

/* The caught error, to keep: a copy of the failed await's (NULL when there is none). */
static cf_error *copy_error(const cf_error *error)
{
    return error ? cf_error_copy(error) : NULL;
}

static int films(cf_task *task, void *arg)
{
    ghibli_job *job = arg;
    cf_loop *loop = cf_task_loop(task);
    ghibli_stage stage = GHIBLI_FETCH;
    cf_error *thrown = NULL; /* an error of this function's own */
    const cf_json *list;

    int rc = cf_await(cf_http_get_json_p(loop, job->url, &job->http), (void **)&list);
    if (rc < 0)
        goto catch_error;
    stage = GHIBLI_SHAPE;
    if (cf_json_type_of(list) != CF_JSON_ARRAY) {
        rc = CF_EPARSE;
        thrown = CF_ERROR(rc, "GET %s: the body is a JSON %s, not an array", job->url,
                          cf_json_type_name(cf_json_type_of(list)));
        goto catch_error;
    }
    thrown = ghibli_check_list(job, list);
    if (thrown) {
        rc = thrown->code;
        goto catch_error;
    }
    stage = GHIBLI_WRITE;
    if (!job->output) {
        rc = write_rows(job, list, to_stdout, NULL);
        if (rc == 0)
            rc = ghibli_flush_stdout();
        if (rc < 0) {
            thrown = CF_ERROR_SYS(rc, "write to standard output");
            goto catch_error;
        }
    } else {
        cf_fs_writer *writer;
        rc = cf_fs_writer_open(loop, job->output, 0, &writer);
        if (rc < 0) {
            thrown = CF_ERROR_SYS(rc, "open '%s'", job->output);
            goto catch_error;
        }
        write_rows(job, list, cf_fs_writer_sink, writer); /* a failure fails the commit */
        rc = cf_await(cf_fs_writer_commit_p(writer), NULL);
        if (rc < 0)
            goto catch_error;
    }
    job->status = 0;
    job->done(job);
    return 0;

catch_error:
    job->status = rc;
    job->error = thrown ? thrown : copy_error(cf_await_error());
    job->failed_at = stage;
    job->done(job);
    return 0;
}

/* Start: run `films` as a task; it runs now until its first await. */
void ghibli_films_async(ghibli_job *job)
{
    cf_promise_release(cf_async(job->loop, films, job));
}
