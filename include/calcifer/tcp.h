/* Calcifer: tcp (not yet written). */
#ifndef CALCIFER_TCP_H
#define CALCIFER_TCP_H

#include "calcifer/common.h"

#endif /* CALCIFER_TCP_H */
