/* ctest-labels: conformance */
/* ctest-timeout: 300 */
/*
 * Node-rules conformance driver: for every scenario folder NN-<name> of
 * CF_SOURCE_DIR/tests/conformance/node_rules (a Node program, program.js, and its trace,
 * expected.txt, recorded from Node 20 by record.sh), run the C version of the program,
 * CF_BUILD_DIR/tests/node_rules/sNN_<name> (dashes become underscores), from the folder, and
 * compare its standard output byte for byte with the trace. A scenario passes when the output
 * is identical, the exit status is 0 and nothing was written to standard error; a folder
 * without its program fails. One TAP line per scenario: `ok 04-hook-order`. An argument
 * selects scenarios whose folder name contains it. Each program gets 60 s, then it is killed.
 */
#define TRACE_RUN_DRIVER
#include "trace_run.h"

int main(int argc, char **argv)
{
    return trace_main(argc, argv, "tests/node_rules", "tests/conformance/node_rules");
}
