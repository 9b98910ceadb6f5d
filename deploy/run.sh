#!/usr/bin/env bash
# Sets up and runs the product: nginx on 127.0.0.1:${HTTP_PORT:-8080} in front
# of the FastCGI worker pool, in the foreground. Ctrl-C stops both.
#
# The store is SQLite under DATA_DIR by default; DATABASE_URL=postgres://…
# uses that PostgreSQL, and `deploy/run.sh --postgres` starts a throwaway
# local PostgreSQL for this run (removed on exit).
#
# The banner is printed only once GET /api/health answered 200 through nginx
# with the product's own health body; a port taken by another program, an
# nginx or a pool that does not start, ends the script non-zero with one line
# that says why. While it runs, nginx or the pool exiting stops the other and
# ends the script non-zero with a line naming which one died.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

WITH_POSTGRES=0
for argument in "$@"; do
    case $argument in
    --postgres) WITH_POSTGRES=1 ;;
    *) die "unknown argument $argument (deploy/run.sh [--postgres])" ;;
    esac
done

HTTP_PORT=${HTTP_PORT:-8080}
case $HTTP_PORT in '' | *[!0-9]*) die "HTTP_PORT must be a port number, not $HTTP_PORT" ;; esac
export DATA_DIR=${DATA_DIR:-$REPO/data}
DEMO_USER=${DEMO_USER:-00000000-0000-4000-8000-000000000001}
ensure_jwt_secret

extra_packages=(curl python3)
[ "$WITH_POSTGRES" = 1 ] && extra_packages+=(postgresql)
ensure_packages "${extra_packages[@]}"
# Before the build, which may take minutes: a taken port ends the run at once.
refuse_taken_port "$HTTP_PORT"
build_ftapi

share_data_dir "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
refuse_unreachable_data_dir "$DATA_DIR"
RUN_DIR=$(mktemp -d /tmp/ftapi-run.XXXXXX)
chmod 755 "$RUN_DIR"
if [ "$WITH_POSTGRES" = 1 ]; then
    trap 'stop_throwaway_postgres; rm -rf "$RUN_DIR"' EXIT
    start_throwaway_postgres "$RUN_DIR/postgres"
fi
"$FTAPI" migrate >&2
SOCKET=$RUN_DIR/ftapi.sock
render_nginx "$RUN_DIR" "127.0.0.1:$HTTP_PORT" "$SOCKET" "$DATA_DIR"

owner_args=()
[ "$(id -u)" -eq 0 ] && owner_args=(--socket-owner ":$(nginx_user)")
# The master's status listener (/status, /metrics): in the run directory unless the environment names one.
export FTAPI_STATUS_LISTEN=${FTAPI_STATUS_LISTEN:-unix:$RUN_DIR/status.sock}
"$FTAPI" serve --listen "unix:$SOCKET" "${owner_args[@]}" &
POOL_PID=$!
NGINX_PID=
# stop STATUS: stops what this script started and exits with STATUS (0 after Ctrl-C, else what ended it).
stop() {
    local status=$1
    trap - INT TERM EXIT
    set +e  # a process that is already gone must not cut the clean-up short
    log "stopping"
    stop_nginx
    kill -TERM "$POOL_PID" 2>/dev/null
    wait "$POOL_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && wait "$NGINX_PID" 2>/dev/null
    stop_throwaway_postgres
    rm -rf "$RUN_DIR"
    exit "$status"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

for _ in $(seq 1 100); do [ -S "$SOCKET" ] && break; kill -0 "$POOL_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$POOL_PID" 2>/dev/null || die "the pool exited while starting (its log is above)"
[ -S "$SOCKET" ] || die "the pool did not create $SOCKET within 10 s"
start_nginx "$RUN_DIR"
await_health "$HTTP_PORT" "$RUN_DIR" "$POOL_PID"

demo_credentials "$DEMO_USER"
cat <<MSG

ftapi is listening on http://127.0.0.1:$HTTP_PORT/api/  (store: $STORE, files in $DATA_DIR)

  API key (user $DEMO_USER):  $KEY
  session token (24 h):        $TOKEN

  curl -H "X-API-Key: $KEY" http://127.0.0.1:$HTTP_PORT/api/training/stats
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$HTTP_PORT/api/user/api-keys

  pool status and metrics (the master, not through nginx): $FTAPI_STATUS_LISTEN
    $(status_curl "$FTAPI_STATUS_LISTEN")/status
  reload without a gap: kill -HUP $POOL_PID

Ctrl-C stops nginx and the pool.
MSG
# Until Ctrl-C, or until one of the two exits: then the other is stopped too, and the script fails.
while true; do
    wait -n "$POOL_PID" "$NGINX_PID" || true
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited; stopping the pool"
    kill -0 "$POOL_PID" 2>/dev/null || die "the pool's master exited; stopping nginx"
done
