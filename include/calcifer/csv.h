/* Calcifer: csv (not yet written). */
#ifndef CALCIFER_CSV_H
#define CALCIFER_CSV_H

#include "calcifer/common.h"

#endif /* CALCIFER_CSV_H */
