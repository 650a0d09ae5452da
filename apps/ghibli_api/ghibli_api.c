/*
 * The Studio Ghibli API stand-in: the real API's data, routes and JSON output, served by the
 * HTTP server (≈ the real API's json-server app, src/app.js).
 *
 * Loading: the file is read whole, every resource URL prefix of the real API is rewritten to
 * the base URL in the text (only where a JSON string starts, so nothing else can match),
 * and the result is parsed into a DOM. Then, for each resource (a top-level array), the body
 * of the list route (the first 50 items, as the real API's default limit) and the body of
 * each item route are serialized once (≈ JSON.stringify(v, null, 2)) and kept, so the
 * unfiltered routes answer with a head and a precomputed body in one writev, no copy.
 *
 * Queries (fields, limit, filters) build a new array from clones of the matching items and
 * serialize it per request: correct and simple, and not the hot path.
 *
 * Invariants: `resource.items[i]` is the i-th element of `resource.list` (a borrowed node
 * of `root`); bodies are owned by the api and live until ghibli_api_free.
 *
 * Application code: it uses the library's public headers only. Memory comes from cf_malloc
 * and friends (the bodies cf_json_stringify returns are the library's, freed with cf_free),
 * so the library's allocation count covers the stand-in too.
 */
#include "ghibli_api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <calcifer/json.h>

#define DEFAULT_LIMIT 50  /* the real API's default number of items */
#define MAX_LIMIT     250 /* and its maximum */
#define MAX_PARAMS    32
#define JSON_TYPE     "application/json; charset=utf-8"
#define ARRAY_LEN(a)  (sizeof(a) / sizeof((a)[0]))

/* The real API's own addresses, as they appear in its data. */
static const char *const URL_PREFIXES[] = {"https://ghibliapi.herokuapp.com",
                                           "https://ghibliapi.vercel.app"};

typedef struct item {
    const char *id; /* borrowed from the DOM; NULL if the item has no string id */
    char *body;
    size_t len;
    uint64_t off; /* where the body is in the api's memfd */
} item;

typedef struct resource {
    const char *name; /* borrowed from the DOM */
    size_t name_len;
    cf_json *list; /* borrowed from the DOM */
    size_t n;
    char *body; /* the list route's body */
    size_t len;
    uint64_t off;
    item *items;
} resource;

struct ghibli_api {
    cf_json *root;
    char *base;
    resource *res;
    size_t nres;
    char *index;
    size_t index_len;
    uint64_t index_off;
    int fd;    /* a memfd holding every precomputed body, or -1 */
    char *map; /* its read-only mapping: the bodies point here when fd >= 0 */
    size_t map_len;
};

/* ---- a growable byte buffer ---- */

typedef struct gbuf {
    char *data;
    size_t len;
    size_t cap;
} gbuf;

static int gbuf_add(gbuf *b, const void *bytes, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return CF_ENOMEM;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        char *p = cf_realloc(b->data, cap);
        if (!p)
            return CF_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

static int gbuf_adds(gbuf *b, const char *s)
{
    return gbuf_add(b, s, strlen(s));
}

static void gbuf_free(gbuf *b)
{
    cf_free(b->data);
    *b = (gbuf){0};
}

/* ---- loading ---- */

static int read_file(const char *path, gbuf *out, cf_error **err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int code = cf_translate_sys_error(errno);
        if (err)
            *err = CF_ERROR_SYS(code, "open '%s'", path);
        return code;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = gbuf_add(out, chunk, n);
    }
    if (rc == 0 && ferror(f))
        rc = CF_EIO;
    fclose(f);
    if (rc < 0 && err)
        *err = CF_ERROR_SYS(rc, "read '%s'", path);
    return rc;
}

/* Is the quote at text[i] a string's opening quote (not escaped)? */
static int quote_opens(const char *text, size_t i)
{
    size_t bs = 0;
    while (bs < i && text[i - 1 - bs] == '\\') {
        bs++;
    }
    return bs % 2 == 0;
}

/* Copy `text` to `out`, turning `"<real API prefix>/...` into `"<base>/...`. */
static int rewrite_urls(const char *text, size_t len, const char *base, gbuf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '"' || !quote_opens(text, i))
            continue;
        for (size_t k = 0; k < ARRAY_LEN(URL_PREFIXES); k++) {
            size_t pl = strlen(URL_PREFIXES[k]);
            if (len - i - 1 <= pl || memcmp(text + i + 1, URL_PREFIXES[k], pl) != 0)
                continue;
            char after = text[i + 1 + pl];
            if (after != '/' && after != '"')
                continue;
            int rc = gbuf_add(out, text + start, i + 1 - start);
            rc = rc ? rc : gbuf_adds(out, base);
            if (rc < 0)
                return rc;
            start = i + 1 + pl;
            break;
        }
    }
    return gbuf_add(out, text + start, len - start);
}

static int stringify(const cf_json *v, char **out, size_t *len)
{
    return cf_json_stringify(v, CF_JSON_PRETTY, out, len);
}

/* An array of the first `n` elements of `list` (clones), owned by the caller. */
static cf_json *head_of(const cf_json *list, size_t n)
{
    cf_json *arr = cf_json_new_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (cf_json_array_append(arr, cf_json_clone(cf_json_at(list, i))) < 0) {
            cf_json_free(arr);
            return NULL;
        }
    }
    return arr;
}

static int build_resource(resource *r)
{
    int rc;
    if (r->n <= DEFAULT_LIMIT) {
        rc = stringify(r->list, &r->body, &r->len);
    } else {
        cf_json *arr = head_of(r->list, DEFAULT_LIMIT);
        rc = arr ? stringify(arr, &r->body, &r->len) : CF_ENOMEM;
        cf_json_free(arr);
    }
    if (rc < 0)
        return rc;
    r->items = cf_calloc(r->n ? r->n : 1, sizeof *r->items);
    if (!r->items)
        return CF_ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        const cf_json *v = cf_json_at(r->list, i);
        r->items[i].id = cf_json_string(cf_json_get(v, "id"), NULL);
        rc = stringify(v, &r->items[i].body, &r->items[i].len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The "/" route: {"films": "<base>/films", ...}. */
static int build_index(ghibli_api *api)
{
    cf_json *o = cf_json_new_object();
    gbuf url = {0};
    int rc = o ? 0 : CF_ENOMEM;
    for (size_t i = 0; rc == 0 && i < api->nres; i++) {
        url.len = 0;
        rc = gbuf_adds(&url, api->base);
        rc = rc ? rc : gbuf_add(&url, "/", 1);
        rc = rc ? rc : gbuf_add(&url, api->res[i].name, api->res[i].name_len);
        cf_json *s = rc ? NULL : cf_json_new_string(url.data, url.len);
        rc = rc ? rc : cf_json_object_set(o, api->res[i].name, api->res[i].name_len, s);
    }
    gbuf_free(&url);
    if (rc == 0)
        rc = stringify(o, &api->index, &api->index_len);
    cf_json_free(o);
    return rc;
}

static int check_shape(const cf_json *root)
{
    if (cf_json_type_of(root) != CF_JSON_OBJECT)
        return CF_EPARSE;
    for (size_t i = 0; i < cf_json_size(root); i++) {
        const cf_json *list = cf_json_at(root, i);
        if (cf_json_type_of(list) != CF_JSON_ARRAY)
            return CF_EPARSE;
        for (size_t k = 0; k < cf_json_size(list); k++) {
            if (cf_json_type_of(cf_json_at(list, k)) != CF_JSON_OBJECT)
                return CF_EPARSE;
        }
    }
    return 0;
}

static int build(ghibli_api *api)
{
    api->nres = cf_json_size(api->root);
    api->res = cf_calloc(api->nres ? api->nres : 1, sizeof *api->res);
    if (!api->res)
        return CF_ENOMEM;
    for (size_t i = 0; i < api->nres; i++) {
        resource *r = &api->res[i];
        r->name = cf_json_key_at(api->root, i, &r->name_len);
        r->list = cf_json_at(api->root, i);
        r->n = cf_json_size(r->list);
        int rc = build_resource(r);
        if (rc < 0)
            return rc;
    }
    return build_index(api);
}

/* Every precomputed body, in the order pack() lays them out. */
typedef int (*body_fn)(char **body, size_t len, uint64_t *off, void *arg);

static int each_body(ghibli_api *api, body_fn fn, void *arg)
{
    int rc = fn(&api->index, api->index_len, &api->index_off, arg);
    for (size_t i = 0; rc == 0 && i < api->nres; i++) {
        resource *r = &api->res[i];
        rc = fn(&r->body, r->len, &r->off, arg);
        for (size_t k = 0; rc == 0 && k < r->n; k++) {
            rc = fn(&r->items[k].body, r->items[k].len, &r->items[k].off, arg);
        }
    }
    return rc;
}

#define PACK_PAGE 4096u

typedef struct packer {
    int fd;
    uint64_t pos;
    char *map;
} packer;

static int pack_write(char **body, size_t len, uint64_t *off, void *arg)
{
    packer *p = arg;
    /*
     * A page-aligned start keeps a large body on the fewest pages for sendfile(2), and the
     * client's copy out of them aligned; small bodies start on a cache line. The gaps are
     * holes.
     */
    uint64_t align = len >= PACK_PAGE ? PACK_PAGE : 64;
    p->pos = (p->pos + align - 1) & ~(align - 1);
    *off = p->pos;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(p->fd, *body + done, len - done, (off_t)(p->pos + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? cf_translate_sys_error(errno) : CF_EIO;
        done += (size_t)n;
    }
    p->pos += len;
    return 0;
}

static int pack_point(char **body, size_t len, uint64_t *off, void *arg)
{
    (void)len;
    packer *p = arg;
    cf_free(*body);
    *body = p->map + *off;
    return 0;
}

/*
 * The file the bodies live in: an unnamed file of the temporary folder's filesystem
 * (O_TMPFILE) if it can have one, else a memfd. sendfile(2) from a disk filesystem's page cache
 * measured 3-4% faster than from a memfd (shmem) serving /films to wrk here, which is what
 * nginx does too; both are memory once written, and the file has no name to leave behind.
 */
static int body_file(void)
{
    const char *dir = getenv("TMPDIR");
    int fd;
    do {
        fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0)
        return fd;
    return memfd_create("calcifer-ghibli-api", MFD_CLOEXEC);
}

/*
 * Move the bodies into one unnamed file, mapped read-only, so the server can send them with
 * sendfile(2) (no copy into the socket). Without such a file the bodies stay on the heap.
 */
static void pack(ghibli_api *api)
{
    packer p = {body_file(), 0, NULL};
    if (p.fd < 0)
        return;
    if (each_body(api, pack_write, &p) < 0 || p.pos == 0) {
        close(p.fd);
        return;
    }
    void *map = mmap(NULL, (size_t)p.pos, PROT_READ, MAP_SHARED, p.fd, 0);
    if (map == MAP_FAILED) {
        close(p.fd);
        return;
    }
    p.map = map;
    each_body(api, pack_point, &p);
    api->fd = p.fd;
    api->map = map;
    api->map_len = (size_t)p.pos;
}

static int load(ghibli_api *api, const char *path, cf_error **err)
{
    gbuf text = {0};
    gbuf fixed = {0};
    int rc = read_file(path, &text, err);
    if (rc == 0)
        rc = rewrite_urls(text.data ? text.data : "", text.len, api->base, &fixed);
    gbuf_free(&text);
    if (rc == 0) {
        cf_error *perr = NULL;
        rc = cf_json_parse(fixed.data ? fixed.data : "", fixed.len, NULL, &api->root, &perr);
        if (rc < 0 && err)
            *err =
                CF_ERROR(rc, "Ghibli data '%s': %s", path, perr ? perr->message : cf_strerror(rc));
        cf_error_free(perr);
    }
    gbuf_free(&fixed);
    if (rc == 0 && check_shape(api->root) < 0) {
        rc = CF_EPARSE;
        if (err)
            *err = CF_ERROR(rc, "Ghibli data '%s': expected an object of arrays of objects", path);
    }
    return rc;
}

int ghibli_api_new(const char *data_path, const char *base_url, ghibli_api **out, cf_error **err)
{
    if (err)
        *err = NULL;
    if (!base_url || !out)
        return CF_EINVAL;
    char found[PATH_MAX];
    if (!data_path) {
        int rc = ghibli_api_find_data(found, sizeof found);
        if (rc < 0) {
            if (err)
                *err = CF_ERROR(rc, "Ghibli data: no data file found (set %s)", GHIBLI_DATA_ENV);
            return rc;
        }
        data_path = found;
    }
    ghibli_api *api = cf_calloc(1, sizeof *api);
    if (!api)
        return CF_ENOMEM;
    api->fd = -1;
    size_t bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/') {
        bl--;
    }
    api->base = cf_malloc(bl + 1);
    if (api->base) {
        memcpy(api->base, base_url, bl);
        api->base[bl] = '\0';
    }
    int rc = api->base ? load(api, data_path, err) : CF_ENOMEM;
    if (rc == 0)
        rc = build(api);
    if (rc == 0)
        pack(api);
    if (rc < 0) {
        if (rc == CF_ENOMEM && err && !*err)
            *err = CF_ERROR(rc, "Ghibli data '%s': %s", data_path, cf_strerror(rc));
        ghibli_api_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void ghibli_api_free(ghibli_api *api)
{
    if (!api)
        return;
    int heap = api->fd < 0;
    for (size_t i = 0; api->res && i < api->nres; i++) {
        resource *r = &api->res[i];
        for (size_t k = 0; heap && r->items && k < r->n; k++) {
            cf_free(r->items[k].body);
        }
        cf_free(r->items);
        if (heap)
            cf_free(r->body);
    }
    cf_free(api->res);
    if (heap) {
        cf_free(api->index);
    } else {
        munmap(api->map, api->map_len);
        close(api->fd);
    }
    cf_json_free(api->root);
    cf_free(api->base);
    cf_free(api);
}

size_t ghibli_api_count(const ghibli_api *api, const char *resource_name)
{
    for (size_t i = 0; api && resource_name && i < api->nres; i++) {
        if (strcmp(api->res[i].name, resource_name) == 0)
            return api->res[i].n;
    }
    return 0;
}

/* ---- finding the data ---- */

static int try_path(char *buf, size_t len, const char *path)
{
    if (access(path, R_OK) != 0)
        return CF_ENOENT;
    if (strlen(path) >= len)
        return CF_ENOBUFS;
    memcpy(buf, path, strlen(path) + 1);
    return 0;
}

/* Candidates next to the running executable: installed, then a build tree in the sources. */
static int try_exe(char *buf, size_t len)
{
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return CF_ENOENT;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash)
        return CF_ENOENT;
    *slash = '\0';
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/../share/calcifer/ghibli.json", dir);
    int rc = try_path(buf, len, path);
    for (int up = 0; rc == CF_ENOENT && up < 5; up++) {
        snprintf(path, sizeof path, "%s/data/ghibli.json", dir);
        rc = try_path(buf, len, path);
        slash = strrchr(dir, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    return rc;
}

int ghibli_api_find_data(char *buf, size_t len)
{
    if (!buf || !len)
        return CF_EINVAL;
    const char *env = getenv(GHIBLI_DATA_ENV);
    if (env && *env) {
        if (strlen(env) >= len)
            return CF_ENOBUFS;
        memcpy(buf, env, strlen(env) + 1);
        return 0;
    }
    int rc = CF_ENOENT;
#ifdef GHIBLI_API_DEFAULT_DATA
    rc = try_path(buf, len, GHIBLI_API_DEFAULT_DATA);
#endif
    if (rc == CF_ENOENT)
        rc = try_exe(buf, len);
    if (rc == CF_ENOENT)
        rc = try_path(buf, len, "data/ghibli.json");
    return rc;
}

/* ---- answering ---- */

static void send_json(cf_http_res *res, int status, char *body, size_t len)
{
    cf_http_res_set_status(res, status, NULL);
    cf_http_res_set_header(res, "Content-Type", JSON_TYPE);
    cf_http_res_end(res, body, len);
}

/* An error answer: {"status": 404, "error": "Not Found", "message": "..."}. */
static void send_error(cf_http_res *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void send_error(cf_http_res *res, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *reason = cf_http_status_reason(status);
    cf_json *o = cf_json_new_object();
    int rc = o ? 0 : CF_ENOMEM;
    rc = rc ? rc : cf_json_object_set(o, "status", 6, cf_json_new_i64(status));
    rc = rc ? rc : cf_json_object_set(o, "error", 5, cf_json_new_string(reason, strlen(reason)));
    rc = rc ? rc : cf_json_object_set(o, "message", 7, cf_json_new_string(msg, strlen(msg)));
    char *body = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = stringify(o, &body, &len);
    cf_json_free(o);
    if (rc < 0) {
        cf_http_res_send(res, 500, NULL, NULL, 0);
        return;
    }
    send_json(res, status, body, len);
    cf_free(body);
}

/* The parsed query: decoded in a copy of its text. */
typedef struct query {
    char *text;
    cf_http_field params[MAX_PARAMS];
    size_t n;
    const char *fields;    /* NULL: every field */
    long limit;            /* -1: the default */
    const char *bad_limit; /* the value of a `limit` that is not a non-negative integer */
} query;

static int parse_limit(const char *s, long *out)
{
    if (!*s)
        return CF_EINVAL;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return CF_EINVAL;
        v = v > 1000000 ? v : v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* Decode the query; fails with CF_EINVAL (a bad escape or limit) or CF_ENOMEM. */
static int parse_query(const char *qs, size_t len, query *q)
{
    q->text = cf_malloc(len + 1);
    if (!q->text)
        return CF_ENOMEM;
    memcpy(q->text, qs, len);
    q->text[len] = '\0';
    size_t pos = 0;
    cf_http_field p;
    while (cf_http_query_next(q->text, len, &pos, &p)) {
        char *name = (char *)p.name;
        char *value = (char *)p.value;
        long nl = cf_http_url_decode(name, p.name_len, name, 1);
        long vl = cf_http_url_decode(value, p.value_len, value, 1);
        if (nl < 0 || vl < 0)
            return CF_EINVAL;
        name[nl] = '\0';
        value[vl] = '\0';
        if (strcmp(name, "fields") == 0) {
            q->fields = *value ? value : NULL;
        } else if (strcmp(name, "limit") == 0) {
            if (parse_limit(value, &q->limit) < 0) {
                q->bad_limit = value;
                return CF_EINVAL;
            }
        } else if (q->n < MAX_PARAMS) {
            q->params[q->n++] = (cf_http_field){name, (size_t)nl, value, (size_t)vl};
        }
    }
    return 0;
}

/* Does the scalar `v` read as `text`? */
static int scalar_is(const cf_json *v, const char *text, size_t len)
{
    size_t vl = 0;
    const char *s = NULL;
    switch (cf_json_type_of(v)) {
    case CF_JSON_STRING:
        s = cf_json_string(v, &vl);
        break;
    case CF_JSON_NUMBER:
        s = cf_json_number_text(v, &vl);
        break;
    case CF_JSON_BOOL:
        s = cf_json_bool(v) ? "true" : "false";
        vl = strlen(s);
        break;
    case CF_JSON_NULL:
        s = "null";
        vl = 4;
        break;
    default:
        return 0;
    }
    return vl == len && memcmp(s, text, len) == 0;
}

static int value_matches(const cf_json *v, const char *text, size_t len)
{
    if (cf_json_type_of(v) != CF_JSON_ARRAY)
        return scalar_is(v, text, len);
    for (size_t i = 0; i < cf_json_size(v); i++) {
        if (scalar_is(cf_json_at(v, i), text, len))
            return 1;
    }
    return 0;
}

/* Every filter key must match one of its values. */
static int item_matches(const cf_json *item_v, const query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        int seen = 0;
        int ok = 0;
        for (size_t k = 0; k < i; k++) {
            seen |= strcmp(q->params[k].name, q->params[i].name) == 0;
        }
        if (seen)
            continue;
        const cf_json *v = cf_json_get(item_v, q->params[i].name);
        for (size_t k = i; k < q->n && !ok; k++) {
            if (strcmp(q->params[k].name, q->params[i].name) == 0)
                ok = v && value_matches(v, q->params[k].value, q->params[k].value_len);
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static int field_wanted(const char *fields, const char *key, size_t klen)
{
    const char *p = fields;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == klen && memcmp(p, key, n) == 0)
            return 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* A copy of `v`, keeping only the wanted keys (in `v`'s order). */
static cf_json *project(const cf_json *v, const char *fields)
{
    if (!fields)
        return cf_json_clone(v);
    cf_json *o = cf_json_new_object();
    for (size_t i = 0; o && i < cf_json_size(v); i++) {
        size_t kl;
        const char *key = cf_json_key_at(v, i, &kl);
        if (!field_wanted(fields, key, kl))
            continue;
        if (cf_json_object_set(o, key, kl, cf_json_clone(cf_json_at(v, i))) < 0) {
            cf_json_free(o);
            return NULL;
        }
    }
    return o;
}

static void send_value(cf_http_res *res, cf_json *v)
{
    char *body = NULL;
    size_t len = 0;
    int rc = v ? stringify(v, &body, &len) : CF_ENOMEM;
    cf_json_free(v);
    if (rc < 0) {
        send_error(res, 500, "%s", cf_strerror(rc));
        return;
    }
    send_json(res, 200, body, len);
    cf_free(body);
}

static void answer_list(cf_http_res *res, const resource *r, const query *q)
{
    long limit = q->limit < 0 ? DEFAULT_LIMIT : (q->limit < MAX_LIMIT ? q->limit : MAX_LIMIT);
    cf_json *arr = cf_json_new_array();
    for (size_t i = 0; arr && i < r->n && (long)cf_json_size(arr) < limit; i++) {
        const cf_json *v = cf_json_at(r->list, i);
        if (!item_matches(v, q))
            continue;
        if (cf_json_array_append(arr, project(v, q->fields)) < 0) {
            cf_json_free(arr);
            arr = NULL;
        }
    }
    send_value(res, arr);
}

static void answer_static(const ghibli_api *api, cf_http_res *res, const char *body, size_t len,
                          uint64_t off)
{
    cf_http_res_set_header(res, "Content-Type", JSON_TYPE);
    if (api->fd >= 0)
        cf_http_res_end_file(res, api->fd, off, body, len);
    else
        cf_http_res_end_ref(res, body, len);
}

static void answer_item(const ghibli_api *api, cf_http_res *res, const resource *r, const char *id,
                        size_t id_len, const query *q, int plain)
{
    for (size_t i = 0; i < r->n; i++) {
        const item *it = &r->items[i];
        if (!it->id || strlen(it->id) != id_len || memcmp(it->id, id, id_len) != 0)
            continue;
        if (plain)
            answer_static(api, res, it->body, it->len, it->off);
        else
            send_value(res, project(cf_json_at(r->list, i), q->fields));
        return;
    }
    send_error(res, 404, "no %.*s item with id '%.*s'", (int)r->name_len, r->name, (int)id_len, id);
}

static const resource *find_resource(const ghibli_api *api, const char *name, size_t len)
{
    for (size_t i = 0; i < api->nres; i++) {
        if (api->res[i].name_len == len && memcmp(api->res[i].name, name, len) == 0)
            return &api->res[i];
    }
    return NULL;
}

/* Route a decoded path ("/films/<id>") with its query. */
static void route(const ghibli_api *api, cf_http_res *res, const char *path, size_t len,
                  const query *q, int plain)
{
    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    if (len == 1) {
        answer_static(api, res, api->index, api->index_len, api->index_off);
        return;
    }
    const char *name = path + 1;
    const char *slash = memchr(name, '/', len - 1);
    size_t nl = slash ? (size_t)(slash - name) : len - 1;
    const resource *r = find_resource(api, name, nl);
    if (!r) {
        send_error(res, 404, "no route for '%.*s'", (int)len, path);
        return;
    }
    if (!slash) {
        if (plain)
            answer_static(api, res, r->body, r->len, r->off);
        else
            answer_list(res, r, q);
        return;
    }
    const char *id = slash + 1;
    size_t id_len = len - (size_t)(id - path);
    if (memchr(id, '/', id_len)) {
        send_error(res, 404, "no route for '%.*s'", (int)len, path);
        return;
    }
    answer_item(api, res, r, id, id_len, q, plain);
}

void ghibli_api_handle(cf_http_incoming *req, cf_http_res *res, void *data)
{
    const ghibli_api *api = data;
    cf_http_method m = cf_http_incoming_method(req);
    if (m != CF_HTTP_METHOD_GET && m != CF_HTTP_METHOD_HEAD) {
        cf_http_res_set_header(res, "Allow", "GET, HEAD");
        send_error(res, 405, "method %s is not allowed", cf_http_incoming_method_name(req));
        return;
    }
    size_t plen, qlen;
    const char *raw = cf_http_incoming_path(req, &plen);
    const char *qs = cf_http_incoming_query(req, &qlen);
    char path[1024];
    long n = plen < sizeof path ? cf_http_url_decode(raw, plen, path, 0) : CF_ETOOBIG;
    if (n < 0 || n == 0 || path[0] != '/') {
        send_error(res, n == CF_ETOOBIG ? 404 : 400, "bad path '%.*s'", (int)plen, raw);
        return;
    }
    query q = {0};
    q.limit = -1;
    int rc = qlen ? parse_query(qs, qlen, &q) : 0;
    if (rc == CF_ENOMEM) {
        send_error(res, 500, "%s", cf_strerror(rc));
    } else if (rc < 0 && q.bad_limit) {
        send_error(res, 400, "limit must be a non-negative integer, not '%s'", q.bad_limit);
    } else if (rc < 0) {
        send_error(res, 400, "malformed query string");
    } else {
        int plain = !q.fields && q.limit < 0 && q.n == 0;
        route(api, res, path, (size_t)n, &q, plain);
    }
    cf_free(q.text);
}

/* ---- an in-process server ---- */

struct ghibli_server {
    cf_http_server *http;
    ghibli_api *api;
    int port;
    char url[128];
    cf_close_cb close_cb;
    void *close_data;
};

static void serve(cf_http_incoming *req, cf_http_res *res, void *data)
{
    ghibli_server *s = data;
    ghibli_api_handle(req, res, s->api);
}

static void url_for(ghibli_server *s, const char *host)
{
    if (!host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    if (strchr(host, ':'))
        snprintf(s->url, sizeof s->url, "http://[%s]:%d", host, s->port);
    else
        snprintf(s->url, sizeof s->url, "http://%s:%d", host, s->port);
}

static void ghibli_free(void *data)
{
    ghibli_server *s = data;
    if (s->close_cb)
        s->close_cb(s->close_data);
    ghibli_api_free(s->api);
    cf_free(s);
}

int ghibli_server_start(cf_loop *loop, const ghibli_server_opts *opts, ghibli_server **out,
                        cf_error **err)
{
    if (err)
        *err = NULL;
    if (!loop || !out)
        return CF_EINVAL;
    ghibli_server_opts o = {0};
    if (opts)
        o = *opts;
    ghibli_server *s = cf_calloc(1, sizeof *s);
    if (!s)
        return CF_ENOMEM;
    const char *host = o.host ? o.host : "127.0.0.1";
    int rc = cf_http_server_new(loop, o.http, serve, s, &s->http);
    if (rc == 0) {
        rc = cf_http_server_listen(s->http, host, o.port);
        if (rc < 0 && err)
            *err = CF_ERROR_SYS(rc, "listen %s:%d", host, o.port);
    }
    if (rc == 0) {
        s->port = cf_http_server_port(s->http);
        url_for(s, host);
        rc = ghibli_api_new(o.data_path, o.base_url ? o.base_url : s->url, &s->api, err);
    }
    if (rc < 0) {
        if (s->http)
            cf_http_server_close(s->http, ghibli_free, s);
        else
            cf_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int ghibli_server_port(const ghibli_server *s)
{
    return s ? s->port : 0;
}

const char *ghibli_server_url(const ghibli_server *s)
{
    return s ? s->url : NULL;
}

cf_http_server *ghibli_server_http(const ghibli_server *s)
{
    return s ? s->http : NULL;
}

ghibli_api *ghibli_server_api(const ghibli_server *s)
{
    return s ? s->api : NULL;
}

int ghibli_server_close(ghibli_server *s, cf_close_cb cb, void *data)
{
    if (!s)
        return CF_EINVAL;
    int rc = cf_http_server_close(s->http, ghibli_free, s);
    if (rc == 0) {
        s->close_cb = cb;
        s->close_data = data;
    }
    return rc;
}

static void close_settle(void *data)
{
    cf_promise *p = data;
    cf_promise_resolve(p, NULL, NULL);
    cf_promise_release(p);
}

cf_promise *ghibli_server_close_p(ghibli_server *s)
{
    cf_promise *p = cf_promise_new(s ? cf_http_server_loop(s->http) : NULL);
    if (!p)
        return NULL;
    int rc = ghibli_server_close(s, close_settle, cf_promise_retain(p));
    if (rc < 0) {
        cf_promise_release(p);
        cf_promise_reject(p, CF_ERROR(rc, "Ghibli server close: %s", cf_strerror(rc)));
    }
    return p;
}
