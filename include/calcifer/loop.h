/* Calcifer: loop (not yet written). */
#ifndef CALCIFER_LOOP_H
#define CALCIFER_LOOP_H

#include "calcifer/common.h"

#endif /* CALCIFER_LOOP_H */
