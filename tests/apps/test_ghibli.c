/*
 * The `ghibli` command, run as a user runs it: a fresh process per case, against the bundled
 * API stand-in (in-process with --offline, or `ghibli serve`) and an API that fails on
 * purpose (api_faults.py). Checks the CSV byte for byte against the conformance file, the
 * three styles against each other, fields and paths and fan-out against the data set itself,
 * and every error path: its one-line message, its exit status, and that the previous output
 * file is left as it was with no temporary file behind.
 */
/* ctest-timeout: 600 */
#include <poll.h>

#include "flagship.h"

static const char *const styles[] = {"callbacks", "promises", "async"};

/* Run ghibli with `args` (NULL-terminated, at most 16) in `cwd`. */
static void ghibli(outcome *o, const char *cwd, const char *const *env, const char *const *args)
{
    const char *argv[20] = {build_path("bin/ghibli")};
    size_t n = 1;
    for (; args[n - 1] && n < 19; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    run_program(o, cwd ? cwd : cf_test_tmpdir(), env, argv);
}

/* ---- the data set, to compare with ---- */

static cf_json *load_data(void)
{
    size_t len;
    char *text = slurp(source_path("data/ghibli.json"), &len);
    ASSERT_PTR(text);
    cf_json *data;
    ASSERT_OK(cf_json_parse(text, len, NULL, &data, NULL));
    free(text);
    return data;
}

/* A parsed CSV document: records of fields, as copies. */
typedef struct table {
    size_t rows;
    size_t cols[512];
    char *cell[512][8];
} table;

static int on_record(const cf_buf *fields, size_t n, void *data)
{
    table *t = data;
    if (t->rows == 512 || n > 8)
        return CF_ETOOBIG;
    t->cols[t->rows] = n;
    for (size_t i = 0; i < n; i++)
        t->cell[t->rows][i] = strndup(fields[i].base, fields[i].len);
    t->rows++;
    return 0;
}

static table *parse_csv(const char *text, size_t len)
{
    table *t = calloc(1, sizeof *t);
    ASSERT_PTR(t);
    ASSERT_OK(cf_csv_parse(text, len, on_record, t, NULL));
    return t;
}

static void table_free(table *t)
{
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->cols[r]; c++)
            free(t->cell[r][c]);
    }
    free(t);
}

/* ---- output ---- */

static void test_ghibli_offline_matches_rfc4180(void)
{
    size_t len;
    char *expected = slurp(shared_path("conformance/tutorial/films-rfc4180.csv"), &len);
    ASSERT_PTR(expected);
    for (size_t s = 0; s < 3; s++) {
        outcome o;
        const char *args[] = {"films", "--offline", "--style", styles[s], NULL};
        ghibli(&o, NULL, NULL, args);
        ASSERT_EQ(o.status, 0);
        ASSERT_STR_EQ(o.err, "");
        ASSERT_EQ(o.out_len, len);
        ASSERT_MEM_EQ(o.out, expected, len);
        outcome_free(&o);
    }
    free(expected);
}

static void test_ghibli_styles_write_identical_files(void)
{
    peer api;
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/films", start_stand_in(&api));
    const char *dir = fresh_dir("out");
    for (size_t s = 0; s < 3; s++) {
        char file[64];
        snprintf(file, sizeof file, "films-%s.csv", styles[s]);
        outcome o;
        const char *args[] = {"films", "--url", url, "--style", styles[s], "-o", file, NULL};
        ghibli(&o, dir, NULL, args);
        ASSERT_EQ(o.status, 0);
        ASSERT_STR_EQ(o.out, "");
        ASSERT_STR_EQ(o.err, "");
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        ASSERT_SAME_FILE(path, shared_path("conformance/tutorial/films-rfc4180.csv"));
        outcome_free(&o);
    }
    char *names = list_dir(dir);
    ASSERT_STR_EQ(names, "films-async.csv\nfilms-callbacks.csv\nfilms-promises.csv\n");
    free(names);
    peer_stop(&api);
}

/* Any field, by key or path, quoted as RFC 4180 wants: parsed back, equal to the data. */
static void test_ghibli_fields_and_paths(void)
{
    cf_json *data = load_data();
    const cf_json *films = cf_json_get(data, "films");
    for (size_t s = 0; s < 3; s++) {
        outcome o;
        const char *args[] = {"films",    "--offline",
                              "--style",  styles[s],
                              "--fields", "title,description,people[0],rt_score,original_title",
                              NULL};
        ghibli(&o, NULL, NULL, args);
        ASSERT_EQ(o.status, 0);
        table *t = parse_csv(o.out, o.out_len);
        ASSERT_EQ(t->rows, cf_json_size(films) + 1);
        ASSERT_STR_EQ(t->cell[0][1], "description");
        ASSERT_STR_EQ(t->cell[0][2], "people[0]");
        for (size_t r = 1; r < t->rows; r++) {
            const cf_json *film = cf_json_at(films, r - 1);
            ASSERT_EQ(t->cols[r], 5);
            ASSERT_STR_EQ(t->cell[r][0], cf_json_string(cf_json_get(film, "title"), NULL));
            ASSERT_STR_EQ(t->cell[r][1], cf_json_string(cf_json_get(film, "description"), NULL));
            const char *person = cf_json_string(cf_json_path(film, "people[0]"), NULL);
            /* --offline names the public API, so every run writes the same bytes. */
            ASSERT_PREFIX(t->cell[r][2], "https://ghibliapi.vercel.app/people/");
            ASSERT_STR_EQ(strstr(t->cell[r][2], "/people/"), strstr(person, "/people/"));
            ASSERT_STR_EQ(t->cell[r][3], cf_json_string(cf_json_get(film, "rt_score"), NULL));
            ASSERT_STR_EQ(t->cell[r][4], cf_json_string(cf_json_get(film, "original_title"), NULL));
        }
        table_free(t);
        outcome_free(&o);
    }
    cf_json_free(data);
}

static void test_ghibli_other_resources(void)
{
    static const struct {
        const char *name;
        const char *header;
    } res[] = {{"people", "name,gender,age\r\n"},
               {"locations", "name,climate,terrain\r\n"},
               {"species", "name,classification\r\n"},
               {"vehicles", "name,vehicle_class,length\r\n"}};
    cf_json *data = load_data();
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
        outcome o;
        const char *args[] = {res[i].name, "--offline", NULL};
        ghibli(&o, NULL, NULL, args);
        ASSERT_EQ(o.status, 0);
        ASSERT_PREFIX(o.out, res[i].header);
        table *t = parse_csv(o.out, o.out_len);
        const cf_json *list = cf_json_get(data, res[i].name);
        ASSERT_EQ(t->rows, cf_json_size(list) + 1);
        ASSERT_STR_EQ(t->cell[1][0],
                      cf_json_string(cf_json_get(cf_json_at(list, 0), "name"), NULL));
        table_free(t);
        outcome_free(&o);
    }
    cf_json_free(data);
}

/* ---- fan-out ---- */

/* The title of the film a URL names, from the data set. */
static const char *film_title(const cf_json *films, const char *url)
{
    const char *id = strrchr(url, '/') + 1;
    for (size_t i = 0; i < cf_json_size(films); i++) {
        const cf_json *film = cf_json_at(films, i);
        if (strcmp(cf_json_string(cf_json_get(film, "id"), NULL), id) == 0)
            return cf_json_string(cf_json_get(film, "title"), NULL);
    }
    return NULL;
}

static void test_ghibli_fanout_joins_titles(void)
{
    cf_json *data = load_data();
    const cf_json *films = cf_json_get(data, "films");
    const cf_json *people = cf_json_get(data, "people");
    char *first = NULL;
    static const char *const limits[] = {"1", "8", "64"};
    for (size_t l = 0; l < 3; l++) {
        outcome o;
        const char *args[] = {"people",        "--offline", "--with", "films",
                              "--concurrency", limits[l],   NULL};
        ghibli(&o, NULL, NULL, args);
        ASSERT_EQ(o.status, 0);
        ASSERT_STR_EQ(o.err, ""); /* no progress bar: stderr is not a terminal */
        ASSERT_PREFIX(o.out, "name,gender,age,films\r\n");
        table *t = parse_csv(o.out, o.out_len);
        ASSERT_EQ(t->rows, cf_json_size(people) + 1);
        for (size_t r = 1; r < t->rows; r++) {
            const cf_json *urls = cf_json_get(cf_json_at(people, r - 1), "films");
            char expected[1024] = "";
            for (size_t i = 0; i < cf_json_size(urls); i++) {
                const char *title = film_title(films, cf_json_string(cf_json_at(urls, i), NULL));
                ASSERT_PTR(title);
                snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                         i ? "; " : "", title);
            }
            ASSERT_STR_EQ(t->cell[r][3], expected);
        }
        table_free(t);
        if (!first)
            first = strdup(o.out);
        else
            ASSERT_STR_EQ(o.out, first);
        outcome_free(&o);
    }
    free(first);
    cf_json_free(data);
}

/* Placeholder URLs (".../people/", "TODO/") are left out; single URLs work too. */
static void test_ghibli_fanout_placeholders_and_single_urls(void)
{
    outcome o;
    const char *args[] = {"locations", "--offline", "--with", "residents,films",
                          "--fields",  "name",      "-o",     "locations.csv",
                          NULL};
    const char *dir = fresh_dir("fan");
    ghibli(&o, dir, NULL, args);
    ASSERT_EQ(o.status, 0);
    outcome_free(&o);
    char path[700];
    snprintf(path, sizeof path, "%s/locations.csv", dir);
    size_t len;
    char *csv = slurp(path, &len);
    ASSERT_PTR(csv);
    ASSERT(!strstr(csv, "TODO"));
    ASSERT(!strstr(csv, "http"));
    table *t = parse_csv(csv, len);
    ASSERT_STR_EQ(t->cell[0][1], "residents");
    ASSERT_STR_EQ(t->cell[0][2], "films");
    table_free(t);
    free(csv);

    const char *args2[] = {"people", "--offline", "--with", "species", "--fields", "name", NULL};
    ghibli(&o, NULL, NULL, args2);
    ASSERT_EQ(o.status, 0);
    ASSERT(strstr(o.out, "\r\nHaku,Dragon\r\n"));
    outcome_free(&o);
}

/* ---- errors ---- */

typedef struct failure {
    const char *url; /* a URL, or a path on the faults server when it starts with '/' */
    int status;
    const char *what; /* stderr starts with "ghibli: GET <url>: <what>" */
    const char *timeout;
} failure;

/* Every style fails the same way, and the previous output file is left as it was. */
static void check_failure(const failure *f, int port)
{
    char url[256];
    char message[512];
    if (f->url[0] == '/')
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, f->url);
    else
        snprintf(url, sizeof url, "%s", f->url);
    snprintf(message, sizeof message, "ghibli: GET %s: %s", url, f->what);
    for (size_t s = 0; s < 3; s++) {
        const char *dir = fresh_dir(styles[s]);
        char path[700];
        snprintf(path, sizeof path, "%s/films.csv", dir);
        FILE *prev = fopen(path, "w");
        ASSERT_PTR(prev);
        fputs("previous\n", prev);
        fclose(prev);
        outcome o;
        const char *args[] = {"films",     "--url",     url,
                              "--style",   styles[s],   "-o",
                              "films.csv", "--timeout", f->timeout ? f->timeout : "20",
                              NULL};
        ghibli(&o, dir, NULL, args);
        if (o.status != f->status)
            CF_TEST_FAILF("%s (%s): status %d, not %d; stderr: %s", url, styles[s], o.status,
                          f->status, o.err);
        ASSERT_STR_EQ(o.out, "");
        ASSERT_PREFIX(o.err, message);
        ASSERT(strchr(o.err, '\n') == o.err + o.err_len - 1); /* one line */
        ASSERT(!strchr(o.err, '\033'));
        char *kept = slurp(path, NULL);
        ASSERT_STR_EQ(kept, "previous\n");
        free(kept);
        char *names = list_dir(dir);
        ASSERT_STR_EQ(names, "films.csv\n");
        free(names);
        outcome_free(&o);
    }
}

static void test_ghibli_fetch_errors(void)
{
    peer faults;
    int port = start_faults(&faults);
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/films", refused_port());
    const failure cases[] = {
        {"ftp://127.0.0.1/films", 3, "malformed URL\n", NULL},
        {"http://", 3, "malformed URL", NULL},
        /* An empty label: the resolver fails at once, with or without a network. */
        {"http://a..invalid/films", 4, "host name not found", NULL},
        {refused, 5, "connection refused", NULL},
        {"/hang/films", 6, "timed out after 0.5 s waiting for the response\n", "0.5"},
        {"/status/404/films", 7, "HTTP 404 Not Found\n", NULL},
        {"/status/500/films", 7, "HTTP 500", NULL},
        {"/notjson/films", 8, "JSON: ", NULL},
        {"/truncated/films", 8, "JSON: ", NULL},
        {"/object/films", 9, "the body is a JSON object, not an array\n", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_failure(&cases[i], port);
    peer_stop(&faults);
}

static void test_ghibli_output_errors(void)
{
    const char *dir = fresh_dir("w");
    char path[700];
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    ASSERT_PTR(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/folder", dir);
    ASSERT(mkdir(path, 0755) == 0);
    static const struct {
        const char *output;
        const char *message;
    } cases[] = {
        {"file/films.csv", "ghibli: open 'file/films.csv': not a directory\n"},
        {"missing/films.csv", "ghibli: open 'missing/films.csv': no such file or directory\n"},
        {"folder", "ghibli: open 'folder': illegal operation on a directory\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t s = 0; s < 3; s++) {
            outcome o;
            const char *args[] = {"films", "--offline",     "--style", styles[s],
                                  "-o",    cases[i].output, NULL};
            ghibli(&o, dir, NULL, args);
            ASSERT_EQ(o.status, 10);
            ASSERT_STR_EQ(o.out, "");
            ASSERT_STR_EQ(o.err, cases[i].message);
            char *names = list_dir(dir);
            ASSERT_STR_EQ(names, "file\nfolder\n");
            free(names);
            outcome_free(&o);
        }
    }
}

/* A failed lookup fails the whole fan-out; nothing is written. */
static void test_ghibli_fanout_lookup_fails(void)
{
    peer faults;
    int port = start_faults(&faults);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/people", port);
    outcome o;
    const char *args[] = {"people", "--url", url, "--with", "films", "-o", "p.csv", NULL};
    const char *dir = fresh_dir("f");
    ghibli(&o, dir, NULL, args);
    ASSERT_EQ(o.status, 7);
    ASSERT_PREFIX(o.err, "ghibli: GET http://127.0.0.1:");
    ASSERT(strstr(o.err, "/films/") && strstr(o.err, ": HTTP 404 Not Found\n"));
    char *names = list_dir(dir);
    ASSERT_STR_EQ(names, "");
    free(names);
    outcome_free(&o);
    peer_stop(&faults);
}

static void test_ghibli_usage(void)
{
    static const struct {
        const char *args[6];
        int status;
        const char *out;
        const char *err;
    } cases[] = {
        {{"--help"}, 0, "Usage: ghibli RESOURCE [options]", ""},
        {{"films", "--help"}, 0, "Usage: ghibli RESOURCE [options]", ""},
        {{"--version"}, 0, "ghibli " CF_VERSION_STRING, ""},
        {{NULL}, 2, "", "ghibli: which resource?"},
        {{"dragons"}, 2, "", "ghibli: unknown resource or command 'dragons'"},
        {{"films", "--bogus"}, 2, "", "ghibli: unknown option '--bogus'"},
        {{"films", "-o"}, 2, "", "ghibli: missing value for '-o'"},
        {{"films", "--style", "futures"}, 2, "", "ghibli: --style is callbacks, promises or async"},
        {{"films", "--offline", "--url", "http://x/films"}, 2, "", "ghibli: --offline and --url"},
        {{"people", "--with", "films", "--style", "callbacks"}, 2, "", "ghibli: --with is written"},
        {{"people", "--with", "a.b"}, 2, "", "ghibli: --with takes names of top-level fields"},
        {{"films", "--fields", "title,,x"}, 2, "", "ghibli: an empty name in --fields"},
        {{"films", "--timeout", "-1"}, 2, "", "ghibli: --timeout wants seconds"},
        {{"films", "--concurrency", "0"}, 2, "", "ghibli: --concurrency wants a number"},
        {{"films", "extra"}, 2, "", "ghibli: unexpected argument 'extra'"},
        {{"serve", "--port", "70000"}, 2, "", "ghibli: --port wants a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome o;
        ghibli(&o, NULL, NULL, cases[i].args);
        ASSERT_EQ(o.status, cases[i].status);
        ASSERT_PREFIX(o.out, cases[i].out);
        ASSERT_PREFIX(o.err, cases[i].err);
        outcome_free(&o);
    }
}

/* ---- terminals: colour and the progress bar ---- */

/* Run ghibli with its standard error on a pseudo-terminal; returns what it printed there. */
static char *run_on_terminal(const char *const *env, const char *const *args, int *status)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    char slave_name[128];
    ASSERT(ptsname_r(master, slave_name, sizeof slave_name) == 0);
    const char *argv[20] = {build_path("bin/ghibli")};
    size_t n = 1;
    for (; args[n - 1] && n < 19; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int slave = open(slave_name, O_RDWR);
        int null = open("/dev/null", O_RDWR);
        if (slave < 0 || null < 0)
            _exit(126);
        dup2(null, 0);
        dup2(null, 1);
        dup2(slave, 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        alarm(240);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    for (;;) {
        char buf[4096];
        ssize_t got = read(master, buf, sizeof buf); /* EIO once the child has closed it */
        if (got <= 0)
            break;
        fwrite(buf, 1, (size_t)got, m);
    }
    fclose(m);
    int st = 0;
    ASSERT(waitpid(pid, &st, 0) == pid);
    close(master);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return text;
}

static void test_ghibli_terminal_colour_and_progress(void)
{
    int status;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/films", refused_port());
    const char *fail[] = {"films", "--url", url, NULL};
    char *text = run_on_terminal(NULL, fail, &status);
    ASSERT_EQ(status, 5);
    ASSERT(strstr(text, "\033[1;31mghibli:\033[0m GET "));
    free(text);

    const char *no_color[] = {"NO_COLOR=1", NULL};
    text = run_on_terminal(no_color, fail, &status);
    ASSERT_EQ(status, 5);
    ASSERT(!strchr(text, '\033'));
    ASSERT(strstr(text, "ghibli: GET "));
    free(text);

    const char *fan[] = {"people", "--offline", "--with", "films", NULL};
    text = run_on_terminal(no_color, fan, &status);
    ASSERT_EQ(status, 0);
    ASSERT(strstr(text, "looking up ["));
    ASSERT(strstr(text, "] 11/11"));
    free(text);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_ghibli_offline_matches_rfc4180);
    CF_TEST(test_ghibli_styles_write_identical_files);
    CF_TEST(test_ghibli_fields_and_paths);
    CF_TEST(test_ghibli_other_resources);
    CF_TEST(test_ghibli_fanout_joins_titles);
    CF_TEST(test_ghibli_fanout_placeholders_and_single_urls);
    CF_TEST(test_ghibli_fetch_errors);
    CF_TEST(test_ghibli_output_errors);
    CF_TEST(test_ghibli_fanout_lookup_fails);
    CF_TEST(test_ghibli_usage);
    CF_TEST(test_ghibli_terminal_colour_and_progress);
    return CF_TEST_END();
}
