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
# The issue asks for `perf stat` of cache misses per validate: the same difference of two runs,
# natively. Where the VM exposes no counters, perf prints <not supported>, and so does this.
perf_stat() {
  if ! command -v perf >/dev/null; then
    echo "perf is not installed"
    return
  fi
  local events=cache-misses,cache-references,LLC-load-misses,instructions,cycles
  perf stat -x, -e "$events" -o "$work/perf1" "$bin" 1000000 "$n" 100000 >/dev/null 2>&1 || true
  perf stat -x, -e "$events" -o "$work/perf2" "$bin" 1000000 "$((2 * n))" 100000 >/dev/null 2>&1 || true
  # perf -x, lines: value,unit,event,...; the extra n validates of the second run, per validate.
  join -t, -1 3 -2 3 <(grep -E '^[^#].*,' "$work/perf1" | sort -t, -k3,3) \
    <(grep -E '^[^#].*,' "$work/perf2" | sort -t, -k3,3) |
    while IFS=, read -r event one _ _ _ _ _ two _; do
      case "$one$two" in
        *"<not"*) printf '%-22s <not supported> (no hardware counter in this VM)\n' "$event" ;;
        *) printf '%-22s %s\n' "$event" "$(echo "scale=2; ($two - $one) / $n" | bc)" ;;
      esac
    done
}
{
  echo "# valgrind $(valgrind --version | sed 's/valgrind-//') (callgrind; cache simulation: this host's L1, a 32 MiB last level), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  summary "$work/big" "1,000,000 sessions, $n validates over 100,000 tokens"
  summary "$work/small" "10,000 sessions, $n validates over 1,000 tokens (records in cache)"
  echo "## where the instructions go (records in cache), inclusive, per validate"
  # Inlining spreads a function over several lines of callgrind's listing, one per source file
  # its code came from, each inclusive of its callees; a line ending in "[binary]" is the
  # function's own, one without is the source-level total. Each part is picked by its line.
  callgrind_annotate --show=Ir --inclusive=yes "$work/small" 2>/dev/null >"$work/small.txt"
  part() { # label, pattern: the first matching line's count, per validate
    local count
    count=$(grep -m1 -E "$2" "$work/small.txt" | sed -E 's/^ *([0-9,]+).*/\1/; s/,//g')
    printf '%8s  %s\n' "$(per "${count:-0}")" "$1"
  }
  part "validate, all of it" 'core/src/manager.rs:tessera::manager::SessionManager::validate$'
  part "  the id: keyed BLAKE3 of the token (id.rs)" 'core/src/id.rs:tessera::manager::SessionManager::validate$'
  part "  the token's base64url decoding (Token::parse)" 'core/src/token.rs:tessera::token::Token::parse$'
  part "  the store's read (MemoryStore::load_gated)" 'store/memory/mod.rs:<tessera::store::memory::MemoryStore as tessera::store::Store>::load_gated$'
  part "    of which the liveness check and touch (Entry::read)" 'Entry::read \['
  part "    of which the copy out of the entry (Entry::snapshot_of)" 'Entry::snapshot_of \['
  part "  memcpy (the record's moves)" '__memcpy[a-z_]* \['
  echo "## perf stat, hardware counters, per validate (1,000,000 sessions, 100,000 tokens)"
  perf_stat
} | tee "$out"
