#!/usr/bin/env bash
# render-nginx.sh RUN_DIR LISTEN SOCKET DATA_DIR — writes RUN_DIR/nginx.conf for a
# private nginx in front of the pool (used by run.sh and the integration tests).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 4 ] || die "usage: render-nginx.sh RUN_DIR LISTEN SOCKET DATA_DIR"
render_nginx "$1" "$2" "$3" "$4"
echo "$1/nginx.conf"
