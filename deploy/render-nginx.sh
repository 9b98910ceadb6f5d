#!/usr/bin/env bash
# render-nginx.sh RUN_DIR LISTEN SOCKET — writes RUN_DIR/nginx.conf for a
# private nginx in front of the pool (used by run.sh and the integration tests).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 3 ] || die "usage: render-nginx.sh RUN_DIR LISTEN SOCKET"
render_nginx "$1" "$2" "$3"
echo "$1/nginx.conf"
