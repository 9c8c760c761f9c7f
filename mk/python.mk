# Python binding: a local venv, a maturin build into it, pytest, ruff, mypy and stubtest.
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
PY_DEPS_STAMP := $(VENV)/.deps-stamp
PY_ENV := VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH
# maturin builds with its own environment; its own target subdir stops it and plain cargo
# from rebuilding pyo3 for each other (TOOLCHAIN.md, pitfall 5).
MATURIN_TARGET := $(CARGO_TARGET_DIR)/maturin

TEST_TARGETS += test-python
BENCH_TARGETS += bench-python
DEMO_TARGET := demo-web

.PHONY: python-deps python-build test-python bench-python demo-web

$(PY_DEPS_STAMP): bindings-python/requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r bindings-python/requirements-dev.txt
	touch $@

python-deps: $(PY_DEPS_STAMP)

python-build: python-deps
	cd bindings-python && $(PY_ENV) maturin develop -q --target-dir $(MATURIN_TARGET)

test-python: python-build system-deps
	cd bindings-python && $(PY_ENV) ruff check python tests demo
	cd bindings-python && $(PY_ENV) mypy --strict python/tessera demo tests/typed_example.py
	cd bindings-python && $(PY_ENV) python -m mypy.stubtest tessera._native
	cd bindings-python && $(PY_ENV) python -m pytest -q -p no:cacheprovider

demo-web: python-build
	cd bindings-python && $(PY_ENV) python -m demo

bench-python: python-deps
	cd bindings-python && $(PY_ENV) maturin develop -q --release --target-dir $(MATURIN_TARGET)
	cd bindings-python && $(PY_ENV) python benches/run.py $(ROOT)/benches/results
