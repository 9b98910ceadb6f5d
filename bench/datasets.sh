#!/usr/bin/env bash
# Dataset validation benchmark, all figures from one run on one file:
#  1. in-process: `ftapi validate-dataset` (one thread) against the Python
#     reference (bench/datasets/reference_validator.py: json.loads per line and
#     the same checks), on a realistic chatml file (3–10 messages of a few
#     hundred characters, ~2% non-ASCII words, some \u escapes);
#  2. end to end: the same file POSTed through nginx to /api/datasets/validate
#     and to /api/datasets (stored), with the worker's peak RSS growth during
#     each (VmHWM reset through /proc/PID/clear_refs before the request).
# Env: BENCH_DATASET_MB (100), BENCH_REPEATS (3 in-process passes).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages curl
bench_build
bench_run_dir datasets
MB=${BENCH_DATASET_MB:-100}
FILE=$RUN/chatml.jsonl
log "generating ${MB} MB of chatml"
python3 "$REPO/bench/datasets/make_dataset.py" --format chatml --megabytes "$MB" "$FILE"
SIZE=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null  # in the page cache for every reader alike

echo "file: $SIZE bytes, $(wc -l <"$FILE") lines"
echo "== in-process, one core"
for _ in $(seq 1 "${BENCH_REPEATS:-3}"); do
    swift_line=$("$FTAPI" validate-dataset --format chatml "$FILE" 2>&1 >/dev/null)
    python_line=$(python3 "$REPO/bench/datasets/reference_validator.py" --format chatml "$FILE" 2>&1 >/dev/null)
    swift_mbps=$(sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p' <<<"$swift_line")
    python_mbps=$(sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p' <<<"$python_line")
    printf '  ftapi %8.1f MB/s   python %7.1f MB/s   ratio %5.1fx\n' "$swift_mbps" "$python_mbps" \
        "$(python3 -c "print($swift_mbps / $python_mbps)")"
done
auto_line=$("$FTAPI" validate-dataset "$FILE" 2>&1 >/dev/null)
echo "  ftapi, format auto (all five formats checked): $(sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p' <<<"$auto_line") MB/s"

PORT=${BENCH_PORT:-8099}
bench_start_pool "$PORT" 1 4
KEY=$("$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench --scopes datasets)
WORKER=$(pgrep -P "$POOL" | head -1)
kib() { awk -v field="$1" '$1 == field":" {print $2}' /proc/"$WORKER"/status; }

echo "== end to end through nginx (1 worker; client, nginx and worker share the 2 cores)"
for target in "validate:/api/datasets/validate?format=chatml" "upload:/api/datasets?format=chatml&name=bench-"; do
    name=${target%%:*}
    path=${target#*:}
    [ "$name" = upload ] && path="$path$RANDOM"
    # Warm the route once on a small body so the baseline includes its code and buffers.
    head -c 100000 "$FILE" | sed '$d' | curl -s -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: application/x-ndjson' \
        --data-binary @- "http://127.0.0.1:$PORT/api/datasets/validate"
    echo 5 >/proc/"$WORKER"/clear_refs
    before=$(kib VmRSS)
    result=$(curl -s -o "$RUN/response.json" -w '%{http_code} %{time_total}' -H "X-API-Key: $KEY" \
        -H 'Content-Type: application/x-ndjson' --data-binary @"$FILE" "http://127.0.0.1:$PORT$path")
    peak=$(kib VmHWM)
    read -r status seconds <<<"$result"
    printf '  %-8s HTTP %s  %6.2f s  %7.1f MB/s   worker RSS %s KiB → peak %s KiB (growth %s KiB)\n' "$name" "$status" "$seconds" \
        "$(python3 -c "print($SIZE / 1e6 / $seconds)")" "$before" "$peak" "$((peak - before))"
    head -c 300 "$RUN/response.json"
    echo
done
