/*
 * Streaming selector: hands each element of the array at a path to a callback as soon as
 * the element is complete (≈ a streaming JSONPath `$.data.items[*]`).
 *
 * The selector sits on a push parser and watches its events. `on` counts the leading open
 * containers that lie on the path: the top-level value always does, and a container at
 * depth d + 1 does when its parent (depth d) does and its position there matches step d of
 * the path (the last key seen for an object, `idx[d]` for an array). When the value at
 * depth k (k = number of steps) is reached through on-path containers it is the target; it
 * must be an array, and each value directly inside it is built with a cf_json_builder,
 * handed to the callback and freed (its arena reused for the next one), unless the callback
 * took it (cf_json_select_take). Memory therefore holds at most one element, the path
 * and the scratch buffer, whatever the size of the document.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "calcifer/json.h"
#include "data/json_dom.h"
#include "data/json_path.h"
#include "util/alloc.h"
#include "util/util.h"

struct cf_json_select {
    cf_json_parser parser;
    cf_json_builder *builder;
    char *scratch;
    char *path;           /* copy; the steps point into it */
    cf__json_step *steps; /* k steps */
    unsigned k;
    size_t *idx;            /* per on-path array at depth d < k: elements seen */
    unsigned char *is_obj;  /* per on-path container at depth d < k */
    unsigned char *matched; /* per on-path object at depth d < k: last key matched step d */
    unsigned on;
    int capturing;
    cf_json *delivering; /* the element the callback holds, until it returns or takes it */
    int found;
    size_t count;
    cf_json_select_cb cb;
    void *data;
    int status; /* the selector's own sticky error, 0 when none */
    char msg[CF_JSON_ERROR_SIZE + 64];
};

static int select_fail(cf_json_select *s, int code, const cf_json_event *ev, const char *what)
{
    const cf_json_parser *p = &s->parser;
    if (ev) {
        uint64_t col = ev->offset - p->_line_start + 1;
        snprintf(s->msg, sizeof s->msg,
                 "JSON: %s at line %" PRIu64 ", column %" PRIu64 " (byte %" PRIu64 ")", what,
                 p->_line + 1, col, ev->offset);
    } else {
        snprintf(s->msg, sizeof s->msg, "JSON: %s", what);
    }
    s->status = code;
    return code;
}

/* Does the value now starting inside the on-path container at depth `pd` stay on path? */
static int child_on_path(cf_json_select *s, unsigned pd)
{
    const cf__json_step *st = &s->steps[pd];
    if (s->is_obj[pd])
        return s->matched[pd];
    size_t i = s->idx[pd]++;
    return st->kind == CF__JSON_STEP_INDEX && st->index == i;
}

static int capture(cf_json_select *s, const cf_json_event *ev)
{
    int rc = cf_json_builder_event(ev, s->builder);
    if (rc)
        return select_fail(s, rc, ev, "not enough memory for an element");
    int opens = ev->kind == CF_JSON_EV_OBJECT_START || ev->kind == CF_JSON_EV_ARRAY_START;
    if (ev->depth != s->k + 1 || opens)
        return 0;
    s->capturing = 0;
    cf_json *item = cf_json_builder_take(s->builder);
    s->delivering = item;
    rc = s->cb(item, s->count++, s->data);
    /* Not taken: its arena is kept for the next element. Taken: the builder starts afresh. */
    cf__json_builder_recycle(s->builder, s->delivering);
    s->delivering = NULL;
    return rc;
}

static int value_start(cf_json_select *s, const cf_json_event *ev)
{
    unsigned d = ev->depth;
    if (s->on != d)
        return 0;
    if (d == s->k + 1) {
        s->capturing = 1;
        return capture(s, ev);
    }
    if (d > 0 && !child_on_path(s, d - 1))
        return 0;
    int is_obj = ev->kind == CF_JSON_EV_OBJECT_START;
    if (d == s->k) {
        if (ev->kind != CF_JSON_EV_ARRAY_START) {
            char what[CF_JSON_ERROR_SIZE];
            snprintf(what, sizeof what, "expected an array at path '%s'", s->path);
            return select_fail(s, CF_EPARSE, ev, what);
        }
        s->found = 1;
        s->on = d + 1;
        return 0;
    }
    if (is_obj || ev->kind == CF_JSON_EV_ARRAY_START) {
        s->on = d + 1;
        s->is_obj[d] = (unsigned char)is_obj;
        s->matched[d] = 0;
        s->idx[d] = 0;
    }
    return 0;
}

static int select_event(const cf_json_event *ev, void *arg)
{
    cf_json_select *s = arg;
    if (s->capturing)
        return capture(s, ev);
    unsigned d = ev->depth;
    switch (ev->kind) {
    case CF_JSON_EV_KEY:
        if (d > 0 && s->on == d && d <= s->k)
            s->matched[d - 1] =
                (unsigned char)cf__json_step_key_eq(&s->steps[d - 1], ev->text, ev->len);
        return 0;
    case CF_JSON_EV_OBJECT_END:
    case CF_JSON_EV_ARRAY_END:
        if (s->on == d + 1)
            s->on = d;
        return 0;
    default:
        return value_start(s, ev);
    }
}

/* Copy the path and split it into steps. */
static int parse_path(cf_json_select *s, const char *path)
{
    s->path = cf__strdup(path ? path : "");
    if (!s->path)
        return CF_ENOMEM;
    const char *c = s->path;
    cf__json_step st;
    int rc;
    unsigned k = 0;
    while ((rc = cf__json_path_next(&c, s->path, &st)) > 0)
        k++;
    if (rc < 0 || k >= CF_JSON_MAX_DEPTH)
        return CF_EINVAL;
    s->k = k;
    size_t n = k ? k : 1;
    s->steps = cf__calloc(n, sizeof *s->steps);
    s->idx = cf__calloc(n, sizeof *s->idx);
    s->is_obj = cf__calloc(n, 1);
    s->matched = cf__calloc(n, 1);
    if (!s->steps || !s->idx || !s->is_obj || !s->matched)
        return CF_ENOMEM;
    c = s->path;
    for (unsigned i = 0; i < k; i++)
        cf__json_path_next(&c, s->path, &s->steps[i]);
    return 0;
}

int cf_json_select_new(cf_json_select **out, const char *path, const cf_json_limits *limits,
                       cf_json_select_cb cb, void *data)
{
    if (!out || !cb)
        return CF_EINVAL;
    *out = NULL;
    cf_json_select *s = cf__calloc(1, sizeof *s);
    if (!s)
        return CF_ENOMEM;
    size_t max = limits && limits->max_string ? limits->max_string : CF_JSON_DEFAULT_MAX_STRING;
    int rc = parse_path(s, path);
    if (!rc) {
        s->scratch = cf__malloc(max);
        rc = s->scratch ? cf_json_builder_new(&s->builder) : CF_ENOMEM;
    }
    if (rc) {
        cf_json_select_free(s);
        return rc;
    }
    cf_json_parser_init(&s->parser, select_event, s, s->scratch, max);
    if (limits) {
        s->parser.max_depth = limits->max_depth;
        s->parser.max_bytes = limits->max_bytes;
        s->parser.flags = limits->flags;
    }
    s->cb = cb;
    s->data = data;
    *out = s;
    return 0;
}

int cf_json_select_feed(cf_json_select *s, const char *chunk, size_t len)
{
    if (!s)
        return CF_EINVAL;
    if (s->status)
        return s->status;
    return cf_json_parser_feed(&s->parser, chunk, len);
}

int cf_json_select_finish(cf_json_select *s)
{
    if (!s)
        return CF_EINVAL;
    if (s->status)
        return s->status;
    int rc = cf_json_parser_finish(&s->parser);
    if (rc)
        return rc;
    if (!s->found) {
        char what[CF_JSON_ERROR_SIZE];
        snprintf(what, sizeof what, "no value at path '%s'", s->path);
        return select_fail(s, CF_ENOENT, NULL, what);
    }
    return 0;
}

cf_json *cf_json_select_take(cf_json_select *s)
{
    if (!s)
        return NULL;
    cf_json *item = s->delivering;
    s->delivering = NULL;
    return item;
}

size_t cf_json_select_count(const cf_json_select *s)
{
    return s ? s->count : 0;
}

const char *cf_json_select_error(const cf_json_select *s)
{
    if (!s)
        return "";
    return s->status ? s->msg : cf_json_parser_error(&s->parser);
}

void cf_json_select_free(cf_json_select *s)
{
    if (!s)
        return;
    cf_json_builder_free(s->builder);
    cf__free(s->scratch);
    cf__free(s->path);
    cf__free(s->steps);
    cf__free(s->idx);
    cf__free(s->is_obj);
    cf__free(s->matched);
    cf__free(s);
}
