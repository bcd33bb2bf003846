# Thin wrapper around CMake. `make demo` and `make test` do all set-up.
#   make demo          install deps, build, run the demo
#   make test          install deps, build, run every test (ctest)
#   make test SANITIZE=1   the same under ASan + UBSan (separate build dir)
#   make bench         build and run the benchmarks
#   make valgrind      run the CLI tests under valgrind
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ifeq ($(SANITIZE),1)
  BUILD := build-asan
  CMAKE_FLAGS += -DVELD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
endif

.PHONY: all deps build demo test bench valgrind clean

all: build

deps:
	@./.ci/install-deps $(BUILD)

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@./tests/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@./$(BUILD)/tests/bench/bench_store
	@./$(BUILD)/tests/bench/bench_sync --veld ./$(BUILD)/veld
	@./$(BUILD)/tests/bench/bench_sync --veld ./$(BUILD)/veld --devices 20
	@./$(BUILD)/tests/bench/bench_due

valgrind: build
	@VELD_VALGRIND=1 ./tests/cli/cli_test.sh $(BUILD)
	@VELD_VALGRIND=1 ./tests/cli/due_test.sh $(BUILD)

clean:
	rm -rf build build-asan
