#!/usr/bin/env bash
# Lay out libtessera for C users — the same tree for `make install` and for the tarball of
# `make dist-c` (both in mk/c.mk):
#
#   lib/libtessera.so.VERSION        the shared library, stripped (its exports stay)
#   lib/libtessera.so.0.MINOR        -> libtessera.so.VERSION  (the soname: what programs load)
#   lib/libtessera.so                -> libtessera.so.0.MINOR  (what -ltessera finds)
#   lib/libtessera.a                 the static library, debug info stripped
#   lib/pkgconfig/tessera.pc
#   include/tessera.h
#   share/doc/tessera-c/README.md
#
# Usage:
#   install.sh install PREFIX BUILT VERSION STATIC_LIBS_FILE
#       into $DESTDIR$PREFIX; tessera.pc names PREFIX; prints what to do next
#   install.sh stage DIR BUILT VERSION STATIC_LIBS_FILE
#       into DIR, relocatable: tessera.pc finds its prefix from where it lies (${pcfiledir}),
#       so the tree works wherever it is unpacked
# BUILT: where cargo put libtessera.*; VERSION: [workspace.package] version (mk/c.mk derives it);
# STATIC_LIBS_FILE: the system libraries a static link needs (rustc's native-static-libs).
# Set TESSERA_KEEP_DEBUG=1 to keep the debug info (`make install C_PROFILE=debug`).
set -euo pipefail

mode=$1
target=$2
built=$3
version=$4
static_libs=$(cat "$5")
here=$(cd "$(dirname "$0")" && pwd)

case $mode in
install)
  prefix=$target
  root=${DESTDIR:-}$prefix
  pc_prefix=$prefix
  ;;
stage)
  root=$target
  # lib/pkgconfig/tessera.pc -> the tree's root, wherever it was unpacked.
  pc_prefix='${pcfiledir}/../..'
  ;;
*)
  echo "usage: install.sh install|stage PREFIX_OR_DIR BUILT VERSION STATIC_LIBS_FILE" >&2
  exit 2
  ;;
esac

# The header carries the version build.rs derived from the same workspace version: a header
# left over from another version must not be shipped under this one's name.
header_version=$(sed -n 's/^#define TESSERA_VERSION "\(.*\)"$/\1/p' "$here/include/tessera.h")
if [ "$header_version" != "$version" ]; then
  echo "install.sh: include/tessera.h is version '$header_version', the workspace '$version'" \
    "(rebuild: cargo build -p tessera-c)" >&2
  exit 1
fi
soname=$(objdump -p "$built/libtessera.so" | awk '$1 == "SONAME" { print $2 }')
if [ -z "$soname" ]; then
  echo "install.sh: $built/libtessera.so has no SONAME (bindings-c/build.rs sets it)" >&2
  exit 1
fi

lib=$root/lib
install -d "$lib/pkgconfig" "$root/include" "$root/share/doc/tessera-c"
install -m 644 "$built/libtessera.a" "$lib/libtessera.a"
install -m 755 "$built/libtessera.so" "$lib/libtessera.so.$version"
if [ "${TESSERA_KEEP_DEBUG:-0}" != 1 ]; then
  # The archive loses its debug sections only: its symbol table stays for the program's own
  # backtraces. The shared library keeps only its dynamic symbols (the tessera_* exports), as
  # distributions ship libraries: 0.15 MB less in the tarball, which must stay under 5 MB.
  strip --strip-debug "$lib/libtessera.a"
  strip --strip-unneeded "$lib/libtessera.so.$version"
fi
ln -sfn "libtessera.so.$version" "$lib/$soname"
ln -sfn "$soname" "$lib/libtessera.so"
install -m 644 "$here/include/tessera.h" "$root/include/tessera.h"
install -m 644 "$here/README.md" "$root/share/doc/tessera-c/README.md"
sed -e "s|@PREFIX@|$pc_prefix|" -e "s|@VERSION@|$version|" -e "s|@STATIC_LIBS@|$static_libs|" \
  "$here/tessera.pc.in" >"$lib/pkgconfig/tessera.pc"
chmod 644 "$lib/pkgconfig/tessera.pc"

if [ "$mode" = stage ]; then
  exit 0
fi

# What to do next — the same words as README.md's "Install".
cat <<EOF

Installed tessera $version for the prefix $prefix${DESTDIR:+ (staged under DESTDIR=$DESTDIR)}:
  $prefix/lib/libtessera.so.$version (+ $soname, libtessera.so)
  $prefix/lib/libtessera.a
  $prefix/include/tessera.h
  $prefix/lib/pkgconfig/tessera.pc

Next:
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}
  cc app.c \$(pkg-config --cflags --libs tessera) -o app
EOF
case $prefix in
/usr | /usr/local)
  cat <<EOF
  sudo ldconfig        # $prefix/lib is on the loader's path: refresh its cache once
EOF
  ;;
*)
  cat <<EOF
  $prefix/lib is not on the loader's path; either link with
    cc app.c \$(pkg-config --cflags --libs tessera) -Wl,-rpath,$prefix/lib -o app
  or run with
    LD_LIBRARY_PATH=$prefix/lib ./app
EOF
  ;;
esac
cat <<EOF
  Static instead: cc app.c \$(pkg-config --cflags tessera) $prefix/lib/libtessera.a \\
                    \$(pkg-config --variable=static_libs tessera) -o app
EOF
