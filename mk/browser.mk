# Browser suite (tests/browser/): `make demo`'s three servers (Flask, Express, C on one SQLite
# store, started by demo/launch.py) in Debian's headless Chromium, driven by playwright-core over
# loopback and run with `node --test`. The browser comes from Debian only (`chromium`);
# playwright-core never downloads one of its own. TESSERA_SCREENSHOTS=update rewrites the
# committed screenshots in tests/browser/screenshots/.
BROWSER_DIR := $(ROOT)/tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.install-stamp

TEST_TARGETS += test-browser

.PHONY: test-browser browser-deps chromium

# npm ci from the committed lockfile; redone when package.json or the lockfile changes.
$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

browser-deps: $(BROWSER_STAMP)

## chromium: Debian's Chromium when it is missing (needs root, as on CI). Outside CI a failed
## install is tolerated and the test then reports itself skipped; under CI=true it fails.
chromium:
	$(ROOT)/scripts/ensure-apt chromium || [ "$${CI:-}" != "true" ]

## test-browser: the three demo servers in headless Chromium: one session across them, revocation
## from a third, the explanation page, the short timeouts on a test clock, the countdowns, the
## cookie's attributes, sign-out and CSRF on each server, and the launcher itself
test-browser: demo-build browser-deps chromium
	cd $(BROWSER_DIR) && TESSERA_DEMO_C_SERVER=$(DEMO_C_SERVER) TESSERA_DEMO_PYTHON=$(PY) npm test
