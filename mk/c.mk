# The C ABI (bindings-c): libtessera.so / libtessera.a and include/tessera.h, the C suite (plain,
# valgrind, ASan + UBSan), the libmicrohttpd example, `make install` and the C-ABI bench.
#
#   make test-c                     the C suite (part of `make test`), on the memory store and
#                                   on a private redis-server (installed by `system-deps`)
#   make c-build                    the debug library and the plain C test programs and example,
#                                   in $(C_OUT)/bin (linked to $(C_OUT)/lib/libtessera.so); run
#                                   them with TESSERA_TEST_VERBOSE=1 to see every event and error
#   make bench-c                    validate through the C ABI vs Rust (part of `make bench`)
#   make install PREFIX=/usr/local  library, header, tessera.pc (DESTDIR honoured; C_PROFILE=debug
#                                   installs the debug build)
#   make c-example                  build and start the example service (PORT=8080)

C_DIR := $(ROOT)/bindings-c
C_OUT := $(CARGO_TARGET_DIR)/c
PREFIX ?= /usr/local
C_PROFILE ?= release
PORT ?= 8080
C_DEBIAN_PACKAGES := gcc g++ libc6-dev binutils pkg-config libjansson-dev libmicrohttpd-dev \
	valgrind curl
c_profile_flag = $(if $(filter release,$(C_PROFILE)),--release,)
c_profile_dir = $(CARGO_TARGET_DIR)/$(if $(filter release,$(C_PROFILE)),release,debug)

TEST_TARGETS += test-c
BENCH_TARGETS += bench-c

.PHONY: test-c c-build bench-c install c-deps c-example

c-deps:
	@$(ROOT)/scripts/ensure-apt $(C_DEBIAN_PACKAGES)

# The system libraries a static link of libtessera.a needs (TOOLCHAIN.md pitfall 11), asked of
# rustc once per target directory. Done before the debug build so that build stays fresh.
$(C_OUT)/native-static-libs:
	@mkdir -p $(C_OUT)
	$(CARGO) rustc -p tessera-c --lib --crate-type staticlib -- --print native-static-libs 2>&1 \
		| sed -n 's/^note: native-static-libs: //p' > $@.tmp
	@test -s $@.tmp && mv $@.tmp $@

test-c: c-build system-deps
	ROOT="$(ROOT)" C_OUT="$(C_OUT)" C_LIB="$(CARGO_TARGET_DIR)/debug" bash $(C_DIR)/tests/run.sh \
		--plain-built

# The debug library and the plain C programs (tests and example) in $(C_OUT)/bin, run nothing:
# test-c starts from it, and so can suites that run the programs their own way
# (mk/redaction.mk), even in the same `make -j` (the programs are built once).
c-build: c-deps $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c
	ROOT="$(ROOT)" C_OUT="$(C_OUT)" C_LIB="$(CARGO_TARGET_DIR)/debug" bash $(C_DIR)/tests/run.sh \
		--build-only

bench-c:
	$(CARGO) bench -p tessera-c --bench c_abi -- --out $(ROOT)/benches/results

install: $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c $(c_profile_flag)
	bash $(C_DIR)/install.sh "$(PREFIX)" "$(c_profile_dir)" "$(C_OUT)/native-static-libs"

c-example: c-deps $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c
	@mkdir -p $(C_OUT)/bin
	gcc -std=c11 -Wall -Wextra -O2 -g -pthread -I$(C_DIR)/include $(C_DIR)/examples/server.c \
		-o $(C_OUT)/bin/server-example $(CARGO_TARGET_DIR)/debug/libtessera.a \
		$$(cat $(C_OUT)/native-static-libs) $$(pkg-config --cflags --libs libmicrohttpd jansson)
	$(C_OUT)/bin/server-example $(PORT)
