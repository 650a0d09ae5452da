/* Calcifer: pool (not yet written). */
#ifndef CALCIFER_POOL_H
#define CALCIFER_POOL_H

#include "calcifer/common.h"

#endif /* CALCIFER_POOL_H */
