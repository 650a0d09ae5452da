#!/usr/bin/env python3
"""Compile, and run, every complete C program in the documentation.

Usage: scripts/check-doc-examples.py [--self-test] BUILD_DIR [CC [SANITIZE]] [-- FILE.md ...]

A complete program is a ```c fenced block that contains `int main`. Each one is compiled
the way a user would build it (-std=c11 -Wall -Wextra -Werror, the public headers, the build's
static library, libcurl, pthread, libm) and then run, in a temporary directory, and must exit 0
within 10 seconds. The last non-blank line before the fence may change that
(docs/architecture.md, "Examples in the documentation"):

    <!-- example: compile-only -->     compiled, not run (it needs a server or the network)
    <!-- example: excerpt PATH -->     a fragment of the program PATH (a file of the tree, which
                                       the build compiles); every line of the block but blank
                                       ones and ones with "..." must be a line of PATH
                                       (trailing /* comments */ aside)

A broken block is reported as FILE:LINE (the fence's line) with the compiler's or the
program's output, and the script exits 1. --self-test first checks that the checker itself
fails on a broken block and passes a good one. SANITIZE is the build's CF_SANITIZE (the
sanitizer runtimes must be linked like the library was built).
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^\s*<!--\s*example:\s*(\S+)\s*(\S*)\s*-->\s*$")
FENCE = re.compile(r"^\s*```\s*(\S*)\s*$")
KINDS = ("run", "compile-only", "excerpt")
RUN_SECONDS = 10


def blocks(path):
    """Yield (line of the fence, marker kind, marker argument, code) for each program."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    last = ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last = lines[i]
            i += 1
            continue
        lang, start = m.group(1), i + 1
        i += 1
        body = []
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        code = "\n".join(body) + "\n"
        if lang == "c" and re.search(r"\bint\s+main\s*\(", code):
            mk = MARKER.match(last)
            yield start, mk.group(1) if mk else "run", mk.group(2) if mk else "", code
        last = ""


def code_of(line):
    """A line without its indentation and trailing comment: an excerpt may annotate a line."""
    text = re.sub(r"\s*/\*.*\*/\s*$", "", line.strip())
    return text.strip() if not text.startswith("/*") else line.strip()


def link_flags():
    """What a program linked against the static library needs besides it (libcurl, and
    libdw for resolving call sites)."""
    try:
        out = subprocess.run(["pkg-config", "--libs", "libcurl", "libdw"], capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = ["-lcurl", "-ldw", "-lelf"]
    return out + ["-ldl", "-lpthread", "-lm"]


class Checker:
    def __init__(self, root, build, cc, sanitize):
        self.root = root
        self.lib = os.path.join(build, "lib", "libcalcifer.a")
        self.cc = cc
        self.san = ["-fsanitize=" + sanitize, "-fno-omit-frame-pointer"] if sanitize else []
        self.libs = link_flags()
        self.failures = []
        self.counts = {k: 0 for k in KINDS}

    def fail(self, where, what, output=""):
        self.failures.append("%s: %s%s" % (where, what, ("\n" + output.rstrip()) if output else ""))

    def compile(self, where, code, tmp):
        src = os.path.join(tmp, "example.c")
        exe = os.path.join(tmp, "example")
        with open(src, "w", encoding="utf-8") as f:
            f.write(code)
        cmd = [self.cc, "-std=c11", "-Wall", "-Wextra", "-Werror", *self.san,
               "-I" + os.path.join(self.root, "include"), src, "-o", exe, self.lib, *self.libs]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            self.fail(where, "the example does not compile (%s)" % " ".join(cmd),
                      r.stdout + r.stderr)
            return None
        return exe

    def run(self, where, exe, tmp):
        try:
            r = subprocess.run([exe], cwd=tmp, capture_output=True, text=True,
                               timeout=RUN_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:  # subprocess.run killed it
            out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            self.fail(where, "the example ran longer than %d s (mark it compile-only if it "
                      "must)" % RUN_SECONDS, out)
            return
        if r.returncode != 0:
            self.fail(where, "the example exited with status %d" % r.returncode,
                      r.stdout + r.stderr)

    def excerpt(self, where, arg, code):
        path = os.path.join(self.root, arg)
        if not arg or not os.path.isfile(path):
            self.fail(where, "an excerpt must name a file of the tree: '%s' is none" % arg)
            return
        with open(path, encoding="utf-8") as f:
            known = {code_of(line) for line in f}
        for n, line in enumerate(code.split("\n")):
            text = code_of(line)
            if text and "..." not in line and text not in known:
                self.fail(where, "line %d of the excerpt is not in %s: %s" % (n + 1, arg, text))

    def check(self, path, shown):
        for line, kind, arg, code in blocks(path):
            where = "%s:%d" % (shown, line)
            if kind not in KINDS:
                self.fail(where, "unknown example marker '%s' (one of %s)" % (kind, ", ".join(KINDS)))
                continue
            self.counts[kind] += 1
            if kind == "excerpt":
                self.excerpt(where, arg, code)
                continue
            tmp = tempfile.mkdtemp(prefix="cf-doc-example-")
            try:
                exe = self.compile(where, code, tmp)
                if exe and kind == "run":
                    self.run(where, exe, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)


GOOD = """<!-- example: run -->
```c
#include <calcifer.h>
int main(void) { return cf_strerror(CF_EOF)[0] == 'e' ? 0 : 1; }
```
"""
BROKEN = """Some text.

```c
int main(void) { return undeclared_name; }
```
"""
DRIFTED = """<!-- example: excerpt README.md -->
```c
int main(void) { return a_line_the_readme_lacks(); }
```
"""


def self_test(root, build, cc, sanitize):
    """The checker must pass a good program and report a broken one at its fence's line."""
    with tempfile.TemporaryDirectory(prefix="cf-doc-selftest-") as tmp:
        good = os.path.join(tmp, "good.md")
        bad = os.path.join(tmp, "bad.md")
        with open(good, "w", encoding="utf-8") as f:
            f.write(GOOD)
        with open(bad, "w", encoding="utf-8") as f:
            f.write(BROKEN)
        c = Checker(root, build, cc, sanitize)
        c.check(good, "good.md")
        if c.failures or c.counts["run"] != 1:
            return "a good example was not compiled and run cleanly: %s" % c.failures
        c.check(bad, "bad.md")
        if len(c.failures) != 1 or not c.failures[0].startswith("bad.md:3: "):
            return "a broken example was not reported as bad.md:3: %s" % c.failures
        with open(bad, "w", encoding="utf-8") as f:
            f.write(DRIFTED)
        c.check(bad, "drifted.md")
        if len(c.failures) != 2 or not c.failures[1].startswith("drifted.md:2: line 1 of"):
            return "an excerpt unlike its file was not reported: %s" % c.failures[1:]
    return None


def main(argv):
    selftest = "--self-test" in argv
    argv = [a for a in argv if a != "--self-test"]
    files = []
    if "--" in argv:
        k = argv.index("--")
        argv, files = argv[:k], argv[k + 1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(argv[0])
    cc = argv[1] if len(argv) > 1 and argv[1] else os.environ.get("CC", "cc")
    sanitize = argv[2] if len(argv) > 2 else ""
    if not os.path.isfile(os.path.join(build, "lib", "libcalcifer.a")):
        print("check-doc-examples: %s/lib/libcalcifer.a is missing: build the library first"
              % build, file=sys.stderr)
        return 1
    if selftest:
        problem = self_test(root, build, cc, sanitize)
        if problem:
            print("check-doc-examples: self-test: " + problem, file=sys.stderr)
            return 1
    if not files:
        files = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    c = Checker(root, build, cc, sanitize)
    for path in files:
        shown = os.path.relpath(path, root)
        c.check(path, path if shown.startswith("..") else shown)
    for f in c.failures:
        print(f, file=sys.stderr)
    print("check-doc-examples: %d run, %d compiled only, %d excerpts checked, %d broken"
          % (c.counts["run"], c.counts["compile-only"], c.counts["excerpt"], len(c.failures)))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
