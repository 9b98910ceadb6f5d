#!/usr/bin/env bash
# Dashboard benchmark: seeds one user with 10,000 jobs over the last 30 days
# (plus 90,000 jobs of 999 other users and datasets for all), starts the pool
# behind nginx, and measures GET /api/analytics/dashboard through nginx: p50/p99
# for the default range and a 366-day one, from 1 and 4 clients. Env:
# BENCH_USER_JOBS (10000), BENCH_OTHER_JOBS (90000), BENCH_READ_SECONDS (10),
# FTAPI_WORKERS (2), FTAPI_THREADS (16).
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"

ensure_packages
log "building (release)"
swift build -c release --package-path "$REPO" --product ftapi >&2
FTAPI=$(swift build -c release --package-path "$REPO" --show-bin-path)/ftapi
RUN=$(mktemp -d /tmp/ftapi-dashboard-bench.XXXXXX)
chmod 755 "$RUN"
export DATA_DIR=$RUN/data
PORT=${BENCH_PORT:-8098}
USER_ID=$(cat /proc/sys/kernel/random/uuid)
"$FTAPI" migrate >&2
log "seeding"
python3 "$(dirname "$0")/dashboard.py" seed "$DATA_DIR/ftapi.db" "$USER_ID"
render_nginx "$RUN/nginx" "127.0.0.1:$PORT" "$RUN/ftapi.sock"
owner=()
[ "$(id -u)" -eq 0 ] && owner=(--socket-owner ":$(nginx_user)")
"$FTAPI" serve --listen "unix:$RUN/ftapi.sock" --workers "${FTAPI_WORKERS:-2}" --threads "${FTAPI_THREADS:-16}" \
    --rate-limit 0 --no-access-log "${owner[@]}" 2>"$RUN/ftapi.log" &
POOL=$!
NGINX=
trap 'set +e; [ -n "$NGINX" ] && kill -QUIT $NGINX; kill -TERM $POOL; wait; rm -rf "$RUN"' EXIT
for _ in $(seq 1 100); do [ -S "$RUN/ftapi.sock" ] && break; sleep 0.1; done
nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;' &
NGINX=$!
sleep 0.5
KEY=$("$FTAPI" keys create --user "$USER_ID" --name bench --scopes analytics)
BENCH_PORT=$PORT BENCH_KEY=$KEY python3 "$(dirname "$0")/dashboard.py" load
