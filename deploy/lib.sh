# Shared by run.sh and test.sh: installing what the product needs, building,
# and rendering an nginx configuration from nginx.conf.example.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APT_PACKAGES=(libfcgi-dev libsqlite3-dev libcurl4-openssl-dev nginx pkg-config tzdata)

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

# render_nginx RUN_DIR LISTEN SOCKET: writes RUN_DIR/nginx.conf, a whole
# configuration for a private nginx (`nginx -p RUN_DIR -c RUN_DIR/nginx.conf`)
# around the server block of nginx.conf.example.
render_nginx() {
    local run_dir=$1 listen=$2 socket=$3 user
    user=$(nginx_user)
    mkdir -p "$run_dir/logs" "$run_dir/tmp"
    sed -e "s#server unix:/run/ftapi/ftapi.sock;#server unix:$socket;#" \
        -e "s#^\(\s*\)listen 80;#\1listen $listen;#" \
        "$REPO/nginx.conf.example" >"$run_dir/ftapi-site.conf"
    {
        [ "$(id -u)" -eq 0 ] && echo "user $user;"
        cat <<CONF
worker_processes 1;
pid $run_dir/nginx.pid;
error_log $run_dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $run_dir/logs/access.log;
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
