/*
 * 52: rejections with any value (cf_promise_rejected_value, cf_task_throw_value): a number, a
 * string, undefined (NULL), an object and an error, caught by catch handlers and by awaits
 * (the result's value_is_reason tells a value from an error), through a then step and allSettled.
 */
#include "rules.h"

/* The values a JavaScript reason can be, in C: a tagged value. */
typedef struct value {
    enum { V_NUMBER, V_STRING, V_OBJECT } type;
    const char *text;
} value;

static const value num42 = {V_NUMBER, "42"};
static const value text = {V_STRING, "text"};
static const value obj = {V_OBJECT, "obj"};
static const value num7 = {V_NUMBER, "7"};
static const value str_s = {V_STRING, "s"};

/* ≈ describe(r) of program.js. */
static void describe(char *buf, size_t len, int is_error, const void *reason)
{
    static const char *const types[] = {"number", "string", "object"};
    const value *v = reason;
    if (is_error)
        snprintf(buf, len, "error %s", ((const cf_error *)reason)->message);
    else if (!v)
        snprintf(buf, len, "value undefined");
    else if (v->type == V_OBJECT)
        snprintf(buf, len, "value object %s", v->text);
    else
        snprintf(buf, len, "value %s %s", types[v->type], v->text);
}

static void on_catch(cf_promise *settled, cf_promise *next, void *label)
{
    (void)next;
    char buf[128];
    describe(buf, sizeof buf, cf_promise_reason_is_error(settled), cf_promise_reason(settled));
    printf("%s: %s\n", (const char *)label, buf);
}

/* A reason of the list: index 4 is an Error, the others values. */
static cf_promise *reject_nth(int i)
{
    static const value *const values[] = {&num42, &text, NULL, &obj};
    if (i == 4)
        return cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "err"));
    return cf_promise_rejected_value(loop, (void *)values[i], NULL);
}

static int thrower(cf_task *task, void *arg)
{
    int i = (int)(intptr_t)arg;
    static const value *const values[] = {&num42, &text, NULL, &obj};
    if (i == 4)
        return cf_task_throw(task, CF_ERROR(CF_EINVAL, "err"));
    return cf_task_throw_value(task, (void *)values[i], NULL);
}

/* ≈ try { await p } catch (e) { log(label + describe(e)) }. */
static void await_and_describe(cf_promise *p, const char *label)
{
    cf_result r = cf_await(p);
    if (r.status == 0)
        return;
    const void *reason = r.value_is_reason ? r.value : (const void *)r.error;
    char buf[128];
    describe(buf, sizeof buf, !r.value_is_reason, reason);
    printf("%s: %s\n", label, buf);
}

static void log_skipped(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
    say("skipped");
}

static int main_task(cf_task *task, void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++) {
        await_and_describe(cf_async(loop, thrower, (void *)(intptr_t)i), "await");
    }
    cf_promise *r7 = cf_promise_rejected_value(loop, (void *)&num7, NULL);
    cf_promise *then = cf_promise_then(r7, log_skipped, NULL, NULL);
    cf_promise_release(r7);
    await_and_describe(then, "through then");
    cf_promise *in[] = {cf_promise_rejected_value(loop, (void *)&str_s, NULL),
                        cf_promise_resolved(loop, TEXT("1"), NULL)};
    cf_promise *all = cf_promise_all_settledv(loop, in, 2);
    cf_promise_release(in[0]);
    cf_promise_release(in[1]);
    cf_result r = cf_await(all);
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    const cf_promise_list *l = r.value;
    printf("allSettled:");
    for (size_t i = 0; i < l->len; i++) {
        cf_promise *item = l->items[i];
        int ok = cf_promise_state(item) == CF_PROMISE_FULFILLED;
        const char *s =
            ok ? cf_promise_value(item) : ((const value *)cf_promise_reason(item))->text;
        printf("%s %s %s", i ? "," : "", ok ? "fulfilled" : "rejected", s);
    }
    printf("\n");
    return 0;
}

static void log_done(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
    say("done");
}

int main(void)
{
    scenario_begin();
    for (int i = 0; i < 5; i++) {
        cf_promise *p = reject_nth(i);
        cf_promise_release(cf_promise_catch(p, on_catch, TEXT("catch")));
        cf_promise_release(p);
    }
    cf_promise *m = cf_async(loop, main_task, NULL);
    cf_promise_release(cf_promise_then(m, log_done, NULL, NULL));
    cf_promise_release(m);
    say("main");
    scenario_run();
    return scenario_end();
}
