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

/* The error and its message live in one block, so one free releases both. */
static cf_error *error_make(int code, const char *file, int line, const char *func,
                            const char *text, size_t len)
{
    cf_error *e = cf__malloc(sizeof *e + len + 1);
    if (!e)
        return NULL;
    char *msg = (char *)(e + 1);
    memcpy(msg, text, len);
    msg[len] = '\0';
    e->code = code;
    e->message = msg;
    e->file = file;
    e->line = line;
    e->func = func;
    e->cause = NULL;
    return e;
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

cf_error *cf_error_copy(const cf_error *e)
{
    if (!e)
        return NULL;
    const char *m = e->message ? e->message : "";
    cf_error *c = error_make(e->code, e->file, e->line, e->func, m, strlen(m));
    if (c && e->cause && !(c->cause = cf_error_copy(e->cause))) {
        cf__free(c); /* a copy without its cause would lie about what happened */
        return NULL;
    }
    return c;
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

void cf_error_print(const cf_error *e, void *stream)
{
    FILE *f = stream;
    if (!e) {
        fputs("(no error)\n", f);
        return;
    }
    fprintf(f, "%s", e->message ? e->message : cf_strerror(e->code));
    if (e->file)
        fprintf(f, " (at %s:%d in %s)", e->file, e->line, e->func ? e->func : "?");
    fputc('\n', f);
    for (const cf_error *c = e->cause; c; c = c->cause) {
        fprintf(f, "  caused by: %s", c->message ? c->message : cf_strerror(c->code));
        if (c->file)
            fprintf(f, " (at %s:%d in %s)", c->file, c->line, c->func ? c->func : "?");
        fputc('\n', f);
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
    cf_site s = {NULL, 0, NULL};
    if (e && e->file) {
        s.file = e->file;
        s.line = e->line;
        s.func = e->func;
    }
    return s;
}

/* The site recorded by CF_AT for the next operation this thread starts. */
static _Thread_local cf_site current_site;

void cf_site_set(const char *file, int line, const char *func)
{
    current_site.file = file;
    current_site.line = line;
    current_site.func = func;
}

cf_site cf_site_take(void)
{
    cf_site s = current_site;
    current_site.file = NULL;
    current_site.line = 0;
    current_site.func = NULL;
    return s;
}

cf_error *cf_error_at(int code, cf_site site, const char *file, int line, const char *func,
                      int append_code, const char *fmt, ...)
{
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
