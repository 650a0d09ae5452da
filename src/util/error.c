/*
 * Error names and messages, generated from the one CF_ERRNO_MAP list in calcifer/error.h so
 * that a new code cannot be added without its text.
 */
#include "calcifer/error.h"

/* One row per code, in CF_ERRNO_MAP's order; looked up only on error paths. */
typedef struct error_row {
    int code;
    const char *name;
    const char *message;
} error_row;

#define ERROR_ROW(name, value, msg) {CF_##name, #name, msg},
static const error_row error_rows[] = {CF_ERRNO_MAP(ERROR_ROW)};
#undef ERROR_ROW

static const error_row *find_row(int code)
{
    for (size_t i = 0; i < sizeof error_rows / sizeof error_rows[0]; i++) {
        if (error_rows[i].code == code)
            return &error_rows[i];
    }
    return NULL;
}

const char *cf_strerror(int code)
{
    if (code == 0)
        return "success";
    const error_row *r = find_row(code);
    return r ? r->message : "unknown error";
}

const char *cf_err_name(int code)
{
    if (code == 0)
        return "OK";
    const error_row *r = find_row(code);
    return r ? r->name : "EUNKNOWN";
}

int cf_translate_sys_error(int sys_errno)
{
    if (sys_errno <= 0)
        return sys_errno;
    if (sys_errno == EWOULDBLOCK)
        return CF_EAGAIN;
    return -sys_errno;
}

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/site.h"

/*
 * The error, its rethrow sites (`nrethrown` of them, chained in order) and its message live
 * in one block, so one free releases them all.
 */
static cf_error *error_make_n(int code, const char *file, int line, const char *func,
                              const char *text, size_t len, size_t nrethrown)
{
    cf_error *e = cf__malloc(sizeof *e + nrethrown * sizeof(cf_site) + len + 1);
    if (!e)
        return NULL;
    cf_site *sites = (cf_site *)(e + 1);
    char *msg = (char *)(sites + nrethrown);
    memcpy(msg, text, len);
    msg[len] = '\0';
    e->code = code;
    e->message = msg;
    e->file = file;
    e->line = line;
    e->func = func;
    e->cause = NULL;
    e->rethrown = NULL;
    for (size_t i = 0; i < nrethrown; i++) {
        sites[i] = (cf_site){0};
        sites[i].rethrown = i + 1 < nrethrown ? &sites[i + 1] : NULL;
    }
    if (nrethrown)
        e->rethrown = sites;
    return e;
}

static cf_error *error_make(int code, const char *file, int line, const char *func,
                            const char *text, size_t len)
{
    return error_make_n(code, file, line, func, text, len, 0);
}

__attribute__((format(printf, 6, 0))) static cf_error *error_vmake(int code, const char *file,
                                                                   int line, const char *func,
                                                                   int append_code, const char *fmt,
                                                                   va_list ap)
{
    cf_dbuf b;
    cf__dbuf_init(&b, 0);
    int rc = 0;
    if (fmt)
        rc = cf__dbuf_vprintf(&b, fmt, ap);
    if (!rc && append_code && fmt)
        rc = cf__dbuf_adds(&b, ": ");
    if (!rc && (append_code || !fmt))
        rc = cf__dbuf_adds(&b, cf_strerror(code));
    cf_error *e = NULL;
    if (!rc)
        e = error_make(code, file, line, func, b.data, b.len);
    cf__dbuf_free(&b);
    return e;
}

cf_error *cf_error_new(int code, const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_error *e = error_vmake(code, file, line, func, 0, fmt, ap);
    va_end(ap);
    return e;
}

cf_error *cf_error_sys(int code, const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_error *e = error_vmake(code, file, line, func, 1, fmt, ap);
    va_end(ap);
    return e;
}

/* A copy of `e` with room for `extra` more rethrow sites after its own (left zeroed). */
static cf_error *error_copy_more(const cf_error *e, size_t extra)
{
    size_t n = 0;
    for (const cf_site *r = e->rethrown; r; r = r->rethrown) {
        n++;
    }
    const char *m = e->message ? e->message : "";
    cf_error *c = error_make_n(e->code, e->file, e->line, e->func, m, strlen(m), n + extra);
    if (!c)
        return NULL;
    cf_site *to = (cf_site *)(c + 1);
    for (const cf_site *r = e->rethrown; r; r = r->rethrown, to++) {
        to->file = r->file;
        to->line = r->line;
        to->func = r->func;
        to->pc = r->pc;
    }
    if (e->cause && !(c->cause = cf_error_copy(e->cause))) {
        cf__free(c); /* a copy without its cause would lie about what happened */
        return NULL;
    }
    return c;
}

cf_error *cf_error_copy(const cf_error *e)
{
    return e ? error_copy_more(e, 0) : NULL;
}

cf_error *cf__error_rethrow_at(const cf_error *e, const void *pc)
{
    if (!e)
        return NULL;
    size_t n = 0;
    for (const cf_site *r = e->rethrown; r; r = r->rethrown) {
        n++;
    }
    cf_error *c = error_copy_more(e, 1);
    if (!c)
        return NULL;
    cf_site *last = (cf_site *)(c + 1) + n;
    last->pc = pc;
    cf__site_resolve(last);
    return c;
}

CF__NOINLINE cf_error *cf_error_rethrow(const cf_error *e)
{
    return cf__error_rethrow_at(e, CF__SITE_CALLER().pc);
}

cf_error *cf_error_set_cause(cf_error *e, cf_error *cause)
{
    if (!e) {
        cf_error_free(cause);
        return NULL;
    }
    cf_error_free(e->cause);
    e->cause = cause;
    return e;
}

const cf_error *cf_error_cause(const cf_error *e)
{
    return e ? e->cause : NULL;
}

void cf_error_free(void *e)
{
    /* Iterative, so that a long chain of causes cannot exhaust the stack. */
    cf_error *cur = e;
    while (cur) {
        cf_error *next = cur->cause;
        cf__free(cur);
        cur = next;
    }
}

/* " (at file:line in func)", or " (at sym+0x1c in object)" for a place without a line. */
static void print_place(FILE *f, const char *before, const char *file, int line, const char *func)
{
    if (!file)
        return;
    if (line > 0)
        fprintf(f, "%s%s:%d in %s", before, file, line, func ? func : "?");
    else
        fprintf(f, "%s%s in %s", before, func ? func : "?", file);
}

/* One error's line, then one line per place it was rethrown at. */
static void print_one(FILE *f, const char *indent, const cf_error *e)
{
    fprintf(f, "%s%s", indent, e->message ? e->message : cf_strerror(e->code));
    print_place(f, " (at ", e->file, e->line, e->func);
    fputs(e->file ? ")\n" : "\n", f);
    for (const cf_site *r = e->rethrown; r; r = r->rethrown) {
        if (!r->file)
            continue;
        fputs(indent, f);
        print_place(f, "  rethrown at ", r->file, r->line, r->func);
        fputc('\n', f);
    }
}

void cf_error_print(const cf_error *e, void *stream)
{
    FILE *f = stream;
    if (!e) {
        fputs("(no error)\n", f);
        return;
    }
    print_one(f, "", e);
    for (const cf_error *c = e->cause; c; c = c->cause) {
        print_one(f, "  caused by: ", c);
    }
}

const char *cf_error_message(const cf_error *e)
{
    if (!e)
        return "no error";
    return e->message ? e->message : cf_strerror(e->code);
}

int cf_error_code(const cf_error *e)
{
    return e ? e->code : 0;
}

cf_site cf_error_site(const cf_error *e)
{
    cf_site s = {0};
    if (e && e->file) {
        s.file = e->file;
        s.line = e->line;
        s.func = e->func;
    }
    if (e)
        s.rethrown = e->rethrown;
    return s;
}

cf_error *cf__error_set_site(cf_error *e, cf_site site)
{
    if (!e || e->file)
        return e;
    cf__site_resolve(&site);
    e->file = site.file;
    e->line = site.line;
    e->func = site.func;
    return e;
}

cf_error *cf_error_at(int code, cf_site site, const char *file, int line, const char *func,
                      int append_code, const char *fmt, ...)
{
    cf__site_resolve(&site);
    if (site.file) {
        file = site.file;
        line = site.line;
        func = site.func;
    }
    va_list ap;
    va_start(ap, fmt);
    cf_error *e = error_vmake(code, file, line, func, append_code, fmt, ap);
    va_end(ap);
    return e;
}
