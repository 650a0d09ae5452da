/*
 * `ghibli <resource> --with FIELD[,FIELD...]`: fan-out, the case async/await exists for.
 *
 * The records of the API point at each other by URL (a person's `films`, a film's
 * `species`). For every field named with --with, this gathers the URLs found in that field
 * of every record (a string or an array of strings), looks each distinct one up once, with
 * at most `job->concurrency` requests in flight, and writes one row per record in which the
 * field's column holds what its URLs name, joined by "; " in the order the URLs appear: a
 * film by its title, anything else by its name (or id). Written in async/await:
 *
 *   async function fanout(job) {
 *       const list = await getJson(job.url);
 *       const urls = distinctUrls(list, job.with);
 *       await Promise.all(workers(job.concurrency, async () => {   // a task group
 *           while (next < urls.length) {
 *               const url = urls[next++];
 *               labels[url] = label(await getJson(url));
 *           }
 *       }));
 *       writeRows(list.map(record => withLabels(record)));
 *   }
 *
 * Which URLs are looked up: a URL is requested from the host that served the list (the
 * API's records name its historical public host, which a local or offline server stands in
 * for), with the URL's own path. Entries that name no single record, the API's placeholders
 * ".../people/" and "TODO/", are left out of the join. The first lookup that fails fails the
 * job and cancels the others (the group's fail-fast rule); nothing is written then.
 *
 * Data structure: `targets`, the distinct URLs in order of first appearance, each with its
 * label once resolved; `next` is the index the next free worker takes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghibli.h"

typedef struct target {
    char *url;   /* as requested */
    char *label; /* what it names, once resolved */
} target;

typedef struct fanout {
    ghibli_job *job;
    target *targets;
    size_t ntargets;
    size_t cap;
    size_t next;     /* next target to look up */
    size_t resolved; /* targets looked up so far */
    size_t origin;   /* length of "scheme://host:port" at the start of job->url */
} fanout;

/* ---- URLs ---- */

/* Length of "scheme://authority" at the start of `url`, or 0 for no http(s) URL. */
static size_t origin_len(const char *url)
{
    const char *rest;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return 0;
    return (size_t)(rest - url) + strcspn(rest, "/?#");
}

/*
 * The URL to request for an entry found in a record: the list's origin and the entry's path.
 * NULL (and *skip set) when the entry names no single record; NULL alone on exhaustion.
 */
static char *request_url(const fanout *fo, const char *entry, int *skip)
{
    size_t o = origin_len(entry);
    const char *path = entry + o;
    size_t len = strlen(path);
    *skip = o == 0 || len < 2 || path[len - 1] == '/';
    if (*skip)
        return NULL;
    char *url = malloc(fo->origin + len + 1);
    if (url) {
        memcpy(url, fo->job->url, fo->origin);
        memcpy(url + fo->origin, path, len + 1);
    }
    return url;
}

/* The index of `url` in the targets, added if new (the targets then own it). */
static int add_target(fanout *fo, char *url)
{
    for (size_t i = 0; i < fo->ntargets; i++) {
        if (strcmp(fo->targets[i].url, url) == 0) {
            free(url);
            return 0;
        }
    }
    if (fo->ntargets == fo->cap) {
        size_t cap = fo->cap ? 2 * fo->cap : 32;
        target *t = realloc(fo->targets, cap * sizeof *t);
        if (!t) {
            free(url);
            return CF_ENOMEM;
        }
        fo->targets = t;
        fo->cap = cap;
    }
    fo->targets[fo->ntargets++] = (target){url, NULL};
    return 0;
}

/* The target for an entry, or NULL when it is skipped or unknown. */
static const target *find_target(const fanout *fo, const char *entry)
{
    int skip;
    char *url = request_url(fo, entry, &skip);
    const target *found = NULL;
    for (size_t i = 0; url && i < fo->ntargets; i++) {
        if (strcmp(fo->targets[i].url, url) == 0)
            found = &fo->targets[i];
    }
    free(url);
    return found;
}

/* Add the URLs of one field value: a string or an array of strings. */
static int collect_value(fanout *fo, const cf_json *value)
{
    size_t n = cf_json_type_of(value) == CF_JSON_ARRAY ? cf_json_size(value) : 1;
    for (size_t i = 0; i < n; i++) {
        const cf_json *v = cf_json_type_of(value) == CF_JSON_ARRAY ? cf_json_at(value, i) : value;
        const char *entry = cf_json_string(v, NULL);
        if (!entry)
            continue;
        int skip;
        char *url = request_url(fo, entry, &skip);
        if (!url && !skip)
            return CF_ENOMEM;
        if (url && add_target(fo, url) < 0)
            return CF_ENOMEM;
    }
    return 0;
}

static int collect(fanout *fo, const cf_json *list)
{
    for (size_t r = 0; r < cf_json_size(list); r++) {
        for (size_t w = 0; w < fo->job->nwith; w++) {
            int rc = collect_value(fo, cf_json_get(cf_json_at(list, r), fo->job->with[w]));
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- lookups ---- */

/* What a record is called: a film's title, else a name, else an id, else its JSON. */
static char *label_of(const cf_json *v)
{
    static const char *const keys[] = {"title", "name", "id"};
    if (cf_json_type_of(v) == CF_JSON_STRING)
        return strdup(cf_json_string(v, NULL));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s = cf_json_string(cf_json_get(v, keys[i]), NULL);
        if (s)
            return strdup(s);
    }
    char *text = NULL;
    if (cf_json_stringify(v, CF_JSON_COMPACT, &text, NULL) != 0)
        return NULL;
    char *copy = strdup(text);
    cf_free(text);
    return copy;
}

static void draw_progress(const fanout *fo)
{
    if (!fo->job->progress)
        return;
    enum { WIDTH = 30 };
    static const char bar[] = "##############################";
    static const char rest[] = "------------------------------";
    int done = (int)(fo->ntargets ? fo->resolved * WIDTH / fo->ntargets : WIDTH);
    fprintf(stderr, "\rlooking up [%s%.*s%s%.*s] %zu/%zu", fo->job->color ? "\033[32m" : "", done,
            bar, fo->job->color ? "\033[0m" : "", WIDTH - done, rest, fo->resolved, fo->ntargets);
    if (fo->resolved == fo->ntargets)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* ---- one lookup, streamed ---- */

enum { LABEL_TITLE, LABEL_NAME, LABEL_ID, LABEL_KEYS };

/* A body this small is also kept whole, for a record that has no title, name or id. */
#define KEEP_MAX 65536

/*
 * A lookup's body goes through a push parser as it arrives, and only what can name the
 * record is kept: its top-level "title", "name" and "id" strings (the last of each, as
 * cf_json_get finds), a top-level string, and the first KEEP_MAX bytes. So a lookup holds
 * the parser's scratch plus KEEP_MAX bytes however large the body is (at most --max-body):
 * no body buffer and no tree. The scratch bounds the longest string as cf_json_parse does
 * (CF_JSON_DEFAULT_MAX_STRING); it is allocated untouched, so only what a string spanning
 * two chunks uses becomes resident.
 */
typedef struct lookup {
    cf_json_parser parser;
    char *scratch;
    int key; /* the label key whose value comes next, or -1 */
    char *found[LABEL_KEYS];
    char *scalar; /* a top-level string */
    char kept[KEEP_MAX];
    size_t kept_len;
    int kept_all; /* the whole body is in `kept` */
    int parse_failed;
} lookup;

static int on_lookup_event(const cf_json_event *ev, void *data)
{
    static const char *const keys[LABEL_KEYS] = {"title", "name", "id"};
    lookup *lk = data;
    char **slot = NULL;
    if (ev->depth == 0 && ev->kind == CF_JSON_EV_STRING)
        slot = &lk->scalar;
    if (ev->depth == 1 && ev->kind == CF_JSON_EV_STRING && lk->key >= 0)
        slot = &lk->found[lk->key];
    if (ev->depth == 1) {
        lk->key = -1;
        for (int k = 0; ev->kind == CF_JSON_EV_KEY && k < LABEL_KEYS; k++) {
            if (ev->len == strlen(keys[k]) && memcmp(ev->text, keys[k], ev->len) == 0)
                lk->key = k;
        }
    }
    if (!slot)
        return 0;
    free(*slot);
    *slot = strndup(ev->text, ev->len);
    return *slot ? 0 : CF_ENOMEM;
}

static int lookup_data(cf_http_req *req, const char *data, size_t len, void *ctx)
{
    (void)req;
    lookup *lk = ctx;
    if (lk->kept_all && len <= KEEP_MAX - lk->kept_len) {
        memcpy(lk->kept + lk->kept_len, data, len);
        lk->kept_len += len;
    } else {
        lk->kept_all = 0;
    }
    int rc = cf_json_parser_feed(&lk->parser, data, len);
    lk->parse_failed = rc < 0;
    return rc < 0 ? rc : 0;
}

/* What the record is called (a new string): label_of's choice, from what was kept. */
static char *lookup_label(const lookup *lk)
{
    for (int k = 0; k < LABEL_KEYS; k++) {
        if (lk->found[k])
            return strdup(lk->found[k]);
    }
    if (lk->scalar)
        return strdup(lk->scalar);
    cf_json *value = NULL;
    if (!lk->kept_all || cf_json_parse(lk->kept, lk->kept_len, NULL, &value, NULL) != 0)
        return strdup("(unnamed)");
    char *label = label_of(value);
    cf_json_free(value);
    return label;
}

static void lookup_free(lookup *lk)
{
    for (int k = 0; k < LABEL_KEYS; k++)
        free(lk->found[k]);
    free(lk->scalar);
    free(lk->scratch);
    free(lk);
}

/* Look `t` up and set its label. Returns 0 or a negative code (thrown with its message). */
static int lookup_one(cf_task *task, const fanout *fo, target *t)
{
    lookup *lk = calloc(1, sizeof *lk);
    char *scratch = malloc(CF_JSON_DEFAULT_MAX_STRING);
    if (!lk || !scratch) {
        free(lk);
        free(scratch);
        return CF_ENOMEM;
    }
    lk->scratch = scratch;
    lk->key = -1;
    lk->kept_all = 1;
    cf_json_parser_init(&lk->parser, on_lookup_event, lk, scratch, CF_JSON_DEFAULT_MAX_STRING);
    cf_http_options opts = fo->job->http;
    opts.signal = cf_task_signal(task); /* cancelled with the group */
    opts.flags |= CF_HTTP_FAIL_ON_STATUS;
    opts.on_data = lookup_data;
    opts.on_data_ctx = lk;
    int rc = cf_await(cf_http_request_p(cf_task_loop(task), t->url, &opts)).status;
    if (rc == 0 || lk->parse_failed) {
        int done = lk->parse_failed ? rc : cf_json_parser_finish(&lk->parser);
        if (done < 0)
            rc = cf_task_throw(
                task, CF_ERROR(done, "GET %s: %s", t->url, cf_json_parser_error(&lk->parser)));
    }
    if (rc == 0) {
        t->label = lookup_label(lk);
        rc = t->label ? 0 : CF_ENOMEM;
    }
    lookup_free(lk);
    return rc;
}

/* A worker of the group: takes the next target until none is left. */
static int lookup_worker(cf_task *task, void *arg)
{
    fanout *fo = arg;
    while (fo->next < fo->ntargets) {
        int rc = lookup_one(task, fo, &fo->targets[fo->next++]);
        if (rc < 0)
            return rc;
        fo->resolved++;
        draw_progress(fo);
    }
    return 0;
}

/* Look every target up, `concurrency` at a time. Returns 0 or the first failure's code. */
static int resolve_all(fanout *fo, cf_loop *loop, cf_error **error)
{
    cf_group *g;
    int rc = cf_group_new(loop, &g);
    if (rc < 0)
        return rc;
    size_t workers = fo->job->concurrency < fo->ntargets ? fo->job->concurrency : fo->ntargets;
    for (size_t i = 0; rc == 0 && i < workers; i++) {
        rc = cf_group_spawn(g, lookup_worker, fo);
    }
    int waited = cf_group_wait(g).status;
    if (rc == 0)
        rc = waited;
    if (rc < 0) {
        const cf_error *e = cf_group_error(g); /* NULL when the wait itself was cancelled */
        *error = e ? cf_error_copy(e) : NULL;
    }
    cf_group_close(g, NULL, NULL);
    if (fo->job->progress && rc < 0)
        fputs("\r\033[K", stderr);
    return rc;
}

/* ---- rows ---- */

/* The labels of one field value, joined by "; " (a new string). */
static char *joined(const fanout *fo, const cf_json *value)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    size_t n = cf_json_type_of(value) == CF_JSON_ARRAY ? cf_json_size(value) : 1;
    const char *sep = "";
    for (size_t i = 0; i < n; i++) {
        const cf_json *v = cf_json_type_of(value) == CF_JSON_ARRAY ? cf_json_at(value, i) : value;
        const char *entry = cf_json_string(v, NULL);
        const target *t = entry ? find_target(fo, entry) : NULL;
        if (t && t->label) {
            fprintf(f, "%s%s", sep, t->label);
            sep = "; ";
        }
    }
    fclose(f);
    return out;
}

/* A copy of `record` whose --with fields hold the joined labels. */
static cf_json *with_labels(const fanout *fo, const cf_json *record)
{
    cf_json *row = cf_json_clone(record);
    for (size_t w = 0; row && w < fo->job->nwith; w++) {
        const char *field = fo->job->with[w];
        char *text = joined(fo, cf_json_get(record, field));
        cf_json *value = text ? cf_json_new_string(text, strlen(text)) : NULL;
        free(text);
        if (!value || cf_json_object_set(row, field, strlen(field), value) < 0) {
            cf_json_free(row);
            row = NULL;
        }
    }
    return row;
}

static int to_stdout(const char *bytes, size_t len, void *data)
{
    (void)data;
    errno = 0;
    return fwrite(bytes, 1, len, stdout) == len ? 0 : ghibli_stdout_error();
}

static int write_rows(const fanout *fo, const cf_json *list, cf_csv_write_fn sink, void *ctx)
{
    ghibli_job *job = fo->job;
    cf_csv_writer csv;
    cf_csv_writer_init(&csv, job->csv_flags, sink, ctx);
    int rc = cf_csv_write_json_header(&csv, job->columns, job->ncolumns);
    for (size_t i = 0; rc == 0 && i < cf_json_size(list); i++) {
        cf_json *row = with_labels(fo, cf_json_at(list, i));
        rc = row ? cf_csv_write_json_record(&csv, row, job->columns, job->ncolumns) : CF_ENOMEM;
        cf_json_free(row);
        job->rows += rc == 0;
    }
    return rc;
}

/* ---- the task ---- */

/* The caught error, to keep: a copy of the failed await's (NULL when there is none). */
static cf_error *copy_error(const cf_error *error)
{
    return error ? cf_error_copy(error) : NULL;
}

static int fanout_task(cf_task *task, void *arg)
{
    fanout *fo = arg;
    ghibli_job *job = fo->job;
    cf_loop *loop = cf_task_loop(task);
    ghibli_stage stage = GHIBLI_FETCH;
    cf_error *thrown = NULL;

    /* The list must outlive the lookups' awaits: keep a reference of our own. */
    cf_promise *fetching = cf_promise_retain(cf_http_get_json_p(loop, job->url, &job->http));
    cf_result r = cf_await(fetching);
    int rc = r.status;
    if (rc < 0)
        goto catch_error;
    const cf_json *list = r.value;
    stage = GHIBLI_SHAPE;
    if (cf_json_type_of(list) != CF_JSON_ARRAY) {
        rc = CF_EPARSE;
        thrown = CF_ERROR(rc, "GET %s: the body is a JSON %s, not an array", job->url,
                          cf_json_type_name(cf_json_type_of(list)));
        goto catch_error;
    }
    thrown = ghibli_check_list(job, list);
    if (thrown) {
        rc = thrown->code;
        goto catch_error;
    }
    stage = GHIBLI_FETCH;
    rc = collect(fo, list);
    if (rc == 0)
        rc = resolve_all(fo, loop, &thrown);
    if (rc < 0)
        goto catch_error;
    stage = GHIBLI_WRITE;
    if (!job->output) {
        rc = write_rows(fo, list, to_stdout, NULL);
        if (rc == 0)
            rc = ghibli_flush_stdout();
        if (rc < 0) {
            thrown = CF_ERROR_SYS(rc, "write to standard output");
            goto catch_error;
        }
    } else {
        cf_fs_writer *writer;
        rc = cf_fs_writer_open(loop, job->output, 0, NULL, &writer);
        if (rc < 0) {
            thrown = CF_ERROR_SYS(rc, "open '%s'", job->output);
            goto catch_error;
        }
        rc = write_rows(fo, list, cf_fs_writer_sink, writer);
        if (rc == CF_ENOMEM) {
            cf_fs_writer_abort(writer, NULL, NULL);
            goto catch_error;
        }
        r = cf_await(cf_fs_writer_commit_p(writer)); /* reports a failed write too */
        rc = r.status;
        if (rc < 0)
            goto catch_error;
    }
    cf_promise_release(fetching);
    job->status = 0;
    job->done(job);
    return 0;

catch_error:
    job->status = rc;
    job->error = thrown ? thrown : copy_error(r.status < 0 ? r.error : NULL);
    job->failed_at = stage;
    cf_promise_release(fetching);
    job->done(job);
    return 0;
}

static void fanout_free(fanout *fo)
{
    for (size_t i = 0; i < fo->ntargets; i++) {
        free(fo->targets[i].url);
        free(fo->targets[i].label);
    }
    free(fo->targets);
    free(fo);
}

static void on_task_end(cf_promise *ended, void *data)
{
    (void)ended;
    fanout_free(data);
}

/* Start the fan-out task; its state is freed when the task has ended. */
void ghibli_fanout(ghibli_job *job)
{
    fanout *fo = calloc(1, sizeof *fo);
    if (!fo) {
        job->status = CF_ENOMEM;
        job->done(job);
        return;
    }
    fo->job = job;
    fo->origin = origin_len(job->url);
    if (job->concurrency == 0)
        job->concurrency = 1;
    cf_http_set_limits(job->loop, (long)job->concurrency, 0);
    cf_promise *task = cf_async(job->loop, fanout_task, fo);
    if (!task)
        fanout_free(fo); /* out of memory: main.c sees that done never ran */
    else if (cf_promise_on_settle(task, on_task_end, fo) != 0)
        fo = NULL; /* out of memory: the task may still run, so `fo` is left to leak */
    cf_promise_release(task);
}
