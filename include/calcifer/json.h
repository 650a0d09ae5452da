/* Calcifer: json (not yet written). */
#ifndef CALCIFER_JSON_H
#define CALCIFER_JSON_H

#include "calcifer/common.h"

#endif /* CALCIFER_JSON_H */
