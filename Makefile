# Tessera: the only entry points a newcomer needs are `make demo` and `make test`.
# Each binding adds its targets from mk/<name>.mk (TEST_TARGETS, BENCH_TARGETS).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
# One target dir for every build (cargo, maturin, napi) keeps a cold `make test` within budget.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
ROOT := $(CURDIR)

TEST_TARGETS :=
BENCH_TARGETS :=
DIST_TARGETS :=
DEMO_TARGET := walkthrough

.PHONY: demo walkthrough test lint test-rust rngtest bench bench-core bench-packages system-deps dist

include $(sort $(wildcard mk/*.mk))

## demo: the Flask, Express and C demo servers on one session store (mk/demo.mk)
demo: $(DEMO_TARGET)

## walkthrough: a session's whole life on a manual clock, narrated
walkthrough:
	$(CARGO) run -q -p tessera-core --example walkthrough

## test: formatting, lints and every suite
test: lint test-rust rngtest $(TEST_TARGETS)
	@echo "make test: every suite passed"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## system-deps: Debian packages the suites need (redis-server for the Redis store, rngtest)
system-deps:
	$(ROOT)/scripts/ensure-apt redis-server rng-tools5

test-rust: system-deps
	$(CARGO) test --workspace

## rngtest: FIPS 140-2 tests (rng-tools5) on 20 Mbit of token bytes
rngtest: system-deps
	CARGO=$(CARGO) $(ROOT)/scripts/rngtest-tokens

## dist: release packages into dist/ — the Python wheel, the npm tarball (with its prebuilt
## addon) and the C tarball — each from mk/<binding>.mk
dist: $(DIST_TARGETS)
	@ls -l $(ROOT)/dist

## bench: benches and reports under benches/results/
bench: bench-core $(BENCH_TARGETS) bench-packages

## bench-packages: sizes of the dist/ packages and their cold install times, without Rust
bench-packages: dist
	$(ROOT)/scripts/bench-packages $(ROOT)/dist $(ROOT)/benches/results

bench-core:
	bash benches/run-core.sh
