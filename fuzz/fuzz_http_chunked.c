/* fuzz_http_chunked: any bytes as a chunked body (byte 0 sets a body limit). The decoder fed
 * whole and in pieces (1..9 bytes from a PRNG, each in a new buffer) must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "calcifer/http_parser.h"

typedef struct run {
    cf_http_parser p;
    struct {
        int rc, ended, trailers, err;
        uint64_t total, used, hash; /* hash: FNV-1a over decoded bytes and trailer values */
    } o;
} run;

static size_t pump(run *r, const char *b, size_t n)
{
    size_t off = 0;
    for (int k = 1; k > 0 && !r->o.rc && !r->o.ended;) {
        cf_http_body_event ev;
        k = cf_http_parse_body(&r->p, b + off, n - off, &ev);
        const char *s = k == CF_HTTP_BODY_DATA ? ev.data : ev.trailer.value;
        size_t len = k == CF_HTTP_BODY_DATA ? ev.len : ev.trailer.value_len;
        for (size_t i = 0; i < len; i++)
            r->o.hash = (r->o.hash ^ (uint8_t)s[i]) * 1099511628211u;
        off += ev.consumed, r->o.total += k == CF_HTTP_BODY_DATA ? len : 0;
        r->o.trailers += k == CF_HTTP_BODY_TRAILER, r->o.ended = k == CF_HTTP_BODY_END;
        r->o.rc = k < 0 ? k : 0, r->o.err = (int)cf_http_parser_error(&r->p);
    }
    r->o.used = r->o.rc ? 0 : r->o.used + off; /* after an error, consumption is moot */
    return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char head[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    cf_http_request_head q = {.headers = (cf_http_field[4]){{0}}, .max_headers = 4};
    cf_http_parser_config cfg = {.max_body_len = size ? data[0] * 16u : 0, .max_head_len = 256};
    run r[2];
    for (size_t split = 0; split < 2; split++) { /* whole, then pieces each in a new buffer */
        char *pend = malloc(size + 1);
        memset(&r[split], 0, sizeof(r[split]));
        cf_http_parser_init(&r[split].p, CF_HTTP_PARSER_REQUEST, &cfg);
        cf_http_parse_request(&r[split].p, head, sizeof(head) - 1, &q);
        for (size_t i = 1, np = 0, k, seed = size; i < size && !r[split].o.rc && !r[split].o.ended;
             i += k, np += k) {
            seed = seed * 1103515245u + 12345u, k = split ? (seed >> 16) % 9 + 1 : size;
            char *next = malloc(np + (k = k < size - i ? k : size - i));
            memcpy(next, pend, np), memcpy(next + np, data + i, k), free(pend), pend = next;
            size_t used = pump(&r[split], pend, np + k);
            memmove(pend, pend + used, np + k - used), np -= used;
        }
        free(pend);
    }
    if (memcmp(&r[0].o, &r[1].o, sizeof(r[0].o)) != 0)
        abort();
    return 0;
}
