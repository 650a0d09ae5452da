# Calcifer: the commands a user types. CMake does the building; this file only drives it.
#
#   make            build build/lib/libcalcifer.{a,so}, build/bin/*, the pkg-config file
#   make demo       the main job: fetch the Ghibli films offline in all three styles, then
#                   draw one traced run as docs/ghibli-films-trace.svg
#   make test       the whole suite, then again under ASan+UBSan, the pool under TSan
#   make install PREFIX=/usr/local
#   make bench      build and run the benchmarks side by side with their peers
#   make fuzz       build the libFuzzer targets and run each for FUZZ_SECONDS
#   make format     clang-format the tree; make lint: format check, style check, clang-tidy
#   make lean       build-lean/: linked with a static libcurl for HTTP(S) only (docs/lean.md)

PREFIX    ?= /usr/local
BUILD     ?= build
JOBS      ?= $(shell nproc)
CF_WERROR ?= OFF
CMAKE_ARGS ?=
FUZZ_SECONDS ?= 30
TEST_FUZZ_SECONDS ?= 10

.PHONY: all deps configure demo test test-debug test-clang test-asan test-tsan test-ucontext \
        test-valgrind test-fuzz test-tidy lint format \
        check-format check-style install bench fuzz clean lean test-lean test-stream-memory-full

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCF_WERROR=$(CF_WERROR) $(CMAKE_ARGS) >/dev/null

demo: configure
	@echo "calcifer: building ($(BUILD)/build.log)"
	@cmake --build $(BUILD) -j $(JOBS) > $(BUILD)/build.log 2>&1 || { tail -n 40 $(BUILD)/build.log; exit 1; }
	@scripts/demo.sh $(BUILD)
	@echo "calcifer: tracing one 'ghibli films --offline' run (docs/observability.md)"
	@$(BUILD)/bin/ghibli films --offline -o $(BUILD)/films-traced.csv \
	    --trace $(BUILD)/ghibli-films-trace.json
	@python3 scripts/trace2svg.py $(BUILD)/ghibli-films-trace.json \
	    -o docs/ghibli-films-trace.svg
	@echo "calcifer: wrote docs/ghibli-films-trace.svg (open $(BUILD)/ghibli-films-trace.json in ui.perfetto.dev)"

test: deps lint test-debug test-tidy test-clang test-asan test-tsan test-ucontext test-valgrind test-fuzz \
      test-lean
	@echo "calcifer: all test stages passed"

# The main build: gcc, the shipped configuration (RelWithDebInfo), every test.
test-debug: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCF_WERROR=$(CF_WERROR) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest -j 2 --output-on-failure

# clang, Debug: a second compiler's warnings and the debug-only assertions.
test-clang: deps
	CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug -DCF_WERROR=$(CF_WERROR) \
	  -DCF_BUILD_SHARED=OFF >/dev/null
	cmake --build build-clang -j $(JOBS)
	cd build-clang && ctest -j 2 --output-on-failure -LE slow

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCF_WERROR=$(CF_WERROR) \
	  -DCF_SANITIZE=address,undefined -DCF_BUILD_SHARED=OFF >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j 2 --output-on-failure -LE nosan

# The thread pool and every other cross-thread test (label tsan) under ThreadSanitizer.
test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCF_WERROR=$(CF_WERROR) \
	  -DCF_SANITIZE=thread -DCF_BUILD_SHARED=OFF >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest -j 2 --output-on-failure -L tsan

# The portable context switch backend (ucontext) under the async and conformance tests.
test-ucontext: deps
	cmake -S . -B build-ucontext -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCF_WERROR=$(CF_WERROR) \
	  -DCF_SWITCH_BACKEND=ucontext -DCF_BUILD_SHARED=OFF >/dev/null
	cmake --build build-ucontext -j $(JOBS)
	cd build-ucontext && ctest -j 2 --output-on-failure -L 'async|conformance'

test-valgrind: test-debug
	@scripts/valgrind-examples.sh $(BUILD)

# clang-tidy's function size limits and bug-prone patterns, on the main build's sources.
test-tidy: test-debug
	@scripts/check-tidy.sh $(BUILD)

lint: check-format check-style

check-format:
	@scripts/check-format.sh

check-style:
	@scripts/check-style.sh

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

# The lean build: Debian's curl source built for HTTP and HTTPS only, linked statically with
# OpenSSL and friends, so `ghibli` loads none of the 30 libraries of Debian's libcurl.
lean:
	@scripts/install-deps.sh --lean
	@scripts/build-curl.sh build-lean/curl
	cmake -S . -B build-lean -DCMAKE_BUILD_TYPE=Release -DCF_WERROR=$(CF_WERROR) \
	  -DCMAKE_PREFIX_PATH=$(CURDIR)/build-lean/curl -DCF_BUILD_SHARED=OFF >/dev/null
	cmake --build build-lean -j $(JOBS)

# The lean build's HTTP, flagship and example tests, and proof that no shared libcurl is linked.
# The 1 GiB backpressure test (about 36 minutes, so not part of `make test`).
test-stream-memory-full: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCF_WERROR=$(CF_WERROR) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target test_stream_memory_full
	$(BUILD)/tests/test_stream_memory_full

test-lean: lean
	@! ldd build-lean/bin/ghibli | grep -E 'libcurl|libssl|libcrypto' || \
	  { echo "calcifer: build-lean/bin/ghibli loads a shared libcurl or OpenSSL" >&2; exit 1; }
	cd build-lean && ctest -j 2 --output-on-failure -L 'http|apps' -LE slow

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

bench:
	@scripts/install-deps.sh --bench
	@for d in bench/peers bench/peers/tutorial; do \
	  [ -f $$d/package.json ] && (cd $$d && npm install --no-audit --no-fund --silent) || true; \
	done
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCF_BUILD_BENCH=ON -DCF_BUILD_TESTS=OFF >/dev/null
	cmake --build build-bench -j $(JOBS)
	@bench/run.sh build-bench
	@$(MAKE) --no-print-directory lean >/dev/null
	@echo "## bench_flagship.sh (lean build)" && bench/bench_flagship.sh build-lean

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCF_BUILD_FUZZ=ON \
	  -DCF_BUILD_TESTS=OFF -DCF_BUILD_SHARED=OFF -DCF_BUILD_EXAMPLES=OFF \
	  -DCF_SANITIZE=address,undefined >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

# Every fuzz target for a bounded time (their corpora are also replayed by ctest).
test-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

clean:
	rm -rf build build-clang build-asan build-tsan build-ucontext build-bench build-fuzz build-lean
