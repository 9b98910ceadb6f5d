#!/usr/bin/env bash
# FineTune Lab trainers at training rates through nginx: BENCH_TRAINERS (100)
# trainers each post a BENCH_POINTS_PER_BATCH (100) point batch and
# BENCH_LOG_LINES (20) log lines per second with their job token, for
# BENCH_SECONDS (15) s through POST /api/training/local/metrics, then as long
# through the contract's POST /api/training/jobs/:id/metrics, in one run, on
# each backend of BENCH_BACKENDS (sqlite postgres). Prints points/s, batch p50
# and p99 and log-post p99 per route. Env: FTAPI_WORKERS (2), FTAPI_THREADS (64),
# BENCH_DATABASE_URL (else a throwaway PostgreSQL).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages
bench_build
bench_run_dir trainer
PORT=${BENCH_PORT:-8098}
for backend in $BENCH_BACKENDS; do
    bench_use_backend "$backend"
    echo "== $backend"
    "$FTAPI" migrate >&2
    # 100 trainers on kept connections: as many threads and nginx keepalive slots as bench/training.sh gives its 100 clients.
    bench_start_pool "$PORT" "${FTAPI_WORKERS:-2}" "${FTAPI_THREADS:-64}" 64
    KEY=$("$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench --scopes training)
    BENCH_PORT=$PORT BENCH_KEY=$KEY python3 "$(dirname "$0")/trainer.py"
    bench_report_pool
    bench_stop_pool
done
