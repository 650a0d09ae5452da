/*
 * JSON DOM: values, the builder that makes them from parser events, lookups by key, index
 * and path, and the serializer (≈ JSON.parse's result and JSON.stringify).
 *
 * A value is one heap block. Strings and numbers keep their bytes inline after the header
 * (NUL-terminated, `len` excludes the NUL). Arrays keep a growable vector of child
 * pointers; objects a growable vector of members (key copy, key length, value) in document
 * order. Duplicate keys are kept as they came, so a document round-trips unchanged; lookups
 * return the last one, as JSON.parse does. A tree has exactly one owner and every child has
 * exactly one parent, so freeing is a plain post-order walk.
 *
 * The serializer follows V8's JSON.stringify byte for byte (for values whose numbers are
 * written canonically): it buffers output in a small local buffer and hands it to a write
 * callback in pieces.
 */
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/json.h"
#include "data/json_path.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/util.h"

typedef struct member {
    char *key; /* NUL-terminated copy */
    size_t key_len;
    cf_json *value;
} member;

struct cf_json {
    cf_json_type type;
    int boolean;
    size_t len; /* bytes of a string or number; elements; members */
    size_t cap; /* capacity of the vector */
    union {
        char *text;
        cf_json **items;
        member *members;
    } u;
    char inline_text[];
};

/* ---- values ---- */

static cf_json *node_new(cf_json_type type, size_t extra)
{
    cf_json *v = cf__malloc(sizeof *v + extra);
    if (!v)
        return NULL;
    v->type = type;
    v->boolean = 0;
    v->len = 0;
    v->cap = 0;
    v->u.items = NULL;
    return v;
}

static cf_json *text_node(cf_json_type type, const char *s, size_t len)
{
    if (len > SIZE_MAX - sizeof(cf_json) - 1)
        return NULL;
    cf_json *v = node_new(type, len + 1);
    if (!v)
        return NULL;
    if (len)
        memcpy(v->inline_text, s, len);
    v->inline_text[len] = '\0';
    v->u.text = v->inline_text;
    v->len = len;
    return v;
}

cf_json *cf_json_new_null(void)
{
    return node_new(CF_JSON_NULL, 0);
}

cf_json *cf_json_new_bool(int b)
{
    cf_json *v = node_new(CF_JSON_BOOL, 0);
    if (v)
        v->boolean = b != 0;
    return v;
}

cf_json *cf_json_new_string(const char *s, size_t len)
{
    if (!s && len)
        return NULL;
    return text_node(CF_JSON_STRING, s ? s : "", len);
}

cf_json *cf_json_new_number(const char *text, size_t len)
{
    double d;
    if (!text || cf_json_number_to_double(text, len, &d) == CF_EINVAL)
        return NULL;
    return text_node(CF_JSON_NUMBER, text, len);
}

cf_json *cf_json_new_i64(int64_t n)
{
    char b[24];
    int len = snprintf(b, sizeof b, "%" PRId64, n);
    return text_node(CF_JSON_NUMBER, b, (size_t)len);
}

/* The shortest "%.Ng" text that reads back to `d`, with '.' whatever the locale. */
cf_json *cf_json_new_double(double d)
{
    if (d != d || d - d != 0)
        return NULL;
    char b[40];
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(b, sizeof b, "%.*g", prec, d);
        if (strtod(b, NULL) == d)
            break;
    }
    const char *dp = localeconv()->decimal_point;
    char *p = dp && dp[0] && !dp[1] ? memchr(b, dp[0], (size_t)len) : NULL;
    if (p)
        *p = '.';
    if (!strcmp(b, "-0"))
        return text_node(CF_JSON_NUMBER, "0", 1);
    return text_node(CF_JSON_NUMBER, b, (size_t)len);
}

cf_json *cf_json_new_array(void)
{
    return node_new(CF_JSON_ARRAY, 0);
}

cf_json *cf_json_new_object(void)
{
    return node_new(CF_JSON_OBJECT, 0);
}

void cf_json_free(cf_json *v)
{
    if (!v)
        return;
    if (v->type == CF_JSON_ARRAY) {
        for (size_t i = 0; i < v->len; i++)
            cf_json_free(v->u.items[i]);
        cf__free(v->u.items);
    } else if (v->type == CF_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            cf__free(v->u.members[i].key);
            cf_json_free(v->u.members[i].value);
        }
        cf__free(v->u.members);
    }
    cf__free(v);
}

/* Make room for one more element of `size` bytes in a vector. */
static int grow(void **vec, size_t *cap, size_t len, size_t size)
{
    if (len < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 4;
    if (n > SIZE_MAX / size)
        return CF_ENOMEM;
    void *p = cf__realloc(*vec, n * size);
    if (!p)
        return CF_ENOMEM;
    *vec = p;
    *cap = n;
    return 0;
}

int cf_json_array_append(cf_json *arr, cf_json *item)
{
    if (!arr || !item || arr->type != CF_JSON_ARRAY) {
        cf_json_free(item);
        return CF_EINVAL;
    }
    if (grow((void **)&arr->u.items, &arr->cap, arr->len, sizeof(cf_json *))) {
        cf_json_free(item);
        return CF_ENOMEM;
    }
    arr->u.items[arr->len++] = item;
    return 0;
}

/* Append a member; takes `key` (a cf__malloc'd NUL-terminated copy) and `value`. */
static int add_member(cf_json *obj, char *key, size_t key_len, cf_json *value)
{
    if (grow((void **)&obj->u.members, &obj->cap, obj->len, sizeof(member))) {
        cf__free(key);
        cf_json_free(value);
        return CF_ENOMEM;
    }
    obj->u.members[obj->len++] = (member){key, key_len, value};
    return 0;
}

static char *key_copy(const char *key, size_t len)
{
    char *k = cf__malloc(len + 1);
    if (!k)
        return NULL;
    if (len)
        memcpy(k, key, len);
    k[len] = '\0';
    return k;
}

static member *find_member(const cf_json *v, const char *key, size_t len)
{
    if (!v || v->type != CF_JSON_OBJECT || (!key && len))
        return NULL;
    for (size_t i = v->len; i-- > 0;) {
        member *m = &v->u.members[i];
        if (m->key_len == len && (!len || !memcmp(m->key, key, len)))
            return m;
    }
    return NULL;
}

int cf_json_object_set(cf_json *obj, const char *key, size_t key_len, cf_json *value)
{
    if (!obj || !value || obj->type != CF_JSON_OBJECT || (!key && key_len)) {
        cf_json_free(value);
        return CF_EINVAL;
    }
    member *m = find_member(obj, key, key_len);
    if (m) {
        cf_json_free(m->value);
        m->value = value;
        return 0;
    }
    char *k = key_copy(key, key_len);
    if (!k) {
        cf_json_free(value);
        return CF_ENOMEM;
    }
    return add_member(obj, k, key_len, value);
}

/* ---- reading ---- */

cf_json_type cf_json_type_of(const cf_json *v)
{
    return v ? v->type : CF_JSON_NULL;
}

const char *cf_json_type_name(cf_json_type t)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < CF_ARRAY_LEN(names) ? names[t] : "unknown";
}

int cf_json_bool(const cf_json *v)
{
    return v && v->type == CF_JSON_BOOL && v->boolean;
}

static const char *text_of(const cf_json *v, cf_json_type type, size_t *len)
{
    if (!v || v->type != type)
        return NULL;
    if (len)
        *len = v->len;
    return v->u.text;
}

const char *cf_json_string(const cf_json *v, size_t *len)
{
    return text_of(v, CF_JSON_STRING, len);
}

const char *cf_json_number_text(const cf_json *v, size_t *len)
{
    return text_of(v, CF_JSON_NUMBER, len);
}

int cf_json_get_i64(const cf_json *v, int64_t *out)
{
    if (!v || v->type != CF_JSON_NUMBER)
        return CF_EINVAL;
    return cf_json_number_to_i64(v->u.text, v->len, out);
}

int cf_json_get_double(const cf_json *v, double *out)
{
    if (!v || v->type != CF_JSON_NUMBER)
        return CF_EINVAL;
    return cf_json_number_to_double(v->u.text, v->len, out);
}

size_t cf_json_size(const cf_json *v)
{
    if (!v || (v->type != CF_JSON_ARRAY && v->type != CF_JSON_OBJECT))
        return 0;
    return v->len;
}

cf_json *cf_json_at(const cf_json *v, size_t i)
{
    if (!v || i >= v->len)
        return NULL;
    if (v->type == CF_JSON_ARRAY)
        return v->u.items[i];
    if (v->type == CF_JSON_OBJECT)
        return v->u.members[i].value;
    return NULL;
}

const char *cf_json_key_at(const cf_json *v, size_t i, size_t *len)
{
    if (!v || v->type != CF_JSON_OBJECT || i >= v->len)
        return NULL;
    if (len)
        *len = v->u.members[i].key_len;
    return v->u.members[i].key;
}

cf_json *cf_json_getn(const cf_json *v, const char *key, size_t len)
{
    member *m = find_member(v, key, len);
    return m ? m->value : NULL;
}

cf_json *cf_json_get(const cf_json *v, const char *key)
{
    return key ? cf_json_getn(v, key, strlen(key)) : NULL;
}

/* ---- paths ---- */

static int path_index(const char **cursor, cf__json_step *st)
{
    const char *c = *cursor;
    if (*c < '0' || *c > '9')
        return -1;
    size_t idx = 0;
    while (*c >= '0' && *c <= '9') {
        size_t d = (size_t)(*c - '0');
        if (idx > (SIZE_MAX - d) / 10)
            return -1;
        idx = idx * 10 + d;
        c++;
    }
    st->kind = CF__JSON_STEP_INDEX;
    st->index = idx;
    *cursor = c;
    return 1;
}

static int path_quoted(const char **cursor, cf__json_step *st)
{
    const char *c = *cursor + 1;
    const char *k = c;
    while (*c && *c != '"') {
        if (*c == '\\') {
            c++;
            if (*c != '"' && *c != '\\')
                return -1;
        }
        c++;
    }
    if (*c != '"')
        return -1;
    st->kind = CF__JSON_STEP_QKEY;
    st->text = k;
    st->len = (size_t)(c - k);
    *cursor = c + 1;
    return 1;
}

int cf__json_path_next(const char **cursor, const char *start, cf__json_step *st)
{
    const char *c = *cursor;
    if (!*c)
        return 0;
    if (*c == '[') {
        c++;
        int rc = *c == '"' ? path_quoted(&c, st) : path_index(&c, st);
        if (rc < 0 || *c != ']')
            return -1;
        *cursor = c + 1;
        return 1;
    }
    if (c != start) {
        if (*c != '.')
            return -1;
        c++;
    }
    const char *k = c;
    while (*c && *c != '.' && *c != '[' && *c != ']')
        c++;
    if (c == k)
        return -1;
    st->kind = CF__JSON_STEP_KEY;
    st->text = k;
    st->len = (size_t)(c - k);
    *cursor = c;
    return 1;
}

int cf__json_step_key_eq(const cf__json_step *st, const char *key, size_t len)
{
    if (st->kind == CF__JSON_STEP_KEY)
        return st->len == len && !memcmp(st->text, key, len);
    if (st->kind != CF__JSON_STEP_QKEY)
        return 0;
    size_t j = 0;
    for (size_t i = 0; i < st->len; i++, j++) {
        char c = st->text[i];
        if (c == '\\')
            c = st->text[++i];
        if (j >= len || key[j] != c)
            return 0;
    }
    return j == len;
}

static cf_json *step_into(const cf_json *v, const cf__json_step *st)
{
    if (st->kind == CF__JSON_STEP_INDEX)
        return v->type == CF_JSON_ARRAY ? cf_json_at(v, st->index) : NULL;
    if (v->type != CF_JSON_OBJECT)
        return NULL;
    for (size_t i = v->len; i-- > 0;) {
        member *m = &v->u.members[i];
        if (cf__json_step_key_eq(st, m->key, m->key_len))
            return m->value;
    }
    return NULL;
}

cf_json *cf_json_path(const cf_json *v, const char *path)
{
    if (!v || !path)
        return NULL;
    const char *c = path;
    cf__json_step st;
    int rc;
    while (v && (rc = cf__json_path_next(&c, path, &st)) != 0) {
        if (rc < 0)
            return NULL;
        v = step_into(v, &st);
    }
    return (cf_json *)v;
}

/* ---- copy and compare ---- */

static cf_json *clone_container(const cf_json *v)
{
    cf_json *c = node_new(v->type, 0);
    for (size_t i = 0; c && i < v->len; i++) {
        cf_json *child = cf_json_clone(cf_json_at(v, i));
        int rc;
        if (!child)
            rc = CF_ENOMEM;
        else if (v->type == CF_JSON_ARRAY)
            rc = cf_json_array_append(c, child);
        else {
            member *m = &v->u.members[i];
            char *k = key_copy(m->key, m->key_len);
            rc = k ? add_member(c, k, m->key_len, child) : CF_ENOMEM;
            if (!k)
                cf_json_free(child);
        }
        if (rc) {
            cf_json_free(c);
            return NULL;
        }
    }
    return c;
}

cf_json *cf_json_clone(const cf_json *v)
{
    if (!v)
        return NULL;
    switch (v->type) {
    case CF_JSON_STRING:
    case CF_JSON_NUMBER:
        return text_node(v->type, v->u.text, v->len);
    case CF_JSON_ARRAY:
    case CF_JSON_OBJECT:
        return clone_container(v);
    default: {
        cf_json *c = node_new(v->type, 0);
        if (c)
            c->boolean = v->boolean;
        return c;
    }
    }
}

int cf_json_equal(const cf_json *a, const cf_json *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case CF_JSON_NULL:
        return 1;
    case CF_JSON_BOOL:
        return a->boolean == b->boolean;
    case CF_JSON_STRING:
    case CF_JSON_NUMBER:
        return a->len == b->len && !memcmp(a->u.text, b->u.text, a->len);
    default:
        break;
    }
    if (a->len != b->len)
        return 0;
    for (size_t i = 0; i < a->len; i++) {
        if (a->type == CF_JSON_OBJECT) {
            const member *ma = &a->u.members[i];
            const member *mb = &b->u.members[i];
            if (ma->key_len != mb->key_len || memcmp(ma->key, mb->key, ma->key_len))
                return 0;
        }
        if (!cf_json_equal(cf_json_at(a, i), cf_json_at(b, i)))
            return 0;
    }
    return 1;
}

/* ---- builder ---- */

struct cf_json_builder {
    cf_json *root;
    cf_json **stack; /* open containers, innermost last */
    size_t depth;
    size_t cap;
    char *key; /* the pending member name, owned */
    size_t key_len;
};

int cf_json_builder_new(cf_json_builder **out)
{
    if (!out)
        return CF_EINVAL;
    *out = cf__calloc(1, sizeof **out);
    return *out ? 0 : CF_ENOMEM;
}

static cf_json *event_node(const cf_json_event *ev)
{
    switch (ev->kind) {
    case CF_JSON_EV_OBJECT_START:
        return cf_json_new_object();
    case CF_JSON_EV_ARRAY_START:
        return cf_json_new_array();
    case CF_JSON_EV_STRING:
        return text_node(CF_JSON_STRING, ev->text, ev->len);
    case CF_JSON_EV_NUMBER:
        return text_node(CF_JSON_NUMBER, ev->text, ev->len);
    case CF_JSON_EV_TRUE:
    case CF_JSON_EV_FALSE:
        return cf_json_new_bool(ev->kind == CF_JSON_EV_TRUE);
    default:
        return cf_json_new_null();
    }
}

/* Hang `v` under the innermost open container (or make it the root); takes `v`. */
static int attach(cf_json_builder *b, cf_json *v)
{
    if (!b->depth) {
        if (b->root) {
            cf_json_free(v);
            return CF_EINVAL;
        }
        b->root = v;
        return 0;
    }
    cf_json *parent = b->stack[b->depth - 1];
    if (parent->type == CF_JSON_ARRAY)
        return cf_json_array_append(parent, v);
    if (!b->key) {
        cf_json_free(v);
        return CF_EINVAL;
    }
    char *k = b->key;
    b->key = NULL;
    return add_member(parent, k, b->key_len, v);
}

static int set_key(cf_json_builder *b, const cf_json_event *ev)
{
    cf__free(b->key);
    b->key = key_copy(ev->text, ev->len);
    b->key_len = ev->len;
    return b->key ? 0 : CF_ENOMEM;
}

int cf_json_builder_event(const cf_json_event *ev, void *builder)
{
    cf_json_builder *b = builder;
    if (!ev || !b)
        return CF_EINVAL;
    if (ev->kind == CF_JSON_EV_OBJECT_END || ev->kind == CF_JSON_EV_ARRAY_END) {
        if (!b->depth)
            return CF_EINVAL;
        b->depth--;
        return 0;
    }
    if (ev->kind == CF_JSON_EV_KEY)
        return set_key(b, ev);
    cf_json *v = event_node(ev);
    if (!v)
        return CF_ENOMEM;
    int rc = attach(b, v);
    if (rc || (ev->kind != CF_JSON_EV_OBJECT_START && ev->kind != CF_JSON_EV_ARRAY_START))
        return rc;
    if (grow((void **)&b->stack, &b->cap, b->depth, sizeof(cf_json *)))
        return CF_ENOMEM;
    b->stack[b->depth++] = v;
    return 0;
}

cf_json *cf_json_builder_take(cf_json_builder *b)
{
    if (!b || !b->root || b->depth)
        return NULL;
    cf_json *v = b->root;
    b->root = NULL;
    return v;
}

void cf_json_builder_free(cf_json_builder *b)
{
    if (!b)
        return;
    cf_json_free(b->root);
    cf__free(b->stack);
    cf__free(b->key);
    cf__free(b);
}

/* ---- parse a whole document ---- */

static int parse_error(int rc, const cf_json_parser *p, cf_error **err)
{
    if (!err)
        return rc;
    if (rc == CF_ENOMEM)
        *err = CF_ERROR(rc, "JSON: not enough memory to build the value");
    else if (rc == CF_EINVAL)
        *err = CF_ERROR(rc, "JSON: invalid argument");
    else
        *err = CF_ERROR(rc, "%s", cf_json_parser_error(p));
    return rc;
}

int cf_json_parse(const char *text, size_t len, const cf_json_limits *limits, cf_json **out,
                  cf_error **err)
{
    if (err)
        *err = NULL;
    if (!out || (!text && len))
        return parse_error(CF_EINVAL, NULL, err);
    *out = NULL;
    size_t max = limits && limits->max_string ? limits->max_string : CF_JSON_DEFAULT_MAX_STRING;
    size_t scratch_len = CF_MIN(max, len ? len : 1);
    char *scratch = cf__malloc(scratch_len);
    cf_json_builder *b = NULL;
    if (!scratch || cf_json_builder_new(&b)) {
        cf__free(scratch);
        return parse_error(CF_ENOMEM, NULL, err);
    }
    cf_json_parser p;
    cf_json_parser_init(&p, cf_json_builder_event, b, scratch, scratch_len);
    if (limits) {
        p.max_depth = limits->max_depth;
        p.max_bytes = limits->max_bytes;
        p.flags = limits->flags;
    }
    int rc = cf_json_parser_feed(&p, text, len);
    if (rc >= 0)
        rc = cf_json_parser_finish(&p);
    if (!rc)
        *out = cf_json_builder_take(b);
    else
        parse_error(rc, &p, err);
    cf_json_builder_free(b);
    cf__free(scratch);
    return rc;
}

/* ---- serializer ---- */

typedef struct writer {
    cf_json_write_cb cb;
    void *data;
    int rc;
    size_t n;
    char buf[4096];
} writer;

static void w_flush(writer *w)
{
    if (w->n && !w->rc)
        w->rc = w->cb(w->buf, w->n, w->data);
    w->n = 0;
}

static void w_put(writer *w, const char *s, size_t len)
{
    if (w->rc)
        return;
    if (len > sizeof w->buf - w->n) {
        w_flush(w);
        if (len >= sizeof w->buf) {
            if (!w->rc)
                w->rc = w->cb(s, len, w->data);
            return;
        }
    }
    memcpy(w->buf + w->n, s, len);
    w->n += len;
}

static void w_puts(writer *w, const char *s)
{
    w_put(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (2-4), or 0; `avail` bytes are readable. */
static size_t utf8_len(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (avail < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return need + 1;
}

/* Escape one byte sequence that is not plain ASCII; returns the bytes consumed. */
static size_t w_special(writer *w, const uint8_t *s, size_t avail)
{
    static const char hex[] = "0123456789abcdef";
    char e[8];
    uint8_t c = s[0];
    const char *simple = NULL;
    switch (c) {
    case '"':
        simple = "\\\"";
        break;
    case '\\':
        simple = "\\\\";
        break;
    case '\b':
        simple = "\\b";
        break;
    case '\f':
        simple = "\\f";
        break;
    case '\n':
        simple = "\\n";
        break;
    case '\r':
        simple = "\\r";
        break;
    case '\t':
        simple = "\\t";
        break;
    default:
        break;
    }
    if (simple) {
        w_puts(w, simple);
        return 1;
    }
    if (c < 0x20) {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        w_put(w, u, 6);
        return 1;
    }
    size_t n = utf8_len(s, avail);
    if (n) {
        w_put(w, (const char *)s, n);
        return n;
    }
    if (c == 0xED && avail >= 3 && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF) {
        unsigned cp = 0xD000u | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        memcpy(e, "\\u", 2);
        for (int i = 0; i < 4; i++)
            e[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
        w_put(w, e, 6);
        return 3;
    }
    w_put(w, "\xEF\xBF\xBD", 3);
    return 1;
}

static void w_string(writer *w, const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str;
    const uint8_t *end = s + len;
    w_put(w, "\"", 1);
    while (s < end) {
        const uint8_t *run = s;
        while (s < end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        if (s > run)
            w_put(w, (const char *)run, (size_t)(s - run));
        if (s < end)
            s += w_special(w, s, (size_t)(end - s));
    }
    w_put(w, "\"", 1);
}

static void w_indent(writer *w, unsigned flags, size_t depth)
{
    static const char spaces[] = "                                ";
    if (!(flags & CF_JSON_PRETTY))
        return;
    w_put(w, "\n", 1);
    size_t n = depth * 2;
    while (n) {
        size_t k = CF_MIN(n, sizeof spaces - 1);
        w_put(w, spaces, k);
        n -= k;
    }
}

static void w_value(writer *w, const cf_json *v, unsigned flags, size_t depth);

static void w_container(writer *w, const cf_json *v, unsigned flags, size_t depth)
{
    int obj = v->type == CF_JSON_OBJECT;
    w_put(w, obj ? "{" : "[", 1);
    if (!v->len) {
        w_put(w, obj ? "}" : "]", 1);
        return;
    }
    for (size_t i = 0; i < v->len && !w->rc; i++) {
        if (i)
            w_put(w, ",", 1);
        w_indent(w, flags, depth + 1);
        if (obj) {
            w_string(w, v->u.members[i].key, v->u.members[i].key_len);
            w_puts(w, flags & CF_JSON_PRETTY ? ": " : ":");
        }
        w_value(w, cf_json_at(v, i), flags, depth + 1);
    }
    w_indent(w, flags, depth);
    w_put(w, obj ? "}" : "]", 1);
}

static void w_value(writer *w, const cf_json *v, unsigned flags, size_t depth)
{
    switch (v->type) {
    case CF_JSON_NULL:
        w_put(w, "null", 4);
        break;
    case CF_JSON_BOOL:
        w_puts(w, v->boolean ? "true" : "false");
        break;
    case CF_JSON_NUMBER:
        w_put(w, v->u.text, v->len);
        break;
    case CF_JSON_STRING:
        w_string(w, v->u.text, v->len);
        break;
    default:
        w_container(w, v, flags, depth);
        break;
    }
}

int cf_json_write(const cf_json *v, unsigned flags, cf_json_write_cb write, void *data)
{
    if (!v || !write)
        return CF_EINVAL;
    writer w;
    w.cb = write;
    w.data = data;
    w.rc = 0;
    w.n = 0;
    w_value(&w, v, flags, 0);
    w_flush(&w);
    return w.rc;
}

static int to_dbuf(const char *bytes, size_t len, void *data)
{
    return cf__dbuf_add(data, bytes, len);
}

int cf_json_stringify(const cf_json *v, unsigned flags, char **out, size_t *len)
{
    if (!out)
        return CF_EINVAL;
    *out = NULL;
    cf_dbuf b = {0};
    cf__dbuf_init(&b, 0);
    int rc = cf_json_write(v, flags, to_dbuf, &b);
    if (rc) {
        cf__dbuf_free(&b);
        return rc;
    }
    *out = cf__dbuf_take(&b, len);
    return *out ? 0 : CF_ENOMEM;
}
