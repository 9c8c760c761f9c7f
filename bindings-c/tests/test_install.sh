#!/usr/bin/env bash
# `make install PREFIX=...` into a scratch prefix, then build the README's examples against the
# installed copy through pkg-config — dynamically and statically — and run both.
# Uses the debug library (C_PROFILE=debug): the suite builds release only for the bench.
set -uo pipefail

root=${ROOT:?}
out=${C_OUT:?}
prefix=$out/install-test
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL: $what" >&2
  fi
}

rm -rf "$prefix"
make -s -C "$root" --no-print-directory install PREFIX="$prefix" C_PROFILE=debug
check "make install succeeded" test $? = 0
soname=$(objdump -p "$prefix/lib/libtessera.so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
check "the library, its soname link, the header and tessera.pc are installed" test \
  -f "$prefix/lib/libtessera.a" -a -L "$prefix/lib/libtessera.so" -a -n "$soname" \
  -a -e "$prefix/lib/$soname" -a -f "$prefix/include/tessera.h" \
  -a -f "$prefix/lib/pkgconfig/tessera.pc"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
version=$(sed -n 's/^#define TESSERA_VERSION "\(.*\)"$/\1/p' "$root/bindings-c/include/tessera.h")
check "pkg-config knows tessera $version" test "$(pkg-config --modversion tessera)" = "$version"
check "pkg-config points at the prefix" test "$(pkg-config --variable=prefix tessera)" = "$prefix"

# The first C block of README.md is the example; it must build and run as documented.
awk '/^```c$/ { inside = 1; next } /^```$/ && inside { exit } inside' \
  "$root/bindings-c/README.md" >"$work/example.c"
check "README.md has a C example" grep -q "int main" "$work/example.c"

# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror "$work/example.c" -o "$work/dynamic" \
  $(pkg-config --cflags --libs tessera)
check "the example links dynamically with pkg-config --cflags --libs" test $? = 0
LD_LIBRARY_PATH=$prefix/lib "$work/dynamic" >"$work/dynamic.out" 2>&1
check "the dynamic build runs" test $? = 0
check "the dynamic build uses the installed libtessera.so" \
  grep -q "$prefix/lib/$soname" <(LD_LIBRARY_PATH=$prefix/lib ldd "$work/dynamic")
check "the example signs alice in and out" grep -q "alice" "$work/dynamic.out"

# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror "$work/example.c" -o "$work/static" \
  $(pkg-config --cflags tessera) "$(pkg-config --variable=libdir tessera)/libtessera.a" \
  $(pkg-config --variable=static_libs tessera)
check "the example links statically with libtessera.a and static_libs" test $? = 0
"$work/static" >"$work/static.out" 2>&1
check "the static build runs without libtessera.so" test $? = 0
check "the static build does not load libtessera.so" bash -c "! ldd '$work/static' | grep -q libtessera"
check "both builds print the same" cmp -s "$work/dynamic.out" "$work/static.out"

# The second C block is the request handler; it must build and print what the README says.
awk '/^```c$/ { n++; if (n == 2) { inside = 1; next } } /^```$/ && inside { exit } inside' \
  "$root/bindings-c/README.md" >"$work/handler.c"
check "README.md has a request handler example" grep -q "tessera_request_begin" "$work/handler.c"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror "$work/handler.c" -o "$work/handler" \
  $(pkg-config --cflags --libs tessera)
check "the handler example builds" test $? = 0
LD_LIBRARY_PATH=$prefix/lib "$work/handler" >"$work/handler.out" 2>&1
check "the handler example runs" test $? = 0
check "the handler example prints what the README says" diff -u - "$work/handler.out" <<'EOF'
visit 1: 200, Set-Cookie, Cache-Control
visit 2: 200
EOF

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
