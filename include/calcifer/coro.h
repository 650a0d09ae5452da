/* Calcifer: coro (not yet written). */
#ifndef CALCIFER_CORO_H
#define CALCIFER_CORO_H

#include "calcifer/common.h"

#endif /* CALCIFER_CORO_H */
