# The fault run on Redis (issue 12): clients in Rust, Python, Node (Promise API) and C keep
# validating while a private, persistent redis-server is killed and restarted, paused with
# SIGSTOP for 2 s, and has its client connections killed. Fails on any wrong answer, any lost
# session, or a client that dies; prints a report (tests/src/bin/redis_chaos.rs).
#
#   make test-chaos    part of `make test`; ~10 s once the bindings are built

TEST_TARGETS += test-chaos

CHAOS_C_CLIENT := $(C_OUT)/bin/chaos_client

.PHONY: test-chaos

# The C client links the debug library the way the C tests do ($(C_OUT)/lib, from c-build).
$(CHAOS_C_CLIENT): $(ROOT)/tests/chaos/client.c c-build
	gcc -std=c11 -Wall -Wextra -Werror -O1 -g -pthread -I$(ROOT)/bindings-c/include $< \
		-L$(C_OUT)/lib -ltessera -Wl,-rpath,$(C_OUT)/lib -o $@

test-chaos: system-deps python-build node-build $(CHAOS_C_CLIENT)
	TESSERA_CHAOS_PYTHON=$(PY) TESSERA_CHAOS_NODE=$(NODE_DIR) TESSERA_CHAOS_C=$(CHAOS_C_CLIENT) \
		$(CARGO) run -q -p tessera-tests --bin redis_chaos
