#!/usr/bin/env bash
# bench/scale: 32 agents in network namespaces, each stream on N = 1, 2, 3 and all peers: bytes
# sent and written per host, CPU per host, re-replication after a holder dies, churn (issue 24).
# Needs root. Run with `make bench-scale`, or after `make bench-build`:
#   TAILSAFE_BIN_DIR=$PWD/build bench/scale/run.sh
# Report on stdout and in bench/scale/last-run.md; plot in bench/scale/scale.png. See scale.py.
#
# Environment (defaults in brackets):
#   TAILSAFE_BIN_DIR  absolute path of build/ (required)
#   BENCH_DIR         where the data goes [/var/tmp/tailsafe-bench-scale; wiped]
#   BENCH_HOSTS [32]  BENCH_BOLTS (per host) [4]  BENCH_HOST_KBPS (per host) [20]
#   BENCH_SECONDS [20]  BENCH_REPLICAS [1,2,3,all]  BENCH_PREFILL_KIB (each file at start) [256]
#   BENCH_HOST_TIMEOUT_MS [2000]  BENCH_GRACE_MS (replica_grace_ms) [3000]
#   BENCH_CATCHUP_S   how long the writes may take to be acknowledged everywhere [300]
#   BENCH_DEBUG=1     log each stream not yet settled, with its holders as its origin reports them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TAILSAFE_BIN_DIR:?set TAILSAFE_BIN_DIR to the absolute path of build/}"
exec python3 "$here/scale.py" "$@"
