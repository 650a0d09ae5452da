/*
 * The tutorial's three programs (examples/tutorial/) and its event-loop demonstrations
 * (examples/event_loop/), run as the user runs them: a fresh process in a folder of its own,
 * against the project's API stand-in (`ghibli serve`) or an API that fails on purpose
 * (api_faults.py). Output files are compared byte for byte with the ones the Node programs
 * wrote (../shared/conformance/tutorial/), and so are the messages and exit statuses the
 * README there describes.
 */
/* ctest-timeout: 300 */
#include "flagship.h"

typedef struct program {
    const char *exe;  /* under bin/examples/ */
    const char *file; /* what it writes */
    const char *ok_out;
    const char *fail_prefix; /* the message of a failed request or write */
} program;

static const program callbacks = {
    "callback_movies", "callbackMovies.csv",
    "Processing our list of movies\nSaved our list of movies to callbackMovies.csv\n",
    "Could not send request to API: "};
static const program promises = {
    "promise_movies", "promiseMovies.csv",
    "Successfully retrieved our list of movies\nSaved our list of movies to promiseMovies.csv\n",
    "Could not save the Ghibli movies to a file: "};
static const program async_await = {"async_await_movies", "asyncAwaitMovies.csv", "",
                                    "Could not save the Ghibli movies to a file: "};

/* Run `p` in a fresh folder with GHIBLI_API_URL set to `api`. */
static const char *run_tutorial(outcome *o, const program *p, const char *api, const char *dir)
{
    char exe[256];
    char env_url[512];
    snprintf(exe, sizeof exe, "bin/examples/%s", p->exe);
    snprintf(env_url, sizeof env_url, "GHIBLI_API_URL=%s", api);
    const char *env[] = {env_url, NULL};
    const char *argv[] = {build_path(exe), NULL};
    const char *cwd = dir ? dir : fresh_dir(p->exe);
    run_program(o, cwd, env, argv);
    return cwd;
}

static void check_saves_movies(const program *p)
{
    peer api;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", start_stand_in(&api));
    outcome o;
    const char *dir = run_tutorial(&o, p, base, NULL);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.out, p->ok_out);
    ASSERT_STR_EQ(o.err, "");
    char path[700];
    char expected[300];
    snprintf(path, sizeof path, "%s/%s", dir, p->file);
    snprintf(expected, sizeof expected, "conformance/tutorial/%s", p->file);
    ASSERT_SAME_FILE(path, shared_path(expected));
    outcome_free(&o);
    peer_stop(&api);
}

static void test_tutorial_callbacks_saves_movies(void)
{
    check_saves_movies(&callbacks);
}

static void test_tutorial_promises_saves_movies(void)
{
    check_saves_movies(&promises);
}

static void test_tutorial_async_await_saves_movies(void)
{
    check_saves_movies(&async_await);
}

/* A failure: the exit status, both outputs, and no file written. */
static void check_failure(const program *p, const char *api, int status, const char *out,
                          const char *err_prefix)
{
    outcome o;
    const char *dir = run_tutorial(&o, p, api, NULL);
    ASSERT_EQ(o.status, status);
    ASSERT_STR_EQ(o.out, out);
    ASSERT_PREFIX(o.err, err_prefix);
    ASSERT(o.err_len > 0 && o.err[o.err_len - 1] == '\n' && !strchr(o.err, '\n')[1]);
    char *names = list_dir(dir);
    ASSERT_STR_EQ(names, "");
    free(names);
    outcome_free(&o);
}

static void test_tutorial_connection_refused(void)
{
    char api[64];
    char msg[256];
    snprintf(api, sizeof api, "http://127.0.0.1:%d", refused_port());
    const program *all[] = {&callbacks, &promises, &async_await};
    for (size_t i = 0; i < 3; i++) {
        snprintf(msg, sizeof msg, "%sGET %s/films: connection refused", all[i]->fail_prefix, api);
        check_failure(all[i], api, 0, "", msg);
    }
}

static void test_tutorial_status_404(void)
{
    peer faults;
    char api[96];
    char msg[256];
    snprintf(api, sizeof api, "http://127.0.0.1:%d/status/404", start_faults(&faults));
    check_failure(&callbacks, api, 0, "", "Expected status code 200 but received 404.\n");
    snprintf(msg, sizeof msg, "%sGET %s/films: HTTP 404 Not Found\n", promises.fail_prefix, api);
    check_failure(&promises, api, 0, "", msg);
    check_failure(&async_await, api, 0, "", msg);
    peer_stop(&faults);
}

/* JSON.parse throws in the callbacks program, where nothing catches it: status 1. */
static void test_tutorial_body_not_json(void)
{
    peer faults;
    char api[96];
    char msg[256];
    snprintf(api, sizeof api, "http://127.0.0.1:%d/notjson", start_faults(&faults));
    check_failure(&callbacks, api, 1, "Processing our list of movies\n", "Uncaught JSON: ");
    snprintf(msg, sizeof msg, "%sJSON: ", promises.fail_prefix);
    check_failure(&promises, api, 0, "Successfully retrieved our list of movies\n", msg);
    snprintf(msg, sizeof msg, "%sGET %s/films: JSON: ", async_await.fail_prefix, api);
    check_failure(&async_await, api, 0, "", msg);
    peer_stop(&faults);
}

static void test_tutorial_body_not_array(void)
{
    peer faults;
    char api[96];
    static const char what[] = "the API's answer is a JSON object, not an array\n";
    char msg[256];
    snprintf(api, sizeof api, "http://127.0.0.1:%d/object", start_faults(&faults));
    snprintf(msg, sizeof msg, "Uncaught %s", what);
    check_failure(&callbacks, api, 1, "Processing our list of movies\n", msg);
    snprintf(msg, sizeof msg, "%s%s", promises.fail_prefix, what);
    check_failure(&promises, api, 0, "Successfully retrieved our list of movies\n", msg);
    check_failure(&async_await, api, 0, "", msg);
    peer_stop(&faults);
}

/* The file cannot be written (a folder has its name): the write's error, status 0. */
static void check_unwritable(const program *p, const char *api, const char *out)
{
    const char *dir = fresh_dir(p->exe);
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, p->file);
    ASSERT(mkdir(path, 0755) == 0);
    outcome o;
    run_tutorial(&o, p, api, dir);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.out, out);
    char msg[256];
    snprintf(msg, sizeof msg,
             "Could not save the Ghibli movies to a file: open '%s': illegal operation on a "
             "directory\n",
             p->file);
    ASSERT_STR_EQ(o.err, msg);
    outcome_free(&o);
}

static void test_tutorial_file_not_writable(void)
{
    peer api;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", start_stand_in(&api));
    check_unwritable(&callbacks, base, "Processing our list of movies\n");
    check_unwritable(&promises, base, "Successfully retrieved our list of movies\n");
    check_unwritable(&async_await, base, "");
    peer_stop(&api);
}

static void test_event_loop_call_stack(void)
{
    outcome o;
    const char *argv[] = {build_path("bin/examples/call_stack"), NULL};
    run_program(&o, cf_test_tmpdir(), NULL, argv);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.out, "1\n2\n3\n");
    outcome_free(&o);
}

static void test_event_loop_first_second_third(void)
{
    outcome o;
    const char *argv[] = {build_path("bin/examples/first_second_third"), NULL};
    run_program(&o, cf_test_tmpdir(), NULL, argv);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.out, "1\n3\n2\n");
    outcome_free(&o);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_tutorial_callbacks_saves_movies);
    CF_TEST(test_tutorial_promises_saves_movies);
    CF_TEST(test_tutorial_async_await_saves_movies);
    CF_TEST(test_tutorial_connection_refused);
    CF_TEST(test_tutorial_status_404);
    CF_TEST(test_tutorial_body_not_json);
    CF_TEST(test_tutorial_body_not_array);
    CF_TEST(test_tutorial_file_not_writable);
    CF_TEST(test_event_loop_call_stack);
    CF_TEST(test_event_loop_first_second_third);
    return CF_TEST_END();
}
