/*
 * Streaming JSON parser (RFC 8259), push style (model: h2o picohttpparser for the "caller
 * owns the state, nothing is allocated" contract).
 *
 * The whole state lives in the caller's `cf_json_parser`: the current state of a byte-level
 * machine (`_state`, with `_sub` for the step inside a number, a literal, a \u escape or a
 * UTF-8 sequence), the nesting depth and a bit stack of open containers (1 = object,
 * 0 = array), the position (byte offset, line and start of line) and the error message.
 *
 * Token text. A string, key or number that lies wholly in one chunk and holds no escape is
 * delivered straight from the chunk (zero copy). Otherwise its bytes are assembled in the
 * caller's scratch buffer: `_tlen` bytes are there already, and during a feed `scan.run`
 * marks where the bytes not yet copied begin. The text of a token is always
 * scratch[0.._tlen) followed by run..cursor, and when `_tlen` is 0 it is run..cursor alone.
 *
 * Invariant for "same result whatever the split": every check that can fail (syntax, UTF-8,
 * token length against the scratch size, depth, document size) happens at a byte position
 * that does not depend on where chunks end. The length of a token is checked each time a
 * run of plain bytes stops (before the stopping byte is looked at) and when a chunk ends in
 * the middle of a token; between two such points there are only plain bytes, which cannot
 * fail, so whole and split inputs meet the same first error. Errors at a token's length
 * are reported at the token's first byte.
 *
 * Speed: strings are scanned eight bytes at a time (SWAR) for '"', '\\', control and
 * non-ASCII bytes; whitespace, digits and structural bytes use small loops and a switch.
 */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/json.h"
#include "data/utf8.h"
#include "util/alloc.h"
#include "util/util.h"

enum {
    S_VALUE = 0,    /* a value is expected (also the zero state: start of a document) */
    S_ARRAY_FIRST,  /* after '[': a value or ']' */
    S_OBJECT_FIRST, /* after '{': a key or '}' */
    S_KEY,          /* after ',' in an object: a key */
    S_COLON,        /* after a key: ':' */
    S_AFTER,        /* after a value inside a container: ',' or the closing bracket */
    S_DONE,         /* the top-level value is complete: whitespace only */
    S_STRING,       /* inside a string or key */
    S_UTF8,         /* inside a multi-byte UTF-8 sequence of a string */
    S_ESC,          /* after a backslash */
    S_HEX,          /* inside \uXXXX; _sub digits read, _acc their value */
    S_LOW_BS,       /* after a high surrogate escape: '\\' of the low one expected */
    S_LOW_U,        /* after that '\\': 'u' expected */
    S_NUMBER,       /* inside a number; _sub is the number step */
    S_LITERAL,      /* inside true/false/null; _acc which, _sub bytes matched */
    S_ERROR         /* stopped: _status is returned by every call */
};

/* Steps inside a number (_sub in S_NUMBER). */
enum { N_BEGIN = 0, N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP, N_END, N_ERR };

static const char *const literals[3] = {"true", "false", "null"};
static const size_t literal_len[3] = {4, 5, 4};
static const cf_json_event_kind literal_kind[3] = {CF_JSON_EV_TRUE, CF_JSON_EV_FALSE,
                                                   CF_JSON_EV_NULL};

/* One feed: the chunk, the cursor's origin and the start of the uncopied token bytes. */
typedef struct scan {
    cf_json_parser *p;
    const uint8_t *base;
    const uint8_t *end;
    const uint8_t *run;
    uint64_t base_pos;
} scan;

static uint64_t off(const scan *sc, const uint8_t *s)
{
    return sc->base_pos + (uint64_t)(s - sc->base);
}

/* ---- errors and events ---- */

/* Stop the parser with `code` and "JSON: <what> at line L, column C (byte B)". */
__attribute__((format(printf, 4, 5))) static int fail(cf_json_parser *p, int code, uint64_t at,
                                                      const char *fmt, ...)
{
    char what[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    uint64_t col = at >= p->_line_start ? at - p->_line_start + 1 : 1;
    snprintf(p->_msg, sizeof p->_msg,
             "JSON: %s at line %" PRIu64 ", column %" PRIu64 " (byte %" PRIu64 ")", what,
             p->_line + 1, col, at);
    p->_state = S_ERROR;
    p->_status = code;
    return code;
}

/* Deliver one event; a non-zero answer from the callback stops the parser. */
static int emit(cf_json_parser *p, cf_json_event_kind kind, const char *text, size_t len,
                uint64_t at, unsigned depth)
{
    if (!p->on_event)
        return 0;
    cf_json_event ev = {kind, depth, text, len, at};
    int rc = p->on_event(&ev, p->data);
    if (rc) {
        snprintf(p->_msg, sizeof p->_msg,
                 "JSON: stopped by the event callback (%s) at byte %" PRIu64, cf_err_name(rc), at);
        p->_state = S_ERROR;
        p->_status = rc;
    }
    return rc;
}

static const char *token_name(const cf_json_parser *p)
{
    if (p->_state == S_NUMBER)
        return "number";
    return p->_is_key ? "key" : "string";
}

static int too_big(cf_json_parser *p)
{
    return fail(p, CF_ETOOBIG, p->_tstart, "%s longer than the scratch buffer (%zu bytes)",
                token_name(p), p->scratch ? p->scratch_len : (size_t)0);
}

/* What the machine expects next, for messages. */
static const char *expected(const cf_json_parser *p)
{
    switch (p->_state) {
    case S_VALUE:
        return "a value";
    case S_ARRAY_FIRST:
        return "a value or ']'";
    case S_OBJECT_FIRST:
        return "a string key or '}'";
    case S_KEY:
        return "a string key";
    case S_COLON:
        return "':'";
    case S_AFTER: {
        unsigned d = p->_depth - 1;
        return (p->_stack[d >> 3] >> (d & 7)) & 1 ? "',' or '}'" : "',' or ']'";
    }
    case S_NUMBER:
        return "a digit";
    case S_LITERAL:
        return p->_acc == 0 ? "'true'" : p->_acc == 1 ? "'false'" : "'null'";
    default:
        return "'\"' to end the string";
    }
}

/* ---- token text ---- */

/* Length check at a stop: the token so far must fit the scratch buffer. */
static int check_len(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    size_t n = p->_tlen + (size_t)(s - sc->run);
    if (p->scratch && n > p->scratch_len)
        return too_big(p);
    return 0;
}

/* Copy the uncopied bytes run..upto into the scratch buffer. */
static int flush(scan *sc, const uint8_t *upto)
{
    cf_json_parser *p = sc->p;
    size_t n = (size_t)(upto - sc->run);
    if (!n)
        return 0;
    if (!p->scratch || n > p->scratch_len - p->_tlen)
        return too_big(p);
    memcpy(p->scratch + p->_tlen, sc->run, n);
    p->_tlen += n;
    sc->run = upto;
    return 0;
}

static int add_bytes(cf_json_parser *p, const char *bytes, size_t n)
{
    if (!p->scratch || n > p->scratch_len - p->_tlen)
        return too_big(p);
    memcpy(p->scratch + p->_tlen, bytes, n);
    p->_tlen += n;
    return 0;
}

/* Append code point `cp` as UTF-8 (surrogates give their 3-byte generalized form). */
static int add_code_point(cf_json_parser *p, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return add_bytes(p, b, n);
}

/* The token's text at its end `s`: zero copy when nothing was assembled yet. */
static int token_text(scan *sc, const uint8_t *s, const char **text, size_t *len)
{
    cf_json_parser *p = sc->p;
    if (!p->_tlen) {
        *text = (const char *)sc->run;
        *len = (size_t)(s - sc->run);
        return 0;
    }
    if (flush(sc, s))
        return -1;
    *text = p->scratch;
    *len = p->_tlen;
    return 0;
}

static void value_done(cf_json_parser *p)
{
    p->_state = p->_depth ? S_AFTER : S_DONE;
}

/* ---- structure ---- */

static unsigned depth_limit(const cf_json_parser *p)
{
    if (!p->max_depth)
        return CF_JSON_DEFAULT_DEPTH;
    return p->max_depth < CF_JSON_MAX_DEPTH ? p->max_depth : CF_JSON_MAX_DEPTH;
}

static const uint8_t *open_container(scan *sc, const uint8_t *s, int is_object)
{
    cf_json_parser *p = sc->p;
    unsigned d = p->_depth;
    if (d >= depth_limit(p)) {
        fail(p, CF_ETOOBIG, off(sc, s), "nesting deeper than %u levels", depth_limit(p));
        return NULL;
    }
    if (is_object)
        p->_stack[d >> 3] |= (uint8_t)(1u << (d & 7));
    else
        p->_stack[d >> 3] &= (uint8_t) ~(1u << (d & 7));
    p->_depth = d + 1;
    p->_state = is_object ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    cf_json_event_kind k = is_object ? CF_JSON_EV_OBJECT_START : CF_JSON_EV_ARRAY_START;
    if (emit(p, k, NULL, 0, off(sc, s), d))
        return NULL;
    return s + 1;
}

static const uint8_t *close_container(scan *sc, const uint8_t *s, int is_object)
{
    cf_json_parser *p = sc->p;
    p->_depth--;
    value_done(p);
    cf_json_event_kind k = is_object ? CF_JSON_EV_OBJECT_END : CF_JSON_EV_ARRAY_END;
    if (emit(p, k, NULL, 0, off(sc, s), p->_depth))
        return NULL;
    return s + 1;
}

static const uint8_t *begin_token(scan *sc, const uint8_t *s, int state)
{
    cf_json_parser *p = sc->p;
    p->_tstart = off(sc, s);
    p->_tlen = 0;
    p->_state = state;
    return s;
}

static const uint8_t *unexpected(scan *sc, const uint8_t *s)
{
    if (sc->p->_state == S_DONE) {
        fail(sc->p, CF_EPARSE, off(sc, s), "unexpected data after the top-level value");
        return NULL;
    }
    fail(sc->p, CF_EPARSE, off(sc, s), "expected %s", expected(sc->p));
    return NULL;
}

/* The first byte of a value. */
static const uint8_t *begin_value(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    uint8_t c = *s;
    switch (c) {
    case '{':
        return open_container(sc, s, 1);
    case '[':
        return open_container(sc, s, 0);
    case '"':
        p->_is_key = 0;
        sc->run = s + 1;
        return begin_token(sc, s, S_STRING) + 1;
    case 't':
    case 'f':
    case 'n':
        p->_acc = c == 't' ? 0 : c == 'f' ? 1 : 2;
        p->_sub = 0;
        return begin_token(sc, s, S_LITERAL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            p->_sub = N_BEGIN;
            sc->run = s;
            return begin_token(sc, s, S_NUMBER);
        }
        return unexpected(sc, s);
    }
}

static const uint8_t *skip_ws(scan *sc, const uint8_t *s)
{
    const uint8_t *end = sc->end;
    while (s < end) {
        uint8_t c = *s;
        if (c == ' ' || c == '\t' || c == '\r') {
            s++;
        } else if (c == '\n') {
            sc->p->_line++;
            sc->p->_line_start = off(sc, s) + 1;
            s++;
        } else {
            break;
        }
    }
    return s;
}

static const uint8_t *after_value(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    unsigned d = p->_depth - 1;
    int in_object = (p->_stack[d >> 3] >> (d & 7)) & 1;
    if (*s == ',') {
        p->_state = in_object ? S_KEY : S_VALUE;
        return s + 1;
    }
    if (*s == (in_object ? '}' : ']'))
        return close_container(sc, s, in_object);
    return unexpected(sc, s);
}

/* Every state between tokens: whitespace, then one structural byte or a value. */
static const uint8_t *st_struct(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    s = skip_ws(sc, s);
    if (s == sc->end)
        return s;
    switch (p->_state) {
    case S_VALUE:
        return begin_value(sc, s);
    case S_ARRAY_FIRST:
        return *s == ']' ? close_container(sc, s, 0) : begin_value(sc, s);
    case S_OBJECT_FIRST:
        if (*s == '}')
            return close_container(sc, s, 1);
        /* fall through */
    case S_KEY:
        if (*s != '"')
            return unexpected(sc, s);
        p->_is_key = 1;
        sc->run = s + 1;
        return begin_token(sc, s, S_STRING) + 1;
    case S_COLON:
        if (*s != ':')
            return unexpected(sc, s);
        p->_state = S_VALUE;
        return s + 1;
    case S_AFTER:
        return after_value(sc, s);
    default:
        return unexpected(sc, s);
    }
}

/* ---- literals ---- */

static const uint8_t *st_literal(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    const char *lit = literals[p->_acc];
    size_t n = literal_len[p->_acc];
    while (s < sc->end && p->_sub < n) {
        if (*s != (uint8_t)lit[p->_sub]) {
            fail(p, CF_EPARSE, off(sc, s), "invalid literal, expected '%s'", lit);
            return NULL;
        }
        s++;
        p->_sub++;
    }
    if (p->_sub < n)
        return s;
    value_done(p);
    if (emit(p, literal_kind[p->_acc], NULL, 0, p->_tstart, p->_depth))
        return NULL;
    return s;
}

/* ---- numbers ---- */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* One step of the number grammar: the next step, N_END (the number ended before `c`) or
 * N_ERR. */
static unsigned num_step(unsigned sub, uint8_t c)
{
    int digit = is_digit(c);
    int e = c == 'e' || c == 'E';
    switch (sub) {
    case N_BEGIN:
        return c == '-' ? N_SIGN : c == '0' ? N_ZERO : digit ? N_INT : N_ERR;
    case N_SIGN:
        return c == '0' ? N_ZERO : digit ? N_INT : N_ERR;
    case N_ZERO:
        return c == '.' ? N_DOT : e ? N_E : N_END;
    case N_INT:
        return digit ? N_INT : c == '.' ? N_DOT : e ? N_E : N_END;
    case N_DOT:
        return digit ? N_FRAC : N_ERR;
    case N_FRAC:
        return digit ? N_FRAC : e ? N_E : N_END;
    case N_E:
        return c == '+' || c == '-' ? N_ESIGN : digit ? N_EXP : N_ERR;
    case N_ESIGN:
        return digit ? N_EXP : N_ERR;
    default:
        return digit ? N_EXP : N_END;
    }
}

static int num_accepting(unsigned sub)
{
    return sub == N_ZERO || sub == N_INT || sub == N_FRAC || sub == N_EXP;
}

static const char *num_error(unsigned sub)
{
    if (sub == N_SIGN || sub == N_BEGIN)
        return "expected a digit after '-'";
    if (sub == N_DOT)
        return "expected a digit after '.'";
    return "expected a digit in the exponent";
}

static const uint8_t *end_number(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    const char *text;
    size_t len;
    if (token_text(sc, s, &text, &len))
        return NULL;
    value_done(p);
    if (emit(p, CF_JSON_EV_NUMBER, text, len, p->_tstart, p->_depth))
        return NULL;
    return s;
}

static const uint8_t *st_number(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    const uint8_t *end = sc->end;
    while (s < end) {
        unsigned sub = p->_sub;
        if (sub == N_INT || sub == N_FRAC || sub == N_EXP) {
            while (s < end && is_digit(*s))
                s++;
            if (s == end)
                return s;
        }
        if (check_len(sc, s))
            return NULL;
        unsigned next = num_step(sub, *s);
        if (next == N_END)
            return end_number(sc, s);
        if (next == N_ERR) {
            fail(p, CF_EPARSE, off(sc, s), "%s", num_error(sub));
            return NULL;
        }
        p->_sub = next;
        s++;
    }
    return s;
}

/* ---- strings ---- */

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Skip bytes that need no attention in a string: printable ASCII but '"' and '\\'. */
static const uint8_t *skip_plain(const uint8_t *s, const uint8_t *end)
{
    while (end - s >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        uint64_t q = w ^ (ONES * '"');
        uint64_t b = w ^ (ONES * '\\');
        /* Exact when no byte has its high bit set (a borrow only follows a true hit); a
         * high bit is a hit by itself. */
        if (((w - ONES * 0x20) | (q - ONES) | (b - ONES) | w) & HIGHS)
            break;
        s += 8;
    }
    while (s < end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
        s++;
    return s;
}

static const uint8_t *utf8_cont(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    while (p->_sub) {
        if (s == sc->end) {
            p->_state = S_UTF8;
            return s;
        }
        uint8_t lo = (uint8_t)(p->_acc & 0xFF);
        uint8_t hi = (uint8_t)(p->_acc >> 8);
        if (*s < lo || *s > hi) {
            fail(p, CF_EPARSE, off(sc, s), "invalid UTF-8 continuation byte 0x%02X in string", *s);
            return NULL;
        }
        p->_acc = 0x80 | (0xBF << 8);
        p->_sub--;
        s++;
    }
    p->_state = S_STRING;
    return s;
}

/* A lead byte >= 0x80: how many continuation bytes follow, and the first one's range. */
static const uint8_t *utf8_lead(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    uint8_t c = *s;
    unsigned lo;
    unsigned hi;
    unsigned need = cf__utf8_lead(c, &lo, &hi);
    if (!need) {
        fail(p, CF_EPARSE, off(sc, s), "invalid UTF-8 byte 0x%02X in string", c);
        return NULL;
    }
    /* The whole sequence counts against the length limit before it is validated, so that
     * a chunk ending inside it meets the same limit as a whole input. */
    if (p->scratch && p->_tlen + (size_t)(s - sc->run) + need + 1 > p->scratch_len) {
        too_big(p);
        return NULL;
    }
    p->_sub = need;
    p->_acc = lo | (hi << 8);
    return utf8_cont(sc, s + 1);
}

static const uint8_t *end_string(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    const char *text;
    size_t len;
    if (token_text(sc, s, &text, &len))
        return NULL;
    int key = p->_is_key;
    if (key)
        p->_state = S_COLON;
    else
        value_done(p);
    cf_json_event_kind k = key ? CF_JSON_EV_KEY : CF_JSON_EV_STRING;
    if (emit(p, k, text, len, p->_tstart, p->_depth))
        return NULL;
    return s + 1;
}

static const uint8_t *st_string(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    for (;;) {
        s = skip_plain(s, sc->end);
        if (s == sc->end)
            return s;
        if (check_len(sc, s))
            return NULL;
        uint8_t c = *s;
        if (c == '"')
            return end_string(sc, s);
        if (c == '\\') {
            if (flush(sc, s))
                return NULL;
            p->_state = S_ESC;
            return s + 1;
        }
        if (c < 0x20) {
            fail(p, CF_EPARSE, off(sc, s), "unescaped control character 0x%02X in string", c);
            return NULL;
        }
        s = utf8_lead(sc, s);
        if (!s || p->_state != S_STRING)
            return s;
    }
}

static const uint8_t *resume_string(scan *sc, const uint8_t *s)
{
    sc->p->_state = S_STRING;
    sc->run = s;
    return s;
}

static const uint8_t *st_escape(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    uint8_t c = *s;
    if (c == 'u') {
        p->_state = S_HEX;
        p->_sub = 0;
        p->_acc = 0;
        return s + 1;
    }
    const char *hit = c ? strchr(from, c) : NULL;
    if (!hit) {
        if (c > 0x20 && c < 0x7F)
            fail(p, CF_EPARSE, off(sc, s), "invalid escape '\\%c' in string", c);
        else
            fail(p, CF_EPARSE, off(sc, s), "invalid escape in string");
        return NULL;
    }
    if (add_bytes(p, &to[hit - from], 1))
        return NULL;
    return resume_string(sc, s + 1);
}

static int lone_surrogates_ok(const cf_json_parser *p)
{
    return (p->flags & CF_JSON_LONE_SURROGATES) != 0;
}

static const uint8_t *lone_surrogate(scan *sc, const uint8_t *s, uint32_t cp)
{
    fail(sc->p, CF_EPARSE, off(sc, s), "lone surrogate \\u%04X in string", (unsigned)cp);
    return NULL;
}

/* A complete \uXXXX whose last digit is at s - 1. */
static const uint8_t *end_unicode(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    uint32_t cp = p->_acc;
    if (p->_hi) {
        uint32_t hi = p->_hi;
        p->_hi = 0;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0x10000 + ((hi - 0xD800) << 10) + (cp - 0xDC00);
            return add_code_point(p, cp) ? NULL : resume_string(sc, s);
        }
        if (!lone_surrogates_ok(p))
            return lone_surrogate(sc, s - 1, hi);
        if (add_code_point(p, hi))
            return NULL;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        p->_hi = cp;
        p->_state = S_LOW_BS;
        return s;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF && !lone_surrogates_ok(p))
        return lone_surrogate(sc, s - 1, cp);
    return add_code_point(p, cp) ? NULL : resume_string(sc, s);
}

static const uint8_t *st_hex(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    while (s < sc->end && p->_sub < 4) {
        uint8_t c = *s;
        unsigned v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v = (c | 0x20) - 'a' + 10;
        else {
            fail(p, CF_EPARSE, off(sc, s), "expected a hex digit in \\u escape");
            return NULL;
        }
        p->_acc = (p->_acc << 4) | v;
        p->_sub++;
        s++;
    }
    return p->_sub < 4 ? s : end_unicode(sc, s);
}

/* After a high surrogate: "\\u" and a low surrogate must follow, or (with the flag) the high
 * one stands alone and the byte is read again as string content or as an escape. */
static const uint8_t *st_low(scan *sc, const uint8_t *s)
{
    cf_json_parser *p = sc->p;
    uint8_t want = p->_state == S_LOW_BS ? '\\' : 'u';
    if (*s == want) {
        p->_state = want == '\\' ? S_LOW_U : S_HEX;
        p->_sub = 0;
        p->_acc = 0;
        return s + 1;
    }
    if (!lone_surrogates_ok(p))
        return lone_surrogate(sc, s, p->_hi);
    uint32_t hi = p->_hi;
    p->_hi = 0;
    if (add_code_point(p, hi))
        return NULL;
    if (want == 'u') {
        p->_state = S_ESC;
        return s;
    }
    return resume_string(sc, s);
}

/* ---- driver ---- */

static const uint8_t *step(scan *sc, const uint8_t *s)
{
    switch (sc->p->_state) {
    case S_STRING:
        return st_string(sc, s);
    case S_UTF8:
        return utf8_cont(sc, s);
    case S_ESC:
        return st_escape(sc, s);
    case S_HEX:
        return st_hex(sc, s);
    case S_LOW_BS:
    case S_LOW_U:
        return st_low(sc, s);
    case S_NUMBER:
        return st_number(sc, s);
    case S_LITERAL:
        return st_literal(sc, s);
    case S_ERROR:
        return NULL;
    default:
        return st_struct(sc, s);
    }
}

static int run_chunk(cf_json_parser *p, const uint8_t *chunk, size_t len)
{
    scan sc = {p, chunk, chunk + len, chunk, p->_pos};
    const uint8_t *s = chunk;
    while (s < sc.end) {
        s = step(&sc, s);
        if (!s)
            return p->_status;
    }
    int st = p->_state;
    if (st == S_STRING || st == S_UTF8 || st == S_NUMBER) {
        if (flush(&sc, sc.end))
            return p->_status;
    }
    p->_pos += len;
    return 0;
}

void cf_json_parser_init(cf_json_parser *p, cf_json_event_cb on_event, void *data, char *scratch,
                         size_t scratch_len)
{
    CF_ASSERT(p);
    memset(p, 0, sizeof *p);
    p->on_event = on_event;
    p->data = data;
    p->scratch = scratch;
    p->scratch_len = scratch ? scratch_len : 0;
}

void cf_json_parser_reset(cf_json_parser *p)
{
    size_t from = offsetof(cf_json_parser, _state);
    memset((char *)p + from, 0, sizeof *p - from);
}

int cf_json_parser_feed(cf_json_parser *p, const char *chunk, size_t len)
{
    if (!p)
        return CF_EINVAL;
    if (p->_state == S_ERROR)
        return p->_status;
    if (!chunk && len)
        return CF_EINVAL;
    size_t take = len;
    if (p->max_bytes && (p->_pos > p->max_bytes || len > p->max_bytes - p->_pos))
        take = p->_pos > p->max_bytes ? 0 : (size_t)(p->max_bytes - p->_pos);
    int rc = run_chunk(p, (const uint8_t *)chunk, take);
    if (rc)
        return rc;
    if (take < len)
        return fail(p, CF_ETOOBIG, p->_pos, "document longer than %" PRIu64 " bytes", p->max_bytes);
    return p->_state == S_DONE ? 0 : CF_JSON_NEED_MORE;
}

int cf_json_parser_finish(cf_json_parser *p)
{
    if (!p)
        return CF_EINVAL;
    if (p->_state == S_ERROR)
        return p->_status;
    if (p->_state == S_NUMBER && num_accepting(p->_sub)) {
        value_done(p); /* inside a container, the message then asks for ',' or a bracket */
        if (!p->_depth && emit(p, CF_JSON_EV_NUMBER, p->scratch, p->_tlen, p->_tstart, 0))
            return p->_status;
    }
    if (p->_state == S_DONE)
        return 0;
    if (p->_state >= S_STRING && p->_state <= S_LOW_U)
        return fail(p, CF_EPARSE, p->_pos, "unexpected end of input in a string");
    return fail(p, CF_EPARSE, p->_pos, "unexpected end of input, expected %s", expected(p));
}

const char *cf_json_parser_error(const cf_json_parser *p)
{
    if (!p || p->_state != S_ERROR)
        return "";
    return p->_msg;
}

/* ---- numbers ---- */

/* The number grammar over a whole text: 1 when `text` is exactly one JSON number; *integer
 * tells whether it has neither fraction nor exponent. */
static int number_syntax(const char *text, size_t len, int *integer)
{
    unsigned sub = N_BEGIN;
    *integer = 1;
    for (size_t i = 0; i < len; i++) {
        sub = num_step(sub, (uint8_t)text[i]);
        if (sub == N_END || sub == N_ERR)
            return 0;
        if (sub == N_DOT || sub == N_E)
            *integer = 0;
    }
    return num_accepting(sub);
}

int cf_json_number_to_i64(const char *text, size_t len, int64_t *out)
{
    int integer;
    if (!text || !out || !number_syntax(text, len, &integer) || !integer)
        return CF_EINVAL;
    int neg = text[0] == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (size_t i = (size_t)neg; i < len; i++) {
        unsigned d = (unsigned)(text[i] - '0');
        if (v > (limit - d) / 10) {
            *out = neg ? INT64_MIN : INT64_MAX;
            return CF_ERANGE;
        }
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

int cf_json_number_to_double(const char *text, size_t len, double *out)
{
    int integer;
    if (!text || !out || !number_syntax(text, len, &integer))
        return CF_EINVAL;
    char small[128];
    char *buf = len < sizeof small ? small : cf__malloc(len + 1);
    if (!buf)
        return CF_ENOMEM;
    memcpy(buf, text, len);
    buf[len] = '\0';
    /* strtod follows the locale's decimal point; JSON's is always '.'. */
    const char *dp = localeconv()->decimal_point;
    char *dot = memchr(buf, '.', len);
    if (dot && dp && dp[0] && !dp[1])
        *dot = dp[0];
    double d = strtod(buf, NULL);
    if (buf != small)
        cf__free(buf);
    *out = d;
    return isinf(d) ? CF_ERANGE : 0;
}
