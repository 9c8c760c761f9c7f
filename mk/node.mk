# Node binding (bindings-node/): the npm package `tessera`, built with @napi-rs/cli into the
# shared target dir, tested with `node --test`, benchmarked with autocannon.
NODE_DIR := $(ROOT)/bindings-node
NODE_STAMP := $(NODE_DIR)/node_modules/.install-stamp
NAPI := $(NODE_DIR)/node_modules/.bin/napi
NODE_BUILD_FLAGS := --no-js --dts native.d.ts --manifest-path Cargo.toml --output-dir . --target-dir $(CARGO_TARGET_DIR)

TEST_TARGETS += test-node
BENCH_TARGETS += bench-node

.PHONY: test-node bench-node node-deps node-build node-build-release

# npm ci from the committed lockfile (npm install only while there is none); redone when the
# lockfile or package.json changes. Only the npm registry is contacted.
$(NODE_STAMP): $(NODE_DIR)/package.json $(wildcard $(NODE_DIR)/package-lock.json)
	cd $(NODE_DIR) && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	touch $@

node-deps: $(NODE_STAMP)

## node-build: the addon (debug: what the tests use) as bindings-node/tessera.node; native.d.ts
## regenerated. `npm run build` makes a stripped release addon instead.
node-build: node-deps
	cd $(NODE_DIR) && $(NAPI) build $(NODE_BUILD_FLAGS)

node-build-release: node-deps
	cd $(NODE_DIR) && $(NAPI) build --release $(NODE_BUILD_FLAGS)

## test-node: node --test over bindings-node/test (Express, Passport, conformance on memory,
## SQLite and a private redis-server, Express under cluster, the deployment warnings, types, and
## the release tarball installed into a fresh project); redis-server comes from system-deps
test-node: system-deps node-build node-tarball
	cd $(NODE_DIR) && git diff --exit-code -- native.d.ts || { echo "native.d.ts is stale: commit the regenerated file" >&2; exit 1; }
	cd $(NODE_DIR) && TESSERA_NODE_TARBALL=$$(ls $(NODE_DIST_DIR)/tessera-[0-9]*.tgz) npm test

## bench-node: Express + expressSession vs express-session + MemoryStore vs no sessions (HTTP,
## interleaved rounds), per-operation costs, and on a private redis-server (when installed)
## Tessera validate/create vs connect-redis get/set vs a bare GET, at concurrency 1 and 16
bench-node: node-build-release
	cd $(NODE_DIR) && node bench/run.js $(ROOT)/benches/results

# The release addon and the npm tarball: built once per change of their sources (make tracks
# them), shared by `make dist-node` and the suite's install test (test/package.test.js). Plain
# `cargo build --release` (what the checkout's install script runs too) shares target/release
# with the C library's release build; scripts/stage-dist.js strips the addon and packs it under
# napi-rs's prebuilt name (tessera.linux-x64-gnu.node).
NODE_DIST_DIR := $(CARGO_TARGET_DIR)/npm-node
NODE_TARBALL_STAMP := $(NODE_DIST_DIR)/.built
NODE_DIST_SOURCES := $(shell find $(ROOT)/core/src $(ROOT)/bindings-node/src $(ROOT)/bindings-node/lib \
	$(ROOT)/bindings-node/scripts -type f \( -name '*.rs' -o -name '*.js' \)) \
	$(ROOT)/core/Cargo.toml $(ROOT)/bindings-node/Cargo.toml $(ROOT)/Cargo.lock \
	$(addprefix $(NODE_DIR)/,package.json index.js index.d.ts native.d.ts README.md)

DIST_TARGETS += dist-node
.PHONY: node-tarball dist-node

$(NODE_TARBALL_STAMP): $(NODE_DIST_SOURCES)
	$(CARGO) build --release -p tessera-node
	mkdir -p $(NODE_DIST_DIR)
	node $(NODE_DIR)/scripts/stage-dist.js $(CARGO_TARGET_DIR)/release/libtessera_node.so $(NODE_DIST_DIR)
	touch $@

node-tarball: $(NODE_TARBALL_STAMP)

## dist-node: the npm tarball (with the prebuilt, stripped release addon) into dist/
dist-node: $(NODE_TARBALL_STAMP)
	mkdir -p $(ROOT)/dist
	rm -f $(ROOT)/dist/tessera-[0-9]*.tgz
	cp $(NODE_DIST_DIR)/tessera-[0-9]*.tgz $(ROOT)/dist/
	@ls -l $(ROOT)/dist/tessera-[0-9]*.tgz
