#!/usr/bin/env bash
# tailsafe replication demo (`make demo`): three agents on loopback act as three hosts. Each host's
# bolt appends access-log lines to its backup file; one agent is killed with SIGKILL mid-stream
# and restarted; one file is rotated. At the end every replica is checked against its origin
# with sha256sum. Exit 0 only if all of them match.
set -euo pipefail

bin=${TAILSAFE_BIN_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
work=$(mktemp -d /var/tmp/tailsafe-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${keep:-0}" == 1 ]]; then echo "demo files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

hosts=(host-a host-b host-c)
declare -A port
for h in "${hosts[@]}"; do port[$h]=$(free_port); done

"$bin/tailsafectl" keygen "$work/cluster.key" > /dev/null  # every connection is authenticated with it
for h in "${hosts[@]}"; do
  mkdir -p "$work/$h/spool"
  peers=""
  for o in "${hosts[@]}"; do [[ $o != "$h" ]] && peers+="\"$o@127.0.0.1:${port[$o]}\", "; done
  cat > "$work/$h/tailsafe.conf" <<CONF
[cluster]
name = "demo"
key_file = "$work/cluster.key"

[agent]
id = "$h"
listen = "127.0.0.1:${port[$h]}"
data_dir = "$work/$h/data"
peers = [${peers%, }]
reconnect_max_ms = 200
seal_after_ms = 500

[[bolt]]
name = "weblog"
file = "$work/$h/spool/weblog.log"
CONF
done

declare -A agent_pid
start_agent() {
  "$bin/tailsafe-agent" -c "$work/$1/tailsafe.conf" >> "$work/$1/agent.log" 2>&1 &
  agent_pid[$1]=$!
  pids+=($!)
  for _ in $(seq 100); do
    "$bin/tailsafectl" -c "$work/$1/tailsafe.conf" status --json > /dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "agent $1 did not start; its log:" >&2
  cat "$work/$1/agent.log" >&2
  exit 1
}

say "starting three agents (host-a, host-b, host-c) on 127.0.0.1 in $work"
for h in "${hosts[@]}"; do start_agent "$h"; done

say "each host's bolt appends 40 MB of access-log lines at 8 MB/s (random write sizes)"
writer_pids=()
seed=1
for h in "${hosts[@]}"; do
  "$bin/tests/ts-loggen" "$work/$h/spool/weblog.log" 40000000 --rate 8 --seed $seed --max-write 65536 &
  writer_pids+=($!)
  seed=$((seed + 1))
done

sleep 2
say "kill -9 host-b's agent mid-stream (its peers keep writing; it must catch up)"
kill -9 "${agent_pid[host-b]}"
wait "${agent_pid[host-b]}" 2>/dev/null || true
sleep 1
say "rotating host-a's file (rename + create, as logrotate does)"
mv "$work/host-a/spool/weblog.log" "$work/host-a/spool/weblog.log.1"
"$bin/tests/ts-loggen" "$work/host-a/spool/weblog.log" 2000000 --seed 99 --max-write 65536
say "restarting host-b's agent"
start_agent host-b

for p in "${writer_pids[@]}"; do wait "$p"; done
say "writers done; waiting for every peer to acknowledge every byte"
synced() {
  for h in "${hosts[@]}"; do
    "$bin/tailsafectl" -c "$work/$h/tailsafe.conf" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
lag = sum(p["lag_bytes"] for b in d["bolts"] for p in b["peers"])
gens = sum(1 for b in d["bolts"] for g in b["generations"] if g["state"] != "active")
sys.exit(0 if lag == 0 and gens == 0 else 1)' || return 1
  done
}
for i in $(seq 300); do synced && break; sleep 0.1; done
synced || { echo "replication did not settle within 30 s" >&2; keep=1; exit 1; }

say "status of host-a (tailsafectl status)"
"$bin/tailsafectl" -c "$work/host-a/tailsafe.conf" status

say "proof: sha256 of every origin generation and of its replica on each peer"
fail=0
check() {  # origin-file host gen
  local want got
  want=$(sha256sum "$1" | cut -c1-16)
  for h in "${hosts[@]}"; do
    [[ $h == "$2" ]] && continue
    local rep="$work/$h/data/replicas/$2/weblog/$(printf '%020d' "$3")"
    got=$(sha256sum "$rep" 2>/dev/null | cut -c1-16 || echo missing)
    if [[ $want == "$got" ]]; then mark=OK; else mark=MISMATCH; fail=1; fi
    printf '  %-8s gen %d  %10s bytes  origin %s  %-7s replica %s  %s\n' "$2" "$3" "$(stat -c %s "$1")" "$want" "$h" "$got" "$mark"
  done
}
check "$work/host-a/spool/weblog.log.1" host-a 1
check "$work/host-a/spool/weblog.log" host-a 2
check "$work/host-b/spool/weblog.log" host-b 1
check "$work/host-c/spool/weblog.log" host-c 1
if [[ $fail == 0 ]]; then
  say "all replicas are byte-identical to their origins (through a kill -9 and a rotation)"
else
  keep=1
  echo "REPLICAS DIFFER" >&2
  exit 1
fi
