/*
 * Helpers for the tests of the flagship programs (the tutorial examples and `ghibli`): run a
 * built program as a child process in a folder of its own, with extra environment, and
 * collect its exit status, standard output and standard error; start the API servers they
 * talk to. Every child is bounded by an alarm, so a program that hangs is killed (status
 * 128 + SIGALRM) instead of hanging the test.
 */
#ifndef CF_TESTS_APPS_FLAGSHIP_H
#define CF_TESTS_APPS_FLAGSHIP_H

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "peer.h"

#ifndef CF_BUILD_DIR
#define CF_BUILD_DIR "build"
#endif

/* What a program did. */
typedef struct outcome {
    int status; /* exit status, or 128 + the signal that ended it */
    char *out;  /* standard output, NUL-terminated */
    size_t out_len;
    char *err; /* standard error, NUL-terminated */
    size_t err_len;
} outcome;

static inline const char *flagship_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* A path under the build folder (bin/ghibli, bin/examples/...), in static storage. */
static inline const char *build_path(const char *rel)
{
    static char paths[8][1024];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", flagship_env("CF_BUILD_DIR", CF_BUILD_DIR), rel);
    return p;
}

/* A path under the shared folder (conformance files), in static storage. */
static inline const char *shared_path(const char *rel)
{
    static char paths[4][1024];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", flagship_env("CF_SHARED_DIR", CF_SHARED_DIR), rel);
    return p;
}

static inline const char *source_path(const char *rel)
{
    static char paths[4][1024];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", flagship_env("CF_SOURCE_DIR", CF_SOURCE_DIR), rel);
    return p;
}

/* The whole file, NUL-terminated (NULL when it cannot be read); `len` may be NULL. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(f);
    fclose(m);
    if (len)
        *len = n;
    return buf;
}

/* A new empty folder inside the case's temporary folder ("<name>-<n>"), in static storage. */
static inline const char *fresh_dir(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next % 8];
    snprintf(p, sizeof paths[0], "%s/%s-%d", cf_test_tmpdir(), name, next);
    next++;
    ASSERT(mkdir(p, 0755) == 0);
    return p;
}

/* Names in a folder other than . and .., sorted, one per line (a new string). */
static inline char *list_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ASSERT(n >= 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0)
            fprintf(m, "%s\n", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    fclose(m);
    return buf;
}

/*
 * Run `argv` (argv[0] a path) in `cwd` with `env` ("NAME=value" entries, NULL-terminated;
 * may be NULL) added to the environment; standard input is /dev/null. Waits for it.
 */
static inline void run_program(outcome *o, const char *cwd, const char *const *env,
                               const char *const *argv)
{
    char out_path[600];
    char err_path[600];
    static int runs;
    runs++;
    snprintf(out_path, sizeof out_path, "%s/.stdout-%d", cf_test_tmpdir(), runs);
    snprintf(err_path, sizeof err_path, "%s/.stderr-%d", cf_test_tmpdir(), runs);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0 || chdir(cwd) != 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        alarm(240); /* survives exec: a hung program is killed */
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    ASSERT(waitpid(pid, &st, 0) == pid);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    o->out = slurp(out_path, &o->out_len);
    o->err = slurp(err_path, &o->err_len);
    ASSERT_PTR(o->out);
    ASSERT_PTR(o->err);
    unlink(out_path);
    unlink(err_path);
}

static inline void outcome_free(outcome *o)
{
    free(o->out);
    free(o->err);
    memset(o, 0, sizeof *o);
}

/* Assert that `s` starts with `prefix`, printing both otherwise. */
#define ASSERT_PREFIX(s, prefix)                                                                   \
    do {                                                                                           \
        const char *s_ = (s);                                                                      \
        const char *p_ = (prefix);                                                                 \
        if (strncmp(s_, p_, strlen(p_)) != 0)                                                      \
            CF_TEST_FAILF("%s starts with %s:\n  got      \"%s\"\n  expected \"%s...\"", #s,       \
                          #prefix, s_, p_);                                                        \
    } while (0)

/* Assert that a file's bytes are those of another file. */
#define ASSERT_SAME_FILE(path, expected_path)                                                      \
    do {                                                                                           \
        size_t la_, lb_;                                                                           \
        char *a_ = slurp((path), &la_);                                                            \
        char *b_ = slurp((expected_path), &lb_);                                                   \
        if (!a_ || !b_ || la_ != lb_ || memcmp(a_, b_, la_) != 0)                                  \
            CF_TEST_FAILF("%s differs from %s (%zu and %zu bytes)", (path), (expected_path),       \
                          a_ ? la_ : 0, b_ ? lb_ : 0);                                             \
        free(a_);                                                                                  \
        free(b_);                                                                                  \
    } while (0)

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static inline int refused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The project's API stand-in, `ghibli serve --port 0`, as a peer. */
static inline int start_stand_in(peer *p)
{
    const char *argv[] = {build_path("bin/ghibli"), "serve", "--port", "0", NULL};
    peer_start(p, argv);
    return peer_wait_port(p);
}

/* The API that fails on purpose (tests/apps/api_faults.py), as a peer. */
static inline int start_faults(peer *p)
{
    const char *argv[] = {"python3", source_path("tests/apps/api_faults.py"), "--data",
                          source_path("data/ghibli.json"), NULL};
    peer_start(p, argv);
    return peer_wait_port(p);
}

#endif /* CF_TESTS_APPS_FLAGSHIP_H */
