/*
 * fetch_json: GET a URL with the promise form of the HTTP client and print the title of every
 * element of the JSON array it returns (≈ `fetch(url).then(r => r.json())`).
 *
 *   fetch_json [URL]     (default: the public Studio Ghibli API's /films)
 */
#include <stdio.h>

#include "calcifer.h"

static void print_titles(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    cf_json *films = cf_promise_value(settled);
    for (size_t i = 0; i < cf_json_size(films); i++) {
        const char *title = cf_json_string(cf_json_path(cf_json_at(films, i), "title"), NULL);
        printf("%s\n", title ? title : "(no title)");
    }
}

static void print_error(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    fprintf(stderr, "fetch_json: %s\n", cf_promise_error(settled)->message);
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "https://ghibliapi.vercel.app/films";
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_promise *got = cf_http_get_json_p(loop, url, NULL);
    cf_promise *printed = cf_promise_then(got, print_titles, NULL, NULL);
    cf_promise *handled = cf_promise_catch(printed, print_error, NULL);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    int failed = cf_promise_state(got) != CF_PROMISE_FULFILLED;
    cf_promise_release(got);
    cf_promise_release(printed);
    cf_promise_release(handled);
    cf_loop_close(loop);
    return rc || failed ? 1 : 0;
}
