/*
 * Private DOM entry points shared by the selector.
 */
#ifndef CF_DATA_JSON_DOM_H
#define CF_DATA_JSON_DOM_H

#include "calcifer/json.h"

/*
 * Hand back a tree taken from `b` (cf_json_builder_take) once it is no longer needed: its
 * arena is emptied and reused for the next tree, so a stream of values costs no allocation
 * once the arena has grown to the largest one. Anything added to `item` on the heap is
 * freed. Drops any tree in progress. `item` may be NULL.
 */
void cf__json_builder_recycle(cf_json_builder *b, cf_json *item);

#endif
