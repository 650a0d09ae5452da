/*
 * test_stream_memory.c at full size: 1 GiB each way at 1 KiB/ms, about 18 minutes per
 * transport (CF_STREAM_MEMORY_BYTES overrides the size). Same bound, same checks.
 */
/* ctest-manual: about 36 minutes; `make test-stream-memory-full` runs it */
#define STREAM_MEMORY_TOTAL ((uint64_t)1 << 30)
#include "io/test_stream_memory.c"
