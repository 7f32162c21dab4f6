# mk/c.mk — the C side of the build, included by the top Makefile (GNU make, run from the repo root).
#
#   make plugins-c       build/plugins/libslipstream_history.so (via CMake in build/cmake)
#   make plugins-cpp     build/plugins/libslipstream_example_cpp.so (C++17, -Werror -pedantic)
#   make check-cpp       the C++ example loads in `slipstream check` (build/slipstream)
#   make test-c          configure + build + ctest (unit tests, valgrind run, find_package and
#                        install checks, the C++ example's test), then check-cpp
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

.PHONY: c-configure plugins-c plugins-cpp check-cpp test-c bench-c-insert clean-c
c-configure: $(C_BUILD_DIR)/CMakeCache.txt

plugins-c: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) --target slipstream_history -j $(C_JOBS)
	@test -f $(C_PLUGIN_DIR)/libslipstream_history.so || test -f $(C_PLUGIN_DIR)/libslipstream_history.dylib

plugins-cpp: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) --target slipstream_example_cpp -j $(C_JOBS)
	@test -f $(C_PLUGIN_DIR)/libslipstream_example_cpp.so || test -f $(C_PLUGIN_DIR)/libslipstream_example_cpp.dylib

# The C++ example as an operator would load it: a config beside the library's directory, checked
# by the slipstream command (a child process runs on_load and on_unload). The host refuses
# configs, libraries and directories that group or others can write: hence the chmods.
C_CPP_CHECK_DIR := $(BUILD)/check-cpp
check-cpp: plugins-cpp build
	rm -rf $(C_CPP_CHECK_DIR)
	mkdir -p $(C_CPP_CHECK_DIR)
	chmod go-w $(BUILD) $(C_PLUGIN_DIR) $(C_CPP_CHECK_DIR)
	printf '{\n  libpath: "../plugins/libslipstream_example_cpp.so",\n  summary: "summary.txt",\n}\n' > $(C_CPP_CHECK_DIR)/counter.json5
	chmod 0644 $(C_CPP_CHECK_DIR)/counter.json5
	$(BIN) check $(C_CPP_CHECK_DIR)/counter.json5
	@grep -q '^event-counter: 0 events' $(C_CPP_CHECK_DIR)/summary.txt || { echo "check-cpp: no summary from on_unload"; exit 1; }

test-c: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) -j $(C_JOBS)
	$(C_CTEST) --test-dir $(C_BUILD_DIR) --output-on-failure
	$(MAKE) --no-print-directory check-cpp

bench-c-insert: c-configure
	$(C_CMAKE) --build $(C_BUILD_DIR) --target bench_insert -j $(C_JOBS)
	rm -f $(C_BENCH_DB) $(C_BENCH_DB)-wal $(C_BENCH_DB)-shm
	$(C_BUILD_DIR)/plugins/example_c/bench_insert sqlite $(C_BENCH_DB) $(C_BENCH_ROWS)

clean-c:
	rm -rf $(C_BUILD_DIR)
