/*
 * The tutorial's first program, with callbacks: request the list of Studio Ghibli films and
 * save "title, release date" lines to callbackMovies.csv. The C counterpart of
 * callbackMovies.js from "How To Write Asynchronous Code in Node.js" (docs/tutorial.md):
 *
 *   const request = require('request');
 *   const fs = require('fs');
 *
 *   request('https://ghibliapi.herokuapp.com/films', (error, response, body) => {
 *       if (error) {
 *           console.error(`Could not send request to API: ${error.message}`);
 *           return;
 *       }
 *       if (response.statusCode != 200) {
 *           console.error(`Expected status code 200 but received ${response.statusCode}.`);
 *           return;
 *       }
 *       console.log('Processing our list of movies');
 *       movies = JSON.parse(body);
 *       let movieList = '';
 *       movies.forEach(movie => {
 *           movieList += `${movie['title']}, ${movie['release_date']}\n`;
 *       });
 *       fs.writeFile('callbackMovies.csv', movieList, (error) => {
 *           if (error) {
 *               console.error(`Could not save the Ghibli movies to a file: ${error}`);
 *               return;
 *           }
 *           console.log('Saved our list of movies to callbackMovies.csv');
 *       });
 *   });
 *
 * C has no closures, so each arrow function is a named function written just after the code
 * that passes it, and the state the closures share (the loop, the list) travels in `movies`.
 * The API's address comes from GHIBLI_API_URL (default https://ghibliapi.vercel.app, the
 * public API's current home); the program requests <GHIBLI_API_URL>/films.
 *
 * Exit status, as Node's: 0 when the program ends normally, errors included (each is caught
 * and logged); 1 when the body is not a JSON array, where JSON.parse or forEach throws and
 * nothing catches it ("Uncaught" and the error on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <calcifer.h>

/* What the arrow functions share: in JavaScript, the variables they close over. */
typedef struct movies {
    cf_loop *loop;
    char *movie_list; /* the file's bytes, kept until fs.writeFile's callback */
    size_t movie_list_len;
    int exit_status;
} movies;

static void on_response(cf_http_req *req, int status, const cf_error *error,
                        cf_http_response *response, void *data);
static void on_saved(int status, const cf_error *error, void *data);

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

/* An exception nothing catches: Node prints it and ends the process with status 1. */
static void uncaught(movies *m, const char *message)
{
    fprintf(stderr, "Uncaught %s\n", message);
    m->exit_status = 1;
}

/* request(url, (error, response, body) => { ... }) */
static void on_response(cf_http_req *req, int status, const cf_error *error,
                        cf_http_response *response, void *data)
{
    movies *m = data;
    (void)req;
    if (status < 0) {
        fprintf(stderr, "Could not send request to API: %s\n",
                error ? error->message : cf_strerror(status));
        return;
    }
    if (cf_http_response_status(response) != 200) {
        fprintf(stderr, "Expected status code 200 but received %d.\n",
                cf_http_response_status(response));
        return;
    }
    printf("Processing our list of movies\n");
    cf_buf body = cf_http_response_body(response);
    cf_json *list;
    cf_error *thrown;
    if (cf_json_parse(body.base, body.len, NULL, &list, &thrown) != 0) {
        uncaught(m, thrown ? thrown->message : "out of memory");
        cf_error_free(thrown);
        return;
    }
    if (cf_json_type_of(list) != CF_JSON_ARRAY) {
        char message[80];
        snprintf(message, sizeof message, "the API's answer is a JSON %s, not an array",
                 cf_json_type_name(cf_json_type_of(list)));
        uncaught(m, message);
        cf_json_free(list);
        return;
    }
    FILE *movie_list = open_memstream(&m->movie_list, &m->movie_list_len);
    if (!movie_list) {
        uncaught(m, "out of memory");
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

    if (cf_fs_write_file(m->loop, "callbackMovies.csv", m->movie_list, m->movie_list_len, 0, NULL,
                         on_saved, m) != 0) {
        uncaught(m, "fs.writeFile could not start: out of memory");
    }
}

/* fs.writeFile('callbackMovies.csv', movieList, (error) => { ... }) */
static void on_saved(int status, const cf_error *error, void *data)
{
    (void)data;
    if (status < 0) {
        fprintf(stderr, "Could not save the Ghibli movies to a file: %s\n",
                error ? error->message : cf_strerror(status));
        return;
    }
    printf("Saved our list of movies to callbackMovies.csv\n");
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
    int started = cf_http_request(m.loop, url, NULL, on_response, &m, NULL);
    if (started != 0) {
        /* A URL the client refuses at once (not http or https) fails like any request. */
        fprintf(stderr, "Could not send request to API: GET %s: %s\n", url, cf_strerror(started));
    }
    int rc = cf_run(m.loop, CF_RUN_DEFAULT);
    cf_loop_close(m.loop);
    free(m.movie_list);
    return rc < 0 ? 1 : m.exit_status;
}
