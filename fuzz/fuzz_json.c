/*
 * JSON push parser: the same events, result and message whether the input arrives whole or
 * split at points derived from the input; an accepted document survives a DOM round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* FNV-1a over every event's fields and text. */
static int hash_event(const cf_json_event *ev, void *h)
{
    uint64_t f[4] = {(uint64_t)ev->kind, ev->depth, ev->len, ev->offset};
    for (size_t i = 0; i < sizeof f + (ev->text ? ev->len : 0); i++) {
        uint8_t b = i < sizeof f ? ((const uint8_t *)f)[i] : (uint8_t)ev->text[i - sizeof f];
        *(uint64_t *)h = (*(uint64_t *)h ^ b) * 0x100000001b3ULL;
    }
    return 0;
}
/* Parse in chunks of 1..16 bytes drawn from `seed`, or whole when `seed` is 0. */
static int run(const uint8_t *d, size_t n, uint32_t seed, uint64_t *h, char *msg)
{
    char scratch[64]; /* small, so that the length limit is fuzzed too */
    cf_json_parser p;
    cf_json_parser_init(&p, hash_event, h, scratch, sizeof scratch);
    p.flags = n & 1 ? CF_JSON_LONE_SURROGATES : 0; /* odd sizes keep lone surrogates */
    int rc = 0;
    for (size_t at = 0, k = n; at < n && rc >= 0; at += k) {
        seed = seed ? seed * 1103515245u + 12345u : 0;
        k = seed && 1 + (seed >> 16) % 16 < n - at ? 1 + (seed >> 16) % 16 : n - at;
        rc = cf_json_parser_feed(&p, (const char *)d + at, k);
    }
    rc = rc >= 0 ? cf_json_parser_finish(&p) : rc;
    memcpy(msg, cf_json_parser_error(&p), strlen(cf_json_parser_error(&p)) + 1);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h1 = 14695981039346656037ULL, h2 = h1;
    char m1[CF_JSON_ERROR_SIZE], m2[CF_JSON_ERROR_SIZE], *text = NULL;
    int rc1 = run(data, size, 0, &h1, m1);
    int rc2 = run(data, size, size ? data[0] | (uint32_t)data[size - 1] << 8 | 1 : 1, &h2, m2);
    if (rc1 != rc2 || h1 != h2 || strcmp(m1, m2))
        abort();
    cf_json *v = NULL, *w = NULL;
    cf_json_limits lim = {.flags = size & 1 ? CF_JSON_LONE_SURROGATES : 0};
    size_t len = 0;
    if (!rc1 && (cf_json_parse((const char *)data, size, &lim, &v, NULL) ||
                 cf_json_stringify(v, CF_JSON_PRETTY, &text, &len) ||
                 cf_json_parse(text, len, &lim, &w, NULL) || !cf_json_equal(v, w)))
        abort();
    cf_json_free(v);
    cf_json_free(w);
    cf_free(text);
    return 0;
}
