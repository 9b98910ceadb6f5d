#!/usr/bin/env bash
# Training benchmark: metrics ingest through nginx (JOBS jobs × POINTS points
# in batches of 100 from 100 concurrent jobs), then metrics polling and the
# aggregate for that user. Env: BENCH_TRAINING_JOBS (1000), BENCH_POINTS_PER_JOB
# (1000), BENCH_CONCURRENCY (100), FTAPI_WORKERS (2), FTAPI_THREADS (64).
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"

ensure_packages
log "building (release)"
swift build -c release --package-path "$REPO" --product ftapi >&2
FTAPI=$(swift build -c release --package-path "$REPO" --show-bin-path)/ftapi
RUN=$(mktemp -d /tmp/ftapi-training-bench.XXXXXX)
chmod 755 "$RUN"
export DATA_DIR=$RUN/data
PORT=${BENCH_PORT:-8097}
render_nginx "$RUN/nginx" "127.0.0.1:$PORT" "$RUN/ftapi.sock"
owner=()
[ "$(id -u)" -eq 0 ] && owner=(--socket-owner ":$(nginx_user)")
# 100 concurrent clients: enough threads that kept connections never starve.
"$FTAPI" serve --listen "unix:$RUN/ftapi.sock" --workers "${FTAPI_WORKERS:-2}" --threads "${FTAPI_THREADS:-64}" \
    --rate-limit 0 --no-access-log "${owner[@]}" 2>"$RUN/ftapi.log" &
POOL=$!
NGINX=
trap 'set +e; [ -n "$NGINX" ] && kill -QUIT $NGINX; kill -TERM $POOL; wait; rm -rf "$RUN"' EXIT
for _ in $(seq 1 100); do [ -S "$RUN/ftapi.sock" ] && break; sleep 0.1; done
sed -i 's/keepalive 16;/keepalive 64;/' "$RUN/nginx/ftapi-site.conf"
nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;' &
NGINX=$!
sleep 0.5
KEY=$("$FTAPI" keys create --user "$(cat /proc/sys/kernel/random/uuid)" --name bench --scopes training)
BENCH_PORT=$PORT BENCH_KEY=$KEY python3 "$(dirname "$0")/training.py"
for pid in $(pgrep -P "$POOL"); do
    printf '  worker %s: VmHWM %s\n' "$pid" "$(awk '/^VmHWM/ {print $2" "$3}' /proc/"$pid"/status)"
done
