/*
 * `ghibli -o PATH` clobbers nothing: a character device stays a device, symbolic links (one,
 * a chain, a dangling one) stay links and their target gets the CSV, a FIFO's reader gets the
 * bytes, /dev/stdout is the standard output, a read-only file is refused as Node refuses it
 * (run as uid 65534 when the tests run as root), a folder is refused under each of its names
 * (".", "d", "d/", "new/"), a descriptor name for a descriptor that is not open (or a closed
 * standard output) is refused at startup, a full disk on standard output is named as such,
 * and a SIGTERM or SIGINT
 * in the middle of writing the file leaves the old file and no FILE.tmp-XXXXXX.
 */
/* ctest-timeout: 300 */
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/sysmacros.h>

#include "flagship.h"

#define NOBODY 65534

static const char *expected_csv(void)
{
    return shared_path("conformance/tutorial/films-rfc4180.csv");
}

/* Run ghibli with `args` (NULL-terminated, at most 16) in `cwd`. */
static void ghibli(outcome *o, const char *cwd, const char *const *args)
{
    const char *argv[20] = {build_path("bin/ghibli")};
    size_t n = 1;
    for (; args[n - 1] && n < 19; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    run_program(o, cwd, NULL, argv);
}

static void ghibli_ok(const char *cwd, const char *output)
{
    outcome o;
    const char *args[] = {"films", "--offline", "-o", output, NULL};
    ghibli(&o, cwd, args);
    ASSERT_STR_EQ(o.err, "");
    ASSERT_EQ(o.status, 0);
    outcome_free(&o);
}

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ASSERT_PTR(f);
    fputs(text, f);
    fclose(f);
    ASSERT_OK(chmod(path, mode));
}

static int has_temp(const char *dir)
{
    char *names = list_dir(dir);
    int found = strstr(names, ".tmp-") != NULL;
    free(names);
    return found;
}

static void test_ghibli_output_character_device(void)
{
    struct stat before;
    ASSERT_OK(lstat("/dev/null", &before));
    ghibli_ok(fresh_dir("dev"), "/dev/null");
    struct stat after;
    ASSERT_OK(lstat("/dev/null", &after));
    ASSERT(S_ISCHR(after.st_mode));
    ASSERT_EQ(after.st_rdev, before.st_rdev);
    ASSERT_EQ(after.st_ino, before.st_ino);
    ASSERT_EQ(major(after.st_rdev), 1);
    ASSERT_EQ(minor(after.st_rdev), 3);
}

static void test_ghibli_output_symlinks(void)
{
    const char *dir = fresh_dir("links");
    char path[700];
    char text[700];
    /* one link */
    snprintf(path, sizeof path, "%s/target.csv", dir);
    put(path, "old\n", 0640);
    snprintf(text, sizeof text, "%s/link.csv", dir);
    ASSERT_OK(symlink("target.csv", text));
    ghibli_ok(dir, "link.csv");
    ASSERT_SAME_FILE(path, expected_csv());
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 07777, 0640);
    ASSERT_OK(lstat(text, &st));
    ASSERT(S_ISLNK(st.st_mode));
    /* a chain into a sub-folder: a -> b -> sub/c */
    snprintf(path, sizeof path, "%s/sub", dir);
    ASSERT_OK(mkdir(path, 0755));
    snprintf(path, sizeof path, "%s/sub/c.csv", dir);
    put(path, "old\n", 0644);
    snprintf(text, sizeof text, "%s/b.csv", dir);
    ASSERT_OK(symlink("sub/c.csv", text));
    snprintf(text, sizeof text, "%s/a.csv", dir);
    ASSERT_OK(symlink("b.csv", text));
    ghibli_ok(dir, "a.csv");
    ASSERT_SAME_FILE(path, expected_csv());
    /* a dangling link: its target is created */
    snprintf(text, sizeof text, "%s/dangling.csv", dir);
    ASSERT_OK(symlink("created.csv", text));
    ghibli_ok(dir, "dangling.csv");
    snprintf(path, sizeof path, "%s/created.csv", dir);
    ASSERT_SAME_FILE(path, expected_csv());
    char *names = list_dir(dir);
    ASSERT_STR_EQ(names, "a.csv\nb.csv\ncreated.csv\ndangling.csv\nlink.csv\nsub\ntarget.csv\n");
    free(names);
    snprintf(path, sizeof path, "%s/sub", dir);
    ASSERT(!has_temp(path));
    const char *links[][2] = {{"a.csv", "b.csv"},
                              {"b.csv", "sub/c.csv"},
                              {"link.csv", "target.csv"},
                              {"dangling.csv", "created.csv"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, links[i][0]);
        ssize_t n = readlink(path, text, sizeof text - 1);
        ASSERT(n > 0);
        text[n] = '\0';
        ASSERT_STR_EQ(text, links[i][1]);
    }
}

typedef struct reader {
    const char *path;
    char *got;
    size_t len;
} reader;

static void *read_fifo(void *arg)
{
    reader *r = arg;
    FILE *f = fopen(r->path, "rb");
    if (!f)
        return NULL;
    FILE *m = open_memstream(&r->got, &r->len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return NULL;
}

static void test_ghibli_output_fifo(void)
{
    const char *dir = fresh_dir("fifo");
    char path[700];
    snprintf(path, sizeof path, "%s/pipe", dir);
    ASSERT_OK(mkfifo(path, 0600));
    reader r = {.path = path};
    pthread_t t;
    ASSERT_OK(pthread_create(&t, NULL, read_fifo, &r));
    ghibli_ok(dir, "pipe");
    ASSERT_OK(pthread_join(t, NULL));
    size_t len;
    char *expected = slurp(expected_csv(), &len);
    ASSERT_PTR(expected);
    ASSERT_PTR(r.got);
    ASSERT_EQ(r.len, len);
    ASSERT_MEM_EQ(r.got, expected, len);
    free(expected);
    free(r.got);
    struct stat st;
    ASSERT_OK(lstat(path, &st));
    ASSERT(S_ISFIFO(st.st_mode));
    char *names = list_dir(dir);
    ASSERT_STR_EQ(names, "pipe\n");
    free(names);
}

/* /dev/stdout and /proc/self/fd/1 are the standard output, as `-o -`. */
static void test_ghibli_output_stdout_names(void)
{
    size_t len;
    char *expected = slurp(expected_csv(), &len);
    ASSERT_PTR(expected);
    const char *names[] = {"/dev/stdout", "/proc/self/fd/1"};
    for (size_t i = 0; i < 2; i++) {
        outcome o;
        const char *args[] = {"films", "--offline", "-o", names[i], NULL};
        ghibli(&o, fresh_dir("stdout"), args);
        ASSERT_EQ(o.status, 0);
        ASSERT_STR_EQ(o.err, "");
        ASSERT_EQ(o.out_len, len);
        ASSERT_MEM_EQ(o.out, expected, len);
        outcome_free(&o);
    }
    free(expected);
}

static void test_ghibli_output_folder_refused(void)
{
    const char *dir = fresh_dir("folder");
    char path[700];
    snprintf(path, sizeof path, "%s/out", dir);
    ASSERT_OK(mkdir(path, 0755));
    outcome o;
    const char *args[] = {"films", "--offline", "-o", "out", NULL};
    ghibli(&o, dir, args);
    ASSERT_EQ(o.status, 10);
    ASSERT(strstr(o.err, "'out': illegal operation on a directory\n") != NULL);
    outcome_free(&o);
    struct stat st;
    ASSERT_OK(lstat(path, &st));
    ASSERT(S_ISDIR(st.st_mode));
    ASSERT(!has_temp(dir));
}

/*
 * Every name for a folder, with Node's words: ".", a folder with and without a slash, a new
 * name with a slash. Nothing is created.
 */
static void test_ghibli_output_folder_names(void)
{
    const char *dir = fresh_dir("folders");
    char path[700];
    snprintf(path, sizeof path, "%s/d", dir);
    ASSERT_OK(mkdir(path, 0755));
    const char *names[] = {".", "d/", "newfile/", "d"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        outcome o;
        const char *args[] = {"films", "--offline", "-o", names[i], NULL};
        ghibli(&o, dir, args);
        char want[128];
        snprintf(want, sizeof want, "ghibli: open '%s': illegal operation on a directory\n",
                 names[i]);
        ASSERT_STR_EQ(o.err, want);
        ASSERT_EQ(o.status, 10);
        ASSERT_STR_EQ(o.out, "");
        outcome_free(&o);
    }
    char *names_left = list_dir(dir);
    ASSERT_STR_EQ(names_left, "d\n");
    free(names_left);
}

/*
 * Run ghibli with exactly these descriptors: 0 /dev/null, 1 `out` (NULL: closed), 2 a file
 * read back into o->err, 9 `fd9` (NULL: closed), no other. o->out stays empty.
 */
static void ghibli_fds(outcome *o, const char *out, const char *fd9, const char *const *args)
{
    char err_path[700];
    cf_test_path(err_path, sizeof err_path, "fds-stderr");
    const char *argv[20] = {build_path("bin/ghibli")};
    size_t n = 1;
    for (; args[n - 1] && n < 19; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int o1 = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        int o9 = fd9 ? open(fd9, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        if (in < 0 || err < 0 || (out && o1 < 0) || (fd9 && o9 < 0) || chdir(cf_test_tmpdir()))
            _exit(126);
        if (dup2(in, 100) < 0 || dup2(err, 102) < 0 || (out && dup2(o1, 101) < 0) ||
            (fd9 && dup2(o9, 109) < 0))
            _exit(126);
        for (int fd = 0; fd < 100; fd++)
            close(fd);
        dup2(100, 0);
        dup2(102, 2);
        if (out)
            dup2(101, 1);
        if (fd9)
            dup2(109, 9);
        for (int fd = 100; fd < 110; fd++)
            close(fd);
        alarm(120);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    memset(o, 0, sizeof *o);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    o->err = slurp(err_path, &o->err_len);
    ASSERT_PTR(o->err);
    o->out = strdup("");
}

/*
 * A descriptor name for a descriptor ghibli was not given: refused at startup with exit status
 * 10, before the loop's own descriptors could take the number (the CSV went into one of them,
 * with exit status 0). A descriptor that is open is written as before.
 */
static void test_ghibli_output_descriptor_not_open(void)
{
    const char *names[] = {"/dev/fd/9", "/dev/fd/6", "/dev/fd/8", "/proc/self/fd/9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        outcome o;
        const char *args[] = {"films", "--offline", "-o", names[i], NULL};
        ghibli_fds(&o, "/dev/null", NULL, args);
        char want[128];
        snprintf(want, sizeof want, "ghibli: -o %s: bad file descriptor (not open)\n", names[i]);
        ASSERT_STR_EQ(o.err, want);
        ASSERT_EQ(o.status, 10);
        outcome_free(&o);
    }
    /* standard output closed: named as such, with and without -o */
    outcome o;
    const char *named[] = {"films", "--offline", "-o", "/dev/stdout", NULL};
    ghibli_fds(&o, NULL, NULL, named);
    ASSERT_STR_EQ(o.err, "ghibli: -o /dev/stdout: standard output is closed (descriptor 1)\n");
    ASSERT_EQ(o.status, 10);
    outcome_free(&o);
    const char *plain[] = {"films", "--offline", NULL};
    ghibli_fds(&o, NULL, NULL, plain);
    ASSERT_STR_EQ(o.err, "ghibli: standard output is closed (give -o FILE)\n");
    ASSERT_EQ(o.status, 10);
    outcome_free(&o);
    /* descriptor 9 given: the CSV goes there */
    char path[700];
    cf_test_path(path, sizeof path, "fd9.csv");
    const char *given[] = {"films", "--offline", "-o", "/dev/fd/9", NULL};
    ghibli_fds(&o, "/dev/null", path, given);
    ASSERT_STR_EQ(o.err, "");
    ASSERT_EQ(o.status, 0);
    outcome_free(&o);
    ASSERT_SAME_FILE(path, expected_csv());
}

/* A full disk on standard output says so, as -o does (not "i/o error"). */
static void test_ghibli_output_stdout_full(void)
{
    outcome o;
    const char *plain[] = {"films", "--offline", NULL};
    ghibli_fds(&o, "/dev/full", NULL, plain);
    ASSERT_STR_EQ(o.err, "ghibli: write to standard output: no space left on device\n");
    ASSERT_EQ(o.status, 10);
    outcome_free(&o);
    const char *named[] = {"films", "--offline", "-o", "/dev/full", NULL};
    ghibli_fds(&o, "/dev/null", NULL, named);
    ASSERT_STR_EQ(o.err, "ghibli: write '/dev/full': no space left on device\n");
    ASSERT_EQ(o.status, 10);
    outcome_free(&o);
}

/*
 * A read-only file: exit status 10, Node's error (EACCES), the file as it was. Root passes
 * permission checks, so as root ghibli runs as uid/gid 65534, in a folder that user may
 * write (a rename would succeed there: only the check refuses).
 */
static void test_ghibli_output_read_only_file(void)
{
    ASSERT_OK(chmod(cf_test_tmpdir(), 0755));
    const char *dir = fresh_dir("ro");
    char path[700];
    snprintf(path, sizeof path, "%s/ro.csv", dir);
    put(path, "old\n", 0444);
    if (geteuid() == 0)
        ASSERT_OK(chown(dir, NOBODY, NOBODY));
    char err_path[700];
    snprintf(err_path, sizeof err_path, "%s/../ro-stderr", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err < 0)
            _exit(126);
        dup2(err, 2);
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
            _exit(125);
        if (geteuid() == 0 || chdir(dir) != 0)
            _exit(124);
        alarm(120);
        execl(build_path("bin/ghibli"), "ghibli", "films", "--offline", "-o", "ro.csv",
              (char *)NULL);
        _exit(127);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    char *err = slurp(err_path, NULL);
    ASSERT_PTR(err);
    ASSERT_STR_EQ(err, "ghibli: open 'ro.csv': permission denied\n");
    free(err);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 10);
    char *text = slurp(path, NULL);
    ASSERT_STR_EQ(text, "old\n");
    free(text);
    ASSERT(!has_temp(dir));
}

/* ---- a signal in the middle of the write ---- */

/* A films list of `n` records, big enough for its CSV to take a while to write. */
static void write_big_data(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    ASSERT_PTR(f);
    fputs("{\"films\": [", f);
    for (int i = 0; i < n; i++) {
        fprintf(f,
                "%s{\"title\": \"Film number %d, with a title long enough to weigh\", "
                "\"release_date\": \"%d\"}",
                i ? "," : "", i, 1900 + i % 120);
    }
    fputs("]}\n", f);
    fclose(f);
}

/* Start ghibli in `dir` with output to files there; its pid. */
static pid_t spawn_ghibli(const char *dir, const char *url)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || chdir(dir) != 0)
            _exit(126);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        alarm(120);
        execl(build_path("bin/ghibli"), "ghibli", "films", "--url", url, "-o", "films.csv",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Wait (at most 60 s) until a name with ".tmp-" appears in the watched folder. */
static int wait_temp_created(int ino)
{
    struct pollfd pfd = {.fd = ino, .events = POLLIN};
    for (;;) {
        if (poll(&pfd, 1, 60000) <= 0)
            return 0;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(ino, buf, sizeof buf);
        ASSERT(n > 0);
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len && strstr(e->name, ".tmp-"))
                return 1;
            p += sizeof *e + e->len;
        }
    }
}

/*
 * One try: stop ghibli the moment its temporary file appears. Returns 1 when it was caught
 * with the file there (then killed with `sig`, and checked), 0 when it had already finished.
 */
static int try_signal(const char *dir, const char *url, int sig)
{
    char path[700];
    snprintf(path, sizeof path, "%s/films.csv", dir);
    put(path, "old\n", 0644);
    int ino = inotify_init1(IN_CLOEXEC);
    ASSERT(ino >= 0);
    ASSERT(inotify_add_watch(ino, dir, IN_CREATE) >= 0);
    pid_t pid = spawn_ghibli(dir, url);
    int created = wait_temp_created(ino);
    close(ino);
    if (!created) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CF_TEST_FAILF("no temporary file appeared in %s", dir);
    }
    kill(pid, SIGSTOP);
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, WUNTRACED), pid);
    if (!WIFSTOPPED(st) || !has_temp(dir)) {
        /* The write was over before the stop: no verdict from this try. */
        kill(pid, SIGCONT);
        if (WIFSTOPPED(st))
            ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        ASSERT(!has_temp(dir));
        return 0;
    }
    ASSERT_OK(kill(pid, sig));
    ASSERT_OK(kill(pid, SIGCONT));
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFSIGNALED(st));
    ASSERT_EQ(WTERMSIG(st), sig);
    ASSERT(!has_temp(dir));
    char *text = slurp(path, NULL);
    ASSERT_STR_EQ(text, "old\n");
    free(text);
    return 1;
}

static void test_ghibli_output_signal_mid_write(void)
{
    char data[600];
    cf_test_path(data, sizeof data, "big.json");
    write_big_data(data, 200000);
    peer api;
    const char *argv[] = {"python3", source_path("tests/apps/api_faults.py"), "--data", data, NULL};
    peer_start(&api, argv);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/films", peer_wait_port(&api));
    const int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < 2; i++) {
        const char *dir = fresh_dir("sig");
        int caught = 0;
        for (int tries = 0; tries < 5 && !caught; tries++)
            caught = try_signal(dir, url, sigs[i]);
        ASSERT(caught);
    }
    peer_stop(&api);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_ghibli_output_character_device);
    CF_TEST(test_ghibli_output_symlinks);
    CF_TEST(test_ghibli_output_fifo);
    CF_TEST(test_ghibli_output_stdout_names);
    CF_TEST(test_ghibli_output_folder_refused);
    CF_TEST(test_ghibli_output_folder_names);
    CF_TEST(test_ghibli_output_descriptor_not_open);
    CF_TEST(test_ghibli_output_stdout_full);
    CF_TEST(test_ghibli_output_read_only_file);
    CF_TEST(test_ghibli_output_signal_mid_write);
    return CF_TEST_END();
}
