/* ctest-labels: conformance */
/* ctest-timeout: 300 */
/*
 * Event-order conformance driver. For every scenario program built from
 * tests/conformance/event_order/sNN_<name>.c (found in CF_BUILD_DIR/tests/event_order), run
 * it, and compare its standard output byte for byte with Node's trace,
 * CF_SHARED_DIR/conformance/event-order/NN-<name>/expected.txt, read at test time. A scenario
 * passes when the output is identical, the exit status is 0 and nothing was written to
 * standard error. One TAP line per scenario: `ok 07-cleartimeout-from-timer`. Scenarios
 * without a program are not listed. An argument selects scenarios whose folder name contains
 * it. Each program gets 60 s, then it is killed and fails.
 */
#include <dirent.h>

#ifndef CF_SHARED_DIR
#define CF_SHARED_DIR "../shared"
#endif
#ifndef CF_BUILD_DIR
#define CF_BUILD_DIR "build"
#endif

#define MAX_PROGRAMS 200

#include "trace_run.h"

/* The shared folder whose name starts with the program's number: "s07_x" -> "07-...". */
static int find_scenario(const char *shared, const char *prog, char *name, size_t len)
{
    DIR *d = opendir(shared);
    if (!d)
        return -1;
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) > 3 && strncmp(e->d_name, prog + 1, 2) == 0 && e->d_name[2] == '-') {
            snprintf(name, len, "%s", e->d_name);
            found = 0;
            break;
        }
    }
    closedir(d);
    return found;
}

/* Run one scenario; returns 1 when it passes. */
static int check_one(const char *bindir, const char *shared, const char *prog)
{
    char name[256];
    char path[4096];
    if (find_scenario(shared, prog, name, sizeof name) < 0) {
        printf("not ok %s (no scenario folder for it in %s)\n", prog, shared);
        return 0;
    }
    buf want = {0};
    snprintf(path, sizeof path, "%s/%s/expected.txt", shared, name);
    if (read_file(path, &want) < 0) {
        printf("not ok %s (cannot read %s)\n", name, path);
        return 0;
    }
    char exe[4096];
    char dir[4096];
    snprintf(exe, sizeof exe, "%s/%s", bindir, prog);
    snprintf(dir, sizeof dir, "%s/%s", shared, name);
    int ok = check_trace(name, exe, dir, &want);
    free(want.data);
    return ok;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *filter = argc > 1 ? argv[1] : NULL;
    char bindir[1024];
    char shared[1024];
    snprintf(bindir, sizeof bindir, "%s/tests/event_order", env_or("CF_BUILD_DIR", CF_BUILD_DIR));
    snprintf(shared, sizeof shared, "%s/conformance/event-order",
             env_or("CF_SHARED_DIR", CF_SHARED_DIR));
    DIR *d = opendir(bindir);
    if (!d) {
        printf("Bail out! no scenario programs in %s\n", bindir);
        return 1;
    }
    char *progs[MAX_PROGRAMS];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_PROGRAMS) {
        const char *s = e->d_name;
        if (s[0] == 's' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
            s[3] == '_' && !strchr(s, '.')) {
            progs[n++] = strdup(s);
        }
    }
    closedir(d);
    qsort(progs, (size_t)n, sizeof progs[0], cmp_names);
    int count = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char name[256];
        if (filter &&
            (find_scenario(shared, progs[i], name, sizeof name) < 0 || !strstr(name, filter))) {
            free(progs[i]);
            continue;
        }
        count++;
        failed += !check_one(bindir, shared, progs[i]);
        free(progs[i]);
    }
    printf("1..%d\n", count);
    if (failed)
        fprintf(stderr, "%d of %d scenarios failed\n", failed, count);
    return failed ? 1 : 0;
}
