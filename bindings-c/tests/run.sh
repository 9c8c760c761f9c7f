#!/usr/bin/env bash
# The C suite of bindings-c, as `make test-c` runs it (mk/c.mk builds the debug library first).
#
# Every C program is compiled with -Wall -Wextra -Werror twice: against libtessera.so (plain),
# and with -fsanitize=address,undefined against libtessera.a. Each then runs three ways: plainly,
# under valgrind (the plain build), and with ASan + UBSan + LeakSanitizer (the sanitized build).
# The example service is driven over HTTP the same three ways. Around them: the header compiles
# as C99 and C++, the conformance runner refuses scenarios it does not understand, the leak
# checkers catch a deliberate leak of each kind of handle, and `make install` + pkg-config build
# the README's example.
#
# Environment: ROOT (the repository), C_OUT (scratch directory), C_LIB (where cargo put
# libtessera.*; debug), C_OUT/native-static-libs (from mk/c.mk).
set -uo pipefail

root=${ROOT:?}
out=${C_OUT:?}
lib=${C_LIB:?}
here=$root/bindings-c/tests
include=$root/bindings-c/include
mkdir -p "$out/bin" "$out/lib" "$out/logs"
static_libs=$(cat "$out/native-static-libs")

CFLAGS=(-std=c11 -Wall -Wextra -Werror -O1 -g -pthread -I"$include" -I"$here")
SANITIZE=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
VALGRIND=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
  --errors-for-leak-kinds=definite,indirect --error-exitcode=1)
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=report_objects=1

runs_passed=0
runs_failed=0
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

# build NAME SOURCE [EXTRA LIBS...]: bin/NAME (shared library) and bin/NAME-asan (static).
build() {
  local name=$1 source=$2
  shift 2
  local ok=1
  gcc "${CFLAGS[@]}" "$source" -o "$out/bin/$name" -L"$out/lib" -ltessera \
    -Wl,-rpath,"$out/lib" "$@" || ok=0
  # shellcheck disable=SC2086 # the native libraries are separate words
  gcc "${CFLAGS[@]}" "${SANITIZE[@]}" "$source" -o "$out/bin/$name-asan" "$lib/libtessera.a" \
    "$@" $static_libs || ok=0
  record "compile $name" $ok
}

# run NAME LOG COMMAND...: the command must exit 0 and end with "N passed, 0 failed".
run() {
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  "$@" >"$log" 2>&1
  local code=$? summary
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  printf '  %-34s %-26s %3ss\n' "$name" "${summary:-no summary line}" $((SECONDS - start))
  if [ "$code" = 0 ] && [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    record "$name" 1
  else
    record "$name" 0
    echo "    exit code $code; the end of $log:" >&2
    tail -25 "$log" | sed 's/^/    | /' >&2
  fi
}

echo "bindings-c: compiling the C tests (-Wall -Wextra -Werror; plain and ASan+UBSan)"
mhd=$(pkg-config --cflags --libs libmicrohttpd)
jansson=$(pkg-config --cflags --libs jansson)
build test_api "$here/test_api.c"
build test_hostile "$here/test_hostile.c"
build test_threads "$here/test_threads.c"
build test_double_free "$here/test_double_free.c"
# shellcheck disable=SC2086
build conformance "$here/conformance.c" $jansson
# shellcheck disable=SC2086
build server "$root/bindings-c/examples/server.c" $mhd
build canary_leak "$here/canary_leak.c"

# The header stands on its own in C99 (pedantic) and in C++.
echo '#include "tessera.h"' >"$out/header.c"
gcc -std=c99 -pedantic -Wall -Wextra -Werror -I"$include" -c "$out/header.c" -o /dev/null &&
  g++ -x c++ -std=c++11 -Wall -Wextra -Werror -I"$include" -c "$out/header.c" -o /dev/null
record "header compiles as C99 and C++" $((!$?))

conformance_dir=$root/tests/conformance
for mode in plain valgrind asan; do
  echo "bindings-c: $mode"
  case $mode in
  plain) wrap=() suffix= iterations=1500 ;;
  valgrind) wrap=("${VALGRIND[@]}") suffix= iterations=60 ;;
  asan) wrap=() suffix=-asan iterations=600 ;;
  esac
  for t in test_api test_hostile; do
    run "$t ($mode)" "$out/logs/$t-$mode.log" "${wrap[@]}" "$out/bin/$t$suffix"
  done
  run "test_threads ($mode)" "$out/logs/test_threads-$mode.log" \
    env TESSERA_TEST_ITERATIONS=$iterations "${wrap[@]}" "$out/bin/test_threads$suffix"
  run "test_double_free ($mode)" "$out/logs/test_double_free-$mode.log" \
    "${wrap[@]}" "$out/bin/test_double_free$suffix"
  run "conformance ($mode)" "$out/logs/conformance-$mode.log" \
    "${wrap[@]}" "$out/bin/conformance$suffix" "$conformance_dir"
  run "example over HTTP ($mode)" "$out/logs/example-$mode.log" \
    bash "$here/test_example.sh" "$out/bin/server$suffix" "${wrap[@]}"
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
# The leak checkers are live: a deliberate leak of each kind of handle must fail under both (the
# registry of live handles must not make a leaked one look reachable).
caught=()
missed=()
for kind in session manager clock string; do
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

run "make install + pkg-config" "$out/logs/install.log" bash "$here/test_install.sh"

echo "bindings-c: $runs_passed passed, $runs_failed failed"
for f in "${failures[@]}"; do echo "  FAILED: $f" >&2; done
echo "$runs_passed passed, $runs_failed failed"
[ "$runs_failed" = 0 ]
