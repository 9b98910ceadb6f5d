#!/usr/bin/env bash
# Dashboard benchmark: seeds one user with 10,000 jobs over the last 30 days
# (plus 90,000 jobs of 999 other users and datasets for all), starts the pool
# behind nginx, and measures GET /api/analytics/dashboard through nginx: p50/p99
# for the default range and a 366-day one, from 1 and 4 clients. Env:
# BENCH_USER_JOBS (10000), BENCH_OTHER_JOBS (90000), BENCH_READ_SECONDS (10),
# FTAPI_WORKERS (2), FTAPI_THREADS (16); on each backend of BENCH_BACKENDS
# (sqlite postgres), PostgreSQL at BENCH_DATABASE_URL or a throwaway server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages
bench_build
bench_run_dir dashboard
PORT=${BENCH_PORT:-8098}
USER_ID=$(cat /proc/sys/kernel/random/uuid)
for backend in $BENCH_BACKENDS; do
    bench_use_backend "$backend"
    echo "== $backend"
    "$FTAPI" migrate >&2
    log "seeding"
    if [ "$backend" = postgres ]; then
        python3 "$(dirname "$0")/dashboard.py" seed-sql "$DATABASE_SCHEMA" "$USER_ID" | psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >&2
    else
        python3 "$(dirname "$0")/dashboard.py" seed "$DATA_DIR/ftapi.db" "$USER_ID"
    fi
    bench_start_pool "$PORT" "${FTAPI_WORKERS:-2}" "${FTAPI_THREADS:-16}"
    KEY=$("$FTAPI" keys create --user "$USER_ID" --name "bench-$backend" --scopes analytics)
    BENCH_PORT=$PORT BENCH_KEY=$KEY python3 "$(dirname "$0")/dashboard.py" load
    bench_report_pool
    bench_stop_pool
done
