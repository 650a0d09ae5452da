/* Calcifer: promise (not yet written). */
#ifndef CALCIFER_PROMISE_H
#define CALCIFER_PROMISE_H

#include "calcifer/common.h"

#endif /* CALCIFER_PROMISE_H */
