/* Calcifer: timer (not yet written). */
#ifndef CALCIFER_TIMER_H
#define CALCIFER_TIMER_H

#include "calcifer/common.h"

#endif /* CALCIFER_TIMER_H */
