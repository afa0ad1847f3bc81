#!/usr/bin/env bash
# bench/many-bolts: one agent with 1 bolt and with 1,000 bolts: memory, descriptors, inotify
# instances, death detection (issue 23), and CPU per GB with every bolt writing (issue 24),
# measured in the same run. Run with `make bench-many-bolts`, or after `make bench-build`:
#   TAILSAFE_BIN_DIR=$PWD/build bench/many-bolts/run.sh
# The report goes to stdout and bench/many-bolts/last-run.md. See many_bolts.py for what is measured.
#
# Environment:
#   TAILSAFE_BIN_DIR  absolute path of build/ (required)
#   BENCH_DIR         where the data goes (default /var/tmp/tailsafe-bench-many-bolts; wiped)
#   BENCH_SIZES       bolt counts to run (default 1,1000)
#   BENCH_FILE_KIB    each bolt file's size (default 16)
#   BENCH_KILLS       bolt deaths to time per size (default 50)
#   BENCH_RATE_MBPS, BENCH_RATE_SECONDS, BENCH_WRITE_BYTES
#                     the CPU stage: every bolt writing, 5 MB/s in all for 20 s in 200-byte
#                     writes by default (needs build/bench/spread_writer: make bench-build);
#                     BENCH_RATE_SECONDS=0 skips it
#   BENCH_LINGER_MS   the agents' linger_ms (default: unset, i.e. 0)
#   BENCH_SYNCFS_FILES the agents' commit_syncfs_files (default: unset, i.e. 0: an fdatasync per file)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TAILSAFE_BIN_DIR:?set TAILSAFE_BIN_DIR to the absolute path of build/}"
exec python3 "$here/many_bolts.py" "$@"
