/*
 * Data transforms (calcifer/stream.h) over the public streaming parsers and writers of
 * calcifer/json.h and calcifer/csv.h: JSON text to the elements of an array (object mode out,
 * ≈ a streaming JSON parser piped into an object stream) and JSON objects to CSV text (object
 * mode in, ≈ a csv-stringify transform).
 *
 * Element transform: each written chunk is fed to a selector (cf_json_select); each element
 * it completes is taken from it (cf_json_select_take: no copy) and pushed; the flush checks
 * the document is complete. CSV transform: each object becomes one record written through a
 * cf_csv_writer whose sink pushes the text; the flush hands over what is staged.
 */
#include <string.h>

#include "io/stream.h"
#include "util/alloc.h"
#include "util/util.h"

/* Errors of the adapter name the line that made the stream (see cf__stream_at). */
#define AT_STREAM(e) cf__stream_at(a->s, (e))

static void json_free_object(void *obj)
{
    cf_json_free(obj);
}

/* ---- JSON array elements ---- */

typedef struct elem_ad {
    cf_json_select *sel;
    cf_stream *s;
} elem_ad;

static int elem_on_item(cf_json *item, size_t index, void *data)
{
    elem_ad *a = data;
    (void)index;
    (void)item;
    /* The element moves to the stream (push_object takes it, even on failure): no copy. */
    int rc = cf_stream_push_object(a->s, cf_json_select_take(a->sel));
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

typedef struct csv_ad {
    cf_csv_writer w;
    cf_stream *s;
    char **columns;
    size_t n;
    int header;
} csv_ad;

static int csv_sink(const char *p, size_t len, void *data)
{
    csv_ad *a = data;
    int rc = cf_stream_push(a->s, p, len);
    return rc < 0 ? rc : 0;
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
    if (rc == 0)
        rc = cf_csv_write_json_record(&a->w, obj, (const char *const *)a->columns, a->n);
    cf_stream_done(s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "CSV: %s", cf_strerror(rc))) : NULL);
}

static void csv_flush(cf_stream *s, void *data)
{
    csv_ad *a = data;
    int rc = csv_header(a);
    if (rc == 0)
        rc = cf_csv_writer_flush(&a->w);
    cf_stream_done(s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "CSV: %s", cf_strerror(rc))) : NULL);
}

static void csv_free(void *data)
{
    csv_ad *a = data;
    for (size_t i = 0; a->columns && i < a->n; i++)
        cf__free(a->columns[i]);
    cf__free(a->columns);
    cf__free(a);
}

static const cf_stream_impl csv_impl = {
    .transform = csv_transform, .flush = csv_flush, .free_data = csv_free};

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
    if (!a->columns) {
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
