#!/usr/bin/env bash
# Install libtessera (shared and static), tessera.h and tessera.pc under a prefix.
# Called by `make install PREFIX=... [DESTDIR=...] [C_PROFILE=release|debug]` (mk/c.mk).
#
# Usage: install.sh PREFIX LIBDIR STATIC_LIBS_FILE   (LIBDIR: where cargo put libtessera.*)
set -euo pipefail

prefix=$1
built=$2
static_libs=$(cat "$3")
here=$(cd "$(dirname "$0")" && pwd)
dest=${DESTDIR:-}

# One source for the version: the header, which build.rs derives from the workspace version.
version=$(sed -n 's/^#define TESSERA_VERSION "\(.*\)"$/\1/p' "$here/include/tessera.h")
soname=$(objdump -p "$built/libtessera.so" | awk '$1 == "SONAME" { print $2 }')
[ -n "$version" ] && [ -n "$soname" ] || {
  echo "install.sh: cannot read the version or the soname" >&2
  exit 1
}

lib=$dest$prefix/lib
install -d "$lib/pkgconfig" "$dest$prefix/include"
install -m 644 "$built/libtessera.a" "$lib/libtessera.a"
install -m 755 "$built/libtessera.so" "$lib/libtessera.so.$version"
ln -sfn "libtessera.so.$version" "$lib/$soname"
ln -sfn "$soname" "$lib/libtessera.so"
install -m 644 "$here/include/tessera.h" "$dest$prefix/include/tessera.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" -e "s|@STATIC_LIBS@|$static_libs|" \
  "$here/tessera.pc.in" >"$lib/pkgconfig/tessera.pc"
chmod 644 "$lib/pkgconfig/tessera.pc"
echo "installed tessera $version in $dest$prefix (lib/libtessera.{so,a}, include/tessera.h, lib/pkgconfig/tessera.pc)"
