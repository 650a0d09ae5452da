/*
 * The `ghibli` command: what its parts agree on.
 *
 * main.c reads the command line into a `ghibli_job` and starts one of the four ways of doing
 * it: films_callbacks.c, films_promises.c and films_async.c (the same job in the three
 * styles of the tutorial, sharing nothing but the library), and fanout.c (--with, the
 * concurrent lookups, in async/await). Each fetches the JSON array at `job->url`, writes it as
 * RFC 4180 CSV to `job->output` (through the atomic file writer, or to standard output), then
 * records the outcome in the job and calls `job->done(job)` exactly once, from the loop.
 * main.c turns the outcome into a message and an exit status (docs/ghibli.1).
 */
#ifndef GHIBLI_H
#define GHIBLI_H

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
    cf_http_options http; /* timeouts */
    /* the output */
    const char *output;   /* a file, or NULL for standard output */
    const char **columns; /* paths into each record (cf_json_path syntax) */
    size_t ncolumns;
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

/* Start the job in one style; each calls job->done(job) once, later, from the loop. */
void ghibli_films_callbacks(ghibli_job *job);
void ghibli_films_promises(ghibli_job *job);
void ghibli_films_async(ghibli_job *job);
void ghibli_fanout(ghibli_job *job);

#endif /* GHIBLI_H */
