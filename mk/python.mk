# Python binding: a local venv, a maturin build into it, pytest, ruff, mypy and stubtest.
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
PY_DEPS_STAMP := $(VENV)/.deps-stamp
PY_ENV := VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH
# maturin builds with its own environment; its own target subdir stops it and plain cargo
# from rebuilding pyo3 for each other (TOOLCHAIN.md, pitfall 5).
MATURIN_TARGET := $(CARGO_TARGET_DIR)/maturin

# The release wheel: built once per change of its sources (make tracks them), shared by
# `make dist-python` and the suite's install test (tests/test_wheel_install.py).
PY_WHEEL_DIR := $(CARGO_TARGET_DIR)/wheels-python
PY_WHEEL_STAMP := $(PY_WHEEL_DIR)/.built
PY_WHEEL_SOURCES := $(shell find $(ROOT)/core/src $(ROOT)/bindings-python/src \
	$(ROOT)/bindings-python/python -type f \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' \
	-o -name py.typed \)) $(ROOT)/core/Cargo.toml $(ROOT)/bindings-python/Cargo.toml \
	$(ROOT)/bindings-python/pyproject.toml $(ROOT)/bindings-python/README.md $(ROOT)/Cargo.lock

# Django, Flask and their dependencies as wheels, downloaded once: the install test puts them
# into its fresh venv with --no-index (only Tessera comes from the wheel under test).
PY_WHEELHOUSE := $(CARGO_TARGET_DIR)/wheelhouse-python
PY_WHEELHOUSE_STAMP := $(PY_WHEELHOUSE)/.downloaded

TEST_TARGETS += test-python
BENCH_TARGETS += bench-python
DIST_TARGETS += dist-python

.PHONY: python-deps python-build test-python bench-python dist-python python-wheel python-wheelhouse

$(PY_DEPS_STAMP): bindings-python/requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r bindings-python/requirements-dev.txt
	touch $@

python-deps: $(PY_DEPS_STAMP)

python-build: python-deps
	cd bindings-python && $(PY_ENV) maturin develop -q --target-dir $(MATURIN_TARGET)

# abi3 (one wheel for CPython 3.9+), release, stripped; maturin picks the manylinux tag the
# module's glibc symbols allow and checks it (the module links only glibc: nothing to repair).
$(PY_WHEEL_STAMP): $(PY_WHEEL_SOURCES) | python-deps
	rm -rf $(PY_WHEEL_DIR) && mkdir -p $(PY_WHEEL_DIR)
	cd bindings-python && $(PY_ENV) maturin build --release --strip \
		--target-dir $(MATURIN_TARGET) --out $(PY_WHEEL_DIR)
	touch $@

python-wheel: $(PY_WHEEL_STAMP)

python-wheelhouse: $(PY_WHEELHOUSE_STAMP)

$(PY_WHEELHOUSE_STAMP): bindings-python/requirements-dev.txt | python-deps
	mkdir -p $(PY_WHEELHOUSE)
	$(PY) -m pip download -q -d $(PY_WHEELHOUSE) "Django>=5.2,<5.3" "Flask>=3.1,<4"
	touch $@

## dist-python: the release wheel into dist/
dist-python: $(PY_WHEEL_STAMP)
	mkdir -p $(ROOT)/dist
	rm -f $(ROOT)/dist/tessera-*.whl
	cp $(PY_WHEEL_DIR)/tessera-*.whl $(ROOT)/dist/
	@ls -l $(ROOT)/dist/tessera-*.whl

test-python: python-build python-wheel $(PY_WHEELHOUSE_STAMP) system-deps
	cd bindings-python && $(PY_ENV) ruff check python tests demo ../demo/launch.py
	cd bindings-python && $(PY_ENV) mypy --strict python/tessera demo ../demo/launch.py tests/typed_example.py
	cd bindings-python && $(PY_ENV) python -m mypy.stubtest tessera._native
	cd bindings-python && $(PY_ENV) TESSERA_WHEEL_DIR=$(PY_WHEEL_DIR) \
		TESSERA_WHEELHOUSE=$(PY_WHEELHOUSE) python -m pytest -q -p no:cacheprovider

bench-python: python-deps
	cd bindings-python && $(PY_ENV) maturin develop -q --release --target-dir $(MATURIN_TARGET)
	cd bindings-python && $(PY_ENV) python benches/run.py $(ROOT)/benches/results
