/*
 * Growable byte buffer with a hard maximum (model: curl's dynbuf and its `toobig`). The
 * contents are always NUL-terminated so text can be used as a C string. Zero-initialize,
 * then call cf__dbuf_init to set the maximum; cf__dbuf_free releases the memory.
 */
#ifndef CF_UTIL_BUF_H
#define CF_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct cf_dbuf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* appending past this fails with CF_ETOOBIG; 0 means SIZE_MAX/2 */
} cf_dbuf;

void cf__dbuf_init(cf_dbuf *b, size_t max);
/* Append bytes. Returns 0, CF_ENOMEM or CF_ETOOBIG (the buffer is left unchanged). */
int cf__dbuf_add_slow(cf_dbuf *b, const void *p, size_t len);
/*
 * The common case, room already there and under the maximum, inline: building an HTTP
 * response head is a dozen small appends.
 */
static inline int cf__dbuf_add(cf_dbuf *b, const void *p, size_t len)
{
    if (b->data && len < b->cap - b->len && (!b->max || len <= b->max - b->len)) {
        if (len)
            memcpy(b->data + b->len, p, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
    }
    return cf__dbuf_add_slow(b, p, len);
}
int cf__dbuf_addc(cf_dbuf *b, char c);
int cf__dbuf_adds(cf_dbuf *b, const char *s);
/* printf-style append; same errors as cf__dbuf_add. */
int cf__dbuf_printf(cf_dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cf__dbuf_vprintf(cf_dbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Make room for `len` more bytes without changing `len`. Same errors. */
int cf__dbuf_reserve(cf_dbuf *b, size_t len);
void cf__dbuf_reset(cf_dbuf *b);
/* Hand the bytes to the caller (who frees them with cf__free) and empty the buffer. */
char *cf__dbuf_take(cf_dbuf *b, size_t *len);
void cf__dbuf_free(cf_dbuf *b);

#endif
