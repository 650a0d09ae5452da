/* fuzz_http_request: any bytes as one connection's requests (heads, bodies, pipelining). The
 * input whole and in pieces (1..17 bytes from a PRNG, each in a new buffer) must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "calcifer/http_parser.h"

typedef struct run {
    cf_http_parser p;
    int in_body, rc, msgs;
    uint32_t hash; /* FNV-1a over every span and flag reported */
} run;

static void mix(run *r, const char *s, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ (uint8_t)s[i]) * 16777619u;
    r->hash = (r->hash ^ v) * (v ? 16777619u : 1u); /* v = 0: spans may be split */
}

static size_t pump(run *r, const char *b, size_t n)
{
    size_t off = 0;
    for (int k = 1, head; k > 0 && r->rc == 0;) {
        cf_http_field h[16];
        cf_http_request_head q = {.headers = h, .max_headers = 16};
        cf_http_body_event ev = {0};
        k = (head = !r->in_body) ? cf_http_parse_request(&r->p, b + off, n - off, &q)
                                 : cf_http_parse_body(&r->p, b + off, n - off, &ev);
        for (size_t i = 0; head && k > 0 && i <= q.num_headers; i++)
            mix(r, i ? h[i - 1].value : q.target, i ? h[i - 1].value_len : q.target_len, q.flags);
        if (!head && k > 0)
            mix(r, ev.data, ev.len, 0), mix(r, ev.trailer.value, ev.trailer.value_len, k - 1u);
        off += head && k > 0 ? (size_t)k : ev.consumed, r->msgs += head && k > 0;
        r->in_body = head ? k > 0 : k != CF_HTTP_BODY_END, r->rc = k < 0 ? k : 0;
    }
    return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run r[2] = {{.hash = 2166136261u}, {.hash = 2166136261u}};
    for (size_t split = 0; split < 2; split++) { /* whole, then pieces each in a new buffer */
        char *pend = malloc(size + 1);
        for (size_t i = 0, np = 0, k, seed = size; i < size && !r[split].rc; i += k, np += k) {
            seed = seed * 1103515245u + 12345u, k = split ? (seed >> 16) % 17 + 1 : size;
            char *next = malloc(np + (k = k < size - i ? k : size - i));
            memcpy(next, pend, np), memcpy(next + np, data + i, k), free(pend), pend = next;
            size_t used = pump(&r[split], pend, np + k);
            memmove(pend, pend + used, np + k - used), np -= used;
        }
        free(pend);
    }
    if (r[0].rc != r[1].rc || r[0].msgs != r[1].msgs || r[0].hash != r[1].hash ||
        cf_http_parser_error(&r[0].p) != cf_http_parser_error(&r[1].p))
        abort();
    return 0;
}
