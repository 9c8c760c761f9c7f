#!/usr/bin/env bash
# Drive the example service (examples/server.c) over HTTP with curl on a free loopback port:
# sign in, the protected endpoint, sign-out, the old cookie refused, sign-out everywhere, cookie
# tossing, fixation, and a clean shutdown (which is where valgrind and LeakSanitizer report).
#
# Usage: test_example.sh SERVER [WRAPPER...]   e.g. test_example.sh ./server valgrind -q ...
# With TESSERA_EXAMPLE_STORE=URL the server runs with --store URL (run.sh: a Redis key prefix of
# its own). Prints "N passed, N failed" last; exits non-zero on any failure.
set -uo pipefail

server=$1
shift
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what" >&2
    sed 's/^/  | /' "$work/headers" "$work/body" >&2 2>/dev/null
  fi
}

store_args=()
[ -n "${TESSERA_EXAMPLE_STORE:-}" ] && store_args=(--store "$TESSERA_EXAMPLE_STORE")
"$@" "$server" "${store_args[@]}" 0 >"$work/out" 2>"$work/err" &
pid=$!
base=
for _ in $(seq 1 600); do # up to 60 s: valgrind starts slowly
  base=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$work/out" 2>/dev/null)
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "the server did not start:" >&2
  cat "$work/err" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# request METHOD PATH [curl args...]: sets $status; headers and body land in files.
request() {
  local method=$1 path=$2
  shift 2
  status=$(curl -s -X "$method" -o "$work/body" -D "$work/headers" -w '%{http_code}' \
    --max-time 60 "$@" "$base$path")
}
header() { grep -i "^$1:" "$work/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
set_cookie() { header Set-Cookie; }
token_of() { set_cookie | sed -n 's/^session=\([A-Za-z0-9_-]\{43\}\);.*/\1/p'; }
body_field() { sed -n "s/^$1=//p" "$work/body"; }
has() { grep -q -- "$1" "$work/$2"; }

# Anonymous: the protected endpoint refuses, and no cookie is set.
request GET /me
check "GET /me without a cookie is 401" [ "$status" = 401 ]
check "no Set-Cookie without a cookie" [ -z "$(set_cookie)" ]

# Outside test mode the corpus's reference app and the test controls do not exist: above all,
# no password-less sign-in.
request POST /login -H 'Content-Type: application/json' -d '{"user": "alice"}'
check "a JSON sign-in without a password is 401" [ "$status" = 401 ]
check "a JSON sign-in without a password sets no cookie" [ -z "$(set_cookie)" ]
request POST /__advance -H 'Content-Type: application/json' -d '{"ms": 1}'
check "the clock control is refused outside test mode" [ "$status" = 404 ]
request POST /__reset -H 'Content-Type: application/json' -d '{}'
check "the reset control is refused outside test mode" [ "$status" = 404 ]
request GET /read
check "the reference app's /read does not exist outside test mode" [ "$status" = 404 ]

# Wrong password.
request POST /login -d 'user=alice&password=nope'
check "a wrong password is 401" [ "$status" = 401 ]
check "a wrong password sets no cookie" [ -z "$(set_cookie)" ]

# Sign in: a Tessera cookie with the example's attributes, never cached.
request POST /login -d 'user=alice&password=wonderland'
check "sign-in redirects (303)" [ "$status" = 303 ]
a=$(token_of)
check "sign-in sets a 43-character session token" [ ${#a} = 43 ]
check "the cookie is HttpOnly, SameSite=Lax, Path=/" has "; Path=/; HttpOnly; SameSite=Lax" headers
check "the example's cookie is not Secure (plain HTTP)" bash -c "! grep -qi 'Secure' '$work/headers'"
check "Cache-Control: no-store on sign-in" [ "$(header Cache-Control)" = no-store ]

# The protected endpoint with the cookie.
request GET /me -H "Cookie: theme=dark; session=$a"
check "GET /me with the cookie is 200" [ "$status" = 200 ]
check "GET /me names the user" [ "$(body_field user)" = alice ]
csrf=$(body_field csrf)
check "GET /me hands out a CSRF token" [ ${#csrf} = 86 ]
check "Cache-Control: no-store on /me" [ "$(header Cache-Control)" = no-store ]
request GET / -H "Cookie: session=$a"
check "the page shows the signed-in user" has "Signed in as <b>alice</b>" body

# The token is read from the Cookie header only, never from the URL.
request GET "/me?session=$a"
check "a token in the query string is ignored" [ "$status" = 401 ]

# Sign-out needs the CSRF token.
request POST /logout -H "Cookie: session=$a"
check "sign-out without the CSRF token is 403" [ "$status" = 403 ]
request POST /logout -H "Cookie: session=$a" -d "csrf=forged"
check "sign-out with a wrong CSRF token is 403" [ "$status" = 403 ]
request POST /logout -H "Cookie: session=$a" --data-urlencode "csrf=$csrf"
check "sign-out is 200" [ "$status" = 200 ]
check "sign-out clears the cookie" [ "$(set_cookie)" = "session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" ]
check "Cache-Control: no-store on sign-out" [ "$(header Cache-Control)" = no-store ]

# The old cookie is worthless: the server-side session is gone.
request GET /me -H "Cookie: session=$a"
check "GET /me with the signed-out cookie is 401" [ "$status" = 401 ]
check "the stale cookie is cleared" [ "$(set_cookie)" = "session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" ]

# Fixation: signing in over an existing session replaces its token.
request POST /login -d 'user=bob&password=builder'
bob=$(token_of)
request POST /login -H "Cookie: session=$bob" -d 'user=alice&password=wonderland'
b=$(token_of)
check "signing in over a session issues a new token" test ${#b} = 43 -a "$b" != "$bob"
request GET /me -H "Cookie: session=$bob"
check "the pre-sign-in token died at once" [ "$status" = 401 ]

# Two more devices for alice, one for bob.
request POST /login -d 'user=alice&password=wonderland'
c=$(token_of)
request POST /login -d 'user=bob&password=builder'
d=$(token_of)

# Cookie tossing: two session cookies mean no session, and the cookie is cleared.
request GET /me -H "Cookie: session=$b; session=$c"
check "two session cookies are refused" [ "$status" = 401 ]
check "two session cookies get the cookie cleared" has "Max-Age=0" headers

# Sign out everywhere, from device b.
request GET /me -H "Cookie: session=$b"
csrf_b=$(body_field csrf)
request POST /logout-everywhere -H "Cookie: session=$b" --data-urlencode "csrf=$csrf_b"
check "sign-out-everywhere is 200" [ "$status" = 200 ]
check "sign-out-everywhere ended both of alice's sessions" has "signed out of 2 session(s)" body
check "sign-out-everywhere clears the cookie" has "Max-Age=0" headers
request GET /me -H "Cookie: session=$c"
check "alice's other device is signed out" [ "$status" = 401 ]
request GET /me -H "Cookie: session=$b"
check "alice's current device is signed out" [ "$status" = 401 ]
request GET /me -H "Cookie: session=$d"
check "bob's session is untouched" test "$status" = 200 -a "$(body_field user)" = bob

# The audit log names users and ids, never tokens.
check "the audit log has login events" grep -q "event login" "$work/err"
for t in "$a" "$b" "$c" "$d" "$bob"; do
  check "no token in the server's log" bash -c "! grep -qF -- '$t' '$work/err'"
done

# A clean shutdown; under valgrind or ASan this is where leaks are reported.
kill -TERM "$pid"
wait "$pid"
code=$?
pid=
check "the server shut down cleanly (exit $code)" [ "$code" = 0 ]
if [ "$code" != 0 ]; then tail -40 "$work/err" >&2; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
