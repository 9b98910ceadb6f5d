#!/usr/bin/env bash
# The cluster test: starts deploy/cluster/run.sh with 2 hosts (network
# namespaces, one throwaway PostgreSQL, one shared DATA_DIR) and checks
#   - a key's rate limit holds across hosts (RATE_LIMIT_REQUESTS=20: 100
#     requests give exactly 20 × 200 and 80 × 429);
#   - a revoked key is refused (401) at the next request on every host,
#     each reached straight over FastCGI (nginx would send the key to one);
#   - training agents racing for queued jobs (deploy/cluster/agents.py),
#     through nginx and straight to each host: each job claimed exactly once;
#   - under steady mixed load (deploy/cluster/traffic.py: GETs, job creates,
#     metric batches, from users that hash to either host):
#       a host SIGKILLed (master and workers), then started again;
#       a host's link cut (its end of the veth pair down), then restored;
#       the other host's link cut at the root end, then restored;
#       PostgreSQL restarted;
#     no GET fails (but 503s while PostgreSQL restarts), only POSTs in flight
#     on the host that went away fail, every write answered 2xx is stored and
#     none twice, no worker restarts for PostgreSQL's restart, and nginx uses
#     a host again once it is back. One summary line per scenario;
#   - the upload taken by the killed host is listed, downloaded (same bytes)
#     and deleted through the other host, whose start-up sweep spares the
#     other's upload in progress;
#   - run.sh on a given DATABASE_URL (the same server through its unix
#     socket): no throwaway server, and its host serves the same data.
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
TRAFFIC="$REPO/deploy/cluster/traffic.py"
# Ours, so that the test can make session tokens for more users (the load's clients).
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export JWT_SECRET
WORK=$(mktemp -d /tmp/ftapi-cluster-test.XXXXXX)
chmod 755 "$WORK" # nginx (www-data) sends stored datasets from DATA_DIR inside it
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
CLUSTER_PID=
SECOND_PID= # the cluster on a given DATABASE_URL
LOAD_PIDS=()
HOST_PIDS=() # hosts this test started again
CUT_LINK=
CUT_NS=
cleanup() {
    local status=$?
    set +e
    touch "$WORK/stop"
    for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    [ -n "$CUT_LINK" ] && ip ${CUT_NS:+-n "$CUT_NS"} link set "$CUT_LINK" up 2>/dev/null
    for pid in "${HOST_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${HOST_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [ "$status" -ne 0 ] && [ -n "${RUN_DIR:-}" ]; then
        log "nginx's errors and the requests it answered 5xx:"
        tail -n 30 "$RUN_DIR/logs/error.log" >&2
        grep '" 5[0-9][0-9] ' "$RUN_DIR/logs/access.log" | tail -n 30 >&2
    fi
    if [ -n "$SECOND_PID" ]; then
        kill -TERM "$SECOND_PID" 2>/dev/null
        wait "$SECOND_PID" 2>/dev/null
    fi
    if [ -n "$CLUSTER_PID" ]; then
        # run.sh removes the namespaces and links, kills what is left in them and stops PostgreSQL.
        kill -TERM "$CLUSTER_PID" 2>/dev/null
        wait "$CLUSTER_PID" 2>/dev/null
    fi
    if [ "$status" -ne 0 ]; then
        log "the cluster's output (without the hosts' access log):"
        grep -v '"msg":"request"' "$WORK/cluster.log" | tail -n 60 >&2
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

# free_net: a /24 for the links that no other cluster on this machine (another test run) uses.
free_net() {
    local third addresses
    # Read first: `ip … | grep -q` under pipefail fails when grep, done at its first match, leaves ip
    # writing into a closed pipe (SIGPIPE), which would make a /24 in use look free.
    addresses=$(ip -4 -o addr show)
    for third in $(seq 0 63); do
        grep -q "inet 10\.77\.$third\.1[ /]" <<<"$addresses" || break
    done
    echo "10.77.$third"
}
CLUSTER_NET=$(free_net)
export CLUSTER_NET
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
# The links' names: "cut its link: ip -n <TAG>h1 link set <TAG>n1 down …".
LINK_TAG=$(sed -n 's/^ *cut its link: *ip -n [^ ]* link set \([^ ]*\)n1 down .*/\1/p' "$WORK/banner")
PG_RESTART=$(sed -n 's/^ *restart PostgreSQL: *//p' "$WORK/banner")
[ -n "$KEY" ] && [ -n "$TOKEN" ] && [ -f "$ACCESS_LOG" ] && [ -n "$LINK_TAG" ] || fail "unexpected banner: $(cat "$WORK/banner")"
RUN_DIR=$(dirname "$(dirname "$ACCESS_LOG")")
# host N's address and namespace, from the banner's "host N: ADDRESS:PORT in namespace NS, …" lines
host_field() { sed -n "s/^ *host $1: \([0-9.]*\):[0-9]* in namespace \([^,]*\),.*/\\$2/p" "$WORK/banner"; }

# The host that served the last request matching PATTERN (nginx's log: the last address of upstream=…).
served_by() { grep -- "$1" "$ACCESS_LOG" | tail -1 | sed 's/.*upstream=//; s/.*, //; s/:[0-9]*$//'; }

# owner_of TOKEN: the address of the host nginx routes TOKEN's requests to (while every host is up).
owner_of() {
    local lines
    lines=$(wc -l <"$ACCESS_LOG")
    curl -s -o /dev/null -H "Authorization: Bearer $1" "$URL/api/training/stats"
    # nginx writes the line after the answer: wait for it.
    for _ in $(seq 1 50); do [ "$(wc -l <"$ACCESS_LOG")" -gt "$lines" ] && break; sleep 0.05; done
    sed -n "$((lines + 1)){s/.*upstream=//; s/.*, //; s/:[0-9]*\$//; p; q}" "$ACCESS_LOG"
}

# host_status N: host N's /status (JSON) through its status socket in RUN_DIR.
host_status() { curl -fsS --unix-socket "$RUN_DIR/status-h$1.sock" http://localhost/status; }
# workers_and_restarts N: "pid pid … crashed=… recycled=… reloaded=…" of host N.
workers_and_restarts() {
    host_status "$1" | python3 -c 'import json, sys; s = json.load(sys.stdin)
print(" ".join(sorted(str(w["pid"]) for w in s["workers"])), " ".join(f"{k}={v}" for k, v in sorted(s["restarts"].items())))'
}

# The load of one scenario: start_load PHASE CLIENT… runs deploy/cluster/traffic.py until stop_load; the
# fault comes once it is steady (100 requests more in nginx's log, or 20 s on a very busy machine).
start_load() {
    local phase=$1 seen
    shift
    rm -f "$WORK/stop"
    LOAD_MARK=$(wc -l <"$ACCESS_LOG")
    LOAD_STARTED=$(date +%s)
    python3 "$TRAFFIC" load "$WORK/$phase.load" "$URL" "$WORK/stop" "$phase" "$@" &
    LOAD_PID=$!
    LOAD_PIDS=("$LOAD_PID")
    for _ in $(seq 1 200); do
        seen=$(wc -l <"$ACCESS_LOG")
        [ "$seen" -ge $((LOAD_MARK + 100)) ] && break
        kill -0 "$LOAD_PID" 2>/dev/null || fail "the load stopped"
        sleep 0.1
    done
}
stop_load() {
    touch "$WORK/stop"
    wait "$LOAD_PID" || fail "the load failed"
    LOAD_PIDS=()
    log "  load ran $(($(date +%s) - LOAD_STARTED)) s"
}
# check_load PHASE LABEL [traffic.py check options]: the scenario's summary line, and the writes checked in PostgreSQL (through the API).
check_load() {
    local phase=$1 label=$2 summary
    shift 2
    summary=$(python3 "$TRAFFIC" check "$WORK/$phase.load" "$URL" "$label" --tokens "${CLIENT_TOKENS[*]}" "$@") ||
        fail "${summary:-$label: the check failed} (see above)"
    log "  $summary"
}
# failed_posts_elsewhere ADDRESS: POSTs since the load started that failed (5xx) on a host other than ADDRESS.
failed_posts_elsewhere() {
    tail -n "+$((LOAD_MARK + 1))" "$ACCESS_LOG" | python3 -c '
import re, sys
n = 0
for line in sys.stdin:
    m = re.search(r"\"POST [^\"]*\" (\d{3}) .*upstream=(.*)$", line)
    if m and m.group(1).startswith("5") and m.group(2).split(", ")[-1].rsplit(":", 1)[0] != sys.argv[1]:
        n += 1
print(n)' "$1"
}
# uses_again ADDRESS SECONDS: whether nginx sends a request to ADDRESS (answered 200) within SECONDS (the load is running).
uses_again() {
    local seen
    seen=$(wc -l <"$ACCESS_LOG")
    for _ in $(seq 1 $(($2 * 10))); do
        # (grep -q on a process substitution, not a pipe: under pipefail, tail's SIGPIPE after grep's first
        # match would make the pipeline fail.)
        grep -q "\" 200 .*upstream=$1:9000\$" <(tail -n "+$((seen + 1))" "$ACCESS_LOG") && return 0
        sleep 0.1
    done
    return 1
}

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

AUTH="Authorization: Bearer $TOKEN"
log "revocation on every host: a key revoked through the API is refused at the next request on each host"
created=$(curl -s -w '\n%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' -d '{"name":"revoked-on-every-host"}' \
    "$URL/api/user/api-keys")
[ "$(tail -1 <<<"$created")" = 201 ] || fail "key create: $created"
REVOKED_KEY=$(head -1 <<<"$created" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["key"])')
REVOKED_ID=$(head -1 <<<"$created" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
# Straight to each host over FastCGI (nginx would send the key to its one owner).
on_host() { python3 "$TRAFFIC" fcgi "$(host_field "$1" 1):9000" GET /api/training/stats "HTTP_X_API_KEY=$REVOKED_KEY"; }
for host in 1 2; do
    [ "$(on_host $host)" = 200 ] || fail "the new key on host $host: $(on_host $host)"
done
revoked=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "$AUTH" "$URL/api/user/api-keys/$REVOKED_ID")
case $revoked in 200 | 204) ;; *) fail "revoke: $revoked" ;; esac
for host in 1 2; do
    status=$(on_host $host)
    log "  host $host: 200 before the revocation, $status at the next request"
    [ "$status" = 401 ] || fail "the revoked key on host $host: $status"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $REVOKED_KEY" "$URL/api/training/stats")" = 401 ] ||
    fail "the revoked key through nginx is not refused"

# deploy/cluster/agents.py: the platform's agent (Tests/TrainingAgent/agent.py), 8 at once, through nginx and straight
# to each host over FastCGI; a new user's session token (not rate-limited), so that the queue holds only the race's jobs.
log "training agents racing for queued jobs, through nginx and straight to each host: each job claimed once"
AGENT_TOKEN=$("$FTAPI_BIN" token --user "$(python3 -c 'import uuid; print(uuid.uuid4())')" --ttl 3600)
summary=$(python3 "$REPO/deploy/cluster/agents.py" "$URL" "$AGENT_TOKEN" "$(host_field 1 1):9000" "$(host_field 2 1):9000") ||
    fail "${summary:-agents: the race failed}"
log "  $summary"

log "an upload taken by one host"
python3 - "$WORK/chats.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        f.write(json.dumps({"messages": [{"role": "user", "content": f"What is {i} squared?"},
                                         {"role": "assistant", "content": f"It is {i * i}."}]}) + "\n")
PY
upload=$(curl -s -w '\n%{http_code}' -H "$AUTH" -F name=cluster-upload -F "file=@$WORK/chats.jsonl;type=application/x-ndjson" \
    "$URL/api/datasets")
[ "$(tail -1 <<<"$upload")" = 201 ] || fail "upload: $upload"
DATASET=$(head -1 <<<"$upload" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
TAKER=$(served_by '"POST /api/datasets HTTP')
[ "$TAKER" = "$(host_field 1 1)" ] && { KILLED=1 SURVIVOR=2; } || { KILLED=2 SURVIVOR=1; }
[ "$TAKER" = "$(host_field $KILLED 1)" ] || fail "no host at $TAKER"
log "  dataset $DATASET taken by host $KILLED ($TAKER)"

# The load's clients: one user each, at least two whose requests nginx routes to each host (session
# tokens are routed by the same hash as keys, and are not rate-limited). The first is the banner's user.
CLIENT_TOKENS=("$TOKEN")
declare -A owned=([$TAKER]=1) # the upload was the banner user's
for _ in $(seq 1 30); do
    [ "${owned[$(host_field 1 1)]:-0}" -ge 2 ] && [ "${owned[$(host_field 2 1)]:-0}" -ge 2 ] && break
    token=$("$FTAPI_BIN" token --user "$(python3 -c 'import uuid; print(uuid.uuid4())')" --ttl 3600)
    owner=$(owner_of "$token")
    [ -n "$owner" ] || continue # its line did not show in nginx's log in time: take another
    [ "${owned[$owner]:-0}" -ge 2 ] && continue
    owned[$owner]=$((${owned[$owner]:-0} + 1))
    CLIENT_TOKENS+=("$token")
done
[ "${#CLIENT_TOKENS[@]}" -eq 4 ] || fail "could not find two users for each host"

log "kill: host $KILLED SIGKILLed under mixed load (4 users, 2 per host: GETs, job creates, metric batches)"
# The banner's user also reads the upload that the killed host took.
start_load kill "$TOKEN=/api/datasets,/api/datasets/$DATASET" "${CLIENT_TOKENS[@]:1}"
killed_ns=$(host_field $KILLED 2)
victims=$(ip netns pids "$killed_ns")
kill -KILL $victims
log "  killed $(wc -w <<<"$victims") processes (master and workers) in $killed_ns"
sleep 5
stop_load
[ -z "$(ip netns pids "$killed_ns")" ] || fail "host $KILLED still has processes"
log "  requests nginx passed on to the other host: $(tail -n "+$((LOAD_MARK + 1))" "$ACCESS_LOG" | grep -c 'upstream=[0-9.:]*, ' || true)"
[ "$(failed_posts_elsewhere "$TAKER")" = 0 ] || fail "POSTs failed on host $SURVIVOR, which was not killed"
check_load kill "kill host $KILLED" --post-may-fail 502

log "the upload through host $SURVIVOR: listed, downloaded, deleted"
grep -q "\"$DATASET\"" <(curl -fs -H "$AUTH" "$URL/api/datasets") || fail "not listed"
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
"$RUN_DIR/host-$KILLED.sh" 2>"$WORK/restarted.log" &
HOST_PIDS+=($!)
address=$(host_field $KILLED 1)
for _ in $(seq 1 100); do (echo >"/dev/tcp/$address/9000") 2>/dev/null && break; sleep 0.1; done
(echo >"/dev/tcp/$address/9000") 2>/dev/null || fail "host $KILLED did not start again: $(cat "$WORK/restarted.log")"
wait "$SLOW_PID"
LOAD_PIDS=()
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
    if grep -q "GET /api/health.*upstream=$address:9000\$" <(tail -n "+$((seen + 1))" "$ACCESS_LOG"); then
        back=1
        break
    fi
    sleep 0.1
done
[ "$back" = 1 ] || fail "no request went to host $KILLED in 15 s"

# cut_link HOST END PHASE: cuts HOST's link under mixed load for 13 s, at the host's END (its root end
# stays up with its route, and what nginx sends there is lost without an answer, as over a cut cable:
# nginx learns of it only by its timeouts) or at the ROOT end (the route goes with it: nginx's connects
# fail at once with "No route to host", and only what was on its kept connections waits for the read
# timeout); then restores it and waits for nginx to use the host again.
cut_link() {
    local host=$1 end=$2 phase=$3 address
    address=$(host_field "$host" 1)
    if [ "$end" = host ]; then
        CUT_NS=$(host_field "$host" 2) CUT_LINK=${LINK_TAG}n$host
    else
        CUT_NS= CUT_LINK=${LINK_TAG}r$host
    fi
    log "cut: host $host's link cut at its $end end under mixed load (fastcgi_connect_timeout 2 s, fastcgi_read_timeout 10 s)"
    start_load "$phase" "${CLIENT_TOKENS[@]}"
    ip ${CUT_NS:+-n "$CUT_NS"} link set "$CUT_LINK" down
    log "  $CUT_LINK down"
    # Long enough for a request caught on the link to reach the read timeout and for nginx to mark the host down.
    # (In the background: a signal's trap runs at once during `wait`, not after a sleep.)
    sleep 13 &
    wait $!
    ip ${CUT_NS:+-n "$CUT_NS"} link set "$CUT_LINK" up
    log "  $CUT_LINK up again; waiting for nginx to use host $host (fail_timeout 10 s)"
    uses_again "$address" 40 || fail "nginx did not send a request to host $host within 40 s of its link coming back"
    log "  nginx used host $host again"
    CUT_LINK=
    sleep 1
    stop_load
    [ "$(failed_posts_elsewhere "$address")" = 0 ] || fail "POSTs failed on the host whose link was not cut"
    # Every GET is answered within nginx's fastcgi_next_upstream_timeout (15 s): a read timeout (10 s) and the next try.
    check_load "$phase" "cut host $host's link at its $end end" --post-may-fail 502,504 --gets-within 15
}
cut_link "$SURVIVOR" host cut
cut_link "$KILLED" root cut-root

if [ -z "$PG_RESTART" ]; then
    log "SKIPPED the PostgreSQL restart: the cluster runs on a DATABASE_URL given to it"
else
    log "PostgreSQL restarted under mixed load"
    before_1=$(workers_and_restarts 1) && before_2=$(workers_and_restarts 2)
    start_load pg "${CLIENT_TOKENS[@]}"
    restart_began=$(date +%s.%N)
    # In a session of its own: the restarted server belongs to no process group of this script.
    setsid -w $PG_RESTART -w -t 30 >"$WORK/pg_ctl.log" 2>&1 || fail "pg_ctl restart: $(cat "$WORK/pg_ctl.log")"
    restart_ended=$(date +%s.%N)
    log "  PostgreSQL restarted in $(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$restart_began" "$restart_ended") s"
    sleep 4
    stop_load
    # The pools reconnect at their next request: 503s end within moments of the server being back (3 s allowed).
    check_load pg "restart PostgreSQL" --get-may-fail 503 --post-may-fail 503 --failures-within "$restart_began" \
        "$(python3 -c "import sys; print(float(sys.argv[1]) + 3)" "$restart_ended")"
    after_1=$(workers_and_restarts 1) && after_2=$(workers_and_restarts 2)
    log "  host 1: $after_1; host 2: $after_2"
    [ "$before_1" = "$after_1" ] && [ "$before_2" = "$after_2" ] ||
        fail "workers restarted: host 1 $before_1 → $after_1, host 2 $before_2 → $after_2"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$URL/api/training/stats")" = 200 ] || fail "not serving after the restart"
fi
log "a given DATABASE_URL: one more host, in a cluster of its own, on the same PostgreSQL through its unix socket"
# The hosts' URL names the server by the first cluster's root end, which this cluster's namespaces can't
# reach; its socket they can (a network namespace shares the filesystem).
HOSTS_DATABASE_URL=$(bash -c ". <(grep '^export DATABASE_URL' '$RUN_DIR/host-1.sh'); echo \"\$DATABASE_URL\"")
pg_password=$(sed 's|^[^:]*://[^:]*:\([^@]*\)@.*|\1|' <<<"$HOSTS_DATABASE_URL")
pg_port=$(sed 's|.*@[^:/]*:\([0-9]*\)/.*|\1|' <<<"$HOSTS_DATABASE_URL")
SECOND_PORT=$(free_port)
DATABASE_URL="postgresql://ftapi:$pg_password@/ftapi?host=$RUN_DIR/postgres&port=$pg_port" CLUSTER_NET=$(free_net) HOSTS=1 \
    HTTP_PORT=$SECOND_PORT DATA_DIR=$WORK/data2 FTAPI_WORKERS=1 FTAPI_THREADS=4 "$REPO/deploy/cluster/run.sh" \
    >"$WORK/second.banner" 2>"$WORK/second.log" &
SECOND_PID=$!
for _ in $(seq 1 600); do
    grep -q '^Ctrl-C stops' "$WORK/second.banner" 2>/dev/null && break
    kill -0 "$SECOND_PID" 2>/dev/null || fail "run.sh with a DATABASE_URL stopped: $(tail -5 "$WORK/second.log")"
    sleep 0.1
done
grep -q "store: PostgreSQL postgresql://…@/ftapi?host=$RUN_DIR/postgres" "$WORK/second.banner" || fail "unexpected banner: $(cat "$WORK/second.banner")"
grep -q 'PostgreSQL [0-9.]* on ' "$WORK/second.log" && fail "run.sh started a throwaway PostgreSQL although DATABASE_URL was given"
# The first cluster's jobs, through the second cluster's host.
jobs=$(curl -s -H "$AUTH" "http://127.0.0.1:$SECOND_PORT/api/training/jobs?limit=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
log "  its host serves the first cluster's $jobs jobs of that user"
[ "$jobs" -gt 0 ] || fail "the cluster on the given DATABASE_URL does not see the jobs"
kill -TERM "$SECOND_PID"
wait "$SECOND_PID" || true
SECOND_PID=
log "cluster test passed"
