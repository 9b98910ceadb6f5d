#!/usr/bin/env bash
# render-nginx.sh RUN_DIR LISTEN UPSTREAM DATA_DIR [TEMPLATE] — writes RUN_DIR/nginx.conf for a
# private nginx in front of the pool (used by run.sh and the integration tests).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 4 ] && [ $# -le 5 ] || die "usage: render-nginx.sh RUN_DIR LISTEN UPSTREAM DATA_DIR [TEMPLATE]"
render_nginx "$@"
echo "$1/nginx.conf"
