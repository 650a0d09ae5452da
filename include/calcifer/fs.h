/* Calcifer: fs (not yet written). */
#ifndef CALCIFER_FS_H
#define CALCIFER_FS_H

#include "calcifer/common.h"

#endif /* CALCIFER_FS_H */
