/*
 * CSV records from JSON values, and a converter that streams a JSON array into CSV rows.
 *
 * A record takes, for each column, the value at that key or path in the element
 * (cf_json_path) and writes it as one field. Scalars are written from the DOM's text: a
 * string's unescaped bytes, a number's exact source text (never through a double), "true" or
 * "false"; null and missing values are empty fields. An array or object is serialized compact
 * straight into the writer, in two passes over the value: the first only looks for bytes that
 * force quoting, the second writes, so no copy of the value is ever held and the field is
 * quoted exactly when it must be. The formula guard applies to strings (and container text
 * never starts with a formula character); numbers, booleans and null are data, not text a
 * user typed, so they are never prefixed.
 *
 * The converter (`cf_csv_json`) is a cf_json_select whose callback writes one record per
 * element, so memory stays bounded by the largest element and each row reaches the sink as
 * soon as its element is complete. Its columns are copied into one block: the pointer array
 * followed by the strings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "calcifer/csv.h"
#include "calcifer/json.h"
#include "data/csv.h"
#include "util/alloc.h"
#include "util/util.h"

/* A cf_json_write_cb that only checks whether the text needs quoting: stops at the first
 * byte that does (the return value 1 then comes back from cf_json_write). */
static int scan_for_quotes(const char *bytes, size_t len, void *data)
{
    (void)data;
    return cf__csv_needs_quotes(bytes, len);
}

static int append_json(const char *bytes, size_t len, void *w)
{
    return cf__csv_field_append(w, bytes, len);
}

/* An array or object as its compact JSON text, in one field. */
static int write_container(cf_csv_writer *w, const cf_json *v)
{
    int quote = cf_json_write(v, CF_JSON_COMPACT, scan_for_quotes, NULL);
    if (quote < 0)
        return quote;
    int rc = cf__csv_field_open(w, quote);
    if (rc)
        return rc;
    rc = cf_json_write(v, CF_JSON_COMPACT, append_json, w);
    if (!rc)
        return cf__csv_field_close(w);
    /* A half-written field cannot be taken back: the writer stays failed. */
    if (!w->_status)
        w->_status = rc;
    return rc;
}

static int write_value(cf_csv_writer *w, const cf_json *v)
{
    size_t len = 0;
    const char *text;
    switch (cf_json_type_of(v)) {
    case CF_JSON_BOOL:
        return cf__csv_write_field_guard(w, cf_json_bool(v) ? "true" : "false",
                                         cf_json_bool(v) ? 4 : 5, 0);
    case CF_JSON_NUMBER:
        text = cf_json_number_text(v, &len);
        return cf__csv_write_field_guard(w, text, len, 0);
    case CF_JSON_STRING:
        text = cf_json_string(v, &len);
        return cf_csv_write_field(w, text, len);
    case CF_JSON_ARRAY:
    case CF_JSON_OBJECT:
        return write_container(w, v);
    default:
        return cf__csv_write_field_guard(w, "", 0, 0);
    }
}

int cf_csv_write_json_record(cf_csv_writer *w, const cf_json *value, const char *const *columns,
                             size_t n)
{
    if (!w || !columns || !n)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!columns[i])
            return CF_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = write_value(w, value ? cf_json_path(value, columns[i]) : NULL);
        if (rc)
            return rc;
    }
    return cf_csv_end_record(w);
}

int cf_csv_write_json_header(cf_csv_writer *w, const char *const *columns, size_t n)
{
    return cf_csv_write_header(w, columns, n);
}

/* ==== the streaming converter ==== */

struct cf_csv_json {
    cf_csv_writer *w;
    cf_json_select *sel;
    const char **columns; /* n pointers, then the strings, in one block */
    size_t n;
    int header_pending;
    int write_error; /* the writer's error, when it stopped the selector */
    uint64_t rows;
    char msg[CF_CSV_ERROR_SIZE];
};

static const char **copy_columns(const char *const *columns, size_t n)
{
    size_t size = n * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(columns[i]) + 1;
        if (len > SIZE_MAX - size)
            return NULL;
        size += len;
    }
    const char **out = cf__malloc(size);
    if (!out)
        return NULL;
    char *p = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(columns[i]) + 1;
        memcpy(p, columns[i], len);
        out[i] = p;
        p += len;
    }
    return out;
}

static int on_element(cf_json *item, size_t index, void *data)
{
    (void)index;
    cf_csv_json *c = data;
    int rc = cf_csv_write_json_record(c->w, item, c->columns, c->n);
    if (rc) {
        c->write_error = rc;
        snprintf(c->msg, sizeof c->msg, "CSV: writing row %" PRIu64 ": %s", c->rows + 1,
                 cf_strerror(rc));
        return rc;
    }
    c->rows++;
    return 0;
}

int cf_csv_json_new(cf_csv_json **out, cf_csv_writer *w, const char *path,
                    const char *const *columns, size_t n, int header, const cf_json_limits *limits)
{
    if (!out)
        return CF_EINVAL;
    *out = NULL;
    if (!w || !columns || !n)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!columns[i])
            return CF_EINVAL;
    }
    cf_csv_json *c = cf__calloc(1, sizeof *c);
    if (!c)
        return CF_ENOMEM;
    c->w = w;
    c->n = n;
    c->header_pending = header != 0;
    c->columns = copy_columns(columns, n);
    int rc = c->columns ? 0 : CF_ENOMEM;
    if (!rc)
        rc = cf_json_select_new(&c->sel, path, limits, on_element, c);
    if (rc) {
        cf_csv_json_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int write_header(cf_csv_json *c)
{
    if (!c->header_pending)
        return 0;
    int rc = cf_csv_write_json_header(c->w, c->columns, c->n);
    if (rc) {
        c->write_error = rc;
        snprintf(c->msg, sizeof c->msg, "CSV: writing the header: %s", cf_strerror(rc));
        return rc;
    }
    c->header_pending = 0;
    return 0;
}

int cf_csv_json_feed(cf_csv_json *c, const char *chunk, size_t len)
{
    if (!c)
        return CF_EINVAL;
    if (c->write_error)
        return c->write_error;
    int rc = write_header(c);
    return rc ? rc : cf_json_select_feed(c->sel, chunk, len);
}

int cf_csv_json_finish(cf_csv_json *c)
{
    if (!c)
        return CF_EINVAL;
    if (c->write_error)
        return c->write_error;
    int rc = cf_json_select_finish(c->sel);
    if (!rc)
        rc = write_header(c);
    if (!rc) {
        rc = cf_csv_writer_flush(c->w);
        if (rc) {
            c->write_error = rc;
            snprintf(c->msg, sizeof c->msg, "CSV: flushing: %s", cf_strerror(rc));
        }
    }
    return rc;
}

uint64_t cf_csv_json_rows(const cf_csv_json *c)
{
    return c ? c->rows : 0;
}

const char *cf_csv_json_error(const cf_csv_json *c)
{
    if (!c)
        return "";
    return c->write_error ? c->msg : cf_json_select_error(c->sel);
}

void cf_csv_json_free(cf_csv_json *c)
{
    if (!c)
        return;
    cf_json_select_free(c->sel);
    cf__free((void *)c->columns);
    cf__free(c);
}
