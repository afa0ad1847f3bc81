#!/usr/bin/env bash
# bench/replicate/profile.sh: where the CPU of the 5 MB/s phase goes, for tailsafe's three agents
# or for the minimal durable pipeline (bench/pipeline), from a system-wide `perf record` of a few
# seconds in the middle of the phase. Prints each thread's share of the machine, the kernel's
# entry points (children time: syscalls, softirqs), the busiest libraries and symbols, and the
# syscalls made (`perf trace -s`, in a second run of the phase). docs/performance.md quotes it.
#
#   TAILSAFE_BIN_DIR=$PWD/build bench/replicate/profile.sh tailsafe|durable [seconds]
#
# Needs root (system-wide perf) and nothing else running: every process's samples are counted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TAILSAFE_BIN_DIR:?set TAILSAFE_BIN_DIR to the absolute path of build/}"
system=${1:?usage: profile.sh tailsafe|durable [seconds]}
secs=${2:-6}
case $system in
  tailsafe) comm=tailsafe-agent; only=tailsafe ;;
  durable) comm=pipeline; only=durable ;;
  *) echo "profile.sh: unknown system '$system' (tailsafe or durable)" >&2; exit 2 ;;
esac
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
out=$(mktemp -d)
trap 'pkill -f "$here/replicate.py" 2>/dev/null || true; rm -rf "$out"' EXIT

# Starts the 5 MB/s phase in the background and waits until its three processes run.
start_phase() {
  BENCH_REPORT=$out/report.md BENCH_ONLY=$only BENCH_PHASES=5 "$here/run.sh" > "$out/run.log" 2>&1 &
  local deadline=$((SECONDS + 120))
  until [ "$(pgrep -x "$comm" | wc -l)" -ge 3 ]; do
    [ $SECONDS -lt $deadline ] || { echo "profile.sh: the phase did not start; see $out/run.log" >&2; cat "$out/run.log" >&2; exit 1; }
    sleep 0.2
  done
  sleep 8  # past the start-up, into the steady rate (the phase lasts 20 s)
}
finish_phase() {
  local deadline=$((SECONDS + 300))
  while pgrep -f "$here/replicate.py" >/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "profile.sh: the bench did not finish" >&2; exit 1; }
    sleep 0.5
  done
}

echo "## $system, 5 MB/s phase: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
start_phase
perf record -a -g -F 1999 -o "$out/perf.data" -- sleep "$secs" > /dev/null 2>&1
finish_phase
# sed -n, not head: head exits early, and under pipefail the SIGPIPE it leaves would end the script.
report() { perf report -i "$out/perf.data" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
echo; echo "### Share of the machine ($secs s x $(nproc) cores = 100%) by thread"
report --sort pid | sed -n 1,16p
echo; echo "### $comm: kernel entry points (children)"
report --comm "$comm" --children --sort sym | grep -E '\[k\] (__x64_sys_|ksys_|handle_softirqs)' | sed -n 1,16p
echo; echo "### $comm: libraries (self)"
report --comm "$comm" --sort dso | grep -v kernel | sed -n 1,10p
echo; echo "### $comm: busiest symbols (self; a VM's exits show on the instruction that made them)"
report --comm "$comm" --no-children --sort sym | sed -n 1,12p

echo; echo "### Syscalls of the three processes over $secs s (a second run of the phase)"
start_phase
pids=$(pgrep -x "$comm" | paste -sd,)
timeout $((secs + 10)) perf trace -s -p "$pids" -- sleep "$secs" 2>&1 |
  awk '/^ [^ ].*\([0-9]+\), [0-9]+ events/ {print; next} /^   [a-z_0-9]+ +[0-9]+/ {printf "      %-16s %8s\n", $1, $2}'
finish_phase
