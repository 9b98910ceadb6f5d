#!/usr/bin/env bash
# Training benchmark: metrics ingest through nginx (JOBS jobs × POINTS points
# in batches of 100 from 100 concurrent jobs), then metrics polling and the
# aggregate for that user. Env: BENCH_TRAINING_JOBS (1000), BENCH_POINTS_PER_JOB
# (1000), BENCH_CONCURRENCY (100), FTAPI_WORKERS (2), FTAPI_THREADS (64).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages
bench_build
bench_run_dir training
# 100 concurrent clients: enough threads (and nginx kept connections) that none starve.
PORT=${BENCH_PORT:-8097}
bench_start_pool "$PORT" "${FTAPI_WORKERS:-2}" "${FTAPI_THREADS:-64}" 64
KEY=$("$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench --scopes training)
BENCH_PORT=$PORT BENCH_KEY=$KEY python3 "$(dirname "$0")/training.py"
for pid in $(pgrep -P "$POOL"); do
    printf '  worker %s: VmHWM %s\n' "$pid" "$(awk '/^VmHWM/ {print $2" "$3}' /proc/"$pid"/status)"
done
