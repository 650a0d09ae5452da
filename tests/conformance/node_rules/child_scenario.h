/*
 * Scenarios about process-level settings (node_rules/5x): Node takes them as command-line
 * flags, so program.js re-runs itself as a child under each setting; the C program does the
 * same by re-executing itself (/proc/self/exe) with the setting in the environment. The parent
 * prints, for each child, its standard output, the *essential* lines of its standard error and
 * its exit status (`status N`); only the parent writes to its own stdout, and nothing to its
 * stderr.
 *
 * Essential lines (docs/promise.md, "Unhandled rejections"), the same for both programs:
 *   `stderr: <Name>Warning (rejection id: N)`  a warning about a rejection;
 *   `stderr: error: <message>`                 the error a run died of;
 * Calcifer writes these as "calcifer: <Name>Warning (rejection id: N): <message> (at ...)",
 * "calcifer: PromiseRejectionHandledWarning: ... (rejection id: N)", "calcifer: unhandled
 * promise rejection: <message> (at ...)" and "calcifer: uncaught exception: <message> (at
 * ...)"; any other line is printed whole, as `stderr: <line>`, so the comparison fails on it.
 */
#ifndef CF_NODE_RULES_CHILD_SCENARIO_H
#define CF_NODE_RULES_CHILD_SCENARIO_H

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rules.h"

/* Non-zero in the child (program.js: process.env.NODE_RULES_CHILD). */
static inline int child_is_child(void)
{
    const char *v = getenv("NODE_RULES_CHILD");
    return v && *v;
}

/* The message of "<message> (at file:line in func)", without the place, into `out`. */
static inline void child_message(const char *s, char *out, size_t len)
{
    const char *at = strstr(s, " (at ");
    size_t n = at ? (size_t)(at - s) : strlen(s);
    snprintf(out, len, "%.*s", (int)n, s);
}

/* Print the essential form of one line of the child's stderr (without its newline). */
static inline void child_essential(const char *line)
{
    static const char *const deaths[] = {"calcifer: unhandled promise rejection: ",
                                         "calcifer: uncaught exception: "};
    char msg[512];
    for (size_t i = 0; i < sizeof deaths / sizeof deaths[0]; i++) {
        if (strncmp(line, deaths[i], strlen(deaths[i])) == 0) {
            child_message(line + strlen(deaths[i]), msg, sizeof msg);
            SAYF("stderr: error: %s", msg);
            return;
        }
    }
    const char *id = strstr(line, "(rejection id: ");
    const char *name = line + strlen("calcifer: ");
    size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    unsigned long long num = 0;
    if (strncmp(line, "calcifer: ", 10) == 0 && id && n > 7 &&
        strncmp(name + n - 7, "Warning", 7) == 0 && sscanf(id, "(rejection id: %llu)", &num) == 1) {
        SAYF("stderr: %.*s (rejection id: %llu)", (int)n, name, num);
        return;
    }
    SAYF("stderr: %s", line);
}

/* Read all of `f` from the start into `buf` (NUL-terminated). */
static inline void child_slurp(FILE *f, char *buf, size_t len)
{
    rewind(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/*
 * Run this program again as a child with the NAME=VALUE strings of `env` (NULL-terminated)
 * added to its environment, and print what it printed, as described above.
 */
static inline void child_run(const char *const *env)
{
    FILE *out = tmpfile();
    FILE *err = tmpfile();
    if (!out || !err) {
        fprintf(stderr, "tmpfile failed\n");
        exit(2);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fork failed\n");
        exit(2);
    }
    if (pid == 0) {
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        setenv("NODE_RULES_CHILD", "1", 1);
        for (; *env; env++)
            putenv((char *)*env);
        execl("/proc/self/exe", "child", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    static char text[1 << 16];
    child_slurp(out, text, sizeof text);
    fputs(text, stdout);
    child_slurp(err, text, sizeof text);
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line) - 1; /* a last line without its newline */
        else
            *end = '\0';
        child_essential(line);
    }
    if (WIFEXITED(status))
        SAYF("status %d", WEXITSTATUS(status));
    else
        SAYF("killed by signal %d", WTERMSIG(status));
}

#endif
