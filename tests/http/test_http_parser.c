/*
 * Tests of the incremental HTTP/1.1 parser: heads, framing, every rejection class with its
 * status code, limits, pipelining, chunked bodies with extensions and trailers, keep-alive
 * rules, splits down to one byte at a time (in moving buffers), responses, the helpers, and a
 * guard-page test proving no read past the caller's buffer (model: picohttpparser test.c).
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "util/util.h"

#define MAX_HDRS 16

/* Everything a connection's worth of input produced. */
typedef struct drive_result {
    int rc;       /* 0, or the first negative code */
    int messages; /* heads parsed */
    int ended;    /* bodies finished */
    unsigned flags[8];
    char body[4096];
    size_t body_len;
    char trailers[1024]; /* "name=value;" for each trailer field */
    size_t consumed;
    cf_http_parse_error err; /* why rc < 0 */
} drive_result;

typedef struct driver {
    cf_http_parser p;
    cf_http_field hdrs[MAX_HDRS];
    cf_http_request_head req;
    int in_body;
    drive_result *res;
} driver;

static void driver_init(driver *d, drive_result *res, const cf_http_parser_config *cfg)
{
    memset(d, 0, sizeof(*d));
    memset(res, 0, sizeof(*res));
    ASSERT_OK(cf_http_parser_init(&d->p, CF_HTTP_PARSER_REQUEST, cfg));
    d->res = res;
}

static void add_trailer(drive_result *r, const cf_http_field *h)
{
    size_t room = sizeof(r->trailers) - strlen(r->trailers);
    snprintf(r->trailers + strlen(r->trailers), room, "%.*s=%.*s;", (int)h->name_len, h->name,
             (int)h->value_len, h->value);
}

/* Feed what is pending; returns the bytes consumed. Stops at the first error. */
static size_t pump(driver *d, const char *buf, size_t len)
{
    size_t off = 0;
    drive_result *r = d->res;
    while (r->rc == 0) {
        if (!d->in_body) {
            d->req = (cf_http_request_head){.headers = d->hdrs, .max_headers = MAX_HDRS};
            int n = cf_http_parse_request(&d->p, buf + off, len - off, &d->req);
            if (n <= 0) {
                r->rc = n;
                return off;
            }
            off += (size_t)n;
            r->flags[r->messages++ % 8] = d->req.flags;
            d->in_body = 1;
            continue;
        }
        cf_http_body_event ev;
        int k = cf_http_parse_body(&d->p, buf + off, len - off, &ev);
        off += ev.consumed;
        if (k < 0) {
            r->rc = k;
        } else if (k == CF_HTTP_BODY_DATA) {
            ASSERT(r->body_len + ev.len <= sizeof(r->body));
            memcpy(r->body + r->body_len, ev.data, ev.len);
            r->body_len += ev.len;
        } else if (k == CF_HTTP_BODY_TRAILER) {
            add_trailer(r, &ev.trailer);
        } else if (k == CF_HTTP_BODY_END) {
            r->ended++;
            d->in_body = 0;
        } else {
            return off;
        }
    }
    return off;
}

/* Parse `len` bytes whole, or split every `step` bytes into a new buffer each time. */
static void drive(const char *in, size_t len, size_t step, const cf_http_parser_config *cfg,
                  drive_result *res)
{
    driver d;
    driver_init(&d, res, cfg);
    if (step == 0) {
        res->consumed = pump(&d, in, len);
        res->err = cf_http_parser_error(&d.p);
        return;
    }
    char *pending = NULL;
    size_t np = 0;
    for (size_t i = 0; i < len && res->rc == 0; i += step) {
        size_t k = CF_MIN(step, len - i);
        char *next = malloc(np + k);
        ASSERT_PTR(next);
        if (np)
            memcpy(next, pending, np);
        memcpy(next + np, in + i, k);
        free(pending);
        pending = next;
        np += k;
        size_t used = pump(&d, pending, np);
        memmove(pending, pending + used, np - used);
        np -= used;
        res->consumed += used;
    }
    free(pending);
    res->err = cf_http_parser_error(&d.p);
}

static void drive_str(const char *in, drive_result *res)
{
    drive(in, strlen(in), 0, NULL, res);
}

/* Every split (whole, 1, 2, 3, 7 bytes) gives the same outcome. */
static void drive_all_splits(const char *in, const cf_http_parser_config *cfg, drive_result *res)
{
    static const size_t steps[] = {1, 2, 3, 7};
    drive(in, strlen(in), 0, cfg, res);
    for (size_t i = 0; i < CF_ARRAY_LEN(steps); i++) {
        drive_result other;
        drive(in, strlen(in), steps[i], cfg, &other);
        ASSERT_EQ(other.rc, res->rc);
        ASSERT_EQ(other.messages, res->messages);
        ASSERT_EQ(other.ended, res->ended);
        ASSERT_EQ(other.body_len, res->body_len);
        ASSERT_MEM_EQ(other.body, res->body, res->body_len);
        ASSERT_STR_EQ(other.trailers, res->trailers);
        if (res->rc >= 0) /* after an error, what was consumed does not matter */
            ASSERT_EQ(other.consumed, res->consumed);
    }
}

/* ---- heads ---- */

static void test_http_parser_parses_a_simple_get(void)
{
    static const char in[] = "GET /films?limit=2 HTTP/1.1\r\nHost: example.com\r\n"
                             "Accept:  */*  \r\nX-Empty:\r\n\r\n";
    cf_http_parser p;
    memset(&p, 0, sizeof(p)); /* zeroed = request parser with defaults */
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    int n = cf_http_parse_request(&p, in, sizeof(in) - 1, &req);
    ASSERT_EQ(n, sizeof(in) - 1);
    ASSERT_EQ(req.method_len, 3);
    ASSERT_MEM_EQ(req.method, "GET", 3);
    ASSERT_EQ(req.method_id, CF_HTTP_METHOD_GET);
    ASSERT_EQ(req.target_len, 14);
    ASSERT_MEM_EQ(req.target, "/films?limit=2", 14);
    ASSERT_EQ(req.minor_version, 1);
    ASSERT_EQ(req.num_headers, 3);
    ASSERT_EQ(h[1].name_len, 6);
    ASSERT_MEM_EQ(h[1].name, "Accept", 6);
    ASSERT_EQ(h[1].value_len, 3);
    ASSERT_MEM_EQ(h[1].value, "*/*", 3);
    ASSERT_EQ(h[2].value_len, 0);
    ASSERT_EQ(req.flags, CF_HTTP_MSG_KEEP_ALIVE);
    ASSERT_EQ(req.content_length, 0);
    cf_http_body_event ev;
    ASSERT_EQ(cf_http_parse_body(&p, in + n, 0, &ev), CF_HTTP_BODY_END);
    ASSERT_EQ(ev.consumed, 0);
}

static void test_http_parser_reports_need_more_until_the_empty_line(void)
{
    static const char in[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    cf_http_parser p;
    ASSERT_OK(cf_http_parser_init(&p, CF_HTTP_PARSER_REQUEST, NULL));
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    size_t head = strlen(in) - 5;
    for (size_t k = 0; k < head; k++)
        ASSERT_EQ(cf_http_parse_request(&p, in, k, &req), CF_HTTP_NEED_MORE);
    ASSERT_EQ(cf_http_parse_request(&p, in, strlen(in), &req), head);
    ASSERT_EQ(req.flags, CF_HTTP_MSG_KEEP_ALIVE | CF_HTTP_MSG_CONTENT_LENGTH);
    ASSERT_EQ(req.content_length, 5);
    cf_http_body_event ev;
    ASSERT_EQ(cf_http_parse_body(&p, in + head, 2, &ev), CF_HTTP_BODY_DATA);
    ASSERT_EQ(ev.len, 2);
    ASSERT_EQ(cf_http_parse_body(&p, in + head + 2, 3, &ev), CF_HTTP_BODY_DATA);
    ASSERT_MEM_EQ(ev.data, "llo", 3);
    ASSERT_EQ(cf_http_parse_body(&p, in + head + 5, 0, &ev), CF_HTTP_BODY_END);
}

/* Spans stay right when the caller's buffer moves between calls (they are rebuilt once). */
static void test_http_parser_survives_a_moving_buffer(void)
{
    static const char in[] = "PUT /a HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nX-Two:  two \r\n\r\n";
    size_t len = strlen(in);
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    char *a = malloc(len);
    ASSERT_PTR(a);
    memcpy(a, in, len);
    ASSERT_EQ(cf_http_parse_request(&p, a, 30, &req), CF_HTTP_NEED_MORE);
    char *b = malloc(len);
    ASSERT_PTR(b);
    memcpy(b, a, len);
    memset(a, 'x', len); /* the old copy is garbage now */
    ASSERT_EQ(cf_http_parse_request(&p, b, len, &req), len);
    ASSERT_EQ(req.num_headers, 3);
    ASSERT(req.method == b && req.target == b + 4);
    ASSERT(h[0].name == b + 17);
    ASSERT_MEM_EQ(h[2].value, "two", 3);
    ASSERT_EQ(h[2].value_len, 3);
    free(a);
    free(b);
}

static void test_http_parser_skips_empty_lines_before_a_request(void)
{
    drive_result r;
    drive_all_splits("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL, &r);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(r.messages, 1);
    ASSERT_EQ(r.ended, 1);
}

/* ---- rejections ---- */

typedef struct bad_case {
    const char *in;
    size_t len;
    cf_http_parse_error err;
    int status;
} bad_case;

#define BAD(in, err, status)                                                                       \
    {                                                                                              \
        in, sizeof(in) - 1, err, status                                                            \
    }

static const bad_case bad_cases[] = {
    BAD("GET / HTTP/1.1\nHost: a\r\n\r\n", CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\n\n", CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_METHOD, 400),
    BAD(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_METHOD, 400),
    BAD("BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_METHOD_UNKNOWN, 501),
    BAD("get / HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_METHOD_UNKNOWN, 501),
    BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_TARGET, 400),
    BAD("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_TARGET, 400),
    BAD("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_TARGET, 400),
    BAD("GET films HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_TARGET, 400),
    BAD("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_TARGET, 400),
    BAD("GET / HTTP/1.2\r\nHost: a\r\n\r\n", CF_HTTP_ERR_VERSION_UNSUPPORTED, 505),
    BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", CF_HTTP_ERR_VERSION_UNSUPPORTED, 505),
    BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", CF_HTTP_ERR_VERSION, 400),
    BAD("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", CF_HTTP_ERR_VERSION, 400),
    BAD("GET / HTTP/1.11\r\nHost: a\r\n\r\n", CF_HTTP_ERR_VERSION, 400),
    BAD("GET /\r\n\r\n", CF_HTTP_ERR_TARGET, 400),
    BAD("GET / HTTP/1.1\r\nHo@st: a\r\n\r\n", CF_HTTP_ERR_HEADER_NAME, 400),
    BAD("GET / HTTP/1.1\r\n: a\r\n\r\n", CF_HTTP_ERR_HEADER_NAME, 400),
    BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", CF_HTTP_ERR_HEADER_SPACE, 400),
    BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", CF_HTTP_ERR_HEADER_SPACE, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n", CF_HTTP_ERR_HEADER_VALUE, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", CF_HTTP_ERR_HEADER_VALUE, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: 1\x00\r\n\r\n", CF_HTTP_ERR_HEADER_VALUE, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", CF_HTTP_ERR_OBS_FOLD, 400),
    BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", CF_HTTP_ERR_OBS_FOLD, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", CF_HTTP_ERR_CONTENT_LENGTH,
        400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", CF_HTTP_ERR_CONTENT_LENGTH, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", CF_HTTP_ERR_CONTENT_LENGTH, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", CF_HTTP_ERR_CONTENT_LENGTH,
        400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", CF_HTTP_ERR_CONTENT_LENGTH,
        400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", CF_HTTP_ERR_CONTENT_LENGTH, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
        CF_HTTP_ERR_CONTENT_LENGTH, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx",
        CF_HTTP_ERR_CONTENT_LENGTH_DUP, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        CF_HTTP_ERR_TE_AND_CL, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        CF_HTTP_ERR_TE_AND_CL, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        CF_HTTP_ERR_TRANSFER_ENCODING, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        CF_HTTP_ERR_TRANSFER_ENCODING, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
        "\r\n",
        CF_HTTP_ERR_TRANSFER_ENCODING, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n",
        CF_HTTP_ERR_TRANSFER_ENCODING, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", CF_HTTP_ERR_TRANSFER_ENCODING,
        400),
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        CF_HTTP_ERR_TRANSFER_ENCODING, 400),
    BAD("GET / HTTP/1.1\r\n\r\n", CF_HTTP_ERR_HOST_MISSING, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", CF_HTTP_ERR_HOST_DUP, 400),
    BAD("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", CF_HTTP_ERR_EXPECT, 417),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
        CF_HTTP_ERR_CHUNK_SIZE, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        CF_HTTP_ERR_CHUNK_SIZE, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n",
        CF_HTTP_ERR_CHUNK_SIZE, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000000\r\n",
        CF_HTTP_ERR_CHUNK_SIZE, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;\r\na\r\n0\r\n\r\n",
        CF_HTTP_ERR_CHUNK_EXT, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"b\r\n",
        CF_HTTP_ERR_CHUNK_EXT, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b c\r\n",
        CF_HTTP_ERR_CHUNK_EXT, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        CF_HTTP_ERR_CHUNK_DATA, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\r\n",
        CF_HTTP_ERR_CHUNK_DATA, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\ra",
        CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n",
        CF_HTTP_ERR_HEADER_SPACE, 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\r",
        CF_HTTP_ERR_LINE_ENDING, 400),
    BAD("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", CF_HTTP_ERR_DATA_AFTER_CLOSE, 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\r\nX", CF_HTTP_ERR_DATA_AFTER_CLOSE,
        400),
};

static void test_http_parser_rejects_each_class_with_its_status(void)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(bad_cases); i++) {
        const bad_case *c = &bad_cases[i];
        int code =
            (c->status == 413 || c->status == 414 || c->status == 431) ? CF_ETOOBIG : CF_EPARSE;
        for (size_t step = 0; step <= 3; step++) {
            drive_result r;
            drive(c->in, c->len, step, NULL, &r);
            if (r.rc != code || r.err != c->err)
                fprintf(stderr, "case %zu step %zu: rc %d err %d\n", i, step, r.rc, (int)r.err);
            ASSERT_EQ(r.rc, code);
            ASSERT_EQ(r.err, c->err);
        }
        ASSERT_EQ(cf_http_parse_error_status(c->err), c->status);
    }
    /* Errors are sticky. */
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_request_head req = {0};
    ASSERT_EQ(cf_http_parse_request(&p, "GET \x01", 5, &req), CF_EPARSE);
    ASSERT_EQ(cf_http_parse_request(&p, "GET / HTTP/1.1\r\n\r\n", 18, &req), CF_EPARSE);
    ASSERT_EQ(cf_http_parse_finish(&p), CF_EPARSE);
    ASSERT_EQ(cf_http_parser_error(&p), CF_HTTP_ERR_TARGET);
}

/* A smuggling attempt fails as soon as its line ends, before the head is complete. */
static void test_http_parser_fails_early_on_conflicting_framing(void)
{
    static const char in[] = "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n";
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_request_head req = {0};
    cf_http_field h[4];
    req.headers = h;
    req.max_headers = 4;
    ASSERT_EQ(cf_http_parse_request(&p, in, sizeof(in) - 1, &req), CF_EPARSE);
    ASSERT_EQ(cf_http_parser_error(&p), CF_HTTP_ERR_CONTENT_LENGTH_DUP);
    ASSERT_EQ(cf_http_parser_error_offset(&p), 36);
}

/* ---- limits ---- */

static void make_request_with_target(char *buf, size_t cap, size_t target_len)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, cap, "GET /");
    memset(buf + n, 'a', target_len - 1);
    n += target_len - 1;
    snprintf(buf + n, cap - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
}

static void test_http_parser_limits_the_target_414(void)
{
    static char buf[20000];
    drive_result r;
    make_request_with_target(buf, sizeof(buf), 8192);
    drive_str(buf, &r);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(r.messages, 1);
    make_request_with_target(buf, sizeof(buf), 8193);
    driver d;
    driver_init(&d, &r, NULL);
    pump(&d, buf, strlen(buf));
    ASSERT_EQ(r.rc, CF_ETOOBIG);
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_TARGET_TOO_LONG);
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_TARGET_TOO_LONG), 414);
    /* Detected without waiting for the rest of the line. */
    driver_init(&d, &r, NULL);
    pump(&d, buf, 8200);
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_TARGET_TOO_LONG);
    /* A configured limit. */
    cf_http_parser_config cfg = {.max_target_len = 10};
    make_request_with_target(buf, sizeof(buf), 10);
    drive(buf, strlen(buf), 0, &cfg, &r);
    ASSERT_EQ(r.rc, 0);
    make_request_with_target(buf, sizeof(buf), 11);
    drive(buf, strlen(buf), 1, &cfg, &r);
    ASSERT_EQ(r.rc, CF_ETOOBIG);
}

/* A head of exactly `len` bytes, padded by one header. */
static size_t make_head(char *buf, size_t len)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t n = sizeof(pre) - 1;
    memcpy(buf, pre, n);
    memset(buf + n, 'v', len - n - 4);
    memcpy(buf + len - 4, "\r\n\r\n", 4);
    return len;
}

static void test_http_parser_limits_the_head_431(void)
{
    static char buf[40000];
    drive_result r;
    size_t len = make_head(buf, 16384);
    drive(buf, len, 0, NULL, &r);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(r.messages, 1);
    len = make_head(buf, 16385);
    driver d;
    driver_init(&d, &r, NULL);
    pump(&d, buf, len);
    ASSERT_EQ(r.rc, CF_ETOOBIG);
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_HEAD_TOO_LARGE);
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_HEAD_TOO_LARGE), 431);
    /* A buffer of max_head_len bytes is enough to know. */
    driver_init(&d, &r, NULL);
    pump(&d, buf, 16384);
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_HEAD_TOO_LARGE);
    /* Byte at a time, configured. */
    cf_http_parser_config cfg = {.max_head_len = 100};
    len = make_head(buf, 100);
    drive(buf, len, 1, &cfg, &r);
    ASSERT_EQ(r.rc, 0);
    len = make_head(buf, 101);
    drive(buf, len, 1, &cfg, &r);
    ASSERT_EQ(r.rc, CF_ETOOBIG);
}

static void test_http_parser_limits_header_count_431(void)
{
    char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < MAX_HDRS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: %d\r\n", i, i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    drive_result r;
    drive_str(buf, &r);
    ASSERT_EQ(r.rc, 0);
    snprintf(buf + n, sizeof(buf) - n, "X-last: 1\r\n\r\n");
    driver d;
    driver_init(&d, &r, NULL);
    pump(&d, buf, strlen(buf));
    ASSERT_EQ(r.rc, CF_ETOOBIG);
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_TOO_MANY_HEADERS);
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_TOO_MANY_HEADERS), 431);
}

static void test_http_parser_limits_the_body_413(void)
{
    cf_http_parser_config cfg = {.max_body_len = 10};
    drive_result r;
    driver d;
    driver_init(&d, &r, &cfg);
    pump(&d, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 48);
    ASSERT_EQ(r.rc, CF_ETOOBIG);
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_BODY_TOO_LARGE);
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_BODY_TOO_LARGE), 413);
    drive_all_splits("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", &cfg,
                     &r);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(r.body_len, 10);
    /* Chunked: the total counts, checked when each chunk size is known. */
    drive_all_splits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\n012345\r\n5\r\n01234\r\n0\r\n\r\n",
                     &cfg, &r);
    ASSERT_EQ(r.rc, CF_ETOOBIG);
    ASSERT_EQ(r.body_len, 6);
    drive_all_splits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\n012345\r\n4\r\n0123\r\n0\r\n\r\n",
                     &cfg, &r);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(r.body_len, 10);
}

static void test_http_parser_limits_chunk_lines_and_trailers(void)
{
    static char buf[20000];
    size_t n = (size_t)snprintf(
        buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;x=");
    memset(buf + n, 'y', CF_HTTP_MAX_CHUNK_LINE);
    snprintf(buf + n + CF_HTTP_MAX_CHUNK_LINE, sizeof(buf) - n - CF_HTTP_MAX_CHUNK_LINE,
             "\r\na\r\n0\r\n\r\n");
    drive_result r;
    driver d;
    driver_init(&d, &r, NULL);
    pump(&d, buf, strlen(buf));
    ASSERT_EQ(cf_http_parser_error(&d.p), CF_HTTP_ERR_CHUNK_LINE);
    cf_http_parser_config cfg = {.max_head_len = 64};
    drive_all_splits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\nA: 0123456789012345678901234567890123456789\r\nB: 01234567890123456789"
                     "012345678901234567890123\r\n\r\n",
                     &cfg, &r);
    ASSERT_EQ(r.rc, CF_ETOOBIG);
    ASSERT_STR_EQ(r.trailers, "A=0123456789012345678901234567890123456789;");
}

/* ---- framing ---- */

static void test_http_parser_pipelines_requests(void)
{
    static const char in[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nAAA"
                             "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
                             "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "2\r\nCC\r\n0\r\n\r\n"
                             "GET /d HTTP/1.1\r\nHost: h\r\n";
    drive_result r;
    drive_all_splits(in, NULL, &r);
    ASSERT_EQ(r.rc, CF_HTTP_NEED_MORE);
    ASSERT_EQ(r.messages, 3);
    ASSERT_EQ(r.ended, 3);
    ASSERT_EQ(r.body_len, 5);
    ASSERT_MEM_EQ(r.body, "AAACC", 5);
    ASSERT_EQ(r.consumed, strlen(in) - strlen("GET /d HTTP/1.1\r\nHost: h\r\n"));

    /* The head call alone reports where the next message starts. */
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    int n = cf_http_parse_request(&p, in, sizeof(in) - 1, &req);
    ASSERT_EQ(n, strstr(in, "AAA") - in);
    cf_http_body_event ev;
    ASSERT_EQ(cf_http_parse_body(&p, in + n, sizeof(in) - 1 - (size_t)n, &ev), CF_HTTP_BODY_DATA);
    ASSERT_EQ(ev.len, 3);
    /* A finished body ends implicitly when the next head is asked for. */
    int m = cf_http_parse_request(&p, in + n + 3, sizeof(in) - 4 - (size_t)n, &req);
    ASSERT_EQ(m, strlen("GET /b HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_MEM_EQ(req.target, "/b", 2);
}

static void test_http_parser_decodes_chunks_with_extensions_and_trailers(void)
{
    static const char in[] = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n"
                             "\r\n"
                             "5;name=value;flag;q=\"a \\\"b\\\" c\"\r\nhello\r\n"
                             "A\r\n, world!!!\r\n"
                             "000;last\r\n"
                             "Checksum: abc\r\nX-Note:  two words \r\n\r\n";
    drive_result r;
    drive_all_splits(in, NULL, &r);
    ASSERT_EQ(r.rc, CF_HTTP_NEED_MORE);
    ASSERT_EQ(r.ended, 1);
    ASSERT_EQ(r.flags[0], CF_HTTP_MSG_KEEP_ALIVE | CF_HTTP_MSG_CHUNKED | CF_HTTP_MSG_TE_OTHER);
    ASSERT_EQ(r.body_len, 15);
    ASSERT_MEM_EQ(r.body, "hello, world!!!", 15);
    ASSERT_STR_EQ(r.trailers, "Checksum=abc;X-Note=two words;");
    ASSERT_EQ(r.consumed, sizeof(in) - 1);
}

static void test_http_parser_keeps_partial_trailer_lines_unconsumed(void)
{
    static const char in[] =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\n\r\n";
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    int n = cf_http_parse_request(&p, in, sizeof(in) - 1, &req);
    ASSERT(n > 0);
    const char *b = in + n;
    cf_http_body_event ev;
    /* "0\r\nA: " : the size line is consumed, the partial trailer is not. */
    ASSERT_EQ(cf_http_parse_body(&p, b, 6, &ev), CF_HTTP_BODY_NEED_MORE);
    ASSERT_EQ(ev.consumed, 3);
    ASSERT_EQ(cf_http_parse_body(&p, b + 3, 5, &ev), CF_HTTP_BODY_NEED_MORE);
    ASSERT_EQ(ev.consumed, 0);
    ASSERT_EQ(cf_http_parse_body(&p, b + 3, 6, &ev), CF_HTTP_BODY_TRAILER);
    ASSERT_EQ(ev.consumed, 6);
    ASSERT_MEM_EQ(ev.trailer.name, "A", 1);
    ASSERT_MEM_EQ(ev.trailer.value, "1", 1);
    ASSERT_EQ(cf_http_parse_body(&p, b + 9, 8, &ev), CF_HTTP_BODY_TRAILER);
    ASSERT_EQ(cf_http_parse_body(&p, b + 15, 2, &ev), CF_HTTP_BODY_END);
    ASSERT_EQ(ev.consumed, 2);
}

static void test_http_parser_reports_expect_continue(void)
{
    drive_result r;
    drive_str("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
              &r);
    ASSERT_EQ(r.rc, CF_HTTP_NEED_MORE);
    ASSERT_EQ(r.flags[0],
              CF_HTTP_MSG_KEEP_ALIVE | CF_HTTP_MSG_CONTENT_LENGTH | CF_HTTP_MSG_EXPECT_CONTINUE);
    /* HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1). */
    drive_str("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", &r);
    ASSERT_EQ(r.flags[0], CF_HTTP_MSG_CONTENT_LENGTH);
}

static unsigned head_flags(const char *in)
{
    drive_result r;
    drive_str(in, &r);
    ASSERT_EQ(r.messages, 1);
    return r.flags[0];
}

static void test_http_parser_applies_keep_alive_rules(void)
{
    ASSERT_EQ(head_flags("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), CF_HTTP_MSG_KEEP_ALIVE);
    ASSERT_EQ(head_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), 0);
    ASSERT_EQ(head_flags("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"), 0);
    ASSERT_EQ(head_flags("GET / HTTP/1.0\r\n\r\n"), 0);
    ASSERT_EQ(head_flags("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
              CF_HTTP_MSG_KEEP_ALIVE);
    ASSERT_EQ(head_flags("GET / HTTP/1.0\r\nConnection: foo,  keep-alive \r\n\r\n"),
              CF_HTTP_MSG_KEEP_ALIVE);
    /* HTTP/1.0 keep-alive allows the next request; plain 1.0 does not. */
    drive_result r;
    drive_str("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", &r);
    ASSERT_EQ(r.messages, 2);
    ASSERT_EQ(r.rc, CF_HTTP_NEED_MORE);
}

static void test_http_parser_reports_upgrade_and_connect(void)
{
    ASSERT_EQ(head_flags("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: "
                         "websocket\r\n\r\n"),
              CF_HTTP_MSG_KEEP_ALIVE | CF_HTTP_MSG_UPGRADE);
    /* Upgrade without Connection: upgrade is not an upgrade. */
    ASSERT_EQ(head_flags("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"),
              CF_HTTP_MSG_KEEP_ALIVE);
    /* CONNECT: no body, whatever the headers say; the tunnel starts after the head. */
    static const char in[] = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                             "Content-Length: 10\r\n\r\n\x16\x03\x01";
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    int n = cf_http_parse_request(&p, in, sizeof(in) - 1, &req);
    ASSERT_EQ(n, sizeof(in) - 4);
    ASSERT_EQ(req.method_id, CF_HTTP_METHOD_CONNECT);
    ASSERT_EQ(req.flags, CF_HTTP_MSG_KEEP_ALIVE | CF_HTTP_MSG_TUNNEL);
    ASSERT_EQ(req.content_length, 0);
    cf_http_body_event ev;
    ASSERT_EQ(cf_http_parse_body(&p, in + n, 3, &ev), CF_HTTP_BODY_END);
    ASSERT_EQ(ev.consumed, 0);
}

static void test_http_parser_accepts_target_forms(void)
{
    ASSERT_EQ(head_flags("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), CF_HTTP_MSG_KEEP_ALIVE);
    ASSERT_EQ(head_flags("GET http://h:80/x?y HTTP/1.1\r\nHost: h\r\n\r\n"),
              CF_HTTP_MSG_KEEP_ALIVE);
    ASSERT_EQ(head_flags("GET /a|b\"c{d}#frag HTTP/1.1\r\nHost: h\r\n\r\n"),
              CF_HTTP_MSG_KEEP_ALIVE);
    ASSERT_EQ(head_flags("M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n"), CF_HTTP_MSG_KEEP_ALIVE);
}

static void test_http_parser_accepts_obs_text_and_tabs_in_values(void)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nX:\t\xff v\t1 \t\r\n\r\n";
    cf_http_parser p;
    memset(&p, 0, sizeof(p));
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    ASSERT_EQ(cf_http_parse_request(&p, in, sizeof(in) - 1, &req), sizeof(in) - 1);
    ASSERT_EQ(h[1].value_len, 5);
    ASSERT_MEM_EQ(h[1].value, "\xff v\t1", 5);
}

/* ---- responses ---- */

static int parse_response(cf_http_parser *p, const char *in, cf_http_method m,
                          cf_http_response_head *resp, cf_http_field *h)
{
    *resp = (cf_http_response_head){.headers = h, .max_headers = 4, .request_method = m};
    return cf_http_parse_response(p, in, strlen(in), resp);
}

static void test_http_parser_parses_responses(void)
{
    cf_http_parser p;
    cf_http_field h[4];
    cf_http_response_head resp;
    cf_http_body_event ev;
    ASSERT_OK(cf_http_parser_init(&p, CF_HTTP_PARSER_RESPONSE, NULL));
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    int n = parse_response(&p, in, 0, &resp, h);
    ASSERT_EQ(n, 38);
    ASSERT_EQ(resp.status, 200);
    ASSERT_EQ(resp.reason_len, 2);
    ASSERT_EQ(resp.flags, CF_HTTP_MSG_KEEP_ALIVE | CF_HTTP_MSG_CONTENT_LENGTH);
    ASSERT_EQ(cf_http_parse_body(&p, in + n, 2, &ev), CF_HTTP_BODY_DATA);
    ASSERT_EQ(cf_http_parse_body(&p, in + n + 2, 0, &ev), CF_HTTP_BODY_END);
    /* HEAD: no body despite Content-Length; 1xx then the final response. */
    in = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
    ASSERT(parse_response(&p, in, CF_HTTP_METHOD_HEAD, &resp, h) > 0);
    ASSERT_EQ(cf_http_parse_body(&p, "", 0, &ev), CF_HTTP_BODY_END);
    in = "HTTP/1.1 100 Continue\r\n\r\n";
    ASSERT_EQ(parse_response(&p, in, 0, &resp, h), (int)strlen(in));
    ASSERT_EQ(cf_http_parse_body(&p, "", 0, &ev), CF_HTTP_BODY_END);
    /* A body delimited by the close ends with cf_http_parse_finish. */
    in = "HTTP/1.0 200\r\n\r\nall of it";
    n = parse_response(&p, in, 0, &resp, h);
    ASSERT_EQ(n, 16);
    ASSERT_EQ(resp.reason_len, 0);
    ASSERT_EQ(resp.flags, CF_HTTP_MSG_UNTIL_CLOSE);
    ASSERT_EQ(cf_http_parse_body(&p, in + n, 9, &ev), CF_HTTP_BODY_DATA);
    ASSERT_EQ(ev.len, 9);
    ASSERT_EQ(cf_http_parse_finish(&p), CF_HTTP_BODY_END);
    /* A request parser refuses response calls and the other way round. */
    cf_http_request_head req = {0};
    ASSERT_EQ(cf_http_parse_request(&p, "GET", 3, &req), CF_EINVAL);
    ASSERT_OK(cf_http_parser_init(&p, CF_HTTP_PARSER_RESPONSE, NULL));
    ASSERT_EQ(parse_response(&p, "HTTP/1.1 20 OK\r\n\r\n", 0, &resp, h), CF_EPARSE);
    ASSERT_EQ(cf_http_parser_error(&p), CF_HTTP_ERR_STATUS);
}

/* ---- end of input, misuse ---- */

static void test_http_parser_finish_tells_clean_from_truncated(void)
{
    cf_http_parser p;
    cf_http_field h[4];
    cf_http_request_head req = {.headers = h, .max_headers = 4};
    memset(&p, 0, sizeof(p));
    ASSERT_EQ(cf_http_parse_finish(&p), 0);
    memset(&p, 0, sizeof(p));
    ASSERT_EQ(cf_http_parse_request(&p, "GET / HT", 8, &req), 0);
    ASSERT_EQ(cf_http_parse_finish(&p), CF_EPARSE);
    ASSERT_EQ(cf_http_parser_error(&p), CF_HTTP_ERR_INCOMPLETE);
    static const char in[] = "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab";
    memset(&p, 0, sizeof(p));
    int n = cf_http_parse_request(&p, in, sizeof(in) - 1, &req);
    ASSERT(n > 0);
    ASSERT_EQ(cf_http_parse_finish(&p), CF_EPARSE);
    memset(&p, 0, sizeof(p));
    ASSERT(cf_http_parse_request(&p, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, &req) > 0);
    ASSERT_EQ(cf_http_parse_finish(&p), 0);
}

static void test_http_parser_rejects_misuse(void)
{
    cf_http_parser p;
    cf_http_request_head req = {0};
    cf_http_body_event ev;
    memset(&p, 0, sizeof(p));
    ASSERT_EQ(cf_http_parser_init(NULL, CF_HTTP_PARSER_REQUEST, NULL), CF_EINVAL);
    ASSERT_EQ(cf_http_parser_init(&p, (cf_http_parser_kind)7, NULL), CF_EINVAL);
    ASSERT_EQ(cf_http_parse_request(NULL, "", 0, &req), CF_EINVAL);
    ASSERT_EQ(cf_http_parse_request(&p, NULL, 3, &req), CF_EINVAL);
    ASSERT_EQ(cf_http_parse_body(&p, "", 0, &ev), CF_EINVAL); /* no head yet */
    cf_http_field h[2];
    req.headers = h;
    req.max_headers = 2;
    static const char in[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
    ASSERT(cf_http_parse_request(&p, in, sizeof(in) - 1, &req) > 0);
    ASSERT_EQ(cf_http_parse_request(&p, in, sizeof(in) - 1, &req), CF_EINVAL); /* body pending */
    cf_http_parser_reset(&p);
    ASSERT(cf_http_parse_request(&p, in, sizeof(in) - 1, &req) > 0);
    ASSERT_EQ(cf_http_parser_error(&p), CF_HTTP_ERR_NONE);
}

/* ---- helpers ---- */

static void test_http_parser_helpers(void)
{
    cf_http_field h[3] = {{"Accept", 6, "a", 1}, {"X-Y", 3, "1", 1}, {"x-y", 3, "2", 1}};
    const cf_http_field *f = cf_http_field_find(h, 3, "X-y", NULL);
    ASSERT(f == &h[1]);
    ASSERT(cf_http_field_find(h, 3, "x-Y", f) == &h[2]);
    ASSERT(cf_http_field_find(h, 3, "x-y", &h[2]) == NULL);
    ASSERT(cf_http_field_find(h, 3, "Accep", NULL) == NULL);
    const char *v = " gzip ,, Keep-Alive\t, upgrade";
    ASSERT_EQ(cf_http_token_list_has(v, strlen(v), "keep-alive"), 1);
    ASSERT_EQ(cf_http_token_list_has(v, strlen(v), "UPGRADE"), 1);
    ASSERT_EQ(cf_http_token_list_has(v, strlen(v), "keep"), 0);
    ASSERT_EQ(cf_http_token_list_has(v, strlen(v), "close"), 0);
    ASSERT_EQ(cf_http_token_list_has("", 0, "close"), 0);
    ASSERT_STR_EQ(cf_http_status_reason(200), "OK");
    ASSERT_STR_EQ(cf_http_status_reason(404), "Not Found");
    ASSERT_STR_EQ(cf_http_status_reason(431), "Request Header Fields Too Large");
    ASSERT_STR_EQ(cf_http_status_reason(511), "Network Authentication Required");
    ASSERT(cf_http_status_reason(299) == NULL);
    ASSERT_STR_EQ(cf_http_method_name(CF_HTTP_METHOD_M_SEARCH), "M-SEARCH");
    ASSERT(cf_http_method_name((cf_http_method)999) == NULL);
    ASSERT_EQ(cf_http_method_lookup("PATCH", 5), CF_HTTP_METHOD_PATCH);
    ASSERT_EQ(cf_http_method_lookup("PATC", 4), CF_HTTP_METHOD_NONE);
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_EXPECT), 417);
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_METHOD_UNKNOWN), 501);
    ASSERT_STR_EQ(cf_http_parse_error_message(CF_HTTP_ERR_CONTENT_LENGTH),
                  "invalid Content-Length");
    ASSERT_EQ(cf_http_parse_error_status(CF_HTTP_ERR_NONE), 0);
}

/* ---- no read past the buffer ---- */

static const char *const guard_inputs[] = {
    "GET /films HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\\\"\"\r\nhello\r\n"
     "0\r\nT: v\r\n\r\n"),
    "\r\nGET http://x:1/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n",
    "GET / HTTP/9.9\r\n",
    "BREW / HTTP/1.1\r\n",
};

/*
 * Each prefix of each input sits at the very end of a readable page followed by a
 * PROT_NONE page: a read past the caller's `len` faults.
 */
static void test_http_parser_never_reads_past_the_buffer(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *map =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(map != MAP_FAILED);
    ASSERT_OK(mprotect(map + page, (size_t)page, PROT_NONE));
    for (size_t i = 0; i < CF_ARRAY_LEN(guard_inputs); i++) {
        size_t len = strlen(guard_inputs[i]);
        for (size_t k = 0; k <= len; k++) {
            char *at = map + page - k;
            memcpy(at, guard_inputs[i], k);
            drive_result r;
            driver d;
            driver_init(&d, &r, NULL);
            pump(&d, at, k);
            cf_http_parse_finish(&d.p);
            /* And as a response parser, for the shared field scanner. */
            cf_http_parser rp;
            cf_http_field h[4];
            cf_http_response_head resp = {.headers = h, .max_headers = 4};
            cf_http_parser_init(&rp, CF_HTTP_PARSER_RESPONSE, NULL);
            cf_http_parse_response(&rp, at, k, &resp);
        }
    }
    ASSERT_OK(munmap(map, (size_t)page * 2));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_parser_parses_a_simple_get);
    CF_TEST(test_http_parser_reports_need_more_until_the_empty_line);
    CF_TEST(test_http_parser_survives_a_moving_buffer);
    CF_TEST(test_http_parser_skips_empty_lines_before_a_request);
    CF_TEST(test_http_parser_rejects_each_class_with_its_status);
    CF_TEST(test_http_parser_fails_early_on_conflicting_framing);
    CF_TEST(test_http_parser_limits_the_target_414);
    CF_TEST(test_http_parser_limits_the_head_431);
    CF_TEST(test_http_parser_limits_header_count_431);
    CF_TEST(test_http_parser_limits_the_body_413);
    CF_TEST(test_http_parser_limits_chunk_lines_and_trailers);
    CF_TEST(test_http_parser_pipelines_requests);
    CF_TEST(test_http_parser_decodes_chunks_with_extensions_and_trailers);
    CF_TEST(test_http_parser_keeps_partial_trailer_lines_unconsumed);
    CF_TEST(test_http_parser_reports_expect_continue);
    CF_TEST(test_http_parser_applies_keep_alive_rules);
    CF_TEST(test_http_parser_reports_upgrade_and_connect);
    CF_TEST(test_http_parser_accepts_target_forms);
    CF_TEST(test_http_parser_accepts_obs_text_and_tabs_in_values);
    CF_TEST(test_http_parser_parses_responses);
    CF_TEST(test_http_parser_finish_tells_clean_from_truncated);
    CF_TEST(test_http_parser_rejects_misuse);
    CF_TEST(test_http_parser_helpers);
    CF_TEST(test_http_parser_never_reads_past_the_buffer);
    return CF_TEST_END();
}
