# Fuzzing (fuzz/): cargo-fuzz (libFuzzer + AddressSanitizer) targets over the token parser, the
# Cookie header parser, session data JSON and writes, and the C ABI. See fuzz/README.md.
#
#   make fuzz                                   every target for FUZZ_SECONDS (default 300) each
#   make fuzz FUZZ_TARGETS=c_abi FUZZ_SECONDS=60
#   make test-fuzz                              every target for 30 s (part of `make test`)
#
# Targets run FUZZ_JOBS (default 2) at a time; a crash fails the run and leaves its input in
# fuzz/artifacts/<target>/. The seeds in fuzz/corpus/ are read, never written: what a run finds
# is kept in $(CARGO_TARGET_DIR)/fuzz/corpus/ and reused by the next run.
#
# cargo-fuzz passes nightly-only flags; with only the stable toolchain here it runs under
# RUSTC_BOOTSTRAP=1 (TOOLCHAIN.md, pitfall 13). Fuzz builds use sanitizer and coverage flags, so
# they get their own target dir, $(CARGO_TARGET_DIR)/fuzz: in the shared one they would rebuild
# the workspace's artifacts with those flags and back. CI=1 keeps the C crate's build script
# from rewriting bindings-c/include/tessera.h from this build.

FUZZ_DIR := $(ROOT)/fuzz
FUZZ_TARGET_DIR := $(CARGO_TARGET_DIR)/fuzz
FUZZ_TARGETS ?= token_parse cookie_header session_data c_abi
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 30
FUZZ_JOBS ?= 2
FUZZ_CARGO_ENV := CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) RUSTC_BOOTSTRAP=1 CI=1
FUZZ_RUN := FUZZ_TARGET_DIR=$(FUZZ_TARGET_DIR) FUZZ_JOBS=$(FUZZ_JOBS) bash $(FUZZ_DIR)/run.sh

TEST_TARGETS += test-fuzz

.PHONY: fuzz test-fuzz fuzz-build cargo-fuzz

## cargo-fuzz: install cargo-fuzz unless `cargo fuzz` already works (a few minutes, once)
cargo-fuzz:
	@if ! $(CARGO) fuzz --version >/dev/null 2>&1; then \
		echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"; \
		env -u CARGO_TARGET_DIR $(CARGO) install cargo-fuzz --locked; \
	fi

## fuzz-build: build every fuzz target (release, debug assertions, ASan)
fuzz-build: cargo-fuzz
	cd $(FUZZ_DIR) && $(FUZZ_CARGO_ENV) $(CARGO) fuzz build

## fuzz: run each of FUZZ_TARGETS for FUZZ_SECONDS
fuzz: fuzz-build
	$(FUZZ_RUN) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## test-fuzz: run each fuzz target for FUZZ_TEST_SECONDS (30 s); fails if any crashes
test-fuzz: fuzz-build
	cd $(FUZZ_DIR) && $(CARGO) fmt --check
	$(FUZZ_RUN) $(FUZZ_TEST_SECONDS) $(FUZZ_TARGETS)
