/*
 * Calcifer: streaming JSON (RFC 8259).
 *
 * Three layers, each usable alone:
 *
 *  1. A push parser (≈ a SAX-style JSON.parse that can be fed a body as it arrives). The
 *     caller owns its state (`cf_json_parser`, a fixed-size struct) and a scratch buffer; the
 *     parser allocates nothing. Chunks may be split anywhere, even inside a string, an escape,
 *     a number, a literal or a UTF-8 sequence. Each token is reported through a callback as a
 *     `cf_json_event`; strings arrive whole and unescaped.
 *  2. A small DOM (`cf_json`, ≈ the value JSON.parse returns) with lookups by key, index and
 *     path (`a.b[2]`), iteration, construction, and a serializer (≈ JSON.stringify, compact or
 *     with a 2-space indent, byte for byte like Node's).
 *  3. A selector (`cf_json_select`) on the stream: each element of the array at a path is
 *     built as a DOM value and handed to a callback as soon as it is complete, so a list of
 *     records is processed one record at a time with constant memory.
 *
 * None of it needs a loop: the data layer depends only on the util layer. Every function is
 * for one thread at a time per object; distinct objects may be used on distinct threads.
 */
#ifndef CALCIFER_JSON_H
#define CALCIFER_JSON_H

#include <stdint.h>

#include "calcifer/common.h"
#include "calcifer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types: events ---- */

/* What a parser event reports. */
typedef enum cf_json_event_kind {
    CF_JSON_EV_OBJECT_START = 1, /* '{' */
    CF_JSON_EV_OBJECT_END,       /* '}' */
    CF_JSON_EV_ARRAY_START,      /* '[' */
    CF_JSON_EV_ARRAY_END,        /* ']' */
    CF_JSON_EV_KEY,              /* an object member's name: text/len, unescaped */
    CF_JSON_EV_STRING,           /* a string value: text/len, unescaped */
    CF_JSON_EV_NUMBER,           /* a number: text/len is its exact source text */
    CF_JSON_EV_TRUE,
    CF_JSON_EV_FALSE,
    CF_JSON_EV_NULL
} cf_json_event_kind;

/*
 * One token of the document (a small value type). `text` is set for KEY, STRING (unescaped
 * UTF-8, may contain NUL bytes) and NUMBER (the literal as written, e.g. "-1.5e3"); it is NULL
 * otherwise. `text` is NOT NUL-terminated: use `len`. It points into the chunk being fed or
 * into the parser's scratch buffer and is borrowed until the callback returns.
 * `depth` counts the containers open around the token: 0 for the top-level value, 1 for a
 * key or value directly inside it; an *_END event has the depth of its *_START.
 * `offset` is the byte offset of the token's first byte from the start of the document.
 */
typedef struct cf_json_event {
    cf_json_event_kind kind;
    unsigned depth;
    const char *text;
    size_t len;
    uint64_t offset;
} cf_json_event;

/*
 * Receives each event, on the thread that called cf_json_parser_feed/_finish, before that
 * call returns. Return 0 to go on; any other value (use a negative CF_E*, e.g. CF_ECANCELED)
 * stops the parser: the feed/finish call in progress returns that value, and so does every
 * later call. `data` is the pointer given to cf_json_parser_init, borrowed.
 */
typedef int (*cf_json_event_cb)(const cf_json_event *ev, void *data);

/* ---- constants ---- */

/* Hard ceiling on nesting (the container stack is a bit array inside the parser struct). */
#define CF_JSON_MAX_DEPTH 1024
/* Nesting allowed when `max_depth` is 0. */
#define CF_JSON_DEFAULT_DEPTH 512
/* Longest string, key or number (bytes, after unescaping) in the allocating helpers
 * (cf_json_parse, cf_json_builder, cf_json_select) unless their limits say otherwise. */
#define CF_JSON_DEFAULT_MAX_STRING (1u << 20)
/* Size of the parser's error message buffer. */
#define CF_JSON_ERROR_SIZE 160

/* Result of cf_json_parser_feed: the chunk was consumed and the document is not complete. */
#define CF_JSON_NEED_MORE 1

/* Parser flags (`cf_json_parser.flags`). */
/* Accept lone UTF-16 surrogates written as \u escapes (JSON.parse keeps them) and deliver
 * each as its 3-byte generalized-UTF-8 form (ED A0 80..ED BF BF, "WTF-8"); the serializer
 * writes these back as \udXXX. Without the flag a lone surrogate escape is an error. */
#define CF_JSON_LONE_SURROGATES 0x1u

/* Serializer flags. */
#define CF_JSON_COMPACT 0x0 /* ≈ JSON.stringify(v) */
#define CF_JSON_PRETTY  0x1 /* ≈ JSON.stringify(v, null, 2) */

/* ---- types: the push parser ---- */

/*
 * Push parser state, kept by the caller (on the stack or inside another struct).
 * Zero-initialize it and set the public fields, or call cf_json_parser_init; fields that
 * start with `_` are private. The parser never allocates: strings and numbers that span
 * chunks or contain escapes are assembled in `scratch`, whose size bounds the longest
 * string, key or number (CF_ETOOBIG beyond it). Tokens wholly inside one chunk and free of
 * escapes are delivered straight from the chunk.
 */
typedef struct cf_json_parser {
    /* public: set before the first feed */
    cf_json_event_cb on_event; /* may be NULL: the parser then only validates */
    void *data;                /* passed to on_event, borrowed */
    char *scratch;             /* borrowed until the parser is no longer used */
    size_t scratch_len;        /* bytes in scratch: the longest string, key or number */
    unsigned max_depth;        /* 0: CF_JSON_DEFAULT_DEPTH; at most CF_JSON_MAX_DEPTH */
    unsigned flags;            /* CF_JSON_LONE_SURROGATES */
    uint64_t max_bytes;        /* longest document in bytes; 0: no limit */

    /* private */
    int _state;
    int _status;
    unsigned _depth;
    unsigned _sub;
    uint32_t _acc;
    uint32_t _hi;
    int _is_key;
    int _in_scratch;
    size_t _tlen;
    uint64_t _pos;
    uint64_t _tstart;
    uint64_t _line;
    uint64_t _line_start;
    uint8_t _stack[CF_JSON_MAX_DEPTH / 8];
    char _msg[CF_JSON_ERROR_SIZE];
} cf_json_parser;

/* ---- types: DOM ---- */

typedef enum cf_json_type {
    CF_JSON_NULL = 0,
    CF_JSON_BOOL,
    CF_JSON_NUMBER,
    CF_JSON_STRING,
    CF_JSON_ARRAY,
    CF_JSON_OBJECT
} cf_json_type;

/* A DOM value (opaque). A tree has one owner: the root's owner frees it with cf_json_free. */
typedef struct cf_json cf_json;

/* Limits for the allocating helpers. Zero fields take the defaults shown. */
typedef struct cf_json_limits {
    unsigned max_depth; /* 0: CF_JSON_DEFAULT_DEPTH */
    size_t max_string;  /* longest string/key/number in bytes; 0: CF_JSON_DEFAULT_MAX_STRING */
    uint64_t max_bytes; /* longest document; 0: no limit */
    unsigned flags;     /* parser flags (CF_JSON_LONE_SURROGATES) */
} cf_json_limits;

/* Builds a DOM value from parser events (opaque). */
typedef struct cf_json_builder cf_json_builder;

/* The streaming selector (opaque). */
typedef struct cf_json_select cf_json_select;

/*
 * Receives one element of the selected array: `item` is borrowed until the callback
 * returns (the selector frees it then; keep it with cf_json_select_take, or a copy with
 * cf_json_clone), `index` counts
 * elements from 0. Return 0 to go on, or a non-zero value (a negative CF_E*) to stop: the
 * feed/finish call in progress returns it.
 */
typedef int (*cf_json_select_cb)(cf_json *item, size_t index, void *data);

/* Receives serialized bytes (borrowed until it returns). Return 0, or a non-zero value to
 * stop: cf_json_write then returns it. */
typedef int (*cf_json_write_cb)(const char *bytes, size_t len, void *data);

/* ==== push parser: create → feed → finish ==== */

/*
 * Prepare `p` for a new document (≈ new a JSON.parse that takes chunks): sets every public
 * field (max_depth 0, flags 0, max_bytes 0) and clears the private ones.
 * Ownership: `data` and `scratch` are borrowed for as long as `p` is used; `p` is the
 * caller's. `scratch_len` bounds every string, key and number (CF_ETOOBIG past it). With
 * `scratch` NULL there is no bound, but a token that spans chunks or holds an escape fails
 * with CF_ETOOBIG, so the outcome then depends on where chunks split. Thread: any.
 */
CF_EXTERN void cf_json_parser_init(cf_json_parser *p, cf_json_event_cb on_event, void *data,
                                   char *scratch, size_t scratch_len);

/*
 * Start a new document with the same public fields (callback, scratch, limits).
 * Thread: the parser's.
 */
CF_EXTERN void cf_json_parser_reset(cf_json_parser *p);

/*
 * Parse the next `len` bytes of the document; events for every token completed in them
 * are delivered before it returns. Returns 0 when the top-level value is complete (only
 * whitespace may follow), CF_JSON_NEED_MORE when the chunk was consumed and the document is
 * not yet complete (a top-level number stays incomplete until cf_json_parser_finish), or an
 * error: CF_EPARSE (syntax, invalid UTF-8, a lone surrogate, trailing data), CF_ETOOBIG (a
 * token longer than the scratch buffer, nesting deeper than max_depth, a document longer
 * than max_bytes), CF_EINVAL (chunk NULL with len > 0), or the value a callback returned.
 * Errors are sticky and cf_json_parser_error says what and where.
 * Ownership: `chunk` is borrowed during the call only. Thread: the parser's.
 */
CF_EXTERN int cf_json_parser_feed(cf_json_parser *p, const char *chunk, size_t len);

/*
 * End of input (≈ the last chunk has arrived). Delivers a pending top-level number and
 * checks that exactly one complete value was seen. Returns 0, CF_EPARSE ("unexpected end of
 * input", with what was expected), or the sticky error of an earlier call.
 * Thread: the parser's.
 */
CF_EXTERN int cf_json_parser_finish(cf_json_parser *p);

/*
 * The last error as text, e.g. "JSON: expected ',' or '}' at line 3, column 17 (byte 58)";
 * "" when there was none. Lines and columns start at 1; columns and byte offsets count
 * bytes. Ownership: borrowed until the next call on `p`. Thread: the parser's.
 */
CF_EXTERN const char *cf_json_parser_error(const cf_json_parser *p);

/* ==== numbers ==== */

/*
 * Convert a JSON number's text to int64_t (≈ BigInt(text) when it fits). The text must be
 * an integer (no fraction or exponent). Returns 0, CF_ERANGE when it does not fit (*out is
 * then INT64_MIN or INT64_MAX), or CF_EINVAL when it is not an integer in JSON syntax.
 * Ownership: `text` is borrowed during the call. Thread: any.
 */
CF_EXTERN int cf_json_number_to_i64(const char *text, size_t len, int64_t *out);

/*
 * Convert a JSON number's text to double, correctly rounded (≈ Number(text)), whatever the
 * process locale. Returns 0, CF_ERANGE on overflow (*out is ±HUGE_VAL, where JavaScript
 * says ±Infinity), or CF_EINVAL when the text is not JSON number syntax. Underflow gives 0
 * or a subnormal and returns 0. Thread: any.
 */
CF_EXTERN int cf_json_number_to_double(const char *text, size_t len, double *out);

/* ==== DOM: parse ==== */

/*
 * Parse a whole document into a tree (≈ JSON.parse). `limits` may be NULL.
 * Returns 0 and sets *out, or CF_EPARSE / CF_ETOOBIG / CF_ENOMEM / CF_EINVAL; when `err`
 * is not NULL it then receives an error whose message says what and where.
 * Ownership: `text` is borrowed during the call; the caller owns *out (cf_json_free) and
 * *err (cf_error_free). Thread: any.
 */
CF_EXTERN int cf_json_parse(const char *text, size_t len, const cf_json_limits *limits,
                            cf_json **out, cf_error **err);

/*
 * Make a builder that turns parser events into a tree, for documents that arrive in chunks:
 * set the parser's callback to cf_json_builder_event with the builder as data.
 * Returns 0, CF_EINVAL or CF_ENOMEM. The caller owns *out (cf_json_builder_free).
 * Thread: any; then the builder's thread.
 */
CF_EXTERN int cf_json_builder_new(cf_json_builder **out);

/* A cf_json_event_cb that adds `ev` to the builder `builder`. Returns 0, CF_ENOMEM, or
 * CF_EINVAL for events out of order (a second top-level value, a value without a key in an
 * object). `ev` is copied. */
CF_EXTERN int cf_json_builder_event(const cf_json_event *ev, void *builder);

/*
 * Take the finished tree out of the builder (NULL when no complete value has been built
 * yet). The caller owns the result; the builder is empty and reusable afterwards.
 */
CF_EXTERN cf_json *cf_json_builder_take(cf_json_builder *b);

/* Free the builder and any partial tree in it. NULL is a no-op. */
CF_EXTERN void cf_json_builder_free(cf_json_builder *b);

/* ==== DOM: read (results are borrowed until the value is freed or changed) ==== */

/* The value's type; CF_JSON_NULL for a NULL pointer. */
CF_EXTERN cf_json_type cf_json_type_of(const cf_json *v);

/* "null", "boolean", "number", "string", "array", "object" (≈ typeof, arrays told apart). */
CF_EXTERN const char *cf_json_type_name(cf_json_type t);

/* 1 for true, 0 for false and for anything that is not a boolean. */
CF_EXTERN int cf_json_bool(const cf_json *v);

/*
 * A string value's UTF-8 bytes (NUL-terminated; *len, when not NULL, gets the length, which
 * excludes the NUL and may count embedded NULs). NULL when `v` is not a string.
 * Ownership: borrowed until `v` is freed or changed.
 */
CF_EXTERN const char *cf_json_string(const cf_json *v, size_t *len);

/* A number's exact text (NUL-terminated), like cf_json_string; NULL when not a number. */
CF_EXTERN const char *cf_json_number_text(const cf_json *v, size_t *len);

/* A number as int64_t / double: 0, CF_ERANGE, or CF_EINVAL when `v` is not such a number. */
CF_EXTERN int cf_json_get_i64(const cf_json *v, int64_t *out);
CF_EXTERN int cf_json_get_double(const cf_json *v, double *out);

/* Elements of an array or members of an object (duplicates counted); 0 for other types. */
CF_EXTERN size_t cf_json_size(const cf_json *v);

/*
 * The i-th element of an array, or the value of the i-th member of an object in document
 * order (≈ arr[i], Object.values(o)[i]); NULL when out of range or not a container.
 * Ownership: borrowed until the container is freed or changed.
 */
CF_EXTERN cf_json *cf_json_at(const cf_json *v, size_t i);

/* The i-th member's key (NUL-terminated; *len may be NULL), NULL when out of range or not an
 * object. Borrowed like cf_json_at. */
CF_EXTERN const char *cf_json_key_at(const cf_json *v, size_t i, size_t *len);

/*
 * A member's value by key (≈ o[key]); when a key occurs more than once the last one wins,
 * as in JSON.parse. NULL when absent or `v` is not an object. cf_json_getn takes a length
 * (the key may then contain NULs). Borrowed like cf_json_at.
 */
CF_EXTERN cf_json *cf_json_get(const cf_json *v, const char *key);
CF_EXTERN cf_json *cf_json_getn(const cf_json *v, const char *key, size_t len);

/*
 * A value by path (≈ v.a.b[2]): keys separated by '.', array indexes in brackets, a key
 * with special characters as ["a.b"] (with \" and \\ escapes), and a leading [3] for a
 * top-level array. "" is `v` itself. NULL when a step is missing or the path is malformed.
 * Borrowed like cf_json_at.
 */
CF_EXTERN cf_json *cf_json_path(const cf_json *v, const char *path);

/* ==== DOM: build and change (thread: the tree's) ==== */

/* New values, owned by the caller (NULL when memory is exhausted). Strings are copied and
 * may contain any bytes; cf_json_new_number returns NULL when `text` is not JSON number
 * syntax; cf_json_new_double returns NULL for NaN and infinities (JSON has none) and writes
 * the shortest text that reads back to the same double. */
CF_EXTERN cf_json *cf_json_new_null(void);
CF_EXTERN cf_json *cf_json_new_bool(int b);
CF_EXTERN cf_json *cf_json_new_string(const char *s, size_t len);
CF_EXTERN cf_json *cf_json_new_number(const char *text, size_t len);
CF_EXTERN cf_json *cf_json_new_i64(int64_t n);
CF_EXTERN cf_json *cf_json_new_double(double d);
CF_EXTERN cf_json *cf_json_new_array(void);
CF_EXTERN cf_json *cf_json_new_object(void);

/*
 * Append `item` to an array (≈ arr.push(item)). Returns 0, CF_EINVAL (not an array, or item
 * NULL) or CF_ENOMEM. Ownership: takes `item` on success and on failure.
 */
CF_EXTERN int cf_json_array_append(cf_json *arr, cf_json *item);

/*
 * Set a member (≈ o[key] = value): replaces the value of the last member with this key, or
 * appends a member. Returns 0, CF_EINVAL or CF_ENOMEM. Ownership: `key` is copied; takes
 * `value` on success and on failure.
 */
CF_EXTERN int cf_json_object_set(cf_json *obj, const char *key, size_t key_len, cf_json *value);

/* A deep copy of `v`, owned by the caller (NULL for NULL or when memory is exhausted). */
CF_EXTERN cf_json *cf_json_clone(const cf_json *v);

/* Deep equality (same types, numbers by exact text, members in the same order). */
CF_EXTERN int cf_json_equal(const cf_json *a, const cf_json *b);

/* Free a tree: `v` must be a root its caller owns (never a value borrowed from a
 * container). NULL is a no-op. */
CF_EXTERN void cf_json_free(cf_json *v);

/* ==== DOM: serialize ==== */

/*
 * Write `v` as JSON text through `write` (≈ JSON.stringify(v) with CF_JSON_COMPACT, or
 * JSON.stringify(v, null, 2) with CF_JSON_PRETTY, byte for byte): keys in document order,
 * `"key": value` when pretty, [] and {} when empty, non-ASCII as UTF-8, escapes \" \\ \b \f
 * \n \r \t, other control characters as \u00XX, lone surrogates (WTF-8) as \udXXX, and
 * invalid UTF-8 bytes as U+FFFD. Numbers are written as their text. Returns 0, CF_EINVAL,
 * or the value `write` returned. Ownership: `v` and `data` are borrowed during the call.
 */
CF_EXTERN int cf_json_write(const cf_json *v, unsigned flags, cf_json_write_cb write, void *data);

/*
 * Serialize `v` into a new NUL-terminated string (*len may be NULL). Returns 0, CF_EINVAL
 * or CF_ENOMEM. Ownership: the caller owns *out and frees it with cf_free.
 */
CF_EXTERN int cf_json_stringify(const cf_json *v, unsigned flags, char **out, size_t *len);

/* ==== selector: create → feed → finish → free ==== */

/*
 * Make a selector that streams the elements of the array at `path` (same syntax as
 * cf_json_path; NULL or "" selects the top-level array), calling `cb` with each element as
 * soon as its last byte has been fed (≈ a streaming JSONPath `$.path[*]`). Memory stays
 * bounded by the largest single element. `limits` may be NULL.
 * Returns 0, CF_EINVAL (malformed path, cb NULL) or CF_ENOMEM.
 * Ownership: `path` and `limits` are copied; `data` is borrowed; the caller owns *out.
 */
CF_EXTERN int cf_json_select_new(cf_json_select **out, const char *path,
                                 const cf_json_limits *limits, cf_json_select_cb cb, void *data);

/*
 * Feed the next chunk. Returns 0 or CF_JSON_NEED_MORE as cf_json_parser_feed does, or
 * CF_EPARSE (also when the value at the path is not an array), CF_ETOOBIG, CF_ENOMEM, or
 * the value `cb` returned. Errors are sticky. Ownership: `chunk` is borrowed during the call.
 */
CF_EXTERN int cf_json_select_feed(cf_json_select *s, const char *chunk, size_t len);

/*
 * End of input. Returns 0, CF_EPARSE (truncated document), CF_ENOENT (the document has no
 * value at the path), or the sticky error.
 */
CF_EXTERN int cf_json_select_finish(cf_json_select *s);

/*
 * From inside the element callback: take the element being delivered (the callback's `item`)
 * instead of letting the selector free it, without a copy; the next element is built in new
 * memory. Ownership: the caller owns the value returned (cf_json_free). Returns `item`, or
 * NULL outside the callback or when it was taken already. Thread: the selector's.
 */
CF_EXTERN cf_json *cf_json_select_take(cf_json_select *s);

/* Elements delivered so far. */
CF_EXTERN size_t cf_json_select_count(const cf_json_select *s);

/* The last error as text ("" when none); borrowed until the next call on `s`. */
CF_EXTERN const char *cf_json_select_error(const cf_json_select *s);

/* Free the selector and any partial element. NULL is a no-op. */
CF_EXTERN void cf_json_select_free(cf_json_select *s);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_JSON_H */
