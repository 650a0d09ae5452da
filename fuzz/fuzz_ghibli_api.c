/* fuzz_ghibli_api: any bytes as the path and query of a request to the bundled API (each byte
 * outside [A-Za-z0-9/?&=,._-] percent-encoded, so it reaches the server as sent), served over
 * loopback by the in-process stand-in (apps/ghibli_api). Every request gets a reply: 200 with
 * a JSON body, or 400/404 with a JSON error. The data set loads once, from CF_GHIBLI_DATA or
 * the source tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "calcifer.h"
#include "ghibli_api.h"

static cf_loop *loop;
static ghibli_server *server;

static void on_done(cf_http_req *q, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)q, (void)err;
    cf_buf body = cf_http_response_body(res);
    int code = cf_http_response_status(res);
    cf_json *doc = NULL;
    /* A path with bytes that decode to a UTF-16 surrogate (ED B0 80) is echoed in the 404's
     * message as \udXXX, as JSON.stringify writes a lone surrogate; JSON.parse takes it back. */
    cf_json_limits lim = {.flags = CF_JSON_LONE_SURROGATES};
    if (status || (code != 200 && code != 400 && code != 404) ||
        cf_json_parse(body.base, body.len, &lim, &doc, NULL))
        abort();
    cf_json_free(doc);
    *(int *)data = 1;
    cf_stop(loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char safe[] = "/?&=,._-";
    if (size > 1024) /* longer targets meet the server's own limits, not the API's code */
        return 0;
    if (!loop && (cf_loop_new(&loop) || ghibli_server_start(loop, NULL, &server, NULL)))
        abort();
    char *url = malloc(64 + 3 * size);
    size_t n = (size_t)snprintf(url, 64, "%s/", ghibli_server_url(server));
    for (size_t i = 0; i < size; i++) {
        unsigned char c = data[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c && strchr(safe, c)))
            url[n++] = (char)c;
        else
            n += (size_t)snprintf(url + n, 4, "%%%02X", c);
    }
    url[n] = '\0';
    int done = 0;
    cf_http_options o = {.flags = CF_HTTP_NO_FOLLOW};
    if (cf_http_request(loop, url, &o, on_done, &done, NULL) || cf_run(loop, CF_RUN_DEFAULT) < 0 ||
        !done)
        abort();
    free(url);
    return 0;
}
