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
#include "data/json_dom.h"
#include "data/json_path.h"
#include "data/utf8.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/util.h"

typedef struct member {
    char *key; /* NUL-terminated; on the heap when key_heap, else in the tree's arena */
    size_t key_len;
    cf_json *value;
    int key_heap;
} member;

/* Node flags. */
#define IN_ARENA   0x1 /* the node lives in an arena: never freed on its own */
#define ARENA_ROOT 0x2 /* the node owns its arena (see root_arena): freeing it frees the arena */
#define VEC_HEAP   0x4 /* u.items / u.members is a heap block of `cap` entries */

struct cf_json {
    cf_json_type type;
    unsigned char boolean;
    unsigned char flags;
    size_t len; /* bytes of a string or number; elements; members */
    size_t cap; /* capacity of the vector */
    union {
        char *text;
        cf_json **items;
        member *members;
    } u;
    char inline_text[];
};

/*
 * Arenas. A tree made by the builder (cf_json_parse, the selector) is carved out of a list of
 * chunks: nodes, keys and exact-size vectors are bump-allocated, and the root records the
 * arena's first chunk, so freeing the root frees the chunks in one sweep (a 100 MB document
 * is a few hundred blocks, not millions). Changes made later through the public API
 * allocate on the heap (VEC_HEAP, key_heap), and freeing walks the tree for those.
 */
typedef struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    _Alignas(max_align_t) char data[];
} chunk;

/* An arena: chunks in allocation order; `cur` is the one being filled. */
typedef struct arena {
    chunk *first;
    chunk *cur;
    size_t first_size; /* bytes of the first chunk; 0: CHUNK_FIRST */
} arena;

#define CHUNK_MIN   256u
#define CHUNK_FIRST (4u << 10)
#define CHUNK_MAX   (1u << 20)

static void chunks_free(chunk *c)
{
    while (c) {
        chunk *next = c->next;
        cf__free(c);
        c = next;
    }
}

/* Bump-allocate `size` bytes (8-aligned), reusing emptied chunks before adding one. */
static void *arena_alloc(arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    chunk *c = a->cur;
    while (c && c->size - c->used < size && c->next)
        c = c->next;
    if (!c || c->size - c->used < size) {
        size_t first = a->first_size ? a->first_size : CHUNK_FIRST;
        size_t want = c ? CF_MIN(c->size * 2, (size_t)CHUNK_MAX) : first;
        if (want < size)
            want = size;
        if (want > SIZE_MAX - sizeof(chunk))
            return NULL;
        chunk *n = cf__malloc(sizeof(chunk) + want);
        if (!n)
            return NULL;
        n->next = NULL;
        n->size = want;
        n->used = 0;
        if (c)
            c->next = n;
        else
            a->first = n;
        c = n;
    }
    a->cur = c;
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

/* The root of an arena tree carries the arena's first chunk just before its header. */
#define ROOT_PREFIX sizeof(chunk *)

static chunk **root_arena(cf_json *v)
{
    return (chunk **)(void *)((char *)v - ROOT_PREFIX);
}

/* ---- values ---- */

static void node_setup(cf_json *v, cf_json_type type, unsigned char flags)
{
    v->type = type;
    v->boolean = 0;
    v->flags = flags;
    v->len = 0;
    v->cap = 0;
    v->u.items = NULL;
}

/* A node on the heap, or in arena `a` when it is not NULL. */
static cf_json *node_alloc(arena *a, cf_json_type type, size_t extra)
{
    cf_json *v = a ? arena_alloc(a, sizeof *v + extra) : cf__malloc(sizeof *v + extra);
    if (v)
        node_setup(v, type, a ? IN_ARENA : 0);
    return v;
}

static cf_json *node_new(cf_json_type type, size_t extra)
{
    return node_alloc(NULL, type, extra);
}

static cf_json *text_alloc(arena *a, cf_json_type type, const char *s, size_t len)
{
    if (len > SIZE_MAX / 2)
        return NULL;
    cf_json *v = node_alloc(a, type, len + 1);
    if (!v)
        return NULL;
    if (len)
        memcpy(v->inline_text, s, len);
    v->inline_text[len] = '\0';
    v->u.text = v->inline_text;
    v->len = len;
    return v;
}

static cf_json *text_node(cf_json_type type, const char *s, size_t len)
{
    return text_alloc(NULL, type, s, len);
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

/* Free what `v` owns on the heap; `v` itself too unless it lives in an arena, and its
 * whole arena when it is an arena's root. */
void cf_json_free(cf_json *v)
{
    if (!v)
        return;
    if (v->type == CF_JSON_ARRAY) {
        for (size_t i = 0; i < v->len; i++)
            cf_json_free(v->u.items[i]);
    } else if (v->type == CF_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            if (v->u.members[i].key_heap)
                cf__free(v->u.members[i].key);
            cf_json_free(v->u.members[i].value);
        }
    }
    if (v->flags & VEC_HEAP)
        cf__free(v->u.items);
    if (v->flags & ARENA_ROOT)
        chunks_free(*root_arena(v));
    else if (!(v->flags & IN_ARENA))
        cf__free(v);
}

/* Make room for one more entry of `size` bytes in a container's vector. A vector in an
 * arena moves to the heap the first time it grows. */
static int grow(cf_json *v, size_t size)
{
    if (v->len < v->cap)
        return 0;
    size_t n = v->cap ? v->cap * 2 : 4;
    if (n > SIZE_MAX / size)
        return CF_ENOMEM;
    void *old = v->u.items;
    void *p = v->flags & VEC_HEAP ? cf__realloc(old, n * size) : cf__malloc(n * size);
    if (!p)
        return CF_ENOMEM;
    if (!(v->flags & VEC_HEAP) && v->len)
        memcpy(p, old, v->len * size);
    v->u.items = p;
    v->cap = n;
    v->flags |= VEC_HEAP;
    return 0;
}

int cf_json_array_append(cf_json *arr, cf_json *item)
{
    if (!arr || !item || arr->type != CF_JSON_ARRAY) {
        cf_json_free(item);
        return CF_EINVAL;
    }
    if (grow(arr, sizeof(cf_json *))) {
        cf_json_free(item);
        return CF_ENOMEM;
    }
    arr->u.items[arr->len++] = item;
    return 0;
}

/* Append a member; takes `key` (a cf__malloc'd NUL-terminated copy) and `value`. */
static int add_member(cf_json *obj, char *key, size_t key_len, cf_json *value)
{
    if (grow(obj, sizeof(member))) {
        cf__free(key);
        cf_json_free(value);
        return CF_ENOMEM;
    }
    obj->u.members[obj->len++] = (member){key, key_len, value, 1};
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

cf_json *cf__json_path_steps(const cf_json *v, const cf__json_step *steps, size_t m)
{
    for (size_t i = 0; v && i < m; i++)
        v = step_into(v, &steps[i]);
    return (cf_json *)v;
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
            if (ma->key_len != mb->key_len || memcmp(ma->key, mb->key, ma->key_len) != 0)
                return 0;
        }
        if (!cf_json_equal(cf_json_at(a, i), cf_json_at(b, i)))
            return 0;
    }
    return 1;
}

/* ---- builder ---- */

/*
 * The builder allocates the tree in an arena. An open container collects its children on
 * the builder's `kids` stack (a member for each, the key set only in objects); when it
 * closes, they are copied into one exact-size vector in the arena and popped.
 */
struct cf_json_builder {
    arena arena;
    cf_json *root;
    struct frame {
        cf_json *node; /* an open container */
        size_t base;   /* index of its first child in `kids` */
    } * open;          /* innermost last */
    size_t depth;
    size_t open_cap;
    member *kids;
    size_t nkids;
    size_t kids_cap;
    char *key; /* the pending member name, in the arena */
    size_t key_len;
};

int cf_json_builder_new(cf_json_builder **out)
{
    if (!out)
        return CF_EINVAL;
    *out = cf__calloc(1, sizeof **out);
    return *out ? 0 : CF_ENOMEM;
}

/* The root: a node with the arena's first chunk recorded in front of it. */
static cf_json *root_alloc(cf_json_builder *b, cf_json_type type, size_t extra)
{
    char *p = arena_alloc(&b->arena, ROOT_PREFIX + sizeof(cf_json) + extra);
    if (!p)
        return NULL;
    cf_json *v = (cf_json *)(void *)(p + ROOT_PREFIX);
    node_setup(v, type, IN_ARENA | ARENA_ROOT);
    *root_arena(v) = b->arena.first;
    return v;
}

static cf_json *event_node(cf_json_builder *b, const cf_json_event *ev)
{
    static const cf_json_type types[] = {[CF_JSON_EV_OBJECT_START] = CF_JSON_OBJECT,
                                         [CF_JSON_EV_ARRAY_START] = CF_JSON_ARRAY,
                                         [CF_JSON_EV_STRING] = CF_JSON_STRING,
                                         [CF_JSON_EV_NUMBER] = CF_JSON_NUMBER,
                                         [CF_JSON_EV_TRUE] = CF_JSON_BOOL,
                                         [CF_JSON_EV_FALSE] = CF_JSON_BOOL,
                                         [CF_JSON_EV_NULL] = CF_JSON_NULL};
    cf_json_type type = types[ev->kind];
    int text = type == CF_JSON_STRING || type == CF_JSON_NUMBER;
    size_t extra = text ? ev->len + 1 : 0;
    cf_json *v = b->depth ? node_alloc(&b->arena, type, extra) : root_alloc(b, type, extra);
    if (!v)
        return NULL;
    v->boolean = ev->kind == CF_JSON_EV_TRUE;
    if (text) {
        if (ev->len)
            memcpy(v->inline_text, ev->text, ev->len);
        v->inline_text[ev->len] = '\0';
        v->u.text = v->inline_text;
        v->len = ev->len;
    }
    return v;
}

/* Grow a builder stack (heap, reused from one tree to the next). */
static int reserve(void **vec, size_t *cap, size_t len, size_t size)
{
    if (len < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    if (n > SIZE_MAX / size)
        return CF_ENOMEM;
    void *p = cf__realloc(*vec, n * size);
    if (!p)
        return CF_ENOMEM;
    *vec = p;
    *cap = n;
    return 0;
}

/* A value begins: make its node and add it to the innermost open container. */
static int begin_value(cf_json_builder *b, const cf_json_event *ev)
{
    if (!b->depth && b->root)
        return CF_EINVAL; /* a second top-level value */
    int opens = ev->kind == CF_JSON_EV_OBJECT_START || ev->kind == CF_JSON_EV_ARRAY_START;
    if (reserve((void **)&b->kids, &b->kids_cap, b->nkids, sizeof(member)) ||
        (opens && reserve((void **)&b->open, &b->open_cap, b->depth, sizeof(struct frame))))
        return CF_ENOMEM;
    int in_object = b->depth && b->open[b->depth - 1].node->type == CF_JSON_OBJECT;
    if (in_object && !b->key)
        return CF_EINVAL;
    cf_json *v = event_node(b, ev);
    if (!v)
        return CF_ENOMEM;
    if (!b->depth)
        b->root = v;
    else
        b->kids[b->nkids++] = (member){in_object ? b->key : NULL, b->key_len, v, 0};
    b->key = NULL;
    if (opens)
        b->open[b->depth++] = (struct frame){v, b->nkids};
    return 0;
}

/* The innermost container closes: its children move into one vector in the arena. */
static int end_container(cf_json_builder *b)
{
    if (!b->depth)
        return CF_EINVAL;
    cf_json *v = b->open[--b->depth].node;
    size_t first = b->open[b->depth].base;
    size_t n = b->nkids - first;
    int obj = v->type == CF_JSON_OBJECT;
    if (n) {
        void *vec = arena_alloc(&b->arena, n * (obj ? sizeof(member) : sizeof(cf_json *)));
        if (!vec)
            return CF_ENOMEM;
        v->u.items = vec;
        for (size_t i = 0; i < n; i++) {
            if (obj)
                v->u.members[i] = b->kids[first + i];
            else
                v->u.items[i] = b->kids[first + i].value;
        }
    }
    v->len = n;
    v->cap = n;
    b->nkids = first;
    return 0;
}

static int set_key(cf_json_builder *b, const cf_json_event *ev)
{
    if (!b->depth)
        return CF_EINVAL;
    b->key = arena_alloc(&b->arena, ev->len + 1);
    if (!b->key)
        return CF_ENOMEM;
    if (ev->len)
        memcpy(b->key, ev->text, ev->len);
    b->key[ev->len] = '\0';
    b->key_len = ev->len;
    return 0;
}

int cf_json_builder_event(const cf_json_event *ev, void *builder)
{
    cf_json_builder *b = builder;
    if (!ev || !b || ev->kind < CF_JSON_EV_OBJECT_START || ev->kind > CF_JSON_EV_NULL)
        return CF_EINVAL;
    if (ev->kind == CF_JSON_EV_OBJECT_END || ev->kind == CF_JSON_EV_ARRAY_END)
        return end_container(b);
    if (ev->kind == CF_JSON_EV_KEY)
        return set_key(b, ev);
    return begin_value(b, ev);
}

cf_json *cf_json_builder_take(cf_json_builder *b)
{
    if (!b || !b->root || b->depth)
        return NULL;
    cf_json *v = b->root;
    /* The next tree starts with a first chunk the size of this one (at most CHUNK_FIRST):
     * a stream of small trees, such as projected elements, then makes small blocks, which
     * the allocator serves from its small-size caches. */
    size_t used = 0;
    for (const chunk *c = b->arena.first; c; c = c->next)
        used += c->used;
    size_t first = CHUNK_MIN;
    while (first < used && first < CHUNK_FIRST)
        first *= 2;
    b->arena.first_size = first;
    b->root = NULL;
    b->arena.first = NULL;
    b->arena.cur = NULL;
    return v;
}

/* Drop the tree in progress (its arena goes with it). */
static void builder_clear(cf_json_builder *b)
{
    if (b->root)
        cf_json_free(b->root); /* frees the arena, partial containers included */
    else
        chunks_free(b->arena.first);
    b->root = NULL;
    b->arena.first = NULL;
    b->arena.cur = NULL;
    b->depth = 0;
    b->nkids = 0;
    b->key = NULL;
}

void cf__json_builder_recycle(cf_json_builder *b, cf_json *item)
{
    builder_clear(b);
    if (!item)
        return;
    chunk *first = *root_arena(item);
    item->flags &= (unsigned char)~ARENA_ROOT;
    cf_json_free(item); /* what was added on the heap; the nodes stay in the arena */
    for (chunk *c = first; c; c = c->next)
        c->used = 0;
    b->arena.first = first;
    b->arena.cur = first;
}

void cf_json_builder_free(cf_json_builder *b)
{
    if (!b)
        return;
    builder_clear(b);
    cf__free(b->open);
    cf__free(b->kids);
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
    unsigned lo;
    unsigned hi;
    size_t need = cf__utf8_lead(s[0], &lo, &hi);
    if (!need)
        return 0;
    if (avail < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return need + 1;
}

/* The two-character escape of `c`, as JSON.stringify writes it, or NULL. */
static const char *short_escape(uint8_t c)
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        return NULL;
    }
}

/* Write "\u" and four lowercase hex digits. */
static void w_u_escape(writer *w, unsigned cp)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 'u'};
    for (int i = 0; i < 4; i++)
        e[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
    w_put(w, e, 6);
}

/* Escape one byte sequence that is not plain ASCII; returns the bytes consumed. */
static size_t w_special(writer *w, const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    const char *esc = short_escape(c);
    if (esc) {
        w_put(w, esc, 2);
        return 1;
    }
    if (c < 0x20) {
        w_u_escape(w, c);
        return 1;
    }
    size_t n = utf8_len(s, avail);
    if (n) {
        w_put(w, (const char *)s, n);
        return n;
    }
    /* A lone surrogate in generalized UTF-8 (ED A0..BF 80..BF), as JSON.stringify does. */
    if (c == 0xED && avail >= 3 && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF) {
        w_u_escape(w, 0xD000u | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu));
        return 3;
    }
    w_put(w, "\xEF\xBF\xBD", 3); /* U+FFFD for a byte that is not UTF-8 */
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
