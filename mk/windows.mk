# mk/windows.mk — Windows, run for real: the host's tests and the command under Wine.
# Included by the top Makefile (GNU make, run from the repository root).
#
#   make test-windows   mingw-w64 builds the C test plugins (ctest.Variants) and the C++
#                       example as DLLs; the Go test binaries of host, finalize, e2e and
#                       internal/cmem and slipstream.exe are cross-compiled (no cgo); all
#                       run under Wine in a throw-away prefix (mk/wine-run.sh), the tests
#                       against the prebuilt DLLs (SLIPSTREAM_TEST_PLUGINS).
#   make deps-windows   installs Wine and mingw-w64 (Debian) when missing; make deps does it
#
# What does not run here: tests that need a C compiler, SQLite, libpq or Rust at test time
# skip under SLIPSTREAM_TEST_PLUGINS with the reason; internal/cli and admin are not
# cross-run (their tests build the command with the go tool, and build paths into JSON
# by hand); Rust plugins are not built for Windows (no Windows target of Rust's std).

WIN_GO       ?= $(GO)
WIN_CC       ?= x86_64-w64-mingw32-gcc
WIN_CXX      ?= x86_64-w64-mingw32-g++
WINE         ?= wine
WIN_BUILD    ?= $(BUILD)/windows
WIN_PLUGINS  := $(WIN_BUILD)/plugins
WIN_BIN      := $(WIN_BUILD)/bin
WIN_DEB_PKGS := wine64 gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64

# Package (directory) and the test binary's flags. host runs -short: its hammer and soak
# loops at full length take minutes under Wine.
WIN_TESTS := host:-test.short finalize e2e internal/cmem
WIN_TEST_ARGS ?= -test.count=1 -test.shuffle=on -test.timeout=4m

# The test binaries: -tags wine adds ctest's Wine-only scaffolding (internal/ctest/
# wine_windows.go), which links to a standard-library switch (hence -checklinkname=0).
WIN_GOFLAGS := -tags wine -ldflags=-checklinkname=0
WIN_ENV     := CGO_ENABLED=0 GOOS=windows GOARCH=amd64

# The C++ example plugin, when the tree has it.
WIN_CPP_SRC := $(wildcard plugins/example_cpp/counter.cpp)

.PHONY: deps-windows test-windows windows-plugins windows-tests clean-windows

deps-windows:
	@missing=""; for p in $(WIN_DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

# Rebuilt from scratch every time (a few seconds): no stale DLL survives a source change.
windows-plugins:
	rm -rf $(WIN_PLUGINS) && mkdir -p $(WIN_PLUGINS) $(WIN_BIN)
	$(GO) run ./internal/ctest/prebuild -cc $(WIN_CC) -goos windows -o $(WIN_PLUGINS)
	$(WIN_CC) -std=c11 -Wall -Wextra -Werror -O2 -shared -o $(WIN_BIN)/bcryptprimitives.dll testdata/windows/bcryptprimitives.c -ladvapi32
ifneq ($(WIN_CPP_SRC),)
	mkdir -p $(WIN_PLUGINS)/cpp
	$(WIN_CXX) -std=c++17 -Wall -Wextra -Werror -pedantic -O2 -shared -static -Iinclude \
	  -o $(WIN_PLUGINS)/cpp/libslipstream_example_cpp.dll $(WIN_CPP_SRC)
else
	@echo "windows: no plugins/example_cpp in this tree: the C++ example is not built"
endif
	$(WIN_ENV) $(WIN_GO) build -o $(WIN_PLUGINS)/slipstream.exe ./cmd/slipstream

windows-tests:
	@mkdir -p $(WIN_BIN)
	for t in $(WIN_TESTS); do p=$${t%%:*}; \
	  $(WIN_ENV) $(WIN_GO) test -c $(WIN_GOFLAGS) -o $(WIN_BIN)/$$(echo $$p | tr / _).test.exe ./$$p || exit 1; \
	done

test-windows: deps-windows windows-plugins windows-tests
	WINE=$(WINE) mk/wine-run.sh $(WIN_BIN)/bcryptprimitives.dll $(WIN_PLUGINS) \
	  $(foreach t,$(WIN_TESTS),$(word 1,$(subst :, ,$(t)))=$(WIN_BIN)/$(subst /,_,$(word 1,$(subst :, ,$(t)))).test.exe:"$(WIN_TEST_ARGS) $(word 2,$(subst :, ,$(t)))")

clean-windows:
	rm -rf $(WIN_BUILD)
