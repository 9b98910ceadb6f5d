#!/usr/bin/env bash
# Runs schemathesis (every check) against the OpenAPI document the real pool
# serves through the real nginx, twice: once with a session token, once with
# an API key of scope `all` whose rate limit this run sets high enough never
# to be met. Any failure fails the script. Everything it starts (fake Hub,
# pool, nginx) is stopped and its directory removed on every exit.
#
#   deploy/schemathesis.sh                 # FTAPI_BIN, else the debug build
#   ST_MAX_EXAMPLES=200 ST_SEED=7 deploy/schemathesis.sh   # more examples (default 50), another seed (default 1)
#
# The models search reaches Tests/FakeHub/fake_hub.py instead of the Hub (no
# network here; an unreachable Hub is a 502, which is a server error to
# schemathesis). The session run goes first and creates the API key of the
# second run only after it, so no DELETE /api/user/api-keys/{id} of the first
# run can revoke it; with the key, the key routes are 403 (session only).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-50}
FTAPI=${FTAPI_BIN:-$REPO/.build/debug/ftapi}
[ -x "$FTAPI" ] || die "no ftapi binary at $FTAPI (swift build first, or set FTAPI_BIN)"
if [ "$(st --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
    python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION" ||
        python3 -m pip install -q --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION"
fi

RUN_DIR=$(mktemp -d /tmp/ftapi-st.XXXXXX)
chmod 755 "$RUN_DIR"
POOL_PID= NGINX_PID= HUB_PID=
stop() {
    set +e # a process that is already gone must not cut the clean-up short
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    [ -n "$POOL_PID" ] && kill -TERM "$POOL_PID" 2>/dev/null && wait "$POOL_PID" 2>/dev/null
    [ -n "$HUB_PID" ] && kill -KILL "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
    if [ -n "${KEEP_ST_DIR:-}" ]; then log "kept $RUN_DIR"; else rm -rf "$RUN_DIR"; fi
}
trap stop EXIT

export DATA_DIR=$RUN_DIR/data
share_data_dir "$DATA_DIR"
export JWT_SECRET
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export RATE_LIMIT_REQUESTS=100000000 RATE_LIMIT_WINDOW_SECONDS=60 FTAPI_HF_TIMEOUT_SECONDS=5
unset DATABASE_URL DATABASE_SCHEMA

SLOW_SECONDS=0 python3 "$REPO/Tests/FakeHub/fake_hub.py" >"$RUN_DIR/hub.port" 2>"$RUN_DIR/hub.log" &
HUB_PID=$!
for _ in $(seq 1 100); do [ -s "$RUN_DIR/hub.port" ] && break; sleep 0.1; done
export HF_ENDPOINT="http://127.0.0.1:$(head -1 "$RUN_DIR/hub.port")"

PORT=$(free_port)
SOCKET=$RUN_DIR/ftapi.sock
render_nginx "$RUN_DIR/nginx" "127.0.0.1:$PORT" "$SOCKET" "$DATA_DIR"
owner_args=()
[ "$(id -u)" -eq 0 ] && owner_args=(--socket-owner ":$(nginx_user)")
"$FTAPI" serve --listen "unix:$SOCKET" --workers 2 --threads 4 "${owner_args[@]}" 2>"$RUN_DIR/pool.log" &
POOL_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
[ -S "$SOCKET" ] || { cat "$RUN_DIR/pool.log" >&2; die "the pool did not create $SOCKET"; }
nginx -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -fsS "$BASE/api/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$BASE/api/health" >/dev/null || die "nginx and the pool did not answer $BASE/api/health"

USER_ID=00000000-0000-4000-8000-0000000000aa
# schemathesis LABEL HEADER [ARGUMENTS...]: one run, every check, a bounded number of examples per
# operation. One worker: Python 3.11's parser is not thread-safe, and hypothesis parses sources
# when it describes a strategy ("AST constructor recursion depth mismatch" with two).
schemathesis() {
    local label=$1 header=$2
    shift 2
    log "schemathesis ($label): every check, at most $MAX_EXAMPLES examples per operation"
    # From RUN_DIR: schemathesis leaves a .schemathesis directory where it runs.
    (cd "$RUN_DIR" && st --no-color --config-file "$REPO/deploy/schemathesis.toml" run "$BASE/api/openapi.json" --checks all \
        --max-examples "$MAX_EXAMPLES" --seed "${ST_SEED:-1}" --workers 1 --request-timeout 10 --generation-database none \
        --header "$header" "$@")
}
TOKEN=$("$FTAPI" token --user "$USER_ID" --ttl 3600)
schemathesis session "Authorization: Bearer $TOKEN"
KEY=$("$FTAPI" keys create --user "$USER_ID" --name "schemathesis-$(date +%s)" --scopes all)
# The key routes take a session token only; with a key they answer 403 INSUFFICIENT_SCOPE (the session run covers them).
schemathesis api-key "X-API-Key: $KEY" --exclude-tag api-keys
