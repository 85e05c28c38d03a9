# The two commands of the README: `make demo` and `make test`. Both install what is missing
# (scripts/install-deps), build, and run.
BUILD ?= build
JOBS ?= $(shell nproc)
CTEST_JOBS ?= $(JOBS)
BUILD_TYPE ?= RelWithDebInfo
# ccache hits across clones of the repository (CI builds a fresh clone each time).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps build test test-unit test-sanitize demo bench format clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) --timeout 900

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) -L unit

# ASan + UBSan build: the unit tests, the fuzz corpora and the tests labelled `sanitize` (the
# probe against the 2,000-host lab, the probe CLI, Postfix, the lab's profiles). CI runs it.
test-sanitize: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DMXCENSUS_SANITIZE=ON -DMXCENSUS_BUILD_BENCH=OFF
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(CTEST_JOBS) -L 'unit|sanitize'

demo: build
	scripts/demo

bench: build
	scripts/bench

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD)-asan
