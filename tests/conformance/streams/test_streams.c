/* ctest-labels: conformance io */
/* ctest-timeout: 300 */
/*
 * Stream conformance driver: for every scenario folder NN-<name> of
 * CF_SOURCE_DIR/tests/conformance/streams (a Node program, program.js, and its trace,
 * expected.txt, recorded from Node 20 by record.sh), run the C version of the program,
 * CF_BUILD_DIR/tests/streams/sNN_<name> (dashes become underscores), from the folder, and
 * compare its standard output byte for byte with the trace. A scenario passes when the output
 * is identical, the exit status is 0 and nothing was written to standard error; a folder
 * without its program fails. One TAP line per scenario: `ok 01-write-past-hwm-drain`. An argument
 * selects scenarios whose folder name contains it. Each program gets 60 s, then it is killed.
 * The machinery is that of test_node_rules.c (tests/conformance/trace_run.h).
 */
#define TRACE_RUN_DRIVER
#include "../trace_run.h"

int main(int argc, char **argv)
{
    return trace_main(argc, argv, "tests/streams", "tests/conformance/streams");
}
