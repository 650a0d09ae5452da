/*
 * The HTTP client's request-body Writable (cf_stream_http_req_new) streams for real: a task
 * writing 64 MiB in 64 KiB chunks with cf_stream_write_p to a server that reads slowly
 * (our server, pausing the body on a timer; python3's http.server reading the chunked body)
 * gets it there byte for byte while the stream never holds more than its mark and one chunk,
 * and the task stays suspended while the server reads nothing. A server that answers 413 and
 * closes after the first MiB fails the stream with that status; a stream destroyed
 * mid-upload cancels its request.
 */
/* ctest-labels: io http slow */
/* ctest-timeout: 600 */
#include <stdint.h>

#include "harness.h"
#include "peer.h"

#define BODY_LEN   ((size_t)64 << 20)
#define CHUNK_LEN  ((size_t)64 << 10)
#define STREAM_HWM ((size_t)CF_STREAM_HIGH_WATER) /* the request stream's default mark */
#define MAX_TURNS  100000000L                     /* bound on loop turns of a case */

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

/* ---- the body: a pattern, and its CRC-32 (zlib's, so that python3 computes the same) ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void fill_pattern(unsigned char *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t k = off + i;
        buf[i] = (unsigned char)((k * 131 + k / 4093) & 0xff);
    }
}

/* ---- the writing task ---- */

typedef struct uploader {
    cf_stream *w;
    size_t total;
    size_t written; /* bytes whose write_p has fulfilled */
    size_t max_len; /* the most cf_stream_writable_length showed, right after each write */
    size_t waits;   /* writes that found the stream at or past its mark */
    uint32_t crc;
    int done;
    int status; /* 0, or the error the task met */
    char message[512];
} uploader;

static unsigned char chunk_buf[CHUNK_LEN];

static int upload_failed(uploader *u, const cf_result *r)
{
    u->status = r->status;
    snprintf(u->message, sizeof u->message, "%s", r->error ? cf_error_message(r->error) : "");
    u->done = 1;
    return 0;
}

/* Write the pattern chunk by chunk, suspending while the stream is full; then end it. */
static int upload_all(cf_task *task, void *arg)
{
    uploader *u = arg;
    (void)task;
    while (u->written < u->total) {
        size_t n = u->total - u->written < CHUNK_LEN ? u->total - u->written : CHUNK_LEN;
        fill_pattern(chunk_buf, u->written, n);
        u->crc = crc_update(u->crc, chunk_buf, n);
        cf_promise *p = cf_stream_write_p(u->w, chunk_buf, n, NULL);
        size_t len = cf_stream_writable_length(u->w);
        if (len > u->max_len)
            u->max_len = len;
        u->waits += len >= STREAM_HWM;
        cf_result r = cf_await(p);
        if (r.status < 0)
            return upload_failed(u, &r);
        u->written += n;
    }
    cf_stream_end(u->w);
    cf_result r = cf_await(cf_stream_finished_p(u->w, NULL));
    if (r.status < 0)
        return upload_failed(u, &r);
    u->done = 1;
    return 0;
}

/* ---- the response as the request's callback saw it ---- */

typedef struct response {
    int calls;
    int status;
    int http_status;
    char body[128];
    char message[512];
} response;

static void on_response(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                        void *data)
{
    response *r = data;
    (void)req;
    r->calls++;
    r->status = status;
    r->http_status = res ? cf_http_response_status(res) : 0;
    snprintf(r->body, sizeof r->body, "%s", res ? cf_http_response_body(res).base : "");
    snprintf(r->message, sizeof r->message, "%s", err ? cf_error_message(err) : "");
}

/* ---- our server: reads the body slowly, answers with its length and CRC ---- */

#define PAUSE_EVERY ((size_t)4 << 20) /* pause the body after each 4 MiB */
#define PAUSE_MS    20
#define STALL_AT    ((size_t)8 << 20) /* one long pause, to see the writer stop */
#define STALL_MS    600

typedef struct slow_srv {
    cf_loop *loop;
    cf_http_incoming *req;
    cf_http_res *res;
    cf_timer *timer;
    cf_timer *probe;
    uploader *u;                /* the writer, watched during the long pause */
    cf_stream *destroy;         /* destroyed once `destroy_at` bytes arrived (NULL: never) */
    cf_abort_controller *abort; /* or aborted then (NULL: never) */
    size_t destroy_at;
    size_t received;
    size_t next_pause;
    int stalled;          /* the long pause was taken */
    size_t at_stall;      /* bytes received when it began */
    size_t written_early; /* the writer's count 200 ms into it */
    size_t written_late;  /* and at its end */
    uint32_t crc;
    int requests;
    int body_status; /* CF_EOF, or the body's error; 1 while it runs */
} slow_srv;

static void probe_writer(cf_timer *t, void *data)
{
    slow_srv *v = data;
    (void)t;
    v->written_early = v->u->written;
}

static void resume_body(cf_timer *t, void *data)
{
    slow_srv *v = data;
    (void)t;
    if (v->u && v->stalled && !v->written_late)
        v->written_late = v->u->written;
    cf_http_incoming_resume(v->req);
}

static void pause_body(slow_srv *v)
{
    uint64_t ms = PAUSE_MS;
    if (v->u && !v->stalled && v->received >= STALL_AT) {
        v->stalled = 1;
        v->at_stall = v->received;
        ms = STALL_MS;
        ASSERT_OK(cf_timer_start(v->probe, 200, 0, probe_writer, v));
    }
    cf_http_incoming_pause(v->req);
    ASSERT_OK(cf_timer_start(v->timer, ms, 0, resume_body, v));
}

static void on_body(cf_http_incoming *req, int status, const char *bytes, size_t len, void *data)
{
    slow_srv *v = data;
    (void)req;
    if (status == 0) {
        v->received += len;
        v->crc = crc_update(v->crc, bytes, len);
        if (v->destroy && v->received >= v->destroy_at) {
            cf_stream_destroy(v->destroy, NULL);
            v->destroy = NULL;
        }
        if (v->abort && v->received >= v->destroy_at &&
            !cf_abort_signal_aborted(cf_abort_get_signal(v->abort)))
            ASSERT_OK(cf_abort(v->abort, NULL));
        if (v->received >= v->next_pause) {
            v->next_pause += PAUSE_EVERY;
            pause_body(v);
        }
        return;
    }
    v->body_status = status;
    char msg[64];
    snprintf(msg, sizeof msg, "%zu %08x", v->received, (unsigned)v->crc);
    /* After a body error the client is gone: the answer may fail, and that is fine. */
    int rc = cf_http_res_send(v->res, status == CF_EOF ? 200 : 400, "text/plain", msg, strlen(msg));
    if (status == CF_EOF)
        ASSERT_OK(rc);
}

static void slow_handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    slow_srv *v = data;
    v->requests++;
    v->req = req;
    v->res = res;
    v->body_status = 1;
    v->next_pause = PAUSE_EVERY;
    ASSERT_OK(cf_http_incoming_read(req, on_body, v));
}

static cf_http_server *slow_server(slow_srv *v, char *url, size_t len)
{
    cf_http_server_opts so = {.flags = CF_HTTP_SERVER_STREAM_BODY};
    cf_http_server *srv;
    ASSERT_OK(cf_http_server_new(v->loop, &so, slow_handler, v, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    ASSERT_OK(cf_timer_new(v->loop, &v->timer));
    ASSERT_OK(cf_timer_new(v->loop, &v->probe));
    snprintf(url, len, "http://127.0.0.1:%d/upload", cf_http_server_port(srv));
    return srv;
}

static void slow_server_close(slow_srv *v, cf_http_server *srv)
{
    ASSERT_OK(cf_timer_close(v->timer, NULL, NULL));
    ASSERT_OK(cf_timer_close(v->probe, NULL, NULL));
    ASSERT_OK(cf_http_server_close(srv, NULL, NULL));
}

/* Run the loop until `*a` and `*b` are set, a bounded number of turns. */
static void run_until(cf_loop *loop, const int *a, const int *b)
{
    for (long i = 0; i < MAX_TURNS && !(*a && *b); i++)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    ASSERT(*a && *b);
}

static void finish_case(cf_loop *loop, cf_stream *w, cf_promise *task)
{
    ASSERT_EQ(cf_promise_state(task), CF_PROMISE_FULFILLED);
    cf_promise_release(task);
    ASSERT_OK(cf_stream_close(w, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* (a) 64 MiB to our own server, which pauses the body every 4 MiB and once for 600 ms. */
static void test_stream_http_upload_to_slow_server(void)
{
    cf_loop *loop = loop_new();
    uploader u = {.total = BODY_LEN};
    slow_srv v = {.loop = loop, .u = &u};
    char url[128];
    cf_http_server *srv = slow_server(&v, url, sizeof url);
    response r = {0};
    ASSERT_OK(cf_stream_http_req_new(loop, url, NULL, on_response, &r, &u.w));
    cf_promise *task = cf_async(loop, upload_all, &u);
    ASSERT_PTR(task);
    run_until(loop, &u.done, &r.calls);
    if (u.status)
        CF_TEST_FAILF("upload failed: %s", u.message);
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(r.http_status, 200);
    char want[64];
    snprintf(want, sizeof want, "%zu %08x", BODY_LEN, (unsigned)u.crc);
    ASSERT_STR_EQ(r.body, want);
    ASSERT_EQ(v.requests, 1);
    ASSERT_EQ(v.body_status, CF_EOF);
    ASSERT_EQ(v.received, BODY_LEN);
    ASSERT_EQ(v.crc, u.crc);
    /* The stream held at most its mark plus the chunk being sent, and the task did wait. */
    ASSERT_LE(u.max_len, STREAM_HWM + CHUNK_LEN);
    ASSERT_GE(u.waits, BODY_LEN / CHUNK_LEN / 2);
    /*
     * While the server read nothing, the writer stopped once the sockets' buffers were full:
     * between 200 ms and 600 ms into the pause it wrote at most a few chunks more (the
     * kernel may still grow a window), and in all far less than the body.
     */
    printf("# stall at %zu bytes received: writer at %zu (200 ms) and %zu (600 ms); "
           "peak writable length %zu\n",
           v.at_stall, v.written_early, v.written_late, u.max_len);
    ASSERT(v.stalled);
    ASSERT_GE(v.written_early, v.at_stall);
    ASSERT_LE(v.written_late - v.written_early, (size_t)1 << 20);
    ASSERT_LE(v.written_late, v.at_stall + ((size_t)32 << 20));
    slow_server_close(&v, srv);
    finish_case(loop, u.w, task);
}

/* ---- python3's http.server ---- */

/*
 * One request: read a chunked (or sized) body, answer "<bytes> <crc32> <expect header>".
 * With argv[1] "413": after 1 MiB, answer 413 with Connection: close, stop sending, wait a
 * little for the client to read it, and close.
 */
static const char py_server[] =
    "import http.server,socket,sys,time,zlib\n"
    "LIMIT=1<<20 if sys.argv[1]=='413' else None\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version='HTTP/1.1'\n"
    "    def log_message(self,*a): pass\n"
    "    def refuse(self):\n"
    "        self.wfile.write(b'HTTP/1.1 413 Payload Too Large\\r\\nContent-Length: 9\\r\\n'\n"
    "                         b'Connection: close\\r\\n\\r\\ntoo large')\n"
    "        self.wfile.flush()\n"
    "        self.connection.shutdown(socket.SHUT_WR)\n"
    "        time.sleep(0.5)\n"
    "        self.close_connection=True\n"
    "    def do_POST(self):\n"
    "        n=0;crc=0\n"
    "        te=self.headers.get('Transfer-Encoding','')\n"
    "        while te=='chunked':\n"
    "            size=int(self.rfile.readline().split(b';')[0],16)\n"
    "            if size==0:\n"
    "                while self.rfile.readline() not in (b'\\r\\n',b''): pass\n"
    "                break\n"
    "            while size:\n"
    "                b=self.rfile.read(min(size,65536))\n"
    "                if not b: raise EOFError('body cut short')\n"
    "                n+=len(b);crc=zlib.crc32(b,crc);size-=len(b)\n"
    "                if LIMIT and n>=LIMIT: return self.refuse()\n"
    "            self.rfile.readline()\n"
    "        body=('%d %08x %s %s'%(n,crc,te or '-',self.headers.get('Expect','-'))).encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length',str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "s=http.server.HTTPServer(('127.0.0.1',0),H)\n"
    "print('PORT %d'%s.server_address[1],flush=True)\n"
    "s.handle_request()\n";

static void python_url(peer *py, const char *mode, char *url, size_t len)
{
    const char *argv[] = {"python3", "-c", py_server, mode, NULL};
    peer_start(py, argv);
    snprintf(url, len, "http://127.0.0.1:%d/upload", peer_wait_port(py));
}

/* (b) 64 MiB to python3's http.server, which decodes the chunked body itself. */
static void test_stream_http_upload_to_python(void)
{
    cf_loop *loop = loop_new();
    peer py = {0};
    char url[128];
    python_url(&py, "all", url, sizeof url);
    uploader u = {.total = BODY_LEN};
    response r = {0};
    ASSERT_OK(cf_stream_http_req_new(loop, url, NULL, on_response, &r, &u.w));
    cf_promise *task = cf_async(loop, upload_all, &u);
    ASSERT_PTR(task);
    run_until(loop, &u.done, &r.calls);
    if (u.status)
        CF_TEST_FAILF("upload failed: %s", u.message);
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(r.http_status, 200);
    char want[96];
    /* Chunked, as Node's ClientRequest sends a body of unknown length; no Expect. */
    snprintf(want, sizeof want, "%zu %08x chunked -", BODY_LEN, (unsigned)u.crc);
    ASSERT_STR_EQ(r.body, want);
    ASSERT_LE(u.max_len, STREAM_HWM + CHUNK_LEN);
    peer_stop(&py);
    finish_case(loop, u.w, task);
}

/* (c) The server answers 413 and closes after 1 MiB: the writer resumes with that error. */
static void test_stream_http_upload_refused_early(void)
{
    cf_loop *loop = loop_new();
    peer py = {0};
    char url[128];
    python_url(&py, "413", url, sizeof url);
    uploader u = {.total = BODY_LEN};
    response r = {0};
    ASSERT_OK(cf_stream_http_req_new(loop, url, NULL, on_response, &r, &u.w));
    cf_promise *task = cf_async(loop, upload_all, &u);
    ASSERT_PTR(task);
    run_until(loop, &u.done, &r.calls);
    printf("# %s\n", u.message);
    /* The request failed with the status, and its callback still saw the response. */
    ASSERT_EQ(r.status, CF_EHTTP);
    ASSERT_EQ(r.http_status, 413);
    ASSERT_STR_EQ(r.body, "too large");
    ASSERT(strstr(r.message, "HTTP 413 Payload Too Large before the whole request body"));
    /* The writing task was woken with the same error, well before the end of the body. */
    ASSERT_EQ(u.status, CF_EHTTP);
    ASSERT(strstr(u.message, "POST http://127.0.0.1:"));
    ASSERT(strstr(u.message, "413"));
    ASSERT_GE(u.written, (size_t)1 << 20);
    ASSERT(u.written < BODY_LEN);
    ASSERT_EQ(cf_stream_error(u.w)->code, CF_EHTTP);
    peer_stop(&py);
    finish_case(loop, u.w, task);
}

/* (d) Destroying the stream mid-upload cancels the request; the writer wakes with an error. */
static void test_stream_http_upload_destroyed(void)
{
    cf_loop *loop = loop_new();
    uploader u = {.total = BODY_LEN};
    slow_srv v = {.loop = loop, .destroy_at = (size_t)2 << 20};
    char url[128];
    cf_http_server *srv = slow_server(&v, url, sizeof url);
    response r = {0};
    ASSERT_OK(cf_stream_http_req_new(loop, url, NULL, on_response, &r, &u.w));
    v.destroy = u.w;
    cf_promise *task = cf_async(loop, upload_all, &u);
    ASSERT_PTR(task);
    run_until(loop, &u.done, &r.calls);
    printf("# request: %s; writer: %s\n", r.message, u.message);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT(strstr(r.message, "POST http://127.0.0.1:"));
    ASSERT(u.status < 0);
    ASSERT(u.written < BODY_LEN);
    ASSERT(cf_stream_is_destroyed(u.w));
    /* The server saw the body cut short, not a complete one. */
    for (long i = 0; i < MAX_TURNS && v.body_status == 1; i++)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    ASSERT(v.body_status < 0 && v.body_status != CF_EOF);
    ASSERT(v.received < BODY_LEN);
    slow_server_close(&v, srv);
    finish_case(loop, u.w, task);
}

/* (e) An abort signal in the options stops the upload: the stream fails with the abort error. */
static void test_stream_http_upload_aborted(void)
{
    cf_loop *loop = loop_new();
    uploader u = {.total = BODY_LEN};
    slow_srv v = {.loop = loop, .destroy_at = (size_t)2 << 20};
    ASSERT_OK(cf_abort_new(&v.abort));
    char url[128];
    cf_http_server *srv = slow_server(&v, url, sizeof url);
    response r = {0};
    cf_http_options ho = {.method = "PUT", .signal = cf_abort_get_signal(v.abort)};
    ASSERT_OK(cf_stream_http_req_new(loop, url, &ho, on_response, &r, &u.w));
    cf_promise *task = cf_async(loop, upload_all, &u);
    ASSERT_PTR(task);
    run_until(loop, &u.done, &r.calls);
    printf("# %s\n", u.message);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT(strstr(r.message, "aborted"));
    ASSERT_EQ(u.status, CF_ECANCELED);
    ASSERT(strstr(u.message, "aborted"));
    ASSERT(u.written < BODY_LEN);
    ASSERT_EQ(cf_stream_error(u.w)->code, CF_ECANCELED);
    for (long i = 0; i < MAX_TURNS && v.body_status == 1; i++)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    ASSERT(v.body_status < 0 && v.body_status != CF_EOF);
    slow_server_close(&v, srv);
    cf_abort_free(v.abort);
    finish_case(loop, u.w, task);
}

/* Bad input is refused at once, with no request made and nothing left behind. */
static void test_stream_http_upload_bad_input(void)
{
    cf_loop *loop = loop_new();
    cf_stream *w = NULL;
    cf_http_options body = {.body = "x", .body_len = 1};
    cf_http_options method = {.method = "BAD METHOD"};
    ASSERT_EQ(cf_stream_http_req_new(loop, "http://127.0.0.1:1/", &body, NULL, NULL, &w),
              CF_EINVAL);
    ASSERT_EQ(cf_stream_http_req_new(loop, "http://127.0.0.1:1/", &method, NULL, NULL, &w),
              CF_EINVAL);
    ASSERT_EQ(cf_stream_http_req_new(loop, "ftp://127.0.0.1/", NULL, NULL, NULL, &w), CF_EURL);
    ASSERT_EQ(cf_stream_http_req_new(loop, NULL, NULL, NULL, NULL, &w), CF_EINVAL);
    ASSERT(w == NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* A refused connection is the stream's error, and a write waiting for it gets it. */
static void test_stream_http_upload_connection_refused(void)
{
    cf_loop *loop = loop_new();
    uploader u = {.total = (size_t)1 << 20};
    response r = {0};
    ASSERT_OK(cf_stream_http_req_new(loop, "http://127.0.0.1:1/up", NULL, on_response, &r, &u.w));
    cf_promise *task = cf_async(loop, upload_all, &u);
    ASSERT_PTR(task);
    run_until(loop, &u.done, &r.calls);
    ASSERT_EQ(r.status, CF_ECONNREFUSED);
    ASSERT_EQ(u.status, CF_ECONNREFUSED);
    ASSERT(strstr(u.message, "POST http://127.0.0.1:1/up: connection refused"));
    finish_case(loop, u.w, task);
}

int main(int argc, char **argv)
{
    crc_init();
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_stream_http_upload_to_slow_server);
    CF_TEST(test_stream_http_upload_to_python);
    CF_TEST(test_stream_http_upload_refused_early);
    CF_TEST(test_stream_http_upload_destroyed);
    CF_TEST(test_stream_http_upload_aborted);
    CF_TEST(test_stream_http_upload_bad_input);
    CF_TEST(test_stream_http_upload_connection_refused);
    return CF_TEST_END();
}
