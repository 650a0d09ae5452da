/*
 * cf_dbuf: a NUL-terminated growable buffer with a maximum size. Invariant: when `data` is
 * non-NULL, `len < cap` and `data[len] == '\0'`; `len <= max`.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/buf.h"

void cf__dbuf_init(cf_dbuf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

static size_t limit_of(const cf_dbuf *b)
{
    return b->max ? b->max : SIZE_MAX / 2;
}

int cf__dbuf_reserve(cf_dbuf *b, size_t len)
{
    if (len > limit_of(b) - b->len)
        return CF_ETOOBIG;
    size_t need = b->len + len + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = cf__realloc(b->data, cap);
    if (!p)
        return CF_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cf__dbuf_add_slow(cf_dbuf *b, const void *p, size_t len)
{
    int rc = cf__dbuf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int cf__dbuf_addc(cf_dbuf *b, char c)
{
    return cf__dbuf_add(b, &c, 1);
}

int cf__dbuf_adds(cf_dbuf *b, const char *s)
{
    return cf__dbuf_add(b, s, strlen(s));
}

int cf__dbuf_vprintf(cf_dbuf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return CF_EINVAL;
    int rc = cf__dbuf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cf__dbuf_printf(cf_dbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cf__dbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void cf__dbuf_reset(cf_dbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *cf__dbuf_take(cf_dbuf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void cf__dbuf_free(cf_dbuf *b)
{
    cf__free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
