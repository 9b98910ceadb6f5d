#!/usr/bin/env bash
# Runs a local cluster: HOSTS pool hosts (default 2), each in a network
# namespace of its own with its own address on a private link, all on one
# PostgreSQL and one DATA_DIR, behind one nginx on 127.0.0.1:${HTTP_PORT:-8080}
# whose upstream is deploy/cluster/nginx.conf.example's (hash on the
# credential, failover between hosts). In the foreground; Ctrl-C or SIGTERM
# stops everything and removes what it made (namespaces, links, run dir, the
# throwaway PostgreSQL).
#
# Needs root (ip netns). The environment is deploy/run.sh's: HTTP_PORT,
# DATA_DIR, JWT_SECRET, JWT_JWKS, JWT_AUDIENCE, HF_ENDPOINT, HF_TOKEN,
# RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW_SECONDS, FTAPI_WORKERS, … reach
# every host. DATABASE_URL names the PostgreSQL, which must be reachable from
# the hosts' namespaces (a server in this namespace listening on
# ${CLUSTER_NET}.1, the root end of every link); without it a throwaway one is
# started for the run, listening there. CLUSTER_NET (default 10.77.0) is the
# /24 of the links: the root end is .1, host N is .1N (.11, .12, …).
# FTAPI_BIN uses that build instead of making a release build. PGBOUNCER=1 puts a
# throwaway pgbouncer in transaction mode between the hosts and the throwaway PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

HOSTS=${HOSTS:-2}
HTTP_PORT=${HTTP_PORT:-8080}
case $HTTP_PORT in '' | *[!0-9]*) die "HTTP_PORT must be a port number, not $HTTP_PORT" ;; esac
CLUSTER_NET=${CLUSTER_NET:-10.77.0}
POOL_PORT=9000
export DATA_DIR=${DATA_DIR:-$REPO/data}
DEMO_USER=${DEMO_USER:-00000000-0000-4000-8000-000000000001}
case $HOSTS in [1-9] | [1-8][0-9]) ;; *) die "HOSTS must be 1 to 89, not $HOSTS" ;; esac
[ "$(id -u)" -eq 0 ] || die "the cluster needs root: it makes network namespaces"
ensure_jwt_secret

extra_packages=(curl iproute2 python3)
[ -z "${DATABASE_URL:-}" ] && extra_packages+=(postgresql)
ensure_packages "${extra_packages[@]}"
refuse_taken_port "$HTTP_PORT"
build_ftapi
# (The addresses first, then grep: `ip … | grep -q` under pipefail fails when grep, done at its first
# match, leaves ip writing into a closed pipe.)
if grep -q "inet $CLUSTER_NET\.1[ /]" <<<"$(ip -4 -o addr show)"; then
    die "$CLUSTER_NET.1 is in use already (another cluster?): set CLUSTER_NET to another /24"
fi

share_data_dir "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
refuse_unreachable_data_dir "$DATA_DIR"
RUN_DIR=$(mktemp -d /tmp/ftapi-cluster.XXXXXX)
chmod 755 "$RUN_DIR"
# Names of namespaces and links: short (a link name has at most 15 bytes) and unique to this run.
TAG=ftc$$
THROWAWAY_PG=0
POOL_PIDS=()
NGINX_PID=

namespace() { echo "${TAG}h$1"; }
host_address() { echo "$CLUSTER_NET.1$1"; }

# stop [STATUS]: exits with STATUS (0 after Ctrl-C or SIGTERM; else the status the script was leaving with).
stop() {
    local status=${1:-$?}
    trap - INT TERM EXIT
    set +e # a process that is already gone must not cut the clean-up short
    log "stopping"
    stop_nginx
    local pid host
    for pid in "${POOL_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${POOL_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    [ -n "$NGINX_PID" ] && wait "$NGINX_PID" 2>/dev/null
    for host in $(seq 1 "$HOSTS"); do
        # Anything still in the namespace (a worker whose master was SIGKILLed) goes with it.
        ip netns pids "$(namespace "$host")" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$(namespace "$host")" 2>/dev/null
        ip link del "${TAG}r$host" 2>/dev/null
    done
    ip route del unreachable "$CLUSTER_NET.0/24" metric 4242 2>/dev/null
    stop_throwaway_pgbouncer
    [ "$THROWAWAY_PG" = 1 ] && stop_throwaway_postgres
    rm -rf "$RUN_DIR"
    exit "$status"
}
trap 'stop 0' INT TERM
trap stop EXIT

# Nothing addressed to the cluster's /24 leaves this machine: with a link's
# root end down (`ip link set …r1 down`) its route to the host is gone, and
# the packets would follow the default route; this route, behind the links'
# own, refuses them (No route to host) instead. (`replace`: one left behind
# by a run that was SIGKILLed is taken over.)
ip route replace unreachable "$CLUSTER_NET.0/24" metric 4242

# One namespace per host, joined to this one by a veth pair: a point-to-point
# link between $CLUSTER_NET.1 (here) and the host's address (there).
for host in $(seq 1 "$HOSTS"); do
    ns=$(namespace "$host")
    ip netns add "$ns"
    ip link add "${TAG}r$host" type veth peer name "${TAG}n$host"
    ip link set "${TAG}n$host" netns "$ns"
    ip addr add "$CLUSTER_NET.1" peer "$(host_address "$host")" dev "${TAG}r$host"
    ip link set "${TAG}r$host" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$(host_address "$host")" peer "$CLUSTER_NET.1" dev "${TAG}n$host"
    ip -n "$ns" link set "${TAG}n$host" up
done

HOSTS_DATABASE_URL=${DATABASE_URL:-}
case ${DATABASE_URL:-} in
*@localhost[:/]* | *@127.* | *@\[::1\]*)
    log "warning: DATABASE_URL names loopback, which is each namespace's own: the hosts can't reach it (use $CLUSTER_NET.1)" ;;
esac
if [ -z "${DATABASE_URL:-}" ]; then
    THROWAWAY_PG=1
    start_throwaway_postgres "$RUN_DIR/postgres" "$CLUSTER_NET.1" "$CLUSTER_NET.0/24"
    # This namespace reaches it on 127.0.0.1, the hosts on the root end of their link.
    HOSTS_DATABASE_URL=${DATABASE_URL/@127.0.0.1:/@$CLUSTER_NET.1:}
fi
# PGBOUNCER=1: the hosts reach the throwaway PostgreSQL through a throwaway pgbouncer in transaction
# mode (PGBOUNCER_POOL_SIZE server connections, default 10) on $CLUSTER_NET.1 (docs/operations.md, "Connection budget").
if [ "${PGBOUNCER:-0}" = 1 ]; then
    [ "$THROWAWAY_PG" = 1 ] || die "PGBOUNCER=1 fronts the throwaway PostgreSQL only: leave DATABASE_URL unset"
    ensure_packages pgbouncer
    start_throwaway_pgbouncer "$RUN_DIR/pgbouncer" "${PGBOUNCER_POOL_SIZE:-10}" "$CLUSTER_NET.1"
    HOSTS_DATABASE_URL=${PGBOUNCER_URL/@127.0.0.1:/@$CLUSTER_NET.1:}
    export DATABASE_POOL_MODE=transaction
fi
"$FTAPI" migrate >&2

upstream=()
for host in $(seq 1 "$HOSTS"); do upstream+=("$(host_address "$host"):$POOL_PORT"); done
render_nginx "$RUN_DIR" "127.0.0.1:$HTTP_PORT" "${upstream[*]}" "$DATA_DIR" "$REPO/deploy/cluster/nginx.conf.example"

# RUN_DIR/host-N.sh starts host N's pool (exec, in the foreground): this
# script runs it once per host, and it starts a host that was killed again.
# Root's alone (0700): it holds the database password. It sets this run's
# environment (JWT_SECRET, HF_TOKEN, rate limits, …), with the hosts' DATABASE_URL, the
# host's own status listener and FTAPI_HOST_ID: every host shares DATA_DIR,
# and the id keeps each host's sweeps to its own uploads in progress.
for host in $(seq 1 "$HOSTS"); do
    (
        umask 077
        {
            echo '#!/usr/bin/env bash'
            export -p | grep -E '^declare -x (JWT_|HF_|RATE_LIMIT_|FTAPI_|DATA_DIR=|DATABASE_|SQLITE_)' || true
            printf 'export DATABASE_URL=%q FTAPI_STATUS_LISTEN=%q FTAPI_HOST_ID=%q\n' "$HOSTS_DATABASE_URL" \
                "unix:$RUN_DIR/status-h$host.sock" "$(hostname)-h$host"
            printf 'exec ip netns exec %q %q serve --listen %q "$@"\n' "$(namespace "$host")" "$FTAPI" "$(host_address "$host"):$POOL_PORT"
        } >"$RUN_DIR/host-$host.sh"
        chmod 700 "$RUN_DIR/host-$host.sh"
    )
done

# The hosts one after the other: each master sweeps abandoned uploads as it starts.
for host in $(seq 1 "$HOSTS"); do
    address=$(host_address "$host")
    # host-N.sh execs `ip netns exec`, which execs the pool: $! is the master. Its log lines carry the host's number.
    "$RUN_DIR/host-$host.sh" 2> >(sed -u "s/^/[h$host] /" >&2) &
    POOL_PIDS+=($!)
    for _ in $(seq 1 100); do (echo >"/dev/tcp/$address/$POOL_PORT") 2>/dev/null && break; sleep 0.1; done
    (echo >"/dev/tcp/$address/$POOL_PORT") 2>/dev/null || die "host $host's pool does not listen on $address:$POOL_PORT"
done
start_nginx "$RUN_DIR"
await_health "$HTTP_PORT" "$RUN_DIR" "${POOL_PIDS[@]}"

demo_credentials "$DEMO_USER"
# What the hosts use, which is not this namespace's DATABASE_URL (loopback, and past pgbouncer).
if [ -n "$HOSTS_DATABASE_URL" ]; then
    STORE="PostgreSQL ${HOSTS_DATABASE_URL%%://*}://…@${HOSTS_DATABASE_URL#*@}"
    [ "${PGBOUNCER:-0}" = 1 ] && STORE="$STORE (pgbouncer, transaction mode)"
fi
{
    cat <<MSG

ftapi cluster: $HOSTS hosts behind http://127.0.0.1:$HTTP_PORT/api/  (store: $STORE, files in $DATA_DIR, shared by every host)

  API key (user $DEMO_USER):  $KEY
  session token (24 h):        $TOKEN

  curl -H "X-API-Key: $KEY" http://127.0.0.1:$HTTP_PORT/api/training/stats
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$HTTP_PORT/api/user/api-keys

MSG
    for host in $(seq 1 "$HOSTS"); do
        printf '  host %s: %s:%s in namespace %s, master pid %s; status: %s/status\n' "$host" "$(host_address "$host")" \
            "$POOL_PORT" "$(namespace "$host")" "${POOL_PIDS[$((host - 1))]}" "$(status_curl "unix:$RUN_DIR/status-h$host.sock")"
    done
    cat <<MSG

  kill a host:      ip netns pids $(namespace 1) | xargs kill -KILL
  start it again:   $RUN_DIR/host-1.sh
  cut its link:     ip -n $(namespace 1) link set ${TAG}n1 down   (as a cut cable: no answer, so nginx's timeouts)
MSG
    [ "$THROWAWAY_PG" = 1 ] && printf '  restart PostgreSQL: %s restart -m fast\n' "$PG_CTL"
    cat <<MSG
  nginx's log (with the host that served each request): $RUN_DIR/logs/access.log

Ctrl-C stops nginx and the hosts and removes the namespaces.
MSG
}
# Until nginx stops (or a signal comes): a host that dies is nginx's to fail over, not a reason to stop.
wait "$NGINX_PID" || true
die "nginx exited; stopping the hosts"
