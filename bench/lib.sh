# Shared by the bench scripts: build the release binary, and run the pool
# behind a private nginx for the length of the script.
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

# bench_build: builds ftapi (release) and sets FTAPI to its path; FTAPI_BIN names another build instead.
bench_build() {
    if [ -n "${FTAPI_BIN:-}" ]; then
        FTAPI=$FTAPI_BIN
        return
    fi
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
    trap 'set +e; [ -n "$NGINX" ] && kill -QUIT $NGINX; [ -n "$POOL" ] && kill -TERM $POOL; wait; stop_throwaway_postgres; rm -rf "$RUN"' EXIT
}

# bench_start_pool PORT WORKERS THREADS [KEEPALIVE]: the pool (rate limit and
# access log off) on RUN/ftapi.sock and nginx on 127.0.0.1:PORT; sets POOL and NGINX.
bench_start_pool() {
    local port=$1 workers=$2 threads=$3 keepalive=${4:-} owner=()
    share_data_dir "$DATA_DIR"
    render_nginx "$RUN/nginx" "127.0.0.1:$port" "$RUN/ftapi.sock" "$DATA_DIR"
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

# The backends a benchmark runs on, in one invocation: BENCH_BACKENDS
# (default "sqlite postgres"). PostgreSQL is BENCH_DATABASE_URL when given,
# else a throwaway server started once for the script (deploy/lib.sh).
BENCH_BACKENDS=${BENCH_BACKENDS:-sqlite postgres}

# bench_use_backend NAME: points the next ftapi commands at NAME. For postgres,
# a fresh schema per call (DATABASE_SCHEMA), so runs never see each other's rows.
bench_use_backend() {
    case $1 in
    sqlite)
        unset DATABASE_URL DATABASE_SCHEMA
        ;;
    postgres)
        if [ -z "${BENCH_PG_URL:-}" ]; then
            if [ -n "${BENCH_DATABASE_URL:-}" ]; then
                BENCH_PG_URL=$BENCH_DATABASE_URL
            else
                ensure_packages postgresql
                start_throwaway_postgres "$RUN/postgres"
                BENCH_PG_URL=$DATABASE_URL
            fi
        fi
        export DATABASE_URL=$BENCH_PG_URL
        export DATABASE_SCHEMA=bench_$(date +%s%N | tail -c 10)
        ;;
    *) die "unknown backend $1 (sqlite or postgres)" ;;
    esac
}

# bench_stop_pool: stops nginx and the pool started by bench_start_pool.
bench_stop_pool() {
    [ -n "$NGINX" ] && kill -QUIT "$NGINX" 2>/dev/null && wait "$NGINX" 2>/dev/null
    [ -n "$POOL" ] && kill -TERM "$POOL" 2>/dev/null && wait "$POOL" 2>/dev/null
    NGINX=
    POOL=
    rm -f "$RUN/ftapi.sock"
    return 0
}

# bench_report_pool: each worker's peak RSS and, on PostgreSQL, the connections the pool holds.
bench_report_pool() {
    local pid
    for pid in $(pgrep -P "$POOL"); do
        printf '  worker %s: RssAnon %s, VmRSS %s, VmHWM %s\n' "$pid" "$(awk '/^RssAnon/ {print $2" "$3}' /proc/"$pid"/status)" \
            "$(awk '/^VmRSS/ {print $2" "$3}' /proc/"$pid"/status)" "$(awk '/^VmHWM/ {print $2" "$3}' /proc/"$pid"/status)"
    done
    if [[ "${DATABASE_URL:-}" == postgres* ]]; then
        printf '  PostgreSQL connections held by the pool: %s\n' \
            "$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")"
    fi
}

# bench_postgres_pid: the postmaster's pid of the throwaway PostgreSQL (its processes are its
# children), or nothing when the server is BENCH_DATABASE_URL's (not ours to read in /proc).
bench_postgres_pid() {
    [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/pgdata/postmaster.pid" ] && head -1 "$PG_DIR/pgdata/postmaster.pid"
    return 0
}
