#!/usr/bin/env bash
# Instructions per GET /api/training/stats, counted by valgrind's callgrind:
# a deterministic figure where wall-clock rates move 15-25% between runs on
# these shared machines. The worker runs under callgrind with instrumentation
# off while it starts and warms up; it is switched on for exactly N requests
# sent straight over FastCGI (bench/fcgi_client.py, one kept connection, as
# nginx sends them), dumped, and divided by N. The C peer of the shared
# benchmark (../shared/bench/peers/fcgi_stats.c, with its 256 MiB mmap) is
# built and counted the same way, on the same data shape.
#
#   bench/instructions.sh                      # 2,000 requests each, top 15 functions
#   REQUESTS=5000 TOP=25 bench/instructions.sh
#   FTAPI_BIN=/path/to/ftapi bench/instructions.sh   # count another build (e.g. before a change)
#   ONLY=ftapi bench/instructions.sh           # ftapi alone, once: a quick look while changing it
#   BENCH_WORKER_ENV='GLIBC_TUNABLES=glibc.malloc.mxfast=0' bench/instructions.sh   # the worker with more environment
#   ROUTE=metrics bench/instructions.sh        # metric batches instead (100 points each, in step order, 20 jobs):
#                                              # ftapi alone, as the C peer has no such route
#
# Prints instructions per request for each, their ratio, and the top functions
# by inclusive instructions per request.
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"

REQUESTS=${REQUESTS:-2000}
TOP=${TOP:-15}
WORK=${WORKDIR:-/tmp/ftapi-instructions}
ROUTE=${ROUTE:-stats}
case $ROUTE in
stats) WARM_ARGS=() COUNTED_ARGS=() WHAT="stats request" ;;
# The warm-up creates the jobs and sends their first 10 batches; the counted batches go on from step 1,000.
metrics) WARM_ARGS=(metrics "$WORK/jobs.txt" 0) COUNTED_ARGS=(metrics "$WORK/jobs.txt" 1000) WHAT="metric batch of 100 points" ONLY=ftapi ;;
*) die "ROUTE must be stats or metrics, not $ROUTE" ;;
esac
PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
[ -f "$PEERS_DIR/fcgi_stats.c" ] || die "no C peer at $PEERS_DIR (set PEERS_DIR)"

ensure_packages valgrind gcc libssl-dev python3
if [ -z "${FTAPI_BIN:-}" ]; then
    log "building (release)"
    swift build -c release --package-path "$REPO" --product ftapi >&2
    FTAPI_BIN=$(swift build -c release --package-path "$REPO" --show-bin-path)/ftapi
fi
rm -rf "$WORK"
mkdir -p "$WORK/ftapi" "$WORK/peer"
# valgrind 3.19 cannot read the DWARF of a Swift 6 build: count a copy without
# it (the symbol table stays, so functions keep their names).
cp "$FTAPI_BIN" "$WORK/ftapi/ftapi"
strip --strip-debug "$WORK/ftapi/ftapi"
FTAPI_BIN=$WORK/ftapi/ftapi
log "seeding 1,000 users and 100,000 jobs for each"
DATA_DIR=$WORK/ftapi/data "$FTAPI_BIN" seed-bench --users 1000 --jobs 100000 --keys-out "$WORK/ftapi/keys.tsv" >&2
python3 "$PEERS_DIR/gen_data.py" --out "$WORK/peer" --users 1000 --jobs 100000 >/dev/null
gcc -O2 -g -o "$WORK/peer/fcgi_stats" "$PEERS_DIR/fcgi_stats.c" -lfcgi -lsqlite3 -lcrypto -lpthread

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' EXIT

# count NAME SOCKET KEYS WHICH COMMAND...: runs COMMAND (which starts callgrind) and counts REQUESTS requests
# in the process that serves them (the command itself, or its one child when WHICH is "child").
count() {
    local name=$1 socket=$2 keys=$3 which=$4
    shift 4
    "$@" >"$WORK/$name.log" 2>&1 &
    local launcher=$! worker=
    PIDS+=("$launcher")
    for _ in $(seq 600); do [ -S "$socket" ] && break; sleep 0.1; done
    [ -S "$socket" ] || die "$name did not listen (see $WORK/$name.log)"
    if [ "$which" = child ]; then
        for _ in $(seq 600); do worker=$(pgrep -P "$launcher" | head -1) && [ -n "$worker" ] && break; sleep 0.1; done
    else
        worker=$launcher
    fi
    python3 "$REPO/bench/fcgi_client.py" "$socket" "$keys" 200 "${WARM_ARGS[@]}"  # warm-up, not counted
    callgrind_control -i on "$worker" >/dev/null 2>&1
    python3 "$REPO/bench/fcgi_client.py" "$socket" "$keys" "$REQUESTS" "${COUNTED_ARGS[@]}"
    callgrind_control -d "$worker" >/dev/null 2>&1
    # With COUNT_STOP=1 the stop is counted too, in the dump callgrind writes at exit (STOP_DUMP).
    [ "${COUNT_STOP:-0}" = 1 ] || callgrind_control -i off "$worker" >/dev/null 2>&1
    kill -TERM "$launcher"
    wait "$launcher" 2>/dev/null || true
    DUMP=$(ls "$WORK/$name.$worker.out."*)
    STOP_DUMP=$WORK/$name.$worker.out
}

total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen {gsub(",", "", $1); print $1; seen = 1}'; }

log "counting ftapi ($REQUESTS requests, 1 worker x 1 thread, access log, rate limiter and scoreboard on)"
# The worker runs without its master (which would start it through /proc/self/exe, which valgrind can't
# follow): bench/worker_launcher.py gives it the socket and the shared memory the master would.
DATA_DIR=$WORK/ftapi/data "$FTAPI_BIN" migrate >/dev/null
# API-key usage is written by a timer (every 5 s by default), which would fall inside the counted
# window in some runs and not in others. So the timer is put out of reach and the usage of the counted
# requests is written once, as the worker stops: counted apart, in the stop's dump.
count_ftapi() {
    COUNT_STOP=1 count "$1" "$WORK/ftapi/ftapi.sock" "$WORK/ftapi/keys.tsv" child \
        env ${BENCH_WORKER_ENV:-} DATA_DIR="$WORK/ftapi/data" FTAPI_POOL_COUNTERS="$2" FTAPI_USAGE_FLUSH_SECONDS=86400 python3 "$REPO/bench/worker_launcher.py" "$WORK/ftapi/ftapi.sock" \
        valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/$1.%p.out" \
        "$FTAPI_BIN" serve --worker --worker-slot 0 --threads 1 --rate-limit 100000000 --rate-limit-window 60
}
count_ftapi ftapi on
FTAPI_DUMP=$DUMP
FTAPI_STOP_DUMP=$STOP_DUMP
usage_flush() { # instructions in UsageRecorder.flush in DUMP, per counted request
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | swift demangle --simplified |
        awk -v n="$REQUESTS" '/UsageRecorder.flush\(\)/ && !seen { c = $1; gsub(",", "", c); printf "%.0f", c / n; seen = 1 } END { if (!seen) print 0 }'
}
report_stop() {
    printf '  ftapi, the stop after them (per counted request) %10.0f, of which writing their API-key usage %s\n' \
        "$(echo "$(total "$FTAPI_STOP_DUMP") / $REQUESTS" | bc -l)" "$(usage_flush "$FTAPI_STOP_DUMP")"
}
if [ "${ONLY:-}" = ftapi ]; then
    echo "== instructions per $WHAT (callgrind, $REQUESTS requests)"
    printf '  ftapi   %10.0f\n' "$(echo "$(total "$FTAPI_DUMP") / $REQUESTS" | bc -l)"
    report_stop
    echo "  (the dumps: $FTAPI_DUMP, $FTAPI_STOP_DUMP)"
    exit 0
fi
log "counting ftapi again without the scoreboard's per-request counting (FTAPI_POOL_COUNTERS=off)"
count_ftapi ftapi-nocount off
NOCOUNT_DUMP=$DUMP
log "counting the C peer ($REQUESTS requests, 1 thread, 256 MiB mmap)"
count c-fcgi "$WORK/peer/peer.sock" "$WORK/peer/keys.txt" self \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/c-fcgi.%p.out" "$WORK/peer/fcgi_stats" -s "$WORK/peer/peer.sock" -d "$WORK/peer/data.db" -t 1 -m 268435456
PEER_DUMP=$DUMP

ftapi_total=$(total "$FTAPI_DUMP")
peer_total=$(total "$PEER_DUMP")
nocount_total=$(total "$NOCOUNT_DUMP")
echo "== instructions per stats request (callgrind, $REQUESTS requests each)"
printf '  ftapi   %10.0f\n' "$(echo "$ftapi_total / $REQUESTS" | bc -l)"
printf '  ftapi without scoreboard counting %10.0f  (the counters cost %.0f per request)\n' \
    "$(echo "$nocount_total / $REQUESTS" | bc -l)" "$(echo "($ftapi_total - $nocount_total) / $REQUESTS" | bc -l)"
report_stop
printf '  c-fcgi  %10.0f\n' "$(echo "$peer_total / $REQUESTS" | bc -l)"
printf '  ftapi / c-fcgi = %.2f\n' "$(echo "$ftapi_total / $peer_total" | bc -l)"
for pair in "ftapi:$FTAPI_DUMP" "c-fcgi:$PEER_DUMP"; do
    echo "== top $TOP functions of ${pair%%:*}, inclusive instructions per request"
    callgrind_annotate --inclusive=yes --threshold=100 "${pair#*:}" 2>/dev/null |
        awk -v n="$REQUESTS" -v top="$TOP" '
            /^-+$/ { dashes++; next }
            dashes >= 3 && NF >= 2 && shown < top {
                count = $1; gsub(",", "", count)
                if (count !~ /^[0-9]+$/) next
                $1 = ""; sub(/^ +/, ""); sub(/ \[.*$/, "")
                printf "  %10.0f  %s\n", count / n, $0; shown++
            }' | swift demangle --simplified | cut -c1-150 || true
done
