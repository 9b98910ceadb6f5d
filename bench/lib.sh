# Shared by the bench scripts: build the release binary, and run the pool
# behind a private nginx for the length of the script.
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

# bench_build: builds ftapi (release) and sets FTAPI to its path.
bench_build() {
    log "building (release)"
    swift build -c release --package-path "$REPO" --product ftapi >&2
    FTAPI=$(swift build -c release --package-path "$REPO" --show-bin-path)/ftapi
}

# bench_run_dir NAME: a fresh run directory in RUN (removed on exit), DATA_DIR inside it.
bench_run_dir() {
    RUN=$(mktemp -d "/tmp/ftapi-$1-bench.XXXXXX")
    chmod 755 "$RUN"  # nginx's workers must reach the socket
    export DATA_DIR=$RUN/data
    POOL=
    NGINX=
    trap 'set +e; [ -n "$NGINX" ] && kill -QUIT $NGINX; [ -n "$POOL" ] && kill -TERM $POOL; wait; rm -rf "$RUN"' EXIT
}

# bench_start_pool PORT WORKERS THREADS [KEEPALIVE]: the pool (rate limit and
# access log off) on RUN/ftapi.sock and nginx on 127.0.0.1:PORT; sets POOL and NGINX.
bench_start_pool() {
    local port=$1 workers=$2 threads=$3 keepalive=${4:-} owner=()
    render_nginx "$RUN/nginx" "127.0.0.1:$port" "$RUN/ftapi.sock"
    [ -n "$keepalive" ] && sed -i "s/keepalive 16;/keepalive $keepalive;/" "$RUN/nginx/ftapi-site.conf"
    [ "$(id -u)" -eq 0 ] && owner=(--socket-owner ":$(nginx_user)")
    "$FTAPI" serve --listen "unix:$RUN/ftapi.sock" --workers "$workers" --threads "$threads" \
        --rate-limit 0 --no-access-log "${owner[@]}" 2>"$RUN/ftapi.log" &
    POOL=$!
    for _ in $(seq 1 100); do [ -S "$RUN/ftapi.sock" ] && break; sleep 0.1; done
    nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;' &
    NGINX=$!
    sleep 0.5
}
