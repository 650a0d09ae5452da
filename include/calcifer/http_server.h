/* Calcifer: http_server (not yet written). */
#ifndef CALCIFER_HTTP_SERVER_H
#define CALCIFER_HTTP_SERVER_H

#include "calcifer/common.h"

#endif /* CALCIFER_HTTP_SERVER_H */
