#!/usr/bin/env bash
# Benchmark of GET /api/training/stats: our pool against the reference peers
# (hand-written C on libfcgi, PHP-FPM, nginx alone) in the same wrk rounds,
# via ../shared/bench/peers/run.sh. Prints the peers' table, then each
# worker's RSS after the run.
#
#   bench/stats.sh                 # defaults: 1,000 users, 100,000 jobs, 3 rounds
#   bench/stats.sh --rounds 5      # extra arguments go to the peers' run.sh
#
# Env: WORKDIR (default /tmp/ftapi-bench), FTAPI_WORKERS (2), FTAPI_THREADS (16),
# PEERS_DIR (default ../shared/bench/peers), ACCESS_LOG (on), BENCH_BACKENDS
# (sqlite postgres: a second pool on PostgreSQL joins the same rounds as
# ftapi-pg; BENCH_DATABASE_URL, else a throwaway server), BENCH_WITHOUT_COUNTERS
# (1: one more SQLite pool with FTAPI_POOL_COUNTERS=off joins the rounds as
# ftapi-nocount, so the scoreboard's cost per request shows in the same run),
# BENCH_WITHOUT_ACCESS_LOG (1: one more SQLite pool with --no-access-log joins
# as ftapi-nolog, so the access log's cost per request shows in the same run),
# FTAPI_BIN (count that build instead of making a release build),
# BENCH_BASELINE_BIN (another build, e.g. of an earlier commit, joins the same
# rounds on the same data as ftapi-before: a change's before and after in one run),
# BENCH_BASELINE_ENV (environment assignments for ftapi-before alone, e.g.
# 'SQLITE_MMAP_BYTES=0': a setting's before and after in one run, with
# BENCH_BASELINE_BIN=the same build), BENCH_BASELINE_ARGS (more serve
# arguments for ftapi-before alone, which win over the defaults: e.g.
# '--workers 1 --threads 32' for another pool shape of one build).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
WORKDIR=${WORKDIR:-/tmp/ftapi-bench}
WORKERS=${FTAPI_WORKERS:-2}
THREADS=${FTAPI_THREADS:-16}
USERS=${BENCH_USERS:-1000}
JOBS=${BENCH_JOBS:-100000}
[ -f "$PEERS_DIR/run.sh" ] || die "no peers benchmark at $PEERS_DIR (set PEERS_DIR)"

ensure_packages
bench_build

DATA=$WORKDIR/ftapi-data
rm -rf "$DATA"
mkdir -p "$WORKDIR"
export DATA_DIR=$DATA
RUN=$WORKDIR
bench_use_backend sqlite
log "seeding $USERS users and $JOBS jobs"
"$FTAPI" seed-bench --users "$USERS" --jobs "$JOBS" --keys-out "$WORKDIR/ftapi-keys.tsv" >&2

SOCKET=$WORKDIR/ftapi.sock
access_log=()
[ "${ACCESS_LOG:-on}" = off ] && access_log=(--no-access-log)
POOLS=()
POOL_NAMES=()
trap 'for pool in "${POOLS[@]}"; do kill -TERM "$pool" 2>/dev/null; wait "$pool" 2>/dev/null; done; stop_throwaway_postgres' EXIT
# start_pool NAME SOCKET: a pool on the current backend. The rate limiter stays on, at a budget far above
# what wrk sends per key, so its cost (shared-memory counter per request) is in the figures.
start_pool() {
    env ${POOL_ENV:-} "${POOL_BIN:-$FTAPI}" serve --listen "unix:$2" --workers "$WORKERS" --threads "$THREADS" \
        --rate-limit 100000000 --rate-limit-window 60 "${access_log[@]}" ${POOL_ARGS:-} 2>"$WORKDIR/$1.log" &
    POOLS+=($!)
    POOL_NAMES+=("$1")
    for _ in $(seq 1 100); do [ -S "$2" ] && break; sleep 0.1; done
    [ -S "$2" ] || die "the pool did not start (see $WORKDIR/$1.log)"
}
start_pool ftapi "$SOCKET"
extras=(--extra "ftapi=unix:$SOCKET" --extra-keys "ftapi=$WORKDIR/ftapi-keys.tsv")
if [ "${BENCH_WITHOUT_COUNTERS:-0}" = 1 ]; then
    FTAPI_POOL_COUNTERS=off start_pool ftapi-nocount "$WORKDIR/ftapi-nocount.sock"
    extras+=(--extra "ftapi-nocount=unix:$WORKDIR/ftapi-nocount.sock" --extra-keys "ftapi-nocount=$WORKDIR/ftapi-keys.tsv")
fi
if [ "${BENCH_WITHOUT_ACCESS_LOG:-0}" = 1 ]; then
    FTAPI_ACCESS_LOG=off start_pool ftapi-nolog "$WORKDIR/ftapi-nolog.sock"
    extras+=(--extra "ftapi-nolog=unix:$WORKDIR/ftapi-nolog.sock" --extra-keys "ftapi-nolog=$WORKDIR/ftapi-keys.tsv")
fi
if [ -n "${BENCH_BASELINE_BIN:-}" ]; then
    POOL_BIN=$BENCH_BASELINE_BIN POOL_ENV=${BENCH_BASELINE_ENV:-} POOL_ARGS=${BENCH_BASELINE_ARGS:-} start_pool ftapi-before "$WORKDIR/ftapi-before.sock"
    extras+=(--extra "ftapi-before=unix:$WORKDIR/ftapi-before.sock" --extra-keys "ftapi-before=$WORKDIR/ftapi-keys.tsv")
fi
if [[ " $BENCH_BACKENDS " == *" postgres "* ]]; then
    bench_use_backend postgres
    log "seeding $USERS users and $JOBS jobs on PostgreSQL"
    "$FTAPI" seed-bench --users "$USERS" --jobs "$JOBS" --keys-out "$WORKDIR/ftapi-pg-keys.tsv" >&2
    start_pool ftapi-pg "$WORKDIR/ftapi-pg.sock"
    extras+=(--extra "ftapi-pg=unix:$WORKDIR/ftapi-pg.sock" --extra-keys "ftapi-pg=$WORKDIR/ftapi-pg-keys.tsv")
fi

bash "$PEERS_DIR/run.sh" --workdir "$WORKDIR/peers" "${extras[@]}" "$@"

echo "== ftapi workers after the run ($WORKERS workers x $THREADS threads)"
PG_URL=${DATABASE_URL:-}
for index in "${!POOLS[@]}"; do
    POOL=${POOLS[$index]}
    echo " ${POOL_NAMES[$index]}:"
    # The PostgreSQL pool, when there is one, is the last.
    if [ -n "$PG_URL" ] && [ "$index" -eq $((${#POOLS[@]} - 1)) ]; then DATABASE_URL=$PG_URL bench_report_pool; else DATABASE_URL='' bench_report_pool; fi
done
