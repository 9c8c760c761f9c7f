# SQLite benchmarks (issue 11): Tessera on its embedded store with 1,000,000 sessions, from Rust
# and from Python, in one run — validate and create, against Django's own db session engine on
# SQLite, and validate throughput of 4 processes sharing the file against 1.
#
#   make bench-sqlite    part of `make bench`; about a minute once built and once the fixtures
#                        exist. Building them the first time adds about 2-3 minutes and ~1 GB
#                        of disk (100,000 sessions took 8 s for Tessera, 4 s for Django).
#
# bindings-python/benches/sqlite_bench.py runs the `sqlite` binary of tessera-benches
# (benches/src/bin/sqlite.rs: the Rust figures and the process throughput), then the Python and
# Django figures on the same file, and writes benches/results/sqlite.{json,md}.
#
# The fixtures (1,000,000 Tessera sessions built through the store, as many Django sessions) are
# cached in $(BENCH_SQLITE_FIXTURES) and reused while younger than 20 days; delete that
# directory to rebuild them. Sessions a run creates are removed at its end.
#
# The Python binding is a release wheel installed into a private directory put first on
# PYTHONPATH (as bench-redis does): the shared venv only lends its interpreter and Django, and a
# debug `make python-build` by someone else at the same time changes nothing here.

BENCH_SQLITE_DIR := $(CARGO_TARGET_DIR)/bench-sqlite
# Where the report goes and the fixtures are cached. A smoke test of the runner, writing elsewhere:
#   TESSERA_BENCH_QUICK=1 make bench-sqlite BENCH_SQLITE_OUT=/tmp/out BENCH_SQLITE_FIXTURES=/tmp/fx
BENCH_SQLITE_OUT ?= $(ROOT)/benches/results
BENCH_SQLITE_FIXTURES ?= $(BENCH_SQLITE_DIR)/fixture

BENCH_TARGETS += bench-sqlite

.PHONY: bench-sqlite

bench-sqlite: python-deps
	$(CARGO) build --release -q -p tessera-benches --bin sqlite
	rm -rf $(BENCH_SQLITE_DIR)/wheels $(BENCH_SQLITE_DIR)/site
	cd bindings-python && $(PY_ENV) maturin build -q --release --target-dir $(MATURIN_TARGET) \
		-i $(PY) -o $(BENCH_SQLITE_DIR)/wheels
	$(PY) -m pip install -q --no-deps --target $(BENCH_SQLITE_DIR)/site $(BENCH_SQLITE_DIR)/wheels/*.whl
	cd bindings-python && $(PY_ENV) ruff check benches/sqlite_bench.py
	cd bindings-python && $(PY_ENV) PYTHONPATH=$(BENCH_SQLITE_DIR)/site python benches/sqlite_bench.py \
		--rust-bin $(CARGO_TARGET_DIR)/release/sqlite --fixture-dir $(BENCH_SQLITE_FIXTURES) \
		$(BENCH_SQLITE_OUT)
