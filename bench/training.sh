#!/usr/bin/env bash
# Training benchmark: metrics ingest through nginx (JOBS jobs × POINTS points
# in batches of 100 from 100 concurrent jobs), then metrics polling and the
# aggregate for that user, on each backend of BENCH_BACKENDS (sqlite postgres).
# Env: BENCH_TRAINING_JOBS (1000), BENCH_POINTS_PER_JOB (1000),
# BENCH_CONCURRENCY (100), FTAPI_WORKERS (2), FTAPI_THREADS (64),
# BENCH_DATABASE_URL (else a throwaway PostgreSQL).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages
bench_build
bench_run_dir training
# 100 concurrent clients: enough threads (and nginx kept connections) that none starve.
PORT=${BENCH_PORT:-8097}
for backend in $BENCH_BACKENDS; do
    bench_use_backend "$backend"
    echo "== $backend"
    "$FTAPI" migrate >&2
    bench_start_pool "$PORT" "${FTAPI_WORKERS:-2}" "${FTAPI_THREADS:-64}" 64
    KEY=$("$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench --scopes training)
    wal=
    [ "$backend" = sqlite ] && wal=$DATA_DIR/ftapi.db-wal
    BENCH_PORT=$PORT BENCH_KEY=$KEY BENCH_WAL_PATH=$wal python3 "$(dirname "$0")/training.py"
    bench_report_pool
    bench_stop_pool
done
