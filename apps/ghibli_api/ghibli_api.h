/*
 * A stand-in for the Studio Ghibli API, served by calcifer/http_server.h. Application code
 * (the `ghibli` command's `serve` and `--offline`, the ghibli_serve example, their tests, fuzz
 * target and benchmarks), built as the static library `ghibli_api` on the public headers
 * only; it is not part of libcalcifer.
 *
 * It serves a data file shaped like the real API's `data.json` (an object of arrays: films,
 * people, locations, species, vehicles) with the real API's routes and output, so programs
 * written against https://ghibliapi.vercel.app work on a machine with no internet:
 *
 *   GET /<resource>        the list (≈ the real API: at most 50 items unless `limit` says)
 *   GET /<resource>/<id>   one item; 404 with a JSON error when no item has that id
 *   ?fields=a,b            keep only these keys, in the data's order
 *   ?limit=N               at most N items (a non-negative integer, capped at 250; else 400)
 *   ?key=value             exact-match filter on an attribute (a list attribute matches when
 *                          it contains the value); repeated keys are alternatives
 *
 * Bodies are JSON.stringify(value, null, 2) byte for byte, keys in the data's order, with
 * `Content-Type: application/json; charset=utf-8`. Resource URLs inside the data
 * ("https://ghibliapi.herokuapp.com/people/...") are rewritten to the server's own base URL
 * ("http://127.0.0.1:8080/people/..."), so that following them stays offline. The bodies of
 * the unfiltered routes are computed once, when the data is loaded, and sent without copying.
 *
 * Two levels: ghibli_api is the data and a request handler to mount on any cf_http_server;
 * ghibli_server starts a server of its own in-process (what `ghibli serve` and `ghibli films
 * --offline` use). Everything is loop-thread only, except ghibli_api_find_data,
 * ghibli_api_new, ghibli_api_count and ghibli_api_free (any thread). Memory comes from the
 * library's allocator (cf_malloc), so cf_live_allocations counts it.
 */
#ifndef GHIBLI_API_H
#define GHIBLI_API_H

#include <stddef.h>

#include <calcifer/common.h>
#include <calcifer/error.h>
#include <calcifer/http_server.h>
#include <calcifer/loop.h>
#include <calcifer/promise.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* The loaded data set and its precomputed responses. Opaque. */
typedef struct ghibli_api ghibli_api;

/* A running stand-in server. Opaque. */
typedef struct ghibli_server ghibli_server;

/* ghibli_server_start options; zero-initialize: every zero field means its default. */
typedef struct ghibli_server_opts {
    const char *data_path;           /* NULL: ghibli_api_find_data */
    const char *host;                /* NULL: "127.0.0.1" */
    int port;                        /* 0: a free port */
    const char *base_url;            /* NULL: "http://<host>:<port>" */
    const cf_http_server_opts *http; /* NULL: the server's defaults */
} ghibli_server_opts;

/* The environment variable that names the data file when no path is given. */
#define GHIBLI_DATA_ENV "CF_GHIBLI_DATA"

/* ---- data ---- */

/*
 * Find the data file used when none is given: $CF_GHIBLI_DATA if set; else, the first that
 * exists of: the path compiled in as GHIBLI_API_DEFAULT_DATA, <exe>/../share/calcifer/
 * ghibli.json (installed), data/ghibli.json in the executable's folder or one of its four
 * parents (a build tree inside the source tree), ./data/ghibli.json. Writes it to `buf`
 * (`len` bytes with the NUL). Returns 0, CF_EINVAL (NULL buf or zero len), CF_ENOENT (none
 * found), CF_ENOBUFS (too short). Thread: any.
 */
int ghibli_api_find_data(char *buf, size_t len);

/*
 * Load the data at `data_path` (NULL: ghibli_api_find_data) and precompute the responses with
 * resource URLs pointing to `base_url` ("http://127.0.0.1:8080", no trailing slash needed).
 * Reads the file synchronously (≈ require('./data.json')). Returns 0, CF_EINVAL (NULL
 * base_url or out), CF_ENOENT and other -errno of reading, CF_EPARSE (not JSON, or not an
 * object of arrays of objects), CF_ENOMEM. On failure `*err` (when `err` is not NULL) says
 * what and where; the caller owns it (cf_error_free). The caller owns `*out`
 * (ghibli_api_free). Strings are copied. Thread: any.
 */
int ghibli_api_new(const char *data_path, const char *base_url, ghibli_api **out, cf_error **err);

/*
 * A cf_http_handler answering one request from `api` (pass the api as the handler's data;
 * borrowed while the server runs). GET and HEAD only (405 otherwise); errors are answered as
 * HTTP statuses with a JSON body. Thread: the server's loop.
 */
void ghibli_api_handle(cf_http_incoming *req, cf_http_res *res, void *api);

/* The number of items of a resource ("films"), or 0 when there is no such resource or `api`
 * or `resource` is NULL. Thread: any. */
size_t ghibli_api_count(const ghibli_api *api, const char *resource);

/* Free the data. Every server using it as handler data must be closed first. NULL: no-op.
 * Thread: any. */
void ghibli_api_free(ghibli_api *api);

/* ---- an in-process server ---- */

/*
 * Load the data and serve it on `host`:`port` (≈ `node app.js`): listens at once; requests
 * are served while the loop runs. `opts` (NULL: every default) is copied. Returns 0, or
 * CF_EINVAL (NULL loop or out), the errors of ghibli_api_new and cf_http_server_listen
 * (CF_EADDRINUSE, ...) with `*err` as there. On failure nothing is left listening, but the
 * loop still runs a close callback: run it before closing the loop. The caller owns `*out`
 * and closes it with ghibli_server_close. Thread: loop only.
 */
int ghibli_server_start(cf_loop *loop, const ghibli_server_opts *opts, ghibli_server **out,
                        cf_error **err);

/* The port served (0 for NULL), and the base URL ("http://127.0.0.1:PORT", borrowed until
 * the close; NULL for NULL). Thread: loop. */
int ghibli_server_port(const ghibli_server *s);
const char *ghibli_server_url(const ghibli_server *s);

/* The underlying HTTP server and data (borrowed until the close; NULL for NULL). Thread: loop. */
cf_http_server *ghibli_server_http(const ghibli_server *s);
ghibli_api *ghibli_server_api(const ghibli_server *s);

/*
 * Close gracefully (cf_http_server_close), then free the data and the server. `cb` (may be
 * NULL) runs from the loop when done, with `data` (borrowed until then). Returns 0,
 * CF_EINVAL (NULL s), CF_ECLOSED (already closing). Thread: loop.
 */
int ghibli_server_close(ghibli_server *s, cf_close_cb cb, void *data);

/* Promise form: fulfils with no value once closed; rejects with CF_ECLOSED when already
 * closing. NULL when `s` is NULL or the promise cannot be allocated (cf_await(NULL) gives
 * CF_ENOMEM). The caller owns the promise. Thread: loop. */
cf_promise *ghibli_server_close_p(ghibli_server *s);

#ifdef __cplusplus
}
#endif

#endif /* GHIBLI_API_H */
