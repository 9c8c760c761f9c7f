# Redaction (issue 7): no token in anything the suites log, print or throw.
#
#   make test-redaction      part of `make test`; about 2 minutes once the bindings are built
#
# Runs three suites with the most verbose logging Tessera offers and every token they see
# recorded, captures all they print under $(REDACTION_DIR)/logs, then fails if a token appears:
#
#   Python  the whole pytest suite with tests/redaction_plugin.py (-p): root and `tessera`
#           loggers at DEBUG, every test's captured log printed (-rA) and kept (--log-file),
#           an event listener on every SessionManager logging each event at DEBUG, every
#           exception a manager raises logged with its traceback; tokens recorded by a stand-in
#           for SessionManager (and from the demo's Set-Cookie headers).
#   Node    `npm test` with redaction-preload.js (NODE_OPTIONS=--require ...), --trace-warnings
#           and --trace-uncaught: every SessionManager's events, every exception a native call
#           throws and every process warning logged; tokens recorded from the native API's
#           arguments and results and from every Set-Cookie an http server sends.
#   C       the C test programs from `make c-build` with TESSERA_TEST_VERBOSE=1 (every event of
#           every manager and every failing call's tessera_last_error) and
#           TESSERA_TEST_TOKENS_FILE (every token they obtain recorded), and the example service
#           driven over HTTP by tests/test_example.sh, whose event log (stderr) is kept; tokens
#           recorded from the Set-Cookie headers its curl saves (a recording curl first in PATH).
#
# scripts/redaction-scan then searches every captured byte for every recorded token (in four
# spellings) and for any canonical token-shaped value; scripts/test_redaction_scan.py first
# proves that it fails on a planted token. Every suite runs even if one before it failed; the
# target fails if any suite, the self-test or the scan does. In $(REDACTION_DIR): summary.txt (each
# step's status and time), scan.txt and report.txt (the findings, values cut to 6 characters).

REDACTION_DIR := $(CARGO_TARGET_DIR)/redaction
REDACTION_LOGS := $(REDACTION_DIR)/logs
REDACTION_TOKENS := $(REDACTION_DIR)/tokens
REDACTION_C := $(REDACTION_DIR)/c
# Each recorder must have recorded at least this many tokens, or it is broken.
REDACTION_MIN_TOKENS := 3
# The C suite is there when mk/c.mk (test-c) and its test sources are.
REDACTION_WITH_C := $(and $(filter test-c,$(TEST_TARGETS)),$(wildcard $(ROOT)/bindings-c/tests/test_api.c))
REDACTION_C_PROGRAMS := test_api test_hostile test_threads test_double_free test_redis

TEST_TARGETS += test-redaction

.PHONY: test-redaction

# A curl that records the session tokens of the Set-Cookie headers it saves with -D.
define REDACTION_CURL
#!/bin/sh
# Written by mk/redaction.mk: curl, then the session tokens of the Set-Cookie headers it saved
# with -D appended to the C tokens file for scripts/redaction-scan.
prev= headers=
for a in "$$@"; do [ "$$prev" = -D ] && headers=$$a; prev=$$a; done
# The real curl: the recipe put this shim's directory first in PATH.
PATH="$${PATH#*:}" curl "$$@"
code=$$?
if [ -n "$$headers" ] && [ -f "$$headers" ]; then
  sed -n 's/^[Ss]et-[Cc]ookie: *[^=]*=\([A-Za-z0-9_-]\{43\}\)[;[:space:]].*$$/\1/p' "$$headers" \
    >>"$(REDACTION_TOKENS)/c/example.txt"
fi
exit $$code
endef
export REDACTION_CURL

# run NAME COMMAND [DIR]: run COMMAND in a subshell, its output in DIR/NAME.txt (DIR: the scanned
# logs by default); note its status and duration in the summary, and never stop the recipe.
redaction_run = start=$$(date +%s); rc=0; out="$(or $(3),$(REDACTION_LOGS))/$(1).txt"; \
	( $(2) ) >"$$out" 2>&1 || rc=$$?; \
	printf '%-28s exit %-3s %4ss\n' "$(1)" "$$rc" "$$(( $$(date +%s) - start ))" \
	| tee -a "$(REDACTION_DIR)/summary.txt"; \
	if [ "$$rc" != 0 ]; then echo "    the end of $$out:"; tail -15 "$$out" | sed 's/^/    | /'; \
	echo "$(1)" >>"$(REDACTION_DIR)/failed"; fi

# The Node suite's packaging test installs the release tarball test-node uses (built once per
# change of its sources). The Python wheel test is left out: it builds a venv inside the scanned
# temp dir, whose RECORD files are full of token-shaped hashes, and installs nothing the rest of
# the run does not exercise.
test-redaction: python-build node-build node-tarball system-deps $(if $(REDACTION_WITH_C),c-build)
	@rm -rf "$(REDACTION_DIR)"
	@mkdir -p "$(REDACTION_LOGS)" "$(REDACTION_TOKENS)/python" "$(REDACTION_TOKENS)/node" \
		"$(REDACTION_TOKENS)/c" "$(REDACTION_C)/shim"
	@echo "test-redaction: the suites at their most verbose, into $(REDACTION_LOGS)"
	@date +%s >"$(REDACTION_DIR)/started"
	@$(call redaction_run,python-pytest,cd $(ROOT)/bindings-python && \
		$(PY_ENV) TESSERA_REDACTION_DIR="$(REDACTION_DIR)" python -m pytest -p no:cacheprovider \
		--ignore=tests/test_wheel_install.py \
		-p tests.redaction_plugin -rA --tb=long --log-level=DEBUG \
		--log-format="%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d %(message)s" \
		--log-file="$(REDACTION_LOGS)/python-log-file.txt" --log-file-level=DEBUG \
		--basetemp="$(REDACTION_LOGS)/python-tmp")
	@$(call redaction_run,node-npm-test,cd $(NODE_DIR) && TESSERA_REDACTION_DIR="$(REDACTION_DIR)" \
		TESSERA_NODE_TARBALL=$$(ls $(NODE_DIST_DIR)/tessera-[0-9]*.tgz) \
		NODE_OPTIONS="--require=$(NODE_DIR)/redaction-preload.js --trace-warnings --trace-uncaught" \
		npm test)
ifneq ($(REDACTION_WITH_C),)
	@printf '%s\n' "$$REDACTION_CURL" >"$(REDACTION_C)/shim/curl" && chmod +x "$(REDACTION_C)/shim/curl"
	@for t in $(REDACTION_C_PROGRAMS); do \
		$(call redaction_run,c-$$t,TESSERA_TEST_VERBOSE=1 \
			TESSERA_TEST_TOKENS_FILE="$(REDACTION_TOKENS)/c/$$t.txt" \
			TESSERA_TEST_ITERATIONS=1500 "$(C_OUT)/bin/$$t"); \
	done
	@$(call redaction_run,c-conformance,TESSERA_TEST_VERBOSE=1 \
		TESSERA_TEST_TOKENS_FILE="$(REDACTION_TOKENS)/c/conformance.txt" \
		"$(C_OUT)/bin/conformance" "$(ROOT)/tests/conformance")
	@$(call redaction_run,c-example,PATH="$(REDACTION_C)/shim:$$PATH" bash "$(C_DIR)/tests/test_example.sh" \
		"$(C_OUT)/bin/server" bash -c 'exec "$$@" 2> >(tee -a "$(REDACTION_LOGS)/c-example-server.txt" >&2)' bash)
endif
	@$(call redaction_run,scan-self-test,cd $(ROOT) && $(PY_ENV) ruff check --config bindings-python/pyproject.toml \
		scripts/redaction-scan scripts/test_redaction_scan.py && \
		$(PY_ENV) python -m pytest -q -p no:cacheprovider scripts/test_redaction_scan.py,$(REDACTION_DIR))
	@$(call redaction_run,scan,$(PY_ENV) python $(ROOT)/scripts/redaction-scan \
		--tokens "$(REDACTION_TOKENS)/python" --tokens "$(REDACTION_TOKENS)/node" \
		$(if $(REDACTION_WITH_C),--tokens "$(REDACTION_TOKENS)/c") \
		--min-tokens $(REDACTION_MIN_TOKENS) --report "$(REDACTION_DIR)/report.txt" "$(REDACTION_LOGS)",$(REDACTION_DIR))
	@cat "$(REDACTION_DIR)/scan.txt"
	@echo "test-redaction: $$(( $$(date +%s) - $$(cat "$(REDACTION_DIR)/started") ))s in all;" \
		"logs in $(REDACTION_LOGS), findings in $(REDACTION_DIR)/report.txt"
	@if [ -f "$(REDACTION_DIR)/failed" ]; then \
		echo "test-redaction: FAILED: $$(tr '\n' ' ' <"$(REDACTION_DIR)/failed")" >&2; exit 1; fi
