/*
 * Paths into JSON values (`a.b[2]`, `[3].title`, `["a.b"].c`), shared by cf_json_path and
 * the streaming selector. Parsing walks the path text step by step without allocating.
 */
#ifndef CF_DATA_JSON_PATH_H
#define CF_DATA_JSON_PATH_H

#include <stddef.h>

enum { CF__JSON_STEP_KEY = 1, CF__JSON_STEP_QKEY, CF__JSON_STEP_INDEX };

/* One step: a plain key (text/len as written), a quoted key (text/len between the quotes,
 * escapes \" and \\ still in place) or an array index. */
typedef struct cf__json_step {
    int kind;
    const char *text;
    size_t len;
    size_t index;
} cf__json_step;

/*
 * Read the step at *cursor and advance past it. Returns 1 with *st filled, 0 at the end of
 * the path, or -1 when the path is malformed. *cursor starts at the path's first byte.
 */
int cf__json_path_next(const char **cursor, const char *start, cf__json_step *st);

/* 1 when the key step `st` names `key` (len bytes), 0 otherwise (index steps never do). */
int cf__json_step_key_eq(const cf__json_step *st, const char *key, size_t len);

#endif
