/*
 * `ghibli serve --workers N`: N loops on N threads serving one port, as a user runs it. Many
 * connections from python3's http.client are all answered and every worker takes some (the
 * `WORKER k CONNECTIONS n` lines printed on exit), with SO_REUSEPORT and with --balance;
 * SIGTERM while a request is in flight on each loop lets those requests finish, closes the
 * port, and exits 0; a bad --workers value is a usage error.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 300 */
#include <poll.h>

#include "flagship.h"

#define MAX_W 8

/* Wait up to 30 s for `p` to exit; returns its exit status (128 + signal), or fails. */
static int wait_exit(peer *p)
{
    for (int i = 0; i < 3000; i++) {
        int st = 0;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        poll(NULL, 0, 10);
    }
    CF_TEST_FAILF("ghibli serve did not exit within 30 s of SIGTERM");
    return -1;
}

/* Read the WORKER lines after the exit into `conns`; returns how many workers reported. */
static int worker_lines(peer *p, size_t conns[MAX_W])
{
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, p->out)) {
        unsigned k;
        size_t c;
        if (sscanf(line, "WORKER %u CONNECTIONS %zu", &k, &c) == 2 && k < MAX_W) {
            ASSERT_EQ(k, (unsigned)n); /* in order, one each */
            conns[n++] = c;
        }
    }
    return n;
}

static void start_serve(peer *p, const char *workers, int balance)
{
    const char *argv[8] = {build_path("bin/ghibli"), "serve", "--port", "0", "--workers", workers};
    argv[6] = balance ? "--balance" : NULL;
    peer_start(p, argv);
    peer_wait_port(p);
}

/*
 * `n` connections, 4 at a time, each a GET /films on a new connection (http.client closes
 * it after the response); exits 0 when every answer is a 200 whose body is the JSON list of
 * films with Castle in the Sky first.
 */
static const char client_py[] =
    "import http.client, json, sys, threading\n"
    "port, n = int(sys.argv[1]), int(sys.argv[2])\n"
    "good = []\n"
    "def run(k):\n"
    "    for _ in range(k):\n"
    "        c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)\n"
    "        c.request('GET', '/films', headers={'Connection': 'close'})\n"
    "        r = c.getresponse()\n"
    "        body = json.loads(r.read())\n"
    "        c.close()\n"
    "        good.append(r.status == 200 and body[0]['title'] == 'Castle in the Sky')\n"
    "ts = [threading.Thread(target=run, args=(n // 4,)) for _ in range(4)]\n"
    "[t.start() for t in ts]\n"
    "[t.join() for t in ts]\n"
    "sys.exit(0 if len(good) == n and all(good) else 1)\n";

static void serve_many(int balance)
{
    peer p;
    start_serve(&p, "2", balance);
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    const char *argv[] = {"python3", "-c", client_py, port, "200", NULL};
    ASSERT_EQ(peer_run(argv), 0);
    ASSERT_EQ(kill(p.pid, SIGTERM), 0);
    ASSERT_EQ(wait_exit(&p), 0);
    size_t conns[MAX_W];
    ASSERT_EQ(worker_lines(&p, conns), 2);
    ASSERT_EQ(conns[0] + conns[1], 200);
    /* 200 connections over two loops: with SO_REUSEPORT both get some but with odds of
     * 2^-199; balanced, the one that gets ahead pauses. */
    ASSERT(conns[0] > 0 && conns[1] > 0);
    peer_stop(&p);
}

static void test_ghibli_workers_reuseport_serves_many(void)
{
    serve_many(0);
}

static void test_ghibli_workers_balance_serves_many(void)
{
    serve_many(1);
}

/* ---- SIGTERM with requests in flight ---- */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read one response to `fd` (until the head's Content-Length is in, or EOF); the whole
 * response, NUL-terminated, in `buf`. Returns its length. */
static size_t read_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end && cl && len >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))
            break;
    }
    buf[len] = '\0';
    return len;
}

static int is_films(const char *resp)
{
    return strncmp(resp, "HTTP/1.1 200", 12) == 0 && strstr(resp, "\"Castle in the Sky\"") &&
           strstr(resp, "\"Earwig and the Witch\"") && resp[strlen(resp) - 1] == ']';
}

static void sigterm_in_flight(int balance, int n)
{
    peer p;
    start_serve(&p, "2", balance);
    int fds[32];
    static char buf[1 << 17];
    /* A whole request first, so each connection has surely been accepted by a loop; then
     * half of the next one: a request in flight when the signal comes. */
    for (int i = 0; i < n; i++) {
        fds[i] = dial(p.port);
        ASSERT(fds[i] >= 0);
        static const char full[] = "GET /films HTTP/1.1\r\nHost: a\r\n\r\n";
        ASSERT_EQ(send(fds[i], full, sizeof full - 1, MSG_NOSIGNAL), (ssize_t)sizeof full - 1);
        read_response(fds[i], buf, sizeof buf);
        ASSERT(is_films(buf));
        static const char half[] = "GET /films HTTP/1.1\r\nHost: a\r\n";
        ASSERT_EQ(send(fds[i], half, sizeof half - 1, MSG_NOSIGNAL), (ssize_t)sizeof half - 1);
    }
    ASSERT_EQ(kill(p.pid, SIGTERM), 0);
    /* Every loop stops accepting: the port refuses once the last listener is closed. */
    int refused = 0;
    for (int i = 0; i < 3000 && !refused; i++) {
        int fd = dial(p.port);
        refused = fd < 0;
        if (fd >= 0) {
            close(fd);
            poll(NULL, 0, 10);
        }
    }
    ASSERT(refused);
    ASSERT_EQ(waitpid(p.pid, NULL, WNOHANG), 0); /* still finishing what is in flight */
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(send(fds[i], "\r\n", 2, MSG_NOSIGNAL), 2);
        read_response(fds[i], buf, sizeof buf);
        ASSERT(is_films(buf));
        ASSERT(strstr(buf, "Connection: close\r\n") != NULL);
        ASSERT_EQ(recv(fds[i], buf, sizeof buf, 0), 0); /* then the server closes it */
        close(fds[i]);
    }
    ASSERT_EQ(wait_exit(&p), 0);
    size_t conns[MAX_W];
    ASSERT_EQ(worker_lines(&p, conns), 2);
    /* The n connections, and any probe a loop accepted before it saw the signal. */
    ASSERT(conns[0] + conns[1] >= (size_t)n);
    ASSERT(conns[0] > 0 && conns[1] > 0);
    peer_stop(&p);
}

static void test_ghibli_workers_sigterm_finishes_in_flight_balanced(void)
{
    /* 12 connections, slack 4: neither loop can take more than 8. */
    sigterm_in_flight(1, 12);
}

static void test_ghibli_workers_sigterm_finishes_in_flight_reuseport(void)
{
    /* 32 connections hashed over two sockets: both get some but with odds of 2^-31. */
    sigterm_in_flight(0, 32);
}

/* ---- usage errors ---- */

static void test_ghibli_workers_bad_values(void)
{
    static const struct {
        const char *args[6];
        const char *message;
    } cases[] = {
        {{"serve", "--workers", "0"}, "ghibli: --workers wants a number from 1 to 64, not '0'"},
        {{"serve", "--workers", "65"}, "ghibli: --workers wants a number from 1 to 64, not '65'"},
        {{"serve", "--workers", "two"}, "ghibli: --workers wants a number from 1 to 64, not 'two'"},
        {{"serve", "--workers", "-2"}, "ghibli: --workers wants a number from 1 to 64, not '-2'"},
        {{"serve", "--workers"}, "ghibli: missing value for '--workers'"},
        {{"films", "--offline", "--workers", "2"},
         "ghibli: --workers and --balance go with serve only"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[8] = {build_path("bin/ghibli")};
        for (size_t k = 0; cases[i].args[k]; k++) {
            argv[k + 1] = cases[i].args[k];
        }
        outcome o;
        run_program(&o, cf_test_tmpdir(), NULL, argv);
        ASSERT_EQ(o.status, 2);
        ASSERT_PREFIX(o.err, cases[i].message);
        ASSERT_STR_EQ(o.out, "");
        outcome_free(&o);
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_ghibli_workers_reuseport_serves_many);
    CF_TEST(test_ghibli_workers_balance_serves_many);
    CF_TEST(test_ghibli_workers_sigterm_finishes_in_flight_balanced);
    CF_TEST(test_ghibli_workers_sigterm_finishes_in_flight_reuseport);
    CF_TEST(test_ghibli_workers_bad_values);
    return CF_TEST_END();
}
