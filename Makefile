# Slipstream for Go — build, test, demo.
#
#   make            build the slipstream command and every plugin (into build/)
#   make demo       build everything, generate a chain, replay it into the example plugins
#   make test       every test: Go (-race, and again without cgo), C (ctest), Rust, cross-builds
#   make bench      benchmarks; writes BENCHMARKS.md
#   make soak       the long reliability runs (fuzzing, crash and resume)
#   make cross      cgo-free builds for darwin/arm64 and windows/amd64
#   make test-windows  the host's tests and the command under Wine (mk/windows.mk)
#
# System packages the build needs are installed when missing (Debian: apt-get; run as root).

SHELL   := bash
GO      ?= go
BUILD   := build
BIN     := $(BUILD)/slipstream
PLUGINS := $(BUILD)/plugins
GOTEST_FLAGS ?= -count=1 -timeout 25m

include mk/c.mk
include mk/rust.mk
include mk/windows.mk

.PHONY: all build plugins deps test test-header test-go test-go-nocgo vet cross demo bench soak clean

all: build plugins

# Debian packages the C, Rust and Windows (mk/windows.mk) sides need; installed only when missing.
DEB_PKGS := cmake pkg-config libsqlite3-dev libpq-dev valgrind postgresql-15 $(WIN_DEB_PKGS)
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/slipstream

plugins: deps plugins-c plugins-cpp plugins-rust

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"; exit 1; }

test-go:
	$(GO) test -race -shuffle=on $(GOTEST_FLAGS) ./...

# The product ships without cgo: run the Go tests once more that way.
test-go-nocgo:
	CGO_ENABLED=0 $(GO) test $(GOTEST_FLAGS) ./...

cross:
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build ./...
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build ./...
	CGO_ENABLED=0 $(GO) build ./...

# The header compiles cleanly as C11 and C++17, with every warning an error, and its helpers
# work (testdata/header/use.c); the README's C example builds as C11 and its C++ one as C++17.
CC  ?= cc
CXX ?= c++
test-header:
	@mkdir -p $(BUILD)/header
	for h in "" -DWITH_HELPER; do \
	  $(CC) -std=c11 -Wall -Wextra -Werror -pedantic $$h -Iinclude testdata/header/use.c -o $(BUILD)/header/use-c && $(BUILD)/header/use-c && \
	  $(CXX) -std=c++17 -Wall -Wextra -Werror -pedantic $$h -Iinclude -x c++ testdata/header/use.c -o $(BUILD)/header/use-cpp && $(BUILD)/header/use-cpp || exit 1; \
	done
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -Itestdata/abi/1.0 testdata/header/use10.c -o $(BUILD)/header/use10-c && $(BUILD)/header/use10-c
	$(CXX) -std=c++17 -Wall -Wextra -Werror -pedantic -Itestdata/abi/1.0 -x c++ testdata/header/use10.c -o $(BUILD)/header/use10-cpp && $(BUILD)/header/use10-cpp
	awk '/^```c$$/{f=1;next} /^```$$/{f=0} f' README.md > $(BUILD)/header/readme.c
	awk '/^```cpp$$/{f=1;next} /^```$$/{f=0} f' README.md > $(BUILD)/header/readme.cpp
	test -s $(BUILD)/header/readme.c && test -s $(BUILD)/header/readme.cpp
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -shared -fPIC -Iinclude $(BUILD)/header/readme.c -o $(BUILD)/header/libreadme-c.so
	$(CXX) -std=c++17 -Wall -Wextra -Werror -pedantic -shared -fPIC -Iinclude $(BUILD)/header/readme.cpp -o $(BUILD)/header/libreadme-cpp.so
	@echo "include/slipstream.h and the frozen 1.0 header: clean as C11 and C++17; the README's C and C++ plugins build"

test: deps vet cross test-header test-go test-go-nocgo test-c test-rust test-windows

# The demo: a generated chain replayed into the history plugin (SQLite) and the Rust NDJSON
# plugin, the summary, then one history query. Files in build/demo. The host refuses configs,
# libraries and their directories that group or others can write: hence the chmods.
DEMO        := $(BUILD)/demo
DEMO_BLOCKS ?= 3000
DEMO_SEED   ?= 42
demo: build plugins
	rm -rf $(DEMO)
	mkdir -p $(DEMO)
	chmod go-w $(BUILD) $(PLUGINS) $(DEMO)
	$(BIN) gen --blocks $(DEMO_BLOCKS) --ops 32 --stakers 50 --seed $(DEMO_SEED) -o $(DEMO)/chain.ndjson
	printf '{\n  libpath: "../plugins/libslipstream_history.so",\n  name: "history",\n  sqlite: "history.db",\n}\n' > $(DEMO)/history.json5
	printf '{\n  libpath: "../plugins/libslipstream_example_rust.so",\n  name: "ndjson-log",\n  path: "events.ndjson",\n}\n' > $(DEMO)/events.json5
	chmod 0644 $(DEMO)/history.json5 $(DEMO)/events.json5
	$(BIN) check $(DEMO)/history.json5 $(DEMO)/events.json5
	$(BIN) replay --plugin $(DEMO)/history.json5 --plugin $(DEMO)/events.json5 --input $(DEMO)/chain.ndjson
	@args="$$($(BIN) sample-key --input $(DEMO)/chain.ndjson 2>$(DEMO)/expected.txt)" || { cat $(DEMO)/expected.txt; exit 1; }; \
	  echo; echo "\$$ slipstream history --sqlite $(DEMO)/history.db $$args"; \
	  $(BIN) history --sqlite $(DEMO)/history.db $$args && cat $(DEMO)/expected.txt
	@ls -l $(DEMO)

# Benchmarks side by side in one run; writes BENCHMARKS.md (see scripts/bench.sh).
bench: deps
	scripts/bench.sh

# The long reliability runs: each fuzzer for FUZZTIME (CI: 30s), then the crash-and-resume
# soak of a replay into the history plugin.
# mk/fuzz.sh runs one fuzzer (and tells Go's end-of-fuzztime race from a finding).
FUZZTIME ?= 30s
FUZZ := GO=$(GO) mk/fuzz.sh
soak: deps
	$(FUZZ) ./host FuzzParseConfig $(FUZZTIME)
	$(FUZZ) ./host FuzzEncoderRoundTrip $(FUZZTIME)
	$(FUZZ) ./internal/chain FuzzReader $(FUZZTIME)
	$(FUZZ) ./internal/cabi FuzzArena $(FUZZTIME)
	SLIPSTREAM_SOAK=1 $(GO) test -count 1 -run 'Soak' -v $(GOTEST_FLAGS) ./e2e

clean: clean-c clean-rust clean-windows
	rm -rf $(BUILD)
