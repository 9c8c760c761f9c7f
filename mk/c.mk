# The C ABI (bindings-c): libtessera.so / libtessera.a and include/tessera.h, the C suite (plain,
# valgrind, ASan + UBSan), the libmicrohttpd example, `make install` and the C-ABI bench.
#
#   make test-c                     the C suite (part of `make test`), on the memory store and
#                                   on a private redis-server (installed by `system-deps`)
#   make c-build                    the debug library and the plain C test programs and example,
#                                   in $(C_OUT)/bin (linked to $(C_OUT)/lib/libtessera.so); run
#                                   them with TESSERA_TEST_VERBOSE=1 to see every event and error
#   make bench-c                    validate through the C ABI vs Rust (part of `make bench`)
#   make install PREFIX=/usr/local  the release library (shared, with its soname links, and
#                                   static), tessera.h and tessera.pc, then what to do next
#                                   (DESTDIR honoured; C_PROFILE=debug installs the debug build)
#   make dist-c                     dist/tessera-c-VERSION-linux-ARCH.tar.gz: the same tree,
#                                   with a relocatable tessera.pc (part of `make dist`)
#   make c-example                  build and start the example service (PORT=8080)

C_DIR := $(ROOT)/bindings-c
C_OUT := $(CARGO_TARGET_DIR)/c
PREFIX ?= /usr/local
C_PROFILE ?= release
PORT ?= 8080
C_DEBIAN_PACKAGES := gcc g++ libc6-dev binutils pkg-config libjansson-dev libmicrohttpd-dev \
	valgrind curl

# The packaged library (make install, make dist-c) is built in a profile of its own, "c-dist":
# release with whole-program (fat) LTO in one codegen unit, no debug info, and opt-level "s".
# Measured (0.1.0, gzip -9): plain release, stripped, makes a 9.5 MB .a.gz (the archive carries
# every function of std and of every dependency: rustls, ring, url, ICU from the Redis client,
# SQLite) and a 2.8 MB .so.gz; LTO keeps only what the exports reach, and only in a crate built
# without its rlib type (hence `cargo rustc --crate-type cdylib,staticlib`, one build for both);
# at opt-level 3 that is 3.3 + 2.5 MB, over the 5 MB the tarball weighed at most then, at "s"
# 2.8 + 1.8. The Redis store's async client (tokio, the cluster client; issue 12) added 0.7 MB
# (4.6 → 5.3 MB in all): the limit is 6 MiB since.
# A profile of its own (and so its own directory, target/c-dist): the other release builds of
# the workspace (benches, wheel, addon) keep opt-level 3 and their faster builds.
C_RELEASE_PROFILE := c-dist
C_RELEASE_FLAGS := --profile $(C_RELEASE_PROFILE) \
	--config 'profile.$(C_RELEASE_PROFILE).inherits="release"' \
	--config 'profile.$(C_RELEASE_PROFILE).lto="fat"' \
	--config 'profile.$(C_RELEASE_PROFILE).codegen-units=1' \
	--config 'profile.$(C_RELEASE_PROFILE).opt-level="s"' \
	--config 'profile.$(C_RELEASE_PROFILE).debug=false'
C_RELEASE_DIR := $(CARGO_TARGET_DIR)/$(C_RELEASE_PROFILE)
# The version is the workspace's ([workspace.package] in Cargo.toml), the one build.rs puts in
# tessera.h; install.sh checks that they agree.
C_VERSION := $(shell sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' \
	$(ROOT)/Cargo.toml)
C_DIST_NAME := tessera-c-$(C_VERSION)-linux-$(shell uname -m)
C_DIST_TARBALL := $(ROOT)/dist/$(C_DIST_NAME).tar.gz
C_DIST_MAX_BYTES := 6291456
c_install_dir = $(if $(filter debug,$(C_PROFILE)),$(CARGO_TARGET_DIR)/debug,$(C_RELEASE_DIR))

TEST_TARGETS += test-c
BENCH_TARGETS += bench-c
DIST_TARGETS += dist-c

.PHONY: test-c c-build bench-c install c-deps c-example c-release dist-c

c-deps:
	@$(ROOT)/scripts/ensure-apt $(C_DEBIAN_PACKAGES)

# The system libraries a static link of libtessera.a needs (TOOLCHAIN.md pitfall 11), asked of
# rustc once per target directory. Done before the debug build so that build stays fresh.
$(C_OUT)/native-static-libs:
	@mkdir -p $(C_OUT)
	$(CARGO) rustc -p tessera-c --lib --crate-type staticlib -- --print native-static-libs 2>&1 \
		| sed -n 's/^note: native-static-libs: //p' > $@.tmp
	@test -s $@.tmp && mv $@.tmp $@

# The suite installs the tarball of dist-c (built once per make run, release) into a fresh
# prefix and builds against it, as a user without Rust would.
test-c: c-build system-deps dist-c
	ROOT="$(ROOT)" C_OUT="$(C_OUT)" C_LIB="$(CARGO_TARGET_DIR)/debug" \
		C_DIST_TARBALL="$(C_DIST_TARBALL)" C_VERSION="$(C_VERSION)" \
		bash $(C_DIR)/tests/run.sh --plain-built

# The debug library and the plain C programs (tests and example) in $(C_OUT)/bin, run nothing:
# test-c starts from it, and so can suites that run the programs their own way
# (mk/redaction.mk), even in the same `make -j` (the programs are built once).
c-build: c-deps $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c
	ROOT="$(ROOT)" C_OUT="$(C_OUT)" C_LIB="$(CARGO_TARGET_DIR)/debug" bash $(C_DIR)/tests/run.sh \
		--build-only

bench-c:
	$(CARGO) bench -p tessera-c --bench c_abi -- --out $(ROOT)/benches/results

## c-release: the packaged library (profile c-dist), once per make run; cargo shows its progress.
## It also asks rustc for the system libraries its static archive needs (cargo replays the
## note when the build is fresh), so that make install builds nothing else.
c-release:
	@echo "bindings-c: building libtessera $(C_VERSION) (release, LTO; 1-3 min from cold)"
	@mkdir -p $(C_OUT)
	$(CARGO) rustc -p tessera-c --lib --crate-type cdylib,staticlib $(C_RELEASE_FLAGS) \
		-- --print native-static-libs 2>&1 | tee $(C_OUT)/c-release.log
	@sed -n 's/^note: native-static-libs: //p' $(C_OUT)/c-release.log | head -1 \
		>$(C_OUT)/c-release-static-libs
	@test -s $(C_OUT)/c-release-static-libs || { \
		echo "bindings-c: rustc printed no native-static-libs" >&2; exit 1; }

# C_PROFILE=debug installs the debug library with its debug info (for debugging Tessera itself).
install: $(if $(filter debug,$(C_PROFILE)),c-install-debug,c-release)
	$(if $(filter debug,$(C_PROFILE)),TESSERA_KEEP_DEBUG=1) bash $(C_DIR)/install.sh install \
		"$(PREFIX)" "$(c_install_dir)" "$(C_VERSION)" \
		"$(C_OUT)/$(if $(filter debug,$(C_PROFILE)),native-static-libs,c-release-static-libs)"

.PHONY: c-install-debug
c-install-debug: $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c

dist-c: c-release
	rm -rf $(C_OUT)/dist-stage && mkdir -p $(C_OUT)/dist-stage $(ROOT)/dist
	bash $(C_DIR)/install.sh stage "$(C_OUT)/dist-stage/$(C_DIST_NAME)" "$(C_RELEASE_DIR)" \
		"$(C_VERSION)" "$(C_OUT)/c-release-static-libs"
	tar -C $(C_OUT)/dist-stage --sort=name --owner=0 --group=0 --numeric-owner \
		-I 'gzip -9 -n' -cf $(C_DIST_TARBALL).tmp $(C_DIST_NAME)
	mv $(C_DIST_TARBALL).tmp $(C_DIST_TARBALL)
	@size=$$(stat -c %s $(C_DIST_TARBALL)); \
	echo "bindings-c: $(C_DIST_TARBALL): $$size bytes (limit $(C_DIST_MAX_BYTES))"; \
	tar -tzvf $(C_DIST_TARBALL) | awk '{ printf "  %10s  %s %s %s\n", $$3, $$6, $$7, $$8 }'; \
	if [ "$$size" -gt $(C_DIST_MAX_BYTES) ]; then \
		echo "bindings-c: the C tarball is over $(C_DIST_MAX_BYTES) bytes" >&2; exit 1; fi

c-example: c-deps $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c
	@mkdir -p $(C_OUT)/bin
	gcc -std=c11 -Wall -Wextra -O2 -g -pthread -I$(C_DIR)/include $(C_DIR)/examples/server.c \
		-o $(C_OUT)/bin/server-example $(CARGO_TARGET_DIR)/debug/libtessera.a \
		$$(cat $(C_OUT)/native-static-libs) $$(pkg-config --cflags --libs libmicrohttpd jansson)
	$(C_OUT)/bin/server-example $(PORT)
