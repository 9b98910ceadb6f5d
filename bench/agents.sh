#!/usr/bin/env bash
# Training agents at scale through nginx (bench/agents.py): BENCH_AGENTS (1000)
# agents with distinct X-Agent-ID, spread over BENCH_AGENT_USERS (20) users'
# API keys, each polling GET /api/training/agent/poll once a second; idle
# agents claim the job they saw (BENCH_RACERS agents of the user race for it)
# and the winner writes with the claim's job token (PUT metrics, POST logs,
# PATCH status completed), about BENCH_CLAIM_RATE (20) claims/s, while as many
# jobs a second are created (POST /api/training/jobs) on top of
# BENCH_QUEUE_DEPTH (50) pending jobs per user made beforehand. Measured for
# BENCH_SECONDS (30) after BENCH_WARMUP_SECONDS (3); then, in the same run,
# the polls alone and GET /api/training/stats on the same schedule for
# BENCH_COMPARE_SECONDS (10) each. On each backend of BENCH_BACKENDS (sqlite
# postgres): poll p50/p99, polls/s, claims/s, double claims, and CPU per
# request of the pool, PostgreSQL (the throwaway server's processes), nginx
# and the generator itself, from /proc; a table of all of it at the end.
# Env: BENCH_CONNECTIONS (200 kept connections to nginx), BENCH_POLL_INTERVAL
# (1 s), FTAPI_WORKERS (2), FTAPI_THREADS (16), BENCH_PORT (a free one),
# BENCH_DATABASE_URL (else a throwaway PostgreSQL; PostgreSQL's CPU is only
# read from a throwaway server), FTAPI_BIN (else a release build).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_packages
bench_build
bench_run_dir agents
PORT=${BENCH_PORT:-$(free_port)}
USERS=${BENCH_AGENT_USERS:-20}
RESULTS=$RUN/results.jsonl
for backend in $BENCH_BACKENDS; do
    bench_use_backend "$backend"
    echo "== $backend"
    "$FTAPI" migrate >&2
    # The generator's connections are spread over nginx's 64 kept upstream connections.
    bench_start_pool "$PORT" "${FTAPI_WORKERS:-2}" "${FTAPI_THREADS:-16}" 64
    pg_pid=
    [ "$backend" = postgres ] && pg_pid=$(bench_postgres_pid)
    : >"$RUN/keys"
    for _ in $(seq 1 "$USERS"); do
        "$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench-agents --scopes training >>"$RUN/keys"
    done
    BENCH_PORT=$PORT BENCH_KEYS_FILE=$RUN/keys BENCH_BACKEND=$backend BENCH_RESULTS=$RESULTS \
        BENCH_POOL_PID=$POOL BENCH_NGINX_PID=$NGINX BENCH_PG_POSTMASTER=$pg_pid \
        python3 "$(dirname "$0")/agents.py" run
    bench_report_pool
    bench_stop_pool
done
python3 "$(dirname "$0")/agents.py" table "$RESULTS"
