/*
 * Call sites (calcifer/error.h, cf_site): an operation that fails later names the exact line of
 * the call that started it and the calling function, with no macro around the call, through a
 * function pointer too; a rethrown error names both places; an address without debug info
 * resolves to a symbol or to the address itself, never to a crash.
 *
 * This file is built with -g (every build type is): the places are read from its DWARF.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "site_check.h"
#include "util/site.h"

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

/* What cf_error_print writes for `e`. The caller frees the text. */
static char *printed(const cf_error *e)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_PTR(f);
    cf_error_print(e, f);
    ASSERT_EQ(fclose(f), 0);
    return text;
}

/* A port on 127.0.0.1 nothing listens on: bound, read, closed again. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(fd, (struct sockaddr *)&in, sizeof in));
    socklen_t len = sizeof in;
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&in, &len));
    close(fd);
    return ntohs(in.sin_port);
}

/* A missing file: the read fails later, on the pool, and names this line. */
static void test_site_fs_read_names_the_line(void)
{
    cf_loop *loop = loop_new();
    char missing[512];
    cf_test_path(missing, sizeof missing, "missing.txt");
    int line = __LINE__ + 1;
    cf_promise *p = handled(cf_fs_read_file_p(loop, missing, NULL));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING); /* the failure comes later */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_error_code(cf_promise_error(p)), CF_ENOENT);
    ASSERT_PLACE(cf_promise_error(p), "test_site_fs_read_names_the_line", line);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

/* A lookup the resolver refuses (a service name where a number is required). */
static void test_site_dns_lookup_names_the_line(void)
{
    cf_loop *loop = loop_new();
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int line = __LINE__ + 1;
    cf_promise *p = handled(cf_dns_getaddrinfo_p(loop, "localhost", "no-service", &hints, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(p), "test_site_dns_lookup_names_the_line", line);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

/* A connect refused on 127.0.0.1: the kernel says so from the loop, after the call. */
static void test_site_tcp_connect_refused_names_the_line(void)
{
    cf_loop *loop = loop_new();
    cf_tcp *t = NULL;
    ASSERT_OK(cf_tcp_new(loop, &t));
    int port = closed_port();
    int line = __LINE__ + 1;
    cf_promise *p = handled(cf_tcp_connect_p(t, "127.0.0.1", port, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_error_code(cf_promise_error(p)), CF_ECONNREFUSED);
    ASSERT_PLACE(cf_promise_error(p), "test_site_tcp_connect_refused_names_the_line", line);
    cf_promise_release(p);
    cf_tcp_close(t, NULL, NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* A pointer to the public function, called through the pointer: the same place. */
static void test_site_function_pointer_names_the_line(void)
{
    cf_promise *(*read_file)(cf_loop *, const char *, cf_abort_signal *) = cf_fs_read_file_p;
    cf_loop *loop = loop_new();
    char missing[512];
    cf_test_path(missing, sizeof missing, "also-missing.txt");
    int line = __LINE__ + 1;
    cf_promise *p = handled(read_file(loop, missing, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_PLACE(cf_promise_error(p), "test_site_function_pointer_names_the_line", line);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

/*
 * A helper of the program starts the operation: the error names the helper and its line, even
 * where the compiler inlined the helper into its caller (the DWARF of the inlined call).
 */
static int start_read_line;

static cf_promise *start_read(cf_loop *loop, const char *path)
{
    start_read_line = __LINE__ + 1;
    return handled(cf_fs_read_file_p(loop, path, NULL));
}

static void test_site_helper_names_itself_not_its_caller(void)
{
    cf_loop *loop = loop_new();
    char missing[512];
    cf_test_path(missing, sizeof missing, "helper-missing.txt");
    cf_promise *p = start_read(loop, missing);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_PLACE(cf_promise_error(p), "start_read", start_read_line);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

/* An error rethrown twice keeps the operation's place and adds both rethrows, in order. */
static void test_site_rethrow_names_both_places(void)
{
    cf_loop *loop = loop_new();
    char missing[512];
    cf_test_path(missing, sizeof missing, "rethrown.txt");
    int op_line = __LINE__ + 1;
    cf_promise *p = handled(cf_fs_read_file_p(loop, missing, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    const cf_error *e = cf_promise_error(p);
    ASSERT_PTR(e);
    int first_line = __LINE__ + 1;
    cf_error *once = cf_error_rethrow(e);
    int second_line = __LINE__ + 1;
    cf_error *twice = cf_error_rethrow(once);
    ASSERT_PTR(once);
    ASSERT_PTR(twice);
    const char *me = "test_site_rethrow_names_both_places";
    ASSERT_PLACE(twice, me, op_line);
    ASSERT_STR_EQ(twice->message, e->message);
    ASSERT_EQ(twice->code, CF_ENOENT);
    cf_site s = cf_error_site(twice);
    ASSERT_PTR(s.rethrown);
    ASSERT_EQ(s.rethrown->line, first_line);
    ASSERT_STR_EQ(s.rethrown->func, me);
    ASSERT_PTR(s.rethrown->rethrown);
    ASSERT_EQ(s.rethrown->rethrown->line, second_line);
    ASSERT(s.rethrown->rethrown->rethrown == NULL);
    ASSERT(cf_error_site(e).rethrown == NULL); /* the original is untouched */

    char *text = printed(twice);
    char want[256];
    snprintf(want, sizeof want, "test_site.c:%d in %s)\n", op_line, me);
    ASSERT(strstr(text, want) != NULL);
    snprintf(want, sizeof want, "test_site.c:%d in %s\n", first_line, me);
    const char *at1 = strstr(text, want);
    snprintf(want, sizeof want, "test_site.c:%d in %s\n", second_line, me);
    const char *at2 = strstr(text, want);
    ASSERT(at1 && at2 && at1 < at2);
    free(text);

    /* A copy keeps the rethrows; freeing each is independent. */
    cf_error *copy = cf_error_copy(twice);
    ASSERT_PTR(copy);
    ASSERT_EQ(cf_error_site(copy).rethrown->rethrown->line, second_line);
    cf_error_free(twice);
    cf_error_free(once);
    ASSERT_EQ(cf_error_site(copy).rethrown->line, first_line);
    cf_error_free(copy);
    ASSERT(cf_error_rethrow(NULL) == NULL);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

/* The chain of causes survives a rethrow, and the print shows the rethrow before the causes. */
static void test_site_rethrow_keeps_the_causes(void)
{
    cf_error *e = CF_ERROR(CF_ECANCELED, "The operation was aborted");
    ASSERT_PTR(cf_error_set_cause(e, CF_ERROR(CF_ETIMEDOUT, "deadline")));
    int line = __LINE__ + 1;
    cf_error *r = cf_error_rethrow(e);
    ASSERT_PTR(r);
    ASSERT_PTR(cf_error_cause(r));
    ASSERT_STR_EQ(cf_error_message(cf_error_cause(r)), "deadline");
    char *text = printed(r);
    char want[256];
    snprintf(want, sizeof want, "  rethrown at %s:%d in test_site_rethrow_keeps_the_causes\n",
             r->file, line);
    const char *at = strstr(text, want);
    const char *cause = strstr(text, "  caused by: deadline");
    ASSERT(at && cause && at < cause);
    free(text);
    cf_error_free(r);
    cf_error_free(e);
}

/* An address in an object without DWARF (libc): a symbol and the object, never a crash. */
static void test_site_no_debug_info_gives_a_symbol(void)
{
    void *fn = dlsym(RTLD_DEFAULT, "getpid");
    ASSERT_PTR(fn);
    cf_site s = {.pc = (const char *)fn + 4};
    cf__site_resolve(&s);
    ASSERT_PTR(s.file);
    ASSERT_PTR(s.func);
    ASSERT(strstr(s.file, "libc") != NULL);
    ASSERT_EQ(s.line, 0);
    ASSERT(strstr(s.func, "+0x") != NULL);
    char *text = NULL;
    cf_error *e = cf_error_at(CF_EIO, s, NULL, 0, NULL, 0, "no lines here");
    ASSERT_PTR(e);
    text = printed(e);
    ASSERT(strstr(text, "no lines here (at ") == text);
    ASSERT(strstr(text, " in ") && strstr(text, "libc"));
    free(text);
    cf_error_free(e);
}

/* An address in no object at all (an anonymous page): the address itself. */
static void test_site_unknown_address_gives_the_address(void)
{
    long page = sysconf(_SC_PAGESIZE);
    void *anon = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(anon != MAP_FAILED);
    cf_site s = {.pc = (char *)anon + 16};
    cf__site_resolve(&s);
    ASSERT_PTR(s.func);
    char want[32];
    snprintf(want, sizeof want, "%p", s.pc);
    ASSERT_STR_EQ(s.func, want);
    ASSERT_EQ(s.line, 0);
    /* Cached: the same strings again. */
    cf_site again = {.pc = s.pc};
    cf__site_resolve(&again);
    ASSERT(again.func == s.func && again.file == s.file);
    ASSERT_OK(munmap(anon, (size_t)page));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_site_fs_read_names_the_line);
    CF_TEST(test_site_dns_lookup_names_the_line);
    CF_TEST(test_site_tcp_connect_refused_names_the_line);
    CF_TEST(test_site_function_pointer_names_the_line);
    CF_TEST(test_site_helper_names_itself_not_its_caller);
    CF_TEST(test_site_rethrow_names_both_places);
    CF_TEST(test_site_rethrow_keeps_the_causes);
    CF_TEST(test_site_no_debug_info_gives_a_symbol);
    CF_TEST(test_site_unknown_address_gives_the_address);
    return CF_TEST_END();
}
