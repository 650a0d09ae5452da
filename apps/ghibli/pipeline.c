/*
 * The stages of the job as a stream pipeline (ghibli.h), shared by the three styles:
 *
 *   HTTP body -> shape -> JSON array elements -> check -> CSV rows -> output
 *
 * `body`, `elements`, `csv` and the atomic file are the library's adapters
 * (cf_stream_http_body_new, cf_stream_json_elements_new, cf_stream_csv_new,
 * cf_stream_fs_write_new with CF_STREAM_FS_ATOMIC); the three small stages here keep the
 * command's contract:
 *  - shape: a body that does not start with '[' is held whole and parsed at its end, so that
 *    it fails as before: malformed JSON as "JSON: ..." (exit 8), anything else as "the body is
 *    a JSON <type>, not an array" (exit 9);
 *  - check: each element must be an object whose selected strings hold no NUL character
 *    (ghibli_check_list, element by element); it counts the rows;
 *  - standard output: the CSV is held until the list has been read and checked whole, so a
 *    failure prints nothing on standard output, as before. A file needs no such care: the
 *    atomic writer is aborted when the pipeline fails, so the previous file stays.
 * Memory: one element at a time, plus the chunks in flight between stages (the high-water
 * marks), plus the CSV text for standard output.
 *
 * Which stage failed first decides the exit status: an 'error' listener on every stage keeps
 * the index of the first to report one (the pipeline then destroys the others with copies).
 */
#include <stdlib.h>
#include <string.h>

#include "ghibli.h"

enum { BODY, SHAPE, ELEMENTS, CHECK, CSV, OUT, NSTAGES };

typedef struct slot {
    ghibli_pipe *pipe;
    int index;
} slot;

struct ghibli_pipe {
    ghibli_job *job;
    cf_stream *st[NSTAGES];
    slot slots[NSTAGES];
    int first_failed;             /* the stage that failed first, or -1 */
    ghibli_stage shape_failed_at; /* the shape stage's own verdict: GHIBLI_FETCH or _SHAPE */
    int open;                     /* stages not yet closed */
};

/* ---- shape: the body must be a JSON array ---- */

typedef struct shape {
    ghibli_pipe *pipe;
    int decided; /* 1: an array, passed on; 2: something else, held */
    char *held;
    size_t len, cap;
} shape;

static int hold(shape *sh, const char *p, size_t n)
{
    if (sh->len + n > sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 4096;
        while (cap < sh->len + n)
            cap *= 2;
        char *q = realloc(sh->held, cap);
        if (!q)
            return CF_ENOMEM;
        sh->held = q;
        sh->cap = cap;
    }
    memcpy(sh->held + sh->len, p, n);
    sh->len += n;
    return 0;
}

static void shape_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    shape *sh = data;
    const char *p = chunk;
    size_t i = 0;
    while (!sh->decided && i < len && strchr(" \t\r\n", p[i]))
        i++;
    if (!sh->decided && i < len)
        sh->decided = p[i] == '[' ? 1 : 2;
    int rc = 0;
    if (sh->decided == 1)
        rc = cf_stream_push(s, p, len);
    else
        rc = hold(sh, p, len); /* leading white space too: the parser counts the columns */
    cf_stream_done(s, rc < 0 ? CF_ERROR(rc, "%s", cf_strerror(rc)) : NULL);
}

/* The end of a body that is not an array: parse it to say what it is. */
static void shape_flush(cf_stream *s, void *data)
{
    shape *sh = data;
    const char *url = sh->pipe->job->url;
    if (sh->decided == 1) {
        cf_stream_done(s, NULL);
        return;
    }
    cf_json *root = NULL;
    cf_error *perr = NULL;
    int rc = cf_json_parse(sh->held ? sh->held : "", sh->len, NULL, &root, &perr);
    cf_error *e;
    if (rc != 0) {
        sh->pipe->shape_failed_at = GHIBLI_FETCH;
        e = CF_ERROR(rc, "GET %s: %s", url, perr ? perr->message : cf_strerror(rc));
    } else if (cf_json_type_of(root) == CF_JSON_ARRAY) {
        /* an array after all (a byte-order mark before it, say): pass it on */
        int prc = cf_stream_push(s, sh->held, sh->len);
        e = prc < 0 ? CF_ERROR(prc, "%s", cf_strerror(prc)) : NULL;
    } else {
        sh->pipe->shape_failed_at = GHIBLI_SHAPE;
        e = CF_ERROR(CF_EPARSE, "GET %s: the body is a JSON %s, not an array", url,
                     cf_json_type_name(cf_json_type_of(root)));
    }
    cf_error_free(perr);
    cf_json_free(root);
    cf_stream_done(s, e);
}

static void shape_free(void *data)
{
    shape *sh = data;
    free(sh->held);
    free(sh);
}

static const cf_stream_impl shape_impl = {
    .transform = shape_transform, .flush = shape_flush, .free_data = shape_free};

/* ---- check: every element an object that CSV can carry ---- */

typedef struct check {
    ghibli_job *job;
    size_t index;
} check;

static void json_free(void *obj)
{
    cf_json_free(obj);
}

static cf_error *check_element(const ghibli_job *job, const cf_json *item, size_t i)
{
    if (cf_json_type_of(item) != CF_JSON_OBJECT)
        return CF_ERROR(CF_EPARSE, "GET %s: element %zu of the list is a %s, not an object",
                        job->url, i, cf_json_type_name(cf_json_type_of(item)));
    for (size_t c = 0; c < job->ncolumns; c++) {
        size_t len = 0;
        const char *s = cf_json_string(cf_json_path(item, job->columns[c]), &len);
        if (s && memchr(s, '\0', len))
            return CF_ERROR(CF_EPARSE,
                            "GET %s: element %zu, field '%s', holds a NUL character, which "
                            "CSV cannot carry",
                            job->url, i, job->columns[c]);
    }
    return NULL;
}

static void check_transform(cf_stream *s, const void *obj, size_t len, void *data)
{
    check *ck = data;
    (void)len;
    cf_error *bad = check_element(ck->job, obj, ++ck->index);
    if (!bad) {
        /* Pass the element itself on: taken from the stream, then taken by the push. */
        int rc = cf_stream_push_object(s, cf_stream_take_object(s));
        if (rc < 0)
            bad = CF_ERROR(rc, "%s", cf_strerror(rc));
        else
            ck->job->rows++;
    }
    cf_stream_done(s, bad);
}

static const cf_stream_impl check_impl = {.transform = check_transform, .free_data = free};

/* ---- standard output, written at the end ---- */

typedef struct out {
    char *text;
    size_t len, cap;
} out;

static void out_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    out *o = data;
    int rc = 0;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 65536;
        while (cap < o->len + len)
            cap *= 2;
        char *q = realloc(o->text, cap);
        if (q) {
            o->text = q;
            o->cap = cap;
        } else {
            rc = CF_ENOMEM;
        }
    }
    if (rc == 0) {
        memcpy(o->text + o->len, chunk, len);
        o->len += len;
    }
    cf_stream_done(s, rc < 0 ? CF_ERROR(rc, "%s", cf_strerror(rc)) : NULL);
}

static void out_final(cf_stream *s, void *data)
{
    out *o = data;
    errno = 0;
    int rc = o->len && fwrite(o->text, 1, o->len, stdout) != o->len ? ghibli_stdout_error() : 0;
    if (rc == 0)
        rc = ghibli_flush_stdout();
    cf_stream_done(s, rc < 0 ? CF_ERROR_SYS(rc, "write to standard output") : NULL);
}

static void out_free(void *data)
{
    out *o = data;
    free(o->text);
    free(o);
}

static const cf_stream_impl out_impl = {
    .write = out_write, .final = out_final, .free_data = out_free};

/* ---- the pipeline ---- */

static void on_stage_error(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    slot *sl = data;
    (void)s, (void)ev, (void)err;
    if (sl->pipe->first_failed < 0)
        sl->pipe->first_failed = sl->index;
}

/* Make the stages this module writes itself. */
static int own_stages(ghibli_pipe *p)
{
    ghibli_job *job = p->job;
    shape *sh = calloc(1, sizeof *sh);
    if (!sh)
        return CF_ENOMEM;
    sh->pipe = p;
    int rc = cf_stream_new(job->loop, CF_STREAM_TRANSFORM, &shape_impl, NULL, sh, &p->st[SHAPE]);
    if (rc < 0) {
        free(sh);
        return rc;
    }
    check *ck = calloc(1, sizeof *ck);
    if (!ck)
        return CF_ENOMEM;
    ck->job = job;
    cf_stream_options objects = {.flags = CF_STREAM_OBJECTS, .free_object = json_free};
    rc = cf_stream_new(job->loop, CF_STREAM_TRANSFORM, &check_impl, &objects, ck, &p->st[CHECK]);
    if (rc < 0) {
        free(ck);
        return rc;
    }
    if (job->output)
        return 0;
    out *o = calloc(1, sizeof *o);
    if (!o)
        return CF_ENOMEM;
    rc = cf_stream_new(job->loop, CF_STREAM_WRITABLE, &out_impl, NULL, o, &p->st[OUT]);
    if (rc < 0)
        free(o);
    return rc;
}

/* Make the stages; on failure `*err` and `*at` say what failed (the stages made are closed). */
static int make_stages(ghibli_pipe *p, cf_error **err, ghibli_stage *at)
{
    ghibli_job *job = p->job;
    cf_http_options http = job->http;
    http.flags |= CF_HTTP_FAIL_ON_STATUS; /* a 404 page is not the list */
    *at = GHIBLI_FETCH;
    int rc = cf_stream_http_body_new(job->loop, job->url, &http, &p->st[BODY]);
    if (rc < 0) {
        *err = CF_ERROR(rc, "GET %s: %s", job->url, cf_strerror(rc));
        return rc;
    }
    rc = own_stages(p);
    if (rc == 0)
        rc = cf_stream_json_elements_new(job->loop, NULL, NULL, &p->st[ELEMENTS]);
    if (rc == 0)
        rc = cf_stream_csv_new(job->loop, job->csv_flags, job->columns, job->ncolumns, 1,
                               &p->st[CSV]);
    if (rc < 0) {
        *err = CF_ERROR(rc, "%s", cf_strerror(rc));
        return rc;
    }
    if (job->output) {
        *at = GHIBLI_WRITE;
        rc = cf_stream_fs_write_new(job->loop, job->output, CF_STREAM_FS_ATOMIC, 0, &p->st[OUT]);
        if (rc < 0) {
            *err = CF_ERROR_SYS(rc, "open '%s'", job->output);
            return rc;
        }
    }
    for (int i = 0; i < NSTAGES; i++) {
        p->slots[i] = (slot){p, i};
        rc = cf_stream_on(p->st[i], CF_STREAM_EV_ERROR, on_stage_error, &p->slots[i]);
        if (rc < 0) {
            *at = GHIBLI_FETCH;
            *err = CF_ERROR(rc, "%s", cf_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void on_stage_closed(void *data)
{
    ghibli_pipe *p = data;
    if (--p->open == 0)
        free(p);
}

/* Close what was made; `p` goes once every stage has closed. */
static void close_stages(ghibli_pipe *p)
{
    p->open = 1;
    for (int i = 0; i < NSTAGES; i++) {
        if (p->st[i] && cf_stream_close(p->st[i], on_stage_closed, p) == 0)
            p->open++;
    }
    on_stage_closed(p);
}

ghibli_pipe *ghibli_pipe_new(ghibli_job *job)
{
    ghibli_pipe *p = calloc(1, sizeof *p);
    if (!p) {
        job->status = CF_ENOMEM;
        job->failed_at = GHIBLI_FETCH;
        return NULL;
    }
    p->job = job;
    p->first_failed = -1;
    cf_error *err = NULL;
    ghibli_stage at;
    int rc = make_stages(p, &err, &at);
    if (rc < 0) {
        job->status = rc;
        job->error = err;
        job->failed_at = at;
        close_stages(p);
        return NULL;
    }
    return p;
}

cf_stream *const *ghibli_pipe_stages(const ghibli_pipe *p, size_t *n)
{
    *n = NSTAGES;
    return p->st;
}

/* Where the failure of stage `i` leaves the job. */
static ghibli_stage failed_at(const ghibli_pipe *p, int i)
{
    switch (i) {
    case -1: /* closed early without an error of its own: the transfer was cut */
    case BODY:
    case ELEMENTS:
        return GHIBLI_FETCH;
    case SHAPE:
        return p->shape_failed_at ? p->shape_failed_at : GHIBLI_FETCH;
    case CHECK:
        return GHIBLI_SHAPE;
    default:
        return GHIBLI_WRITE;
    }
}

ghibli_job *ghibli_pipe_end(ghibli_pipe *p, int status, const cf_error *err)
{
    ghibli_job *job = p->job;
    job->status = status;
    job->failed_at = 0;
    if (status < 0) {
        int i = p->first_failed;
        job->failed_at = failed_at(p, i);
        if (i == ELEMENTS && err) /* the parser's words, said of the request as before */
            job->error = CF_ERROR(status, "GET %s: %s", job->url, err->message);
        else
            job->error = err ? cf_error_copy(err) : NULL;
    }
    close_stages(p);
    return job;
}
