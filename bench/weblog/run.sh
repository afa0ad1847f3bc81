#!/usr/bin/env bash
# bench/weblog: requests per second through weblog-spout and three weblog-bolts with tailsafe
# running and without it, and the overhead ratio. Run through `make bench-weblog` (which builds
# everything and sets TAILSAFE_BIN_DIR). See docs/performance.md.
#
# Environment:
#   TAILSAFE_BIN_DIR   absolute path of build/ (required)
#   BENCH_DIR          where the data goes (default /var/tmp/tailsafe-bench-weblog; wiped)
#   BENCH_REQUESTS     requests in the generated log (default 1000000)
#   BENCH_ROUNDS       runs of each mode (default 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TAILSAFE_BIN_DIR:?set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench-weblog does)}"
exec python3 "$here/weblog.py" "$@"
