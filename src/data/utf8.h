/*
 * UTF-8 lead bytes, shared by the JSON parser (validating input) and the serializer (passing
 * valid sequences through). RFC 3629: the lead byte fixes how many continuation bytes follow
 * and the range of the first one, which excludes overlong forms, UTF-16 surrogates and code
 * points past U+10FFFF; later continuation bytes are 0x80-0xBF.
 */
#ifndef CF_DATA_UTF8_H
#define CF_DATA_UTF8_H

#include <stdint.h>

/*
 * For a lead byte `c` >= 0x80: the number of continuation bytes (1-3) and the allowed range
 * [*lo, *hi] of the first one; 0 when `c` cannot start a sequence.
 */
static inline unsigned cf__utf8_lead(uint8_t c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 1;
    if (c >= 0xE0 && c <= 0xEF) {
        *lo = c == 0xE0 ? 0xA0 : 0x80;
        *hi = c == 0xED ? 0x9F : 0xBF;
        return 2;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *lo = c == 0xF0 ? 0x90 : 0x80;
        *hi = c == 0xF4 ? 0x8F : 0xBF;
        return 3;
    }
    return 0;
}

#endif
