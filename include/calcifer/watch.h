/* Calcifer: watch (not yet written). */
#ifndef CALCIFER_WATCH_H
#define CALCIFER_WATCH_H

#include "calcifer/common.h"

#endif /* CALCIFER_WATCH_H */
