/*
 * Incremental HTTP/1.1 parser (RFC 9112): request and response heads, then bodies framed by
 * Content-Length, the chunked coding or the end of the connection.
 *
 * Data structure: `cf_http_parser`, a fixed-size struct the caller keeps; a zeroed one is a
 * request parser with default limits. `_phase` says what the next byte belongs to (between
 * messages, head, body, trailer section, or a sticky error); `_state` is the position inside
 * the start line or the body framing, `_fstate` inside a field line (header or trailer).
 *
 * Invariants:
 *  - Head phase: the caller's buffer starts at the first byte of the message (leading empty
 *    lines included) and `_pos` counts the bytes already checked. Every saved position
 *    (`_skip`, `_mark`, `_vstart`, `_vend`, `_hstart`) is an offset from that start, never a
 *    pointer, so the buffer may move between calls and no byte is checked twice.
 *  - Header spans go into the caller's array as each line is accepted. If the buffer or the
 *    array moved since the head began (`_moved`), the spans are rebuilt once, when the head
 *    is complete, from the already validated bytes (refill_headers).
 *  - Body phase: each call starts at the first unconsumed byte. Everything is consumed except
 *    an incomplete trailer line, whose offsets are relative to its first byte; they are
 *    rebased whenever a line is consumed.
 *  - Semantic checks that decide the framing (Content-Length, Transfer-Encoding, Host, ...)
 *    run when each field line ends, so a smuggling attempt fails as early as llhttp fails it,
 *    even before the head is complete.
 *  - An error is sticky: `_phase` becomes PH_ERROR; `_err` and `_err_off` say why and where.
 *
 * Strictness follows llhttp's strict mode, with fewer leniencies: CRLF everywhere (no bare CR
 * or LF), no obs-fold, no whitespace before a colon, field values of VCHAR/obs-text/SP/HTAB,
 * one SP between start-line parts, HTTP/1.0 and 1.1 only, and in requests no Content-Length
 * next to Transfer-Encoding, no repeated Content-Length, chunked as the final coding.
 */
#include <string.h>

#include "calcifer/http_parser.h"
#include "util/util.h"

/* Character classes, one bit each in ctab. */
enum {
    C_TCHAR = 1,  /* token characters (RFC 9110 §5.6.2) */
    C_TARGET = 2, /* visible ASCII, accepted in a request-target */
    C_VALUE = 4,  /* field-vchar, SP, HTAB, obs-text: a field value or reason phrase */
    C_HEX = 8,    /* hexadecimal digit */
    C_QDTEXT = 16 /* qdtext inside a quoted-string */
};

/* clang-format off */
static const uint8_t ctab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    20, 23, 6, 23, 23, 23, 23, 23, 22, 22, 23, 23, 22, 23, 23, 22,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 22, 22, 22, 22, 22, 22,
    22, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22, 6, 22, 23, 23,
    23, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22, 23, 22, 23, 0,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
};
/* clang-format on */

/* What the next byte belongs to. */
enum { PH_IDLE = 0, PH_HEAD, PH_BODY, PH_TRAILER, PH_ERROR };

/* Positions in a start line (PH_HEAD). */
enum {
    R_START = 0, /* before the start line: empty lines are skipped */
    R_START_LF,  /* after the CR of an empty line */
    R_METHOD,
    R_TARGET,
    R_VERSION, /* "HTTP/d.d", offset from _mark */
    R_CR,      /* after a request line's version */
    R_STATUS,  /* response: SP, three digits, then SP or CR */
    R_REASON,
    R_LF,     /* after the start line's CR */
    R_FIELDS, /* start line done: field lines (_fstate) */
};

/* Positions in a field line (headers and trailers). */
enum { F_START = 0, F_START_LF, F_NAME, F_OWS, F_VALUE, F_VALUE_LF };

/* Positions in a body (PH_BODY). */
enum {
    B_LENGTH = 0, /* `_left` bytes remain (0: the message is complete) */
    B_EOF,        /* until the connection ends */
    B_CSIZE0,     /* first hex digit of a chunk size */
    B_CSIZE,
    B_EXT_NAME0, /* after ';' */
    B_EXT_NAME,
    B_EXT_VAL0, /* after '=' */
    B_EXT_TOKEN,
    B_EXT_QUOTED,
    B_EXT_QPAIR, /* after a backslash in a quoted value */
    B_EXT_QEND,  /* after the closing quote */
    B_CSIZE_LF,
    B_CDATA, /* `_left` bytes of chunk data remain */
    B_CDATA_CR,
    B_CDATA_LF,
};

/* Facts gathered from header fields (`_mflags`). */
enum {
    M_CL = 1 << 0,
    M_TE = 1 << 1,
    M_TE_CHUNKED = 1 << 2, /* the last transfer coding so far is chunked */
    M_TE_OTHER = 1 << 3,
    M_CLOSE = 1 << 4,
    M_KEEPALIVE = 1 << 5,
    M_CONN_UPGRADE = 1 << 6,
    M_UPGRADE = 1 << 7,
    M_EXPECT = 1 << 8,
};

/* Header fields with a meaning for the parser. */
enum { H_OTHER, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_UPGRADE, H_EXPECT, H_HOST };

/* Results of the scanning steps; errors are negative CF_E* codes. */
enum { STEP_MORE = 0, STEP_GO = 1, STEP_DONE = 2 };
enum { SCAN_MORE = 0, SCAN_FIELD = 1, SCAN_END = 2, SCAN_GO = 3 };

#define METHOD_MAX_LEN 16
#define LIMIT_CEILING  (1u << 30)

/* ---- small helpers ---- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* `s`/`n` equals the lowercase literal `lit` of the same length, ASCII case-insensitively. */
static int eq_nocase(const char *s, size_t n, const char *lit, size_t lit_len)
{
    if (n != lit_len)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

#define EQ_LIT(s, n, lit) eq_nocase((s), (n), (lit), sizeof(lit) - 1)

static size_t skip_class(const char *buf, size_t pos, size_t end, unsigned cls)
{
    while (pos < end && (ctab[(unsigned char)buf[pos]] & cls))
        pos++;
    return pos;
}

/*
 * Word-at-a-time prefilters for the two long runs of a head, field values and targets
 * (model: the "has less than" bit tricks of Bit Twiddling Hacks): eight bytes are skipped
 * at once when none can end the run; the byte loop decides the rest. Never reads past `end`.
 */
#define ONES           0x0101010101010101ull
#define HIGHS          0x8080808080808080ull
#define HAS_LESS(x, n) (((x)-ONES * (n)) & ~(x)&HIGHS)
#define HAS_BYTE(x, b) HAS_LESS((x) ^ (ONES * (b)), 1)

static size_t skip_value(const char *buf, size_t pos, size_t end)
{
    uint64_t w;
    while (pos + 8 <= end) {
        memcpy(&w, buf + pos, 8);
        if (HAS_LESS(w, 0x20) | HAS_BYTE(w, 0x7f))
            break;
        pos += 8;
    }
    return skip_class(buf, pos, end, C_VALUE);
}

static size_t skip_target(const char *buf, size_t pos, size_t end)
{
    uint64_t w;
    while (pos + 8 <= end) {
        memcpy(&w, buf + pos, 8);
        if (HAS_LESS(w, 0x21) | HAS_BYTE(w, 0x7f) | (w & HIGHS))
            break;
        pos += 8;
    }
    return skip_class(buf, pos, end, C_TARGET);
}

static unsigned hexval(unsigned char c)
{
    if (c <= '9')
        return c - '0';
    return (unsigned)(lower(c) - 'a' + 10);
}

static size_t max_head(const cf_http_parser *p)
{
    return p->_max_head ? p->_max_head : CF_HTTP_DEFAULT_MAX_HEAD_LEN;
}

static size_t max_target(const cf_http_parser *p)
{
    return p->_max_target ? p->_max_target : CF_HTTP_DEFAULT_MAX_TARGET_LEN;
}

static uint32_t clamp_limit(size_t v)
{
    return v > LIMIT_CEILING ? LIMIT_CEILING : (uint32_t)v;
}

/*
 * Next element of a comma-separated list in [*s, end), with surrounding whitespace removed;
 * empty elements are skipped (RFC 9110 §5.6.1). Returns 0 at the end of the list.
 */
static int list_next(const char **s, const char *end, const char **el, size_t *el_len)
{
    const char *p = *s;
    while (p < end && (is_ows(*p) || *p == ','))
        p++;
    if (p == end) {
        *s = p;
        return 0;
    }
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *e = comma ? comma : end;
    while (e > p && is_ows(e[-1]))
        e--;
    *el = p;
    *el_len = (size_t)(e - p);
    *s = comma ? comma + 1 : end;
    return 1;
}

/* ---- errors ---- */

static const int error_status[] = {
#define XX(name, status, msg) status,
    CF_HTTP_ERROR_MAP(XX)
#undef XX
};

static const char *const error_messages[] = {
#define XX(name, status, msg) msg,
    CF_HTTP_ERROR_MAP(XX)
#undef XX
};

int cf_http_parse_error_status(cf_http_parse_error err)
{
    if ((unsigned)err >= CF__HTTP_ERR_END)
        return 400;
    return error_status[err];
}

const char *cf_http_parse_error_message(cf_http_parse_error err)
{
    if ((unsigned)err >= CF__HTTP_ERR_END)
        return "unknown HTTP parse error";
    return error_messages[err];
}

/* Limits map to CF_ETOOBIG, everything else to CF_EPARSE. */
static int error_code(unsigned err)
{
    int status = cf_http_parse_error_status((cf_http_parse_error)err);
    return (status == 413 || status == 414 || status == 431) ? CF_ETOOBIG : CF_EPARSE;
}

static int fail(cf_http_parser *p, cf_http_parse_error err, size_t off)
{
    p->_err = (uint8_t)err;
    p->_err_off = (uint32_t)off;
    p->_phase = PH_ERROR;
    return error_code(err);
}

cf_http_parse_error cf_http_parser_error(const cf_http_parser *p)
{
    return p ? (cf_http_parse_error)p->_err : CF_HTTP_ERR_NONE;
}

size_t cf_http_parser_error_offset(const cf_http_parser *p)
{
    return p ? p->_err_off : 0;
}

/* ---- set up ---- */

int cf_http_parser_init(cf_http_parser *p, cf_http_parser_kind kind,
                        const cf_http_parser_config *config)
{
    if (!p || (kind != CF_HTTP_PARSER_REQUEST && kind != CF_HTTP_PARSER_RESPONSE))
        return CF_EINVAL;
    memset(p, 0, sizeof(*p));
    p->_kind = (uint8_t)kind;
    if (config) {
        p->_max_head = clamp_limit(config->max_head_len);
        p->_max_target = clamp_limit(config->max_target_len);
        p->_max_body = config->max_body_len;
        p->_cfg = (uint8_t)config->flags;
    }
    return 0;
}

void cf_http_parser_reset(cf_http_parser *p)
{
    if (!p)
        return;
    cf_http_parser_config config = {p->_max_head, p->_max_target, p->_max_body, p->_cfg};
    cf_http_parser_init(p, (cf_http_parser_kind)p->_kind, &config);
}

/* Forget the previous message; `_closed` and the configuration stay. */
static void begin_message(cf_http_parser *p, const char *buf, uintptr_t harr)
{
    p->_clen = p->_left = p->_total = 0;
    p->_pos = p->_mark = p->_nlen = p->_vstart = p->_vend = p->_skip = p->_mlen = 0;
    p->_hstart = p->_nhdr = p->_mflags = p->_hosts = p->_extlen = p->_tbytes = 0;
    p->_status = 0;
    p->_state = R_START;
    p->_fstate = F_START;
    p->_minor = p->_method = p->_moved = 0;
    p->_base = (uintptr_t)buf;
    p->_harr = harr;
    p->_phase = PH_HEAD;
}

/* ---- start lines ---- */

/* Empty lines before a start line are skipped (RFC 9112 §2.2); then the line begins. */
static int step_start(cf_http_parser *p, const char *buf)
{
    unsigned char c = (unsigned char)buf[p->_pos];
    if (p->_state == R_START_LF) {
        if (c != '\n')
            return fail(p, CF_HTTP_ERR_LINE_ENDING, p->_pos);
        p->_state = R_START;
        p->_pos++;
        return STEP_GO;
    }
    if (c == '\r') {
        p->_state = R_START_LF;
        p->_pos++;
        return STEP_GO;
    }
    if (c == '\n')
        return fail(p, CF_HTTP_ERR_LINE_ENDING, p->_pos);
    if (p->_closed)
        return fail(p, CF_HTTP_ERR_DATA_AFTER_CLOSE, p->_pos);
    p->_skip = p->_pos;
    if (p->_kind == CF_HTTP_PARSER_RESPONSE) {
        p->_mark = p->_pos;
        p->_state = R_VERSION;
        return STEP_GO;
    }
    if (!(ctab[c] & C_TCHAR))
        return fail(p, CF_HTTP_ERR_METHOD, p->_pos);
    p->_state = R_METHOD;
    return STEP_GO;
}

/* The method token: known methods only (an unknown token is 501, as llhttp rejects it). */
static int step_method(cf_http_parser *p, const char *buf, size_t end)
{
    size_t start = p->_skip;
    size_t pos = skip_class(buf, p->_pos, CF_MIN(end, start + METHOD_MAX_LEN + 1), C_TCHAR);
    p->_pos = (uint32_t)pos;
    if (pos == end)
        return STEP_MORE;
    unsigned char c = (unsigned char)buf[pos];
    if (c != ' ') {
        cf_http_parse_error err =
            (ctab[c] & C_TCHAR) ? CF_HTTP_ERR_METHOD_UNKNOWN : CF_HTTP_ERR_METHOD;
        return fail(p, err, pos);
    }
    cf_http_method m = cf_http_method_lookup(buf + start, pos - start);
    if (m == CF_HTTP_METHOD_NONE)
        return fail(p, CF_HTTP_ERR_METHOD_UNKNOWN, start);
    p->_method = (uint8_t)m;
    p->_mlen = (uint32_t)(pos - start);
    p->_state = R_TARGET;
    p->_pos++;
    return STEP_GO;
}

/*
 * The request-target's form (RFC 9112 §3.2): authority-form for CONNECT; otherwise
 * origin-form ("/..."), asterisk-form ("*") or absolute-form ("scheme:...").
 */
static int target_form_ok(unsigned method, const char *t, size_t n)
{
    if (method == CF_HTTP_METHOD_CONNECT)
        return t[0] != '/' && t[0] != '*' && memchr(t, ':', n) != NULL;
    if (t[0] == '/' || (n == 1 && t[0] == '*'))
        return 1;
    unsigned char c = (unsigned char)t[0];
    if (lower(c) < 'a' || lower(c) > 'z')
        return 0;
    for (size_t i = 1; i < n; i++) {
        c = (unsigned char)t[i];
        if (c == ':')
            return 1;
        if (!(ctab[c] & C_HEX) && (lower(c) < 'a' || lower(c) > 'z') && c != '+' && c != '-' &&
            c != '.')
            return 0;
    }
    return 0;
}

static int step_target(cf_http_parser *p, const char *buf, size_t end)
{
    size_t start = (size_t)p->_skip + p->_mlen + 1;
    size_t limit = start + max_target(p);
    size_t pos = skip_target(buf, p->_pos, CF_MIN(end, limit));
    p->_pos = (uint32_t)pos;
    if (pos == end)
        return STEP_MORE;
    unsigned char c = (unsigned char)buf[pos];
    if (c != ' ') {
        int too_long = pos == limit && (ctab[c] & C_TARGET);
        return fail(p, too_long ? CF_HTTP_ERR_TARGET_TOO_LONG : CF_HTTP_ERR_TARGET, pos);
    }
    if (pos == start || !target_form_ok(p->_method, buf + start, pos - start))
        return fail(p, CF_HTTP_ERR_TARGET, start);
    p->_pos++;
    p->_mark = p->_pos;
    p->_state = R_VERSION;
    return STEP_GO;
}

/* "HTTP/" DIGIT "." DIGIT, at offset 0..7 from `_mark`; 1.0 and 1.1 only. */
static int step_version(cf_http_parser *p, const char *buf, size_t end)
{
    static const char proto[] = "HTTP/";
    while (p->_pos < end) {
        size_t i = p->_pos - p->_mark;
        unsigned char c = (unsigned char)buf[p->_pos];
        int ok = i < 5 ? c == (unsigned char)proto[i] : i == 6 ? c == '.' : (c >= '0' && c <= '9');
        if (!ok)
            return fail(p, CF_HTTP_ERR_VERSION, p->_pos);
        p->_pos++;
        if (i == 7) {
            char major = buf[p->_mark + 5];
            char minor = buf[p->_mark + 7];
            if (major != '1' || minor > '1')
                return fail(p, CF_HTTP_ERR_VERSION_UNSUPPORTED, p->_mark);
            p->_minor = (uint8_t)(minor - '0');
            p->_state = p->_kind == CF_HTTP_PARSER_RESPONSE ? R_STATUS : R_CR;
            return STEP_GO;
        }
    }
    return STEP_MORE;
}

/* Response: SP, a three-digit status (100..999), then SP and a reason, or CR at once. */
static int step_status(cf_http_parser *p, const char *buf, size_t end)
{
    while (p->_pos < end) {
        size_t i = p->_pos - p->_mark;
        unsigned char c = (unsigned char)buf[p->_pos];
        if (i == 8 && c != ' ')
            return fail(p, CF_HTTP_ERR_STATUS, p->_pos);
        if (i > 8 && i < 12) {
            if (c < '0' || c > '9' || (i == 9 && c == '0'))
                return fail(p, CF_HTTP_ERR_STATUS, p->_pos);
            p->_status = (uint16_t)(p->_status * 10 + (c - '0'));
        }
        if (i == 12) {
            if (c != ' ' && c != '\r')
                return fail(p, CF_HTTP_ERR_STATUS, p->_pos);
            p->_state = c == ' ' ? R_REASON : R_LF;
            p->_pos++;
            return STEP_GO;
        }
        p->_pos++;
    }
    return STEP_MORE;
}

static int step_reason(cf_http_parser *p, const char *buf, size_t end)
{
    size_t pos = skip_value(buf, p->_pos, end);
    p->_pos = (uint32_t)pos;
    if (pos == end)
        return STEP_MORE;
    if (buf[pos] != '\r')
        return fail(p, buf[pos] == '\n' ? CF_HTTP_ERR_LINE_ENDING : CF_HTTP_ERR_STATUS, pos);
    p->_pos++;
    p->_state = R_LF;
    return STEP_GO;
}

/* The CR after a request line's version, then the LF of any start line. */
static int step_eol(cf_http_parser *p, const char *buf)
{
    unsigned char c = (unsigned char)buf[p->_pos];
    if (p->_state == R_CR) {
        if (c != '\r')
            return fail(p, c == '\n' ? CF_HTTP_ERR_LINE_ENDING : CF_HTTP_ERR_VERSION, p->_pos);
        p->_pos++;
        p->_state = R_LF;
        return STEP_GO;
    }
    if (c != '\n')
        return fail(p, CF_HTTP_ERR_LINE_ENDING, p->_pos);
    p->_pos++;
    p->_hstart = p->_pos;
    p->_state = R_FIELDS;
    p->_fstate = F_START;
    return STEP_DONE;
}

/* Scan the start line from `_pos` up to `end`; STEP_DONE once its LF is consumed. */
static int scan_start_line(cf_http_parser *p, const char *buf, size_t end)
{
    int r = STEP_GO;
    while (r == STEP_GO) {
        if (p->_pos >= end)
            return STEP_MORE;
        switch (p->_state) {
        case R_START:
        case R_START_LF:
            r = step_start(p, buf);
            break;
        case R_METHOD:
            r = step_method(p, buf, end);
            break;
        case R_TARGET:
            r = step_target(p, buf, end);
            break;
        case R_VERSION:
            r = step_version(p, buf, end);
            break;
        case R_STATUS:
            r = step_status(p, buf, end);
            break;
        case R_REASON:
            r = step_reason(p, buf, end);
            break;
        default:
            r = step_eol(p, buf);
            break;
        }
    }
    return r;
}

/* ---- field lines (headers and trailers) ---- */

/*
 * The edges of a field line: its first byte (CR of the empty line, or a name), and the LF
 * after a value or after the empty line's CR. Returns SCAN_GO with `_pos` advanced,
 * SCAN_FIELD or SCAN_END once an LF is consumed, or an error.
 */
static int field_edge(cf_http_parser *p, const char *buf, size_t pos)
{
    unsigned char c = (unsigned char)buf[pos];
    if (p->_fstate == F_START) {
        if (!(ctab[c] & C_TCHAR) && c != '\r') {
            cf_http_parse_error err = is_ows((char)c) ? CF_HTTP_ERR_OBS_FOLD
                                      : c == '\n'     ? CF_HTTP_ERR_LINE_ENDING
                                                      : CF_HTTP_ERR_HEADER_NAME;
            return fail(p, err, pos);
        }
        p->_mark = (uint32_t)pos;
        p->_fstate = c == '\r' ? F_START_LF : F_NAME;
        p->_pos = (uint32_t)(pos + (c == '\r'));
        return SCAN_GO;
    }
    if (c != '\n')
        return fail(p, CF_HTTP_ERR_LINE_ENDING, pos);
    p->_pos = (uint32_t)(pos + 1);
    if (p->_fstate == F_START_LF) {
        p->_fstate = F_START;
        return SCAN_END;
    }
    while (p->_vend > p->_vstart && is_ows(buf[p->_vend - 1]))
        p->_vend--;
    p->_fstate = F_START;
    return SCAN_FIELD;
}

/*
 * Scan one field line, or the empty line that ends the section, from `_pos` up to `end`.
 * On SCAN_FIELD the name is [_mark, _mark + _nlen) and the value [_vstart, _vend), without
 * surrounding whitespace; `_pos` is just past the line's LF.
 */
static int scan_field(cf_http_parser *p, const char *buf, size_t end)
{
    size_t pos = p->_pos;
    while (pos < end) {
        if (p->_fstate == F_NAME) {
            pos = skip_class(buf, pos, end, C_TCHAR);
            if (pos == end)
                break;
            if (buf[pos] != ':') {
                cf_http_parse_error err =
                    is_ows(buf[pos]) ? CF_HTTP_ERR_HEADER_SPACE : CF_HTTP_ERR_HEADER_NAME;
                return fail(p, err, pos);
            }
            p->_nlen = (uint32_t)(pos - p->_mark);
            p->_fstate = F_OWS;
            pos++;
        } else if (p->_fstate == F_OWS) {
            while (pos < end && is_ows(buf[pos]))
                pos++;
            p->_vstart = (uint32_t)pos;
            if (pos < end)
                p->_fstate = F_VALUE;
        } else if (p->_fstate == F_VALUE) {
            pos = skip_value(buf, pos, end);
            if (pos == end)
                break;
            if (buf[pos] != '\r') {
                cf_http_parse_error err =
                    buf[pos] == '\n' ? CF_HTTP_ERR_LINE_ENDING : CF_HTTP_ERR_HEADER_VALUE;
                return fail(p, err, pos);
            }
            p->_vend = (uint32_t)pos;
            p->_fstate = F_VALUE_LF;
            pos++;
        } else {
            int r = field_edge(p, buf, pos);
            if (r != SCAN_GO)
                return r;
            pos = p->_pos;
        }
    }
    p->_pos = (uint32_t)pos;
    return SCAN_MORE;
}

/* ---- header semantics ---- */

static int classify(const char *name, size_t n)
{
    switch (n) {
    case 4:
        return EQ_LIT(name, n, "host") ? H_HOST : H_OTHER;
    case 6:
        return EQ_LIT(name, n, "expect") ? H_EXPECT : H_OTHER;
    case 7:
        return EQ_LIT(name, n, "upgrade") ? H_UPGRADE : H_OTHER;
    case 10:
        return EQ_LIT(name, n, "connection") ? H_CONNECTION : H_OTHER;
    case 14:
        return EQ_LIT(name, n, "content-length") ? H_CONTENT_LENGTH : H_OTHER;
    case 17:
        return EQ_LIT(name, n, "transfer-encoding") ? H_TRANSFER_ENCODING : H_OTHER;
    default:
        return H_OTHER;
    }
}

/* 1*DIGIT only (no sign, no list, no inner space); a second field is an error even if equal. */
static int on_content_length(cf_http_parser *p, const char *v, size_t n)
{
    if (p->_mflags & M_CL)
        return fail(p, CF_HTTP_ERR_CONTENT_LENGTH_DUP, p->_mark);
    if (p->_mflags & M_TE)
        return fail(p, CF_HTTP_ERR_TE_AND_CL, p->_mark);
    if (n == 0)
        return fail(p, CF_HTTP_ERR_CONTENT_LENGTH, p->_vstart);
    uint64_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)v[i] - (unsigned)'0';
        if (d > 9 || len > (UINT64_MAX - d) / 10)
            return fail(p, CF_HTTP_ERR_CONTENT_LENGTH, p->_vstart + i);
        len = len * 10 + d;
    }
    p->_clen = len;
    p->_mflags |= M_CL;
    return 0;
}

/*
 * Transfer codings accumulate over repeated fields. A request's codings must end with
 * chunked, applied once (RFC 9112 §6.3): anything after chunked is an error at once. In a
 * response a later coding only means the body runs until the connection closes.
 */
static int on_transfer_encoding(cf_http_parser *p, const char *v, size_t n)
{
    if (p->_mflags & M_CL)
        return fail(p, CF_HTTP_ERR_TE_AND_CL, p->_mark);
    p->_mflags |= M_TE;
    const char *s = v;
    const char *el;
    size_t el_len;
    int count = 0;
    while (list_next(&s, v + n, &el, &el_len)) {
        count++;
        if ((p->_mflags & M_TE_CHUNKED) && p->_kind == CF_HTTP_PARSER_REQUEST)
            return fail(p, CF_HTTP_ERR_TRANSFER_ENCODING, (size_t)p->_vstart + (size_t)(el - v));
        if (EQ_LIT(el, el_len, "chunked")) {
            p->_mflags |= M_TE_CHUNKED;
        } else {
            p->_mflags = (p->_mflags & ~(uint32_t)M_TE_CHUNKED) | M_TE_OTHER;
        }
    }
    if (count == 0)
        return fail(p, CF_HTTP_ERR_TRANSFER_ENCODING, p->_vstart);
    return 0;
}

static void on_connection(cf_http_parser *p, const char *v, size_t n)
{
    const char *s = v;
    const char *el;
    size_t el_len;
    while (list_next(&s, v + n, &el, &el_len)) {
        if (EQ_LIT(el, el_len, "close"))
            p->_mflags |= M_CLOSE;
        else if (EQ_LIT(el, el_len, "keep-alive"))
            p->_mflags |= M_KEEPALIVE;
        else if (EQ_LIT(el, el_len, "upgrade"))
            p->_mflags |= M_CONN_UPGRADE;
    }
}

/* Only 100-continue is understood; any other expectation is 417 (RFC 9110 §10.1.1). */
static int on_expect(cf_http_parser *p, const char *v, size_t n)
{
    const char *s = v;
    const char *el;
    size_t el_len;
    while (list_next(&s, v + n, &el, &el_len)) {
        if (!EQ_LIT(el, el_len, "100-continue"))
            return fail(p, CF_HTTP_ERR_EXPECT, p->_vstart);
        p->_mflags |= M_EXPECT;
    }
    return 0;
}

/* A header line is complete: record its span, then apply what it means for framing. */
static int on_head_field(cf_http_parser *p, const char *buf, cf_http_field *arr, size_t max)
{
    if (p->_nhdr >= max)
        return fail(p, CF_HTTP_ERR_TOO_MANY_HEADERS, p->_mark);
    const char *name = buf + p->_mark;
    const char *value = buf + p->_vstart;
    size_t vlen = p->_vend - p->_vstart;
    cf_http_field *h = &arr[p->_nhdr++];
    h->name = name;
    h->name_len = p->_nlen;
    h->value = value;
    h->value_len = vlen;
    int request = p->_kind == CF_HTTP_PARSER_REQUEST;
    switch (classify(name, p->_nlen)) {
    case H_CONTENT_LENGTH:
        return on_content_length(p, value, vlen);
    case H_TRANSFER_ENCODING:
        return on_transfer_encoding(p, value, vlen);
    case H_CONNECTION:
        on_connection(p, value, vlen);
        return 0;
    case H_UPGRADE:
        p->_mflags |= M_UPGRADE;
        return 0;
    case H_EXPECT:
        return request ? on_expect(p, value, vlen) : 0;
    case H_HOST:
        if (request && ++p->_hosts > 1)
            return fail(p, CF_HTTP_ERR_HOST_DUP, p->_mark);
        return 0;
    default:
        return 0;
    }
}

/* The head's field lines again, from validated bytes, when the buffer or array moved. */
static int refill_headers(cf_http_parser *p, const char *buf, cf_http_field *arr, size_t max)
{
    if (p->_nhdr > max)
        return fail(p, CF_HTTP_ERR_TOO_MANY_HEADERS, p->_hstart);
    const char *s = buf + p->_hstart;
    const char *end = buf + p->_pos;
    for (uint32_t i = 0; i < p->_nhdr; i++) {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        CF_ASSERT(colon);
        const char *cr = memchr(colon, '\r', (size_t)(end - colon));
        CF_ASSERT(cr);
        const char *v = colon + 1;
        const char *ve = cr;
        while (v < ve && is_ows(*v))
            v++;
        while (ve > v && is_ows(ve[-1]))
            ve--;
        arr[i].name = s;
        arr[i].name_len = (size_t)(colon - s);
        arr[i].value = v;
        arr[i].value_len = (size_t)(ve - v);
        s = cr + 2;
    }
    return 0;
}

/* ---- heads ---- */

/*
 * Called at the start of every head call: starts a message when between messages (ending a
 * finished body implicitly) and notes whether the buffer or the header array moved.
 */
static int enter_head(cf_http_parser *p, const char *buf, uintptr_t harr)
{
    if (p->_phase == PH_ERROR)
        return error_code(p->_err);
    if (p->_phase == PH_BODY && p->_state == B_LENGTH && p->_left == 0)
        p->_phase = PH_IDLE;
    if (p->_phase == PH_IDLE) {
        begin_message(p, buf, harr);
        return 0;
    }
    if (p->_phase != PH_HEAD)
        return CF_EINVAL;
    if (p->_base != (uintptr_t)buf || p->_harr != harr)
        p->_moved = 1;
    return 0;
}

/* Scan what is new of the head; STEP_DONE once the empty line that ends it is consumed. */
static int scan_head(cf_http_parser *p, const char *buf, size_t len, cf_http_field *arr, size_t max)
{
    size_t limit = max_head(p);
    size_t end = CF_MIN(len, limit);
    int r = STEP_DONE;
    if (p->_state != R_FIELDS)
        r = scan_start_line(p, buf, end);
    while (r == STEP_DONE) {
        r = scan_field(p, buf, end);
        if (r == SCAN_END)
            return STEP_DONE;
        if (r == SCAN_FIELD) {
            r = on_head_field(p, buf, arr, max);
            r = r < 0 ? r : STEP_DONE;
        }
    }
    if (r == STEP_MORE && p->_pos >= limit)
        return fail(p, CF_HTTP_ERR_HEAD_TOO_LARGE, p->_pos);
    return r;
}

/* Switch to the body phase with the framing of `flags`. */
static void start_body(cf_http_parser *p, unsigned flags)
{
    p->_phase = PH_BODY;
    p->_pos = 0;
    p->_total = 0;
    p->_extlen = 0;
    p->_closed = !(flags & CF_HTTP_MSG_KEEP_ALIVE);
    p->_left = (flags & CF_HTTP_MSG_CONTENT_LENGTH) ? p->_clen : 0;
    if (flags & CF_HTTP_MSG_CHUNKED)
        p->_state = B_CSIZE0;
    else if (flags & CF_HTTP_MSG_UNTIL_CLOSE)
        p->_state = B_EOF;
    else
        p->_state = B_LENGTH;
}

static int check_body_limit(cf_http_parser *p, unsigned flags)
{
    if ((flags & CF_HTTP_MSG_CONTENT_LENGTH) && p->_max_body && p->_clen > p->_max_body)
        return fail(p, CF_HTTP_ERR_BODY_TOO_LARGE, p->_hstart);
    return (int)flags;
}

/* A request's framing (RFC 9112 §6.3) and connection flags; negative on error. */
static int request_framing(cf_http_parser *p)
{
    unsigned m = p->_mflags;
    unsigned flags = 0;
    if (p->_minor == 1 && !p->_hosts && !(p->_cfg & CF_HTTP_PARSE_NO_HOST_CHECK))
        return fail(p, CF_HTTP_ERR_HOST_MISSING, p->_hstart);
    if (m & M_TE) {
        /* HTTP/1.0 has no transfer codings: such framing is faulty (RFC 9112 §6.1). */
        if (p->_minor == 0 || !(m & M_TE_CHUNKED))
            return fail(p, CF_HTTP_ERR_TRANSFER_ENCODING, p->_hstart);
        flags |= CF_HTTP_MSG_CHUNKED | ((m & M_TE_OTHER) ? CF_HTTP_MSG_TE_OTHER : 0);
    } else if (m & M_CL) {
        flags |= CF_HTTP_MSG_CONTENT_LENGTH;
    }
    if (!(m & M_CLOSE) && (p->_minor == 1 || (m & M_KEEPALIVE)))
        flags |= CF_HTTP_MSG_KEEP_ALIVE;
    if ((m & M_EXPECT) && p->_minor == 1)
        flags |= CF_HTTP_MSG_EXPECT_CONTINUE;
    if ((m & M_UPGRADE) && (m & M_CONN_UPGRADE))
        flags |= CF_HTTP_MSG_UPGRADE;
    if (p->_method == CF_HTTP_METHOD_CONNECT) {
        /* A CONNECT request has no content: what follows the head is the tunnel. */
        flags = (flags & ~(unsigned)(CF_HTTP_MSG_CHUNKED | CF_HTTP_MSG_CONTENT_LENGTH |
                                     CF_HTTP_MSG_TE_OTHER)) |
                CF_HTTP_MSG_TUNNEL;
    }
    return check_body_limit(p, flags);
}

/* A response's framing (RFC 9112 §6.3) given the request's method. */
static int response_framing(cf_http_parser *p, cf_http_method req_method)
{
    unsigned m = p->_mflags;
    int st = p->_status;
    int keep = !(m & M_CLOSE) && (p->_minor == 1 || (m & M_KEEPALIVE));
    unsigned flags = 0;
    int tunnel = req_method == CF_HTTP_METHOD_CONNECT && st / 100 == 2;
    if (st < 200 || st == 204 || st == 304 || req_method == CF_HTTP_METHOD_HEAD || tunnel) {
        if (st == 101)
            flags |= CF_HTTP_MSG_UPGRADE;
        if (tunnel)
            flags |= CF_HTTP_MSG_TUNNEL;
        if (st < 200)
            keep = 1; /* interim: the final response decides */
    } else if ((m & M_TE) && (m & M_TE_CHUNKED) && p->_minor == 1) {
        flags |= CF_HTTP_MSG_CHUNKED | ((m & M_TE_OTHER) ? CF_HTTP_MSG_TE_OTHER : 0);
    } else if (m & M_TE) {
        flags |= CF_HTTP_MSG_UNTIL_CLOSE | CF_HTTP_MSG_TE_OTHER;
        keep = 0;
    } else if (m & M_CL) {
        flags |= CF_HTTP_MSG_CONTENT_LENGTH;
    } else {
        flags |= CF_HTTP_MSG_UNTIL_CLOSE;
        keep = 0;
    }
    if (keep)
        flags |= CF_HTTP_MSG_KEEP_ALIVE;
    return check_body_limit(p, flags);
}

static int finish_request(cf_http_parser *p, const char *buf, cf_http_request_head *req)
{
    size_t head_len = p->_pos;
    int r = p->_moved ? refill_headers(p, buf, req->headers, req->max_headers) : 0;
    if (r < 0)
        return r;
    r = request_framing(p);
    if (r < 0)
        return r;
    size_t tstart = (size_t)p->_skip + p->_mlen + 1;
    req->method = buf + p->_skip;
    req->method_len = p->_mlen;
    req->method_id = (cf_http_method)p->_method;
    req->target = buf + tstart;
    req->target_len = p->_hstart - tstart - 11; /* " HTTP/1.1\r\n" */
    req->minor_version = p->_minor;
    req->num_headers = p->_nhdr;
    req->flags = (unsigned)r;
    req->content_length = (req->flags & CF_HTTP_MSG_CONTENT_LENGTH) ? p->_clen : 0;
    start_body(p, req->flags);
    return (int)head_len;
}

static int finish_response(cf_http_parser *p, const char *buf, cf_http_response_head *resp)
{
    size_t head_len = p->_pos;
    int r = p->_moved ? refill_headers(p, buf, resp->headers, resp->max_headers) : 0;
    if (r < 0)
        return r;
    r = response_framing(p, resp->request_method);
    if (r < 0)
        return r;
    size_t reason_end = p->_hstart - 2;
    size_t reason = CF_MIN((size_t)p->_skip + 13, reason_end);
    resp->status = p->_status;
    resp->reason = buf + reason;
    resp->reason_len = reason_end - reason;
    resp->minor_version = p->_minor;
    resp->num_headers = p->_nhdr;
    resp->flags = (unsigned)r;
    resp->content_length = (resp->flags & CF_HTTP_MSG_CONTENT_LENGTH) ? p->_clen : 0;
    start_body(p, resp->flags);
    return (int)head_len;
}

int cf_http_parse_request(cf_http_parser *p, const char *buf, size_t len, cf_http_request_head *req)
{
    if (!p || !req || (!buf && len) || p->_kind != CF_HTTP_PARSER_REQUEST)
        return CF_EINVAL;
    int r = enter_head(p, buf, (uintptr_t)req->headers);
    if (r < 0)
        return r;
    r = scan_head(p, buf, len, req->headers, req->max_headers);
    if (r != STEP_DONE)
        return r;
    return finish_request(p, buf, req);
}

int cf_http_parse_response(cf_http_parser *p, const char *buf, size_t len,
                           cf_http_response_head *resp)
{
    if (!p || !resp || (!buf && len) || p->_kind != CF_HTTP_PARSER_RESPONSE)
        return CF_EINVAL;
    int r = enter_head(p, buf, (uintptr_t)resp->headers);
    if (r < 0)
        return r;
    r = scan_head(p, buf, len, resp->headers, resp->max_headers);
    if (r != STEP_DONE)
        return r;
    return finish_response(p, buf, resp);
}

/* ---- bodies ---- */

static int line_byte(cf_http_parser *p, size_t off)
{
    if (++p->_extlen > CF_HTTP_MAX_CHUNK_LINE)
        return fail(p, CF_HTTP_ERR_CHUNK_LINE, off);
    return 0;
}

/* After a chunk size or an extension: ';' starts another extension, CR ends the line. */
static int size_line_next(cf_http_parser *p, unsigned char c, size_t off)
{
    if (c == ';') {
        p->_state = B_EXT_NAME0;
        return line_byte(p, off);
    }
    if (c == '\r') {
        p->_state = B_CSIZE_LF;
        return 0;
    }
    return fail(p, p->_state == B_CSIZE ? CF_HTTP_ERR_CHUNK_SIZE : CF_HTTP_ERR_CHUNK_EXT, off);
}

/* A chunk-size line is complete: data follows, or (size 0) the trailer section. */
static int size_line_done(cf_http_parser *p, size_t off)
{
    if (p->_left == 0) {
        p->_phase = PH_TRAILER;
        p->_fstate = F_START;
        p->_tbytes = 0;
        return 0;
    }
    if (p->_max_body && p->_left > p->_max_body - p->_total)
        return fail(p, CF_HTTP_ERR_BODY_TOO_LARGE, off);
    p->_total += p->_left;
    p->_state = B_CDATA;
    return 0;
}

/*
 * One byte of chunk framing (RFC 9112 §7.1): chunk-size [ *( ";" name [ "=" token /
 * quoted-string ] ) ] CRLF, and the CRLF after chunk data. No whitespace anywhere, as in
 * llhttp's strict mode.
 */
static int chunk_meta(cf_http_parser *p, unsigned char c, size_t off)
{
    unsigned cls = ctab[c];
    switch (p->_state) {
    case B_CSIZE0:
        if (!(cls & C_HEX))
            return fail(p, CF_HTTP_ERR_CHUNK_SIZE, off);
        p->_left = hexval(c);
        p->_extlen = 1;
        p->_state = B_CSIZE;
        return 0;
    case B_CSIZE:
        if (!(cls & C_HEX))
            return size_line_next(p, c, off);
        if (p->_left >> 59)
            return fail(p, CF_HTTP_ERR_CHUNK_SIZE, off);
        p->_left = (p->_left << 4) | hexval(c);
        return line_byte(p, off);
    case B_EXT_NAME0:
    case B_EXT_VAL0:
        if (c == '"' && p->_state == B_EXT_VAL0)
            p->_state = B_EXT_QUOTED;
        else if (cls & C_TCHAR)
            p->_state = p->_state == B_EXT_NAME0 ? B_EXT_NAME : B_EXT_TOKEN;
        else
            return fail(p, CF_HTTP_ERR_CHUNK_EXT, off);
        return line_byte(p, off);
    case B_EXT_NAME:
    case B_EXT_TOKEN:
        if (c == '=' && p->_state == B_EXT_NAME)
            p->_state = B_EXT_VAL0;
        else if (!(cls & C_TCHAR))
            return size_line_next(p, c, off);
        return line_byte(p, off);
    case B_EXT_QUOTED:
        if (c == '"')
            p->_state = B_EXT_QEND;
        else if (c == '\\')
            p->_state = B_EXT_QPAIR;
        else if (!(cls & C_QDTEXT))
            return fail(p, CF_HTTP_ERR_CHUNK_EXT, off);
        return line_byte(p, off);
    case B_EXT_QPAIR:
        if (!(cls & C_VALUE))
            return fail(p, CF_HTTP_ERR_CHUNK_EXT, off);
        p->_state = B_EXT_QUOTED;
        return line_byte(p, off);
    case B_EXT_QEND:
        return size_line_next(p, c, off);
    case B_CSIZE_LF:
        if (c != '\n')
            return fail(p, CF_HTTP_ERR_LINE_ENDING, off);
        return size_line_done(p, off);
    case B_CDATA_CR:
    case B_CDATA_LF:
        if (c != (p->_state == B_CDATA_CR ? '\r' : '\n'))
            return fail(p, CF_HTTP_ERR_CHUNK_DATA, off);
        p->_state = p->_state == B_CDATA_CR ? B_CDATA_LF : B_CSIZE0;
        return 0;
    default:
        CF_ASSERT(0);
        return fail(p, CF_HTTP_ERR_CHUNK_SIZE, off);
    }
}

static void end_message(cf_http_parser *p)
{
    p->_phase = PH_IDLE;
    p->_pos = 0;
}

/*
 * Trailer fields, one complete line per call (RFC 9112 §7.1.2). `buf` starts at the first
 * byte of the current line; an incomplete line stays unconsumed. The section shares the
 * head's size limit.
 */
static int parse_trailer(cf_http_parser *p, const char *buf, size_t len, cf_http_body_event *ev)
{
    size_t room = max_head(p) - p->_tbytes;
    int r = scan_field(p, buf, CF_MIN(len, room));
    if (r < 0)
        return r;
    if (r == SCAN_END) {
        ev->consumed = p->_pos;
        end_message(p);
        return CF_HTTP_BODY_END;
    }
    if (r == SCAN_FIELD) {
        ev->trailer.name = buf + p->_mark;
        ev->trailer.name_len = p->_nlen;
        ev->trailer.value = buf + p->_vstart;
        ev->trailer.value_len = p->_vend - p->_vstart;
        ev->consumed = p->_pos;
        p->_tbytes += p->_pos;
        p->_pos = 0;
        return CF_HTTP_BODY_TRAILER;
    }
    if (p->_pos >= room)
        return fail(p, CF_HTTP_ERR_HEAD_TOO_LARGE, p->_pos);
    return CF_HTTP_BODY_NEED_MORE;
}

static int parse_chunked(cf_http_parser *p, const char *buf, size_t len, cf_http_body_event *ev)
{
    size_t pos = 0;
    while (pos < len) {
        if (p->_state == B_CDATA) {
            size_t n = (size_t)CF_MIN((uint64_t)(len - pos), p->_left);
            ev->data = buf + pos;
            ev->len = n;
            ev->consumed = pos + n;
            p->_left -= n;
            if (p->_left == 0)
                p->_state = B_CDATA_CR;
            return CF_HTTP_BODY_DATA;
        }
        int r = chunk_meta(p, (unsigned char)buf[pos], pos);
        if (r < 0)
            return r;
        pos++;
        if (p->_phase == PH_TRAILER) {
            p->_pos = 0;
            r = parse_trailer(p, buf + pos, len - pos, ev);
            if (r >= 0)
                ev->consumed += pos;
            return r;
        }
    }
    ev->consumed = pos;
    return CF_HTTP_BODY_NEED_MORE;
}

int cf_http_parse_body(cf_http_parser *p, const char *buf, size_t len, cf_http_body_event *ev)
{
    if (!p || !ev || (!buf && len))
        return CF_EINVAL;
    memset(ev, 0, sizeof(*ev));
    if (p->_phase == PH_ERROR)
        return error_code(p->_err);
    if (p->_phase == PH_TRAILER)
        return parse_trailer(p, buf, len, ev);
    if (p->_phase != PH_BODY)
        return CF_EINVAL;
    if (p->_state == B_LENGTH && p->_left == 0) {
        end_message(p);
        return CF_HTTP_BODY_END;
    }
    if (p->_state == B_LENGTH || p->_state == B_EOF) {
        if (len == 0)
            return CF_HTTP_BODY_NEED_MORE;
        size_t n = p->_state == B_EOF ? len : (size_t)CF_MIN((uint64_t)len, p->_left);
        if (p->_state == B_EOF && p->_max_body && n > p->_max_body - p->_total)
            return fail(p, CF_HTTP_ERR_BODY_TOO_LARGE, 0);
        p->_total += n;
        if (p->_state == B_LENGTH)
            p->_left -= n;
        ev->data = buf;
        ev->len = n;
        ev->consumed = n;
        return CF_HTTP_BODY_DATA;
    }
    return parse_chunked(p, buf, len, ev);
}

int cf_http_parse_finish(cf_http_parser *p)
{
    if (!p)
        return CF_EINVAL;
    int r = 0;
    switch (p->_phase) {
    case PH_ERROR:
        return error_code(p->_err);
    case PH_IDLE:
        break;
    case PH_HEAD:
        if (p->_state != R_START)
            return fail(p, CF_HTTP_ERR_INCOMPLETE, p->_pos);
        break;
    case PH_BODY:
        if (p->_state == B_EOF)
            r = CF_HTTP_BODY_END;
        else if (p->_state != B_LENGTH || p->_left != 0)
            return fail(p, CF_HTTP_ERR_INCOMPLETE, 0);
        break;
    default:
        return fail(p, CF_HTTP_ERR_INCOMPLETE, 0);
    }
    end_message(p);
    p->_closed = 1;
    return r;
}

/* ---- helpers ---- */

const cf_http_field *cf_http_field_find(const cf_http_field *headers, size_t n, const char *name,
                                        const cf_http_field *after)
{
    if (!headers || !name)
        return NULL;
    size_t nlen = strlen(name);
    size_t i = after ? (size_t)(after - headers) + 1 : 0;
    for (; i < n; i++) {
        const cf_http_field *h = &headers[i];
        if (h->name_len != nlen)
            continue;
        size_t k = 0;
        while (k < nlen && lower((unsigned char)h->name[k]) == lower((unsigned char)name[k]))
            k++;
        if (k == nlen)
            return h;
    }
    return NULL;
}

int cf_http_token_list_has(const char *value, size_t len, const char *token)
{
    if (!value || !token)
        return 0;
    size_t tlen = strlen(token);
    const char *s = value;
    const char *el;
    size_t el_len;
    while (list_next(&s, value + len, &el, &el_len)) {
        size_t k = 0;
        while (k < tlen && k < el_len &&
               lower((unsigned char)el[k]) == lower((unsigned char)token[k]))
            k++;
        if (k == tlen && k == el_len)
            return 1;
    }
    return 0;
}

static const char *const method_names[] = {NULL,
#define XX(name, str) str,
                                           CF_HTTP_METHOD_MAP(XX)
#undef XX
};

static const uint8_t method_lens[] = {0,
#define XX(name, str) sizeof(str) - 1,
                                      CF_HTTP_METHOD_MAP(XX)
#undef XX
};

const char *cf_http_method_name(cf_http_method method)
{
    if ((unsigned)method >= CF__HTTP_METHOD_END)
        return NULL;
    return method_names[method];
}

cf_http_method cf_http_method_lookup(const char *s, size_t len)
{
    if (!s)
        return CF_HTTP_METHOD_NONE;
    for (unsigned m = 1; m < CF__HTTP_METHOD_END; m++) {
        if (method_lens[m] == len && method_names[m][0] == s[0] &&
            memcmp(method_names[m], s, len) == 0)
            return (cf_http_method)m;
    }
    return CF_HTTP_METHOD_NONE;
}

static const struct {
    int status;
    const char *reason;
} status_reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {208, "Already Reported"},
    {226, "IM Used"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a Teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Entity"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {506, "Variant Also Negotiates"},
    {507, "Insufficient Storage"},
    {508, "Loop Detected"},
    {509, "Bandwidth Limit Exceeded"},
    {510, "Not Extended"},
    {511, "Network Authentication Required"},
};

const char *cf_http_status_reason(int status)
{
    size_t lo = 0;
    size_t hi = CF_ARRAY_LEN(status_reasons);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (status_reasons[mid].status == status)
            return status_reasons[mid].reason;
        if (status_reasons[mid].status < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
