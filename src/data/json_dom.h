/*
 * Private DOM entry points shared by the selector.
 */
#ifndef CF_DATA_JSON_DOM_H
#define CF_DATA_JSON_DOM_H

#include "calcifer/json.h"
#include "data/json_path.h"

/*
 * Hand back a tree taken from `b` (cf_json_builder_take) once it is no longer needed: its
 * arena is emptied and reused for the next tree, so a stream of values costs no allocation
 * once the arena has grown to the largest one. Anything added to `item` on the heap is
 * freed. Drops any tree in progress. `item` may be NULL.
 */
void cf__json_builder_recycle(cf_json_builder *b, cf_json *item);

/* cf_json_path with the path already split into its m steps (none malformed). */
cf_json *cf__json_path_steps(const cf_json *v, const cf__json_step *steps, size_t m);

/*
 * A projection for the selector: asked when an element that is an object begins, it returns
 * 1 and sets *keys / *n to keep only the members whose key one of the n key steps names (the
 * others are parsed and checked but not built), or 0 to build the element whole. The steps
 * must stay valid until that element has been delivered.
 */
typedef int (*cf__json_project_fn)(void *data, const cf__json_step **keys, size_t *n);

/* Ask `fn` at each object element from now on (NULL: build every element whole). */
void cf__json_select_set_project(cf_json_select *s, cf__json_project_fn fn, void *data);

/*
 * From the element callback: whether the element being delivered was built projected: 0 no,
 * 1 yes and it began in the chunk being fed (nothing but the parser ran since the projection
 * was asked for), 2 yes and it began in an earlier chunk.
 */
int cf__json_select_projected(const cf_json_select *s);

/*
 * From the element callback, for a projected element: build the whole element from its text
 * (the selector keeps the text of a projected element that spans chunks) into *out, owned by
 * the caller. Returns 0, or CF_ENOMEM (the selector's error message is then set).
 */
int cf__json_select_whole(cf_json_select *s, cf_json **out);

#endif
