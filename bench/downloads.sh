#!/usr/bin/env bash
# Download benchmark: one dataset of BENCH_DATASET_MIB (100) MiB, uploaded
# through nginx, then downloaded by BENCH_CLIENTS (16) concurrent clients
# through nginx (GET /api/datasets/:id/content: the pool authorizes, nginx
# sends the file). Prints MB/s over all clients and the pool's CPU time per
# download (utime + stime of the workers, from /proc), which should be near
# zero: the bytes never pass through a pool thread.
# Env: BENCH_DATASET_MIB, BENCH_CLIENTS, FTAPI_WORKERS (2), FTAPI_THREADS (16).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages curl
bench_build
bench_run_dir downloads
PORT=${BENCH_PORT:-8099}
MIB=${BENCH_DATASET_MIB:-100}
CLIENTS=${BENCH_CLIENTS:-16}
"$FTAPI" migrate >&2
bench_start_pool "$PORT" "${FTAPI_WORKERS:-2}" "${FTAPI_THREADS:-16}"
KEY=$("$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench --scopes datasets)
log "writing a $MIB MiB dataset"
python3 - "$RUN/dataset.jsonl" "$MIB" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
line = '{"text":"' + "the quick brown fox jumps over the lazy dog " * 20 + '"}\n'
with open(path, "w") as out:
    for _ in range(mib * 1024 * 1024 // len(line)):
        out.write(line)
PY
ID=$(curl -sf -H "X-API-Key: $KEY" -H 'Content-Type: application/x-ndjson' --data-binary @"$RUN/dataset.jsonl" \
    "http://127.0.0.1:$PORT/api/datasets?name=bench" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
BYTES=$(stat -c %s "$RUN/dataset.jsonl")
# pool_ticks: CPU clock ticks (user + system) of the pool's workers so far.
pool_ticks() { for pid in $(pgrep -P "$POOL"); do awk '{print $14 + $15}' /proc/"$pid"/stat; done | paste -sd+ | bc; }
before=$(pool_ticks)
started=$(date +%s.%N)
seq "$CLIENTS" | xargs -P "$CLIENTS" -I{} curl -sf -o /dev/null -w '%{size_download}\n' -H "X-API-Key: $KEY" \
    "http://127.0.0.1:$PORT/api/datasets/$ID/content" >"$RUN/sizes"
elapsed=$(echo "$(date +%s.%N) - $started" | bc -l)
after=$(pool_ticks)
[ "$(sort -u "$RUN/sizes")" = "$BYTES" ] || die "a download was incomplete: $(sort | uniq -c <"$RUN/sizes")"
ticks=$(getconf CLK_TCK)
printf 'downloads: %d clients x %.1f MiB in %.2f s: %.0f MB/s; pool CPU %.2f ms per download\n' "$CLIENTS" \
    "$(echo "$BYTES / 1048576" | bc -l)" "$elapsed" "$(echo "$CLIENTS * $BYTES / $elapsed / 1000000" | bc -l)" \
    "$(echo "($after - $before) * 1000 / $ticks / $CLIENTS" | bc -l)"
bench_report_pool
