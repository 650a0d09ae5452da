/* ctest-labels: conformance io */
/* ctest-timeout: 300 */
/*
 * Stream conformance driver: for every scenario folder NN-<name> of
 * CF_SOURCE_DIR/tests/conformance/streams (a Node program, program.js, and its trace,
 * expected.txt, recorded from Node 20 by record.sh), run the C version of the program,
 * CF_BUILD_DIR/tests/streams/sNN_<name> (dashes become underscores), from the folder, and
 * compare its standard output byte for byte with the trace. A scenario passes when the output
 * is identical, the exit status is 0 and nothing was written to standard error; a folder
 * without its program fails. One TAP line per scenario: `ok 01-write-past-hwm-drain`. An argument
 * selects scenarios whose folder name contains it. Each program gets 60 s, then it is killed.
 * The machinery is that of test_node_rules.c (tests/conformance/trace_run.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CF_SOURCE_DIR
#define CF_SOURCE_DIR "."
#endif
#ifndef CF_BUILD_DIR
#define CF_BUILD_DIR "build"
#endif

#define MAX_SCENARIOS 200

#include "../trace_run.h"

static void show_diff(const buf *got, const buf *want)
{
    fprintf(stderr, "--- expected\n%.*s--- got\n%.*s---\n", (int)want->len, want->data,
            (int)got->len, got->data);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "01-write-past-hwm-drain" -> "s01_write_past_hwm_drain". */
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
        printf("not ok %s (cannot read %s: run record.sh)\n", name, path);
        return 0;
    }
    buf out = {0};
    buf err = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", srcdir, name);
    int status = run_program(exe, dir, &out, &err);
    int ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && err.len == 0 &&
             out.len == want.len && memcmp(out.data, want.data, out.len) == 0;
    printf("%s %s\n", ok ? "ok" : "not ok", name);
    if (!ok) {
        if (status < 0)
            fprintf(stderr, "%s: timed out or could not run\n", name);
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "%s: exit status 0x%x\n", name, status);
        if (err.len)
            fprintf(stderr, "%s: stderr:\n%.*s\n", name, (int)err.len, err.data);
        show_diff(&out, &want);
    }
    free(want.data);
    free(out.data);
    free(err.data);
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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *filter = argc > 1 ? argv[1] : NULL;
    char bindir[1024];
    char srcdir[1024];
    snprintf(bindir, sizeof bindir, "%s/tests/streams", env_or("CF_BUILD_DIR", CF_BUILD_DIR));
    snprintf(srcdir, sizeof srcdir, "%s/tests/conformance/streams",
             env_or("CF_SOURCE_DIR", CF_SOURCE_DIR));
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
