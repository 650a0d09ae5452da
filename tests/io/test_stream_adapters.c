/*
 * Stream adapters (calcifer/stream.h) over real files, sockets on 127.0.0.1, a child
 * process and an HTTP server and client: file copy through a pipeline, the atomic write
 * stream (a failed pipeline leaves no file, no temporary file), JSON elements to CSV, a TCP
 * echo through streams, a child's stdin and stdout, an HTTP body streamed both ways, a
 * server request body streamed to a file (from python3's http.client and from our client's
 * request-body Writable).
 */
/* ctest-timeout: 300 */
#include <dirent.h>
#include <sys/stat.h>

#include "harness.h"

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static void close_all(cf_loop *loop, cf_stream **st, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(cf_stream_close(st[i], NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct outcome {
    int calls;
    int status;
    char message[128];
    char file[256];
    int line;
} outcome;

static void record(cf_stream *s, int status, const cf_error *err, void *data)
{
    outcome *o = data;
    (void)s;
    o->calls++;
    o->status = status;
    snprintf(o->message, sizeof o->message, "%s", err ? cf_error_message(err) : "");
    snprintf(o->file, sizeof o->file, "%s", err && err->file ? err->file : "");
    o->line = err ? err->line : 0;
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 131 + i / 4093) & 0xff);
}

static void write_pattern(const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_PTR(f);
    for (size_t i = 0; i < len; i++)
        fputc(pattern_byte(i), f);
    ASSERT_OK(fclose(f));
}

static void check_pattern(const char *path, size_t len)
{
    FILE *f = fopen(path, "rb");
    ASSERT_PTR(f);
    size_t i = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if ((unsigned char)c != pattern_byte(i))
            CF_TEST_FAILF("%s: byte %zu differs", path, i);
        i++;
    }
    fclose(f);
    ASSERT_EQ(i, len);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_PTR(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- files ---- */

static void test_stream_fs_copy_through_pipeline(void)
{
    cf_loop *loop = loop_new();
    char in[512];
    char out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    size_t len = 3 * 1024 * 1024 + 17;
    write_pattern(in, len);
    cf_stream *st[2];
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 0, &st[0]));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, 0, 0, &st[1]));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, NULL, record, &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.calls, 1);
    ASSERT_EQ(o.status, 0);
    check_pattern(out, len);
    close_all(loop, st, 2);
}

static void test_stream_fs_read_missing_file(void)
{
    cf_loop *loop = loop_new();
    char in[512];
    cf_test_path(in, sizeof in, "missing.bin");
    cf_stream *r;
    int made_at = __LINE__ + 1;
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 0, &r));
    ASSERT_OK(cf_stream_resume(r)); /* reading starts the open */
    outcome o = {0};
    ASSERT_OK(cf_stream_finished(r, NULL, record, &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.status, CF_ENOENT);
    ASSERT(strstr(o.message, "missing.bin"));
    /* The error names the line that made the stream, not the library's. */
    ASSERT(strstr(o.file, "test_stream_adapters.c"));
    ASSERT_EQ(o.line, made_at);
    close_all(loop, &r, 1);
}

/* A consumer that checks every byte in order and pauses for 1 ms every 13th chunk. */
typedef struct slow_reader {
    cf_loop *loop;
    cf_stream *s;
    size_t bytes, chunks, stop_after;
    int mismatch;
} slow_reader;

static void slow_resume(void *data)
{
    slow_reader *r = data;
    ASSERT_OK(cf_stream_resume(r->s));
}

static void slow_data(cf_stream *s, const void *chunk, size_t len, void *data)
{
    slow_reader *r = data;
    const unsigned char *p = chunk;
    for (size_t i = 0; i < len; i++)
        r->mismatch += p[i] != pattern_byte(r->bytes + i);
    r->bytes += len;
    if (++r->chunks == r->stop_after) {
        cf_stream_destroy(s, CF_ERROR(CF_ECANCELED, "reader stopped"));
        return;
    }
    if (r->chunks % 13 == 0) {
        ASSERT_OK(cf_stream_pause(s));
        ASSERT_OK(cf_set_timeout(r->loop, 1, slow_resume, r, NULL));
    }
}

/*
 * The read stream reads a batch ahead while the last one is consumed: a consumer that pauses
 * now and then still gets every byte once, in order, up to a last chunk shorter than the
 * others; and one that destroys the stream while a read ahead is in flight gets no more data
 * and leaks nothing (the chunks read ahead are freed).
 */
static void test_stream_fs_read_ahead_in_order(void)
{
    char in[512];
    cf_test_path(in, sizeof in, "ahead.bin");
    size_t len = 2 * 1024 * 1024 + 4099;
    write_pattern(in, len);
    for (int stop = 0; stop < 2; stop++) {
        cf_loop *loop = loop_new();
        slow_reader r = {.loop = loop, .stop_after = stop ? 100 : 0};
        ASSERT_OK(cf_stream_fs_read_new(loop, in, 4096, &r.s));
        ASSERT_OK(cf_stream_on_data(r.s, slow_data, &r));
        outcome o = {0};
        ASSERT_OK(cf_stream_finished(r.s, NULL, record, &o));
        ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
        ASSERT_EQ(o.calls, 1);
        ASSERT_EQ(r.mismatch, 0);
        if (stop) {
            ASSERT_EQ(o.status, CF_ECANCELED);
            ASSERT_EQ(r.chunks, 100);
            ASSERT_EQ(r.bytes, 100 * 4096);
        } else {
            ASSERT_EQ(o.status, 0);
            ASSERT_EQ(r.bytes, len);
            ASSERT_EQ(r.chunks, len / 4096 + 1);
        }
        close_all(loop, &r.s, 1);
    }
}

/* Bytes this process has read from files and pipes so far (/proc/self/io), or -1. */
static long long read_chars(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    long long v = -1;
    char line[128];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "rchar: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

typedef struct paused_reader {
    cf_stream *s;
    size_t chunks;
    long long start, read_then;
} paused_reader;

static void pause_first(cf_stream *s, const void *chunk, size_t len, void *data)
{
    paused_reader *r = data;
    (void)chunk;
    (void)len;
    if (++r->chunks == 1)
        ASSERT_OK(cf_stream_pause(s));
}

static void paused_look(void *data)
{
    paused_reader *r = data;
    r->read_then = read_chars() - r->start;
    ASSERT_OK(cf_stream_destroy(r->s, NULL));
}

/*
 * A paused consumer of 1 MiB chunks finds at most two jobs' worth read ahead (a job reads one
 * such chunk): the file's first chunk, two read ahead, and one more the stream's buffer may
 * ask for, not the whole file.
 */
static void test_stream_fs_read_ahead_bounded_when_paused(void)
{
    ASSERT(read_chars() >= 0); /* Linux's per-process I/O counters */
    char in[512];
    cf_test_path(in, sizeof in, "big-chunks.bin");
    size_t chunk = 1024 * 1024, len = 24 * chunk;
    write_pattern(in, len);
    cf_loop *loop = loop_new();
    paused_reader r = {0};
    r.start = read_chars();
    ASSERT_OK(cf_stream_fs_read_new(loop, in, chunk, &r.s));
    ASSERT_OK(cf_stream_on_data(r.s, pause_first, &r));
    ASSERT_OK(cf_set_timeout(loop, 300, paused_look, &r, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r.chunks, 1);
    ASSERT(r.read_then >= (long long)chunk);
    if (r.read_then > (long long)(4 * chunk + 64 * 1024))
        CF_TEST_FAILF("a paused stream read %lld bytes ahead", r.read_then);
    close_all(loop, &r.s, 1);
}

static int fail_after;

static void failing_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    if (--fail_after == 0) {
        cf_stream_done(s, CF_ERROR(CF_EIO, "stage failed"));
        return;
    }
    cf_stream_push(s, chunk, len);
    cf_stream_done(s, NULL);
}

static const cf_stream_impl failing_impl = {.transform = failing_transform};

static void atomic_pipeline(int fail_at, outcome *o, const char *in, const char *out)
{
    cf_loop *loop = loop_new();
    cf_stream *st[3];
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 16 * 1024, &st[0]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &failing_impl, NULL, NULL, &st[1]));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, CF_STREAM_FS_ATOMIC, 0, &st[2]));
    fail_after = fail_at;
    ASSERT_OK(cf_stream_pipeline(st, 3, NULL, record, o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    close_all(loop, st, 3);
}

static void test_stream_fs_atomic_failure_leaves_no_file(void)
{
    char in[512];
    char out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    write_pattern(in, 1024 * 1024);
    outcome o = {0};
    atomic_pipeline(10, &o, in, out); /* fails after nine chunks went to the writer */
    ASSERT_EQ(o.calls, 1);
    ASSERT_EQ(o.status, CF_EIO);
    struct stat st;
    ASSERT_EQ(stat(out, &st), -1);
    ASSERT_EQ(entries(cf_test_tmpdir()), 1); /* the input only: no temporary file left */
    outcome ok = {0};
    atomic_pipeline(-1, &ok, in, out); /* never fails */
    ASSERT_EQ(ok.status, 0);
    check_pattern(out, 1024 * 1024);
    ASSERT_EQ(entries(cf_test_tmpdir()), 2);
}

/* ---- JSON elements to CSV ---- */

static void test_stream_json_elements_to_csv(void)
{
    cf_loop *loop = loop_new();
    char in[512];
    char out[512];
    cf_test_path(in, sizeof in, "films.json");
    cf_test_path(out, sizeof out, "films.csv");
    FILE *f = fopen(in, "wb");
    ASSERT_PTR(f);
    fputs("{\"films\": [{\"title\": \"Castle\", \"year\": 1986},\n"
          " {\"title\": \"Spirited, Away\", \"year\": 2001, \"x\": [1]},\n"
          " {\"title\": \"Totoro\"}]}",
          f);
    fclose(f);
    static const char *const cols[] = {"title", "year"};
    cf_stream *st[4];
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 7, &st[0])); /* 7-byte chunks split tokens */
    ASSERT_OK(cf_stream_json_elements_new(loop, "films", NULL, &st[1]));
    ASSERT_OK(cf_stream_csv_new(loop, 0, cols, 2, 1, &st[2]));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, CF_STREAM_FS_ATOMIC, 0, &st[3]));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 4, NULL, record, &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.status, 0);
    char buf[256] = {0};
    f = fopen(out, "rb");
    ASSERT_PTR(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    ASSERT_STR_EQ(buf, "title,year\r\nCastle,1986\r\n\"Spirited, Away\",2001\r\nTotoro,\r\n");
    close_all(loop, st, 4);
}

static void test_stream_json_elements_bad_json(void)
{
    cf_loop *loop = loop_new();
    cf_stream *t;
    ASSERT_OK(cf_stream_json_elements_new(loop, NULL, NULL, &t));
    outcome o = {0};
    ASSERT_OK(cf_stream_finished(t, NULL, record, &o));
    cf_stream_write(t, "[1, 2, }", 8);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.status, CF_EPARSE);
    ASSERT(o.message[0]);
    close_all(loop, &t, 1);
}

/* ---- a generated source ---- */

typedef struct gen {
    size_t left;
    size_t next;
} gen;

static void gen_read(cf_stream *s, size_t size, void *data)
{
    gen *g = data;
    (void)size;
    unsigned char buf[8192];
    while (g->left > 0) {
        size_t n = g->left < sizeof buf ? g->left : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern_byte(g->next + i);
        g->next += n;
        g->left -= n;
        if (cf_stream_push(s, buf, n) != 0)
            return;
    }
    cf_stream_push_end(s);
}

static const cf_stream_impl gen_impl = {.read = gen_read};

typedef struct counter {
    size_t bytes;
    int mismatch;
    int ended;
} counter;

static void count_data(cf_stream *s, const void *chunk, size_t len, void *data)
{
    counter *c = data;
    (void)s;
    const unsigned char *p = chunk;
    for (size_t i = 0; i < len; i++)
        c->mismatch += p[i] != pattern_byte(c->bytes + i);
    c->bytes += len;
}

static void count_end(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    counter *c = data;
    (void)s;
    (void)ev;
    (void)err;
    c->ended = 1;
}

/* ---- TCP ---- */

typedef struct echo {
    cf_loop *loop;
    cf_tcp *server;
    cf_stream *conn;
} echo;

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    echo *e = data;
    (void)server;
    (void)err;
    ASSERT_OK(status);
    ASSERT_OK(cf_stream_tcp_new(conn, 0, &e->conn));
    ASSERT_OK(cf_stream_pipe(e->conn, e->conn)); /* echo: the socket into itself */
    ASSERT_OK(cf_tcp_close(e->server, NULL, NULL));
}

typedef struct client {
    cf_stream *st[2];
    gen g;
    outcome o;
} client;

static void on_connect(cf_tcp *t, int status, const cf_error *err, void *data)
{
    client *c = data;
    (void)err;
    ASSERT_OK(status);
    ASSERT_OK(cf_stream_tcp_new(t, 0, &c->st[1]));
    ASSERT_OK(cf_stream_new(cf_tcp_loop(t), CF_STREAM_READABLE, &gen_impl, NULL, &c->g, &c->st[0]));
    ASSERT_OK(cf_stream_pipeline(c->st, 2, NULL, record, &c->o));
}

static void test_stream_tcp_echo(void)
{
    cf_loop *loop = loop_new();
    echo e = {.loop = loop};
    ASSERT_OK(cf_tcp_new(loop, &e.server));
    ASSERT_OK(cf_tcp_listen(e.server, "127.0.0.1", 0, 16, 0, on_connection, &e));
    cf_tcp *t;
    ASSERT_OK(cf_tcp_new(loop, &t));
    size_t total = 8 * 1024 * 1024;
    client c = {.g = {.left = total}};
    ASSERT_OK(cf_tcp_connect(t, "127.0.0.1", cf_tcp_port(e.server), NULL, on_connect, &c));
    while (!c.st[1])
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    counter got = {0};
    ASSERT_OK(cf_stream_on_data(c.st[1], count_data, &got));
    ASSERT_OK(cf_stream_on(c.st[1], CF_STREAM_EV_END, count_end, &got));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(c.o.status, 0);
    ASSERT(got.ended);
    ASSERT_EQ(got.bytes, total);
    ASSERT_EQ(got.mismatch, 0);
    ASSERT_OK(cf_stream_close(e.conn, NULL, NULL));
    close_all(loop, c.st, 2);
}

/* ---- a child's stdio ---- */

static void test_stream_process_stdio_cat(void)
{
    cf_loop *loop = loop_new();
    static const char *const args[] = {"cat", NULL};
    cf_process_options po = {.file = "cat", .args = args};
    po.stdio[0] = CF_STDIO_PIPE;
    po.stdio[1] = CF_STDIO_PIPE;
    po.stdio[2] = CF_STDIO_INHERIT;
    cf_process *p;
    ASSERT_OK(cf_process_spawn(loop, &po, NULL, NULL, &p, NULL));
    cf_stream *st[3];
    size_t total = 4 * 1024 * 1024 + 5;
    gen g = {.left = total};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &st[0]));
    ASSERT_OK(cf_stream_process_stdio_new(p, 0, &st[1]));
    ASSERT_OK(cf_stream_process_stdio_new(p, 1, &st[2]));
    ASSERT_EQ(cf_stream_process_stdio_new(p, 2, &st[2]), CF_EINVAL); /* inherited: no pipe */
    counter got = {0};
    ASSERT_OK(cf_stream_on_data(st[2], count_data, &got));
    ASSERT_OK(cf_stream_on(st[2], CF_STREAM_EV_END, count_end, &got));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, NULL, record, &o));
    cf_promise *exit = cf_process_exit_p(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.status, 0);
    ASSERT(got.ended);
    ASSERT_EQ(got.bytes, total);
    ASSERT_EQ(got.mismatch, 0);
    const cf_process_exit *ex = cf_promise_value(exit);
    ASSERT_PTR(ex);
    ASSERT_EQ(ex->exit_status, 0);
    cf_promise_release(exit);
    ASSERT_OK(cf_process_close(p, NULL, NULL));
    close_all(loop, st, 3);
}

/* ---- HTTP: a response body streamed out by the server and in by the client ---- */

#define HTTP_BODY (2 * 1024 * 1024 + 3)

typedef struct served {
    cf_stream *st[2];
    gen g;
    outcome o;
    int requests;
} served;

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    served *sv = data;
    (void)req;
    sv->requests++;
    sv->g.left = HTTP_BODY;
    ASSERT_OK(cf_http_res_set_header(res, "Content-Type", "application/octet-stream"));
    cf_loop *loop = cf_http_server_loop(cf_http_incoming_server(req));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &sv->g, &sv->st[0]));
    ASSERT_OK(cf_stream_http_res_new(res, loop, &sv->st[1]));
    ASSERT_OK(cf_stream_pipeline(sv->st, 2, NULL, record, &sv->o));
}

static void test_stream_http_body_both_ways(void)
{
    cf_loop *loop = loop_new();
    served sv = {0};
    cf_http_server *srv;
    ASSERT_OK(cf_http_server_new(loop, NULL, handler, &sv, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/blob", cf_http_server_port(srv));
    char out[512];
    cf_test_path(out, sizeof out, "blob.bin");
    cf_stream *st[2];
    cf_http_options ho = {.flags = CF_HTTP_FAIL_ON_STATUS};
    ASSERT_OK(cf_stream_http_body_new(loop, url, &ho, &st[0]));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, CF_STREAM_FS_ATOMIC, 0, &st[1]));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, NULL, record, &o));
    while (o.calls == 0)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    ASSERT_EQ(o.status, 0);
    ASSERT_EQ(sv.requests, 1);
    ASSERT_EQ(sv.o.calls, 1);
    ASSERT_EQ(sv.o.status, 0);
    check_pattern(out, HTTP_BODY);
    ASSERT_OK(cf_stream_close(sv.st[0], NULL, NULL));
    ASSERT_OK(cf_stream_close(sv.st[1], NULL, NULL));
    ASSERT_OK(cf_http_server_close(srv, NULL, NULL));
    close_all(loop, st, 2);
}

/* ---- request bodies as streams ---- */

#define UPLOAD_BODY (3 * 1024 * 1024 + 7)

typedef struct upload_srv {
    cf_stream *st[2];
    cf_http_res *res;
    outcome o;
    int requests;
    char out[512];
} upload_srv;

/* The body went to the file: answer 200, or 500 with the pipeline's error. */
static void upload_stored(cf_stream *s, int status, const cf_error *err, void *data)
{
    upload_srv *u = data;
    record(s, status, err, &u->o);
    const char *msg = status == 0 ? "stored" : "failed";
    ASSERT_OK(cf_http_res_send(u->res, status == 0 ? 200 : 500, "text/plain", msg, strlen(msg)));
}

static void upload_handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    upload_srv *u = data;
    u->requests++;
    u->res = res;
    cf_loop *loop = cf_http_server_loop(cf_http_incoming_server(req));
    ASSERT_OK(cf_stream_http_incoming_new(req, loop, 0, &u->st[0]));
    ASSERT_OK(cf_stream_fs_write_new(loop, u->out, CF_STREAM_FS_ATOMIC, 0, &u->st[1]));
    ASSERT_OK(cf_stream_pipeline(u->st, 2, NULL, upload_stored, u));
}

static cf_http_server *upload_server(cf_loop *loop, upload_srv *u, char *url, size_t len)
{
    cf_http_server_opts so = {.flags = CF_HTTP_SERVER_STREAM_BODY};
    cf_http_server *srv;
    ASSERT_OK(cf_http_server_new(loop, &so, upload_handler, u, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    snprintf(url, len, "http://127.0.0.1:%d/upload", cf_http_server_port(srv));
    return srv;
}

static void upload_server_close(cf_loop *loop, cf_http_server *srv, upload_srv *u)
{
    ASSERT_OK(cf_http_server_close(srv, NULL, NULL));
    close_all(loop, u->st, 2);
}

static void proc_exited(cf_process *p, int status, const cf_error *err, int exit_status,
                        int term_signal, void *data)
{
    int *code = data;
    (void)p;
    (void)err;
    *code = status < 0 ? status : term_signal ? 128 + term_signal : exit_status;
}

/* python3's http.client uploads a file; the server streams the body into a file. */
static void test_stream_http_request_body_from_python(void)
{
    cf_loop *loop = loop_new();
    upload_srv u = {0};
    cf_test_path(u.out, sizeof u.out, "uploaded.bin");
    char in[512], url[128];
    cf_test_path(in, sizeof in, "upload_src.bin");
    write_pattern(in, UPLOAD_BODY);
    cf_http_server *srv = upload_server(loop, &u, url, sizeof url);
    char port[16];
    snprintf(port, sizeof port, "%d", cf_http_server_port(srv));
    static const char script[] =
        "import http.client,sys\n"
        "b=open(sys.argv[1],'rb').read()\n"
        "c=http.client.HTTPConnection('127.0.0.1',int(sys.argv[2]),timeout=60)\n"
        "c.request('PUT','/upload',body=b)\n"
        "r=c.getresponse()\n"
        "sys.exit(0 if r.status==200 and r.read()==b'stored' else 1)\n";
    const char *args[] = {"python3", "-c", script, in, port, NULL};
    cf_process_options po = {.file = "python3", .args = args};
    int code = -1000;
    cf_process *p;
    ASSERT_OK(cf_process_spawn(loop, &po, proc_exited, &code, &p, NULL));
    for (int i = 0; i < 1000000 && code == -1000; i++)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    ASSERT_EQ(code, 0);
    ASSERT_EQ(u.requests, 1);
    ASSERT_EQ(u.o.calls, 1);
    ASSERT_EQ(u.o.status, 0);
    check_pattern(u.out, UPLOAD_BODY);
    ASSERT_OK(cf_process_close(p, NULL, NULL));
    upload_server_close(loop, srv, &u);
}

typedef struct upload_res {
    int calls;
    int status;
    int http_status;
    char body[32];
} upload_res;

static void upload_response(cf_http_req *req, int status, const cf_error *err,
                            cf_http_response *res, void *data)
{
    upload_res *r = data;
    (void)req;
    (void)err;
    r->calls++;
    r->status = status;
    r->http_status = res ? cf_http_response_status(res) : 0;
    snprintf(r->body, sizeof r->body, "%s", res ? cf_http_response_body(res).base : "");
}

/* Our client uploads through the Writable; our server stores the body in a file. */
static void test_stream_http_request_body_upload(void)
{
    cf_loop *loop = loop_new();
    upload_srv u = {0};
    cf_test_path(u.out, sizeof u.out, "uploaded2.bin");
    char url[128];
    cf_http_server *srv = upload_server(loop, &u, url, sizeof url);
    static const cf_http_header hdrs[] = {{"Content-Type", "application/octet-stream"}};
    cf_http_options ho = {.method = "PUT", .headers = hdrs, .header_count = 1};
    cf_http_options bad = {.body = "x", .body_len = 1};
    cf_stream *st[2];
    ASSERT_EQ(cf_stream_http_req_new(loop, url, &bad, NULL, NULL, &st[1]), CF_EINVAL);
    upload_res r = {0};
    gen g = {.left = UPLOAD_BODY};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &st[0]));
    ASSERT_OK(cf_stream_http_req_new(loop, url, &ho, upload_response, &r, &st[1]));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, NULL, record, &o));
    for (int i = 0; i < 1000000 && (o.calls == 0 || u.o.calls == 0); i++)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    ASSERT_EQ(o.status, 0);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_STR_EQ(r.body, "stored");
    ASSERT_EQ(u.requests, 1);
    ASSERT_EQ(u.o.status, 0);
    check_pattern(u.out, UPLOAD_BODY);
    ASSERT_OK(cf_stream_close(st[0], NULL, NULL));
    ASSERT_OK(cf_stream_close(st[1], NULL, NULL));
    upload_server_close(loop, srv, &u);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_stream_fs_copy_through_pipeline);
    CF_TEST(test_stream_fs_read_missing_file);
    CF_TEST(test_stream_fs_read_ahead_in_order);
    CF_TEST(test_stream_fs_read_ahead_bounded_when_paused);
    CF_TEST(test_stream_fs_atomic_failure_leaves_no_file);
    CF_TEST(test_stream_json_elements_to_csv);
    CF_TEST(test_stream_json_elements_bad_json);
    CF_TEST(test_stream_tcp_echo);
    CF_TEST(test_stream_process_stdio_cat);
    CF_TEST(test_stream_http_body_both_ways);
    CF_TEST(test_stream_http_request_body_from_python);
    CF_TEST(test_stream_http_request_body_upload);
    return CF_TEST_END();
}
