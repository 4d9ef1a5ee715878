# c360 — the two quick-start commands and a few helpers.
#   make demo           install what is missing, build, run the demo (DEMO_ARGS="--customers 100000 --exit")
#   make test           install what is missing, build, run every test
#   make test-sanitize  the tests again, built with ASan + UBSan
#   make build-release  compile (not test) a Release build (-O3), as packagers do
#   make fuzz           the libFuzzer targets for a bounded time (clang)
#   make bench          the benchmarks (bench/README.md)
BUILD ?= build
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
DEMO_ARGS ?=
# warnings are errors in the project's own builds (CMake's default is OFF, for packagers)
WERROR ?= ON

.PHONY: all deps build build-release test test-sanitize fuzz demo bench clean format

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DC360_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# -O3 finds warnings -O2 does not (maybe-uninitialized): CI compiles it too
build-release: deps
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DC360_WERROR=$(WERROR) >/dev/null
	@cmake --build build-release -j$(JOBS)

test: build
	@scripts/deps.sh --browser
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE 'slow|fuzz' $(CTEST_ARGS)

test-sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DC360_SANITIZE=ON -DC360_WERROR=$(WERROR) >/dev/null
	@cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS) -LE 'slow|fuzz|nosan' $(CTEST_ARGS)

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DC360_FUZZ=ON -DC360_WERROR=OFF \
		-DC360_FUZZ_SECONDS=$${C360_FUZZ_SECONDS:-30} >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	cd build-fuzz && ctest --output-on-failure -j$(JOBS) -L fuzz

demo: build
	$(BUILD)/c360 demo $(DEMO_ARGS)

bench: deps
	@scripts/deps.sh --bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DC360_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target c360 bench_all
	@bench/run-all.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tools/*.c' 'tests/*.c' 'tests/*.h' 'bench/*.c')

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-release
