/*
 * ghibli: the Studio Ghibli API as CSV, written with Calcifer (docs/ghibli.1).
 *
 *   ghibli films [-o FILE] [--fields a,b,...] [--url URL | --offline]
 *                [--style callbacks|promises|async] [--timeout SECONDS]
 *   ghibli people|locations|species|vehicles ...     the same for the other resources
 *   ghibli people --with films [--concurrency N]     look up the URLs inside each record
 *   ghibli serve [--port N] [--workers N [--balance]] run the bundled API stand-in
 *   --trace FILE (every command): a Chrome trace of the loop (calcifer/trace.h)
 *
 * This file reads the command line into a ghibli_job (ghibli.h), starts the style asked for,
 * runs the loop, and turns the job's outcome into a one-line message and an exit status:
 *
 *   0 success            4 host not found       8 body is not JSON
 *   1 other failure      5 cannot connect       9 body is not a JSON array
 *   2 usage error        6 timed out           10 output cannot be written
 *   3 bad URL            7 HTTP status not 2xx
 *
 * --offline starts the stand-in (offline.c) on 127.0.0.1 in this process and fetches from it
 * over HTTP; it is closed when the job is done, so the loop ends by itself.
 *
 * serve --workers N runs N loops on N threads, each with its own server on the same port
 * (≈ Node's cluster): SO_REUSEPORT, or one shared socket with balanced accepts (--balance).
 * Every loop watches SIGINT and SIGTERM itself (the signal registry wakes every loop that
 * watches a signal) and closes its server gracefully; the threads are then joined.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <pthread.h>

#include "ghibli.h"
#include "offline.h"

#define PUBLIC_API "https://ghibliapi.vercel.app"

#define MAX_WORKERS 64 /* serve --workers: a bound, well above the cores of today's machines */

enum exit_status {
    EXIT_OK = 0,
    EXIT_FAILURE_OTHER = 1,
    EXIT_USAGE = 2,
    EXIT_BAD_URL = 3,
    EXIT_NOT_FOUND = 4,
    EXIT_CONNECT = 5,
    EXIT_TIMEOUT = 6,
    EXIT_HTTP_STATUS = 7,
    EXIT_NOT_JSON = 8,
    EXIT_NOT_ARRAY = 9,
    EXIT_OUTPUT = 10
};

/*
 * The API's resources, the columns written when --fields is not given, and the query of the
 * default URL: the API returns 50 records unless asked for more (250 at most), and people
 * has more than 50.
 */
static const struct resource {
    const char *name;
    const char *columns;
    const char *query;
} resources[] = {
    {"films", "title,release_date", ""},
    {"people", "name,gender,age", "?limit=250"},
    {"locations", "name,climate,terrain", "?limit=250"},
    {"species", "name,classification", "?limit=250"},
    {"vehicles", "name,vehicle_class,length", "?limit=250"},
};

static const char usage_text[] =
    "Usage: ghibli RESOURCE [options]     write the API's RESOURCE as CSV\n"
    "       ghibli serve [--port N] [--workers N [--balance]]\n"
    "                                      serve the bundled API on 127.0.0.1\n"
    "       ghibli --help | --version\n"
    "\n"
    "RESOURCE is films, people, locations, species or vehicles.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE      write to FILE, replaced atomically ('-': standard output)\n"
    "  -f, --fields LIST      columns: comma-separated keys or paths (a.b, list[0]);\n"
    "                         default: films title,release_date; people name,gender,age;\n"
    "                         locations name,climate,terrain; species name,classification;\n"
    "                         vehicles name,vehicle_class,length\n"
    "  -u, --url URL          the list to fetch (default " PUBLIC_API "/RESOURCE)\n"
    "      --offline          fetch from the bundled API, started on 127.0.0.1 in-process\n"
    "  -s, --style STYLE      callbacks, promises or async (default async): same output\n"
    "  -w, --with LIST        look up the URLs in these fields, one row per record with\n"
    "                         their titles or names joined by \"; \" (e.g. --with films);\n"
    "                         written in the async style only: not with --style\n"
    "                         callbacks or promises\n"
    "  -j, --concurrency N    at most N lookups at once with --with (default 8)\n"
    "  -t, --timeout SECONDS  give up on a request after SECONDS (default 30; 0: never)\n"
    "  -m, --max-body SIZE    refuse a body larger than SIZE bytes (suffix k, M or G for\n"
    "                         KiB, MiB, GiB; default 64M); lookups of --with too\n"
    "      --csv-guard        prefix a ' to fields starting with = + - @ TAB or CR, so a\n"
    "                         spreadsheet shows them as text, not formulas\n"
    "  -p, --port N           serve: the port (default 8080; 0 picks a free one)\n"
    "      --workers N        serve: N event loops on N threads share the port (1 to 64,\n"
    "                         default 1); with 2 or more (or --balance), prints\n"
    "                         WORKER k CONNECTIONS n for each worker on exit\n"
    "      --balance          serve: the workers share one socket and accept in turn by\n"
    "                         their open connections (default: SO_REUSEPORT's spread)\n"
    "      --trace FILE       write a Chrome trace of the event loop to FILE (open it in\n"
    "                         Perfetto; scripts/trace2svg.py draws it); SIGUSR2 flushes\n"
    "  -h, --help             show this help\n"
    "  -V, --version          show the version\n"
    "\n"
    "Exit status: 0 ok, 1 other failure, 2 usage, 3 bad URL, 4 host not found,\n"
    "5 cannot connect, 6 timed out, 7 HTTP status not 2xx, 8 body not JSON,\n"
    "9 body not a JSON array, 10 output not writable. See ghibli(1).\n";

/* ---- messages ---- */

static int use_color(void)
{
    const char *no_color = getenv("NO_COLOR");
    return isatty(STDERR_FILENO) && !(no_color && *no_color);
}

/*
 * The length of the valid UTF-8 sequence at `p` (2 to 4 bytes: no overlong form, no
 * surrogate, nothing past U+10FFFF), or 0 when the bytes there are not one.
 */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (n && (p[1] < lo || p[1] > hi))
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

/*
 * Write `s` to stderr safe for a terminal and on one line: control bytes (C0, DEL and the
 * UTF-8 C1 controls) become \r, \n, \t or \xNN, so do the bytes that are not part of valid
 * UTF-8 (a raw 0x9b is the 8-bit CSI to some terminals), and the credentials of any URL in it
 * ("scheme://user:password@host") become "***". Messages carry text from the network and
 * from the command line; neither may move the cursor, retitle the window or leak a password.
 */
static void put_safe(const char *s)
{
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            const char *auth = p + 3;
            size_t len = strcspn(auth, "/?#");
            const char *at = memchr(auth, '@', len);
            while (at && memchr(at + 1, '@', len - (size_t)(at + 1 - auth)))
                at = memchr(at + 1, '@', len - (size_t)(at + 1 - auth));
            if (at) {
                fputs("://***", stderr);
                p = at - 1;
                continue;
            }
        }
        size_t n = c >= 0x80 ? utf8_len((const unsigned char *)p) : 1;
        if (c == '\r' || c == '\n' || c == '\t') {
            fprintf(stderr, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
        } else if (c < 0x20 || c == 0x7f || n == 0) {
            fprintf(stderr, "\\x%02x", c);
        } else if (c == 0xc2 && (unsigned char)p[1] <= 0x9f) {
            fprintf(stderr, "\\xc2\\x%02x", (unsigned char)*++p);
        } else {
            fwrite(p, 1, n, stderr);
            p += n - 1;
        }
    }
}

static void say(const char *message)
{
    fputs(use_color() ? "\033[1;31mghibli:\033[0m " : "ghibli: ", stderr);
    put_safe(message);
    fputc('\n', stderr);
}

static int usage_error(const char *what, const char *arg)
{
    char message[512];
    snprintf(message, sizeof message, "%s%s%s%s (try 'ghibli --help')", what, arg ? " '" : "",
             arg ? arg : "", arg ? "'" : "");
    say(message);
    return EXIT_USAGE;
}

/* ---- the command line ---- */

typedef struct options {
    const char *output;
    const char *fields;
    int nfields_options; /* how many times --fields was given */
    const char *url;
    const char *with;
    const char *style;
    int offline;
    unsigned concurrency;
    double timeout_s;
    size_t max_body;
    int csv_guard;
    int port;
    unsigned workers;  /* serve --workers: loops (threads) sharing the port; 0: not given */
    int balance;       /* serve --balance: one shared socket, balanced accepts */
    const char *trace; /* --trace FILE: Chrome trace of the loop (calcifer/trace.h) */
} options;

/*
 * Split a comma-separated list into `*items` (pointers into `*text`, a copy the caller frees
 * along with `*items`), with room for `extra` more items. CF_EINVAL for an empty item.
 */
static int split_list(const char *list, size_t extra, char **text, const char ***items, size_t *n)
{
    *text = strdup(list);
    *items = calloc(strlen(list) + 1 + extra, sizeof **items);
    *n = 0;
    if (!*text || !*items)
        return CF_ENOMEM;
    for (char *p = *text;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return CF_EINVAL;
        (*items)[(*n)++] = p;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* A size: digits, then optionally k, M or G (KiB, MiB, GiB; "Ki", "MiB" too), 1 B to 1024 GiB. */
static int parse_size(const char *s, size_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    const char *rest = shift ? end + 1 : end;
    if (shift && (strcmp(rest, "i") == 0 || strcmp(rest, "iB") == 0))
        rest += strlen(rest);
    if (*rest || v == 0 || v > (1ull << 40) >> shift)
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_unsigned(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Read the options after the command word; returns EXIT_OK or a usage error status. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option long_opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"fields", required_argument, NULL, 'f'},
        {"url", required_argument, NULL, 'u'},
        {"offline", no_argument, NULL, 'O'},
        {"style", required_argument, NULL, 's'},
        {"with", required_argument, NULL, 'w'},
        {"concurrency", required_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"max-body", required_argument, NULL, 'm'},
        {"csv-guard", no_argument, NULL, 'G'},
        {"trace", required_argument, NULL, 'T'},
        {"workers", required_argument, NULL, 'W'},
        {"balance", no_argument, NULL, 'B'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":o:f:u:s:w:j:t:m:p:hV", long_opts, NULL);
        if (c == -1)
            break;
        unsigned long n;
        char *end;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            o->fields = optarg;
            o->nfields_options++;
            break;
        case 'u':
            o->url = optarg;
            break;
        case 'O':
            o->offline = 1;
            break;
        case 's':
            o->style = optarg;
            break;
        case 'w':
            o->with = optarg;
            break;
        case 'j':
            if (parse_unsigned(optarg, 1024, &n) != 0 || n == 0)
                return usage_error("--concurrency wants a number from 1 to 1024, not", optarg);
            o->concurrency = (unsigned)n;
            break;
        case 't':
            o->timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || !(o->timeout_s >= 0) || o->timeout_s > 86400)
                return usage_error("--timeout wants seconds (0 <= s <= 86400; 0: never), not",
                                   optarg);
            break;
        case 'm':
            if (parse_size(optarg, &o->max_body) != 0)
                return usage_error(
                    "--max-body wants a size from 1 to 1024G bytes (e.g. 512k, 64M), not", optarg);
            break;
        case 'G':
            o->csv_guard = 1;
            break;
        case 'T':
            o->trace = optarg;
            break;
        case 'W':
            if (parse_unsigned(optarg, MAX_WORKERS, &n) != 0 || n == 0)
                return usage_error("--workers wants a number from 1 to 64, not", optarg);
            o->workers = (unsigned)n;
            break;
        case 'B':
            o->balance = 1;
            break;
        case 'p':
            if (parse_unsigned(optarg, 65535, &n) != 0)
                return usage_error("--port wants a number from 0 to 65535, not", optarg);
            o->port = (int)n;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(EXIT_OK);
        case 'V':
            printf("ghibli %s (calcifer %s)\n", CF_VERSION_STRING, cf_version());
            exit(EXIT_OK);
        case ':':
            return usage_error("missing value for", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    return EXIT_OK;
}

/* ---- fetching a resource ---- */

typedef struct run {
    ghibli_job job;
    ghibli_offline *offline;
    int finished;
    char *columns_text; /* what job->columns and job->with point into */
    char *with_text;
} run;

static void on_done(ghibli_job *job)
{
    run *r = job->data;
    r->finished = 1;
    if (r->offline) {
        ghibli_offline_stop(r->offline);
        r->offline = NULL;
    }
}

static int exit_status(const ghibli_job *job)
{
    if (job->status == 0)
        return EXIT_OK;
    if (job->failed_at == GHIBLI_SHAPE)
        return EXIT_NOT_ARRAY;
    if (job->failed_at == GHIBLI_WRITE)
        return EXIT_OUTPUT;
    switch (job->status) {
    case CF_EURL:
        return EXIT_BAD_URL;
    case CF_ENOTFOUND:
    case CF_EDNSAGAIN:
        return EXIT_NOT_FOUND;
    case CF_ECONNREFUSED:
    case CF_ECONNRESET:
    case CF_ECONNABORTED:
    case CF_EHOSTUNREACH:
    case CF_ENETUNREACH:
    case CF_ENETDOWN:
    case CF_EADDRNOTAVAIL:
    case CF_ETLS:
    case CF_EBADRESP:
    case CF_EPROTO:
        return EXIT_CONNECT;
    case CF_ETIMEDOUT:
        return EXIT_TIMEOUT;
    case CF_EHTTP:
    case CF_EREDIRECTS:
        return EXIT_HTTP_STATUS;
    case CF_EPARSE:
    case CF_ETOOBIG:
        return EXIT_NOT_JSON;
    default:
        return EXIT_FAILURE_OTHER;
    }
}

static const struct resource *find_resource(const char *name)
{
    for (size_t i = 0; i < sizeof resources / sizeof resources[0]; i++) {
        if (strcmp(resources[i].name, name) == 0)
            return &resources[i];
    }
    return NULL;
}

/* The columns: --fields (or the resource's), then any --with field not among them. */
static int make_columns(const options *o, const struct resource *res, run *r)
{
    ghibli_job *job = &r->job;
    if (o->with) {
        int rc = split_list(o->with, 0, &r->with_text, &job->with, &job->nwith);
        if (rc < 0)
            return rc;
    }
    int rc = split_list(o->fields ? o->fields : res->columns, job->nwith, &r->columns_text,
                        &job->columns, &job->ncolumns);
    for (size_t w = 0; rc == 0 && w < job->nwith; w++) {
        size_t c = 0;
        while (c < job->ncolumns && strcmp(job->columns[c], job->with[w]) != 0)
            c++;
        if (c == job->ncolumns) {
            job->columns[job->ncolumns++] = job->with[w];
            job->nwith_added++;
        }
    }
    return rc;
}

static int ignore_element(cf_json *item, size_t index, void *data)
{
    (void)item, (void)index, (void)data;
    return 0;
}

/*
 * Check the --fields columns: each must be a well-formed path (the library's path parser
 * says so) without blanks around it, which would silently select nothing. Returns EXIT_OK or
 * the usage error's status, after saying which column is wrong.
 */
static int check_columns(const ghibli_job *job, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        const char *col = job->columns[c];
        size_t len = strlen(col);
        char message[600];
        if (strchr(" \t", col[0]) || strchr(" \t", col[len - 1])) {
            snprintf(message, sizeof message,
                     "--fields: blank around '%.400s' (no spaces after commas; write a key "
                     "with spaces as [\"key\"])",
                     col);
            return usage_error(message, NULL);
        }
        cf_json_select *sel = NULL;
        int rc = cf_json_select_new(&sel, col, NULL, ignore_element, NULL);
        cf_json_select_free(sel);
        if (rc == CF_EINVAL) {
            snprintf(message, sizeof message,
                     "--fields: malformed path '%.400s' (keys a.b, indexes a[0], other keys "
                     "[\"k\"])",
                     col);
            return usage_error(message, NULL);
        }
        if (rc < 0) {
            say(cf_strerror(rc));
            return EXIT_FAILURE_OTHER;
        }
    }
    return EXIT_OK;
}

static int start_offline(run *r, const struct resource *res, char *url, size_t url_len)
{
    cf_error *error = NULL;
    /* The records' URLs name the public API, not this run's port: the same bytes every run. */
    int rc = ghibli_offline_start(r->job.loop, 0, PUBLIC_API, &r->offline, &error);
    if (rc < 0) {
        say(error ? error->message : cf_strerror(rc));
        cf_error_free(error);
        return rc;
    }
    snprintf(url, url_len, "http://127.0.0.1:%d/%s%s", ghibli_offline_port(r->offline), res->name,
             res->query);
    return 0;
}

static int report(run *r)
{
    ghibli_job *job = &r->job;
    if (!r->finished) {
        say("out of memory: the job could not run to its end");
        return EXIT_FAILURE_OTHER;
    }
    if (job->status == 0)
        return EXIT_OK;
    const char *message = job->error ? job->error->message : cf_strerror(job->status);
    if (job->status == CF_ETOOBIG && job->failed_at == GHIBLI_FETCH) {
        char hinted[1024];
        snprintf(hinted, sizeof hinted, "%s; --max-body raises it", message);
        say(hinted);
    } else {
        say(message);
    }
    return exit_status(job);
}

/*
 * Check, before anything is opened, that the output is a descriptor ghibli was given: the
 * library writes /dev/fd/N, /dev/stdout and the like through the descriptor N open at the
 * time of the write, and one that is closed now would by then be one of the loop's own.
 * Returns EXIT_OK, or EXIT_OUTPUT after saying what is wrong.
 */
static int check_output(const char *output)
{
    static const char *const std_names[] = {"standard input", "standard output", "standard error"};
    int fd = output ? cf_fs_descriptor_path(output) : STDOUT_FILENO;
    if (fd < 0 || fcntl(fd, F_GETFD) >= 0)
        return EXIT_OK;
    char message[600];
    if (!output)
        snprintf(message, sizeof message, "standard output is closed (give -o FILE)");
    else if (fd <= STDERR_FILENO)
        snprintf(message, sizeof message, "-o %.400s: %s is closed (descriptor %d)", output,
                 std_names[fd], fd);
    else
        snprintf(message, sizeof message, "-o %.400s: bad file descriptor (not open)", output);
    say(message);
    return EXIT_OUTPUT;
}

static int cmd_fetch(const struct resource *res, int argc, char **argv)
{
    options o = {.concurrency = 8, .timeout_s = 30, .max_body = (size_t)64 << 20};
    int status = parse_options(argc, argv, &o);
    if (status != EXIT_OK)
        return status;
    if (o.offline && o.url)
        return usage_error("--offline and --url do not go together", NULL);
    if (o.workers || o.balance)
        return usage_error("--workers and --balance go with serve only", NULL);
    if (o.nfields_options > 1)
        return usage_error("--fields given more than once (give one comma-separated list)", NULL);
    if (o.with && o.style && strcmp(o.style, "async") != 0)
        return usage_error("--with is written in the async style only, not", o.style);
    void (*start)(ghibli_job *) = ghibli_films_async;
    if (o.with)
        start = ghibli_fanout;
    else if (o.style && strcmp(o.style, "callbacks") == 0)
        start = ghibli_films_callbacks;
    else if (o.style && strcmp(o.style, "promises") == 0)
        start = ghibli_films_promises;
    else if (o.style && strcmp(o.style, "async") != 0)
        return usage_error("--style is callbacks, promises or async, not", o.style);

    run r = {0};
    ghibli_job *job = &r.job;
    status = make_columns(&o, res, &r);
    if (status == CF_EINVAL) {
        status = usage_error("an empty name in --fields or --with", NULL);
    } else if (status < 0) {
        say(cf_strerror(status));
        status = EXIT_FAILURE_OTHER;
    }
    for (size_t w = 0; status == 0 && w < job->nwith; w++) {
        if (strpbrk(job->with[w], ".[] \t"))
            status = usage_error("--with takes names of top-level fields, not", job->with[w]);
    }
    if (status == 0)
        status = check_columns(job, job->ncolumns - job->nwith_added);
    job->output = o.output && strcmp(o.output, "-") != 0 ? o.output : NULL;
    if (status == 0)
        status = check_output(job->output);
    if (status != 0)
        goto out;
    job->concurrency = o.concurrency;
    job->progress = isatty(STDERR_FILENO);
    job->color = use_color();
    /* --timeout 0: no limit of ours (≈ Node, which waits forever); the connect timeout is
     * then the longest curl takes, and the system's own TCP timeout applies first. */
    job->http.timeout_ms = (uint64_t)(o.timeout_s * 1000);
    job->http.connect_timeout_ms = o.timeout_s > 0 ? job->http.timeout_ms : 0x7fffffff;
    job->http.max_body = o.max_body;
    job->csv_flags = o.csv_guard ? CF_CSV_FORMULA_GUARD : 0;
    job->done = on_done;
    job->data = &r;
    if (cf_loop_new(&job->loop) != 0) {
        say(cf_strerror(CF_ENOMEM));
        status = EXIT_FAILURE_OTHER;
        goto out;
    }
    if (o.trace) /* a file that cannot be written is reported; the command runs untraced */
        (void)cf_trace_start(job->loop, o.trace, 0);
    char url[4096];
    if (o.offline) {
        if (start_offline(&r, res, url, sizeof url) < 0) {
            status = EXIT_FAILURE_OTHER;
            cf_loop_close(job->loop);
            goto out;
        }
    } else if (o.url) {
        snprintf(url, sizeof url, "%s", o.url);
    } else {
        snprintf(url, sizeof url, "%s/%s%s", PUBLIC_API, res->name, res->query);
    }
    job->url = url;
    /*
     * A signal that ends ghibli while -o FILE is being written removes FILE.tmp-XXXXXX first.
     * Installed after --offline's server, whose sockets have made SIGPIPE ignored by then.
     */
    cf_fs_temp_cleanup_on_signals();
    start(job);
    int rc = cf_run(job->loop, CF_RUN_DEFAULT);
    int closed = cf_loop_close(job->loop);
    status = report(&r);
    if (status == EXIT_OK && (rc < 0 || closed != 0)) {
        say(cf_strerror(rc < 0 ? rc : closed));
        status = EXIT_FAILURE_OTHER;
    }
out:
    cf_error_free(job->error);
    free(job->columns);
    free(job->with);
    free(r.columns_text);
    free(r.with_text);
    return status;
}

/* ---- serving ---- */

typedef struct serving {
    ghibli_offline *server;
    cf_signal *sigint;
    cf_signal *sigterm;
    size_t accepted; /* connections the server accepted, noted when it stops */
} serving;

static void on_stop_signal(cf_signal *sig, int signum, void *data)
{
    (void)sig, (void)signum;
    serving *s = data;
    s->accepted = ghibli_offline_accepted(s->server);
    ghibli_offline_stop(s->server);
    cf_signal_close(s->sigint, NULL, NULL);
    cf_signal_close(s->sigterm, NULL, NULL);
}

/* ---- serving on several loops (--workers N) ---- */

typedef struct cluster cluster;

typedef struct worker {
    cluster *cl;
    unsigned index;
    pthread_t thread;
    serving s;
    int failed; /* it could not start serving (said why) */
} worker;

struct cluster {
    const options *o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int port;         /* bound by worker 0; the others join it */
    unsigned settled; /* workers serving or failed */
    unsigned failed;
    cf_http_balancer *balancer; /* --balance; NULL: SO_REUSEPORT */
    worker w[MAX_WORKERS];
};

/* Start worker `w`'s server and signal watchers on `loop`; 0 or -1 after saying why. */
static int worker_start(worker *w, cf_loop *loop, int port)
{
    cluster *cl = w->cl;
    cf_http_server_opts http = {0};
    if (cl->balancer) {
        http.balancer = cl->balancer;
        http.balancer_index = w->index;
    } else {
        http.flags = CF_HTTP_SERVER_REUSEPORT;
    }
    cf_error *error = NULL;
    int rc = ghibli_offline_start_http(loop, port, NULL, &http, &w->s.server, &error);
    if (rc < 0) {
        say(error ? error->message : cf_strerror(rc));
        cf_error_free(error);
        return -1;
    }
    if (cf_signal_new(loop, &w->s.sigint) != 0 || cf_signal_new(loop, &w->s.sigterm) != 0 ||
        cf_signal_start(w->s.sigint, SIGINT, on_stop_signal, &w->s) != 0 ||
        cf_signal_start(w->s.sigterm, SIGTERM, on_stop_signal, &w->s) != 0) {
        say("cannot watch SIGINT and SIGTERM");
        on_stop_signal(NULL, 0, &w->s);
        return -1;
    }
    return 0;
}

/* Worker 0 binds --port; the others wait for its port (-1: it failed) and join it. */
static int worker_port(worker *w)
{
    cluster *cl = w->cl;
    if (w->index == 0)
        return cl->o->port;
    pthread_mutex_lock(&cl->mu);
    while (cl->port == 0 && cl->failed == 0) {
        pthread_cond_wait(&cl->cv, &cl->mu);
    }
    int port = cl->port ? cl->port : -1;
    pthread_mutex_unlock(&cl->mu);
    return port;
}

static void worker_settle(worker *w, int port)
{
    cluster *cl = w->cl;
    pthread_mutex_lock(&cl->mu);
    cl->settled++;
    if (w->failed)
        cl->failed++;
    else if (w->index == 0)
        cl->port = port;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
}

/* A worker's thread: its own loop, its own server, until SIGINT or SIGTERM closes it. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    int port = worker_port(w);
    cf_loop *loop = NULL;
    if (port < 0 || cf_loop_new(&loop) != 0) {
        w->failed = 1;
        worker_settle(w, 0);
        return NULL;
    }
    if (w->index == 0 && w->cl->o->trace) /* the first loop's trace only: one file, one loop */
        (void)cf_trace_start(loop, w->cl->o->trace, 0);
    w->failed = worker_start(w, loop, port) < 0;
    worker_settle(w, w->failed ? 0 : ghibli_offline_port(w->s.server));
    if (cf_run(loop, CF_RUN_DEFAULT) < 0)
        w->failed = 1;
    cf_loop_close(loop);
    return NULL;
}

/*
 * Wait for every worker to serve or fail. When one failed, the others are stopped as a
 * signal would (each loop watches SIGTERM: a process-directed signal reaches every one).
 */
static int cluster_wait_ready(cluster *cl, unsigned started)
{
    pthread_mutex_lock(&cl->mu);
    while (cl->settled < started) {
        pthread_cond_wait(&cl->cv, &cl->mu);
    }
    int failed = cl->failed || started < cl->o->workers;
    unsigned up = started - cl->failed;
    pthread_mutex_unlock(&cl->mu);
    if (failed && up > 0)
        kill(getpid(), SIGTERM);
    return failed ? -1 : 0;
}

static int serve_workers(const options *o)
{
    cluster *cl = calloc(1, sizeof *cl);
    if (!cl || (o->balance && cf_http_balancer_new(o->workers, 0, &cl->balancer) != 0)) {
        say(cf_strerror(CF_ENOMEM));
        free(cl);
        return EXIT_FAILURE_OTHER;
    }
    cl->o = o;
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cv, NULL);
    unsigned started = 0;
    for (; started < o->workers; started++) {
        cl->w[started].cl = cl;
        cl->w[started].index = started;
        if (pthread_create(&cl->w[started].thread, NULL, worker_main, &cl->w[started]) != 0) {
            say("cannot start a worker thread");
            break;
        }
    }
    int status = cluster_wait_ready(cl, started) < 0 ? EXIT_FAILURE_OTHER : EXIT_OK;
    if (status == EXIT_OK) {
        printf("PORT %d\n", cl->port);
        fflush(stdout);
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(cl->w[i].thread, NULL);
        if (cl->w[i].failed)
            status = EXIT_FAILURE_OTHER;
    }
    for (unsigned i = 0; status == EXIT_OK && i < started; i++) {
        printf("WORKER %u CONNECTIONS %zu\n", i, cl->w[i].s.accepted);
    }
    fflush(stdout);
    cf_http_balancer_free(cl->balancer);
    pthread_cond_destroy(&cl->cv);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
    return status;
}

static int cmd_serve(int argc, char **argv)
{
    options o = {.port = 8080};
    int status = parse_options(argc, argv, &o);
    if (status != EXIT_OK)
        return status;
    if (o.output || o.fields || o.url || o.with || o.style || o.offline || o.max_body ||
        o.csv_guard)
        return usage_error("serve takes only --port, --workers, --balance and --trace", NULL);
    if (o.workers > 1 || o.balance) {
        o.workers = o.workers ? o.workers : 1;
        return serve_workers(&o);
    }
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return EXIT_FAILURE_OTHER;
    if (o.trace) /* flushed when the server stops, or on SIGUSR2 while it runs */
        (void)cf_trace_start(loop, o.trace, 0);
    serving s = {0};
    cf_error *error = NULL;
    int rc = ghibli_offline_start(loop, o.port, NULL, &s.server, &error);
    if (rc < 0) {
        say(error ? error->message : cf_strerror(rc));
        cf_error_free(error);
        cf_loop_close(loop);
        return EXIT_FAILURE_OTHER;
    }
    if (cf_signal_new(loop, &s.sigint) != 0 || cf_signal_new(loop, &s.sigterm) != 0 ||
        cf_signal_start(s.sigint, SIGINT, on_stop_signal, &s) != 0 ||
        cf_signal_start(s.sigterm, SIGTERM, on_stop_signal, &s) != 0) {
        say("cannot watch SIGINT and SIGTERM");
        return EXIT_FAILURE_OTHER;
    }
    int port = ghibli_offline_port(s.server);
    printf("PORT %d\n", port);
    fflush(stdout);
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr,
                "ghibli: serving the Studio Ghibli API on http://127.0.0.1:%d/films "
                "(Ctrl-C stops it)\n",
                port);
    }
    rc = cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return rc < 0 ? EXIT_FAILURE_OTHER : EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("which resource?", NULL);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ghibli %s (calcifer %s)\n", CF_VERSION_STRING, cf_version());
        return EXIT_OK;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    const struct resource *res = find_resource(cmd);
    if (!res)
        return usage_error("unknown resource or command", cmd);
    return cmd_fetch(res, argc - 1, argv + 1);
}
