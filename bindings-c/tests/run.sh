#!/usr/bin/env bash
# The C suite of bindings-c, as `make test-c` runs it (mk/c.mk builds the debug library first).
#
# Every C program is compiled with -Wall -Wextra -Werror twice: against libtessera.so (plain),
# and with -fsanitize=address,undefined against libtessera.a. Each then runs three ways: plainly,
# under valgrind (the plain build), and with ASan + UBSan + LeakSanitizer (the sanitized build).
# The example service is driven over HTTP the same three ways, and so is the HTTP corpus
# (tests/http, run by tests/http_corpus.py against the example in test mode, on the memory store,
# on SQLite and on Redis), and so are device-bound sessions and step-up (tests/test_dbsc.py, the
# scripted DBSC browser of bindings-python/tests, on the memory store and on Redis). The conformance corpus runs on the memory store and again on SQLite (a
# fresh database file per scenario in a private directory removed at the end) and on Redis (a
# private redis-server this script starts on a free loopback port and kills at the end; each
# scenario on a key prefix of its own), and test_redis checks
# that the Redis store fails closed (it starts and stops a redis-server of its own). Around them:
# the header compiles as C99 and C++, the conformance runner refuses scenarios it does not
# understand, the leak checkers catch a deliberate leak of each kind of handle, a correct
# program exits clean under valgrind's default leak kinds (tests/clean_exit.c), and the release
# tarball, unpacked where no Rust toolchain is reachable, and `make install` build the README's
# examples through pkg-config (tests/test_install.sh).
#
# Usage: run.sh [--build-only | --plain-built]
#   --build-only   compile the plain programs into C_OUT/bin, as `make c-build` does; run nothing
#   --plain-built  they are compiled already (mk/c.mk's test-c depends on c-build): compile only
#                  the sanitized copies, then run everything
#
# Environment: ROOT (the repository), C_OUT (scratch directory), C_LIB (where cargo put
# libtessera.*; debug), C_OUT/native-static-libs (from mk/c.mk), C_DIST_TARBALL and C_VERSION
# (the tarball of `make dist-c` and its version, for test_install.sh). Under CI=true a missing
# redis-server fails the suite; otherwise the Redis runs are skipped, loudly.
set -uo pipefail

build_only=0
plain_built=0
case "${1:-}" in
--build-only) build_only=1 ;;
--plain-built) plain_built=1 ;;
"") ;;
*)
  echo "usage: run.sh [--build-only | --plain-built]" >&2
  exit 2
  ;;
esac

root=${ROOT:?}
out=${C_OUT:?}
lib=${C_LIB:?}
here=$root/bindings-c/tests
include=$root/bindings-c/include
mkdir -p "$out/bin" "$out/lib" "$out/logs"
static_libs=$(cat "$out/native-static-libs")

CFLAGS=(-std=c11 -Wall -Wextra -Werror -O1 -g -pthread -I"$include" -I"$here")
SANITIZE=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
# Valgrind's own defaults for what a leak is (definite and possible), as a user runs it: no
# suppression file, no narrowed leak kinds (issue 11: a "possibly lost" block once failed a
# correct program).
#
# --fair-sched=yes: under valgrind's default scheduler lock, test_threads hung about once in
# twenty runs (CI's run of 2026-12-05 among them): a worker thread vanished from valgrind's
# thread list without returning or clearing its tid, so pthread_join waited forever. The same
# binary never hangs plain or under ASan, and did not in 46 runs with the fair scheduler.
VALGRIND=(valgrind -q --fair-sched=yes --leak-check=full --error-exitcode=1)
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=report_objects=1

runs_passed=0
runs_failed=0
run_timeout=${C_TEST_TIMEOUT:-300}
failures=()
record() { # record NAME OK
  if [ "$2" = 1 ]; then
    runs_passed=$((runs_passed + 1))
  else
    runs_failed=$((runs_failed + 1))
    failures+=("$1")
  fi
}

# Link the tests against the shared library under its soname, as an installed copy would be.
soname=$(objdump -p "$lib/libtessera.so" | awk '$1 == "SONAME" { print $2 }')
if [ -z "$soname" ]; then
  echo "libtessera.so has no SONAME" >&2
  record "soname" 0
else
  ln -sfn "$lib/libtessera.so" "$out/lib/$soname"
  ln -sfn "$soname" "$out/lib/libtessera.so"
  record "soname" 1
fi

# build NAME SOURCE [EXTRA LIBS...]: bin/NAME (shared library) and bin/NAME-asan (static; not
# with --build-only), compiled in the background; built_all waits for them all.
build_pids=()
build_names=()
build() {
  local name=$1 source=$2
  shift 2
  (
    if [ "$plain_built" = 0 ]; then
      gcc "${CFLAGS[@]}" "$source" -o "$out/bin/$name" -L"$out/lib" -ltessera \
        -Wl,-rpath,"$out/lib" "$@" || exit 1
    else
      [ -x "$out/bin/$name" ] || { echo "$out/bin/$name is missing (make c-build)" >&2; exit 1; }
    fi
    if [ "$build_only" = 0 ]; then
      # shellcheck disable=SC2086 # the native libraries are separate words
      gcc "${CFLAGS[@]}" "${SANITIZE[@]}" "$source" -o "$out/bin/$name-asan" \
        "$lib/libtessera.a" "$@" $static_libs || exit 1
    fi
  ) &
  build_pids+=($!)
  build_names+=("$name")
}
built_all() {
  local i
  for i in "${!build_pids[@]}"; do
    wait "${build_pids[$i]}"
    record "compile ${build_names[$i]}" $((!$?))
  done
}

# run NAME LOG COMMAND...: the command must exit 0 and end with "N passed, 0 failed".
run() {
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  # A hang fails this run within minutes instead of spending CI's whole budget (the slowest run,
  # under valgrind, takes ~15 s); timeout signals the run's whole process group.
  timeout -k 10 "$run_timeout" "$@" >"$log" 2>&1
  local code=$? summary
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  [ "$code" = 124 ] && summary="TIMED OUT after ${run_timeout}s"
  printf '  %-34s %-26s %3ss\n' "$name" "${summary:-no summary line}" $((SECONDS - start))
  if [ "$code" = 0 ] && [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    record "$name" 1
  else
    record "$name" 0
    echo "    exit code $code; the end of $log:" >&2
    tail -25 "$log" | sed 's/^/    | /' >&2
  fi
}

if [ "$build_only" = 1 ]; then
  echo "bindings-c: compiling the C tests and the example (-Wall -Wextra -Werror; plain)"
elif [ "$plain_built" = 1 ]; then
  echo "bindings-c: compiling the C tests (-Wall -Wextra -Werror; ASan+UBSan; plain: make c-build)"
else
  echo "bindings-c: compiling the C tests (-Wall -Wextra -Werror; plain and ASan+UBSan)"
fi
compile_start=$SECONDS
mhd=$(pkg-config --cflags --libs libmicrohttpd)
jansson=$(pkg-config --cflags --libs jansson)
build test_api "$here/test_api.c"
build test_validate_in "$here/test_validate_in.c"
build test_hostile "$here/test_hostile.c"
build test_dbsc "$here/test_dbsc.c"
build test_threads "$here/test_threads.c"
build test_double_free "$here/test_double_free.c"
build test_redis "$here/test_redis.c"
# shellcheck disable=SC2086
build conformance "$here/conformance.c" $jansson
# shellcheck disable=SC2086
build server "$root/bindings-c/examples/server.c" $mhd $jansson
build canary_leak "$here/canary_leak.c"
build clean_exit "$here/clean_exit.c"
built_all

echo "bindings-c: compiled in $((SECONDS - compile_start))s"
if [ "$build_only" = 1 ]; then
  for f in "${failures[@]}"; do echo "  FAILED: $f" >&2; done
  echo "bindings-c: built into $out/bin ($runs_passed passed, $runs_failed failed)"
  [ "$runs_failed" = 0 ]
  exit
fi

# A private redis-server for the conformance corpus on Redis: a free loopback port (one nothing
# listens on; if another process takes it first, redis-server exits and the next is tried), no
# persistence, killed on exit.
redis_pid=
redis_port=
redis_dir=$(mktemp -d)
# The conformance corpus on SQLite: each scenario's database file in here (the runner deletes
# it after the scenario; the directory goes at exit).
sqlite_dir=$(mktemp -d)
stop_redis() {
  [ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$redis_dir" "$sqlite_dir"
}
trap stop_redis EXIT
start_redis() {
  local port
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" \
      >"$out/logs/redis-server.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 250); do # up to 5 s
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        redis_port=$port
        return 0
      fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.02
    done
    kill -KILL "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    redis_pid=
  done
  return 1
}
with_redis=0
if command -v redis-server >/dev/null; then
  if start_redis; then
    with_redis=1
    echo "bindings-c: a private redis-server on 127.0.0.1:$redis_port (pid $redis_pid)"
  else
    echo "bindings-c: could not start redis-server; see $out/logs/redis-server.log" >&2
    record "start a private redis-server" 0
  fi
elif [ "${CI:-}" = true ]; then
  echo "bindings-c: redis-server is required under CI=true (make test-c installs it)" >&2
  record "redis-server installed (CI=true)" 0
else
  echo "bindings-c: redis-server is not installed: the Redis runs are SKIPPED" \
    "(make test-c installs it)" >&2
fi
redis_url="redis://127.0.0.1:$redis_port/0?connect_timeout_ms=500&command_timeout_ms=1000"

# A private three-master Redis Cluster for the corpora on redis+cluster:// (plain runs): ports
# nothing listens on, their cluster bus ports (+10000) too; killed on exit with the rest.
cluster_pids=()
cluster_url=
stop_cluster() {
  for pid in "${cluster_pids[@]}"; do kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  cluster_pids=()
}
trap 'stop_cluster; stop_redis' EXIT
start_cluster() {
  local ports=() port nodes=()
  while [ ${#ports[@]} -lt 3 ]; do
    port=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null && continue
    mkdir -p "$redis_dir/cluster-$port"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --save '' \
      --appendonly no --dir "$redis_dir/cluster-$port" >>"$out/logs/redis-cluster.log" 2>&1 &
    cluster_pids+=($!)
    ports+=("$port")
    nodes+=("127.0.0.1:$port")
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 1 250); do # up to 5 s
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.02
    done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
    >>"$out/logs/redis-cluster.log" 2>&1 || return 1
  for port in "${ports[@]}"; do
    for _ in $(seq 1 500); do # up to 10 s
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q cluster_state:ok && break
      sleep 0.02
    done
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q cluster_state:ok || return 1
  done
  cluster_url="redis+cluster://$(IFS=,; echo "${nodes[*]}")?connect_timeout_ms=500&command_timeout_ms=2000"
}
with_cluster=0
# A free port can be taken between the check and redis-server's bind (other suites start
# servers on this machine too): a node that could not listen fails the cluster, which is then
# started afresh on other ports, three times at most.
start_cluster_retrying() {
  local attempt
  for attempt in 1 2 3; do
    start_cluster && return 0
    echo "bindings-c: Redis Cluster attempt $attempt failed; retrying on other ports" \
      >>"$out/logs/redis-cluster.log"
    stop_cluster
  done
  return 1
}
if [ "$with_redis" = 1 ]; then
  if start_cluster_retrying; then
    with_cluster=1
    echo "bindings-c: a private Redis Cluster: ${cluster_url%%\?*}"
  else
    echo "bindings-c: could not start a Redis Cluster; see $out/logs/redis-cluster.log" >&2
    record "start a private Redis Cluster" 0
  fi
fi

# The header stands on its own in C99 (pedantic) and in C++.
echo '#include "tessera.h"' >"$out/header.c"
gcc -std=c99 -pedantic -Wall -Wextra -Werror -I"$include" -c "$out/header.c" -o /dev/null &&
  g++ -x c++ -std=c++11 -Wall -Wextra -Werror -I"$include" -c "$out/header.c" -o /dev/null
record "header compiles as C99 and C++" $((!$?))

# tests/verbose.h wraps every call of the header that returns a status, and every *_free.
unwrapped=$(grep -oE '^(enum tessera_status|void) tessera_[a-z_]+\(' "$include/tessera.h" |
  sed -E 's/^(enum tessera_status|void) //; s/\($//' | while read -r f; do
  grep -q "^#define $f(" "$here/verbose.h" || echo "$f"
done)
if [ -n "$unwrapped" ]; then
  echo "tests/verbose.h does not wrap:" $unwrapped >&2
  record "verbose.h wraps every call" 0
else
  record "verbose.h wraps every call" 1
fi

conformance_dir=$root/tests/conformance
for mode in plain valgrind asan; do
  echo "bindings-c: $mode"
  mode_start=$SECONDS
  case $mode in
  plain) wrap=() suffix= iterations=1500 slack=750 ;;
  valgrind) wrap=("${VALGRIND[@]}") suffix= iterations=60 slack=2500 ;;
  asan) wrap=() suffix=-asan iterations=600 slack=1000 ;;
  esac
  # The Redis runs too, with valgrind's default leak kinds: the store's one I/O thread is
  # joined when the manager is freed (r2d2's maintenance threads once were not).
  wrap_redis=("${wrap[@]}")
  for t in test_api test_validate_in test_hostile test_dbsc; do
    run "$t ($mode)" "$out/logs/$t-$mode.log" "${wrap[@]}" "$out/bin/$t$suffix"
  done
  run "test_threads ($mode)" "$out/logs/test_threads-$mode.log" \
    env TESSERA_TEST_ITERATIONS=$iterations "${wrap[@]}" "$out/bin/test_threads$suffix"
  run "test_double_free ($mode)" "$out/logs/test_double_free-$mode.log" \
    "${wrap[@]}" "$out/bin/test_double_free$suffix"
  run "conformance ($mode)" "$out/logs/conformance-$mode.log" \
    "${wrap[@]}" "$out/bin/conformance$suffix" "$conformance_dir"
  # As on Redis, not under valgrind (a quarter of a minute for little: clean_exit and the HTTP
  # corpus below take the SQLite store's paths through the ABI under valgrind).
  if [ "$mode" != valgrind ]; then
    run "conformance on SQLite ($mode)" "$out/logs/conformance-sqlite-$mode.log" \
      "${wrap[@]}" "$out/bin/conformance$suffix" --sqlite-dir "$sqlite_dir" "$conformance_dir"
  fi
  # A correct program that frees everything exits clean: on valgrind, with its default leak
  # kinds (possibly lost included), on each store.
  run "clean_exit, memory ($mode)" "$out/logs/clean_exit-$mode.log" \
    "${wrap[@]}" "$out/bin/clean_exit$suffix" memory://
  rm -f "$redis_dir/clean-$mode.db"*
  run "clean_exit, SQLite ($mode)" "$out/logs/clean_exit-sqlite-$mode.log" \
    "${wrap[@]}" "$out/bin/clean_exit$suffix" "sqlite://$redis_dir/clean-$mode.db"
  if [ "$with_redis" = 1 ]; then
    run "clean_exit, Redis ($mode)" "$out/logs/clean_exit-redis-$mode.log" \
      "${wrap_redis[@]}" "$out/bin/clean_exit$suffix" "$redis_url&prefix=c-clean-$mode"
  fi
  if [ "$with_redis" = 1 ]; then
    # Under valgrind the corpus on Redis would add a quarter of a minute for little: the Redis
    # store's paths through the ABI run under valgrind in test_redis.
    if [ "$mode" != valgrind ]; then
      run "conformance on Redis ($mode)" "$out/logs/conformance-redis-$mode.log" \
        "${wrap[@]}" "$out/bin/conformance$suffix" --store "$redis_url" --prefix "c-$mode" \
        "$conformance_dir"
    fi
    run "test_redis, fail-closed ($mode)" "$out/logs/test_redis-$mode.log" \
      env TESSERA_TEST_SLACK_MS=$slack "${wrap_redis[@]}" "$out/bin/test_redis$suffix"
  fi
  run "example over HTTP ($mode)" "$out/logs/example-$mode.log" \
    bash "$here/test_example.sh" "$out/bin/server$suffix" "${wrap[@]}"
  if [ "$with_redis" = 1 ]; then
    run "example on Redis ($mode)" "$out/logs/example-redis-$mode.log" \
      env TESSERA_EXAMPLE_STORE="$redis_url&prefix=c-example-$mode" \
      bash "$here/test_example.sh" "$out/bin/server$suffix" "${wrap_redis[@]}"
  fi
  # The HTTP corpus (tests/http) against the example server in test mode, over real HTTP.
  run "http corpus ($mode)" "$out/logs/http-corpus-$mode.log" \
    python3 "$here/http_corpus.py" --label "$mode" --log "$out/logs/http-server-$mode.log" \
    "$root/tests/http" -- "${wrap[@]}" "$out/bin/server$suffix"
  # On SQLite: the server starts with --store sqlite://..., each scenario on a fresh file, all in
  # a private directory the runner removes.
  run "http corpus on SQLite ($mode)" "$out/logs/http-corpus-sqlite-$mode.log" \
    python3 "$here/http_corpus.py" --sqlite --label "sqlite-$mode" \
    --log "$out/logs/http-server-sqlite-$mode.log" "$root/tests/http" -- "${wrap[@]}" \
    "$out/bin/server$suffix"
  if [ "$with_redis" = 1 ]; then
    run "http corpus on Redis ($mode)" "$out/logs/http-corpus-redis-$mode.log" \
      python3 "$here/http_corpus.py" --store "$redis_url" --label "$mode" \
      --log "$out/logs/http-server-redis-$mode.log" "$root/tests/http" -- "${wrap_redis[@]}" \
      "$out/bin/server$suffix"
  fi
  # Device-bound sessions and step-up (issue 15): the scripted DBSC browser of the Python suite
  # against the example server in test mode, over real HTTP, on the memory store, SQLite and
  # Redis.
  run "dbsc over HTTP ($mode)" "$out/logs/dbsc-$mode.log" \
    python3 "$here/test_dbsc.py" --label "$mode" --log "$out/logs/dbsc-server-$mode.log" \
    -- "${wrap[@]}" "$out/bin/server$suffix"
  run "dbsc on SQLite ($mode)" "$out/logs/dbsc-sqlite-$mode.log" \
    python3 "$here/test_dbsc.py" --sqlite --label "sqlite-$mode" \
    --log "$out/logs/dbsc-server-sqlite-$mode.log" -- "${wrap[@]}" "$out/bin/server$suffix"
  if [ "$with_redis" = 1 ]; then
    run "dbsc on Redis ($mode)" "$out/logs/dbsc-redis-$mode.log" \
      python3 "$here/test_dbsc.py" --store "$redis_url" --label "redis-$mode" \
      --log "$out/logs/dbsc-server-redis-$mode.log" -- "${wrap_redis[@]}" "$out/bin/server$suffix"
  fi
  # On the cluster: the plain run (the cluster paths are the Redis paths behind another URL).
  if [ "$with_cluster" = 1 ] && [ "$mode" = plain ]; then
    run "conformance on Redis Cluster ($mode)" "$out/logs/conformance-cluster-$mode.log" \
      "$out/bin/conformance" --store "$cluster_url" --prefix "c-cluster" "$conformance_dir"
    run "http corpus on Redis Cluster ($mode)" "$out/logs/http-corpus-cluster-$mode.log" \
      python3 "$here/http_corpus.py" --store "$cluster_url" --label "cluster-$mode" \
      --log "$out/logs/http-server-cluster-$mode.log" "$root/tests/http" -- "$out/bin/server"
  fi
  echo "bindings-c: $mode took $((SECONDS - mode_start))s"
done

echo "bindings-c: checks of the checks"
# The runner refuses what it does not understand (and a false expectation).
rejects=$here/conformance-rejects
expected=$(find "$rejects" -name '*.json' | wc -l)
"$out/bin/conformance" "$rejects" 0 >"$out/logs/rejects.log" 2>&1
code=$?
if [ "$code" != 0 ] && [ "$(tail -1 "$out/logs/rejects.log")" = "0 passed, $expected failed" ]; then
  printf '  %-34s %s\n' "runner refuses bad scenarios" "all $expected refused"
  record "conformance runner refuses bad scenarios" 1
else
  printf '  %-34s %s\n' "runner refuses bad scenarios" "NO: $(tail -1 "$out/logs/rejects.log")"
  record "conformance runner refuses bad scenarios" 0
fi
# The HTTP-corpus runner refuses what it does not understand, and reports a false expectation.
http_rejects=$here/http-rejects
expected=$(find "$http_rejects" -name '*.json' | wc -l)
python3 "$here/http_corpus.py" --min-scenarios 0 --log "$out/logs/http-rejects-server.log" \
  "$http_rejects" -- "$out/bin/server" >"$out/logs/http-rejects.log" 2>&1
code=$?
if [ "$code" != 0 ] && [ "$(tail -1 "$out/logs/http-rejects.log")" = "1 passed, $expected failed" ] &&
  [ "$(grep -c '^FAIL ' "$out/logs/http-rejects.log")" -ge "$expected" ]; then
  printf '  %-34s %s\n' "http runner refuses bad scenarios" "all $expected refused"
  record "http corpus runner refuses bad scenarios" 1
else
  printf '  %-34s %s\n' "http runner refuses bad scenarios" \
    "NO: $(tail -1 "$out/logs/http-rejects.log")"
  record "http corpus runner refuses bad scenarios" 0
fi
# The leak checkers are live: a deliberate leak of each kind of handle must fail under both (the
# registry of live handles must not make a leaked one look reachable).
caught=()
missed=()
for kind in session manager clock string request response endpoint_response; do
  "${VALGRIND[@]}" "$out/bin/canary_leak" "$kind" >"$out/logs/canary-$kind-valgrind.log" 2>&1
  v=$?
  "$out/bin/canary_leak-asan" "$kind" >"$out/logs/canary-$kind-asan.log" 2>&1
  a=$?
  if [ "$v" != 0 ] && [ "$a" != 0 ] && grep -q "LeakSanitizer" "$out/logs/canary-$kind-asan.log"
  then
    caught+=("$kind")
  else
    missed+=("$kind (valgrind exit $v, ASan exit $a)")
  fi
done
if [ ${#missed[@]} = 0 ]; then
  printf '  %-34s %s\n' "leak checkers catch a leak" \
    "valgrind and LeakSanitizer failed each: ${caught[*]}"
  record "leak checkers catch a deliberate leak" 1
else
  printf '  %-34s %s\n' "leak checkers catch a leak" "NO: ${missed[*]}"
  record "leak checkers catch a deliberate leak" 0
fi

# The verbose mode works (mk/redaction.mk relies on it): the programs still pass, print events
# and last errors, record the tokens they saw, and none of those tokens is in what they print.
verbose_tokens=$out/logs/verbose-tokens.txt
rm -f "$verbose_tokens"
verbose_ok=1
for t in test_api test_validate_in test_hostile test_dbsc "conformance $conformance_dir"; do
  # shellcheck disable=SC2086 # the program and its argument
  TESSERA_TEST_VERBOSE=1 TESSERA_TEST_TOKENS_FILE=$verbose_tokens "$out/bin/"$t \
    >"$out/logs/verbose-${t%% *}.log" 2>&1 || verbose_ok=0
done
verbose_logs=("$out"/logs/verbose-{test_api,test_validate_in,test_hostile,test_dbsc,conformance}.log)
events=$(cat "${verbose_logs[@]}" | grep -c '^\[tessera event\] ')
errors=$(cat "${verbose_logs[@]}" | grep -c '^\[tessera\] .* last error: ')
tokens=$(grep -cE '^[A-Za-z0-9_-]{43}$' "$verbose_tokens" 2>/dev/null)
leaked=$(grep -E '^[A-Za-z0-9_-]{43}$' "$verbose_tokens" | sort -u |
  grep -F -c -f - "${verbose_logs[@]}" | awk -F: '{ n += $NF } END { print n + 0 }')
if [ "$verbose_ok" = 1 ] && [ "$events" -gt 100 ] && [ "$errors" -gt 100 ] &&
  [ "${tokens:-0}" -gt 100 ] && [ "$leaked" = 0 ]; then
  printf '  %-34s %s\n' "verbose mode" "$events events, $errors errors shown, no token of $tokens"
  record "verbose mode" 1
else
  printf '  %-34s %s\n' "verbose mode" "NO: programs ok=$verbose_ok, $events events," \
    "$errors errors, ${tokens:-0} tokens recorded, $leaked lines with a token"
  record "verbose mode" 0
fi

run "tarball and make install" "$out/logs/install.log" bash "$here/test_install.sh"

echo "bindings-c: $runs_passed passed, $runs_failed failed, in $SECONDS s"
for f in "${failures[@]}"; do echo "  FAILED: $f" >&2; done
echo "$runs_passed passed, $runs_failed failed"
[ "$runs_failed" = 0 ]
