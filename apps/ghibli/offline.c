/*
 * The bundled API for `ghibli serve` and `--offline`: the stand-in of apps/ghibli_api on
 * 127.0.0.1, serving the data file it finds (CF_GHIBLI_DATA, the installed copy, or the
 * source tree's data/ghibli.json).
 */
#include <stdlib.h>

#include "ghibli_api.h"
#include "offline.h"

struct ghibli_offline {
    ghibli_server *server;
};

int ghibli_offline_start(cf_loop *loop, int port, const char *base_url, ghibli_offline **out,
                         cf_error **error)
{
    return ghibli_offline_start_http(loop, port, base_url, NULL, out, error);
}

int ghibli_offline_start_http(cf_loop *loop, int port, const char *base_url,
                              const cf_http_server_opts *http, ghibli_offline **out,
                              cf_error **error)
{
    ghibli_offline *o = calloc(1, sizeof *o);
    if (!o)
        return CF_ENOMEM;
    ghibli_server_opts opts = {
        .host = "127.0.0.1", .port = port, .base_url = base_url, .http = http};
    int rc = ghibli_server_start(loop, &opts, &o->server, error);
    if (rc < 0) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

int ghibli_offline_port(const ghibli_offline *o)
{
    return ghibli_server_port(o->server);
}

size_t ghibli_offline_accepted(const ghibli_offline *o)
{
    return cf_http_server_accepted(ghibli_server_http(o->server));
}

void ghibli_offline_stop(ghibli_offline *o)
{
    if (!o)
        return;
    ghibli_server_close(o->server, NULL, NULL);
    free(o);
}
