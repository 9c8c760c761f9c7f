# The fault run on Redis (issue 12): clients keep validating and writing while a private,
# persistent redis-server is killed and restarted, paused with SIGSTOP for 2 s, and has its
# client connections killed. Fails on any wrong answer or lost session; prints a report.
#
#   make test-chaos    part of `make test`; ~10 s once built (the Rust clients;
#                      tests/src/bin/redis_chaos.rs)

TEST_TARGETS += test-chaos

.PHONY: test-chaos

test-chaos: system-deps
	$(CARGO) run -q -p tessera-tests --bin redis_chaos
