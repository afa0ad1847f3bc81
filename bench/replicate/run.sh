#!/usr/bin/env bash
# bench/replicate: tailsafe vs lsyncd+rsync vs tail|zstd|nc, one origin to two replicas on this host.
# Run through `make bench` (which builds everything and sets TAILSAFE_BIN_DIR). See
# docs/performance.md for what is measured and how.
#
# Environment:
#   TAILSAFE_BIN_DIR  absolute path of build/ (required)
#   BENCH_DIR         where the data goes (default /var/tmp/tailsafe-bench; wiped before and after)
#   BENCH_SCALE       multiplies every phase's duration/size (default 1; 0.2 for a smoke run)
#   BENCH_ONLY        comma-separated systems to run: tailsafe,lsyncd,pipeline,durable,factors (default all)
#   BENCH_PHASES      comma-separated phases to run: 5,10,100,max,linger-Nms@5 (N = 1,2,5,10,20),
#                     linger-10ms@10, lines@5 (default all; the durable pipeline runs those of them it has)
#   BENCH_REPORT      where the markdown report goes (default bench/replicate/last-run.md)
#   BENCH_JSON        if set, every row as JSON goes there too (bench/replicate/ab.py reads it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TAILSAFE_BIN_DIR:?set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench does)}"
exec python3 "$here/replicate.py" "$@"
