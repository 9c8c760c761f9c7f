#!/usr/bin/env bash
# Where a validate's instructions and cache misses go, counted by valgrind (this VM has no
# hardware performance counters: `perf stat` reports <not supported>). Each figure is the
# difference of two runs of `profile` that differ only in the number of validates, divided by
# that number, so building the store is subtracted out. Writes benches/results/core-profile.txt.
# Usage: benches/profile.sh   (about 5 minutes; single-threaded)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$root/benches/results/core-profile.txt"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p tessera-benches --bin profile
bin="$target/release/profile"
n=200000
# Only the validates are counted: callgrind starts collecting when SessionManager::validate is
# entered and stops when it returns, so building the store costs nothing here.
run() { # sessions distinct name
  # LL: a 32 MiB, 16-way last-level cache (this host's is reported far larger, and a cache that
  # holds the whole store would hide every miss a real server pays).
  valgrind --tool=callgrind --cache-sim=yes --LL=33554432,16,64 --collect-atstart=no \
    --toggle-collect='tessera::manager::SessionManager::validate' \
    --callgrind-out-file="$work/$3" "$bin" "$1" "$n" "$2" >"$work/$3.log" 2>&1
}
run 1000000 100000 big
run 10000 1000 small
totals() { # file -> "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw" (callgrind prints "." for 0)
  callgrind_annotate "$1" 2>/dev/null | grep -m1 'PROGRAM TOTALS' |
    sed -E 's/\([^)]*\)//g; s/,//g; s/ \. / 0 /g; s/PROGRAM TOTALS//'
}
per() { echo "scale=1; $1 / $n" | bc; }
summary() { # file label
  read -r ir dr dw i1mr d1mr d1mw ilmr dlmr dlmw _ < <(totals "$1" | tr -d ,)
  echo "## $2, per validate"
  echo "instructions          $(per "$ir")"
  echo "data reads / writes   $(per "$dr") / $(per "$dw")"
  echo "D1 misses (rd + wr)   $(per "$((d1mr + d1mw))")"
  echo "LL misses (rd + wr)   $(per "$((dlmr + dlmw))")"
}
{
  echo "# valgrind $(valgrind --version | sed 's/valgrind-//') (callgrind; cache simulation: this host's L1, a 32 MiB last level), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  summary "$work/big" "1,000,000 sessions, $n validates over 100,000 tokens"
  summary "$work/small" "10,000 sessions, $n validates over 1,000 tokens (records in cache)"
  echo "## where the instructions go (records in cache), inclusive, per validate"
  callgrind_annotate --show=Ir --inclusive=yes "$work/small" 2>/dev/null |
    grep -E "SessionManager::validate \[|Inner::load_live \[|Token::parse \[|/id.rs:|Store>::load_gated \[|Entry::read \[|Entry::snapshot \[|__memcpy|Token as core::ops::drop::Drop|drop_in_place<tessera::session::Session>" |
    sed -nE 's/^ *([0-9,]+) +\([^)]*\) +(.*) \[.*$/\1\t\2/p' |
    while IFS=$'\t' read -r count name; do
      printf '%8s  %s\n' "$(per "${count//,/}")" "$name"
    done
} | tee "$out"
