/*
 * Data transforms (calcifer/stream.h) over the public streaming parsers and writers of
 * calcifer/json.h and calcifer/csv.h: JSON text to the elements of an array (object mode out,
 * ≈ a streaming JSON parser piped into an object stream) and JSON objects to CSV text (object
 * mode in, ≈ a csv-stringify transform).
 *
 * Element transform: each written chunk is fed to a selector (cf_json_select); each element
 * it completes is taken from it (cf_json_select_take: no copy) and pushed; the flush checks
 * the document is complete. CSV transform: each object becomes one record written through a
 * cf_csv_writer; the records written in one tick are pushed together when the tick ends (or
 * sooner past CSV_PUSH bytes, and before a flush or an error is reported), so a burst of
 * elements from one parsed chunk makes one chunk of CSV text, not one per record.
 *
 * Piped straight into a CSV transform, the element transform builds only the members its
 * columns start with (≈ what cf_csv_json picks from the events): only while each element it
 * pushes goes at once to that pipe and to nothing else (cf__stream_pipe_direct), checked
 * when the element begins and again when it is pushed. An element that would go anywhere
 * else is built whole from its text (cf__json_select_whole), so no other reader ever sees a
 * projected one.
 */
#include <string.h>

#include "data/csv.h"
#include "data/json_dom.h"
#include "io/stream.h"
#include "util/alloc.h"
#include "util/util.h"

/* Errors of the adapter name the line that made the stream (see cf__stream_at). */
#define AT_STREAM(e) cf__stream_at(a->s, (e))

static void json_free_object(void *obj)
{
    cf_json_free(obj);
}

/* A column's path split into steps once (a malformed one never matches, as in cf_json_path). */
typedef struct csv_col {
    cf__json_step *steps; /* m steps, pointing into the column's name */
    size_t m;
    int bad;
} csv_col;

/* The CSV transform's state (its functions are below). */
typedef struct csv_ad {
    cf_csv_writer w;
    cf_stream *s;
    char **columns;
    size_t n;
    csv_col *cols;
    const cf_json **vals; /* the values of one record */
    int header;
    char *text; /* records written this tick, not yet pushed */
    size_t len, cap;
    int tick_pending; /* a tick to push them is queued (it holds the stream) */
} csv_ad;

static const cf_stream_impl csv_impl;

/* ---- JSON array elements ---- */

/* The CSV transform last seen downstream (held, so the pointer names it) and the first
 * step of each of its columns. */
typedef struct elem_proj {
    cf_stream *dst;
    cf__json_step *keys; /* the first steps that are keys; they point into its columns */
    size_t nkeys;
    int whole; /* a column needs the whole element (an empty path) */
} elem_proj;

typedef struct elem_ad {
    cf_json_select *sel;
    cf_stream *s;
    elem_proj proj;
} elem_ad;

static void proj_clear(elem_proj *p)
{
    if (p->dst)
        cf__stream_release(p->dst);
    cf__free(p->keys);
    memset(p, 0, sizeof *p);
}

/*
 * Note `dst`'s columns by their first steps. A malformed path never matches and an index
 * never matches in an object (cf_json_path), so neither needs a member; an empty path needs
 * the whole element.
 */
static int proj_set(elem_proj *p, cf_stream *dst)
{
    const csv_ad *c = dst->data;
    proj_clear(p);
    p->keys = cf__calloc(c->n, sizeof *p->keys);
    if (!p->keys)
        return CF_ENOMEM;
    cf__stream_hold(dst);
    p->dst = dst;
    for (size_t i = 0; i < c->n; i++) {
        const char *path = c->columns[i], *cur = path;
        cf__json_step first, st;
        int has_first = cf__json_path_next(&cur, path, &first);
        int rc = has_first;
        while (rc > 0)
            rc = cf__json_path_next(&cur, path, &st);
        p->whole |= has_first == 0;
        if (has_first > 0 && rc == 0 && first.kind != CF__JSON_STEP_INDEX)
            p->keys[p->nkeys++] = first;
    }
    return 0;
}

/* The CSV transform the next element will go to, straight through a pipe and nowhere else;
 * NULL when there is none. */
static cf_stream *elem_csv(const elem_ad *a)
{
    cf_stream *dst = cf__stream_pipe_direct(a->s);
    return dst && dst->impl == &csv_impl ? dst : NULL;
}

/* The projection for an element beginning: that CSV transform's columns. */
static int elem_project(void *data, const cf__json_step **keys, size_t *n)
{
    elem_ad *a = data;
    cf_stream *dst = elem_csv(a);
    if (!dst)
        return 0;
    if (dst != a->proj.dst && proj_set(&a->proj, dst) < 0) {
        proj_clear(&a->proj);
        return 0;
    }
    if (a->proj.whole)
        return 0;
    *keys = a->proj.keys;
    *n = a->proj.nkeys;
    return 1;
}

static int elem_on_item(cf_json *item, size_t index, void *data)
{
    elem_ad *a = data;
    (void)index;
    (void)item;
    cf_json *v;
    /* Begun in an earlier chunk: the loop ran since, so the element may now go elsewhere.
     * Still bound for the same CSV transform and nothing else, or built whole? */
    cf_stream *dst = cf__json_select_projected(a->sel) == 2 ? elem_csv(a) : a->proj.dst;
    if (cf__json_select_projected(a->sel) && (!dst || dst != a->proj.dst)) {
        int rc = cf__json_select_whole(a->sel, &v);
        if (rc < 0)
            return rc;
    } else {
        v = cf_json_select_take(a->sel);
    }
    /* The element moves to the stream (push_object takes it, even on failure): no copy. */
    int rc = cf_stream_push_object(a->s, v);
    return rc < 0 ? rc : 0;
}

static cf_error *elem_error(const elem_ad *a, int rc)
{
    const char *msg = cf_json_select_error(a->sel);
    return AT_STREAM(CF_ERROR(rc, "%s", msg && *msg ? msg : cf_strerror(rc)));
}

static void elem_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    elem_ad *a = data;
    int rc = cf_json_select_feed(a->sel, chunk, len);
    cf_stream_done(s, rc < 0 ? elem_error(a, rc) : NULL);
}

static void elem_flush(cf_stream *s, void *data)
{
    elem_ad *a = data;
    int rc = cf_json_select_finish(a->sel);
    cf_stream_done(s, rc < 0 ? elem_error(a, rc) : NULL);
}

static void elem_free(void *data)
{
    elem_ad *a = data;
    cf_json_select_free(a->sel);
    proj_clear(&a->proj);
    cf__free(a);
}

static const cf_stream_impl elem_impl = {
    .transform = elem_transform, .flush = elem_flush, .free_data = elem_free};

CF__NOINLINE int cf_stream_json_elements_new(cf_loop *loop, const char *path,
                                             const cf_json_limits *limits, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !out)
        return CF_EINVAL;
    elem_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return CF_ENOMEM;
    int rc = cf_json_select_new(&a->sel, path, limits, elem_on_item, a);
    if (rc < 0) {
        cf__free(a);
        return rc;
    }
    cf__json_select_set_project(a->sel, elem_project, a);
    cf_stream_options o = {.flags = CF_STREAM_READABLE_OBJECTS, .free_object = json_free_object};
    rc = cf__stream_new_at(site, loop, CF_STREAM_TRANSFORM, &elem_impl, &o, a, &a->s);
    if (rc < 0) {
        elem_free(a);
        return rc;
    }
    *out = a->s;
    return 0;
}

/* ---- CSV records ---- */

/* Text staged past this is pushed at once: a chunk of CSV stays about this size. */
#define CSV_PUSH (64 * 1024)

static int csv_push(csv_ad *a)
{
    if (!a->len)
        return 0;
    size_t len = a->len;
    a->len = 0;
    int rc = cf_stream_push(a->s, a->text, len);
    return rc < 0 ? rc : 0;
}

/* The tick after records were staged: push them. */
static void csv_tick(void *data)
{
    csv_ad *a = data;
    cf_stream *s = a->s;
    a->tick_pending = 0;
    if (!s->destroyed && !s->errored)
        csv_push(a);
    else
        a->len = 0;
    cf__stream_release(s);
}

static int csv_stage(csv_ad *a, const char *p, size_t len)
{
    if (len > a->cap - a->len) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap - a->len < len)
            cap *= 2;
        char *n = cf__realloc(a->text, cap);
        if (!n)
            return CF_ENOMEM;
        a->text = n;
        a->cap = cap;
    }
    memcpy(a->text + a->len, p, len);
    a->len += len;
    if (a->tick_pending)
        return 0;
    cf__stream_hold(a->s);
    if (cf_next_tick(cf_stream_loop(a->s), csv_tick, a) < 0) {
        cf__stream_release(a->s);
        return csv_push(a); /* no memory for the tick: push now */
    }
    a->tick_pending = 1;
    return 0;
}

static int csv_sink(const char *p, size_t len, void *data)
{
    csv_ad *a = data;
    if (a->len + len > CSV_PUSH) {
        int rc = csv_push(a);
        if (rc < 0)
            return rc;
        if (len >= CSV_PUSH) {
            rc = cf_stream_push(a->s, p, len);
            return rc < 0 ? rc : 0;
        }
    }
    return csv_stage(a, p, len);
}

static int csv_header(csv_ad *a)
{
    if (!a->header)
        return 0;
    a->header = 0;
    return cf_csv_write_json_header(&a->w, (const char *const *)a->columns, a->n);
}

static void csv_transform(cf_stream *s, const void *obj, size_t len, void *data)
{
    csv_ad *a = data;
    (void)len;
    int rc = csv_header(a);
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        const csv_col *c = &a->cols[i];
        a->vals[i] = c->bad ? NULL : cf__json_path_steps(obj, c->steps, c->m);
    }
    if (rc == 0)
        rc = cf__csv_write_json_values(&a->w, (const cf_json *const *)a->vals, a->n);
    if (rc < 0)
        csv_push(a); /* the records before the failed one go out before the error */
    cf_stream_done(s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "CSV: %s", cf_strerror(rc))) : NULL);
}

static void csv_flush(cf_stream *s, void *data)
{
    csv_ad *a = data;
    int rc = csv_header(a);
    if (rc == 0)
        rc = cf_csv_writer_flush(&a->w);
    if (rc == 0)
        rc = csv_push(a);
    cf_stream_done(s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "CSV: %s", cf_strerror(rc))) : NULL);
}

static void csv_free(void *data)
{
    csv_ad *a = data;
    for (size_t i = 0; a->columns && i < a->n; i++)
        cf__free(a->columns[i]);
    for (size_t i = 0; a->cols && i < a->n; i++)
        cf__free(a->cols[i].steps);
    cf__free(a->columns);
    cf__free(a->cols);
    cf__free(a->vals);
    cf__free(a->text);
    cf__free(a);
}

static const cf_stream_impl csv_impl = {
    .transform = csv_transform, .flush = csv_flush, .free_data = csv_free};

/* Split the column's path into steps. */
static int csv_col_init(csv_col *c, const char *path)
{
    const char *cur = path;
    cf__json_step st;
    int rc;
    while ((rc = cf__json_path_next(&cur, path, &st)) > 0)
        c->m++;
    if (rc < 0) {
        c->bad = 1;
        return 0;
    }
    c->steps = cf__calloc(c->m, sizeof *c->steps);
    if (!c->steps)
        return CF_ENOMEM;
    cur = path;
    for (size_t i = 0; i < c->m; i++)
        cf__json_path_next(&cur, path, &c->steps[i]);
    return 0;
}

static csv_ad *csv_ad_new(const char *const *columns, size_t n)
{
    csv_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->columns = cf__calloc(n, sizeof *a->columns);
    a->n = n;
    for (size_t i = 0; a->columns && i < n; i++) {
        a->columns[i] = cf__strdup(columns[i]);
        if (!a->columns[i]) {
            csv_free(a);
            return NULL;
        }
    }
    a->cols = a->columns ? cf__calloc(n, sizeof *a->cols) : NULL;
    a->vals = a->cols ? cf__calloc(n, sizeof *a->vals) : NULL;
    for (size_t i = 0; a->vals && i < n; i++) {
        if (csv_col_init(&a->cols[i], a->columns[i]) < 0) {
            csv_free(a);
            return NULL;
        }
    }
    if (!a->vals) {
        csv_free(a);
        return NULL;
    }
    return a;
}

CF__NOINLINE int cf_stream_csv_new(cf_loop *loop, unsigned flags, const char *const *columns,
                                   size_t n, int header, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !columns || n == 0 || !out)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!columns[i])
            return CF_EINVAL;
    }
    csv_ad *a = csv_ad_new(columns, n);
    if (!a)
        return CF_ENOMEM;
    a->header = header != 0;
    int rc = cf_csv_writer_init(&a->w, flags, csv_sink, a);
    cf_stream_options o = {.flags = CF_STREAM_WRITABLE_OBJECTS, .free_object = json_free_object};
    if (rc == 0)
        rc = cf__stream_new_at(site, loop, CF_STREAM_TRANSFORM, &csv_impl, &o, a, &a->s);
    if (rc < 0) {
        csv_free(a);
        return rc;
    }
    *out = a->s;
    return 0;
}
