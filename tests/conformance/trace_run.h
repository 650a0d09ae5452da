/*
 * What the trace drivers (test_event_order.c, test_node_rules.c, streams/test_streams.c)
 * share: read a file whole, run a scenario program from a folder with its standard output
 * and error captured and a time limit (TIMEOUT_MS, then it is killed), and compare that
 * output with the expected trace (check_trace). With TRACE_RUN_DRIVER
 * defined, also the whole driver of the suites whose scenarios are NN-<name> folders holding
 * program.js and expected.txt (trace_main). Included by each driver's single source file.
 */
#ifndef CF_TESTS_TRACE_RUN_H
#define CF_TESTS_TRACE_RUN_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUT (1 << 20)
#define TIMEOUT_MS 60000

typedef struct buf {
    char *data;
    size_t len;
} buf;

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int read_file(const char *path, buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    out->data = malloc(MAX_OUTPUT);
    out->len = out->data ? fread(out->data, 1, MAX_OUTPUT, f) : 0;
    fclose(f);
    return out->data ? 0 : -1;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Run `path`, collect stdout and stderr. Returns the wait status, or -1 on timeout/error. */
static int run_program(const char *path, const char *dir, buf *out, buf *err)
{
    int po[2];
    int pe[2];
    if (pipe(po) < 0 || pipe(pe) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        if (chdir(dir) < 0)
            _exit(126);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    out->data = malloc(MAX_OUTPUT);
    err->data = malloc(MAX_OUTPUT);
    out->len = err->len = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    buf *bufs[2] = {out, err};
    int open_fds = 2;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    while (open_fds > 0) {
        long left = TIMEOUT_MS - elapsed_ms(&t0);
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int n = poll(fds, 2, (int)left);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2 && n > 0; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            buf *b = bufs[i];
            ssize_t r = read(fds[i].fd, b->data + b->len, MAX_OUTPUT - b->len);
            if (r > 0) {
                b->len += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            close(fds[i].fd);
            fds[i].fd = -1;
            open_fds--;
        }
    }
    if (timed_out)
        kill(pid, SIGKILL);
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return timed_out ? -1 : status;
}

static void show_diff(const buf *got, const buf *want)
{
    fprintf(stderr, "--- expected\n%.*s--- got\n%.*s---\n", (int)want->len, want->data,
            (int)got->len, got->data);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Run the scenario program `exe` in `dir` and compare its standard output with `want`. Prints
 * the TAP line for `name` and, on failure, why and both traces. Returns 1 when it passes: exit
 * status 0, nothing on standard error and the output identical byte for byte.
 */
static int check_trace(const char *name, const char *exe, const char *dir, const buf *want)
{
    buf out = {0};
    buf err = {0};
    int status = run_program(exe, dir, &out, &err);
    int ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && err.len == 0 &&
             out.len == want->len && memcmp(out.data, want->data, out.len) == 0;
    printf("%s %s\n", ok ? "ok" : "not ok", name);
    if (!ok) {
        if (status < 0)
            fprintf(stderr, "%s: timed out or could not run\n", name);
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "%s: exit status 0x%x\n", name, status);
        if (err.len)
            fprintf(stderr, "%s: stderr:\n%.*s\n", name, (int)err.len, err.data);
        show_diff(&out, want);
    }
    free(out.data);
    free(err.data);
    return ok;
}

/* ---- the driver shared by the trace suites (node_rules, streams): define TRACE_RUN_DRIVER ---- */
#ifdef TRACE_RUN_DRIVER

#include <dirent.h>
#include <sys/stat.h>

#ifndef CF_SOURCE_DIR
#define CF_SOURCE_DIR "."
#endif
#ifndef CF_BUILD_DIR
#define CF_BUILD_DIR "build"
#endif

#define MAX_SCENARIOS 200

/* "04-hook-order" -> "s04_hook_order": the program of a scenario folder. */
static void program_name(const char *folder, char *out, size_t len)
{
    snprintf(out, len, "s%s", folder);
    for (char *p = out; *p; p++) {
        if (*p == '-')
            *p = '_';
    }
}

/* Run one scenario; returns 1 when it passes. */
static int check_one(const char *bindir, const char *srcdir, const char *name)
{
    char path[4096];
    char prog[256];
    program_name(name, prog, sizeof prog);
    char exe[4096];
    snprintf(exe, sizeof exe, "%s/%s", bindir, prog);
    if (access(exe, X_OK) < 0) {
        printf("not ok %s (no program %s)\n", name, exe);
        return 0;
    }
    buf want = {0};
    snprintf(path, sizeof path, "%s/%s/expected.txt", srcdir, name);
    if (read_file(path, &want) < 0) {
        printf("not ok %s (cannot read %s: run tests/conformance/record.sh)\n", name, path);
        return 0;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", srcdir, name);
    int ok = check_trace(name, exe, dir, &want);
    free(want.data);
    return ok;
}

/* A scenario folder: "NN-name" holding a program.js. */
static int is_scenario(const char *srcdir, const char *s)
{
    if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == '-'))
        return 0;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/program.js", srcdir, s);
    return stat(path, &st) == 0;
}

/*
 * The whole driver: scenarios in CF_SOURCE_DIR/`scenarios`, programs in CF_BUILD_DIR/`programs`.
 * Returns the process's exit status.
 */
static int trace_main(int argc, char **argv, const char *programs, const char *scenarios)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *filter = argc > 1 ? argv[1] : NULL;
    char bindir[1024];
    char srcdir[1024];
    snprintf(bindir, sizeof bindir, "%s/%s", env_or("CF_BUILD_DIR", CF_BUILD_DIR), programs);
    snprintf(srcdir, sizeof srcdir, "%s/%s", env_or("CF_SOURCE_DIR", CF_SOURCE_DIR), scenarios);
    DIR *d = opendir(srcdir);
    if (!d) {
        printf("Bail out! no scenario folders in %s\n", srcdir);
        return 1;
    }
    char *names[MAX_SCENARIOS];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_SCENARIOS) {
        if (is_scenario(srcdir, e->d_name) && (!filter || strstr(e->d_name, filter)))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0 && !filter) {
        printf("Bail out! no scenario folders in %s\n", srcdir);
        return 1;
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        failed += !check_one(bindir, srcdir, names[i]);
        free(names[i]);
    }
    printf("1..%d\n", n);
    if (failed)
        fprintf(stderr, "%d of %d scenarios failed\n", failed, n);
    return failed ? 1 : 0;
}

#endif /* TRACE_RUN_DRIVER */

#endif
