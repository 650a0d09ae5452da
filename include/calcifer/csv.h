/*
 * Calcifer: RFC 4180 CSV.
 *
 * Three parts, each usable alone:
 *
 *  1. A writer (≈ building CSV text by hand in Node, done right). Fields are quoted only when
 *     they need it (a comma, a double quote, CR or LF; quotes are doubled), records end with
 *     CRLF (LF on request), bytes are passed through untouched (UTF-8 stays UTF-8). An opt-in
 *     guard neutralizes spreadsheet formulas. Output goes to a sink callback, so it can land
 *     in memory (`cf_csv_mem`), a FILE, or a file written through the loop. The writer state
 *     (`cf_csv_writer`) is the caller's and allocates nothing.
 *  2. A push reader: feed it chunks split anywhere and it calls back once per record with the
 *     record's fields, unquoted. Strict RFC 4180 with errors that say what and where.
 *  3. Records from JSON values (needs calcifer/json.h): columns chosen by key or path, and a
 *     converter that streams a JSON array into CSV rows, one row as soon as each element is
 *     complete, keeping only the selected values of one element in memory.
 *
 * None of it needs a loop. Every function is for one thread at a time per object; distinct
 * objects may be used on distinct threads.
 */
#ifndef CALCIFER_CSV_H
#define CALCIFER_CSV_H

#include <stdint.h>

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types: writer ---- */

/*
 * A sink (docs/conventions.md): receives the next `len` bytes of CSV text at `bytes`, borrowed
 * until it returns. Return 0, or a negative CF_E* to stop: the writer call in progress returns
 * it, and so does every later call on that writer (a positive return is reported as CF_EIO).
 * `data` is the pointer given to cf_csv_writer_init, borrowed. cf_fs_writer_sink and
 * cf_csv_mem_write have this shape.
 */
typedef int (*cf_csv_write_fn)(const char *bytes, size_t len, void *data);

/* Size of the writer's staging buffer (a longer run of bytes goes to the sink in one call). */
#define CF_CSV_WRITER_BUFSIZE 4096

/*
 * Writer state, kept by the caller (on the stack or inside another struct). Call
 * cf_csv_writer_init before use; fields that start with `_` are private. Bytes are staged in
 * a fixed buffer inside the struct and handed to the sink when it is full and at the end of
 * every record, so once cf_csv_end_record returns, the whole record has reached the sink.
 * The writer never allocates and never needs freeing.
 */
typedef struct cf_csv_writer {
    cf_csv_write_fn _write;
    void *_ctx;
    unsigned _flags;
    int _status;
    size_t _nfields;
    int _bare_empty;
    int _quoting;
    uint64_t _records;
    size_t _len;
    char _buf[CF_CSV_WRITER_BUFSIZE];
} cf_csv_writer;

/* Writer flags (cf_csv_writer_init). */
/* End records with LF instead of CRLF. */
#define CF_CSV_LF 0x1u
/* Quote every field, even when it does not need it. */
#define CF_CSV_QUOTE_ALL 0x2u
/*
 * Formula-injection guard (OWASP "CSV Injection"): a field whose first byte is '=', '+', '-',
 * '@', TAB or CR is written with a single quote (') in front of it, so a spreadsheet shows it
 * as text instead of evaluating it; the result is then quoted by the usual rule (always for a
 * leading CR, which needs quotes anyway). "=1+2" becomes '=1+2, "-5" becomes '-5, and
 * "=A1,B1" becomes "'=A1,B1". A reader gets the field back with the quote in front.
 */
#define CF_CSV_FORMULA_GUARD 0x4u

/*
 * A growable memory sink: pass `cf_csv_mem_write` as the sink and a `cf_csv_mem *` as its
 * context. Zero-initialize it and optionally set `max`. `data` is NUL-terminated once
 * anything was written (NULL before), and owned by the cf_csv_mem: release it with
 * cf_csv_mem_free, or take it (set `data` to NULL) and free it with cf_free.
 */
typedef struct cf_csv_mem {
    char *data;  /* the bytes written so far */
    size_t len;  /* how many */
    size_t max;  /* writing past this many bytes fails with CF_ETOOBIG; 0: no limit */
    size_t _cap; /* private */
} cf_csv_mem;

/* ---- types: reader ---- */

/*
 * An event callback that receives one record: `fields[0..nfields-1]`, unquoted, each
 * NUL-terminated after its `len` bytes (a field may also contain NUL bytes of its own).
 * `nfields` is at least 1. The array and the bytes are borrowed until the callback returns.
 * Return 0 to go on, or a negative CF_E* to stop: the feed/finish call in progress returns
 * it, and so does every later call. `data` is the pointer given to cf_csv_reader_init,
 * borrowed.
 */
typedef int (*cf_csv_record_cb)(const cf_buf *fields, size_t nfields, void *data);

/* Record size allowed when `max_record` is 0: field bytes plus one per field. */
#define CF_CSV_DEFAULT_MAX_RECORD (1u << 20)
/* Fields per record allowed when `max_fields` is 0. */
#define CF_CSV_DEFAULT_MAX_FIELDS 4096u
/* Size of the reader's error message buffer. */
#define CF_CSV_ERROR_SIZE 160

/*
 * Reader state, kept by the caller. Call cf_csv_reader_init, then optionally change the
 * public fields before the first feed; fields that start with `_` are private. The reader
 * assembles each record in a buffer it allocates, bounded by `max_record` and `max_fields`
 * (CF_ETOOBIG beyond); cf_csv_reader_reset releases it.
 */
typedef struct cf_csv_reader {
    /* public: set before the first feed */
    cf_csv_record_cb on_record;
    void *data;        /* passed to on_record, borrowed */
    size_t max_record; /* most bytes in one record: field bytes + 1 per field; 0: default */
    size_t max_fields; /* most fields in one record; 0: default */

    /* private */
    int _state;
    int _status;
    char *_rec;
    size_t _rec_len;
    size_t _rec_cap;
    size_t _field_start;
    cf_buf *_fields;
    size_t _nfields;
    size_t _fields_cap;
    uint64_t _pos;
    uint64_t _line;
    uint64_t _line_start;
    uint64_t _qpos;
    uint64_t _qline;
    uint64_t _qline_start;
    uint64_t _records;
    char _msg[CF_CSV_ERROR_SIZE];
} cf_csv_reader;

/* ---- types: JSON to CSV ---- */

/* Streams a JSON array into CSV records (opaque). */
typedef struct cf_csv_json cf_csv_json;

/* ==== writer: init → write fields, end records → (flush) ==== */

/*
 * Prepare `w` to write CSV through `write` (≈ a Writable that CSV text is pushed into).
 * `flags` combines CF_CSV_LF, CF_CSV_QUOTE_ALL and CF_CSV_FORMULA_GUARD. Returns 0, or
 * CF_EINVAL when `w` or `write` is NULL or `flags` has unknown bits. `data` goes to every
 * `write` call. Ownership: `data` is borrowed for as long as `w` is used; `w` is the caller's
 * and holds nothing to free. Calling it again starts a new document (unflushed bytes are
 * dropped). Thread: any.
 */
CF_EXTERN int cf_csv_writer_init(cf_csv_writer *w, unsigned flags, cf_csv_write_fn write,
                                 void *data);

/*
 * Append one field of `len` bytes to the current record, quoted if it needs to be (see the
 * flags). Any bytes are accepted but NUL, which RFC 4180 cannot carry: a field holding one
 * is refused with CF_EINVAL (sticky; nothing of it is written). Returns 0, the sink's error,
 * or CF_EINVAL
 * (`p` NULL with `len` > 0, or `w` not initialized). Errors are sticky.
 * Ownership: `p` is copied. Thread: the writer's.
 */
CF_EXTERN int cf_csv_write_field(cf_csv_writer *w, const char *p, size_t len);

/* cf_csv_write_field for a NUL-terminated string; NULL writes an empty field. */
CF_EXTERN int cf_csv_write_str(cf_csv_writer *w, const char *s);

/*
 * End the current record: writes the record separator (CRLF, or LF with CF_CSV_LF) and hands
 * everything staged to the sink. A record made of one empty field is written as "" so that it
 * is not read back as a blank line (as Python's csv module does). Returns 0, the sink's
 * error, or CF_EINVAL when the record has no field. Thread: the writer's.
 */
CF_EXTERN int cf_csv_end_record(cf_csv_writer *w);

/*
 * Write a whole record: each of `fields[0..n-1]` (NUL-terminated; NULL entries are empty
 * fields), then the separator. Returns like cf_csv_end_record (CF_EINVAL when n is 0).
 * Ownership: `fields` is copied. Thread: the writer's.
 */
CF_EXTERN int cf_csv_write_record(cf_csv_writer *w, const char *const *fields, size_t n);

/* The same for fields given as byte runs (e.g. the ones a reader callback receives). */
CF_EXTERN int cf_csv_write_record_bufs(cf_csv_writer *w, const cf_buf *fields, size_t n);

/*
 * Write the header row (≈ the first line of a CSV with column names): like
 * cf_csv_write_record, but fails with CF_EINVAL unless it is the first thing written.
 * Thread: the writer's.
 */
CF_EXTERN int cf_csv_write_header(cf_csv_writer *w, const char *const *names, size_t n);

/*
 * Hand the staged bytes of an unfinished record to the sink (a finished record has already
 * been). Returns 0 or the sink's (sticky) error. Thread: the writer's.
 */
CF_EXTERN int cf_csv_writer_flush(cf_csv_writer *w);

/* Records ended so far, the header included. */
CF_EXTERN uint64_t cf_csv_writer_records(const cf_csv_writer *w);

/*
 * A cf_csv_write_fn appending `len` bytes to the cf_csv_mem `mem`. Returns 0, CF_EINVAL (NULL
 * `mem`, or NULL `bytes` with `len` > 0), CF_ETOOBIG (past `max`; nothing is appended) or
 * CF_ENOMEM. Thread: the cf_csv_mem's.
 */
CF_EXTERN int cf_csv_mem_write(const char *bytes, size_t len, void *mem);

/* Free the bytes of `m` and zero it, keeping `max`. NULL is a no-op. */
CF_EXTERN void cf_csv_mem_free(cf_csv_mem *m);

/* ==== reader: init → feed → finish → reset ==== */

/*
 * Prepare `r` for a new document (≈ a csv-parse stream in Node): sets every public field
 * (max_record 0, max_fields 0) and clears the private ones. Nothing is allocated yet.
 * Ownership: `data` is borrowed for as long as `r` is used; `r` is the caller's, who calls
 * cf_csv_reader_reset when done with it. Thread: any.
 */
CF_EXTERN void cf_csv_reader_init(cf_csv_reader *r, cf_csv_record_cb on_record, void *data);

/*
 * Parse the next `len` bytes; `on_record` runs for every record completed in them before
 * this returns. Records end with CRLF or LF; quoted fields may span lines and contain "" for
 * a quote; a blank line is a record with one empty field. Returns 0 or an error:
 * CF_EPARSE (a '"' inside an unquoted field, anything but ',' or a line end after a closing
 * quote, a CR not followed by LF outside quotes), CF_ETOOBIG (a record over `max_record`
 * bytes or `max_fields` fields), CF_ENOMEM, CF_EINVAL (`chunk` NULL with `len` > 0, or
 * input after cf_csv_reader_finish), or the value on_record returned. Errors are sticky and
 * cf_csv_reader_error says what and where. Ownership: `chunk` is borrowed during the call.
 * Thread: the reader's.
 */
CF_EXTERN int cf_csv_reader_feed(cf_csv_reader *r, const char *chunk, size_t len);

/*
 * End of input: delivers a last record that has no line end. Returns 0, CF_EPARSE (an
 * unterminated quoted field, or input ending in a CR), the value on_record returned, or the
 * sticky error. Thread: the reader's.
 */
CF_EXTERN int cf_csv_reader_finish(cf_csv_reader *r);

/*
 * The last error as text, e.g. "CSV: '\"' inside an unquoted field at line 3, column 7
 * (byte 58)"; "" when there was none. Lines and columns start at 1; columns and byte offsets
 * count bytes. Ownership: borrowed until the next call on `r`. Thread: the reader's.
 */
CF_EXTERN const char *cf_csv_reader_error(const cf_csv_reader *r);

/* Records delivered so far. */
CF_EXTERN uint64_t cf_csv_reader_records(const cf_csv_reader *r);

/*
 * Release the reader's buffers and start a new document with the same public fields.
 * Call it once the reader is no longer needed. Thread: the reader's.
 */
CF_EXTERN void cf_csv_reader_reset(cf_csv_reader *r);

/*
 * Parse a whole document held in memory (init, feed, finish and reset in one call). Returns
 * like cf_csv_reader_finish; when `err` is not NULL it receives, on failure, an error whose
 * message says what and where (NULL when even that could not be allocated).
 * Ownership: `text` is borrowed during the call; the caller owns *err (cf_error_free).
 * Thread: any.
 */
CF_EXTERN int cf_csv_parse(const char *text, size_t len, cf_csv_record_cb on_record, void *data,
                           cf_error **err);

/* ==== records from JSON values ==== */

/*
 * Write one record from a JSON value: for each of `columns[0..n-1]`, the value at that key or
 * path (cf_json_path syntax: "title", "a.b", "people[0]", ["odd.key"]). Strings are written
 * unescaped; numbers as their JSON text; true and false as such; null, a missing value or a
 * malformed path as an empty field; arrays and objects as their compact JSON text (≈
 * JSON.stringify) in one field. Then the record separator. Returns like cf_csv_end_record
 * (CF_EINVAL when n is 0 or a column is NULL). Ownership: everything is borrowed during the
 * call. Thread: the writer's.
 */
CF_EXTERN int cf_csv_write_json_record(cf_csv_writer *w, const cf_json *value,
                                       const char *const *columns, size_t n);

/* Write the column names (the paths as given) as the header row: cf_csv_write_header. */
CF_EXTERN int cf_csv_write_json_header(cf_csv_writer *w, const char *const *columns, size_t n);

/*
 * Make a converter that streams the JSON array at `path` (cf_json_select syntax; NULL or ""
 * for a top-level array) into `w` (≈ JSON.parse plus rows.map(...) in Node, without holding
 * the document): one record per element, the same bytes cf_csv_write_json_record would
 * write, each written as soon as the element's last byte is fed, after a header row of the
 * column names when `header` is non-zero (written by the first feed). Only the values the
 * columns select are kept while an element streams by, so memory does not grow with the
 * document. `limits` are those of cf_json_select_new (NULL: defaults).
 * Returns 0, CF_EINVAL (no column, a NULL column, `w` NULL, a malformed path) or CF_ENOMEM.
 * Ownership: `path`, `columns` and `limits` are copied; `w` is borrowed until
 * cf_csv_json_free; the caller owns *out. Thread: any; then the converter's.
 */
CF_EXTERN int cf_csv_json_new(cf_csv_json **out, cf_csv_writer *w, const char *path,
                              const char *const *columns, size_t n, int header,
                              const cf_json_limits *limits);

/*
 * Feed the next chunk of JSON. Returns 0 when the document is complete, CF_JSON_NEED_MORE
 * when more is expected, or an error: CF_EPARSE (bad JSON, or the value at the path is not an
 * array), CF_ETOOBIG (past the limits), CF_ENOMEM, or the sink's error. Errors are sticky;
 * cf_csv_json_error says what and where.
 * Ownership: `chunk` is borrowed during the call. Thread: the converter's.
 */
CF_EXTERN int cf_csv_json_feed(cf_csv_json *c, const char *chunk, size_t len);

/*
 * End of input: checks the document is complete and flushes the writer. Returns 0, CF_EPARSE
 * (a truncated document), CF_ENOENT (no value at the path), the sink's error, or the sticky
 * error. Thread: the converter's.
 */
CF_EXTERN int cf_csv_json_finish(cf_csv_json *c);

/* Rows written so far (the header excluded). */
CF_EXTERN uint64_t cf_csv_json_rows(const cf_csv_json *c);

/* The last error as text ("" when none); borrowed until the next call on `c`. */
CF_EXTERN const char *cf_csv_json_error(const cf_csv_json *c);

/* Free the converter (not the writer). NULL is a no-op. Thread: the converter's. */
CF_EXTERN void cf_csv_json_free(cf_csv_json *c);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_CSV_H */
