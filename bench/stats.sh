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
# PEERS_DIR (default ../shared/bench/peers), ACCESS_LOG (on).
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"

PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
WORKDIR=${WORKDIR:-/tmp/ftapi-bench}
WORKERS=${FTAPI_WORKERS:-2}
THREADS=${FTAPI_THREADS:-16}
USERS=${BENCH_USERS:-1000}
JOBS=${BENCH_JOBS:-100000}
[ -f "$PEERS_DIR/run.sh" ] || die "no peers benchmark at $PEERS_DIR (set PEERS_DIR)"

ensure_packages
log "building (release)"
swift build -c release --package-path "$REPO" --product ftapi >&2
FTAPI=$(swift build -c release --package-path "$REPO" --show-bin-path)/ftapi

DATA=$WORKDIR/ftapi-data
rm -rf "$DATA"
mkdir -p "$WORKDIR"
export DATA_DIR=$DATA
log "seeding $USERS users and $JOBS jobs"
"$FTAPI" seed-bench --users "$USERS" --jobs "$JOBS" --keys-out "$WORKDIR/ftapi-keys.tsv" >&2

SOCKET=$WORKDIR/ftapi.sock
access_log=()
[ "${ACCESS_LOG:-on}" = off ] && access_log=(--no-access-log)
# The rate limiter stays on, at a budget far above what wrk sends per key,
# so its cost (shared-memory counter per request) is in the figures.
"$FTAPI" serve --listen "unix:$SOCKET" --workers "$WORKERS" --threads "$THREADS" \
    --rate-limit 100000000 --rate-limit-window 60 "${access_log[@]}" 2>"$WORKDIR/ftapi.log" &
POOL=$!
trap 'kill -TERM $POOL 2>/dev/null; wait $POOL 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
[ -S "$SOCKET" ] || die "the pool did not start (see $WORKDIR/ftapi.log)"

bash "$PEERS_DIR/run.sh" --workdir "$WORKDIR/peers" \
    --extra "ftapi=unix:$SOCKET" --extra-keys "ftapi=$WORKDIR/ftapi-keys.tsv" "$@"

echo "== ftapi workers after the run ($WORKERS workers x $THREADS threads)"
for pid in $(pgrep -P "$POOL"); do
    printf '  worker %s: VmRSS %s, VmHWM %s\n' "$pid" \
        "$(awk '/^VmRSS/ {print $2" "$3}' /proc/"$pid"/status)" "$(awk '/^VmHWM/ {print $2" "$3}' /proc/"$pid"/status)"
done
