/*
 * `ghibli <resource> --style callbacks`: the job written as the tutorial's first program
 * (callbackMovies.js) is: a request with a completion callback, and inside it the file
 * written with another. Each callback is a named function written right after the code that
 * passes it, so the file reads from top to bottom in the order things happen.
 *
 *   get the list (cf_http_get_json)
 *     -> on_list: check it, write the CSV rows into the atomic file writer, commit it
 *          -> on_committed: done
 *
 * An error anywhere ends the job with that error; a failed write or commit removes the
 * temporary file, so the previous output file stays as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghibli.h"

typedef struct films {
    ghibli_job *job;
    cf_fs_writer *writer;
} films;

static void on_list(int status, const cf_error *error, cf_json *list, void *data);
static void on_committed(cf_fs_writer *w, int status, const cf_error *error, void *data);

/* End the job: record the outcome (`code` 0 or negative, `error` taken) and tell main.c. */
static void finish(films *f, ghibli_stage at, int code, cf_error *error)
{
    ghibli_job *job = f->job;
    free(f);
    job->status = code;
    job->error = error;
    job->failed_at = code ? at : 0;
    job->done(job);
}

/* A copy of a borrowed error (NULL when there is none or memory ran out). */
static cf_error *copy(const cf_error *error)
{
    return error ? cf_error_copy(error) : NULL;
}

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

/* Start: GET the list; on_list runs when it has arrived and been parsed. */
void ghibli_films_callbacks(ghibli_job *job)
{
    films *f = calloc(1, sizeof *f);
    if (!f) {
        job->status = CF_ENOMEM;
        job->done(job);
        return;
    }
    f->job = job;
    int rc = cf_http_get_json(job->loop, job->url, &job->http, on_list, f);
    if (rc != 0)
        finish(f, GHIBLI_FETCH, rc, CF_ERROR(rc, "GET %s: %s", job->url, cf_strerror(rc)));
}

/* The list has arrived (or the request failed): write it out. */
static void on_list(int status, const cf_error *error, cf_json *list, void *data)
{
    films *f = data;
    ghibli_job *job = f->job;
    if (status < 0) {
        finish(f, GHIBLI_FETCH, status, copy(error));
        return;
    }
    if (cf_json_type_of(list) != CF_JSON_ARRAY) {
        finish(f, GHIBLI_SHAPE, CF_EPARSE,
               CF_ERROR(CF_EPARSE, "GET %s: the body is a JSON %s, not an array", job->url,
                        cf_json_type_name(cf_json_type_of(list))));
        return;
    }
    cf_error *bad = ghibli_check_list(job, list);
    if (bad) {
        finish(f, GHIBLI_SHAPE, bad->code, bad);
        return;
    }
    if (!job->output) {
        int rc = write_rows(job, list, to_stdout, NULL);
        if (rc == 0)
            rc = ghibli_flush_stdout();
        finish(f, GHIBLI_WRITE, rc, rc ? CF_ERROR_SYS(rc, "write to standard output") : NULL);
        return;
    }
    int rc = cf_fs_writer_open(job->loop, job->output, 0, &f->writer);
    if (rc != 0) {
        finish(f, GHIBLI_WRITE, rc, CF_ERROR_SYS(rc, "open '%s'", job->output));
        return;
    }
    /* A failed write is reported again, with its message, by the commit's callback. */
    write_rows(job, list, cf_fs_writer_sink, f->writer);
    cf_fs_writer_commit(f->writer, on_committed, f);
}

/* The file is in place (or the write failed and the previous file is untouched). */
static void on_committed(cf_fs_writer *w, int status, const cf_error *error, void *data)
{
    (void)w;
    films *f = data;
    finish(f, GHIBLI_WRITE, status < 0 ? status : 0, status < 0 ? copy(error) : NULL);
}
