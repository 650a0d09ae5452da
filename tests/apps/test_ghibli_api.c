/*
 * The Studio Ghibli API stand-in (apps/ghibli_api, linked here as ghibli_api_testing), fetched
 * with the project's own HTTP client: every route, fields/limit/filters, 404/405/400 answers,
 * URL rewriting, and byte-compatibility with Node's JSON.stringify(value, null, 2) over the
 * same data (Node runs when it is installed; otherwise /films is compared with
 * tests/data/json/ghibli_films.pretty.json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ghibli_api.h"
#include "harness.h"

#define DATA   CF_SOURCE_DIR "/data/ghibli.json"
#define HEROKU "https://ghibliapi.herokuapp.com"

/* ---- expected output from Node ---- */

static int have_node(void)
{
    return access("/usr/bin/node", X_OK) == 0;
}

/* stdout of `node -e <script>` with the data loaded as `d` (malloc'd), or NULL. */
static char *node_eval(const char *script)
{
    char path[512];
    snprintf(path, sizeof path, "%s/script.js", cf_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT_PTR(f);
    fprintf(f, "const d = require(%s);\nprocess.stdout.write(%s);\n", "'" DATA "'", script);
    fclose(f);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "/usr/bin/node '%s'", path);
    FILE *p = popen(cmd, "r");
    ASSERT_PTR(p);
    size_t cap = 1 << 20;
    size_t len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
    }
    out[len] = '\0';
    ASSERT_EQ(pclose(p), 0);
    return out;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ASSERT_PTR(f);
    char *out = malloc(1 << 20);
    size_t n = fread(out, 1, (1 << 20) - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

/* Replace every `from` with `to` (malloc'd result). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from);
    size_t tl = strlen(to);
    size_t count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from)) {
        count++;
    }
    char *out = malloc(strlen(s) + count * (tl > fl ? tl - fl : 0) + 1);
    char *o = out;
    const char *p;
    while ((p = strstr(s, from)) != NULL) {
        memcpy(o, s, (size_t)(p - s));
        o += p - s;
        memcpy(o, to, tl);
        o += tl;
        s = p + fl;
    }
    memcpy(o, s, strlen(s) + 1);
    return out;
}

/* ---- fetching from the stand-in ---- */

typedef struct fetched {
    int status;
    char *body; /* malloc'd */
    char ctype[128];
    char clen[32];
} fetched;

static void fetched_free(fetched *f)
{
    free(f->body);
    f->body = NULL;
}

/* GET (or another method) base+path inside a task. */
static fetched fetch(cf_task *task, const char *base, const char *path, const char *method)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    cf_http_options o = {0};
    o.method = method;
    cf_result r = cf_await(cf_http_request_p(cf_task_loop(task), url, &o));
    if (r.status < 0)
        CF_TEST_FAILF("GET %s: %s", url, r.error ? r.error->message : cf_strerror(r.status));
    cf_http_response *res = r.value;
    fetched f = {0};
    f.status = cf_http_response_status(res);
    cf_buf b = cf_http_response_body(res);
    f.body = malloc(b.len + 1);
    memcpy(f.body, b.base, b.len);
    f.body[b.len] = '\0';
    const char *ct = cf_http_response_header(res, "Content-Type");
    snprintf(f.ctype, sizeof f.ctype, "%s", ct ? ct : "");
    const char *cl = cf_http_response_header(res, "Content-Length");
    snprintf(f.clen, sizeof f.clen, "%s", cl ? cl : "");
    return f;
}

/* A body fetched from us equals Node's output once our URLs are turned back into the API's. */
static void assert_same_as_node(const char *base, const fetched *f, const char *expected)
{
    char *back = replace_all(f->body, base, HEROKU);
    if (strcmp(back, expected) != 0) {
        size_t i = 0;
        while (back[i] && back[i] == expected[i]) {
            i++;
        }
        CF_TEST_FAILF("differs from Node at byte %zu: ours \"%.40s\" vs \"%.40s\"", i, back + i,
                      expected + i);
    }
    free(back);
}

typedef struct env {
    ghibli_server *server;
    const char *base;
    int done;
} env;

static ghibli_server *serve(cf_loop *loop)
{
    ghibli_server_opts o = {0};
    o.data_path = DATA;
    ghibli_server *s;
    cf_error *err = NULL;
    int rc = ghibli_server_start(loop, &o, &s, &err);
    if (rc < 0)
        CF_TEST_FAILF("start: %s", err ? err->message : cf_strerror(rc));
    return s;
}

/* Run `fn` as a task against a fresh stand-in, then close it. */
static void run(int (*fn)(cf_task *, void *))
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    env e = {serve(loop), NULL, 0};
    e.base = ghibli_server_url(e.server);
    cf_promise *p = cf_async(loop, fn, &e);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    if (cf_promise_state(p) != CF_PROMISE_FULFILLED)
        CF_TEST_FAILF("task: %s", cf_promise_error(p) ? cf_promise_error(p)->message : "pending");
    cf_promise_release(p);
    ASSERT(e.done);
    ASSERT_OK(cf_loop_close(loop));
}

static int finish(cf_task *task, env *e)
{
    (void)task;
    e->done = 1;
    return cf_await(ghibli_server_close_p(e->server)).status;
}

/* ---- byte compatibility ---- */

static char *films_expected;

static int task_films(cf_task *task, void *arg)
{
    env *e = arg;
    fetched f = fetch(task, e->base, "/films", NULL);
    ASSERT_EQ(f.status, 200);
    ASSERT_STR_EQ(f.ctype, "application/json; charset=utf-8");
    ASSERT(strstr(f.body, HEROKU) == NULL);
    assert_same_as_node(e->base, &f, films_expected);
    fetched_free(&f);
    return finish(task, e);
}

static void test_ghibli_api_films_byte_compatible(void)
{
    films_expected = have_node()
                         ? node_eval("JSON.stringify(d.films, null, 2)")
                         : read_text(CF_SOURCE_DIR "/tests/data/json/ghibli_films.pretty.json");
    run(task_films);
    free(films_expected);
}

/* Every route and query against Node's rendering of the same selection. */
static const struct {
    const char *path;
    const char *node; /* the expected value as a JS expression over `d` */
} NODE_CASES[] = {
    {"/people", "d.people.slice(0, 50)"},
    {"/people?limit=1000", "d.people"},
    {"/locations", "d.locations"},
    {"/species", "d.species"},
    {"/vehicles/", "d.vehicles"},
    {"/films/2baf70d1-42bb-4437-b551-e5fed5a87abe", "d.films[0]"},
    {"/films?limit=2", "d.films.slice(0, 2)"},
    {"/films?limit=0", "[]"},
    {"/films?fields=title,id&limit=3",
     "d.films.slice(0, 3).map(f => ({id: f.id, title: f.title}))"},
    {"/films/58611129-2dbc-4a81-a72f-77ddfc1b1b49?fields=title,release_date,nope",
     "(f => ({title: f.title, release_date: f.release_date}))(d.films.find(f => f.id === "
     "'58611129-2dbc-4a81-a72f-77ddfc1b1b49'))"},
    {"/species?name=Cat", "d.species.filter(s => s.name === 'Cat')"},
    {"/vehicles?name=Sosuke%27s%20Boat", "d.vehicles.filter(v => v.name === \"Sosuke's Boat\")"},
    {"/vehicles?name=Red+Wing&fields=name", "[{name: 'Red Wing'}]"},
    {"/people?gender=Female&limit=3&fields=name",
     "d.people.filter(p => p.gender === 'Female').slice(0, 3).map(p => ({name: p.name}))"},
    {"/people?gender=Female&gender=NA", "d.people.filter(p => p.gender === 'Female' || "
                                        "p.gender === 'NA').slice(0, 50)"},
    {"/people?eye_color=Black&gender=Male", "d.people.filter(p => p.eye_color === 'Black' && "
                                            "p.gender === 'Male')"},
    {"/people?species=https%3A%2F%2Fghibliapi.herokuapp.com%2Fspecies%2F603428ba-8a86-4b0b-a9f1-"
     "65df6abef3d3",
     "[]"},
    {"/films?director=Hayao%20Miyazaki&fields=title",
     "d.films.filter(f => f.director === 'Hayao Miyazaki').map(f => ({title: f.title}))"},
};

static int task_node_cases(cf_task *task, void *arg)
{
    env *e = arg;
    for (size_t i = 0; i < sizeof NODE_CASES / sizeof NODE_CASES[0]; i++) {
        if (!NODE_CASES[i].node)
            continue;
        fetched f = fetch(task, e->base, NODE_CASES[i].path, NULL);
        if (f.status != 200)
            CF_TEST_FAILF("%s: status %d", NODE_CASES[i].path, f.status);
        char script[1024];
        snprintf(script, sizeof script, "JSON.stringify(%s, null, 2)", NODE_CASES[i].node);
        char *want = node_eval(script);
        assert_same_as_node(e->base, &f, want);
        free(want);
        fetched_free(&f);
    }
    return finish(task, e);
}

static void test_ghibli_api_queries_match_node(void)
{
    if (!have_node()) {
        printf("# skipped: no /usr/bin/node\n");
        return;
    }
    run(task_node_cases);
}

/* ---- routes and errors ---- */

static int task_routes(cf_task *task, void *arg)
{
    env *e = arg;
    char want[256];
    fetched f = fetch(task, e->base, "/", NULL);
    snprintf(want, sizeof want, "\"films\": \"%s/films\"", e->base);
    ASSERT_EQ(f.status, 200);
    ASSERT(strstr(f.body, want) != NULL);
    fetched_free(&f);

    const char *not_found[] = {"/films/no-such-id", "/dragons", "/films/a/b"};
    for (size_t i = 0; i < 3; i++) {
        f = fetch(task, e->base, not_found[i], NULL);
        ASSERT_EQ(f.status, 404);
        ASSERT_STR_EQ(f.ctype, "application/json; charset=utf-8");
        ASSERT(strstr(f.body, "\"error\": \"Not Found\"") != NULL);
        fetched_free(&f);
    }
    f = fetch(task, e->base, "/films/no-such-id", NULL);
    ASSERT(strstr(f.body, "no films item with id 'no-such-id'") != NULL);
    fetched_free(&f);

    const char *bad_limit[] = {"/films?limit=abc", "/films?limit=-1",
                               "/films?limit=", "/people?limit=1.5"};
    for (size_t i = 0; i < 4; i++) {
        f = fetch(task, e->base, bad_limit[i], NULL);
        ASSERT_EQ(f.status, 400);
        ASSERT(strstr(f.body, "limit must be a non-negative integer") != NULL);
        fetched_free(&f);
    }
    f = fetch(task, e->base, "/films?name=%zz", NULL);
    ASSERT_EQ(f.status, 400);
    fetched_free(&f);

    f = fetch(task, e->base, "/films", "POST");
    ASSERT_EQ(f.status, 405);
    fetched_free(&f);

    /* HEAD: the list's length, no body. */
    fetched full = fetch(task, e->base, "/films", NULL);
    f = fetch(task, e->base, "/films", "HEAD");
    ASSERT_EQ(f.status, 200);
    ASSERT_EQ(strlen(f.body), 0);
    ASSERT_EQ(strtoul(f.clen, NULL, 10), strlen(full.body));
    fetched_free(&f);
    fetched_free(&full);

    /* An unknown attribute filters everything out, as json-server does. */
    f = fetch(task, e->base, "/species?colour=blue", NULL);
    ASSERT_STR_EQ(f.body, "[]");
    fetched_free(&f);
    return finish(task, e);
}

static void test_ghibli_api_routes_and_errors(void)
{
    run(task_routes);
}

/* ---- URLs point back to the stand-in ---- */

static int task_follow(cf_task *task, void *arg)
{
    env *e = arg;
    fetched film = fetch(task, e->base, "/films/2baf70d1-42bb-4437-b551-e5fed5a87abe", NULL);
    cf_json *v = NULL;
    ASSERT_OK(cf_json_parse(film.body, strlen(film.body), NULL, &v, NULL));
    const char *url = cf_json_string(cf_json_path(v, "people[0]"), NULL);
    ASSERT_PTR(url);
    ASSERT(strncmp(url, e->base, strlen(e->base)) == 0);
    /* Follow it, with the client, as a client of the real API would. */
    fetched person = fetch(task, url, "", NULL);
    ASSERT_EQ(person.status, 200);
    ASSERT(strstr(person.body, "\"id\": \"598f7048-74ff-41e0-92ef-87dc1ad980a9\"") != NULL);
    fetched_free(&person);
    /* "<base>/locations/" (the whole list, as some items say) works too. */
    const char *self = cf_json_string(cf_json_get(v, "url"), NULL);
    fetched again = fetch(task, self, "", NULL);
    ASSERT_STR_EQ(again.body, film.body);
    fetched_free(&again);
    const char *locs = cf_json_string(cf_json_path(v, "locations[0]"), NULL);
    char want[256];
    snprintf(want, sizeof want, "%s/locations/", e->base);
    ASSERT_STR_EQ(locs, want);
    fetched list = fetch(task, locs, "", NULL);
    ASSERT_EQ(list.status, 200);
    ASSERT(list.body[0] == '[');
    fetched_free(&list);
    cf_json_free(v);
    fetched_free(&film);
    return finish(task, e);
}

static void test_ghibli_api_urls_rewritten(void)
{
    run(task_follow);
}

/* ---- loading ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_PTR(f);
    fputs(text, f);
    fclose(f);
}

static void test_ghibli_api_load_errors(void)
{
    ghibli_api *api = NULL;
    cf_error *err = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.json", cf_test_tmpdir());
    ASSERT_EQ(ghibli_api_new(path, "http://x", &api, &err), CF_ENOENT);
    ASSERT(strstr(err->message, "missing.json") != NULL);
    cf_error_free(err);

    snprintf(path, sizeof path, "%s/bad.json", cf_test_tmpdir());
    write_file(path, "{\"films\": [1, 2");
    ASSERT_EQ(ghibli_api_new(path, "http://x", &api, &err), CF_EPARSE);
    ASSERT(strstr(err->message, "bad.json") != NULL);
    cf_error_free(err);

    write_file(path, "{\"films\": [1, 2]}");
    ASSERT_EQ(ghibli_api_new(path, "http://x", &api, &err), CF_EPARSE);
    cf_error_free(err);

    ASSERT_EQ(ghibli_api_new(path, NULL, &api, &err), CF_EINVAL);

    /* A small data set of our own, found through CF_GHIBLI_DATA. */
    write_file(path,
               "{\"cats\": [{\"id\": \"1\", \"url\": \"https://ghibliapi.herokuapp.com/cats/1\","
               " \"note\": \"\\\"https://ghibliapi.herokuapp.com/x\"}]}");
    setenv(GHIBLI_DATA_ENV, path, 1);
    char found[512];
    ASSERT_OK(ghibli_api_find_data(found, sizeof found));
    ASSERT_STR_EQ(found, path);
    ASSERT_EQ(ghibli_api_find_data(found, 4), CF_ENOBUFS);
    ASSERT_OK(ghibli_api_new(NULL, "http://127.0.0.1:9/", &api, &err));
    ASSERT_EQ(ghibli_api_count(api, "cats"), 1);
    ASSERT_EQ(ghibli_api_count(api, "films"), 0);
    ghibli_api_free(api);
    unsetenv(GHIBLI_DATA_ENV);
    /* Without the variable, the source tree's copy is found from the test's folder. */
    ASSERT_OK(ghibli_api_find_data(found, sizeof found));
    ASSERT(strstr(found, "data/ghibli.json") != NULL);
}

/* A data file whose strings mention the API only where rewriting applies. */
static int task_small(cf_task *task, void *arg)
{
    env *e = arg;
    fetched f = fetch(task, e->base, "/cats/1", NULL);
    char want[512];
    snprintf(want, sizeof want,
             "{\n  \"id\": \"1\",\n  \"url\": \"%s/cats/1\",\n"
             "  \"note\": \"\\\"https://ghibliapi.herokuapp.com/x\"\n}",
             e->base);
    ASSERT_STR_EQ(f.body, want);
    fetched_free(&f);
    return finish(task, e);
}

static void test_ghibli_api_rewrites_only_urls(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/small.json", cf_test_tmpdir());
    write_file(path,
               "{\"cats\": [{\"id\": \"1\", \"url\": \"https://ghibliapi.herokuapp.com/cats/1\","
               " \"note\": \"\\\"https://ghibliapi.herokuapp.com/x\"}]}");
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ghibli_server_opts o = {0};
    o.data_path = path;
    cf_error *err = NULL;
    env e = {NULL, NULL, 0};
    ASSERT_OK(ghibli_server_start(loop, &o, &e.server, &err));
    e.base = ghibli_server_url(e.server);
    ASSERT(ghibli_server_port(e.server) > 0);
    ASSERT_PTR(ghibli_server_http(e.server));
    ASSERT_EQ(ghibli_api_count(ghibli_server_api(e.server), "cats"), 1);
    cf_promise *p = cf_async(loop, task_small, &e);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_ghibli_api_server_start_errors(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ghibli_server_opts o = {0};
    o.data_path = "/nonexistent/ghibli.json";
    ghibli_server *s = NULL;
    cf_error *err = NULL;
    ASSERT_EQ(ghibli_server_start(loop, &o, &s, &err), CF_ENOENT);
    ASSERT_PTR(err);
    cf_error_free(err);
    o.data_path = DATA;
    o.host = "203.0.113.1"; /* not an address of this machine */
    ASSERT_EQ(ghibli_server_start(loop, &o, &s, &err), CF_EADDRNOTAVAIL);
    ASSERT(strstr(err->message, "203.0.113.1") != NULL);
    cf_error_free(err);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the example program ---- */

/* Run the ghibli_serve example with `args` (stopped after 20 s, status 124, if it hangs);
 * its stdout and stderr into `out`, its exit status back. */
static int run_serve(const char *args, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "timeout 20 '%s/bin/examples/ghibli_serve' %s 2>&1", CF_BUILD_DIR,
             args);
    FILE *p = popen(cmd, "r");
    ASSERT_PTR(p);
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_ghibli_serve_busy_poll(void)
{
    char out[4096];
    /* Out of range, negative or not a number: a usage error naming the option. */
    const char *bad[] = {"--busy-poll 1000001", "--busy-poll -1", "--busy-poll abc",
                         "--busy-poll 50us"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ(run_serve(bad[i], out, sizeof out), 2);
        ASSERT(strstr(out, "--busy-poll takes 0 to 1000000 microseconds") != NULL);
    }
    /* On: the server answers its own client as usual. */
    ASSERT_EQ(run_serve("--port 0 --busy-poll 50 --check", out, sizeof out), 0);
    ASSERT(strstr(out, "GET /films: 200, 22 films") != NULL);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_ghibli_api_films_byte_compatible);
    CF_TEST(test_ghibli_api_queries_match_node);
    CF_TEST(test_ghibli_api_routes_and_errors);
    CF_TEST(test_ghibli_api_urls_rewritten);
    CF_TEST(test_ghibli_api_load_errors);
    CF_TEST(test_ghibli_api_rewrites_only_urls);
    CF_TEST(test_ghibli_api_server_start_errors);
    CF_TEST(test_ghibli_serve_busy_poll);
    return CF_TEST_END();
}
