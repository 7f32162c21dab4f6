# mk/rust.mk — the Cargo workspace (Cargo.toml at the root): the Rust SDK (sdk/rust), the Rust
# example plugin (plugins/example_rust) and the test plugins (sdk/rust/testplugins/*). Included
# by the top Makefile; GNU make, run from the repository root. Needs only cargo/rustc (std only,
# no registry: --offline) and a C compiler for the SDK's layout test ($CC, default cc).
#
#   make plugins-rust   release builds of every plugin in the workspace, copied to $(RUST_PLUGIN_DIR)
#   make test-rust      cargo test --workspace
#   make lint-rust      cargo fmt --check and clippy, warnings as errors
#   make clean-rust     removes $(RUST_TARGET_DIR) and the copied libraries

RUST_CARGO       ?= cargo
RUST_TARGET_DIR  ?= $(CURDIR)/build/cargo
RUST_PLUGIN_DIR  ?= $(CURDIR)/build/plugins
RUST_CARGO_FLAGS ?= --offline --locked
RUST_JOBS        ?= 2

# Shared-library naming of cargo's cdylib output on this OS.
ifeq ($(OS),Windows_NT)
RUST_LIB_PREFIX :=
RUST_LIB_EXT    := .dll
else ifeq ($(shell uname -s),Darwin)
RUST_LIB_PREFIX := lib
RUST_LIB_EXT    := .dylib
else
RUST_LIB_PREFIX := lib
RUST_LIB_EXT    := .so
endif

# Library (crate lib) names of the workspace's plugins and the files they become.
RUST_PLUGIN_LIBS  := slipstream_example_rust slipstream_test_panicky slipstream_test_summer slipstream_test_snarkvm_port
RUST_PLUGIN_FILES := $(foreach l,$(RUST_PLUGIN_LIBS),$(RUST_LIB_PREFIX)$(l)$(RUST_LIB_EXT))
RUST_PLUGIN_OUTS  := $(addprefix $(RUST_PLUGIN_DIR)/,$(RUST_PLUGIN_FILES))
RUST_EXAMPLE_SO   := $(RUST_PLUGIN_DIR)/$(RUST_LIB_PREFIX)slipstream_example_rust$(RUST_LIB_EXT)
RUST_PANICKY_SO   := $(RUST_PLUGIN_DIR)/$(RUST_LIB_PREFIX)slipstream_test_panicky$(RUST_LIB_EXT)

# Every cargo call goes through the one workspace (Cargo.toml at the root: one lock file, one
# target dir outside the source tree).
RUST_ENV := CARGO_TARGET_DIR="$(RUST_TARGET_DIR)"
RUST_WS  := --workspace -j $(RUST_JOBS) $(RUST_CARGO_FLAGS)

.PHONY: plugins-rust test-rust lint-rust clean-rust

# Mode 0755 on install: the host refuses libraries that group or others can write.
plugins-rust:
	$(RUST_ENV) $(RUST_CARGO) build --release $(RUST_WS)
	mkdir -p "$(RUST_PLUGIN_DIR)"
	for f in $(RUST_PLUGIN_FILES); do install -m 0755 "$(RUST_TARGET_DIR)/release/$$f" "$(RUST_PLUGIN_DIR)/$$f" || exit 1; done

# The SDK's tests need its `testing` feature; the crates enable it for their tests themselves.
test-rust:
	$(RUST_ENV) $(RUST_CARGO) test $(RUST_WS)

lint-rust:
	$(RUST_CARGO) fmt --all -- --check
	$(RUST_ENV) $(RUST_CARGO) clippy $(RUST_WS) --all-targets -- -D warnings

clean-rust:
	rm -rf "$(RUST_TARGET_DIR)" $(RUST_PLUGIN_OUTS)
