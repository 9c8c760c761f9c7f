# The flood run (issue 13): 1,000,000 cookieless requests through the request protocol (a login
# page, csrf_token(), a visitor's cart) while 10,000 signed-in users keep making requests, on
# the memory store under max_sessions. Fails if a signed-in user is ever not recognised, a form
# page writes to the store, or the heap grows past the full store's level by more than 10 %;
# prints a report (tests/src/bin/flood.rs).
#
#   make test-flood    part of `make test`; ~15 s

TEST_TARGETS += test-flood

.PHONY: test-flood

test-flood:
	$(CARGO) run -q -p tessera-tests --bin flood
