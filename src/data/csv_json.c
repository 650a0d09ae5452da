/*
 * CSV records from JSON values, and a converter that streams a JSON array into CSV rows.
 *
 * A record takes, for each column, the value at that key or path in the element
 * (cf_json_path) and writes it as one field. Scalars are written from the DOM's text: a
 * string's unescaped bytes, a number's exact source text (never through a double), "true" or
 * "false"; null and missing values are empty fields. An array or object is serialized compact
 * straight into the writer, in two passes over the value: the first only looks for bytes that
 * force quoting, the second writes, so no copy of the value is held and the field is quoted
 * exactly when it must be. The formula guard applies to strings (container text never starts
 * with a formula character); numbers, booleans and null are data, not text a user typed, so
 * they are never prefixed.
 *
 * The converter (`cf_csv_json`) sits on a push parser and never builds an element's tree.
 * Outside the elements it follows the array's path like cf_json_select does (`on` counts the
 * open containers that lie on the path; at depth k the value must be the array). Inside an
 * element, levels count from the element (level 0), and each column keeps `ok`: the open
 * containers at levels 0..ok lie on its path. A value at level t is a column's when the
 * container at level t - 1 is on the path (ok == t - 1) and its key (`keymatch`, set by the
 * KEY event just before) or its index is the path's step t; at the last step the value is
 * captured (the text of a string or number in a buffer reused from element to element; an
 * array or object through a cf_json_builder), before it the column follows the container
 * (ok = t). A later member with the same key replaces an earlier one, as in JSON.parse and
 * cf_json_path, so a matching value first drops what an earlier one captured. When the element
 * ends its row is written with the same field rules as cf_csv_write_json_record, and the
 * captures are cleared. Memory is the captured values of one element, whatever the document's
 * size; elements and columns with scalar values cost no allocation after the first rows.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "calcifer/csv.h"
#include "calcifer/json.h"
#include "data/csv.h"
#include "data/json_path.h"
#include "util/alloc.h"
#include "util/buf.h"
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

int cf__csv_write_json_values(cf_csv_writer *w, const cf_json *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = write_value(w, values[i]);
        if (rc)
            return rc;
    }
    return cf_csv_end_record(w);
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

/* What a column holds for the current element. */
enum { CAP_NONE = 0, CAP_STRING, CAP_NUMBER, CAP_TRUE, CAP_FALSE, CAP_NULL, CAP_TREE };

/*
 * One column: its path, how far the containers open in the current element follow it, and
 * the value captured for it. Levels count from the element (level 0).
 */
typedef struct column {
    cf__json_step *steps; /* m steps */
    unsigned m;
    int bad;      /* malformed path: never matches, like cf_json_path */
    unsigned ok;  /* the open containers at levels 0..ok lie on the path */
    int keymatch; /* the key just read at level ok + 1 is steps[ok] */
    int kind;     /* CAP_* */
    cf_dbuf text; /* a captured string or number */
    cf_json_builder *builder;
    unsigned cap_depth; /* depth of the container being captured; 0 when none */
    cf_json *tree;      /* a captured array or object */
} column;

struct cf_csv_json {
    cf_csv_writer *w;
    cf_json_parser parser;
    char *scratch;
    char *path;           /* copy; `steps` point into it */
    cf__json_step *steps; /* k steps from the top to the array */
    unsigned k;
    const char **names; /* n pointers, then the strings, in one block */
    column *cols;
    size_t n;
    unsigned max_m; /* the longest column path, in steps */
    unsigned ncap;  /* columns capturing a container */
    unsigned on;    /* leading open containers on the path; k + 1 inside the array */
    int found;
    int header_pending;
    int status; /* the converter's own sticky error, 0 when none */
    uint64_t rows;
    unsigned char is_obj[CF_JSON_MAX_DEPTH + 1];  /* per open container, by depth */
    unsigned char matched[CF_JSON_MAX_DEPTH + 1]; /* path part: last key named the step */
    size_t idx[CF_JSON_MAX_DEPTH + 1];            /* per open array: elements seen */
    char msg[CF_JSON_ERROR_SIZE + 64];
};

static int conv_fail(cf_csv_json *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int conv_fail(cf_csv_json *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->status = code;
    return code;
}

static int is_start(const cf_json_event *ev)
{
    return ev->kind == CF_JSON_EV_OBJECT_START || ev->kind == CF_JSON_EV_ARRAY_START;
}

static int is_end(const cf_json_event *ev)
{
    return ev->kind == CF_JSON_EV_OBJECT_END || ev->kind == CF_JSON_EV_ARRAY_END;
}

static void clear_capture(column *col)
{
    col->kind = CAP_NONE;
    cf__dbuf_reset(&col->text);
    cf_json_free(col->tree);
    col->tree = NULL;
}

/* Give an event to the builder of a column capturing a container; take the tree at its end. */
static int feed_builder(cf_csv_json *c, column *col, const cf_json_event *ev)
{
    int rc = cf_json_builder_event(ev, col->builder);
    if (rc)
        return conv_fail(c, rc, "CSV: not enough memory for row %" PRIu64, c->rows + 1);
    if (is_end(ev) && ev->depth == col->cap_depth) {
        col->tree = cf_json_builder_take(col->builder);
        col->cap_depth = 0;
        c->ncap--;
    }
    return 0;
}

/* `ev` starts the value of column `col`: keep its text, or start building its tree. */
static int capture(cf_csv_json *c, column *col, const cf_json_event *ev)
{
    int rc;
    switch (ev->kind) {
    case CF_JSON_EV_STRING:
    case CF_JSON_EV_NUMBER:
        col->kind = ev->kind == CF_JSON_EV_STRING ? CAP_STRING : CAP_NUMBER;
        rc = cf__dbuf_add(&col->text, ev->text, ev->len);
        if (rc == CF_ETOOBIG)
            return conv_fail(c, rc, "CSV: a value of column '%s' is longer than %zu bytes",
                             c->names[col - c->cols], col->text.max);
        if (rc)
            return conv_fail(c, rc, "CSV: not enough memory for row %" PRIu64, c->rows + 1);
        return 0;
    case CF_JSON_EV_TRUE:
        col->kind = CAP_TRUE;
        return 0;
    case CF_JSON_EV_FALSE:
        col->kind = CAP_FALSE;
        return 0;
    case CF_JSON_EV_NULL:
        col->kind = CAP_NULL;
        return 0;
    default:
        if (!col->builder && cf_json_builder_new(&col->builder))
            return conv_fail(c, CF_ENOMEM, "CSV: not enough memory for row %" PRIu64, c->rows + 1);
        col->kind = CAP_TREE;
        col->cap_depth = ev->depth;
        c->ncap++;
        return feed_builder(c, col, ev);
    }
}

static int write_capture(cf_csv_writer *w, const column *col)
{
    const char *text = col->text.data ? col->text.data : "";
    switch (col->kind) {
    case CAP_STRING:
        return cf_csv_write_field(w, text, col->text.len);
    case CAP_NUMBER:
        return cf__csv_write_field_guard(w, text, col->text.len, 0);
    case CAP_TRUE:
        return cf__csv_write_field_guard(w, "true", 4, 0);
    case CAP_FALSE:
        return cf__csv_write_field_guard(w, "false", 5, 0);
    case CAP_TREE:
        return write_container(w, col->tree);
    default:
        return cf__csv_write_field_guard(w, "", 0, 0);
    }
}

/* The element is complete: write its row and forget its values. */
static int emit_row(cf_csv_json *c)
{
    int rc = 0;
    for (size_t j = 0; j < c->n && !rc; j++)
        rc = write_capture(c->w, &c->cols[j]);
    if (!rc)
        rc = cf_csv_end_record(c->w);
    for (size_t j = 0; j < c->n; j++)
        clear_capture(&c->cols[j]);
    if (rc)
        return conv_fail(c, rc, "CSV: writing row %" PRIu64 ": %s", c->rows + 1, cf_strerror(rc));
    c->rows++;
    return 0;
}

/* A value starts at level t >= 1 of the element: capture it for the columns it is the value
 * of, and follow the containers that lead to a column's value. A later member with the same
 * key replaces an earlier one (as in JSON.parse), so a match drops what was captured before. */
static int element_child(cf_csv_json *c, const cf_json_event *ev, unsigned t)
{
    unsigned pd = ev->depth - 1;
    int in_obj = c->is_obj[pd];
    size_t i = in_obj ? 0 : c->idx[pd]++;
    for (size_t j = 0; j < c->n; j++) {
        column *col = &c->cols[j];
        if (col->bad || col->ok + 1 != t || col->m < t)
            continue;
        const cf__json_step *st = &col->steps[t - 1];
        int on = in_obj ? col->keymatch : st->kind == CF__JSON_STEP_INDEX && st->index == i;
        if (!on)
            continue;
        clear_capture(col);
        if (t == col->m) {
            int rc = capture(c, col, ev);
            if (rc)
                return rc;
        } else if (is_start(ev)) {
            col->ok = t;
        }
    }
    return 0;
}

static int element_value(cf_csv_json *c, const cf_json_event *ev, unsigned t)
{
    int rc = 0;
    if (t > 0) {
        rc = element_child(c, ev, t);
    } else {
        for (size_t j = 0; j < c->n && !rc; j++) {
            column *col = &c->cols[j];
            col->ok = 0;
            if (!col->bad && col->m == 0)
                rc = capture(c, col, ev);
        }
    }
    if (rc)
        return rc;
    if (is_start(ev)) {
        c->is_obj[ev->depth] = ev->kind == CF_JSON_EV_OBJECT_START;
        c->idx[ev->depth] = 0;
        return 0;
    }
    return t == 0 ? emit_row(c) : 0;
}

/* Does the KEY event `ev` name the step? Plain keys, the common case, are compared here. */
static int key_is(const cf__json_step *st, const cf_json_event *ev)
{
    if (st->kind == CF__JSON_STEP_KEY)
        return st->len == ev->len && memcmp(st->text, ev->text, ev->len) == 0;
    return cf__json_step_key_eq(st, ev->text, ev->len);
}

/* An event inside an element of the array (depth k + 1 and deeper). */
static int element_event(cf_csv_json *c, const cf_json_event *ev)
{
    unsigned t = ev->depth - (c->k + 1);
    /* Below the deepest column nothing can match: only a tree being captured cares. */
    if (t > c->max_m && !c->ncap)
        return 0;
    for (size_t j = 0; c->ncap && j < c->n; j++) {
        if (c->cols[j].cap_depth) {
            int rc = feed_builder(c, &c->cols[j], ev);
            if (rc)
                return rc;
        }
    }
    if (ev->kind == CF_JSON_EV_KEY) {
        for (size_t j = 0; j < c->n; j++) {
            column *col = &c->cols[j];
            if (!col->bad && col->ok + 1 == t && col->m >= t)
                col->keymatch = key_is(&col->steps[t - 1], ev);
        }
        return 0;
    }
    if (!is_end(ev))
        return element_value(c, ev, t);
    if (t == 0)
        return emit_row(c);
    for (size_t j = 0; j < c->n; j++) {
        if (c->cols[j].ok == t)
            c->cols[j].ok = t - 1;
    }
    return 0;
}

/* An event outside the array's elements: follow the path down to the array. */
static int path_event(cf_csv_json *c, const cf_json_event *ev)
{
    unsigned d = ev->depth;
    if (ev->kind == CF_JSON_EV_KEY) {
        if (d > 0 && c->on == d && d <= c->k)
            c->matched[d - 1] =
                (unsigned char)cf__json_step_key_eq(&c->steps[d - 1], ev->text, ev->len);
        return 0;
    }
    if (is_end(ev)) {
        if (c->on == d + 1)
            c->on = d;
        return 0;
    }
    if (c->on != d)
        return 0;
    if (d > 0) {
        const cf__json_step *st = &c->steps[d - 1];
        int on = c->is_obj[d - 1] ? c->matched[d - 1]
                                  : st->kind == CF__JSON_STEP_INDEX && st->index == c->idx[d - 1]++;
        if (!on)
            return 0;
    }
    if (d == c->k) {
        if (ev->kind != CF_JSON_EV_ARRAY_START)
            return conv_fail(c, CF_EPARSE,
                             "JSON: expected an array at path '%s' (byte %" PRIu64 ")", c->path,
                             ev->offset);
        c->found = 1;
    } else if (!is_start(ev)) {
        return 0;
    }
    c->on = d + 1;
    c->is_obj[d] = ev->kind == CF_JSON_EV_OBJECT_START;
    c->matched[d] = 0;
    c->idx[d] = 0;
    return 0;
}

static int on_event(const cf_json_event *ev, void *data)
{
    cf_csv_json *c = data;
    if (ev->depth > CF_JSON_MAX_DEPTH)
        return conv_fail(c, CF_ETOOBIG, "JSON: nesting deeper than %d (byte %" PRIu64 ")",
                         CF_JSON_MAX_DEPTH, ev->offset);
    if (c->on == c->k + 1 && ev->depth > c->k)
        return element_event(c, ev);
    return path_event(c, ev);
}

/* Split a path into steps (an array the caller frees). Returns 0, CF_EINVAL or CF_ENOMEM. */
static int split_path(const char *path, cf__json_step **steps, unsigned *k)
{
    const char *cur = path;
    cf__json_step st;
    unsigned n = 0;
    int rc;
    while ((rc = cf__json_path_next(&cur, path, &st)) > 0 && n < CF_JSON_MAX_DEPTH)
        n++;
    if (rc != 0)
        return CF_EINVAL;
    *steps = cf__calloc(n ? n : 1, sizeof **steps);
    if (!*steps)
        return CF_ENOMEM;
    cur = path;
    for (unsigned i = 0; i < n; i++)
        cf__json_path_next(&cur, path, &(*steps)[i]);
    *k = n;
    return 0;
}

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

static int make_columns(cf_csv_json *c, const char *const *columns, size_t n, size_t max)
{
    c->names = copy_columns(columns, n);
    c->cols = cf__calloc(n, sizeof *c->cols);
    if (!c->names || !c->cols)
        return CF_ENOMEM;
    c->n = n;
    for (size_t j = 0; j < n; j++) {
        column *col = &c->cols[j];
        cf__dbuf_init(&col->text, max);
        int rc = split_path(c->names[j], &col->steps, &col->m);
        if (rc == CF_ENOMEM)
            return rc;
        col->bad = rc != 0;
        if (!col->bad && col->m > c->max_m)
            c->max_m = col->m;
    }
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
    c->header_pending = header != 0;
    size_t max = limits && limits->max_string ? limits->max_string : CF_JSON_DEFAULT_MAX_STRING;
    c->path = cf__strdup(path ? path : "");
    int rc = c->path ? split_path(c->path, &c->steps, &c->k) : CF_ENOMEM;
    if (!rc)
        rc = make_columns(c, columns, n, max);
    if (!rc) {
        c->scratch = cf__malloc(max);
        rc = c->scratch ? 0 : CF_ENOMEM;
    }
    if (rc) {
        cf_csv_json_free(c);
        return rc;
    }
    cf_json_parser_init(&c->parser, on_event, c, c->scratch, max);
    if (limits) {
        c->parser.max_depth = limits->max_depth;
        c->parser.max_bytes = limits->max_bytes;
        c->parser.flags = limits->flags;
    }
    *out = c;
    return 0;
}

static int write_header(cf_csv_json *c)
{
    if (!c->header_pending)
        return 0;
    int rc = cf_csv_write_json_header(c->w, c->names, c->n);
    if (rc)
        return conv_fail(c, rc, "CSV: writing the header: %s", cf_strerror(rc));
    c->header_pending = 0;
    return 0;
}

int cf_csv_json_feed(cf_csv_json *c, const char *chunk, size_t len)
{
    if (!c)
        return CF_EINVAL;
    if (c->status)
        return c->status;
    int rc = write_header(c);
    return rc ? rc : cf_json_parser_feed(&c->parser, chunk, len);
}

int cf_csv_json_finish(cf_csv_json *c)
{
    if (!c)
        return CF_EINVAL;
    if (c->status)
        return c->status;
    int rc = cf_json_parser_finish(&c->parser);
    if (rc)
        return rc;
    if (!c->found)
        return conv_fail(c, CF_ENOENT, "JSON: no value at path '%s'", c->path);
    rc = write_header(c);
    if (rc)
        return rc;
    rc = cf_csv_writer_flush(c->w);
    if (rc)
        return conv_fail(c, rc, "CSV: flushing: %s", cf_strerror(rc));
    return 0;
}

uint64_t cf_csv_json_rows(const cf_csv_json *c)
{
    return c ? c->rows : 0;
}

const char *cf_csv_json_error(const cf_csv_json *c)
{
    if (!c)
        return "";
    return c->status ? c->msg : cf_json_parser_error(&c->parser);
}

void cf_csv_json_free(cf_csv_json *c)
{
    if (!c)
        return;
    for (size_t j = 0; c->cols && j < c->n; j++) {
        column *col = &c->cols[j];
        cf_json_free(col->tree);
        cf_json_builder_free(col->builder);
        cf__dbuf_free(&col->text);
        cf__free(col->steps);
    }
    cf__free(c->cols);
    cf__free((void *)c->names);
    cf__free(c->steps);
    cf__free(c->path);
    cf__free(c->scratch);
    cf__free(c);
}
