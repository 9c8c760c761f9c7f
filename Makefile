# Tessera: the only entry points a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
# One target dir for every build (cargo, maturin, napi) keeps a cold `make test` within budget.
export CARGO_TARGET_DIR ?= $(CURDIR)/target

.PHONY: demo walkthrough test lint test-rust bench

## demo: the narrated walkthrough of a session's life (the web demo arrives with the Python binding)
demo: walkthrough

## walkthrough: a session's whole life on a manual clock, narrated
walkthrough:
	$(CARGO) run -q -p tessera-core --example walkthrough

## test: formatting, lints and every suite
test: lint test-rust

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

## bench: criterion benches and reports under benches/results/
bench:
	bash benches/run-core.sh
