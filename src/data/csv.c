/*
 * RFC 4180 CSV: a writer into a sink and a push reader.
 *
 * Writer. The state is a caller-owned struct with a fixed staging buffer (`_buf`, `_len`
 * bytes used). Fields are appended to it; the sink receives the staged bytes when the buffer
 * is full and at the end of each record, so the sink sees few, large calls and a finished
 * record is never held back. A field is quoted when it contains ',', '"', CR or LF (or
 * always, with CF_CSV_QUOTE_ALL); inside quotes a '"' is doubled. Invariants: `_len <=
 * CF_CSV_WRITER_BUFSIZE`; `_nfields` counts the fields of the unfinished record; once a sink
 * call fails, `_status` holds its code and every later call returns it.
 *
 * Reader. A byte-driven state machine (`_state`), with fast scans over the runs of plain
 * bytes inside a field. The current record is assembled in `_rec`: each finished field's
 * bytes followed by a NUL, so fields can be handed out as C strings; `_fields[i].len` holds
 * their lengths and the pointers are filled in just before the callback runs (the buffer may
 * move while the record grows). `_field_start` is where the unfinished field begins in `_rec`.
 * Both buffers are bounded by `max_record` and `max_fields`. `_pos` counts the bytes consumed;
 * `_line` (from 0) and `_line_start` (the offset of its first byte) give error positions; a
 * quoted field remembers where its opening quote was (`_qpos`...) for the "unterminated"
 * error at the end of input.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "calcifer/csv.h"
#include "data/csv.h"
#include "util/alloc.h"
#include "util/util.h"

/* ---- shared: growing a buffer up to a limit ---- */

/*
 * Make room for `need` elements of `elem` bytes in `ptr` (capacity `*cap` elements),
 * doubling. Returns the (possibly moved) buffer, or NULL on exhaustion with `ptr` untouched.
 */
static void *grow(void *ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return ptr;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c = c > SIZE_MAX / 4 ? need : c * 2;
    if (c > SIZE_MAX / elem)
        return NULL;
    void *p = cf__realloc(ptr, c * elem);
    if (p)
        *cap = c;
    return p;
}

/* ==== writer ==== */

enum { FIELD_NONE = 0, FIELD_PLAIN, FIELD_QUOTED };

#define KNOWN_FLAGS (CF_CSV_LF | CF_CSV_QUOTE_ALL | CF_CSV_FORMULA_GUARD)

int cf_csv_writer_init(cf_csv_writer *w, unsigned flags, cf_csv_write_fn write, void *data)
{
    if (!w || !write || (flags & ~KNOWN_FLAGS))
        return CF_EINVAL;
    w->_write = write;
    w->_ctx = data;
    w->_flags = flags;
    w->_status = 0;
    w->_nfields = 0;
    w->_bare_empty = 0;
    w->_quoting = FIELD_NONE;
    w->_records = 0;
    w->_len = 0;
    return 0;
}

/* Pass `len` bytes to the sink, turning a failure into the writer's sticky status. */
static int sink(cf_csv_writer *w, const char *p, size_t len)
{
    int rc = w->_write(p, len, w->_ctx);
    if (rc > 0)
        rc = CF_EIO;
    if (rc)
        w->_status = rc;
    return rc;
}

static int flush_staged(cf_csv_writer *w)
{
    size_t n = w->_len;
    w->_len = 0;
    return n ? sink(w, w->_buf, n) : 0;
}

/* Stage bytes; a run at least as long as the buffer goes straight to the sink. */
static int put(cf_csv_writer *w, const char *p, size_t len)
{
    if (len <= CF_CSV_WRITER_BUFSIZE - w->_len) {
        memcpy(w->_buf + w->_len, p, len);
        w->_len += len;
        return 0;
    }
    int rc = flush_staged(w);
    if (rc)
        return rc;
    if (len >= CF_CSV_WRITER_BUFSIZE)
        return sink(w, p, len);
    memcpy(w->_buf, p, len);
    w->_len = len;
    return 0;
}

static int put_char(cf_csv_writer *w, char c)
{
    if (w->_len == CF_CSV_WRITER_BUFSIZE) {
        int rc = flush_staged(w);
        if (rc)
            return rc;
    }
    w->_buf[w->_len++] = c;
    return 0;
}

/* Stage the inside of a quoted field: every '"' is written twice. */
static int put_quoted(cf_csv_writer *w, const char *p, size_t len)
{
    while (len) {
        const char *q = memchr(p, '"', len);
        size_t n = q ? (size_t)(q - p) + 1 : len;
        int rc = put(w, p, n);
        if (!rc && q)
            rc = put_char(w, '"');
        if (rc)
            return rc;
        p += n;
        len -= n;
    }
    return 0;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether any byte of `w` equals `c` (the classic zero-byte test on w ^ c...c; exact). */
static int word_has(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);
    return ((x - ONES) & ~x & HIGHS) != 0;
}

/* Scanned eight bytes at a time: long text fields are the common case. */
int cf__csv_needs_quotes(const char *p, size_t len)
{
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (word_has(w, ',') || word_has(w, '"') || word_has(w, '\n') || word_has(w, '\r'))
            return 1;
    }
    for (; i < len; i++) {
        char c = p[i];
        if (c == ',' || c == '"' || c == '\n' || c == '\r')
            return 1;
    }
    return 0;
}

/* The first bytes OWASP lists as starting a spreadsheet formula. */
static int is_formula_start(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

static int check_writer(const cf_csv_writer *w)
{
    if (!w || !w->_write)
        return CF_EINVAL;
    return w->_status;
}

int cf__csv_field_open(cf_csv_writer *w, int quote)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    CF_ASSERT(w->_quoting == FIELD_NONE);
    quote = quote || (w->_flags & CF_CSV_QUOTE_ALL);
    if (w->_nfields)
        rc = put_char(w, ',');
    if (!rc && quote)
        rc = put_char(w, '"');
    if (rc)
        return rc;
    w->_quoting = quote ? FIELD_QUOTED : FIELD_PLAIN;
    w->_bare_empty = !quote;
    return 0;
}

/*
 * A NUL byte is refused rather than written: RFC 4180 text has no way to carry one, quoted or
 * not, and readers built on C strings would cut the field there, silently. The error is
 * sticky, because the field may be half written.
 */
static int refuse_nul(cf_csv_writer *w, const char *p, size_t len)
{
    if (!len || !memchr(p, '\0', len))
        return 0;
    w->_status = CF_EINVAL;
    return CF_EINVAL;
}

int cf__csv_field_append(cf_csv_writer *w, const char *p, size_t len)
{
    int rc = check_writer(w);
    if (!rc)
        rc = refuse_nul(w, p, len);
    if (rc)
        return rc;
    CF_ASSERT(w->_quoting != FIELD_NONE);
    if (len)
        w->_bare_empty = 0;
    return w->_quoting == FIELD_QUOTED ? put_quoted(w, p, len) : put(w, p, len);
}

int cf__csv_field_close(cf_csv_writer *w)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    CF_ASSERT(w->_quoting != FIELD_NONE);
    if (w->_quoting == FIELD_QUOTED)
        rc = put_char(w, '"');
    w->_quoting = FIELD_NONE;
    w->_nfields++;
    return rc;
}

int cf__csv_write_field_guard(cf_csv_writer *w, const char *p, size_t len, int guard)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    if (!p && len)
        return CF_EINVAL;
    rc = refuse_nul(w, p, len);
    if (rc)
        return rc;
    guard = guard && len && is_formula_start(p[0]);
    rc = cf__csv_field_open(w, cf__csv_needs_quotes(p, len));
    if (!rc && guard)
        rc = cf__csv_field_append(w, "'", 1);
    if (!rc && len)
        rc = cf__csv_field_append(w, p, len);
    if (!rc)
        rc = cf__csv_field_close(w);
    return rc;
}

int cf_csv_write_field(cf_csv_writer *w, const char *p, size_t len)
{
    if (!w)
        return CF_EINVAL;
    return cf__csv_write_field_guard(w, p, len, (w->_flags & CF_CSV_FORMULA_GUARD) != 0);
}

int cf_csv_write_str(cf_csv_writer *w, const char *s)
{
    return cf_csv_write_field(w, s ? s : "", s ? strlen(s) : 0);
}

int cf_csv_end_record(cf_csv_writer *w)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    if (!w->_nfields)
        return CF_EINVAL;
    /* One bare empty field would read back as a blank line: write it as "". */
    if (w->_nfields == 1 && w->_bare_empty)
        rc = put(w, "\"\"", 2);
    if (!rc)
        rc = (w->_flags & CF_CSV_LF) ? put_char(w, '\n') : put(w, "\r\n", 2);
    if (rc)
        return rc;
    w->_nfields = 0;
    w->_records++;
    return flush_staged(w);
}

int cf_csv_write_record(cf_csv_writer *w, const char *const *fields, size_t n)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    if (!n || !fields)
        return CF_EINVAL;
    for (size_t i = 0; i < n && !rc; i++)
        rc = cf_csv_write_str(w, fields[i]);
    return rc ? rc : cf_csv_end_record(w);
}

int cf_csv_write_record_bufs(cf_csv_writer *w, const cf_buf *fields, size_t n)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    if (!n || !fields)
        return CF_EINVAL;
    for (size_t i = 0; i < n && !rc; i++)
        rc = cf_csv_write_field(w, fields[i].base, fields[i].len);
    return rc ? rc : cf_csv_end_record(w);
}

int cf_csv_write_header(cf_csv_writer *w, const char *const *names, size_t n)
{
    int rc = check_writer(w);
    if (rc)
        return rc;
    if (w->_records || w->_nfields)
        return CF_EINVAL;
    return cf_csv_write_record(w, names, n);
}

int cf_csv_writer_flush(cf_csv_writer *w)
{
    int rc = check_writer(w);
    return rc ? rc : flush_staged(w);
}

uint64_t cf_csv_writer_records(const cf_csv_writer *w)
{
    return w ? w->_records : 0;
}

/* ---- memory sink ---- */

int cf_csv_mem_write(const char *p, size_t len, void *mem)
{
    cf_csv_mem *m = mem;
    if (!m || (!p && len))
        return CF_EINVAL;
    size_t max = m->max ? m->max : SIZE_MAX / 2;
    if (m->len > max || len > max - m->len)
        return CF_ETOOBIG;
    char *d = grow(m->data, &m->_cap, m->len + len + 1, 1);
    if (!d)
        return CF_ENOMEM;
    m->data = d;
    if (len)
        memcpy(d + m->len, p, len);
    m->len += len;
    d[m->len] = '\0';
    return 0;
}

void cf_csv_mem_free(cf_csv_mem *m)
{
    if (!m)
        return;
    cf__free(m->data);
    m->data = NULL;
    m->len = 0;
    m->_cap = 0;
}

/* ==== reader ==== */

enum {
    R_RECORD_START = 0, /* nothing of the record seen yet */
    R_FIELD_START,      /* just after a ',' */
    R_UNQUOTED,         /* inside a field without quotes */
    R_QUOTED,           /* inside quotes */
    R_QUOTE_END,        /* a '"' inside quotes: a doubled quote or the closing one */
    R_CR,               /* a CR ended a field; its LF must follow */
    R_DONE              /* after cf_csv_reader_finish */
};

void cf_csv_reader_init(cf_csv_reader *r, cf_csv_record_cb on_record, void *data)
{
    if (!r)
        return;
    memset(r, 0, sizeof *r);
    r->on_record = on_record;
    r->data = data;
}

static size_t max_record_of(const cf_csv_reader *r)
{
    return r->max_record ? r->max_record : CF_CSV_DEFAULT_MAX_RECORD;
}

static size_t max_fields_of(const cf_csv_reader *r)
{
    return r->max_fields ? r->max_fields : CF_CSV_DEFAULT_MAX_FIELDS;
}

/* Record a sticky error with the position of the byte at offset `pos` on line `line`. */
static int fail_at(cf_csv_reader *r, int code, const char *what, uint64_t pos, uint64_t line,
                   uint64_t line_start)
{
    snprintf(r->_msg, sizeof r->_msg,
             "CSV: %s at line %" PRIu64 ", column %" PRIu64 " (byte %" PRIu64 ")", what, line + 1,
             pos - line_start + 1, pos);
    r->_status = code;
    return code;
}

/* An error at the byte about to be consumed. */
static int fail(cf_csv_reader *r, int code, const char *what)
{
    return fail_at(r, code, what, r->_pos, r->_line, r->_line_start);
}

static int rec_add(cf_csv_reader *r, const char *p, size_t len)
{
    if (!len)
        return 0;
    size_t max = max_record_of(r);
    if (r->_rec_len > max || len > max - r->_rec_len) {
        char what[64];
        snprintf(what, sizeof what, "record longer than %zu bytes", max);
        return fail(r, CF_ETOOBIG, what);
    }
    char *rec = grow(r->_rec, &r->_rec_cap, r->_rec_len + len, 1);
    if (!rec)
        return fail(r, CF_ENOMEM, "out of memory");
    r->_rec = rec;
    memcpy(rec + r->_rec_len, p, len);
    r->_rec_len += len;
    return 0;
}

static int end_field(cf_csv_reader *r)
{
    if (r->_nfields >= max_fields_of(r)) {
        char what[64];
        snprintf(what, sizeof what, "more than %zu fields in a record", max_fields_of(r));
        return fail(r, CF_ETOOBIG, what);
    }
    size_t len = r->_rec_len - r->_field_start;
    int rc = rec_add(r, "", 1);
    if (rc)
        return rc;
    cf_buf *f = grow(r->_fields, &r->_fields_cap, r->_nfields + 1, sizeof *f);
    if (!f)
        return fail(r, CF_ENOMEM, "out of memory");
    r->_fields = f;
    f[r->_nfields].base = NULL;
    f[r->_nfields].len = len;
    r->_nfields++;
    r->_field_start = r->_rec_len;
    return 0;
}

/* Hand the finished record to the callback and start the next one. */
static int emit(cf_csv_reader *r)
{
    size_t off = 0;
    for (size_t i = 0; i < r->_nfields; i++) {
        r->_fields[i].base = r->_rec + off;
        off += r->_fields[i].len + 1;
    }
    int rc = r->on_record ? r->on_record(r->_fields, r->_nfields, r->data) : 0;
    r->_records++;
    r->_rec_len = 0;
    r->_field_start = 0;
    r->_nfields = 0;
    if (rc) {
        snprintf(r->_msg, sizeof r->_msg, "CSV: stopped by the record callback (%s)",
                 cf_err_name(rc));
        r->_status = rc;
    }
    return rc;
}

/* ',', CR or LF outside quotes: the field ends, and with LF the record. */
static int separator(cf_csv_reader *r, char c)
{
    int rc = end_field(r);
    if (rc)
        return rc;
    if (c == ',') {
        r->_state = R_FIELD_START;
        return 0;
    }
    if (c == '\r') {
        r->_state = R_CR;
        return 0;
    }
    r->_state = R_RECORD_START;
    return emit(r);
}

static int is_separator(char c)
{
    return c == ',' || c == '\r' || c == '\n';
}

/* Consume one byte (the one at offset `_pos`) in the states that look at single bytes. */
static int step(cf_csv_reader *r, char c)
{
    switch (r->_state) {
    case R_RECORD_START:
    case R_FIELD_START:
        if (c == '"') {
            r->_qpos = r->_pos;
            r->_qline = r->_line;
            r->_qline_start = r->_line_start;
            r->_state = R_QUOTED;
            return 0;
        }
        if (is_separator(c))
            return separator(r, c);
        r->_state = R_UNQUOTED;
        return rec_add(r, &c, 1);
    case R_UNQUOTED:
        if (c == '"')
            return fail(r, CF_EPARSE, "'\"' inside an unquoted field");
        return is_separator(c) ? separator(r, c) : rec_add(r, &c, 1);
    case R_QUOTE_END:
        if (c == '"') {
            r->_state = R_QUOTED;
            return rec_add(r, &c, 1);
        }
        if (is_separator(c))
            return separator(r, c);
        return fail(r, CF_EPARSE, "expected ',' or a line end after a closing quote");
    case R_CR:
        if (c != '\n')
            return fail_at(r, CF_EPARSE, "CR not followed by LF", r->_pos - 1, r->_line,
                           r->_line_start);
        r->_state = R_RECORD_START;
        return emit(r);
    default:
        CF_ASSERT(0);
        return CF_EINVAL;
    }
}

/* Consume the plain bytes at `*p` up to the next one that means something in an unquoted
 * field. */
static int scan_unquoted(cf_csv_reader *r, const char **p, const char *end)
{
    const char *q = *p;
    while (q < end && *q != ',' && *q != '"' && *q != '\r' && *q != '\n')
        q++;
    int rc = rec_add(r, *p, (size_t)(q - *p));
    r->_pos += (uint64_t)(q - *p);
    *p = q;
    return rc;
}

/* Consume the bytes of a quoted field up to the next '"', counting lines. */
static int scan_quoted(cf_csv_reader *r, const char **p, const char *end)
{
    const char *q = *p;
    uint64_t pos = r->_pos;
    while (q < end && *q != '"') {
        if (*q == '\n') {
            r->_line++;
            r->_line_start = pos + (uint64_t)(q - *p) + 1;
        }
        q++;
    }
    int rc = rec_add(r, *p, (size_t)(q - *p));
    r->_pos += (uint64_t)(q - *p);
    *p = q;
    if (!rc && q < end) {
        r->_state = R_QUOTE_END;
        r->_pos++;
        (*p)++;
    }
    return rc;
}

int cf_csv_reader_feed(cf_csv_reader *r, const char *chunk, size_t len)
{
    if (!r || (!chunk && len))
        return CF_EINVAL;
    if (r->_status)
        return r->_status;
    if (r->_state == R_DONE)
        return CF_EINVAL;
    if (!len)
        return 0;
    const char *p = chunk;
    const char *end = chunk + len;
    while (p < end) {
        int rc;
        if (r->_state == R_QUOTED) {
            rc = scan_quoted(r, &p, end);
        } else if (r->_state == R_UNQUOTED && !is_separator(*p) && *p != '"') {
            rc = scan_unquoted(r, &p, end);
        } else {
            char c = *p++;
            rc = step(r, c);
            r->_pos++;
            if (c == '\n') {
                r->_line++;
                r->_line_start = r->_pos;
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

int cf_csv_reader_finish(cf_csv_reader *r)
{
    if (!r)
        return CF_EINVAL;
    if (r->_status)
        return r->_status;
    int rc = 0;
    switch (r->_state) {
    case R_FIELD_START:
    case R_UNQUOTED:
    case R_QUOTE_END:
        rc = end_field(r);
        if (!rc)
            rc = emit(r);
        break;
    case R_QUOTED:
        rc = fail_at(r, CF_EPARSE, "unterminated quoted field", r->_qpos, r->_qline,
                     r->_qline_start);
        break;
    case R_CR:
        rc = fail_at(r, CF_EPARSE, "CR not followed by LF", r->_pos - 1, r->_line, r->_line_start);
        break;
    default:
        break;
    }
    if (!rc)
        r->_state = R_DONE;
    return rc;
}

const char *cf_csv_reader_error(const cf_csv_reader *r)
{
    return r && r->_status ? r->_msg : "";
}

uint64_t cf_csv_reader_records(const cf_csv_reader *r)
{
    return r ? r->_records : 0;
}

void cf_csv_reader_reset(cf_csv_reader *r)
{
    if (!r)
        return;
    size_t max_record = r->max_record;
    size_t max_fields = r->max_fields;
    cf__free(r->_rec);
    cf__free(r->_fields);
    cf_csv_reader_init(r, r->on_record, r->data);
    r->max_record = max_record;
    r->max_fields = max_fields;
}

int cf_csv_parse(const char *text, size_t len, cf_csv_record_cb on_record, void *data,
                 cf_error **err)
{
    if (err)
        *err = NULL;
    if (!text && len)
        return CF_EINVAL;
    cf_csv_reader r;
    cf_csv_reader_init(&r, on_record, data);
    int rc = cf_csv_reader_feed(&r, text, len);
    if (!rc)
        rc = cf_csv_reader_finish(&r);
    if (rc && err)
        *err = CF_ERROR(rc, "%s", r._status ? r._msg : cf_strerror(rc));
    cf_csv_reader_reset(&r);
    return rc;
}
