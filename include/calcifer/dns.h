/* Calcifer: dns (not yet written). */
#ifndef CALCIFER_DNS_H
#define CALCIFER_DNS_H

#include "calcifer/common.h"

#endif /* CALCIFER_DNS_H */
