# mk/rust.mk — the Rust SDK (sdk/rust), the Rust example plugin (plugins/example_rust) and the
# panicking test plugin (sdk/rust/testplugins/panicky). Included by the top Makefile; GNU make,
# run from the repository root. Needs only cargo/rustc (std only, no registry: --offline) and
# a C compiler for the SDK's layout test ($CC, default cc).
#
#   make plugins-rust   release builds, copied to $(RUST_PLUGIN_DIR)
#   make test-rust      cargo test for the SDK, the example and the test plugin
#   make lint-rust      cargo fmt --check and clippy, warnings as errors
#   make clean-rust     removes $(RUST_TARGET_DIR) and the copied libraries

RUST_CARGO       ?= cargo
RUST_TARGET_DIR  ?= $(CURDIR)/build/cargo
RUST_PLUGIN_DIR  ?= $(CURDIR)/build/plugins
RUST_CARGO_FLAGS ?= --offline --locked

RUST_SDK_DIR     := sdk/rust
RUST_EXAMPLE_DIR := plugins/example_rust
RUST_PANICKY_DIR := sdk/rust/testplugins/panicky
RUST_SUMMER_DIR  := sdk/rust/testplugins/summer
RUST_CRATE_DIRS  := $(RUST_SDK_DIR) $(RUST_EXAMPLE_DIR) $(RUST_PANICKY_DIR)

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

# Library (crate lib) names of the plugins and the files they become.
RUST_PLUGIN_LIBS  := slipstream_example_rust slipstream_test_panicky slipstream_test_summer
RUST_PLUGIN_FILES := $(foreach l,$(RUST_PLUGIN_LIBS),$(RUST_LIB_PREFIX)$(l)$(RUST_LIB_EXT))
RUST_PLUGIN_OUTS  := $(addprefix $(RUST_PLUGIN_DIR)/,$(RUST_PLUGIN_FILES))
RUST_EXAMPLE_SO   := $(RUST_PLUGIN_DIR)/$(RUST_LIB_PREFIX)slipstream_example_rust$(RUST_LIB_EXT)
RUST_PANICKY_SO   := $(RUST_PLUGIN_DIR)/$(RUST_LIB_PREFIX)slipstream_test_panicky$(RUST_LIB_EXT)

# Every cargo call: one shared target dir outside the source tree.
RUST_ENV := CARGO_TARGET_DIR="$(RUST_TARGET_DIR)"

.PHONY: plugins-rust test-rust lint-rust clean-rust

# Mode 0755 on install: the host refuses libraries that group or others can write.
plugins-rust:
	$(RUST_ENV) $(RUST_CARGO) build --release $(RUST_CARGO_FLAGS) --manifest-path $(RUST_EXAMPLE_DIR)/Cargo.toml
	$(RUST_ENV) $(RUST_CARGO) build --release $(RUST_CARGO_FLAGS) --manifest-path $(RUST_PANICKY_DIR)/Cargo.toml
	$(RUST_ENV) $(RUST_CARGO) build --release $(RUST_CARGO_FLAGS) --manifest-path $(RUST_SUMMER_DIR)/Cargo.toml
	mkdir -p "$(RUST_PLUGIN_DIR)"
	for f in $(RUST_PLUGIN_FILES); do install -m 0755 "$(RUST_TARGET_DIR)/release/$$f" "$(RUST_PLUGIN_DIR)/$$f" || exit 1; done

# (sdk/rust/testplugins/summer, a benchmark plugin without tests, is built by plugins-rust.)
test-rust:
	for d in $(RUST_CRATE_DIRS); do $(RUST_ENV) $(RUST_CARGO) test $(RUST_CARGO_FLAGS) --manifest-path $$d/Cargo.toml || exit 1; done

lint-rust:
	for d in $(RUST_CRATE_DIRS); do \
	  $(RUST_CARGO) fmt --manifest-path $$d/Cargo.toml -- --check || exit 1; \
	  $(RUST_ENV) $(RUST_CARGO) clippy $(RUST_CARGO_FLAGS) --all-targets --manifest-path $$d/Cargo.toml -- -D warnings || exit 1; \
	done

clean-rust:
	rm -rf "$(RUST_TARGET_DIR)" $(RUST_PLUGIN_OUTS)
