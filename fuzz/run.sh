#!/usr/bin/env bash
# Run fuzz targets for a bounded time each, up to FUZZ_JOBS at once, and fail if any crashes.
#
#   fuzz/run.sh SECONDS TARGET...
#
# Expects cargo-fuzz installed and the targets built (mk/fuzz.mk does both). Environment:
#   FUZZ_TARGET_DIR  cargo target dir of the fuzz build (default: <repo>/target/fuzz)
#   FUZZ_JOBS        targets run at the same time (default 2)
#   FUZZ_ARGS        extra libFuzzer flags
#
# Each target reads the committed seeds (fuzz/corpus/<target>) and the inputs earlier runs found
# ($FUZZ_TARGET_DIR/corpus/<target>, where new ones are written: the committed seeds never change).
# Logs go to $FUZZ_TARGET_DIR/logs/<target>.log; a crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit non-zero.
set -euo pipefail

seconds=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
target_dir=${FUZZ_TARGET_DIR:-$(cd "$here/.." && pwd)/target/fuzz}
jobs=${FUZZ_JOBS:-2}
mkdir -p "$target_dir/logs"

run_one() {
    local target=$1 log="$target_dir/logs/$1.log"
    mkdir -p "$target_dir/corpus/$target"
    # `cargo fuzz run` rebuilds nothing here (already built with the same flags) and adds
    # -artifact_prefix=fuzz/artifacts/<target>/.
    if (cd "$here" && CARGO_TARGET_DIR="$target_dir" RUSTC_BOOTSTRAP=1 CI=1 \
        cargo fuzz run "$target" "$target_dir/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
        ${FUZZ_ARGS:-}) >"$log" 2>&1; then
        local runs
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        echo "fuzz $target: ok, ${runs:-?} executions in ${seconds}s"
    else
        echo "fuzz $target: FAILED — log: $log" >&2
        # The failing assertion, else the sanitizer's report, else the end of the log.
        if grep -q 'panicked at' "$log"; then
            grep -A 4 'panicked at' "$log" | head -n 12 >&2
        elif grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log"; then
            grep -A 30 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log" | head -n 40 >&2
        else
            tail -n 30 "$log" >&2
        fi
        ls "$here/artifacts/$target/" 2>/dev/null | sed "s|^|    fuzz/artifacts/$target/|" >&2
        return 1
    fi
}

failed=()
pids=()
names=()
wait_one() {
    # Wait for the oldest running target and record its outcome.
    if ! wait "${pids[0]}"; then
        failed+=("${names[0]}")
    fi
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
}
for target in "$@"; do
    if ((${#pids[@]} >= jobs)); then
        wait_one
    fi
    run_one "$target" &
    pids+=($!)
    names+=("$target")
done
while ((${#pids[@]} > 0)); do
    wait_one
done

if ((${#failed[@]} > 0)); then
    echo "fuzzing found a crash in: ${failed[*]}. Minimise it, keep it under fuzz/regressions/TARGET/:" >&2
    echo "  cd fuzz && CARGO_TARGET_DIR=$target_dir RUSTC_BOOTSTRAP=1 CI=1 cargo fuzz tmin TARGET artifacts/TARGET/crash-…" >&2
    exit 1
fi
