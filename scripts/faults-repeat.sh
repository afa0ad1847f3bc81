#!/usr/bin/env bash
# Runs the fault suite's short pass N times in a row, each with a fresh random seed, as CI does
# on every change, and prints one line per run (seed, faults injected, result) and a total.
# Stops at the first failure unless --keep-going; its cluster directory is kept
# (/var/tmp/tailsafe-faults-*) and the seed replays its schedule.
#   scripts/faults-repeat.sh [--keep-going] [N [SECONDS [MODE]]]   (defaults: 10, 120, release)
# FAULT_STORE=zookeeper in the environment runs them on three coordinators on ZooKeeper.
# Root, like make faults. Logs go to build/faults-repeat/.
set -u
keep_going=0
if [[ "${1:-}" == "--keep-going" ]]; then keep_going=1; shift; fi
runs=${1:-10} seconds=${2:-120} mode=${3:-release}
cd "$(dirname "$0")/.."
out=build/faults-repeat
mkdir -p "$out"
passed=0 failed=0
for ((i = 1; i <= runs; i++)); do
    log="$out/run-$i.log"
    make --no-print-directory MODE="$mode" faults FAULT_SECONDS="$seconds" FAULT_STORE="${FAULT_STORE:-sqlite}" >"$log" 2>&1
    rc=$?
    seed=$(sed -n 's/^fault run: seed \([0-9]*\).*/\1/p' "$log" | head -n 1)
    faults=$(sed -n 's/.*"faults_total":\([0-9]*\).*/\1/p' "$log" | head -n 1)
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        echo "run $i: seed ${seed:-?}, ${faults:-?} faults: passed"
    else
        failed=$((failed + 1))
        echo "run $i: seed ${seed:-?}, ${faults:-?} faults: FAILED (exit $rc; $log)"
        grep -E "error|finding|exited on its own" "$log" | head -n 5
        [[ $keep_going -eq 1 ]] || break
    fi
done
echo "faults-repeat: $passed passed, $failed failed ($mode, ${seconds} s each, store ${FAULT_STORE:-sqlite})"
[[ $failed -eq 0 ]]
