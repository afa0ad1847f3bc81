#!/usr/bin/env bash
# What a fresh page-cache page costs this machine, against a recycled one (docs/performance.md).
# Writes 1000 MiB to new files with dd three times (keeping them, so each run needs pages never
# used before), deletes them, then writes twice more (pages recycled from the deleted files).
# On a freshly booted VM whose memory the hypervisor backs on first touch, the first runs cost
# several times more system CPU. Usage: page-cost.sh [DIR] (default /var/tmp; needs 3 GiB free).
set -euo pipefail
dir=${1:-/var/tmp}/tailsafe-page-cost.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
run() {
    /usr/bin/time -f "%S" dd if=/dev/zero of="$1" bs=256K count=4000 2>&1 >/dev/null | tail -n 1
}
for i in 1 2 3; do echo "new pages, run $i: $(run "$dir/new$i") s of system CPU for 1000 MiB"; done
rm -f "$dir"/new*
for i in 1 2; do echo "recycled pages, run $i: $(run "$dir/again$i") s of system CPU for 1000 MiB"; done
