# mk/c.mk — the C side of the build, included by the top Makefile (GNU make, run from the repo root).
#
#   make plugins-c       build/plugins/libslipstream_history.so (via CMake in build/cmake)
#   make test-c          configure + build + ctest (unit tests, valgrind run, find_package check)
#   make bench-c-insert  the engine's own insert limit into SQLite (C_BENCH_ROWS rows)

C_CMAKE        ?= cmake
C_CTEST        ?= ctest
C_BUILD_DIR    ?= build/cmake
C_PLUGIN_DIR   ?= build/plugins
C_BUILD_TYPE   ?= RelWithDebInfo
C_CMAKE_FLAGS  ?=
C_JOBS         ?= 2
C_BENCH_ROWS   ?= 1000000
C_BENCH_DB     ?= build/bench_insert.db

# Configure once; CMake re-runs itself when a CMakeLists.txt changes.
$(C_BUILD_DIR)/CMakeCache.txt:
	$(C_CMAKE) -S . -B $(C_BUILD_DIR) -DCMAKE_BUILD_TYPE=$(C_BUILD_TYPE) \
		-DSLIPSTREAM_PLUGIN_OUTPUT_DIR=$(abspath $(C_PLUGIN_DIR)) $(C_CMAKE_FLAGS)

.PHONY: c-configure plugins-c test-c bench-c-insert clean-c
c-configure: $(C_BUILD_DIR)/CMakeCache.txt

plugins-c: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) --target slipstream_history -j $(C_JOBS)
	@test -f $(C_PLUGIN_DIR)/libslipstream_history.so || test -f $(C_PLUGIN_DIR)/libslipstream_history.dylib

test-c: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) -j $(C_JOBS)
	$(C_CTEST) --test-dir $(C_BUILD_DIR) --output-on-failure

bench-c-insert: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) --target bench_insert -j $(C_JOBS)
	rm -f $(C_BENCH_DB) $(C_BENCH_DB)-wal $(C_BENCH_DB)-shm
	$(C_BUILD_DIR)/plugins/example_c/bench_insert sqlite $(C_BENCH_DB) $(C_BENCH_ROWS)

clean-c:
	rm -rf $(C_BUILD_DIR)
