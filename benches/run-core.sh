#!/usr/bin/env bash
# Core benchmarks: criterion benches (tessera vs tower-sessions on 1,000,000 sessions), the
# memory measurement, then benches/results/core.{json,md}. Called by `make bench`.
#
# Bounded for a 2-core machine: 13 benches x (1 s warm-up + 3 s measurement) plus building the
# two 1,000,000-session fixtures and the memory run: about 1.5 minutes once compiled (the first
# build of criterion takes about as long again).
# Override the criterion settings with CRITERION_ARGS, e.g.
#   CRITERION_ARGS="--warm-up-time 3 --measurement-time 10 --sample-size 100" benches/run-core.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

target="${CARGO_TARGET_DIR:-$root/target}"
memory_json="$target/tessera-benches/memory.json"
criterion_args="${CRITERION_ARGS:---warm-up-time 1 --measurement-time 3 --sample-size 40}"

echo "==> $(date +%T) build"
# Building a bench also builds the package's binaries (memory, report) with the same profile
# and features, into $target/release.
cargo bench -p tessera-benches --bench core --no-run

# Criterion results older than this run must not be reported as this run's.
since="$(date +%s)"

echo "==> $(date +%T) criterion benches (${criterion_args})"
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
# shellcheck disable=SC2086 # criterion_args is a list of flags
cargo bench -p tessera-benches --bench core -- $criterion_args
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

echo "==> $(date +%T) memory per session"
"$target/release/memory" "$memory_json"

echo "==> $(date +%T) report"
"$target/release/report" --memory "$memory_json" --since "$since" --settings "$criterion_args" \
    --load-before "$load_before" --load-after "$load_after"

echo
cat "$here/results/core.md"
