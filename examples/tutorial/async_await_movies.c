/*
 * The tutorial's third program, with async/await: the same job as callback_movies.c, written
 * as one async function with one error path. The C counterpart of asyncAwaitMovies.js from
 * "How To Write Asynchronous Code in Node.js" (docs/tutorial.md):
 *
 *   const axios = require('axios');
 *   const fs = require('fs').promises;
 *
 *   async function saveMovies() {
 *       try {
 *           let response = await axios.get('https://ghibliapi.herokuapp.com/films');
 *           let movieList = '';
 *           response.data.forEach(movie => {
 *               movieList += `${movie['title']}, ${movie['release_date']}\n`;
 *           });
 *           await fs.writeFile('asyncAwaitMovies.csv', movieList);
 *       } catch (error) {
 *           console.error(`Could not save the Ghibli movies to a file: ${error}`);
 *       }
 *   }
 *
 *   saveMovies();
 *
 * cf_async runs save_movies as a task on a stack of its own; cf_await suspends it until a
 * promise settles and returns its outcome (a status, the value, the error), so
 * `try { ... } catch (error)` becomes "on a negative status, go to catch_error". The API's address
 * comes from GHIBLI_API_URL (default https://ghibliapi.vercel.app); the program requests
 * <GHIBLI_API_URL>/films.
 *
 * Exit status, as Node's: 0, failures included, since the catch handles every one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <calcifer.h>

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

/* The text of the caught error. */
static const char *message_of(const cf_error *error)
{
    return error ? error->message : cf_strerror(CF_ENOMEM);
}

/* async function saveMovies() { try { ... } catch (error) { ... } } */
static int save_movies(cf_task *task, void *url)
{
    cf_loop *loop = cf_task_loop(task);
    char *movie_list = NULL;
    size_t movie_list_len = 0;
    cf_error *thrown = NULL; /* an error this function throws itself */
    cf_result r = cf_await(cf_http_get_json_p(loop, url, NULL));
    if (r.status < 0)
        goto catch_error;
    const cf_json *data = r.value;
    if (cf_json_type_of(data) != CF_JSON_ARRAY) {
        thrown = CF_ERROR(CF_EPARSE, "the API's answer is a JSON %s, not an array",
                          cf_json_type_name(cf_json_type_of(data)));
        goto catch_error;
    }
    FILE *list = open_memstream(&movie_list, &movie_list_len);
    if (!list) {
        thrown = CF_ERROR_SYS(CF_ENOMEM, "open_memstream");
        goto catch_error;
    }
    for (size_t i = 0; i < cf_json_size(data); i++) {
        const cf_json *movie = cf_json_at(data, i);
        put_value(list, cf_json_get(movie, "title"));
        fputs(", ", list);
        put_value(list, cf_json_get(movie, "release_date"));
        fputs("\n", list);
    }
    fclose(list);
    r = cf_await(
        cf_fs_write_file_p(loop, "asyncAwaitMovies.csv", movie_list, movie_list_len, 0, NULL));
    if (r.status < 0)
        goto catch_error;
    free(movie_list);
    return 0;

catch_error:
    fprintf(stderr, "Could not save the Ghibli movies to a file: %s\n",
            message_of(thrown ? thrown : r.error));
    cf_error_free(thrown);
    free(movie_list);
    return 0;
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

    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_promise_release(cf_async(loop, save_movies, url)); /* saveMovies(); */
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return rc < 0 ? 1 : 0;
}
