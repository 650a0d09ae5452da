/*
 * Calcifer: incremental HTTP/1.1 message parser (the server's request parser).
 *
 * ≈ the parser inside Node's `http` module (llhttp), with the shape of h2o's picohttpparser:
 * no allocation, the caller's buffers, a zero-initializable state struct, and a distinct
 * "need more input" result. It is strict where leniency lets two parsers disagree about
 * where a message ends (request smuggling): every such input is an error with the status
 * code a server answers before closing the connection.
 *
 * One parser follows one connection. Each call takes the bytes the previous call did not
 * consume, followed by whatever arrived since (the buffer may move between calls); the
 * parser remembers how far it has scanned and never scans a byte twice.
 *
 *  1. cf_http_parse_request (or _response) until it returns the head's length: method,
 *     target and header fields are spans into the caller's buffer, the framing is decided.
 *  2. cf_http_parse_body until it returns CF_HTTP_BODY_END: each call reports at most one
 *     data span (chunked coding removed), one trailer field, or the end of the message.
 *     Splits may fall anywhere, one byte at a time included.
 *  3. The next message (pipelining) starts right after the bytes consumed so far.
 *
 * Nothing here needs a loop. Functions are for one thread at a time per parser; distinct
 * parsers may be used on distinct threads. The lookup helpers are thread-safe.
 */
#ifndef CALCIFER_HTTP_PARSER_H
#define CALCIFER_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "calcifer/common.h"
#include "calcifer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/*
 * One header (or trailer) field: spans into the caller's buffer, not NUL-terminated.
 * `value` has no leading or trailing whitespace (OWS); it may be empty.
 */
typedef struct cf_http_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} cf_http_field;

/* XX(enum suffix, method token). The methods a request may use; any other token is 501. */
#define CF_HTTP_METHOD_MAP(XX)                                                                     \
    XX(DELETE, "DELETE")                                                                           \
    XX(GET, "GET")                                                                                 \
    XX(HEAD, "HEAD")                                                                               \
    XX(POST, "POST")                                                                               \
    XX(PUT, "PUT")                                                                                 \
    XX(CONNECT, "CONNECT")                                                                         \
    XX(OPTIONS, "OPTIONS")                                                                         \
    XX(TRACE, "TRACE")                                                                             \
    XX(COPY, "COPY")                                                                               \
    XX(LOCK, "LOCK")                                                                               \
    XX(MKCOL, "MKCOL")                                                                             \
    XX(MOVE, "MOVE")                                                                               \
    XX(PROPFIND, "PROPFIND")                                                                       \
    XX(PROPPATCH, "PROPPATCH")                                                                     \
    XX(SEARCH, "SEARCH")                                                                           \
    XX(UNLOCK, "UNLOCK")                                                                           \
    XX(BIND, "BIND")                                                                               \
    XX(REBIND, "REBIND")                                                                           \
    XX(UNBIND, "UNBIND")                                                                           \
    XX(ACL, "ACL")                                                                                 \
    XX(REPORT, "REPORT")                                                                           \
    XX(MKACTIVITY, "MKACTIVITY")                                                                   \
    XX(CHECKOUT, "CHECKOUT")                                                                       \
    XX(MERGE, "MERGE")                                                                             \
    XX(M_SEARCH, "M-SEARCH")                                                                       \
    XX(NOTIFY, "NOTIFY")                                                                           \
    XX(SUBSCRIBE, "SUBSCRIBE")                                                                     \
    XX(UNSUBSCRIBE, "UNSUBSCRIBE")                                                                 \
    XX(PATCH, "PATCH")                                                                             \
    XX(PURGE, "PURGE")                                                                             \
    XX(MKCALENDAR, "MKCALENDAR")                                                                   \
    XX(LINK, "LINK")                                                                               \
    XX(UNLINK, "UNLINK")                                                                           \
    XX(SOURCE, "SOURCE")                                                                           \
    XX(QUERY, "QUERY")

#define CF__HTTP_METHOD_ENUM(name, str) CF_HTTP_METHOD_##name,
/* Request methods (≈ http.METHODS). 0 is "none/unknown". */
typedef enum cf_http_method {
    CF_HTTP_METHOD_NONE = 0,
    CF_HTTP_METHOD_MAP(CF__HTTP_METHOD_ENUM) CF__HTTP_METHOD_END
} cf_http_method;
#undef CF__HTTP_METHOD_ENUM

/* Message flags (cf_http_request_head.flags, cf_http_response_head.flags). */
enum {
    CF_HTTP_MSG_KEEP_ALIVE = 1 << 0,      /* the connection persists after this message */
    CF_HTTP_MSG_CHUNKED = 1 << 1,         /* the body uses the chunked transfer coding */
    CF_HTTP_MSG_CONTENT_LENGTH = 1 << 2,  /* the body length comes from Content-Length */
    CF_HTTP_MSG_EXPECT_CONTINUE = 1 << 3, /* HTTP/1.1 request with `Expect: 100-continue` */
    CF_HTTP_MSG_UPGRADE = 1 << 4,         /* Upgrade asked (request) or granted (101 response) */
    CF_HTTP_MSG_TUNNEL = 1 << 5,          /* CONNECT request or 2xx answer to one: bytes after the
                                         message belong to the tunnel */
    CF_HTTP_MSG_TE_OTHER = 1 << 6,   /* transfer codings besides chunked (servers answer 501) */
    CF_HTTP_MSG_UNTIL_CLOSE = 1 << 7 /* response body delimited by the connection's end */
};

/*
 * A request head. The caller sets `headers`/`max_headers` (its own array; may be NULL/0 when
 * no header fields are allowed); cf_http_parse_request fills the rest when the head is
 * complete. Every pointer is a span into the buffer given to the call that completed the
 * head, borrowed as long as the caller keeps those bytes.
 */
typedef struct cf_http_request_head {
    cf_http_field *headers; /* in: the caller's array */
    size_t max_headers;     /* in: its length; one more field is an error (431) */
    size_t num_headers;     /* out */
    const char *method;     /* out: the method token, e.g. "GET" */
    size_t method_len;
    cf_http_method method_id; /* out */
    const char *target;       /* out: the request-target as sent, e.g. "/films?limit=2" */
    size_t target_len;
    int minor_version;       /* out: 0 or 1 (HTTP/1.x) */
    unsigned flags;          /* out: CF_HTTP_* flags */
    uint64_t content_length; /* out: the body length (0 without a body or when chunked) */
} cf_http_request_head;

/*
 * A response head (for clients and tests). `request_method` is an input: a response to
 * HEAD has no body, and a 2xx answer to CONNECT opens a tunnel. Spans as in cf_http_request_head.
 */
typedef struct cf_http_response_head {
    cf_http_field *headers;        /* in */
    size_t max_headers;            /* in */
    cf_http_method request_method; /* in: the method of the request answered (0 = GET-like) */
    size_t num_headers;            /* out */
    int status;                    /* out: 100..999 */
    const char *reason;            /* out: the reason phrase, possibly empty */
    size_t reason_len;
    int minor_version;       /* out */
    unsigned flags;          /* out */
    uint64_t content_length; /* out */
} cf_http_response_head;

/* What one cf_http_parse_body call reports (its return value). */
typedef enum cf_http_body_kind {
    CF_HTTP_BODY_NEED_MORE = 0, /* every usable byte consumed: call again with more input */
    CF_HTTP_BODY_DATA = 1,      /* `data`/`len`: body bytes (chunk framing removed) */
    CF_HTTP_BODY_TRAILER = 2,   /* `trailer`: one trailer field of a chunked body */
    CF_HTTP_BODY_END = 3        /* the message is complete */
} cf_http_body_kind;

/* The output of cf_http_parse_body. Spans point into that call's input buffer. */
typedef struct cf_http_body_event {
    size_t consumed;       /* bytes of input used by the call, whatever it returned */
    const char *data;      /* CF_HTTP_BODY_DATA */
    size_t len;            /* CF_HTTP_BODY_DATA */
    cf_http_field trailer; /* CF_HTTP_BODY_TRAILER */
} cf_http_body_event;

/* XX(name, status, message): why a message was rejected. */
#define CF_HTTP_ERROR_MAP(XX)                                                                      \
    XX(NONE, 0, "no error")                                                                        \
    XX(LINE_ENDING, 400, "expected CRLF (bare CR or LF)")                                          \
    XX(METHOD, 400, "invalid method")                                                              \
    XX(METHOD_UNKNOWN, 501, "method not implemented")                                              \
    XX(TARGET, 400, "invalid request-target")                                                      \
    XX(TARGET_TOO_LONG, 414, "request-target too long")                                            \
    XX(VERSION, 400, "invalid HTTP version")                                                       \
    XX(VERSION_UNSUPPORTED, 505, "HTTP version not supported")                                     \
    XX(STATUS, 400, "invalid status line")                                                         \
    XX(HEADER_NAME, 400, "invalid character in header name")                                       \
    XX(HEADER_SPACE, 400, "whitespace before the colon of a header field")                         \
    XX(HEADER_VALUE, 400, "invalid character in header value")                                     \
    XX(OBS_FOLD, 400, "header line starts with whitespace (obs-fold)")                             \
    XX(HEAD_TOO_LARGE, 431, "header section too large")                                            \
    XX(TOO_MANY_HEADERS, 431, "too many header fields")                                            \
    XX(CONTENT_LENGTH, 400, "invalid Content-Length")                                              \
    XX(CONTENT_LENGTH_DUP, 400, "more than one Content-Length")                                    \
    XX(TE_AND_CL, 400, "both Transfer-Encoding and Content-Length")                                \
    XX(TRANSFER_ENCODING, 400, "invalid Transfer-Encoding (chunked must be final)")                \
    XX(HOST_MISSING, 400, "HTTP/1.1 request without Host")                                         \
    XX(HOST_DUP, 400, "more than one Host")                                                        \
    XX(EXPECT, 417, "unsupported expectation")                                                     \
    XX(BODY_TOO_LARGE, 413, "body larger than the limit")                                          \
    XX(CHUNK_SIZE, 400, "invalid chunk size")                                                      \
    XX(CHUNK_EXT, 400, "invalid chunk extension")                                                  \
    XX(CHUNK_LINE, 400, "chunk-size line too long")                                                \
    XX(CHUNK_DATA, 400, "chunk data not followed by CRLF")                                         \
    XX(DATA_AFTER_CLOSE, 400, "data after the last message of the connection")                     \
    XX(INCOMPLETE, 400, "connection ended inside a message")

#define CF__HTTP_ERROR_ENUM(name, status, msg) CF_HTTP_ERR_##name,
/* Why the parser stopped; see cf_http_parse_error_status and cf_http_parse_error_message. */
typedef enum cf_http_parse_error {
    CF_HTTP_ERROR_MAP(CF__HTTP_ERROR_ENUM) CF__HTTP_ERR_END
} cf_http_parse_error;
#undef CF__HTTP_ERROR_ENUM

/* Limits and switches; a zeroed struct (or NULL) means every default. */
typedef struct cf_http_parser_config {
    size_t max_head_len; /* start line + header fields + CRLF (also trailers); 0 = 16 KiB → 431 */
    size_t max_target_len; /* request-target; 0 = 8 KiB → 414 */
    uint64_t max_body_len; /* decoded body; 0 = no limit → 413 */
    unsigned flags;        /* CF_HTTP_PARSE_* */
} cf_http_parser_config;

/* cf_http_parser_config.flags */
enum {
    /* Accept HTTP/1.1 requests without Host (RFC 9112 §3.2 says 400; llhttp does not check). */
    CF_HTTP_PARSE_NO_HOST_CHECK = 1 << 0
};

/* What a parser parses (cf_http_parser_init). A zeroed parser parses requests. */
typedef enum cf_http_parser_kind {
    CF_HTTP_PARSER_REQUEST = 0,
    CF_HTTP_PARSER_RESPONSE = 1
} cf_http_parser_kind;

/*
 * Parser state, kept by the caller (on the stack or inside a connection). Zero-initialize
 * it (a request parser with default limits) or call cf_http_parser_init. Fields are private.
 */
typedef struct cf_http_parser {
    uint64_t _max_body, _clen, _left, _total;
    uintptr_t _base, _harr;
    uint32_t _max_head, _max_target, _pos, _mark, _nlen, _vstart, _vend, _skip, _mlen, _hstart;
    uint32_t _nhdr, _mflags, _hosts, _err_off, _extlen, _tbytes;
    uint16_t _status;
    uint8_t _kind, _cfg, _phase, _state, _fstate, _minor, _method, _err, _moved, _closed;
} cf_http_parser;

/* ---- constants ---- */

#define CF_HTTP_NEED_MORE              0 /* cf_http_parse_request/_response: head incomplete */
#define CF_HTTP_DEFAULT_MAX_HEAD_LEN   16384
#define CF_HTTP_DEFAULT_MAX_TARGET_LEN 8192
#define CF_HTTP_MAX_CHUNK_LINE         4096 /* a chunk-size line with its extensions */

/* ---- set up ---- */

/*
 * Initialize `p` for `kind` with `config` (NULL = defaults; copied). Equivalent to zeroing
 * it when kind is CF_HTTP_PARSER_REQUEST and config is NULL. Returns 0 or CF_EINVAL (NULL parser,
 * unknown kind). Thread: any (the parser is the caller's).
 */
CF_EXTERN int cf_http_parser_init(cf_http_parser *p, cf_http_parser_kind kind,
                                  const cf_http_parser_config *config);

/* Forget the connection's state (next byte starts a new message), keeping kind and limits. */
CF_EXTERN void cf_http_parser_reset(cf_http_parser *p);

/* ---- parse ---- */

/*
 * Parse a request head (≈ what llhttp does before `'request'` is emitted). `buf` holds the
 * bytes not yet consumed, starting where the previous message ended (leading empty lines
 * are skipped), `len` of them. Returns:
 *  - the head's length in bytes (> 0) once the empty line that ends it is in `buf`; `req` is
 *    filled, and the body (if any) starts at buf + that length;
 *  - CF_HTTP_NEED_MORE (0): call again with the same bytes followed by more (the buffer may
 *    have moved; the parser does not rescan what it has checked; `req->headers` must stay
 *    the same array);
 *  - CF_EPARSE or CF_ETOOBIG: the message is invalid; cf_http_parser_error(p) says why and
 *    cf_http_parse_error_status gives the status to answer (400, 413, 414, 417, 431, 501, 505)
 *    before closing. Every later call returns the same code.
 *  - CF_EINVAL: NULL arguments, a response parser, or a body not yet finished.
 * Ownership: `buf` is borrowed for the call; the spans in `req` point into it.
 */
CF_EXTERN int cf_http_parse_request(cf_http_parser *p, const char *buf, size_t len,
                                    cf_http_request_head *req);

/* The same for a response head (status line), for a CF_HTTP_PARSER_RESPONSE parser. */
CF_EXTERN int cf_http_parse_response(cf_http_parser *p, const char *buf, size_t len,
                                     cf_http_response_head *resp);

/*
 * Decode the body after a head (≈ the 'data' events of an IncomingMessage). `buf` holds the
 * unconsumed bytes, `ev->consumed` says how many this call used (always set); call again
 * with the rest. Returns one of:
 *  - CF_HTTP_BODY_DATA: `ev->data`/`ev->len` is body content, a span of `buf`;
 *  - CF_HTTP_BODY_TRAILER: `ev->trailer` is a trailer field, spans of `buf`;
 *  - CF_HTTP_BODY_END: the message is complete (returned at once when there is no body);
 *    the next message starts at buf + ev->consumed;
 *  - CF_HTTP_BODY_NEED_MORE: everything usable was consumed. An incomplete trailer line
 *    is the only thing left unconsumed; present it again with more bytes.
 *  - CF_EPARSE / CF_ETOOBIG (see cf_http_parser_error), or CF_EINVAL (no head parsed).
 * Ownership: `buf` is borrowed for the call; the spans in `ev` point into it.
 */
CF_EXTERN int cf_http_parse_body(cf_http_parser *p, const char *buf, size_t len,
                                 cf_http_body_event *ev);

/*
 * Tell the parser the connection ended (EOF). Returns 0 when that is a clean end (between
 * messages), CF_HTTP_BODY_END when it completes a response body delimited by the close,
 * CF_EPARSE (CF_HTTP_ERR_INCOMPLETE) when a message was cut short. Thread: any.
 */
CF_EXTERN int cf_http_parse_finish(cf_http_parser *p);

/* ---- inspect errors ---- */

/* Why the last call failed (CF_HTTP_ERR_NONE if it did not). */
CF_EXTERN cf_http_parse_error cf_http_parser_error(const cf_http_parser *p);

/* Offset of the offending byte from the start of the message (head) or of the call (body). */
CF_EXTERN size_t cf_http_parser_error_offset(const cf_http_parser *p);

/* The status code a server answers for `err` (400, 413, 414, 417, 431, 501, 505; 0 for NONE). */
CF_EXTERN int cf_http_parse_error_status(cf_http_parse_error err);

/* A short English description of `err`, e.g. "invalid Content-Length". Static storage. */
CF_EXTERN const char *cf_http_parse_error_message(cf_http_parse_error err);

/* ---- helpers (thread-safe, no state) ---- */

/*
 * The first header after `after` (NULL: from the start) whose name equals `name`, ASCII
 * case-insensitively (≈ message.headers[name]); NULL when none. Loop with `after` = the
 * previous result to visit repeated fields. Borrows everything.
 */
CF_EXTERN const cf_http_field *cf_http_field_find(const cf_http_field *headers, size_t n,
                                                  const char *name, const cf_http_field *after);

/*
 * 1 when the comma-separated list `value`/`len` (a Connection or TE field value, say)
 * holds `token`, compared ASCII case-insensitively with list whitespace ignored; else 0.
 */
CF_EXTERN int cf_http_token_list_has(const char *value, size_t len, const char *token);

/* The method's token ("GET"), or NULL for an unknown value. Static storage. */
CF_EXTERN const char *cf_http_method_name(cf_http_method method);

/* The method whose token is exactly `s`/`len` (case-sensitive), or CF_HTTP_METHOD_NONE. */
CF_EXTERN cf_http_method cf_http_method_lookup(const char *s, size_t len);

/*
 * The reason phrase for a status code (≈ http.STATUS_CODES[status]), e.g. "Not Found";
 * NULL for a code without a registered phrase. Static storage.
 */
CF_EXTERN const char *cf_http_status_reason(int status);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_HTTP_PARSER_H */
