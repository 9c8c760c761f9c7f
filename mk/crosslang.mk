# The cross-language test: one Redis session handled by Python, Node and C in turn.
CROSSLANG_DIR := $(ROOT)/tests/crosslang
CROSSLANG_STEP := $(CARGO_TARGET_DIR)/crosslang/step

TEST_TARGETS += test-crosslang

.PHONY: test-crosslang

test-crosslang: python-build node-build system-deps c-deps $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c
	@mkdir -p $(dir $(CROSSLANG_STEP))
	gcc -std=c11 -Wall -Wextra -Werror -I$(ROOT)/bindings-c/include $(CROSSLANG_DIR)/step.c \
		-o $(CROSSLANG_STEP) $(CARGO_TARGET_DIR)/debug/libtessera.a $$(cat $(C_OUT)/native-static-libs) -ljansson
	cd $(ROOT)/bindings-python && $(PY_ENV) ruff check $(CROSSLANG_DIR)
	cd $(ROOT)/bindings-python && TESSERA_C_STEP=$(CROSSLANG_STEP) $(PY_ENV) \
		python -m pytest -q -p no:cacheprovider -c /dev/null -W error $(CROSSLANG_DIR)/test_crosslang.py
