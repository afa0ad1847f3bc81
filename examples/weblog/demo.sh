#!/usr/bin/env bash
# The weblog demo (`make demo`): website request analytics on three "hosts" of one machine.
#
# A coordinator and three tailsafe agents on loopback; on each host a weblog-bolt. weblog-spout
# replays a generated access log across the bolts by target host. The bolts analyse slower than
# requests arrive, as a busy analysis does, so the busiest one builds a backlog; halfway through,
# it is killed with SIGKILL (and restarted, as a supervisor would). tailsafe elects another host,
# whose weblog-analyze hook counts the dead bolt's backlog from its replica. At the end the demo
# prints the report, checks that the results equal the analysis of the input minute by minute,
# and draws requests per minute with tailsafe and without it (the dip).
#
# With DEMO_HA=1 (`make demo-ha`) the coordinator is three instances on a 3-member ZooKeeper
# ensemble (Debian's zookeeper package, scripts/zk_ensemble.py), and the leading instance is
# SIGKILLed at the moment the bolt is: a follower takes over and the tail is recovered all the
# same.
#
# Outputs (kept): $DEMO_OUT (default build/demo/, build/demo-ha/ with DEMO_HA=1):
# requests-per-minute.png, series.tsv, report.csv, report.json. The cluster's files are removed
# unless KEEP=1.
#
# The coordinator serves its status page (http_listen); the demo prints its address and opens
# nothing. DEMO_HOLD=1 keeps the cluster up at the end for DEMO_HOLD_SECONDS (default 600) to look
# at it; DEMO_SCREENSHOT=FILE.png has headless Chromium take a picture of it at the end (the
# README's is made so).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${TAILSAFE_BIN_DIR:-$root/build}
ha=${DEMO_HA:-0}
suffix=""
if ((ha)); then suffix=-ha; fi
out=${DEMO_OUT:-$bin/demo$suffix}
requests=${DEMO_REQUESTS:-300000}
rate=${DEMO_RATE:-15000}          # requests per second the spout sends
bolt_rate=${DEMO_BOLT_RATE:-6000}  # requests per second each bolt analyses
work=$(mktemp -d /var/tmp/tailsafe-weblog-demo-XXXXXX)
mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((ha)); then python3 "$root/scripts/zk_ensemble.py" stop "$work/zk"; fi
  if [[ "${KEEP:-0}" == 1 || "${failed:-0}" == 1 ]]; then echo "demo files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
start_s=$EPOCHREALTIME
say() { printf '\033[1m[%5.1fs] %s\033[0m\n' "$(awk -v a="$EPOCHREALTIME" -v b="$start_s" 'BEGIN { print a - b }')" "$*"; }
note() { printf '         %s\n' "$*"; }
fail() { failed=1; echo "demo: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hosts=(host-a host-b host-c)
declare -A port
for h in "${hosts[@]}"; do port[$h]=$(free_port); done
instances=(coordinator)
if ((ha)); then instances=(co1 co2 co3); fi
declare -A cport mport hport
for k in "${instances[@]}"; do cport[$k]=$(free_port); mport[$k]=$(free_port); hport[$k]=$(free_port); done
coordinators=""
for k in "${instances[@]}"; do coordinators+="\"127.0.0.1:${cport[$k]}\", "; done
coordinators="[${coordinators%, }]"
# tailsafectl finds the leader among the instances a host's configuration lists.
ctl() { "$bin/tailsafectl" -c "$work/host-a/tailsafe.conf" "$@"; }
leading() {  # 1 if instance $1 leads now (its metrics say so), else 0
  python3 - "${mport[$1]}" <<'PY'
import sys, urllib.request
try:
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=1).read().decode()
except OSError:
    text = ""
print(1 if "\ntailsafe_coordinator_leading 1" in "\n" + text else 0)
PY
}
leader() { for k in "${instances[@]}"; do [[ $(leading "$k") == 1 ]] && { echo "$k"; return 0; }; done; return 1; }
page() { echo "http://127.0.0.1:${hport[$(leader || echo "${instances[0]}")]}/"; }

if ((ha)); then
  say "starting a 3-member ZooKeeper ensemble on 127.0.0.1 (Debian's zookeeper package)"
  zk=$(python3 "$root/scripts/zk_ensemble.py" start "$work/zk") || fail "the ZooKeeper ensemble did not start"
  note "ensemble: $zk"
fi

say "generating a realistic access log: $requests requests over 3 simulated hours (06:00-09:00 UTC)"
"$bin/weblog-gen" -n "$requests" --minutes 180 --start "2026-11-18 06:00" --malformed-every 50000 -o "$work/access.log"
note "$work/access.log: $(stat -c %s "$work/access.log") bytes; a few hostile lines mixed in"

"$bin/tailsafectl" keygen "$work/cluster.key" > /dev/null  # every connection is authenticated with it
for k in "${instances[@]}"; do
  cat > "$work/$k.conf" <<CONF
[cluster]
name = "weblog-demo"
key_file = "$work/cluster.key"

[coordinator]
listen = "127.0.0.1:${cport[$k]}"
state_dir = "$work/$k"
host_timeout_ms = 1000
metrics_listen = "127.0.0.1:${mport[$k]}"
http_listen = "127.0.0.1:${hport[$k]}"
CONF
  if ((ha)); then printf 'store = "zookeeper"\nzookeeper = "%s"\n' "$zk" >> "$work/$k.conf"; fi
done
for h in "${hosts[@]}"; do
  mkdir -p "$work/$h/spool" "$work/$h/run"
  cat > "$work/$h/tailsafe.conf" <<CONF
[cluster]
name = "weblog-demo"
coordinator = $coordinators
key_file = "$work/cluster.key"

[agent]
id = "$h"
listen = "127.0.0.1:${port[$h]}"
data_dir = "$work/$h/data"
hook_retry_ms = 200

[hooks]
weblog = ["$bin/weblog-analyze", "--db", "$work/results.db"]

[[bolt]]
name = "bolt"
file = "$work/$h/spool/bolt.log"
pid_file = "$work/$h/run/bolt.pid"
checkpoint_file = "$work/$h/spool/bolt.ckpt"
hook = "weblog"
CONF
done

declare -A coord_pid
start_coordinator() {
  "$bin/tailsafe-coordinator" -c "$work/$1.conf" >> "$work/$1.log" 2>&1 &
  coord_pid[$1]=$!
  pids+=($!)
}
if ((ha)); then
  say "starting three coordinators (co1, co2, co3) on the ensemble, and three agents (host-a, host-b, host-c)"
else
  say "starting the coordinator and three agents (host-a, host-b, host-c) on 127.0.0.1"
fi
for k in "${instances[@]}"; do start_coordinator "$k"; done
for _ in $(seq 600); do leader > /dev/null && break; sleep 0.05; done
first_leader=$(leader) || fail "no coordinator leads: $(tail -5 "$work/${instances[0]}.log")"
note "the status page: http://127.0.0.1:${hport[$first_leader]}/ (live; the demo opens nothing)"
if ((ha)); then note "$first_leader leads; the others answer agents and tailsafectl with its address"; fi
for h in "${hosts[@]}"; do
  "$bin/tailsafe-agent" -c "$work/$h/tailsafe.conf" >> "$work/$h/agent.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 200); do
  n=$(ctl ls /agents 2>/dev/null | wc -l || true)
  [[ $n == 3 ]] && break
  sleep 0.05
done
[[ $n == 3 ]] || fail "the agents did not register with the coordinator: $(tail -5 "$work/$first_leader.log")"

declare -A bolt_pid
start_bolt() {
  "$bin/weblog-bolt" --name "$1" --listen "$work/$1/run/bolt.sock" --backup "$work/$1/spool/bolt.log" \
    --checkpoint "$work/$1/spool/bolt.ckpt" --pid-file "$work/$1/run/bolt.pid" --db "$work/results.db" \
    --max-rate "$bolt_rate" --quiet >> "$work/$1/bolt.log" 2>&1 &
  bolt_pid[$1]=$!
  pids+=($!)
  for _ in $(seq 100); do [[ -S "$work/$1/run/bolt.sock" ]] && return 0; sleep 0.02; done
  fail "the bolt on $1 did not start: $(tail -3 "$work/$1/bolt.log")"
}
say "starting a weblog-bolt on each host (each analyses at most $bolt_rate requests/s)"
for h in "${hosts[@]}"; do start_bolt "$h"; done

say "weblog-spout replays the log at $rate requests/s, split across the bolts by target host"
"$bin/weblog-spout" --rate "$rate" --quiet --bolt "$work/host-a/run/bolt.sock" --bolt "$work/host-b/run/bolt.sock" \
  --bolt "$work/host-c/run/bolt.sock" "$work/access.log" >> "$work/spout.log" 2>&1 &
spout=$!
pids+=($!)

backlogs() {  # "host-a 0 B, host-b 12.3 MB, ..." unanalysed bytes per bolt, and the busiest host
  local line="" max=-1 busiest=""
  for h in "${hosts[@]}"; do
    local size ckpt
    size=$(stat -c %s "$work/$h/spool/bolt.log" 2>/dev/null || echo 0)
    ckpt=$(cat "$work/$h/spool/bolt.ckpt" 2>/dev/null || echo 0)
    local b=$((size > ckpt ? size - ckpt : 0))
    line+="$h $(numfmt --to=si --suffix=B "$b"), "
    if ((b > max)); then max=$b; busiest=$h; fi
  done
  echo "${line%, }|$busiest"
}
input_bytes=$(stat -c %s "$work/access.log")
for _ in $(seq 600); do
  sum=0
  for h in "${hosts[@]}"; do sum=$((sum + $(stat -c %s "$work/$h/spool/bolt.log" 2>/dev/null || echo 0))); done
  pct=$((100 * sum / input_bytes))
  b=$(backlogs)
  note "received ${pct}% of the log; backlog (received, not yet analysed): ${b%|*}"
  ((pct >= 50)) && break
  sleep 1
done
victim=${b#*|}

if ((ha)); then
  old_leader=$(leader) || fail "no coordinator leads"
  say "SIGKILL of the bolt on $victim, mid-stream, with ${b%|*}, and of the leading coordinator $old_leader"
  kill -9 "${bolt_pid[$victim]}" "${coord_pid[$old_leader]}"
else
  say "SIGKILL of the bolt on $victim, mid-stream, with ${b%|*}"
  kill -9 "${bolt_pid[$victim]}"
fi
kill_ns=$(date +%s%N)
wait "${bolt_pid[$victim]}" 2>/dev/null || true
if ((ha)); then
  wait "${coord_pid[$old_leader]}" 2>/dev/null || true
  new_leader=""
  for _ in $(seq 600); do
    for k in "${instances[@]}"; do
      [[ $k != "$old_leader" && $(leading "$k") == 1 ]] && new_leader=$k
    done
    [[ -n $new_leader ]] && break
    sleep 0.02
  done
  [[ -n $new_leader ]] || fail "no follower took over: $(tail -5 "$work/co2.log")"
  term=$(grep -o 'leading in term [0-9]*' "$work/$new_leader.log" | tail -1)
  say "$(printf '+%d ms after the kill: ' $((($(date +%s%N) - kill_ns) / 1000000)))$new_leader took over ($term): it loaded the namespace from ZooKeeper"
  note "(the old leader's ZooKeeper session had to expire first: zookeeper_session_ms, 6 s by default)"
  for _ in $(seq 400); do
    connected=0
    for h in "${hosts[@]}"; do
      ctl get "/agents/$h" --json 2>/dev/null | grep -q '"connected":true' && connected=$((connected + 1))
    done
    ((connected == 3)) && break
    sleep 0.02
  done
  ((connected == 3)) || fail "the agents did not find the new leader: $(tail -5 "$work/$new_leader.log")"
  if grep -h " is dead: silent" "$work"/co?.log; then fail "the failover cost an agent a false death"; fi
  say "$(printf '+%d ms after the kill: ' $((($(date +%s%N) - kill_ns) / 1000000)))all three agents found $new_leader and speak to it; none was declared dead"
fi
checkpoint=$(cat "$work/$victim/spool/bolt.ckpt")
note "its checkpoint says it had analysed its backup file up to byte $checkpoint; the rest is its tail"

# The election and the takeover, as the coordinator records them.
last=""
for _ in $(seq 400); do
  doc=$(ctl get /recoveries/1 --json 2>/dev/null || true)
  if [[ -n "$doc" ]]; then
    line=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
s = d.get("state")
if s == "waiting": print("recovery 1: waiting for a host that holds the tail")
elif s in ("assigned", "running"):
    print("recovery 1: %s/%s generation %d bytes [%d, %d) %s %s under epoch %d" % (d["origin"], d["bolt"], d["generation"], d["from"], d["to"], "assigned to" if s == "assigned" else "running on", d["agent"], d["epoch"]))
else:
    print("recovery 1: %s by %s: bytes [%d, %d) delivered to its weblog-analyze hook" % (s, d.get("agent"), d["from"], d.get("delivered_to", 0)))
' "$doc")
    if [[ "$line" != "$last" ]]; then
      say "$(printf '+%d ms after the kill: ' $((($(date +%s%N) - kill_ns) / 1000000)))$line"
      last=$line
    fi
    [[ "$line" == *recovered* || "$line" == *failed* ]] && break
  fi
  sleep 0.05
done
[[ "$last" == *recovered* ]] || fail "the dead bolt's tail was not recovered: $(tail -5 "$work/$(leader || echo "${instances[0]}").log")"
elected=$(ctl get /recoveries/1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"])')
hookline=$(grep -h "weblog-analyze: .*counted" "$work/$elected/agent.log" | tail -1 || true)
[[ -n "$hookline" ]] && note "the hook on $elected said: ${hookline#weblog-analyze: }"
note "(these times include this script's polling; make bench-failover measures death to hook start)"

say "restarting the bolt on $victim (as a supervisor would); it takes its backup file over and the spout resumes"
start_bolt "$victim"
if ((ha)); then
  say "restarting $old_leader (as systemd would): it rejoins as a follower"
  start_coordinator "$old_leader"
fi
if [[ -n "${DEMO_SCREENSHOT:-}" ]]; then
  # Once the restarted bolt shows as running: the page mid-run, the recovery on it.
  for _ in $(seq 100); do
    ctl get "/bolts/$victim/bolt" --json 2>/dev/null | grep -q '"state": *"running"' && break
    sleep 0.05
  done
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
    --screenshot="$DEMO_SCREENSHOT" "$(page)" > "$work/chromium.log" 2>&1 ||
    fail "chromium could not take the screenshot: $(tail -3 "$work/chromium.log")"
  say "the status page, as headless Chromium saw it: $DEMO_SCREENSHOT"
fi

for _ in $(seq 900); do
  kill -0 "$spout" 2>/dev/null || break
  sleep 0.1
done
wait "$spout" || fail "weblog-spout failed: $(tail -5 "$work/spout.log")"
note "$(tail -1 "$work/spout.log" | sed 's/^weblog-spout: //')"
say "the log is replayed; stopping the bolts (each analyses what it still holds, then exits)"
for h in "${hosts[@]}"; do kill -TERM "${bolt_pid[$h]}"; done
for h in "${hosts[@]}"; do wait "${bolt_pid[$h]}" || fail "the bolt on $h did not stop cleanly"; done

# Every recovery recovered (a bolt stopped cleanly leaves no tail, so nothing new is planned).
for _ in $(seq 100); do
  pending=0
  for r in $(ctl ls /recoveries 2>/dev/null); do
    s=$(ctl get "/recoveries/$r" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [[ $s == recovered ]] || pending=1
  done
  ((pending == 0)) && break
  sleep 0.1
done
((pending == 0)) || fail "a recovery did not finish: $(ctl ls /recoveries)"

say "the report (weblog-analyze report --total --top 5): the whole three hours"
"$bin/weblog-analyze" report --db "$work/results.db" --total --top 5
say "and the last minute (--last 1 --top 3)"
"$bin/weblog-analyze" report --db "$work/results.db" --last 1 --top 3
"$bin/weblog-analyze" report --db "$work/results.db" --top 0 --format csv > "$out/report.csv"
"$bin/weblog-analyze" report --db "$work/results.db" --top 10 --format json > "$out/report.json"

say "checking the results database against the analysis of the input, minute by minute"
if "$bin/weblog-analyze" compare --db "$work/results.db" "$work/access.log"; then
  note "the totals per minute (and per host, URL and client) equal the input's"
else
  fail "the results differ from the input"
fi

"$bin/weblog-analyze" series --db "$work/results.db" > "$out/series.tsv"
recovered=$(awk '!/^#/ {s += $4} END {print s + 0}' "$out/series.tsv")
dip_minutes=$(awk '!/^#/ && $4 > 0 {n++} END {print n + 0}' "$out/series.tsv")
gnuplot <<PLOT || fail "gnuplot could not draw $out/requests-per-minute.png"
set terminal pngcairo size 1200,600 font "sans,11"
set output "$out/requests-per-minute.png"
set title "Requests per minute, from the results database: a bolt killed with SIGKILL mid-stream"
set xlabel "minute of the log (UTC, 2026-11-18)"
set ylabel "requests per minute"
set xdata time
set timefmt "%Y-%m-%d %H:%M"
set format x "%H:%M"
set datafile separator "\t"
set key bottom right box opaque
set grid ytics
set yrange [0:*]
plot "$out/series.tsv" using 1:2 with lines lw 3 lc rgb "#1f77b4" title "with tailsafe (the dead bolt's backlog recovered by a hook on another host)", \
     "" using 1:4 with lines lw 2 dt 2 lc rgb "#d62728" title "without tailsafe (the dead bolt's backlog lost)"
PLOT
say "the chart: $out/requests-per-minute.png"
note "without tailsafe, $recovered requests in $dip_minutes minutes would be missing from the report (the dip);"
note "with it, every minute is complete. Also in $out: series.tsv, report.csv, report.json"

if [[ "${DEMO_HOLD:-0}" == 1 ]]; then
  hold=${DEMO_HOLD_SECONDS:-600}
  say "DEMO_HOLD=1: the cluster stays up for $hold s; the status page: $(page) (Ctrl-C ends it)"
  sleep "$hold" || true
fi
