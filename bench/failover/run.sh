#!/usr/bin/env bash
# bench/failover: time from a bolt's (or its host's) SIGKILL to the recovery hook's start on the
# elected agent. Run through `make bench-failover` (which builds everything and sets
# TAILSAFE_BIN_DIR). See docs/performance.md.
#
# Environment:
#   TAILSAFE_BIN_DIR       absolute path of build/ (required)
#   BENCH_DIR              where the data goes (default /var/tmp/tailsafe-bench-failover; wiped)
#   BENCH_BOLT_KILLS       bolt deaths to time (default 100)
#   BENCH_HOST_KILLS       host deaths to time (default 100)
#   BENCH_HOST_TIMEOUT_MS  the coordinator's host_timeout_ms (default 1000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TAILSAFE_BIN_DIR:?set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench-failover does)}"
exec python3 "$here/failover.py" "$@"
