# Shared by run.sh and test.sh: installing what the product needs, building,
# and rendering an nginx configuration from nginx.conf.example.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APT_PACKAGES=(libfcgi-dev libsqlite3-dev libcurl4-openssl-dev libpq-dev nginx pkg-config tzdata)

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs the Debian packages that are missing (apt-get update only when needed).
ensure_packages() {
    local missing=() package
    for package in "${APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The user nginx's workers run as: www-data when we are root (so they can
# reach a 0660 socket owned by :www-data), else ourselves.
nginx_user() {
    if [ "$(id -u)" -eq 0 ]; then echo www-data; else id -un; fi
}

# build_ftapi: sets FTAPI to the ftapi executable: FTAPI_BIN when given (a
# build the caller already made, e.g. the tests' debug one), else a release build.
build_ftapi() {
    if [ -n "${FTAPI_BIN:-}" ]; then
        [ -x "$FTAPI_BIN" ] || die "FTAPI_BIN=$FTAPI_BIN is not executable"
        FTAPI=$FTAPI_BIN
        return 0
    fi
    command -v swift >/dev/null || die "swift is not on PATH"
    log "building (release)"
    swift build -c release --package-path "$REPO" --product ftapi >&2
    FTAPI=$(swift build -c release --package-path "$REPO" --show-bin-path)/ftapi
}

# ensure_jwt_secret: exports JWT_SECRET, generating one for this run when unset.
ensure_jwt_secret() {
    if [ -z "${JWT_SECRET:-}" ]; then
        JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        log "JWT_SECRET was not set; generated one for this run: $JWT_SECRET"
    fi
    export JWT_SECRET
}

# demo_credentials USER: sets KEY (a new API key with every scope) and TOKEN (a
# 24 h session token) for USER, and STORE (the store, password left out), for the banner.
demo_credentials() {
    KEY=$("$FTAPI" keys create --user "$1" --name "demo-$(date +%s)-$$" --scopes all)
    TOKEN=$("$FTAPI" token --user "$1" --ttl 86400)
    STORE="SQLite in $DATA_DIR"
    [ -n "${DATABASE_URL:-}" ] && STORE="PostgreSQL ${DATABASE_URL%%://*}://…@${DATABASE_URL#*@}"
    return 0
}

# The curl command line that reaches a status listener given as unix:PATH or HOST:PORT.
status_curl() {
    case $1 in
    unix:*) echo "curl --unix-socket ${1#unix:} http://localhost" ;;
    *) echo "curl http://$1" ;;
    esac
}

# share_data_dir DATA_DIR: creates the pool's data directory so that nginx
# can send stored datasets and nothing else: as root, DATA_DIR belongs to
# nginx's group with mode 2710 (the group may only pass through), and the
# datasets/ directory (0710) and files (0640) the pool creates inherit that
# group through the setgid bit. Files stored before keep their group: an
# existing datasets/ directory is given to the group too.
share_data_dir() {
    local dir=$1 group
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] || return 0
    group=$(id -gn "$(nginx_user)")
    chgrp "$group" "$dir"
    chmod 2710 "$dir"
    if [ -d "$dir/datasets" ]; then
        find "$dir/datasets" -maxdepth 1 -type f -name '*.jsonl' -exec chgrp "$group" {} + -exec chmod 0640 {} +
        chgrp "$group" "$dir/datasets"
        chmod 2710 "$dir/datasets"
    fi
}

# refuse_unreachable_data_dir DATA_DIR: ends the script with one line when nginx's user cannot pass through
# DATA_DIR (a directory above it closed to it: a 0700 home, /root/…), since every dataset download would then
# be nginx's 403.
refuse_unreachable_data_dir() {
    local dir=$1 user
    [ "$(id -u)" -eq 0 ] || return 0 # nginx runs as ourselves
    user=$(nginx_user)
    runuser -u "$user" -- test -x "$dir" && return 0
    die "nginx's user $user cannot reach DATA_DIR $dir (a directory above it is closed to it): choose a DATA_DIR it can pass through, or let it pass with chmod o+x on each directory above"
}

# render_nginx RUN_DIR LISTEN UPSTREAM DATA_DIR [TEMPLATE]: writes RUN_DIR/nginx.conf, a
# whole configuration for a private nginx (`nginx -p RUN_DIR -c
# RUN_DIR/nginx.conf`) around the server block of TEMPLATE (nginx.conf.example
# by default; deploy/cluster/nginx.conf.example for several hosts), whose
# internal dataset location points into DATA_DIR (an absolute path).
# UPSTREAM is the pool's socket path, or a space-separated list of pool
# addresses (unix:PATH or HOST:PORT): the template's `server` lines in
# `upstream ftapi_pool` are replaced by one line per address, each with the
# parameters (max_fails=…) of the template's first server line.
# (The example's last server, the status listener's internal proxy, is left out: the run prints the
# listener itself.)
render_nginx() {
    local run_dir=$1 listen=$2 upstream=$3 data_dir=$4 template=${5:-$REPO/nginx.conf.example} user
    case $data_dir in /*) ;; *) die "render_nginx: DATA_DIR must be absolute, not $data_dir" ;; esac
    case $upstream in /*) upstream="unix:$upstream" ;; esac
    user=$(nginx_user)
    mkdir -p "$run_dir/logs" "$run_dir/tmp"
    awk -v servers="$upstream" '
        /^upstream ftapi_pool \{/ { in_upstream = 1 }
        in_upstream && /^\}/ { in_upstream = 0 }
        in_upstream && /^[[:space:]]*server[[:space:]]/ {
            if (!written) {
                indent = $0; sub(/[^[:space:]].*$/, "", indent)
                parameters = $0; sub(/^[[:space:]]*server[[:space:]]+[^[:space:];]+/, "", parameters)
                n = split(servers, list, " ")
                for (i = 1; i <= n; i++) print indent "server " list[i] parameters
                written = 1
            }
            next
        }
        { print }' "$template" |
        sed -e "s#^\(\s*\)listen 80;#\1listen $listen;#" \
            -e "s#/var/lib/ftapi/datasets/#$data_dir/datasets/#g" \
            -e "/^# The pool's status and metrics/,\$d" >"$run_dir/ftapi-site.conf"
    grep -q "^\s*server ${upstream%% *}[ ;]" "$run_dir/ftapi-site.conf" || die "render_nginx: no upstream server line in $template"
    {
        [ "$(id -u)" -eq 0 ] && echo "user $user;"
        cat <<CONF
worker_processes 1;
pid $run_dir/nginx.pid;
error_log $run_dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    # With the pool (host) that served each request, and the tries before it when nginx failed over.
    log_format ftapi '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent \$request_time upstream=\$upstream_addr';
    access_log $run_dir/logs/access.log ftapi;
    client_body_temp_path $run_dir/tmp/body;
    fastcgi_temp_path $run_dir/tmp/fastcgi;
    proxy_temp_path $run_dir/tmp/proxy;
    uwsgi_temp_path $run_dir/tmp/uwsgi;
    scgi_temp_path $run_dir/tmp/scgi;
    keepalive_requests 100000;
    include $run_dir/ftapi-site.conf;
}
CONF
    } >"$run_dir/nginx.conf"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# die_port_taken PORT: the one line for a port another program holds.
die_port_taken() {
    die "port $1 on 127.0.0.1 is taken by another program: choose a free one with HTTP_PORT=<port>"
}

# port_taken PORT: whether another program listens on 127.0.0.1:PORT (nginx would fail to bind it).
port_taken() {
    python3 - "$1" <<'PY'
import socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    listener.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

# refuse_taken_port PORT: ends the script with one line when another program listens on 127.0.0.1:PORT.
refuse_taken_port() {
    port_taken "$1" && die_port_taken "$1"
    return 0
}

# start_nginx RUN_DIR: nginx on RUN_DIR/nginx.conf (render_nginx), in the background; sets NGINX_PID. Its
# start-up errors (a port it cannot bind) go to RUN_DIR/nginx.stderr; once running it logs to RUN_DIR/logs.
# It runs in a process group of its own (setsid execs nginx in place), so that `stop_nginx` reaches its
# workers even when its master is gone.
start_nginx() {
    setsid nginx -p "$1" -c "$1/nginx.conf" -g 'daemon off;' 2>"$1/nginx.stderr" &
    NGINX_PID=$!
}

# stop_nginx: asks nginx (NGINX_PID, if started) and its workers to finish and leave.
stop_nginx() {
    [ -n "${NGINX_PID:-}" ] && kill -QUIT -- "-$NGINX_PID" 2>/dev/null
    return 0
}

# await_health PORT RUN_DIR PID...: waits until GET /api/health through nginx (NGINX_PID) on PORT answers 200
# with the product's own health body (not whatever else answers on the port). Ends the script with one line
# that says why when nginx exits first (a taken port, a configuration it refuses), a pool of PIDs exits first,
# or nothing healthy answers within 15 s.
await_health() {
    local port=$1 run_dir=$2 body pid
    shift 2
    for _ in $(seq 1 150); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            grep -q "Address already in use" "$run_dir/nginx.stderr" 2>/dev/null && die_port_taken "$port"
            die "nginx did not start: $(grep -m1 emerg "$run_dir/nginx.stderr" 2>/dev/null || echo "see $run_dir/nginx.stderr")"
        fi
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null || die "the pool (pid $pid) exited while starting (its log is above)"; done
        body=$(curl -sS --max-time 2 "http://127.0.0.1:$port/api/health" 2>/dev/null || true)
        [[ $body == *'"status":"ok"'* && $body == *'"version":'* ]] && return 0
        sleep 0.1
    done
    die "GET /api/health through nginx on port $port did not answer the product's health within 15 s"
}

# start_throwaway_postgres DIR: initdb into DIR/pgdata and start a private
# PostgreSQL for this run only: password authentication, a free port on
# 127.0.0.1 and its socket in DIR. As root the server runs as the dedicated
# user ftapi-pg. Exports DATABASE_URL (the password stays out of every
# command line: it reaches initdb through a file and clients through the URL
# in the environment). stop_throwaway_postgres stops it and removes DIR.
# With ADDRESS and NETWORK (start_throwaway_postgres DIR 10.77.0.1 10.77.0.0/24)
# it listens on ADDRESS too (which must exist already) and lets clients from
# NETWORK in with the same password: the pool hosts of deploy/cluster/run.sh.
PG_DIR=
start_throwaway_postgres() {
    PG_DIR=$1
    local extra_address=${2:-} extra_network=${3:-}
    local bin port password run_as=() listen=127.0.0.1
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$bin/initdb" ] || die "PostgreSQL's server binaries are missing (apt-get install postgresql)"
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        id ftapi-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ftapi-pg
        chown ftapi-pg "$PG_DIR"
        run_as=(runuser -u ftapi-pg --)
    fi
    password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    port=$(free_port)
    (umask 077 && printf '%s\n' "$password" >"$PG_DIR/pwfile")
    [ ${#run_as[@]} -gt 0 ] && chown ftapi-pg "$PG_DIR/pwfile"
    "${run_as[@]}" "$bin/initdb" -D "$PG_DIR/pgdata" -U ftapi --pwfile="$PG_DIR/pwfile" --auth=scram-sha-256 \
        -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$PG_DIR/pwfile"
    if [ -n "$extra_address" ]; then
        listen="$listen,$extra_address"
        printf 'host all all %s scram-sha-256\n' "$extra_network" >>"$PG_DIR/pgdata/pg_hba.conf"
    fi
    # In the configuration file, not on pg_ctl's command line: a later start or restart keeps them.
    printf '%s\n' "listen_addresses = '$listen'" "port = $port" "unix_socket_directories = '$PG_DIR'" \
        "max_connections = 200" >>"$PG_DIR/pgdata/postgresql.conf"
    "${run_as[@]}" "$bin/pg_ctl" -D "$PG_DIR/pgdata" -l "$PG_DIR/server.log" -w -t 30 start >/dev/null ||
        { cat "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
    PG_BIN=$bin
    PG_PORT=$port
    # pg_ctl for this server, as its owner (tests restart it).
    PG_CTL="${run_as[*]} $bin/pg_ctl -D $PG_DIR/pgdata -l $PG_DIR/server.log"
    PG_CTL=${PG_CTL# }
    export DATABASE_URL="postgresql://ftapi:$password@127.0.0.1:$port/postgres"
    PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U ftapi ftapi
    export DATABASE_URL="postgresql://ftapi:$password@127.0.0.1:$port/ftapi"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_DIR)"
}

stop_throwaway_postgres() {
    [ -n "$PG_DIR" ] && [ -d "$PG_DIR/pgdata" ] || return 0
    local run_as=()
    [ "$(id -u)" -eq 0 ] && run_as=(runuser -u ftapi-pg --)
    "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/pgdata" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
}

# start_throwaway_pgbouncer DIR [POOL_SIZE] [LISTEN]: a private pgbouncer (Debian's package, run
# from its binary with its own configuration in DIR, never the system service) in transaction
# pooling mode in front of the throwaway PostgreSQL of start_throwaway_postgres (its
# DATABASE_URL): the same user, password and database, on a free port on 127.0.0.1 (and LISTEN,
# a comma-separated list of further addresses, e.g. the cluster's), at most POOL_SIZE server
# connections (default 2) shared by up to 500 clients. As root it runs as ftapi-pg (pgbouncer
# refuses root). Sets PGBOUNCER_URL and PGBOUNCER_PORT; the password reaches pgbouncer through
# DIR/userlist.txt (0600) only. stop_throwaway_pgbouncer stops it and removes DIR.
PGB_DIR=
start_throwaway_pgbouncer() {
    PGB_DIR=$1
    local pool_size=${2:-2} extra_listen=${3:-} listen=127.0.0.1 port rest user password server database run_as=() tries
    [ -n "${DATABASE_URL:-}" ] || die "start_throwaway_pgbouncer: no DATABASE_URL (start_throwaway_postgres first)"
    [ -x /usr/sbin/pgbouncer ] || die "pgbouncer is missing (ensure_packages pgbouncer)"
    [ -n "$extra_listen" ] && listen="$listen,$extra_listen"
    # DATABASE_URL is postgresql://USER:PASSWORD@HOST:PORT/DATABASE.
    rest=${DATABASE_URL#*://}
    user=${rest%%:*}
    rest=${rest#*:}
    password=${rest%%@*}
    rest=${rest#*@}
    server=${rest%%/*}
    database=${rest#*/}
    database=${database%%\?*}
    port=$(free_port)
    mkdir -p "$PGB_DIR"
    (umask 077 && printf '"%s" "%s"\n' "$user" "$password" >"$PGB_DIR/userlist.txt")
    if [ "$(id -u)" -eq 0 ]; then
        id ftapi-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ftapi-pg
        chown ftapi-pg "$PGB_DIR" "$PGB_DIR/userlist.txt"
        run_as=(runuser -u ftapi-pg --)
    fi
    # Transaction pooling: a server connection serves a client for one transaction only, so
    # server_reset_query (DISCARD ALL) is not run between clients (server_reset_query_always = 0):
    # the store keeps nothing in the session (DATABASE_POOL_MODE=transaction).
    cat >"$PGB_DIR/pgbouncer.ini" <<INI
[databases]
$database = host=${server%:*} port=${server##*:} dbname=$database

[pgbouncer]
listen_addr = $listen
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $PGB_DIR/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = 500
server_reset_query = DISCARD ALL
; While PostgreSQL is away: a client waits for a server connection 5 s at most, as long as for a
; connection of its own pool (DATABASE_POOL_TIMEOUT_SECONDS), then gets an error (not a wait
; that pgbouncer 1.18 lets no cancel end); a failed login is retried after 1 s, not 15.
query_wait_timeout = 5
server_login_retry = 1
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
INI
    "${run_as[@]}" /usr/sbin/pgbouncer -d -q "$PGB_DIR/pgbouncer.ini" ||
        { cat "$PGB_DIR/pgbouncer.log" >&2 2>/dev/null; die "pgbouncer did not start"; }
    PGBOUNCER_PORT=$port
    PGBOUNCER_URL="postgresql://$user:$password@127.0.0.1:$port/$database"
    for tries in $(seq 50); do
        PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" "$PGBOUNCER_URL" -qAtc 'SELECT 1' >/dev/null 2>&1 && break
        if [ "$tries" -eq 50 ]; then
            tail -20 "$PGB_DIR/pgbouncer.log" >&2
            stop_throwaway_pgbouncer
            die "pgbouncer does not answer on 127.0.0.1:$port"
        fi
        sleep 0.1
    done
    log "pgbouncer $(/usr/sbin/pgbouncer --version | awk 'NR == 1 {print $2}') on 127.0.0.1:$port in transaction mode, $pool_size server connections (in $PGB_DIR)"
}

stop_throwaway_pgbouncer() {
    [ -n "$PGB_DIR" ] && [ -d "$PGB_DIR" ] || return 0
    local pid tries
    pid=$(cat "$PGB_DIR/pgbouncer.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
        for tries in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$PGB_DIR"
    PGB_DIR=
}
