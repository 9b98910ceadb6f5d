#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (with the address sanitizer, in
# .build-fuzz) and runs each for FUZZ_SECONDS, printing per target the
# seconds it ran, the inputs it executed and whether it found anything.
# Exits non-zero on any finding; the input is kept under
# .build-fuzz/findings/<target>/ and the run's log next to it.
#
#   deploy/fuzz.sh                         every target, 60 s each
#   FUZZ_SECONDS=600 deploy/fuzz.sh json   one target, 10 minutes
#
# Settings: FUZZ_SECONDS (per target, default 60), FUZZ_MAX_LEN (largest
# input, default 8192), FUZZ_SKIP_BUILD=1 (use the binaries built before).
# Each run starts from the committed seeds (Fuzz/Corpus/<target>) and the
# inputs earlier runs found interesting (.build-fuzz/corpus/<target>, not
# committed); new inputs go only to the latter.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ALL_TARGETS=(params multipart json dataset jwt)
SECONDS_EACH=${FUZZ_SECONDS:-60}
MAX_LEN=${FUZZ_MAX_LEN:-8192}
BUILD="$REPO/.build-fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

product() {
    case $1 in
    params) echo FuzzParams ;;
    multipart) echo FuzzMultipart ;;
    json) echo FuzzJSON ;;
    dataset) echo FuzzDataset ;;
    jwt) echo FuzzJWT ;;
    *) die "unknown fuzz target $1 (known: ${ALL_TARGETS[*]})" ;;
    esac
}
for target in "${targets[@]}"; do product "$target" >/dev/null; done

command -v swift >/dev/null || die "swift is not on PATH"
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    log "building the fuzz targets (debug, -sanitize=fuzzer,address, in $BUILD)"
    # Product by product: a plain build would also link the main package's ftapi, which has no fuzz entry point.
    for target in "${targets[@]}"; do
        swift build --package-path "$REPO/Fuzz" --build-path "$BUILD" -c debug -Xswiftc -sanitize=fuzzer,address --product "$(product "$target")"
    done
fi
BIN=$(swift build --package-path "$REPO/Fuzz" --build-path "$BUILD" -c debug --show-bin-path)

# The Swift runtime's own crash report gets in the way of the sanitizer's.
export SWIFT_BACKTRACE=enable=no
findings=0
summary=()
for target in "${targets[@]}"; do
    binary="$BIN/$(product "$target")"
    [ -x "$binary" ] || die "$binary is missing: build without FUZZ_SKIP_BUILD"
    work="$BUILD/corpus/$target"
    found="$BUILD/findings/$target"
    mkdir -p "$work" "$found"
    logfile="$found/last-run.log"
    log "fuzzing $target for $SECONDS_EACH s"
    started=$(date +%s)
    status=0
    "$binary" -max_total_time="$SECONDS_EACH" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$found/" "$work" "$REPO/Fuzz/Corpus/$target" >"$logfile" 2>&1 || status=$?
    ran=$(($(date +%s) - started))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logfile" | tail -1)
    if [ "$status" -ne 0 ]; then
        findings=$((findings + 1))
        line="$target: ${ran} s, ${executions:-?} executions, finding: YES (exit $status; log $logfile)"
        log "$line"
        grep -E 'ERROR|fuzz property failed|Fatal error|Test unit written' "$logfile" | head -8 >&2 || true
    else
        line="$target: ${ran} s, ${executions:-?} executions, finding: no"
        log "$line"
    fi
    summary+=("$line")
done
printf '%s\n' "fuzz summary (${SECONDS_EACH} s per target):" "${summary[@]/#/  }"
[ "$findings" -eq 0 ] || die "$findings fuzz target(s) found a problem; inputs in $BUILD/findings/"
