/* fuzz_http_response: any bytes as a server's reply to the client's GET (a loopback thread
 * writes them, then closes). The request completes once, with 0 or a library code, and an
 * error's message has no control character (the reply's text is escaped). */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "calcifer.h"

static const uint8_t *reply; /* the input, written by `serve` to the one connection */
static size_t reply_len;

static void *serve(void *arg)
{
    char head[8192];
    int c = accept(*(int *)arg, NULL, NULL);
    ssize_t n = c >= 0 ? recv(c, head, sizeof head, 0) : -1; /* the GET: one segment */
    for (size_t off = 0; n > 0 && off < reply_len; off += (size_t)n)
        n = send(c, reply + off, reply_len - off, MSG_NOSIGNAL);
    if (c >= 0)
        close(c);
    return NULL;
}

static void on_done(cf_http_req *q, int status, const cf_error *err, cf_http_response *s, void *d)
{
    (void)q, (void)s;
    ++*(int *)d;
    for (const char *m = err ? err->message : ""; *m; m++)
        if ((unsigned char)*m < 0x20 || *m == 0x7f)
            abort();
    if (status > 0 || (status && !err))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    reply = data, reply_len = size;
    if (bind(fd, (struct sockaddr *)&a, alen) || listen(fd, 1) ||
        getsockname(fd, (struct sockaddr *)&a, &alen))
        abort();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/films", ntohs(a.sin_port));
    pthread_t t;
    pthread_create(&t, NULL, serve, &fd);
    cf_loop *loop;
    int done = 0;
    cf_http_options o = {.timeout_ms = 10000, .flags = CF_HTTP_HTTP1_ONLY | CF_HTTP_NO_FOLLOW};
    if (cf_loop_new(&loop) || cf_http_request(loop, url, &o, on_done, &done, NULL) ||
        cf_run(loop, CF_RUN_DEFAULT) < 0 || done != 1 || cf_loop_close(loop))
        abort();
    pthread_join(t, NULL);
    close(fd);
    return 0;
}
