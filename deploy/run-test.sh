#!/usr/bin/env bash
# deploy/run.sh as a new user meets it: with its port taken by another program
# it must end within seconds, non-zero, with one line naming the port and
# HTTP_PORT, and leave nothing running; once serving, nginx or the pool's
# master dying must end it non-zero with a line naming which one, the other
# stopped too. Run by deploy/test.sh with FTAPI_BIN set (no release build).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -n "${FTAPI_BIN:-}" ] || die "FTAPI_BIN must name a built ftapi"
WORK=$(mktemp -d /tmp/ftapi-run-test.XXXXXX)
chmod 755 "$WORK" # nginx's user passes through it to the runs' DATA_DIRs
HOLDER=
cleanup() {
    [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
    rm -rf "$WORK"
    return 0
}
trap cleanup EXIT
passed=0
failed=0
check() { # check DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        log "FAILED: $what"
    fi
}
# What is still running from a run directory of deploy/run.sh (its pool and nginx name it on their command lines).
left_behind() { pgrep -f "$1" || true; }
run_dirs() { { compgen -G '/tmp/ftapi-run.*' || true; } | wc -l; }
runs_before=$(run_dirs)

log "deploy/run.sh with its port taken by another program"
port=$(free_port)
python3 -c 'import socket, sys, time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(120)' "$port" &
HOLDER=$!
sleep 0.5
started=$(date +%s)
status=0
HTTP_PORT=$port DATA_DIR=$WORK/data timeout 60 "$REPO/deploy/run.sh" >"$WORK/taken.out" 2>"$WORK/taken.err" || status=$?
elapsed=$(($(date +%s) - started))
check "a taken port ends the run non-zero (status $status)" [ "$status" -ne 0 -a "$status" -ne 124 ]
check "a taken port ends the run within seconds ($elapsed s)" [ "$elapsed" -le 10 ]
check "one line names the port and HTTP_PORT: $(tail -1 "$WORK/taken.err")" \
    grep -q "error: port $port on 127.0.0.1 is taken by another program: choose a free one with HTTP_PORT=" "$WORK/taken.err"
check "no banner with a taken port" bash -c "! grep -q 'is listening' '$WORK/taken.out'"
check "no run directory left behind" [ "$(run_dirs)" -eq "$runs_before" ]
kill "$HOLDER" 2>/dev/null || true
HOLDER=

# start_run NAME [DATA_DIR]: deploy/run.sh in the background on a free port, until its banner; sets RUN_PID,
# RUN_DIR_OF, POOL_OF, PORT_OF and KEY_OF (the banner's API key).
start_run() {
    local name=$1
    PORT_OF=$(free_port)
    HTTP_PORT=$PORT_OF DATA_DIR=${2:-$WORK/data} "$REPO/deploy/run.sh" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    RUN_PID=$!
    for _ in $(seq 1 300); do grep -q "is listening" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
    grep -q "is listening" "$WORK/$name.out" ||
        die "deploy/run.sh did not print its banner; its own lines: $(grep -v '^{' "$WORK/$name.err" | tail -5 | tr '\n' ' ')"
    POOL_OF=$(grep -o 'kill -HUP [0-9]*' "$WORK/$name.out" | awk '{print $3}')
    KEY_OF=$(sed -n 's/^ *API key (user [^)]*): *//p' "$WORK/$name.out")
    RUN_DIR_OF=$(grep -o 'unix:/tmp/ftapi-run\.[A-Za-z0-9]*' "$WORK/$name.out" | head -1)
    RUN_DIR_OF=${RUN_DIR_OF#unix:}
}

# ends_naming NAME LINE: deploy/run.sh ends within 20 s, non-zero, with LINE, and leaves nothing of its run.
ends_naming() {
    local name=$1 line=$2 status=0
    for _ in $(seq 1 200); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$RUN_PID" 2>/dev/null; then
        check "deploy/run.sh ends once $name is gone" false
        kill -TERM "$RUN_PID"
    fi
    wait "$RUN_PID" || status=$?
    check "deploy/run.sh ends non-zero once $name is gone (status $status)" [ "$status" -ne 0 ]
    check "a line names the dead part: $line" grep -q "error: $line" "$WORK/$name.err"
    # The pool's workers notice their master's death within 0.1 s, and drain (nginx's kept connections closing).
    for _ in $(seq 1 100); do [ -z "$(left_behind "$RUN_DIR_OF")" ] && break; sleep 0.1; done
    check "nothing of the run is left: $(left_behind "$RUN_DIR_OF" | tr '\n' ' ')" [ -z "$(left_behind "$RUN_DIR_OF")" ]
}

log "nginx killed under a running deploy/run.sh"
start_run nginx-killed
kill -KILL "$(cat "$RUN_DIR_OF/nginx.pid")"
ends_naming nginx-killed "nginx exited; stopping the pool"

log "the pool's master killed under a running deploy/run.sh"
start_run pool-killed
kill -KILL "$POOL_OF"
ends_naming pool-killed "the pool's master exited; stopping nginx"

if [ "$(id -u)" -eq 0 ]; then
    log "deploy/run.sh with a DATA_DIR that nginx's user cannot reach"
    mkdir -m 0700 "$WORK/closed"
    status=0
    HTTP_PORT=$(free_port) DATA_DIR=$WORK/closed/data timeout 60 "$REPO/deploy/run.sh" >"$WORK/closed.out" 2>"$WORK/closed.err" || status=$?
    check "a DATA_DIR nginx cannot reach ends the run non-zero (status $status)" [ "$status" -ne 0 -a "$status" -ne 124 ]
    check "one line names the directory and the fix: $(tail -1 "$WORK/closed.err")" \
        grep -q "error: nginx's user $(nginx_user) cannot reach DATA_DIR $WORK/closed/data (a directory above it is closed to it): .*chmod o+x" \
        "$WORK/closed.err"

    log "the internal dataset location's errors are JSON: a dataset's directory closed to nginx after the start"
    mkdir -m 0755 "$WORK/open"
    start_run json-errors "$WORK/open/data"
    printf '%s\n' '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}' >"$WORK/one.jsonl"
    id=$(curl -sS -H "X-API-Key: $KEY_OF" -F "file=@$WORK/one.jsonl" -F name=one -F format=chatml \
        "http://127.0.0.1:$PORT_OF/api/datasets" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
    content() { curl -sS -o "$WORK/content" -w '%{http_code} %{content_type}' -H "X-API-Key: $KEY_OF" "http://127.0.0.1:$PORT_OF/api/datasets/$id/content"; }
    check "the dataset downloads while nginx reaches it ($(content))" [ "$(content)" = "200 application/x-ndjson" ]
    chmod 0700 "$WORK/open"
    answer=$(content)
    check "nginx's 403 is the product's JSON ($answer: $(cat "$WORK/content"))" [ "$answer" = "403 application/json" ]
    check "the 403 names its cause" grep -q '"code":"DATASET_FILE_UNREADABLE"' "$WORK/content"
    chmod 0755 "$WORK/open"
    kill -TERM "$RUN_PID"
    wait "$RUN_PID" || true
else
    log "skipped: a DATA_DIR closed to nginx's user (needs root, whose nginx runs as www-data)"
fi

echo "deploy/run.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
