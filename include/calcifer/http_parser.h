/* Calcifer: http_parser (not yet written). */
#ifndef CALCIFER_HTTP_PARSER_H
#define CALCIFER_HTTP_PARSER_H

#include "calcifer/common.h"

#endif /* CALCIFER_HTTP_PARSER_H */
