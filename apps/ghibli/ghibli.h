/*
 * The `ghibli` command: what its parts agree on.
 *
 * main.c reads the command line into a `ghibli_job` and starts one of the four ways of doing
 * it: films_callbacks.c, films_promises.c and films_async.c (the same stream pipeline, made
 * by pipeline.c, run in the three styles of the tutorial), and fanout.c (--with, the
 * concurrent lookups, in async/await; it needs the whole list, so it fetches and parses it
 * whole). Each fetches the JSON array at `job->url`, writes it as RFC 4180 CSV to
 * `job->output` (through the atomic file writer, or to standard output), then records the
 * outcome in the job and calls `job->done(job)` exactly once, from the loop.
 * main.c turns the outcome into a message and an exit status (docs/ghibli.1).
 */
#ifndef GHIBLI_H
#define GHIBLI_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <calcifer.h>

/* Where a job failed: decides the exit status along with the error's code. */
typedef enum ghibli_stage {
    GHIBLI_FETCH = 1, /* the request or the JSON body (by the code: URL, DNS, HTTP, ...) */
    GHIBLI_SHAPE,     /* the body is JSON but not an array (of objects) */
    GHIBLI_WRITE      /* the output could not be written */
} ghibli_stage;

typedef struct ghibli_job ghibli_job;

struct ghibli_job {
    /* the request */
    cf_loop *loop;
    const char *url;      /* the list, e.g. https://ghibliapi.vercel.app/films */
    cf_http_options http; /* timeouts, max_body (for lookups too) */
    /* the output */
    const char *output;   /* a file, or NULL for standard output */
    const char **columns; /* paths into each record (cf_json_path syntax) */
    size_t ncolumns;
    size_t nwith_added; /* the last columns, added for --with fields */
    unsigned csv_flags; /* cf_csv_writer flags: CF_CSV_FORMULA_GUARD with --csv-guard */
    /* --with: fields whose URLs are looked up (fanout.c only) */
    const char **with;
    size_t nwith;
    unsigned concurrency; /* at most this many lookups at once */
    int progress;         /* draw a progress bar on stderr */
    int color;            /* ... in colour */
    /* the outcome, set by the job before it calls done */
    int status;      /* 0, or the failure's negative CF_E* code */
    cf_error *error; /* what failed (owned by the job); NULL on success or when
                        even the error could not be allocated */
    ghibli_stage failed_at;
    uint64_t rows; /* records written */
    void (*done)(ghibli_job *job);
    void *data; /* main.c's */
};

/*
 * What the list holds that cannot become CSV rows, as an error to fail the job with (stage
 * GHIBLI_SHAPE), or NULL when every element is an object and no selected string holds a NUL
 * character (CSV cannot carry one; the writer refuses it). Checked before anything is written,
 * so a bad list leaves no half-written output. `list` is an array.
 */
static inline cf_error *ghibli_check_list(const ghibli_job *job, const cf_json *list)
{
    for (size_t i = 0; i < cf_json_size(list); i++) {
        const cf_json *item = cf_json_at(list, i);
        if (cf_json_type_of(item) != CF_JSON_OBJECT)
            return CF_ERROR(CF_EPARSE, "GET %s: element %zu of the list is a %s, not an object",
                            job->url, i + 1, cf_json_type_name(cf_json_type_of(item)));
        for (size_t c = 0; c < job->ncolumns; c++) {
            size_t len = 0;
            const char *s = cf_json_string(cf_json_path(item, job->columns[c]), &len);
            if (s && memchr(s, '\0', len))
                return CF_ERROR(CF_EPARSE,
                                "GET %s: element %zu, field '%s', holds a NUL character, "
                                "which CSV cannot carry",
                                job->url, i + 1, job->columns[c]);
        }
    }
    return NULL;
}

/*
 * Standard output's failure as a code: the errno its last write left (CF_ENOSPC on a full
 * disk, CF_EPIPE, CF_EBADF, ...), CF_EIO when it left none. Call with errno cleared first.
 */
static inline int ghibli_stdout_error(void)
{
    return errno ? cf_translate_sys_error(errno) : CF_EIO;
}

/* Flush standard output: 0, or the failure's code (ghibli_stdout_error). */
static inline int ghibli_flush_stdout(void)
{
    errno = 0;
    return fflush(stdout) == 0 ? 0 : ghibli_stdout_error();
}

/*
 * The job's stages as a stream pipeline (pipeline.c): HTTP body -> JSON array elements ->
 * CSV rows -> the atomic file or standard output, with the checks above done element by
 * element. ghibli_pipe_new makes the stages (NULL on failure, with the outcome recorded in
 * the job: call job->done); run ghibli_pipe_stages with cf_stream_pipeline or _p; then
 * ghibli_pipe_end(p, status, err) records the outcome in the job (err borrowed), closes the
 * stages, lets `p` go and returns the job, for the caller to call job->done.
 */
typedef struct ghibli_pipe ghibli_pipe;
ghibli_pipe *ghibli_pipe_new(ghibli_job *job);
cf_stream *const *ghibli_pipe_stages(const ghibli_pipe *p, size_t *n);
ghibli_job *ghibli_pipe_end(ghibli_pipe *p, int status, const cf_error *err);

/* Start the job in one style; each calls job->done(job) once, later, from the loop. */
void ghibli_films_callbacks(ghibli_job *job);
void ghibli_films_promises(ghibli_job *job);
void ghibli_films_async(ghibli_job *job);
void ghibli_fanout(ghibli_job *job);

#endif /* GHIBLI_H */
