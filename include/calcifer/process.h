/* Calcifer: process (not yet written). */
#ifndef CALCIFER_PROCESS_H
#define CALCIFER_PROCESS_H

#include "calcifer/common.h"

#endif /* CALCIFER_PROCESS_H */
