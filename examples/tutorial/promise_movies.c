/*
 * The tutorial's second program, with promises: the same job as callback_movies.c, written
 * as one promise chain with one catch. The C counterpart of promiseMovies.js from "How To
 * Write Asynchronous Code in Node.js" (docs/tutorial.md):
 *
 *   const axios = require('axios');
 *   const fs = require('fs').promises;
 *
 *   axios.get('https://ghibliapi.herokuapp.com/films')
 *       .then((response) => {
 *           console.log('Successfully retrieved our list of movies');
 *           let movieList = '';
 *           response.data.forEach(movie => {
 *               movieList += `${movie['title']}, ${movie['release_date']}\n`;
 *           });
 *           return fs.writeFile('promiseMovies.csv', movieList);
 *       })
 *       .then(() => {
 *           console.log('Saved our list of movies to promiseMovies.csv');
 *       })
 *       .catch((error) => {
 *           console.error(`Could not save the Ghibli movies to a file: ${error}`);
 *       });
 *
 * A handler "returns" by settling `next`, the promise of its step: cf_promise_adopt(next, q)
 * is `return q`, cf_promise_reject(next, e) is `throw e`, and doing nothing is returning
 * undefined. axios.get is cf_http_request_p with CF_HTTP_FAIL_ON_STATUS: it fulfils with the
 * response for a 2xx status and rejects otherwise; like axios, it leaves a body that is not
 * JSON for the handler to trip on (response.data is parsed there). The API's address comes
 * from GHIBLI_API_URL (default https://ghibliapi.vercel.app); the program requests
 * <GHIBLI_API_URL>/films.
 *
 * Exit status, as Node's: 0, failures included, since the catch handles every one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <calcifer.h>

/* What the handlers share: the loop, and the file's bytes until the write settles. */
typedef struct movies {
    cf_loop *loop;
    char *movie_list;
    size_t movie_list_len;
} movies;

/* `${value}` in a template literal: strings as they are, numbers as written, else JSON. */
static void put_value(FILE *out, const cf_json *value)
{
    if (!value) {
        fputs("undefined", out);
        return;
    }
    switch (cf_json_type_of(value)) {
    case CF_JSON_STRING:
        fputs(cf_json_string(value, NULL), out);
        break;
    case CF_JSON_NUMBER:
        fputs(cf_json_number_text(value, NULL), out);
        break;
    case CF_JSON_BOOL:
        fputs(cf_json_bool(value) ? "true" : "false", out);
        break;
    case CF_JSON_NULL:
        fputs("null", out);
        break;
    default: {
        char *text = NULL;
        if (cf_json_stringify(value, CF_JSON_COMPACT, &text, NULL) == 0)
            fputs(text, out);
        cf_free(text);
    }
    }
}

/* .then((response) => { ...; return fs.writeFile('promiseMovies.csv', movieList); }) */
static void save_movies(cf_promise *response, cf_promise *next, void *data)
{
    movies *m = data;
    printf("Successfully retrieved our list of movies\n");
    cf_buf body = cf_http_response_body(cf_promise_value(response));
    cf_json *list;
    cf_error *thrown;
    if (cf_json_parse(body.base, body.len, NULL, &list, &thrown) != 0) {
        cf_promise_reject(next, thrown); /* response.data is no list: forEach throws */
        return;
    }
    if (cf_json_type_of(list) != CF_JSON_ARRAY) {
        cf_promise_reject(next, CF_ERROR(CF_EPARSE, "the API's answer is a JSON %s, not an array",
                                         cf_json_type_name(cf_json_type_of(list))));
        cf_json_free(list);
        return;
    }
    FILE *movie_list = open_memstream(&m->movie_list, &m->movie_list_len);
    if (!movie_list) {
        cf_promise_reject(next, CF_ERROR(CF_ENOMEM, NULL));
        cf_json_free(list);
        return;
    }
    for (size_t i = 0; i < cf_json_size(list); i++) {
        const cf_json *movie = cf_json_at(list, i);
        put_value(movie_list, cf_json_get(movie, "title"));
        fputs(", ", movie_list);
        put_value(movie_list, cf_json_get(movie, "release_date"));
        fputs("\n", movie_list);
    }
    fclose(movie_list);
    cf_json_free(list);
    cf_promise *written =
        cf_fs_write_file_p(m->loop, "promiseMovies.csv", m->movie_list, m->movie_list_len, 0, NULL);
    cf_promise_adopt(next, written);
    cf_promise_release(written);
}

/* .then(() => { console.log('Saved our list of movies to promiseMovies.csv'); }) */
static void report_saved(cf_promise *written, cf_promise *next, void *data)
{
    (void)written, (void)next, (void)data;
    printf("Saved our list of movies to promiseMovies.csv\n");
}

/* .catch((error) => { console.error(`Could not save the Ghibli movies to a file: ${error}`); }) */
static void report_error(cf_promise *failed, cf_promise *next, void *data)
{
    (void)next, (void)data;
    const cf_error *error = cf_promise_error(failed);
    fprintf(stderr, "Could not save the Ghibli movies to a file: %s\n",
            error ? error->message : cf_strerror(cf_promise_code(failed)));
}

int main(void)
{
    const char *api = getenv("GHIBLI_API_URL");
    if (!api || !*api)
        api = "https://ghibliapi.vercel.app";
    char url[2048];
    size_t base = strlen(api);
    while (base > 0 && api[base - 1] == '/')
        base--;
    if (base > sizeof url - sizeof "/films") {
        fprintf(stderr, "GHIBLI_API_URL is too long\n");
        return 1;
    }
    snprintf(url, sizeof url, "%.*s/films", (int)base, api);

    movies m = {0};
    if (cf_loop_new(&m.loop) != 0)
        return 1;
    cf_http_options axios = {.flags = CF_HTTP_FAIL_ON_STATUS};
    cf_promise *get = cf_http_request_p(m.loop, url, &axios);
    cf_promise *saved = cf_promise_then(get, save_movies, NULL, &m);
    cf_promise *reported = cf_promise_then(saved, report_saved, NULL, &m);
    cf_promise *handled = cf_promise_catch(reported, report_error, &m);
    int rc = handled ? cf_run(m.loop, CF_RUN_DEFAULT) : CF_ENOMEM;
    cf_promise_release(handled);
    cf_promise_release(reported);
    cf_promise_release(saved);
    cf_promise_release(get);
    cf_loop_close(m.loop);
    free(m.movie_list);
    return rc < 0 ? 1 : 0;
}
