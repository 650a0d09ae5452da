/*
 * The bundled Studio Ghibli API stand-in, as `ghibli serve` and `--offline` use it: the
 * stand-in of apps/ghibli_api (ghibli_api.h) serving the data set built into the program, on
 * 127.0.0.1.
 */
#ifndef GHIBLI_OFFLINE_H
#define GHIBLI_OFFLINE_H

#include <calcifer.h>

typedef struct ghibli_offline ghibli_offline;

/*
 * Start serving on 127.0.0.1:`port` (0: a free port), with the resource URLs inside the data
 * pointing at `base_url` (NULL: the server itself, "http://127.0.0.1:PORT"). Returns 0 and
 * `*out`, or a negative CF_E* with `*error` (owned by the caller; may stay NULL) saying why.
 */
int ghibli_offline_start(cf_loop *loop, int port, const char *base_url, ghibli_offline **out,
                         cf_error **error);

/*
 * The same with the HTTP server's options `http` (copied; NULL: the defaults): how `ghibli
 * serve --workers N` makes one server per loop on one port (CF_HTTP_SERVER_REUSEPORT, or a
 * cf_http_balancer, borrowed until the server is closed).
 */
int ghibli_offline_start_http(cf_loop *loop, int port, const char *base_url,
                              const cf_http_server_opts *http, ghibli_offline **out,
                              cf_error **error);

/* The connections it has accepted so far (cf_http_server_accepted). */
size_t ghibli_offline_accepted(const ghibli_offline *o);

/* The port it listens on. */
int ghibli_offline_port(const ghibli_offline *o);

/* Stop: close the server gracefully; its memory goes once it is closed. */
void ghibli_offline_stop(ghibli_offline *o);

#endif /* GHIBLI_OFFLINE_H */
