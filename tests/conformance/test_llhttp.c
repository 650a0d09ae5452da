/*
 * llhttp's request and response cases against cf_http_parse_*.
 * ctest-labels: conformance
 *
 * Reads the Markdown cases of nodejs/llhttp from CF_SHARED_DIR/conformance/http/llhttp/
 * at run time, turns each `http` block into bytes as llhttp's harness does, and reads the
 * expected callback log. A case applies when its type is strict (`request`, `response`, or
 * `*-finish`) and it is not an API test (`pause`, `skipBody`):
 *  - if the log ends in an error (other than the CONNECT/Upgrade pause, code 22) the parser
 *    must reject the input, after the same complete messages;
 *  - otherwise it must accept it and give, for every message, the same method/URL (or
 *    status), header fields, trailers and body, and report the upgrade where llhttp pauses.
 * Unless the meta says noScan, the input is fed again one byte at a time, each byte in a
 * freshly allocated buffer (so the buffer moves between calls), and must give the same result.
 *
 * Two deliberate differences from llhttp are normalised rather than hidden: field values are
 * compared without trailing whitespace (RFC 9110 §5.5 excludes it from the value; llhttp
 * keeps it), and Host is not required (llhttp does not check it; CF_HTTP_PARSE_NO_HOST_CHECK).
 * Cases our stricter parser rejects on purpose are listed in `strict_cases` with the reason.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/http_parser.h"

#ifndef CF_SHARED_DIR
#define CF_SHARED_DIR "../shared"
#endif

/* Inputs llhttp's strict mode accepts and this parser rejects, with the reason. */
static const struct {
    const char *name;
    const char *reason;
} strict_cases[] = {
    {"request/sample.md: No HTTP version", "HTTP/0.9 request lines are not accepted"},
    {"request/method.md: SOURCE request with ICE", "ICE/1.0 is not HTTP"},
    {"request/method.md: OPTIONS request with RTSP", "RTSP/1.0 is not HTTP"},
    {"request/method.md: ANNOUNCE request with RTSP", "RTSP/1.0 is not HTTP"},
    {"response/sample.md: RTSP response", "RTSP/1.0 is not HTTP"},
    {"response/sample.md: ICE response", "ICE/1.0 is not HTTP"},
    {"response/sample.md: HTTP version 0.9", "HTTP/0.9 is not accepted"},
};

/* ---- growable byte strings ---- */

typedef struct sbuf {
    char *p;
    size_t n;
    size_t cap;
} sbuf;

static void sb_add(sbuf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_addc(sbuf *b, char c)
{
    sb_add(b, &c, 1);
}

static int sb_eq(const sbuf *a, const sbuf *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

/* ---- messages as llhttp logs them and as we parse them ---- */

#define MAX_FIELDS 64
#define MAX_MSGS   8

typedef struct field {
    sbuf name;
    sbuf value;
} field;

typedef struct msg {
    sbuf method, url, reason, body;
    int status;
    field hdr[MAX_FIELDS];
    int nhdr;
    field trl[MAX_FIELDS];
    int ntrl;
    int head_done, complete, upgrade, in_trailer, value_last;
} msg;

typedef struct result {
    msg m[MAX_MSGS];
    int n;
    int error;  /* rejected */
    int finish; /* finish code, when asked */
    int has_finish;
} result;

static void result_free(result *r)
{
    for (int i = 0; i < r->n; i++) {
        msg *m = &r->m[i];
        free(m->method.p);
        free(m->url.p);
        free(m->reason.p);
        free(m->body.p);
        for (int k = 0; k < m->nhdr; k++) {
            free(m->hdr[k].name.p);
            free(m->hdr[k].value.p);
        }
        for (int k = 0; k < m->ntrl; k++) {
            free(m->trl[k].name.p);
            free(m->trl[k].value.p);
        }
    }
    memset(r, 0, sizeof(*r));
}

static msg *new_msg(result *r)
{
    if (r->n == MAX_MSGS)
        abort();
    return &r->m[r->n++];
}

/* ---- the Markdown cases ---- */

/* Append the UTF-8 encoding of code point `c` (llhttp's harness encodes its string so). */
static void add_utf8(sbuf *b, unsigned long c)
{
    if (c < 0x80) {
        sb_addc(b, (char)c);
    } else if (c < 0x800) {
        sb_addc(b, (char)(0xC0 | (c >> 6)));
        sb_addc(b, (char)(0x80 | (c & 0x3F)));
    } else {
        sb_addc(b, (char)(0xE0 | (c >> 12)));
        sb_addc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        sb_addc(b, (char)(0x80 | (c & 0x3F)));
    }
}

/* One pass of the harness: replace `\<ch>` by `rep` everywhere. */
static void replace_escape(sbuf *s, char ch, char rep)
{
    sbuf out = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i] == '\\' && i + 1 < s->n && s->p[i + 1] == ch) {
            sb_addc(&out, rep);
            i++;
        } else {
            sb_addc(&out, s->p[i]);
        }
    }
    free(s->p);
    *s = out;
    if (!s->p)
        sb_add(s, "", 0);
}

/* `\xHH...` (greedy hex) or `\NNN` (1-3 octal digits) as code points, UTF-8 encoded. */
static void replace_numeric(sbuf *s, int hex)
{
    sbuf out = {0};
    for (size_t i = 0; i < s->n; i++) {
        size_t j = i + 1 + (hex ? 1 : 0);
        unsigned long v = 0;
        size_t k = j;
        if (s->p[i] == '\\' && (!hex || (j - 1 < s->n && s->p[j - 1] == 'x'))) {
            while (k < s->n &&
                   (hex ? strchr("0123456789abcdefABCDEF", s->p[k]) != NULL
                        : (s->p[k] >= '0' && s->p[k] <= '7' && k - j < 3)) &&
                   s->p[k]) {
                char d = s->p[k];
                v = v * (hex ? 16 : 8) +
                    (unsigned long)(d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10);
                k++;
            }
        }
        if (k > j) {
            add_utf8(&out, v);
            i = k - 1;
        } else {
            sb_addc(&out, s->p[i]);
        }
    }
    free(s->p);
    *s = out;
    if (!s->p)
        sb_add(s, "", 0);
}

/* The input block's bytes, following llhttp's test/md-test.ts step by step. */
static void decode_input(const char *text, size_t n, sbuf *out)
{
    sbuf s = {0};
    if (n && text[n - 1] == '\n')
        n--; /* drop the final newline */
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\\' && i + 1 < n && text[i + 1] == '\n') {
            i++; /* backslash-newline disappears */
        } else if (text[i] == '\n') {
            sb_add(&s, "\r\n", 2);
        } else {
            sb_addc(&s, text[i]);
        }
    }
    sb_add(&s, "", 0);
    replace_escape(&s, 'r', '\r');
    replace_escape(&s, 'n', '\n');
    replace_escape(&s, 't', '\t');
    replace_escape(&s, 'f', '\f');
    replace_numeric(&s, 1);
    replace_numeric(&s, 0);
    *out = s;
}

/* A quoted log value: the text between the first and last quote, with \t and \f. */
static void log_value(const char *v, sbuf *out)
{
    if (strcmp(v, "cr") == 0) {
        sb_addc(out, '\r');
        return;
    }
    if (strcmp(v, "lf") == 0) {
        sb_addc(out, '\n');
        return;
    }
    const char *end = strrchr(v, '"');
    for (const char *p = v + 1; p < end; p++) {
        if (p[0] == '\\' && (p[1] == 't' || p[1] == 'f')) {
            sb_addc(out, p[1] == 't' ? '\t' : '\f');
            p++;
        } else {
            sb_addc(out, *p);
        }
    }
}

static void log_span(result *r, const char *kind, const char *value)
{
    msg *m = r->n ? &r->m[r->n - 1] : new_msg(r);
    sbuf v = {0};
    log_value(value, &v);
    if (strcmp(kind, "method") == 0) {
        sb_add(&m->method, v.p, v.n);
    } else if (strcmp(kind, "url") == 0) {
        sb_add(&m->url, v.p, v.n);
    } else if (strcmp(kind, "status") == 0) {
        sb_add(&m->reason, v.p, v.n);
    } else if (strcmp(kind, "body") == 0) {
        sb_add(&m->body, v.p, v.n);
    } else if (strcmp(kind, "header_field") == 0 || strcmp(kind, "header_value") == 0) {
        field *f = m->in_trailer ? m->trl : m->hdr;
        int *nf = m->in_trailer ? &m->ntrl : &m->nhdr;
        int is_value = kind[7] == 'v';
        if (!is_value && (*nf == 0 || m->value_last)) {
            if (*nf == MAX_FIELDS)
                abort();
            (*nf)++;
        }
        m->value_last = is_value;
        sb_add(is_value ? &f[*nf - 1].value : &f[*nf - 1].name, v.p ? v.p : "", v.n);
    }
    free(v.p);
}

/* One line of llhttp's callback log. */
static void log_line(result *r, const char *line)
{
    const char *ev = strchr(line, ' ');
    if (!ev)
        return;
    ev++;
    char kind[64];
    int vpos = 0;
    if (sscanf(ev, "len=%*d span[%63[a-z_.]]=%n", kind, &vpos) == 1 && vpos > 0) {
        log_span(r, kind, ev + vpos);
    } else if (strncmp(ev, "message begin", 13) == 0) {
        new_msg(r);
    } else if (strncmp(ev, "headers complete", 16) == 0 && r->n) {
        r->m[r->n - 1].head_done = 1;
        const char *st = strstr(ev, "status=");
        if (st)
            r->m[r->n - 1].status = atoi(st + 7);
    } else if (strncmp(ev, "message complete", 16) == 0 && r->n) {
        r->m[r->n - 1].complete = 1;
    } else if (strncmp(ev, "chunk header len=0", 18) == 0 && r->n) {
        r->m[r->n - 1].in_trailer = 1;
        r->m[r->n - 1].value_last = 0;
    } else if (strncmp(ev, "error code=22 ", 14) == 0 && r->n) {
        r->m[r->n - 1].upgrade = 1;
    } else if (strncmp(ev, "error code=", 11) == 0) {
        r->error = 1;
    } else if (strncmp(ev, "finish=", 7) == 0) {
        r->finish = atoi(ev + 7);
        r->has_finish = 1;
    }
}

/* ---- our side ---- */

typedef struct runner {
    cf_http_parser p;
    cf_http_field hdrs[MAX_FIELDS];
    int kind;
    int in_body;
    int stopped; /* upgrade or tunnel: the rest is another protocol */
    unsigned flags;
    result *out;
} runner;

static void copy_fields(field *dst, int *nd, const cf_http_field *h, size_t n)
{
    for (size_t i = 0; i < n && *nd < MAX_FIELDS; i++) {
        field *f = &dst[(*nd)++];
        sb_add(&f->name, h[i].name, h[i].name_len);
        sb_add(&f->value, h[i].value, h[i].value_len);
    }
}

static int on_head(runner *rn, const char *buf, size_t len)
{
    int r;
    msg *m;
    if (rn->kind == CF_HTTP_PARSER_REQUEST) {
        cf_http_request_head req = {.headers = rn->hdrs, .max_headers = MAX_FIELDS};
        r = cf_http_parse_request(&rn->p, buf, len, &req);
        if (r <= 0)
            return r;
        m = new_msg(rn->out);
        sb_add(&m->method, req.method, req.method_len);
        sb_add(&m->url, req.target, req.target_len);
        copy_fields(m->hdr, &m->nhdr, req.headers, req.num_headers);
        rn->flags = req.flags;
    } else {
        cf_http_response_head resp = {.headers = rn->hdrs, .max_headers = MAX_FIELDS};
        r = cf_http_parse_response(&rn->p, buf, len, &resp);
        if (r <= 0)
            return r;
        m = new_msg(rn->out);
        m->status = resp.status;
        sb_add(&m->reason, resp.reason, resp.reason_len);
        copy_fields(m->hdr, &m->nhdr, resp.headers, resp.num_headers);
        rn->flags = resp.flags;
    }
    m->head_done = 1;
    rn->in_body = 1;
    return r;
}

/* Parse as much of buf as possible; returns the bytes consumed. */
static size_t pump(runner *rn, const char *buf, size_t len)
{
    size_t off = 0;
    while (!rn->stopped && !rn->out->error) {
        if (!rn->in_body) {
            int r = on_head(rn, buf + off, len - off);
            if (r < 0)
                rn->out->error = 1;
            if (r <= 0)
                return off;
            off += (size_t)r;
            continue;
        }
        cf_http_body_event ev;
        int r = cf_http_parse_body(&rn->p, buf + off, len - off, &ev);
        off += ev.consumed;
        msg *m = &rn->out->m[rn->out->n - 1];
        if (r < 0) {
            rn->out->error = 1;
        } else if (r == CF_HTTP_BODY_DATA) {
            sb_add(&m->body, ev.data, ev.len);
        } else if (r == CF_HTTP_BODY_TRAILER) {
            copy_fields(m->trl, &m->ntrl, &ev.trailer, 1);
        } else if (r == CF_HTTP_BODY_END) {
            m->complete = 1;
            rn->in_body = 0;
            if (rn->flags & (CF_HTTP_MSG_UPGRADE | CF_HTTP_MSG_TUNNEL)) {
                m->upgrade = 1;
                rn->stopped = 1;
            }
        } else {
            return off;
        }
    }
    return off;
}

static void run_ours(const sbuf *in, int kind, int bytewise, int finish, result *out)
{
    runner rn;
    memset(&rn, 0, sizeof(rn));
    rn.kind = kind;
    rn.out = out;
    cf_http_parser_config cfg = {.flags = CF_HTTP_PARSE_NO_HOST_CHECK};
    cf_http_parser_init(&rn.p, (cf_http_parser_kind)kind, &cfg);
    if (!bytewise) {
        pump(&rn, in->p, in->n);
    } else {
        char *pending = NULL;
        size_t np = 0;
        for (size_t i = 0; i < in->n; i++) {
            char *next = malloc(np + 1); /* a new address every time */
            if (!next)
                abort();
            if (np)
                memcpy(next, pending, np);
            next[np++] = in->p[i];
            free(pending);
            pending = next;
            size_t used = pump(&rn, pending, np);
            memmove(pending, pending + used, np - used);
            np -= used;
        }
        free(pending);
    }
    if (finish) {
        int r = cf_http_parse_finish(&rn.p);
        out->has_finish = 1;
        out->finish = r < 0 ? 2 : r == CF_HTTP_BODY_END ? 1 : 0;
    }
}

/* ---- comparison ---- */

static void trim_right(sbuf *v)
{
    while (v->n && (v->p[v->n - 1] == ' ' || v->p[v->n - 1] == '\t'))
        v->n--;
}

static int fields_eq(field *a, int na, field *b, int nb, const char *what, char *why, size_t wn)
{
    if (na != nb) {
        snprintf(why, wn, "%s: %d fields, expected %d", what, nb, na);
        return 0;
    }
    for (int i = 0; i < na; i++) {
        trim_right(&a[i].value);
        if (!sb_eq(&a[i].name, &b[i].name) || !sb_eq(&a[i].value, &b[i].value)) {
            snprintf(why, wn, "%s %d: '%s: %s', expected '%s: %s'", what, i,
                     b[i].name.p ? b[i].name.p : "", b[i].value.p ? b[i].value.p : "",
                     a[i].name.p ? a[i].name.p : "", a[i].value.p ? a[i].value.p : "");
            return 0;
        }
    }
    return 1;
}

static int msg_eq(msg *want, msg *got, int kind, int check_complete, char *why, size_t wn)
{
    if (kind == CF_HTTP_PARSER_REQUEST &&
        (!sb_eq(&want->method, &got->method) || !sb_eq(&want->url, &got->url))) {
        snprintf(why, wn, "request line '%s %s', expected '%s %s'", got->method.p, got->url.p,
                 want->method.p, want->url.p);
        return 0;
    }
    if (kind == CF_HTTP_PARSER_RESPONSE && want->status != got->status) {
        snprintf(why, wn, "status %d, expected %d", got->status, want->status);
        return 0;
    }
    if (!fields_eq(want->hdr, want->nhdr, got->hdr, got->nhdr, "header", why, wn) ||
        !fields_eq(want->trl, want->ntrl, got->trl, got->ntrl, "trailer", why, wn))
        return 0;
    if (!sb_eq(&want->body, &got->body)) {
        snprintf(why, wn, "body of %zu bytes, expected %zu", got->body.n, want->body.n);
        return 0;
    }
    if (check_complete && (want->complete != got->complete || want->upgrade != got->upgrade)) {
        snprintf(why, wn, "complete=%d upgrade=%d, expected %d %d", got->complete, got->upgrade,
                 want->complete, want->upgrade);
        return 0;
    }
    return 1;
}

/* Did we do what llhttp did? On a mismatch `why` says how. */
static int compare(result *want, result *got, int kind, char *why, size_t wn)
{
    int heads = 0;
    while (heads < want->n && want->m[heads].head_done)
        heads++;
    if (want->has_finish && want->finish != got->finish) {
        snprintf(why, wn, "finish gives %d, expected %d", got->finish, want->finish);
        return 0;
    }
    if (want->error) {
        if (!got->error) {
            snprintf(why, wn, "accepted (%d messages), llhttp rejects", got->n);
            return 0;
        }
        int done = 0;
        while (done < want->n && want->m[done].complete)
            done++;
        for (int i = 0; i < done; i++) {
            if (i >= got->n || !got->m[i].complete) {
                snprintf(why, wn, "rejected at message %d, llhttp completes %d first", i, done);
                return 0;
            }
            if (!msg_eq(&want->m[i], &got->m[i], kind, 1, why, wn))
                return 0;
        }
        return 1;
    }
    if (got->error) {
        snprintf(why, wn, "rejected (error: %s)", "see parser");
        return 0;
    }
    if (got->n != heads) {
        snprintf(why, wn, "%d message heads, expected %d", got->n, heads);
        return 0;
    }
    for (int i = 0; i < heads; i++) {
        if (!msg_eq(&want->m[i], &got->m[i], kind, 1, why, wn))
            return 0;
    }
    return 1;
}

/* ---- driver ---- */

typedef struct stats {
    int n, failed, skipped, strict;
} stats;

static const char *strict_reason(const char *name)
{
    for (size_t i = 0; i < sizeof(strict_cases) / sizeof(strict_cases[0]); i++) {
        if (strcmp(strict_cases[i].name, name) == 0)
            return strict_cases[i].reason;
    }
    return NULL;
}

static void meta_type(const char *meta, char *type, size_t tn)
{
    const char *t = strstr(meta, "\"type\"");
    type[0] = 0;
    if (!t)
        return;
    t = strchr(t + 6, '"');
    if (!t)
        return;
    const char *e = strchr(t + 1, '"');
    if (!e)
        return;
    snprintf(type, tn, "%.*s", (int)(e - t - 1), t + 1);
}

static void run_case(stats *st, const char *name, const char *meta, const sbuf *in, result *want)
{
    char type[64];
    meta_type(meta, type, sizeof(type));
    int kind = strncmp(type, "response", 8) == 0 ? CF_HTTP_PARSER_RESPONSE : CF_HTTP_PARSER_REQUEST;
    int finish = strstr(type, "-finish") != NULL;
    int strict = strcmp(type, "request") == 0 || strcmp(type, "response") == 0 || finish;
    st->n++;
    if (!strict || strstr(meta, "\"pause\"") || strstr(meta, "\"skipBody\"")) {
        st->skipped++;
        printf("ok %d %s # SKIP %s\n", st->n, name, strict ? "API test" : type);
        return;
    }
    const char *sr = strict_reason(name);
    result got = {0};
    char why[512] = "";
    run_ours(in, kind, 0, finish, &got);
    int ok = compare(want, &got, kind, why, sizeof(why));
    if (sr) {
        ok = got.error && !want->error;
        snprintf(why, sizeof(why), "listed as a strict rejection but %s",
                 got.error ? "llhttp rejects it too" : "accepted");
    }
    if (ok && !strstr(meta, "noScan")) {
        result one = {0};
        run_ours(in, kind, 1, finish, &one);
        if (!compare(sr ? &got : want, &one, kind, why, sizeof(why)) || (sr && !one.error)) {
            ok = 0;
            snprintf(why + strlen(why), sizeof(why) - strlen(why), " (byte at a time)");
        }
        result_free(&one);
    }
    result_free(&got);
    if (!ok) {
        st->failed++;
        printf("not ok %d %s # %s\n", st->n, name, why);
    } else if (sr) {
        st->strict++;
        printf("ok %d %s # strict: %s\n", st->n, name, sr);
    } else {
        printf("ok %d %s\n", st->n, name);
    }
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sbuf b = {0};
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
        sb_add(&b, tmp, k);
    fclose(f);
    *n = b.n;
    return b.p;
}

/* Walk one Markdown file: headings name cases, meta lines and code blocks fill them. */
static void run_file(stats *st, const char *dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    size_t n;
    char *text = read_file(path, &n);
    if (!text) {
        printf("not ok %d %s # cannot read\n", ++st->n, path);
        st->failed++;
        return;
    }
    char name[512] = "";
    char meta[512] = "";
    sbuf input = {0};
    int have_input = 0;
    const char *sub = strstr(dir, "/response") ? "response" : "request";
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        char *next = nl ? nl + 1 : NULL;
        if (line[0] == '#') {
            char *t = line;
            while (*t == '#' || *t == ' ')
                t++;
            snprintf(name, sizeof(name), "%s/%s: %.*s", sub, file, (int)(ll - (size_t)(t - line)),
                     t);
            meta[0] = 0;
        } else if (strncmp(line, "<!-- meta=", 10) == 0) {
            snprintf(meta, sizeof(meta), "%.*s", (int)ll, line);
        } else if (strncmp(line, "```http", 7) == 0 || strncmp(line, "```log", 6) == 0) {
            int is_log = line[3] == 'l';
            char *start = next;
            char *end = start ? strstr(start, "\n```") : NULL;
            if (!end)
                break;
            if (!is_log) {
                free(input.p);
                decode_input(start, (size_t)(end - start) + 1, &input);
                have_input = 1;
            } else if (have_input) {
                result want = {0};
                *end = 0;
                for (char *l = start; l;) {
                    char *e = strchr(l, '\n');
                    if (e)
                        *e = 0;
                    log_line(&want, l);
                    l = e ? e + 1 : NULL;
                }
                run_case(st, name, meta, &input, &want);
                result_free(&want);
                have_input = 0;
            }
            next = strchr(end + 1, '\n');
            next = next ? next + 1 : NULL;
        }
        line = next;
    }
    free(input.p);
    free(text);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(stats *st, const char *sub)
{
    char dir[1024];
    const char *shared = getenv("CF_SHARED_DIR");
    snprintf(dir, sizeof(dir), "%s/conformance/http/llhttp/%s", shared ? shared : CF_SHARED_DIR,
             sub);
    DIR *d = opendir(dir);
    if (!d) {
        printf("not ok %d %s # cannot open\n", ++st->n, dir);
        st->failed++;
        return;
    }
    char *names[64];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && nn < 64) {
        size_t l = strlen(e->d_name);
        if (l > 3 && strcmp(e->d_name + l - 3, ".md") == 0)
            names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof(names[0]), cmp_names);
    for (int i = 0; i < nn; i++) {
        run_file(st, dir, names[i]);
        free(names[i]);
    }
}

int main(void)
{
    stats st = {0};
    run_dir(&st, "request");
    run_dir(&st, "response");
    printf("1..%d\n", st.n);
    printf("# llhttp cases: %d, passed %d (%d strict rejections), skipped %d (lenient or API), "
           "failed %d\n",
           st.n, st.n - st.failed - st.skipped, st.strict, st.skipped, st.failed);
    return st.failed ? 1 : 0;
}
