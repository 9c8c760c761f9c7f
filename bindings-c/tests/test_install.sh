#!/usr/bin/env bash
# The C library as a user without Rust gets it (issue 11), from the release build `make test-c`
# made once for `make dist-c`:
#
#  1. the tarball of `make dist-c`, unpacked into a fresh prefix, with a PATH on which cargo and
#     rustc cannot be found: the README's examples build with pkg-config (the .pc is
#     relocatable), run through the rpath and through LD_LIBRARY_PATH, run clean under
#     `valgrind --leak-check=full --error-exitcode=1` with no suppression file, and link
#     statically against libtessera.a with the native-static-libs;
#  2. `make install PREFIX=... DESTDIR=...`: the same tree under DESTDIR, a tessera.pc naming
#     PREFIX, the build's progress shown, and what to do next printed.
#
# Environment: ROOT, C_OUT, C_DIST_TARBALL, C_VERSION (mk/c.mk).
set -uo pipefail

root=${ROOT:?}
tarball=${C_DIST_TARBALL:?}
version=${C_VERSION:?}
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
no_debug_sections() { ! readelf -S -W "$1" 2>/dev/null | grep -q ' \.debug_'; }

# The README's C blocks: the first is the example, the second the request handler, the third and
# fourth the store options and the pre-fork check, the fifth validate_in into caller storage.
readme_block() {
  awk -v want="$1" '/^```c$/ { n++; if (n == want) { inside = 1; next } }
    /^```$/ && inside { exit } inside' "$root/bindings-c/README.md"
}
readme_block 1 >"$work/example.c"
readme_block 2 >"$work/handler.c"
check "README.md has a C example" grep -q "int main" "$work/example.c"
check "README.md has a request handler example" grep -q "tessera_request_begin" "$work/handler.c"
readme_block 5 >"$work/storage.c"
check "README.md has a caller-storage example" grep -q "tessera_manager_validate_in" "$work/storage.c"

# ---- 1. the tarball, where no Rust toolchain is reachable ----------------------------------
size=$(stat -c %s "$tarball" 2>/dev/null || echo 0)
check "the tarball exists and is at most 6 MiB ($size bytes; mk/c.mk says why)" test "$size" -gt 0 -a "$size" -le 6291456
echo "tarball: $(basename "$tarball"), $size bytes"

prefix=$work/fresh-prefix
mkdir -p "$prefix"
tar -xzf "$tarball" -C "$prefix" --strip-components=1
check "the tarball unpacks" test $? = 0
(cd "$prefix" && find . \( -type f -o -type l \) | sort) >"$work/tree"
soname=$(readlink "$prefix/lib/libtessera.so")
printf '%s\n' ./include/tessera.h ./lib/libtessera.a ./lib/libtessera.so \
  "./lib/libtessera.so.$version" "./lib/$soname" ./lib/pkgconfig/tessera.pc \
  ./share/doc/tessera-c/README.md | sort >"$work/expected-tree"
check "the tarball holds the documented tree" diff -u "$work/expected-tree" "$work/tree"
check "libtessera.so -> the soname ($soname) -> libtessera.so.$version" test \
  -n "$soname" -a \
  "$(objdump -p "$prefix/lib/libtessera.so.$version" | awk '$1 == "SONAME" { print $2 }')" = "$soname" \
  -a "$(readlink "$prefix/lib/$soname")" = "libtessera.so.$version"
check "the shared library carries no debug info" no_debug_sections "$prefix/lib/libtessera.so.$version"
check "the static library carries no debug info" no_debug_sections "$prefix/lib/libtessera.a"
check "the shared library exports the new calls" bash -c \
  "nm -D --defined-only '$prefix/lib/libtessera.so.$version' | grep -q ' tessera_manager_forked$'"

# A PATH without cargo or rustc (every directory that holds one is left out).
clean_path=
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -n "$d" ] && [ ! -e "$d/cargo" ] && [ ! -e "$d/rustc" ] && clean_path=${clean_path:+$clean_path:}$d
done
user_env=(env -u CARGO -u RUSTC -u CARGO_TARGET_DIR -u LD_LIBRARY_PATH PATH="$clean_path"
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig")
check "cargo and rustc are not reachable" "${user_env[@]}" bash -c \
  '! command -v cargo && ! command -v rustc'

pc() { "${user_env[@]}" pkg-config "$@" tessera; }
check "pkg-config knows tessera $version" test "$(pc --modversion)" = "$version"
check "the relocatable tessera.pc points at the unpacked prefix" test \
  "$(realpath -m "$(pc --variable=prefix)")" = "$(realpath "$prefix")"

# shellcheck disable=SC2046 # pkg-config's flags are separate words
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror "$work/example.c" -o "$work/dynamic" \
  $(pc --cflags --libs) -Wl,-rpath,"$prefix/lib"
check "the example builds with pkg-config --cflags --libs (and an rpath)" test $? = 0
"${user_env[@]}" "$work/dynamic" >"$work/dynamic.out" 2>&1
check "the example runs through its rpath" test $? = 0
check "it loads the unpacked library by its soname" \
  grep -q "$prefix/lib/$soname" <("${user_env[@]}" ldd "$work/dynamic")
check "the example signs alice in and out" grep -q "request from alice" "$work/dynamic.out"
"${user_env[@]}" valgrind --leak-check=full --error-exitcode=1 "$work/dynamic" \
  >"$work/valgrind.out" 2>&1
check "the example is clean under valgrind --leak-check=full --error-exitcode=1" test $? = 0
check "valgrind found nothing possibly lost" bash -c \
  "! grep -qE 'possibly lost: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]' '$work/valgrind.out'"
[ "$failed" = 0 ] || tail -30 "$work/valgrind.out" >&2

# shellcheck disable=SC2046
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror "$work/example.c" -o "$work/plain" \
  $(pc --cflags --libs)
"${user_env[@]}" LD_LIBRARY_PATH="$prefix/lib" "$work/plain" >"$work/plain.out" 2>&1
check "without an rpath it runs with LD_LIBRARY_PATH" test $? = 0

# shellcheck disable=SC2046
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror "$work/example.c" -o "$work/static" \
  $(pc --cflags) "$prefix/lib/libtessera.a" $(pc --variable=static_libs)
check "the example links statically with libtessera.a and static_libs" test $? = 0
"${user_env[@]}" "$work/static" >"$work/static.out" 2>&1
check "the static build runs" test $? = 0
check "the static build does not load libtessera.so" bash -c "! ldd '$work/static' | grep -q libtessera"
check "both builds print the same" cmp -s "$work/dynamic.out" "$work/static.out"
"${user_env[@]}" valgrind --leak-check=full --error-exitcode=1 "$work/static" \
  >"$work/valgrind-static.out" 2>&1
check "the static build is clean under valgrind too" test $? = 0

# shellcheck disable=SC2046
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror "$work/handler.c" -o "$work/handler" \
  $(pc --cflags --libs) -Wl,-rpath,"$prefix/lib"
check "the handler example builds" test $? = 0
"${user_env[@]}" "$work/handler" >"$work/handler.out" 2>&1
check "the handler example runs" test $? = 0
check "the handler example prints what the README says" diff -u - "$work/handler.out" <<'EOF'
visit 1: 200, Set-Cookie, Cache-Control
visit 2: 200
EOF

# "Validating into your own storage": builds, prints what the README says, clean under valgrind.
# shellcheck disable=SC2046
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror "$work/storage.c" -o "$work/storage" \
  $(pc --cflags --libs) -Wl,-rpath,"$prefix/lib"
check "the caller-storage example builds" test $? = 0
"${user_env[@]}" "$work/storage" >"$work/storage.out" 2>&1
check "the caller-storage example runs" test $? = 0
check "the caller-storage example prints what the README says" diff -u - "$work/storage.out" <<'EOF'
alice: {"theme":"dark"}
CSRF token without TESSERA_FIELD_CSRF: invalid_argument
alice: {"theme":"dark"}
CSRF token without TESSERA_FIELD_CSRF: invalid_argument
anonymous: unknown
EOF
"${user_env[@]}" valgrind --leak-check=full --error-exitcode=1 "$work/storage" \
  >"$work/valgrind-storage.out" 2>&1
check "the caller-storage example is clean under valgrind" test $? = 0

# "Deploying with several processes": the store options compile as shown, and the warning
# fires in a forked child of a memory-store manager, and only there.
{
  echo '#include <stdbool.h>'
  echo '#include <stdio.h>'
  echo '#include <tessera.h>'
  echo 'void configure(void); void configure(void) { tessera_manager *manager = NULL;'
  readme_block 3
  echo 'tessera_manager_free(manager); }'
} >"$work/stores.c"
# shellcheck disable=SC2046
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror -fsyntax-only "$work/stores.c" $(pc --cflags)
check "README: the store options of several processes compile" test $? = 0
{
  echo '#define _POSIX_C_SOURCE 200809L'
  echo '#include <stdbool.h>'
  echo '#include <stdio.h>'
  echo '#include <sys/wait.h>'
  echo '#include <unistd.h>'
  echo '#include <tessera.h>'
  echo 'static void check_store(tessera_manager *manager) {'
  readme_block 4
  echo '}'
  cat <<'EOF'
int main(int argc, char **argv) {
    char options[256];
    snprintf(options, sizeof options, "{\"store\": \"%s\"}", argc > 1 ? argv[1] : "memory://");
    tessera_manager *manager = NULL;
    if (tessera_manager_new(options, NULL, &manager) != TESSERA_STATUS_OK) return 2;
    check_store(manager); /* the process that made it: no warning */
    pid_t worker = fork();
    if (worker == 0) {
        check_store(manager); /* a worker: warns on memory:// */
        fflush(stderr);
        _exit(0);
    }
    int status = 0;
    waitpid(worker, &status, 0);
    tessera_manager_free(manager);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
EOF
} >"$work/prefork.c"
# shellcheck disable=SC2046
"${user_env[@]}" gcc -std=c11 -Wall -Wextra -Werror "$work/prefork.c" -o "$work/prefork" \
  $(pc --cflags --libs) -Wl,-rpath,"$prefix/lib"
check "README: the pre-fork warning builds" test $? = 0
"${user_env[@]}" "$work/prefork" 2>"$work/prefork-memory.err" >/dev/null
check "README: a forked worker on memory:// warns once, naming sqlite:// and redis://" bash -c \
  "[ \$(grep -c 'sqlite://.*redis://' '$work/prefork-memory.err') = 1 ] &&
   [ \$(wc -l <'$work/prefork-memory.err') = 1 ]"
"${user_env[@]}" "$work/prefork" "sqlite://$work/prefork.db" 2>"$work/prefork-sqlite.err" >/dev/null
check "README: on sqlite:// it runs and says nothing" test $? = 0 -a ! -s "$work/prefork-sqlite.err"

# ---- 2. make install, staged under DESTDIR -------------------------------------------------
install_prefix=/opt/tessera-test
destdir=$work/destdir
start=$SECONDS
make -C "$root" --no-print-directory install PREFIX="$install_prefix" DESTDIR="$destdir" \
  >"$work/install.out" 2>&1
check "make install succeeded" test $? = 0
echo "make install (release build already made): $((SECONDS - start)) s"
staged=$destdir$install_prefix
(cd "$staged" && find . \( -type f -o -type l \) | sort) >"$work/installed-tree"
check "make install lays out the tarball's tree under DESTDIR" cmp -s "$work/tree" "$work/installed-tree"
check "nothing is installed outside DESTDIR" test ! -e "$install_prefix"
check "the installed tessera.pc names PREFIX, not DESTDIR" \
  grep -qx "prefix=$install_prefix" "$staged/lib/pkgconfig/tessera.pc"
check "the installed libraries carry no debug info" bash -c \
  "! readelf -S -W '$staged/lib/libtessera.so.$version' '$staged/lib/libtessera.a' | grep -q ' \.debug_'"
check "make install shows the build's progress (cargo's output)" \
  grep -qE "Finished .c-dist. profile|Compiling tessera-c" "$work/install.out"
check "make install prints PKG_CONFIG_PATH" \
  grep -qF "export PKG_CONFIG_PATH=$install_prefix/lib/pkgconfig" "$work/install.out"
check "make install prints the rpath and LD_LIBRARY_PATH for a non-system prefix" bash -c \
  "grep -qF -- '-Wl,-rpath,$install_prefix/lib' '$work/install.out' &&
   grep -qF 'LD_LIBRARY_PATH=$install_prefix/lib' '$work/install.out'"
make -C "$root" --no-print-directory install PREFIX=/usr/local DESTDIR="$work/destdir2" \
  >"$work/install2.out" 2>&1
check "make install prints ldconfig for /usr/local" grep -q "ldconfig" "$work/install2.out"
[ "$failed" = 0 ] || sed 's/^/  | /' "$work/install.out" >&2

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
