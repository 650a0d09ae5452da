/*
 * Helpers shared by the io layer: the per-loop io state, error objects for callbacks that
 * never come back NULL, address text, and the glue between callback and promise forms.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "core/loop.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/sys.h"
#include "util/util.h"
#include "util/site.h"

/* ---- per-loop state ---- */

static void io_loop_free(void *p)
{
    cf__io_loop *s = p;
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    cf__free(s->rbuf);
    cf__free(s);
}

cf__io_loop *cf__io_loop_get(cf_loop *loop)
{
    cf__io_loop *s = cf__loop_slot(loop, CF__SLOT_IO);
    if (s)
        return s;
    s = cf__calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->rbuf = cf__malloc(CF__IO_READ_BUF);
    if (!s->rbuf) {
        cf__free(s);
        return NULL;
    }
    s->reserve_fd = cf__sys_open("/", O_RDONLY | O_DIRECTORY, 0);
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
    cf__loop_slot_set(loop, CF__SLOT_IO, s, io_loop_free);
    return s;
}

__attribute__((format(printf, 5, 0))) static const cf_error *
err_va(cf_error *fb, cf_site site, int code, int plain, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    cf_error *e = cf_error_at(code, site, NULL, 0, NULL, !plain, "%s", text);
    if (e)
        return e;
    memset(fb, 0, sizeof *fb);
    fb->code = code;
    fb->message = cf_strerror(code);
    cf__site_resolve(&site); /* no allocation: the resolved places have storage of their own */
    fb->file = site.file;
    fb->line = site.line;
    fb->func = site.func;
    return fb;
}

const cf_error *cf__io_err(cf_error *fb, cf_site site, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const cf_error *e = err_va(fb, site, code, 0, fmt, ap);
    va_end(ap);
    return e;
}

const cf_error *cf__io_err_plain(cf_error *fb, cf_site site, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const cf_error *e = err_va(fb, site, code, 1, fmt, ap);
    va_end(ap);
    return e;
}

void cf__io_err_free(const cf_error *e, const cf_error *fb)
{
    if (e && e != fb)
        cf_error_free((void *)e);
}

void cf__io_addr_text(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    snprintf(buf, len, "?");
    if (!sa || salen < sizeof(sa_family_t))
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, len, "%s:%d", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, len, "[%s]:%d", host, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = salen > offsetof(struct sockaddr_un, sun_path)
                       ? salen - offsetof(struct sockaddr_un, sun_path)
                       : 0;
        n = strnlen(un->sun_path, CF_MIN(n, sizeof un->sun_path));
        snprintf(buf, len, "%.*s", (int)n, un->sun_path);
    }
}

/* ---- promise forms ---- */

cf_promise *cf__io_p_started(cf_promise *p, cf_site site, int rc, const char *fmt, ...)
{
    if (rc >= 0)
        return p;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cf_promise_reject(p, cf_error_at(rc, site, NULL, 0, NULL, 1, "%s", text));
    cf_promise_release(p); /* the reference meant for the callback */
    return p;
}

void cf__io_settle(cf_promise *p, int status, const cf_error *err, void *value,
                   void (*dtor)(void *))
{
    cf_error *e = NULL;
    if (status < 0)
        e = err ? cf_error_copy(err) : NULL;
    cf_promise_settle(p, status < 0 ? status : 0, value, dtor, e);
    cf_promise_release(p);
}

cf_buf *cf__io_buf_new(const void *bytes, size_t len)
{
    cf_buf *b = cf__malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
    b->base = (char *)(b + 1);
    b->len = len;
    if (len)
        memcpy(b->base, bytes, len);
    b->base[len] = '\0';
    return b;
}
