/* Calcifer: http_client (not yet written). */
#ifndef CALCIFER_HTTP_CLIENT_H
#define CALCIFER_HTTP_CLIENT_H

#include "calcifer/common.h"

#endif /* CALCIFER_HTTP_CLIENT_H */
