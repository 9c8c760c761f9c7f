# Redis benchmarks (issues 6, 12): Tessera on one private redis-server (and, from Rust, on a
# private three-master Redis Cluster), from Rust and from Python, in
# one run — validate and create against a bare GET from the same language, and against Django's
# Redis cache session backend. connect-redis (Node) is the Node bench's (mk/node.mk).
#
#   make bench-redis    part of `make bench`; about 2 minutes once built
#
# bindings-python/benches/redis_bench.py starts redis-server on a free loopback port
# (--save '' --appendonly no; stopped afterwards), runs the `redis` binary of tessera-benches
# (benches/src/bin/redis.rs) against it, then the Python figures, and writes
# benches/results/redis.{json,md}.
#
# The Python binding is a release wheel installed into a private directory put first on
# PYTHONPATH: the shared venv only lends its interpreter and packages (Django, redis), and a
# debug `make python-build` by someone else at the same time changes nothing here.

BENCH_REDIS_DIR := $(CARGO_TARGET_DIR)/bench-redis

BENCH_TARGETS += bench-redis

.PHONY: bench-redis

bench-redis: python-deps system-deps
	$(CARGO) build --release -q -p tessera-benches --bin redis
	rm -rf $(BENCH_REDIS_DIR)/wheels $(BENCH_REDIS_DIR)/site
	cd bindings-python && $(PY_ENV) maturin build -q --release --target-dir $(MATURIN_TARGET) \
		-i $(PY) -o $(BENCH_REDIS_DIR)/wheels
	$(PY) -m pip install -q --no-deps --target $(BENCH_REDIS_DIR)/site $(BENCH_REDIS_DIR)/wheels/*.whl
	cd bindings-python && $(PY_ENV) ruff check benches/redis_bench.py
	cd bindings-python && $(PY_ENV) PYTHONPATH=$(BENCH_REDIS_DIR)/site python benches/redis_bench.py \
		--rust-bin $(CARGO_TARGET_DIR)/release/redis $(ROOT)/benches/results
