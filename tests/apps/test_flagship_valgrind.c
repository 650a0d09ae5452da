/*
 * The flagship programs under valgrind: the tutorial's three programs and `ghibli`, on their
 * success paths and their main error paths, must run without a memory error or a definite,
 * indirect or possible leak (valgrind's status 99 otherwise). The programs that need a server talk
 * to the project's stand-in (`ghibli serve`, itself not under valgrind) or to api_faults.py; the
 * ones that need none are also listed in examples/valgrind.list.
 */
/* ctest-labels: valgrind slow nosan */
/* ctest-timeout: 1200 */
#include "flagship.h"

#define VALGRIND_STATUS 99

/* Run `argv` under valgrind in `cwd` with `env`. */
static void run_valgrind(outcome *o, const char *cwd, const char *const *env,
                         const char *const *argv)
{
    const char *vargv[24] = {"valgrind",
                             "-q",
                             "--error-exitcode=99",
                             "--leak-check=full",
                             "--show-leak-kinds=definite,indirect,possible",
                             "--errors-for-leak-kinds=definite,indirect,possible",
                             NULL};
    size_t n = 6;
    for (size_t i = 0; argv[i] && n < 23; i++)
        vargv[n++] = argv[i];
    vargv[n] = NULL;
    run_program(o, cwd, env, vargv);
    if (o->status == VALGRIND_STATUS || strstr(o->err, "== "))
        CF_TEST_FAILF("valgrind found errors in %s:\n%s", argv[0], o->err);
}

static void test_valgrind_tutorial(void)
{
    static const char *const programs[] = {"callback_movies", "promise_movies",
                                           "async_await_movies"};
    peer api;
    char base[64];
    char env_url[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", start_stand_in(&api));
    char refused[128];
    snprintf(refused, sizeof refused, "GHIBLI_API_URL=http://127.0.0.1:%d", refused_port());
    for (size_t i = 0; i < 3; i++) {
        char exe[128];
        snprintf(exe, sizeof exe, "bin/examples/%s", programs[i]);
        const char *argv[] = {build_path(exe), NULL};
        outcome o;
        snprintf(env_url, sizeof env_url, "GHIBLI_API_URL=%s", base);
        const char *env[] = {env_url, NULL};
        run_valgrind(&o, fresh_dir(programs[i]), env, argv);
        ASSERT_EQ(o.status, 0);
        outcome_free(&o);
        const char *env_refused[] = {refused, NULL};
        run_valgrind(&o, cf_test_tmpdir(), env_refused, argv);
        ASSERT_EQ(o.status, 0);
        ASSERT(strstr(o.err, "connection refused"));
        outcome_free(&o);
    }
    peer_stop(&api);
}

/* The callbacks program's uncaught error (status 1) and the others' caught parse errors. */
static void test_valgrind_tutorial_bad_body(void)
{
    static const char *const programs[] = {"callback_movies", "promise_movies",
                                           "async_await_movies"};
    peer faults;
    char env_url[128];
    int port = start_faults(&faults);
    for (size_t i = 0; i < 3; i++) {
        char exe[128];
        snprintf(exe, sizeof exe, "bin/examples/%s", programs[i]);
        const char *argv[] = {build_path(exe), NULL};
        const char *bodies[] = {"notjson", "object"};
        for (size_t b = 0; b < 2; b++) {
            snprintf(env_url, sizeof env_url, "GHIBLI_API_URL=http://127.0.0.1:%d/%s", port,
                     bodies[b]);
            const char *env[] = {env_url, NULL};
            outcome o;
            run_valgrind(&o, cf_test_tmpdir(), env, argv);
            ASSERT_EQ(o.status, i == 0 ? 1 : 0);
            outcome_free(&o);
        }
    }
    peer_stop(&faults);
}

static void test_valgrind_ghibli(void)
{
    static const char *const styles[] = {"callbacks", "promises", "async"};
    const char *dir = fresh_dir("out");
    for (size_t s = 0; s < 3; s++) {
        const char *argv[] = {build_path("bin/ghibli"),
                              "films",
                              "--offline",
                              "--style",
                              styles[s],
                              "-o",
                              "films.csv",
                              NULL};
        outcome o;
        run_valgrind(&o, dir, NULL, argv);
        ASSERT_EQ(o.status, 0);
        outcome_free(&o);
        char path[700];
        snprintf(path, sizeof path, "%s/films.csv", dir);
        ASSERT_SAME_FILE(path, shared_path("conformance/tutorial/films-rfc4180.csv"));
    }
    const char *fan[] = {build_path("bin/ghibli"), "people", "--offline", "--with",
                         "films,species",          NULL};
    outcome o;
    run_valgrind(&o, dir, NULL, fan);
    ASSERT_EQ(o.status, 0);
    outcome_free(&o);
}

static void test_valgrind_ghibli_errors(void)
{
    static const char *const styles[] = {"callbacks", "promises", "async"};
    peer faults;
    int port = start_faults(&faults);
    static const struct {
        const char *path;
        int status;
    } cases[] = {{"status/404/films", 7}, {"notjson/films", 8}, {"object/films", 9}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t s = 0; s < 3; s++) {
            char url[128];
            snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", port, cases[c].path);
            const char *argv[] = {
                build_path("bin/ghibli"), "films", "--url", url, "--style", styles[s], NULL};
            outcome o;
            run_valgrind(&o, cf_test_tmpdir(), NULL, argv);
            ASSERT_EQ(o.status, cases[c].status);
            outcome_free(&o);
        }
    }
    for (size_t s = 0; s < 3; s++) {
        const char *argv[] = {
            build_path("bin/ghibli"), "films", "--offline", "--style", styles[s], "-o",
            "missing/films.csv",      NULL};
        outcome o;
        run_valgrind(&o, cf_test_tmpdir(), NULL, argv);
        ASSERT_EQ(o.status, 10);
        outcome_free(&o);
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/people", port);
    const char *fan[] = {build_path("bin/ghibli"), "people", "--url", url, "--with", "films", NULL};
    outcome o;
    run_valgrind(&o, cf_test_tmpdir(), NULL, fan);
    ASSERT_EQ(o.status, 7);
    outcome_free(&o);
    peer_stop(&faults);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_valgrind_tutorial);
    CF_TEST(test_valgrind_tutorial_bad_body);
    CF_TEST(test_valgrind_ghibli);
    CF_TEST(test_valgrind_ghibli_errors);
    return CF_TEST_END();
}
