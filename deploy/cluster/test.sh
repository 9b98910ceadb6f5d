#!/usr/bin/env bash
# The cluster test: starts deploy/cluster/run.sh with 2 hosts (network
# namespaces, one throwaway PostgreSQL, one shared DATA_DIR) and checks
#   - a key's rate limit holds across hosts (RATE_LIMIT_REQUESTS=20: 100
#     requests give exactly 20 × 200 and 80 × 429);
#   - failover: the host that took an upload is SIGKILLed (master and
#     workers) under GET and POST load: no GET fails, no POST is carried out
#     twice, every POST answered 2xx is stored;
#   - the upload is then listed, downloaded (same bytes) and deleted through
#     the other host.
# Skips (exit 0, with a message) when not root or network namespaces can't be
# made. Removes everything it started, whatever happens.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

skip() {
    log "SKIPPED the cluster test: $*"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "it needs root to make network namespaces"
command -v ip >/dev/null || skip "ip (iproute2) is missing"
probe=ftprobe$$
ip netns add "$probe" 2>/dev/null || skip "this machine can't make network namespaces (ip netns add failed)"
ip netns del "$probe"

export FTAPI_BIN=${FTAPI_BIN:-$REPO/.build/debug/ftapi}
WORK=$(mktemp -d /tmp/ftapi-cluster-test.XXXXXX)
chmod 755 "$WORK" # nginx (www-data) sends stored datasets from DATA_DIR inside it
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
CLUSTER_PID=
LOAD_PIDS=()
cleanup() {
    local status=$?
    set +e
    for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    if [ -n "$CLUSTER_PID" ]; then
        kill -TERM "$CLUSTER_PID" 2>/dev/null
        wait "$CLUSTER_PID" 2>/dev/null
    fi
    if [ "$status" -ne 0 ]; then
        log "the cluster's output:"
        tail -n 60 "$WORK/cluster.log" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
    log "FAILED: $*"
    exit 1
}

# A /24 for the links that no other cluster on this machine (another test run) uses.
for third in $(seq 0 63); do
    ip -4 -o addr show | grep -q "inet 10\.77\.$third\.1[ /]" || break
done
export CLUSTER_NET=10.77.$third
log "starting a cluster of 2 hosts on 127.0.0.1:$PORT (links in $CLUSTER_NET.0/24)"
HOSTS=2 HTTP_PORT=$PORT DATA_DIR=$WORK/data RATE_LIMIT_REQUESTS=20 RATE_LIMIT_WINDOW_SECONDS=60 \
    FTAPI_WORKERS=2 FTAPI_THREADS=4 "$REPO/deploy/cluster/run.sh" >"$WORK/banner" 2>"$WORK/cluster.log" &
CLUSTER_PID=$!
for _ in $(seq 1 600); do
    grep -q '^Ctrl-C stops' "$WORK/banner" 2>/dev/null && break
    kill -0 "$CLUSTER_PID" 2>/dev/null || fail "deploy/cluster/run.sh stopped"
    sleep 0.1
done
grep -q '^Ctrl-C stops' "$WORK/banner" || fail "the cluster did not come up in 60 s"
KEY=$(sed -n 's/^ *API key (user [^)]*): *//p' "$WORK/banner")
TOKEN=$(sed -n 's/^ *session token (24 h): *//p' "$WORK/banner")
ACCESS_LOG=$(sed -n "s/^ *nginx's log (with the host that served each request): //p" "$WORK/banner")
[ -n "$KEY" ] && [ -n "$TOKEN" ] && [ -f "$ACCESS_LOG" ] || fail "unexpected banner: $(cat "$WORK/banner")"
# host N's address and namespace, from the banner's "host N: ADDRESS:PORT in namespace NS, …" lines
host_field() { sed -n "s/^ *host $1: \([0-9.]*\):[0-9]* in namespace \([^,]*\),.*/\\$2/p" "$WORK/banner"; }

# The host that served the last request matching PATTERN (nginx's log: the last address of upstream=…).
served_by() { grep -- "$1" "$ACCESS_LOG" | tail -1 | sed 's/.*upstream=//; s/.*, //; s/:[0-9]*$//'; }

log "rate limit across hosts: 100 requests with one key, budget 20 per 60 s"
: >"$WORK/rate"
for _ in $(seq 1 100); do
    curl -s -o /dev/null -w '%{http_code}\n' -H "X-API-Key: $KEY" "$URL/api/training/stats" >>"$WORK/rate"
done
ok=$(grep -c '^200$' "$WORK/rate" || true)
limited=$(grep -c '^429$' "$WORK/rate" || true)
log "  $ok × 200, $limited × 429"
[ "$ok" -eq 20 ] && [ "$limited" -eq 80 ] || fail "expected 20 × 200 and 80 × 429: $(sort "$WORK/rate" | uniq -c | tr '\n' ' ')"
owners=$(grep -- '/api/training/stats' "$ACCESS_LOG" | sed 's/.*upstream=//' | sort -u | wc -l)
[ "$owners" -eq 1 ] || fail "one key's requests went to $owners hosts"

log "an upload taken by one host"
python3 - "$WORK/chats.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        f.write(json.dumps({"messages": [{"role": "user", "content": f"What is {i} squared?"},
                                         {"role": "assistant", "content": f"It is {i * i}."}]}) + "\n")
PY
AUTH="Authorization: Bearer $TOKEN"
upload=$(curl -s -w '\n%{http_code}' -H "$AUTH" -F name=cluster-upload -F "file=@$WORK/chats.jsonl;type=application/x-ndjson" \
    "$URL/api/datasets")
[ "$(tail -1 <<<"$upload")" = 201 ] || fail "upload: $upload"
DATASET=$(head -1 <<<"$upload" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
TAKER=$(served_by '"POST /api/datasets HTTP')
[ "$TAKER" = "$(host_field 1 1)" ] && { KILLED=1 SURVIVOR=2; } || { KILLED=2 SURVIVOR=1; }
[ "$TAKER" = "$(host_field $KILLED 1)" ] || fail "no host at $TAKER"
log "  dataset $DATASET taken by host $KILLED ($TAKER)"

log "failover: host $KILLED SIGKILLed under load (GETs spread and GETs routed to it; POSTs of new jobs)"
get_loop() { # get_loop OUT PATH [HEADER]: GETs until WORK/stop exists
    local out=$1 path=$2
    shift 2
    while [ ! -e "$WORK/stop" ]; do curl -s -o /dev/null -w '%{http_code}\n' "$@" "$URL$path" >>"$out"; done
}
post_loop() { # numbered job creates, each recorded as "NUMBER STATUS"
    local n=0 status
    while [ ! -e "$WORK/stop" ] && [ "$n" -lt 190 ]; do
        n=$((n + 1))
        status=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' \
            -d "{\"model_name\":\"failover-$n\",\"config\":{},\"total_steps\":10}" "$URL/api/training/jobs")
        echo "$n $status" >>"$WORK/posts"
        sleep 0.03
    done
}
: >"$WORK/gets" && : >"$WORK/posts"
get_loop "$WORK/gets" /api/health & LOAD_PIDS+=($!)
get_loop "$WORK/gets" /api/health & LOAD_PIDS+=($!)
get_loop "$WORK/gets" /api/datasets -H "$AUTH" & LOAD_PIDS+=($!)
get_loop "$WORK/gets" "/api/datasets/$DATASET" -H "$AUTH" & LOAD_PIDS+=($!)
post_loop & LOAD_PIDS+=($!)
sleep 2
killed_ns=$(host_field $KILLED 2)
before=$(wc -l <"$WORK/gets")
victims=$(ip netns pids "$killed_ns")
kill -KILL $victims
log "  killed $(wc -w <<<"$victims") processes (master and workers) in $killed_ns after $before GETs"
sleep 5
touch "$WORK/stop"
for pid in "${LOAD_PIDS[@]}"; do wait "$pid"; done
LOAD_PIDS=()
[ -z "$(ip netns pids "$killed_ns")" ] || fail "host $KILLED still has processes"
gets=$(wc -l <"$WORK/gets")
get_failures=$(grep -vc '^200$' "$WORK/gets" || true)
posts=$(wc -l <"$WORK/posts")
post_ok=$(grep -c ' 201$' "$WORK/posts" || true)
log "  GETs: $gets sent, $get_failures failed; POSTs: $posts sent, $post_ok × 201, $((posts - post_ok)) failed"
[ "$get_failures" -eq 0 ] || fail "GETs failed: $(sort "$WORK/gets" | uniq -c | tr '\n' ' ')"
retried=$(grep -c 'upstream=[0-9.:]*, ' "$ACCESS_LOG" || true)
log "  requests nginx passed on to the other host: $retried"
curl -s -H "$AUTH" "$URL/api/training/jobs?limit=200" >"$WORK/jobs"
python3 - "$WORK/jobs" "$WORK/posts" <<'PY' || fail "job creates: see above"
import collections, json, sys
jobs = json.load(open(sys.argv[1]))["data"]
names = collections.Counter(job["model_name"] for job in jobs if job["model_name"].startswith("failover-"))
twice = [name for name, count in names.items() if count > 1]
acknowledged = [f"failover-{line.split()[0]}" for line in open(sys.argv[2]) if line.split()[1] == "201"]
lost = [name for name in acknowledged if name not in names]
print(f"  jobs stored: {len(names)}, carried out twice: {len(twice)}, acknowledged but lost: {len(lost)}", file=sys.stderr)
sys.exit(1 if twice or lost else 0)
PY

log "the upload through host $SURVIVOR: listed, downloaded, deleted"
curl -fs -H "$AUTH" "$URL/api/datasets" | grep -q "\"$DATASET\"" || fail "not listed"
curl -fs -H "$AUTH" -o "$WORK/downloaded" "$URL/api/datasets/$DATASET/content" || fail "download failed"
cmp -s "$WORK/downloaded" "$WORK/chats.jsonl" || fail "downloaded bytes differ"
[ "$(served_by "GET /api/datasets/$DATASET/content")" = "$(host_field $SURVIVOR 1)" ] || fail "download not served by host $SURVIVOR"
deleted=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "$AUTH" "$URL/api/datasets/$DATASET")
case $deleted in 200 | 204) ;; *) fail "delete: $deleted" ;; esac
[ "$(served_by "DELETE /api/datasets/$DATASET")" = "$(host_field $SURVIVOR 1)" ] || fail "delete not served by host $SURVIVOR"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$URL/api/datasets/$DATASET/content")" = 404 ] || fail "still downloadable"
[ ! -e "$WORK/data/datasets/$DATASET.jsonl" ] || fail "the file is still in DATA_DIR"
log "host $KILLED starts again while host $SURVIVOR takes a slow upload: its start-up sweep leaves that upload alone"
python3 - "$WORK/slow.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(12000):
        f.write(json.dumps({"messages": [{"role": "user", "content": f"Slow question {i}?"},
                                         {"role": "assistant", "content": f"Slow answer {i}."}]}) + "\n")
PY
# About 4 s at 256 KiB/s; the session token's requests go to host $SURVIVOR while host $KILLED is down.
curl -s -o "$WORK/slow.out" -w '%{http_code}' --limit-rate 256k -H "$AUTH" -H 'Content-Type: application/x-ndjson' \
    --data-binary "@$WORK/slow.jsonl" "$URL/api/datasets?name=slow-upload" >"$WORK/slow.status" &
SLOW_PID=$!
LOAD_PIDS+=($SLOW_PID)
for _ in $(seq 1 50); do
    [ -n "$(ls -A "$WORK/data/datasets/.partial" 2>/dev/null)" ] && break
    sleep 0.1
done
[ -n "$(ls -A "$WORK/data/datasets/.partial")" ] || fail "the slow upload has no partial file"
RUN_DIR=$(dirname "$(dirname "$ACCESS_LOG")")
"$RUN_DIR/host-$KILLED.sh" 2>"$WORK/restarted.log" &
RESTARTED_PID=$!
LOAD_PIDS+=($RESTARTED_PID)
address=$(host_field $KILLED 1)
for _ in $(seq 1 100); do (echo >"/dev/tcp/$address/9000") 2>/dev/null && break; sleep 0.1; done
(echo >"/dev/tcp/$address/9000") 2>/dev/null || fail "host $KILLED did not start again: $(cat "$WORK/restarted.log")"
wait "$SLOW_PID"
[ "$(cat "$WORK/slow.status")" = 201 ] || fail "the slow upload: $(cat "$WORK/slow.status") $(cat "$WORK/slow.out")"
[ "$(served_by '"POST /api/datasets?name=slow-upload')" = "$(host_field $SURVIVOR 1)" ] || fail "the slow upload went to host $KILLED"
SLOW=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["id"])' "$WORK/slow.out")
curl -fs -H "$AUTH" -o "$WORK/slow.downloaded" "$URL/api/datasets/$SLOW/content" || fail "slow upload: download failed"
cmp -s "$WORK/slow.downloaded" "$WORK/slow.jsonl" || fail "slow upload: downloaded bytes differ"
grep -q 'removed dataset files' "$WORK/restarted.log" && fail "host $KILLED's start-up sweep removed files: $(grep 'removed dataset files' "$WORK/restarted.log")"

log "nginx uses host $KILLED again (within fail_timeout, 10 s)"
seen=$(wc -l <"$ACCESS_LOG")
back=0
for _ in $(seq 1 150); do
    curl -s -o /dev/null "$URL/api/health"
    if tail -n "+$((seen + 1))" "$ACCESS_LOG" | grep -q "GET /api/health.*upstream=$address:9000\$"; then
        back=1
        break
    fi
    sleep 0.1
done
[ "$back" = 1 ] || fail "no request went to host $KILLED in 15 s"
kill -TERM "$RESTARTED_PID"
wait "$RESTARTED_PID" || true
LOAD_PIDS=()
log "cluster test passed"
