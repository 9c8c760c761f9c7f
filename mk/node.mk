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

## node-build: the addon (debug) as bindings-node/tessera.node; native.d.ts regenerated
node-build: node-deps
	cd $(NODE_DIR) && $(NAPI) build $(NODE_BUILD_FLAGS)

node-build-release: node-deps
	cd $(NODE_DIR) && $(NAPI) build --release $(NODE_BUILD_FLAGS)

## test-node: node --test over bindings-node/test (Express, Passport, conformance on memory and
## on a private redis-server, types); redis-server comes from system-deps (scripts/ensure-apt)
test-node: system-deps node-build
	cd $(NODE_DIR) && git diff --exit-code -- native.d.ts || { echo "native.d.ts is stale: commit the regenerated file" >&2; exit 1; }
	cd $(NODE_DIR) && npm test

## bench-node: Express + expressSession vs express-session + MemoryStore vs no sessions (HTTP,
## interleaved rounds), per-operation costs, and on a private redis-server (when installed)
## Tessera validate/create vs connect-redis get/set vs a bare GET, at concurrency 1 and 16
bench-node: node-build-release
	cd $(NODE_DIR) && node bench/run.js $(ROOT)/benches/results
