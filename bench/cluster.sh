#!/usr/bin/env bash
# The cluster's figures for bench/RESULTS.md ("Several hosts", "Capacity"): starts
# deploy/cluster/run.sh (2 hosts, its throwaway PostgreSQL with
# pg_stat_statements) and measures through its nginx
#   1. what routing by credential costs: the same wrk round (one session
#      token, GET /api/training/stats) with the upstream's
#      `hash $ftapi_route_key consistent` and with it taken out (round
#      robin), alternating; req/s and nginx's CPU per request;
#   2. one host's throughput: wrk with one token (hashed to one host) on the
#      stats endpoint and on a write mix (1 job create : 1 metric batch of 10
#      points : 2 stats reads);
#   3. PostgreSQL's cost per request over a fixed number of requests of each
#      endpoint, one after the other: the server's CPU (its processes' CPU
#      time over the requests), execution time (pg_stat_statements, which
#      leaves out BEGIN and COMMIT sent as prepared statements), and then,
#      over a tenth as many, round trips (the statements the server logs
#      with log_statement = all, BEGIN and COMMIT included: the store sends
#      each statement on its own and waits for its result). Metric batches
#      once to a new job and once to a job holding 50,000 points.
#
#   sudo bench/cluster.sh            # DURATION (10 s per wrk round), ROUNDS (3), REQUESTS (1000)
#
# Root (network namespaces). FTAPI_BIN, else a release build. Everything is
# on this machine: the hosts share its cores with nginx, PostgreSQL and wrk.
# The hosts run without their access log (FTAPI_ACCESS_LOG=off; a debug
# build refuses that setting at start, so give FTAPI_ACCESS_LOG=on with one).
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-1000}
[ "$(id -u)" -eq 0 ] || die "run as root (the cluster makes network namespaces)"
command -v wrk >/dev/null || ensure_packages wrk
build_ftapi
export FTAPI_BIN=$FTAPI

WORK=$(mktemp -d /tmp/ftapi-bench-cluster.XXXXXX)
chmod 755 "$WORK"
CLUSTER_PID=
cleanup() {
    set +e
    if [ -n "$CLUSTER_PID" ]; then
        kill -TERM "$CLUSTER_PID" 2>/dev/null
        wait "$CLUSTER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
addresses=$(ip -4 -o addr show) # not piped to grep -q: under pipefail ip's SIGPIPE would count as "no match"
for third in $(seq 100 163); do
    grep -q "inet 10\.77\.$third\.1[ /]" <<<"$addresses" || break
done
log "starting 2 hosts (FTAPI_WORKERS=${FTAPI_WORKERS:-2}, FTAPI_THREADS=${FTAPI_THREADS:-16}, no rate limit)"
CLUSTER_NET=10.77.$third HOSTS=2 HTTP_PORT=$PORT DATA_DIR=$WORK/data RATE_LIMIT_REQUESTS=0 FTAPI_ACCESS_LOG=${FTAPI_ACCESS_LOG:-off} \
    FTAPI_WORKERS=${FTAPI_WORKERS:-2} FTAPI_THREADS=${FTAPI_THREADS:-16} \
    "$REPO/deploy/cluster/run.sh" >"$WORK/banner" 2>"$WORK/cluster.log" &
CLUSTER_PID=$!
for _ in $(seq 1 600); do
    grep -q '^Ctrl-C stops' "$WORK/banner" 2>/dev/null && break
    kill -0 "$CLUSTER_PID" 2>/dev/null || { tail -20 "$WORK/cluster.log" >&2; die "deploy/cluster/run.sh stopped"; }
    sleep 0.1
done
TOKEN=$(sed -n 's/^ *session token (24 h): *//p' "$WORK/banner")
KEY=$(sed -n 's/^ *API key (user [^)]*): *//p' "$WORK/banner")
ACCESS_LOG=$(sed -n "s/^ *nginx's log (with the host that served each request): //p" "$WORK/banner")
PG_RESTART=$(sed -n 's/^ *restart PostgreSQL: *//p' "$WORK/banner")
RUN_DIR=$(dirname "$(dirname "$ACCESS_LOG")")
[ -n "$TOKEN" ] && [ -n "$PG_RESTART" ] || die "unexpected banner: $(cat "$WORK/banner")"
# The hosts' DATABASE_URL (on the links' root end, which is this machine's too), for psql.
DATABASE_URL=$(bash -c ". <(grep '^export DATABASE_URL' '$RUN_DIR/host-1.sh'); echo \"\$DATABASE_URL\"")
PSQL=("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" "$DATABASE_URL" -qAt)

log "loading pg_stat_statements (PostgreSQL restarts once)"
"${PSQL[@]}" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
PG_LOG=$RUN_DIR/postgres/server.log
logged_statements() { grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG" || true; }
setsid -w $PG_RESTART -w -t 30 >/dev/null
"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
AUTH="Authorization: Bearer $TOKEN"
for _ in $(seq 1 50); do curl -fs -o /dev/null -H "$AUTH" "$URL/api/training/stats" && break; sleep 0.2; done

nginx_worker() { pgrep -P "$(cat "$RUN_DIR/nginx.pid")" | head -1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's CPU: its postmaster, its processes, and those that ended (the postmaster's cutime/cstime).
pg_ticks() {
    local postmaster total=0 pid
    postmaster=$(head -1 "$RUN_DIR/postgres/pgdata/postmaster.pid")
    total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")
    for pid in $(pgrep -P "$postmaster"); do total=$((total + $(cpu_ticks "$pid" 2>/dev/null || echo 0))); done
    echo "$total"
}
# wrk_round NAME [wrk arguments]: one round; prints "NAME req/s nginx-µs-per-request non-2xx"
wrk_round() {
    local name=$1 worker before after pg_before pg_after
    shift
    worker=$(nginx_worker)
    before=$(cpu_ticks "$worker")
    pg_before=$(pg_ticks)
    wrk -t2 -c32 -d"${DURATION}s" --latency "$@" >"$WORK/wrk.out"
    after=$(cpu_ticks "$worker")
    pg_after=$(pg_ticks)
    python3 - "$name" "$WORK/wrk.out" "$before" "$after" "$(getconf CLK_TCK)" "$pg_before" "$pg_after" <<'PY'
import re, sys
name, path, before, after, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
pg = (int(sys.argv[7]) - int(sys.argv[6])) / hz
text = open(path).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
cpu = (after - before) / hz / requests * 1e6
print(f"{name:24} {rate:9.0f} req/s  p99 {p99:>8}  CPU/request: nginx {cpu:5.1f} µs, PostgreSQL {pg / requests * 1e6:6.1f} µs"
      + f"  non-2xx {bad.group(1) if bad else 0}"
      + (f"  socket errors: {errors.group(1)}" if errors else ""))
PY
}
# set_routing hash|roundrobin: the upstream with or without its hash line, nginx reloaded.
set_routing() {
    if [ "$1" = hash ]; then
        sed -i 's/^\(\s*\)# bench: \(hash .*\)$/\1\2/' "$RUN_DIR/ftapi-site.conf"
    else
        sed -i 's/^\(\s*\)\(hash \$ftapi_route_key consistent;\)$/\1# bench: \2/' "$RUN_DIR/ftapi-site.conf"
    fi
    nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -s reload
    # The old worker drains; the new one is the only child once it has.
    for _ in $(seq 1 50); do [ "$(pgrep -c -P "$(cat "$RUN_DIR/nginx.pid")")" = 1 ] && break; sleep 0.1; done
    sleep 1
}

log "1. routing by credential: hash vs round robin, $ROUNDS × ${DURATION} s each, one token, GET /api/training/stats"
for round in $(seq 1 "$ROUNDS"); do
    for routing in hash roundrobin; do
        set_routing "$routing"
        wrk_round "$routing (round $round)" -H "$AUTH" "$URL/api/training/stats"
    done
done
set_routing hash

log "2. one host (the token's owner; the other host idles), ${DURATION} s each"
wrk_round "stats, session token" -H "$AUTH" "$URL/api/training/stats"
wrk_round "stats, API key" -H "X-API-Key: $KEY" "$URL/api/training/stats"
# 32 jobs that get the metric batches, as 32 trainers would (one job's batches queue on its row).
JOBS=()
for _ in $(seq 1 32); do
    JOBS+=("$(curl -fs -H "$AUTH" -H 'Content-Type: application/json' -d '{"model_name":"bench-metrics"}' "$URL/api/training/jobs" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')")
done
JOB=${JOBS[0]}
cat >"$WORK/mix.lua" <<LUA
-- 1 job create : 1 metric batch (10 points to one of 32 jobs; steps repeat after a while, which the
-- contract makes an update) : 2 stats reads
local headers = {["Authorization"] = "Bearer $TOKEN", ["Content-Type"] = "application/json"}
local jobs = {"$(printf '%s","' "${JOBS[@]}" | sed 's/","$//')"}
local n = 0
request = function()
    n = n + 1
    local turn = n % 4
    if turn == 0 then
        return wrk.format("POST", "/api/training/jobs", headers, '{"model_name":"bench-mix","config":{}}')
    elseif turn == 1 then
        local base = (math.floor(n / 4) % 100) * 10
        local points = {}
        for i = 0, 9 do points[#points + 1] = '{"step":' .. (base + i) .. ',"train_loss":0.5,"learning_rate":0.0001}' end
        local job = jobs[math.floor(n / 4) % #jobs + 1]
        return wrk.format("POST", "/api/training/jobs/" .. job .. "/metrics", headers, '{"metrics":[' .. table.concat(points, ",") .. ']}')
    end
    return wrk.format("GET", "/api/training/stats", headers)
end
LUA
wrk_round "write mix" -s "$WORK/mix.lua" "$URL"
log "  the host's database time (ftapi_http_request_database_seconds) and busy threads after these rounds:"
for host in 1 2; do
    curl -fs --unix-socket "$RUN_DIR/status-h$host.sock" http://localhost/metrics |
        grep -E '^ftapi_http_request_database_seconds_(sum|count)|^ftapi_pool_threads_busy' | sed "s/^/    host $host: /" >&2
done
"${PSQL[@]}" -c "SELECT 'connections held: ' || count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'" >&2

log "3. PostgreSQL per request: CPU and pg_stat_statements over $REQUESTS requests of each endpoint, round trips in its log over $((REQUESTS / 10))"
# The application's statements in pg_stat_statements (not this script's own).
OURS="query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'ALTER SYSTEM%' AND query NOT LIKE '%pg_reload_conf%'"
# set_statement_log all|none: PostgreSQL logs every statement (to count round trips) or none (its CPU is measured without it).
set_statement_log() {
    "${PSQL[@]}" -c "ALTER SYSTEM SET log_statement = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
}
# send REQUESTS METHOD PATH BODY HEADER: the requests, one after the other on one connection (STEP in BODY: 10 × the request's number).
send() {
    python3 - "$URL" "$@" <<'PY'
import http.client, sys, urllib.parse
url, n, method, path, body, header = sys.argv[1:7]
u = urllib.parse.urlsplit(url)
name, _, value = header.partition(": ")
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(int(n)):
    b = body.replace("STEP", str(i * 10)).encode() if body else None
    c.request(method, path, body=b, headers={name: value, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status}")
PY
}
# statements_per_request NAME METHOD PATH [BODY] [HEADER]: REQUESTS requests without the statement log
# (PostgreSQL's CPU, pg_stat_statements' execution time and statements), then REQUESTS/10 with it (round trips).
statements_per_request() {
    local name=$1 method=$2 path=$3 body=${4:-} header=${5:-$AUTH} before after cpu_before cpu_after counted=$((REQUESTS / 10))
    "${PSQL[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null
    cpu_before=$(pg_ticks)
    send "$REQUESTS" "$method" "$path" "$body" "$header"
    cpu_after=$(pg_ticks)
    set_statement_log all
    before=$(logged_statements)
    send "$counted" "$method" "$path" "$body" "$header"
    after=$(logged_statements)
    set_statement_log none
    "${PSQL[@]}" -c "SELECT '$name', round(($after - $before)::numeric / $counted, 2),
            round(sum(total_exec_time)::numeric * 1000 / ($REQUESTS + $counted), 1),
            round(($cpu_after - $cpu_before) * 1000000.0 / $(getconf CLK_TCK) / $REQUESTS)
        FROM pg_stat_statements WHERE $OURS" |
        awk -F'|' '{printf "  %-50s %5s round trips a request, %6s µs of execution, %5s µs of CPU in PostgreSQL\n", $1, $2, $3, $4}' >&2
    "${PSQL[@]}" -c "SELECT calls, round((total_exec_time * 1000 / calls)::numeric, 1) || ' µs', left(regexp_replace(query, '\s+', ' ', 'g'), 100)
        FROM pg_stat_statements WHERE $OURS ORDER BY total_exec_time DESC LIMIT 5" | sed 's/^/      /' >&2
}
points='{"metrics":[{"step":STEP,"train_loss":0.5},{"step":1,"train_loss":0.5},{"step":2,"train_loss":0.5},{"step":3,"train_loss":0.5},{"step":4,"train_loss":0.5},{"step":5,"train_loss":0.5},{"step":6,"train_loss":0.5},{"step":7,"train_loss":0.5},{"step":8,"train_loss":0.5},{"step":9,"train_loss":0.5}]}'
statements_per_request "GET stats (session token)" GET /api/training/stats
statements_per_request "GET stats (API key)" GET /api/training/stats "" "X-API-Key: $KEY"
statements_per_request "GET jobs?limit=20" GET "/api/training/jobs?limit=20"
statements_per_request "GET jobs/:id" GET "/api/training/jobs/$JOB"
statements_per_request "POST jobs" POST /api/training/jobs '{"model_name":"bench-count","config":{}}'
FRESH=$(curl -fs -H "$AUTH" -H 'Content-Type: application/json' -d '{"model_name":"bench-fresh"}' "$URL/api/training/jobs" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
statements_per_request "POST jobs/:id/metrics (10 points, new job)" POST "/api/training/jobs/$FRESH/metrics" "$points"
# A long run's job: 50,000 points already (each batch updates the job's aggregates over all of them).
BIG=$(curl -fs -H "$AUTH" -H 'Content-Type: application/json' -d '{"model_name":"bench-big"}' "$URL/api/training/jobs" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
for batch in $(seq 0 49); do
    python3 -c 'import json, sys; b = int(sys.argv[1]); print(json.dumps({"metrics": [{"step": 100000 + b * 1000 + i, "train_loss": 0.5, "eval_loss": 0.6} for i in range(1000)]}))' "$batch" |
        curl -fs -o /dev/null -H "$AUTH" -H 'Content-Type: application/json' --data-binary @- "$URL/api/training/jobs/$BIG/metrics"
done
statements_per_request "POST jobs/:id/metrics (10 points, 50k in the job)" POST "/api/training/jobs/$BIG/metrics" "$points"
