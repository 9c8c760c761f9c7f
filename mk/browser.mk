# Browser suite (tests/browser/): `make demo`'s three servers (Flask, Express, C on one SQLite
# store, started by demo/launch.py) in Debian's headless Chromium, driven by playwright-core over
# loopback and run with `node --test`. The browser comes from Debian only (`chromium`);
# playwright-core never downloads one of its own. TESSERA_SCREENSHOTS=update rewrites the
# committed screenshots in tests/browser/screenshots/.
BROWSER_DIR := $(ROOT)/tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.install-stamp
# dbsc.test.mjs: device-bound sessions in real Chromium against this core example, behind a TLS
# front whose certificate openssl makes at test time.
DBSC_EXAMPLE := $(CARGO_TARGET_DIR)/debug/examples/dbsc_localhost

TEST_TARGETS += test-browser

.PHONY: test-browser browser-deps chromium dbsc-example

# npm ci from the committed lockfile; redone when package.json or the lockfile changes.
$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

browser-deps: $(BROWSER_STAMP)

## chromium: Debian's Chromium (and openssl, for dbsc.test.mjs's certificate) when missing (needs
## root, as on CI). Outside CI a failed install is tolerated and the tests then report themselves
## skipped; under CI=true it fails.
chromium:
	$(ROOT)/scripts/ensure-apt chromium openssl || [ "$${CI:-}" != "true" ]

## dbsc-example: core/examples/dbsc_localhost, the site dbsc.test.mjs runs Chromium against
dbsc-example:
	$(CARGO) build -p tessera-core --example dbsc_localhost

## test-browser: the three demo servers in headless Chromium: one session across them, revocation
## from a third, the explanation page, the short timeouts on a test clock, the countdowns, the
## cookie's attributes, sign-out and CSRF on each server, and the launcher itself; and DBSC in
## Chromium over TLS (dbsc.test.mjs: registration, a deferred request and its refresh, a replay)
test-browser: demo-build dbsc-example browser-deps chromium
	cd $(BROWSER_DIR) && TESSERA_DEMO_C_SERVER=$(DEMO_C_SERVER) TESSERA_DEMO_PYTHON=$(PY) \
		TESSERA_DBSC_EXAMPLE=$(DBSC_EXAMPLE) npm test
