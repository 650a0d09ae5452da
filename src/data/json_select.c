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
 *
 * A projection (cf__json_select_set_project, used by the stream adapters) builds only the
 * members of an object element that a reader will look at: the events of the others still go
 * through the parser, which checks them, but not to the builder. The element's text is
 * located by the offsets of its braces, and the part in earlier chunks is kept, so that a
 * reader who turns out to need the whole element can have it (cf__json_select_whole).
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
    cf__json_project_fn project; /* NULL: no projection */
    void *project_data;
    const cf__json_step *keys; /* the current element's projection */
    size_t nkeys;
    int projecting;      /* the current (or delivered) element is built projected */
    int skipping;        /* inside a member the projection leaves out */
    const char *chunk;   /* the chunk being fed */
    uint64_t elem_start; /* offset of the projected element's first byte */
    char *raw;           /* its bytes from earlier chunks */
    size_t raw_len, raw_cap;
    size_t tail_from, tail_len; /* its bytes in `chunk`, once it is complete */
    int status;                 /* the selector's own sticky error, 0 when none */
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

/* Is the member named `key` one the projection keeps? */
static inline int key_kept(const cf_json_select *s, const char *key, size_t len)
{
    for (size_t i = 0; i < s->nkeys; i++) {
        const cf__json_step *st = &s->keys[i];
        if (st->kind == CF__JSON_STEP_KEY ? st->len == len && !memcmp(st->text, key, len)
                                          : cf__json_step_key_eq(st, key, len))
            return 1;
    }
    return 0;
}

/* Projecting: is `ev` part of a member left out? A left-out member's value ends with the
 * first event at the members' depth that opens nothing (a scalar or its closing bracket). */
static inline int skip_event(cf_json_select *s, const cf_json_event *ev)
{
    unsigned members = s->k + 2;
    int opens = ev->kind == CF_JSON_EV_OBJECT_START || ev->kind == CF_JSON_EV_ARRAY_START;
    if (s->skipping) {
        if (ev->depth == members && !opens)
            s->skipping = 0;
        return 1;
    }
    if (ev->kind == CF_JSON_EV_KEY && ev->depth == members && !key_kept(s, ev->text, ev->len)) {
        s->skipping = 1;
        return 1;
    }
    return 0;
}

/* An element begins: ask for a projection when it is an object. */
static void element_start(cf_json_select *s, const cf_json_event *ev)
{
    s->projecting = 0;
    s->skipping = 0;
    s->raw_len = 0;
    if (s->project && ev->kind == CF_JSON_EV_OBJECT_START)
        s->projecting = s->project(s->project_data, &s->keys, &s->nkeys);
    s->elem_start = ev->offset;
}

/* Where the projected element that `ev` closes lies in the current chunk. */
static void element_tail(cf_json_select *s, const cf_json_event *ev)
{
    uint64_t base = s->parser._pos;
    s->tail_from = s->elem_start > base ? (size_t)(s->elem_start - base) : 0;
    s->tail_len = (size_t)(ev->offset + 1 - base) - s->tail_from;
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
    if (s->projecting)
        element_tail(s, ev);
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
        element_start(s, ev);
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
    if (s->capturing) {
        /* Most events of a projected element are left out: settle those here. */
        if (s->projecting && skip_event(s, ev))
            return 0;
        return capture(s, ev);
    }
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

/* Append bytes to the kept text of the projected element. */
static int raw_append(cf_json_select *s, const char *p, size_t len)
{
    if (len > s->raw_cap - s->raw_len) {
        size_t cap = s->raw_cap ? s->raw_cap : 4096;
        while (cap - s->raw_len < len) {
            if (cap > SIZE_MAX / 2)
                return CF_ENOMEM;
            cap *= 2;
        }
        char *n = cf__realloc(s->raw, cap);
        if (!n)
            return CF_ENOMEM;
        s->raw = n;
        s->raw_cap = cap;
    }
    memcpy(s->raw + s->raw_len, p, len);
    s->raw_len += len;
    return 0;
}

int cf_json_select_feed(cf_json_select *s, const char *chunk, size_t len)
{
    if (!s)
        return CF_EINVAL;
    if (s->status)
        return s->status;
    uint64_t base = s->parser._pos;
    s->chunk = chunk;
    int rc = cf_json_parser_feed(&s->parser, chunk, len);
    s->chunk = NULL;
    if (rc >= 0 && s->capturing && s->projecting) {
        /* The element goes on in the next chunk: keep its text so far. */
        size_t from = s->elem_start > base ? (size_t)(s->elem_start - base) : 0;
        if (raw_append(s, chunk + from, len - from))
            return select_fail(s, CF_ENOMEM, NULL, "not enough memory for an element");
    }
    return rc;
}

void cf__json_select_set_project(cf_json_select *s, cf__json_project_fn fn, void *data)
{
    if (!s)
        return;
    s->project = fn;
    s->project_data = data;
}

int cf__json_select_projected(const cf_json_select *s)
{
    if (!s || !s->delivering || !s->projecting)
        return 0;
    return s->elem_start < s->parser._pos ? 2 : 1;
}

int cf__json_select_whole(cf_json_select *s, cf_json **out)
{
    *out = NULL;
    const char *text = s->chunk + s->tail_from;
    size_t len = s->tail_len;
    if (s->raw_len) {
        if (raw_append(s, text, len))
            return select_fail(s, CF_ENOMEM, NULL, "not enough memory for an element");
        text = s->raw;
        len = s->raw_len;
        s->raw_len = 0;
    }
    /* The text passed the parser with these settings, so only memory can fail here. */
    cf_json_limits lim = {.max_depth = s->parser.max_depth,
                          .max_string = s->parser.scratch_len,
                          .flags = s->parser.flags};
    int rc = cf_json_parse(text, len, &lim, out, NULL);
    if (rc)
        return select_fail(s, rc, NULL,
                           rc == CF_ENOMEM ? "not enough memory for an element"
                                           : "an element could not be built again");
    return 0;
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
    cf__free(s->raw);
    cf__free(s->scratch);
    cf__free(s->path);
    cf__free(s->steps);
    cf__free(s->idx);
    cf__free(s->is_obj);
    cf__free(s->matched);
    cf__free(s);
}
