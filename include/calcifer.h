/*
 * Calcifer: JavaScript's asynchronous model for C.
 *
 * The umbrella header: includes every module's public header. Each one also compiles alone.
 */
#ifndef CALCIFER_H
#define CALCIFER_H

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/timer.h"
#include "calcifer/watch.h"
#include "calcifer/signal.h"
#include "calcifer/pool.h"
#include "calcifer/metrics.h"
#include "calcifer/trace.h"
#include "calcifer/promise.h"
#include "calcifer/abort.h"
#include "calcifer/task.h"
#include "calcifer/group.h"
#include "calcifer/remote.h"
#include "calcifer/fs.h"
#include "calcifer/tcp.h"
#include "calcifer/dns.h"
#include "calcifer/process.h"
#include "calcifer/worker.h"
#include "calcifer/http_client.h"
#include "calcifer/http_server.h"
#include "calcifer/http_parser.h"
#include "calcifer/json.h"
#include "calcifer/csv.h"
#include "calcifer/stream.h"

#endif /* CALCIFER_H */
