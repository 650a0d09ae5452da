/* Calcifer: signal (not yet written). */
#ifndef CALCIFER_SIGNAL_H
#define CALCIFER_SIGNAL_H

#include "calcifer/common.h"

#endif /* CALCIFER_SIGNAL_H */
