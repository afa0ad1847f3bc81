#!/usr/bin/env python3
"""bench/scale: 32 agents in network namespaces, each stream on N peers (issue 24).

Setup, for each N in BENCH_REPLICAS (1,2,3,all): a bridge and one network namespace per host
(veth pairs, 10.254.X.0/24), a coordinator on the bridge's address in the root namespace, and
BENCH_HOSTS (32) agents, one per namespace, each with BENCH_BOLTS (4) bolts of its own. `all`
leaves `[cluster] replicas` unset: every stream on every other agent. The data directories are
wiped between runs; the network stays.

Measured, per N:
- steady state: every host's writer (build/bench/spread_writer, in the root namespace: a bolt's
  file is a file) appends BENCH_HOST_KBPS (20) KB/s in all to its bolts, in 200-byte writes, for
  BENCH_SECONDS (20); then until every origin counts every byte acknowledged by its holders.
  Per host: bytes it sent and received on its veth (/sys/class/net/*/statistics, so framing,
  encryption and acknowledgements included), replica bytes written (the growth of its
  replicas/ directory), and the agent's CPU seconds (/proc/PID/stat). Mean and max over hosts.
- re-replication (N below all): the agent holding the most streams is SIGKILLed; the time until
  every stream it held is whole on a new holder (each origin's status: the stream's holders no
  longer name it, every holder has acknowledged every byte, none still filling), from the kill
  (host_timeout_ms + replica_grace_ms of it are the coordinator waiting, by design) and from the
  moment the placement moved; how many streams moved, of how many, and how many moved that the
  dead host did not hold (rendezvous placement: none should).
- churn back: the agent started again; the streams that move back to it, and the time until
  every stream is whole on its holders again.

Prints the report (markdown) and writes it to bench/scale/last-run.md, the figures to
bench/scale/last-run.tsv and the plot to bench/scale/scale.png (gnuplot). Needs root (network
namespaces). Exit 0 when every run completed.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import agent_status, cluster_key, cpu_s, log, machine, wait_until  # noqa: E402

BIN = os.environ.get("TAILSAFE_BIN_DIR", "")
DATA = os.environ.get("BENCH_DIR", "/var/tmp/tailsafe-bench-scale")
HOSTS = int(os.environ.get("BENCH_HOSTS", "32"))
BOLTS = int(os.environ.get("BENCH_BOLTS", "4"))
HOST_KBPS = float(os.environ.get("BENCH_HOST_KBPS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
REPLICAS = os.environ.get("BENCH_REPLICAS", "1,2,3,all").split(",")
HOST_TIMEOUT_MS = int(os.environ.get("BENCH_HOST_TIMEOUT_MS", "2000"))
GRACE_MS = int(os.environ.get("BENCH_GRACE_MS", "3000"))
PREFILL_KIB = int(os.environ.get("BENCH_PREFILL_KIB", "256"))
CATCHUP_S = float(os.environ.get("BENCH_CATCHUP_S", "300"))
TAG = "tsc%d" % (os.getpid() % 100000)
PREFIX = "10.254.%d." % (os.getpid() % 200 + 20)
PORT = 7700


def sh(cmd):
    r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (cmd, r.stdout.decode(errors="replace").strip()))


class Network:
    """A bridge with the coordinator's address and one namespace per host."""

    GC = "/proc/sys/net/ipv4/neigh/default/gc_thresh%d"

    def __init__(self, hosts):
        self.hosts, self.made, self.gc_saved = hosts, [], []
        # The kernel's ARP table is shared by every namespace, and its default hard limit
        # (gc_thresh3, 1024) is below what 33 namespaces that all talk to each other need
        # (about 33 x 33): past it, ARP fails ("neighbor table overflow" in dmesg), SYNs are lost
        # and connects wait for the kernel's SYN retries. Raised for the run, restored after.
        need = 4 * (len(hosts) + 1) ** 2
        for k in (1, 2, 3):
            with open(self.GC % k) as f:
                self.gc_saved.append(int(f.read()))
        if self.gc_saved[2] < need:
            log("raising the ARP table's limits (gc_thresh1..3 %s) to %d, %d, %d for the run"
                % ("/".join(map(str, self.gc_saved)), need // 4, need // 2, need))
            for k, v in ((3, need), (2, need // 2), (1, need // 4)):
                with open(self.GC % k, "w") as f:
                    f.write(str(v))
        sh("ip link add %sb type bridge && ip addr add %s1/24 dev %sb && ip link set %sb up" % (TAG, PREFIX, TAG, TAG))
        for i, h in enumerate(hosts):
            ns, veth = "%s%s" % (TAG, h), "%sv%d" % (TAG, i)
            sh("ip netns add %s" % ns)
            self.made.append(ns)
            sh("ip link add %s type veth peer name eth0 netns %s && ip link set %s master %sb up" % (veth, ns, veth, TAG))
            sh("ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up && ip -n %s link set lo up"
               % (ns, self.address(h), ns, ns))

    def address(self, h):
        return PREFIX + str(self.hosts.index(h) + 2)

    def namespace(self, h):
        return "%s%s" % (TAG, h)

    def counters(self, h):
        """(bytes the host sent, bytes it received): its veth's root side sees them reversed."""
        base = "/sys/class/net/%sv%d/statistics/" % (TAG, self.hosts.index(h))
        with open(base + "rx_bytes") as f:
            sent = int(f.read())
        with open(base + "tx_bytes") as f:
            received = int(f.read())
        return sent, received

    def close(self):
        for i in range(len(self.made)):
            subprocess.run("ip link del %sv%d" % (TAG, i), shell=True, stderr=subprocess.DEVNULL)
        for ns in self.made:
            subprocess.run("ip netns del %s" % ns, shell=True, stderr=subprocess.DEVNULL)
        subprocess.run("ip link del %sb" % TAG, shell=True, stderr=subprocess.DEVNULL)
        for k, v in ((1, self.gc_saved[0]), (2, self.gc_saved[1]), (3, self.gc_saved[2])):
            with open(self.GC % k, "w") as f:
                f.write(str(v))


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class Cluster:
    def __init__(self, net, replicas):
        self.net, self.replicas = net, replicas
        self.hosts = net.hosts
        shutil.rmtree(DATA, ignore_errors=True)
        os.makedirs(DATA)
        self.key = cluster_key(DATA)
        self.procs = {}
        self.coordinator = None
        with open(os.path.join(DATA, "coordinator.conf"), "w") as f:
            f.write('[cluster]\nname = "scale"\nkey_file = "%s"\n\n[coordinator]\nlisten = "%s1:%d"\nstate_dir = "%s"\n'
                    "host_timeout_ms = %d\nreplica_grace_ms = %d\n"
                    % (self.key, PREFIX, PORT, os.path.join(DATA, "coordinator"), HOST_TIMEOUT_MS, GRACE_MS))
        for h in self.hosts:
            os.makedirs(self.spool(h))
            text = '[cluster]\nname = "scale"\nkey_file = "%s"\ncoordinator = ["%s1:%d"]\n' % (self.key, PREFIX, PORT)
            if replicas != "all":
                text += "replicas = %s\n" % replicas
            text += ('\n[agent]\nid = "%s"\nlisten = "%s:%d"\ndata_dir = "%s"\npeers = []\nreconnect_max_ms = 500\n'
                     % (h, net.address(h), PORT, self.data_dir(h)))
            for b in range(BOLTS):
                text += '\n[[bolt]]\nname = "bolt-%d"\nfile = "%s"\n' % (b + 1, self.bolt_file(h, b))
                with open(self.bolt_file(h, b), "wb") as f:
                    f.write(prefill(h, b))
            with open(self.conf(h), "w") as f:
                f.write(text)

    def conf(self, h):
        return os.path.join(DATA, h, "tailsafe.conf")

    def spool(self, h):
        return os.path.join(DATA, h, "spool")

    def data_dir(self, h):
        return os.path.join(DATA, h, "data")

    def bolt_file(self, h, b):
        return os.path.join(self.spool(h), "bolt-%d.log" % (b + 1))

    def start_coordinator(self):
        log_f = open(os.path.join(DATA, "coordinator.log"), "wb")
        self.coordinator = subprocess.Popen([BIN + "/tailsafe-coordinator", "-c", os.path.join(DATA, "coordinator.conf")],
                                            stdout=subprocess.DEVNULL, stderr=log_f)

    def start(self, h):
        log_f = open(os.path.join(DATA, h, "agent.log"), "ab")
        self.procs[h] = subprocess.Popen(["ip", "netns", "exec", self.net.namespace(h), BIN + "/tailsafe-agent", "-c",
                                          self.conf(h)], stdout=subprocess.DEVNULL, stderr=log_f)

    def kill(self, h):
        p = self.procs.pop(h)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def status(self, h):
        return agent_status(self.data_dir(h))

    def holders(self):
        """{(origin, bolt): (sorted holder ids, whole)} from every live origin's status; whole: every
        holder has acknowledged the file's every byte and none is filling. None if an agent does
        not answer yet."""
        out = {}
        for h in self.procs:
            try:
                st = self.status(h)
            except (OSError, ValueError):
                return None
            for b in st.get("bolts", []):
                size = os.path.getsize(self.bolt_file(h, int(b["name"].split("-")[1]) - 1))
                peers = b.get("peers", [])
                whole = all(p.get("acked") == size and not p.get("filling") for p in peers)
                out[(h, b["name"])] = (tuple(sorted(p["peer"] for p in peers)), whole and not b.get("under_replicated"))
        return out

    def settled(self, exclude=None):
        """The holder map once every stream of every live origin has its holders (N, or every live
        agent) and is whole on them; else None."""
        m = self.holders()
        if m is None or len(m) != len(self.procs) * BOLTS:
            return None
        live = len(self.procs) - 1
        want = live if self.replicas == "all" else min(int(self.replicas), live)
        for (h, b), (ids, whole) in m.items():
            if not whole or (exclude and exclude in ids):
                if os.environ.get("BENCH_DEBUG"):
                    st = [x for x in self.status(h)["bolts"] if x["name"] == b]
                    log("  not settled: %s/%s size %d: %s" % (h, b, os.path.getsize(self.bolt_file(h, int(b.split("-")[1]) - 1)),
                                                            json.dumps(st[0]["peers"] if st else None)))
                return None
            if self.replicas != "all" and len(ids) != want:
                return None
        return m

    def stop(self):
        for p in list(self.procs.values()) + ([self.coordinator] if self.coordinator else []):
            p.send_signal(signal.SIGTERM)
        for p in list(self.procs.values()) + ([self.coordinator] if self.coordinator else []):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}


def prefill(h, b):
    line = b'192.0.2.1 - - [01/Jan/2025:00:00:00 +0000] "GET /%s/%d HTTP/1.1" 200 512\n' % (h.encode(), b)
    return line * (PREFILL_KIB * 1024 // len(line))


def steady(c):
    """Every host writing HOST_KBPS for SECONDS, then until every byte is acknowledged."""
    before = {h: (c.net.counters(h), dir_bytes(os.path.join(c.data_dir(h), "replicas")), cpu_s(c.procs[h].pid))
              for h in c.hosts}
    co_before = cpu_s(c.coordinator.pid)
    writers = []
    for h in c.hosts:
        writers.append(subprocess.Popen(
            [BIN + "/bench/spread_writer", "--prefix", os.path.join(c.spool(h), "bolt-"), "--files", str(BOLTS),
             "--rate", str(HOST_KBPS / 1000.0), "--seconds", str(SECONDS), "--write-size", "200"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    written = 0
    behind = 0.0
    for w in writers:
        out, err = w.communicate(timeout=SECONDS * 3 + 60)
        if w.returncode != 0:
            raise RuntimeError("spread_writer exited %d: %s" % (w.returncode, err.decode(errors="replace").strip()))
        doc = json.loads(out)
        written += doc["total_bytes"]
        behind = max(behind, doc["behind_s"])
    t = time.monotonic()
    try:
        wait_until(c.settled, CATCHUP_S, "every stream acknowledged whole", poll=0.5)
        caught_up = time.monotonic() - t
    except RuntimeError:  # the cluster cannot keep up (N = all on one small machine): say so, measure what was done
        log("N=%s: not every stream acknowledged whole %.0f s after the writes; measured as it stands" % (c.replicas, CATCHUP_S))
        caught_up = None
    rows = []
    for h in c.hosts:
        (s0, r0), w0, cpu0 = before[h]
        s1, r1 = c.net.counters(h)
        rows.append({"sent": s1 - s0, "received": r1 - r0,
                     "written": dir_bytes(os.path.join(c.data_dir(h), "replicas")) - w0,
                     "cpu": cpu_s(c.procs[h].pid) - cpu0})
    return {"origin_bytes": written, "behind_s": behind, "caught_up_s": caught_up, "hosts": rows,
            "coordinator_cpu": cpu_s(c.coordinator.pid) - co_before}


def rereplicate(c, before):
    """Kills the agent holding the most streams; how long until its streams are whole elsewhere."""
    count = {}
    for (o, _), (ids, _) in before.items():
        for i in ids:
            count[i] = count.get(i, 0) + 1
    victim = max(sorted(count), key=lambda i: count[i])
    held = {k for k, (ids, _) in before.items() if victim in ids and k[0] != victim}
    log("N=%s: killing %s, holder of %d streams" % (c.replicas, victim, len(held)))
    t0 = time.monotonic()
    c.kill(victim)
    moved_at = [None]

    def placed_away():
        m = c.holders()
        if m is not None and all(victim not in m[k][0] for k in held if k in m):
            moved_at[0] = moved_at[0] or time.monotonic()
        return moved_at[0] is not None and c.settled(exclude=victim)
    after = wait_until(placed_away, 120, "%s's streams whole on new holders" % victim, poll=0.1)
    t1 = time.monotonic()
    changed = {k for k in after if k[0] != victim and after[k][0] != before[k][0]}
    bytes_moved = sum(os.path.getsize(c.bolt_file(o, int(b.split("-")[1]) - 1)) for o, b in held)
    r = {"victim": victim, "streams": len(before), "held": len(held), "changed": len(changed),
         "collateral": len(changed - held), "bytes": bytes_moved, "from_kill_s": t1 - t0,
         "from_move_s": t1 - moved_at[0], "moved_after_s": moved_at[0] - t0}
    log("N=%s: %d streams re-placed (%d others moved), %.1f MB; whole %.2f s after the kill, %.2f s after the "
        "placement moved" % (c.replicas, r["held"], r["collateral"], bytes_moved / 1e6, r["from_kill_s"], r["from_move_s"]))
    t2 = time.monotonic()
    c.start(victim)

    def placed_back():
        m = c.settled()
        return m if m and all(victim in m[k][0] for k in held) else None
    back = wait_until(placed_back, 120, "%s back, its streams placed on it again and whole" % victim, poll=0.1)
    r["back_s"] = time.monotonic() - t2
    r["back_changed"] = len({k for k in back if k in after and back[k][0] != after[k][0]})
    log("N=%s: %s back: %d streams moved back, whole again after %.2f s" % (c.replicas, victim, r["back_changed"], r["back_s"]))
    return r


def run(net, replicas):
    log("N=%s: %d agents, %d bolts each, %.0f KiB in each file to start" % (replicas, HOSTS, BOLTS, PREFILL_KIB))
    c = Cluster(net, replicas)
    try:
        c.start_coordinator()
        for h in c.hosts:
            c.start(h)
        t = time.monotonic()
        placed = wait_until(c.settled, 300, "every stream placed and whole", poll=0.5)
        log("N=%s: every stream placed and whole after %.1f s" % (replicas, time.monotonic() - t))
        r = {"replicas": replicas, "start_s": time.monotonic() - t, "steady": steady(c)}
        s = r["steady"]
        log("N=%s: %.2f MB written by origins; per host mean sent %.2f MB, written %.2f MB, CPU %.2f s"
            % (replicas, s["origin_bytes"] / 1e6, mean(s, "sent") / 1e6, mean(s, "written") / 1e6, mean(s, "cpu")))
        if replicas != "all":
            r["rereplication"] = rereplicate(c, c.settled() or placed)
        return r
    finally:
        c.stop()


def caught(s):
    return "%.1f" % s["caught_up_s"] if s["caught_up_s"] is not None else "not within %.0f" % CATCHUP_S


def mean(s, key):
    return sum(h[key] for h in s["hosts"]) / len(s["hosts"])


def peak(s, key):
    return max(h[key] for h in s["hosts"])


def n_of(r):
    return HOSTS - 1 if r["replicas"] == "all" else int(r["replicas"])


def report(results):
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, stdout=subprocess.PIPE).stdout.decode().strip()
    out = ["# bench/scale: %d agents in network namespaces, each stream on N peers" % HOSTS, "",
           "Commit %s; %s; %s. %d agents, %d bolts each, every host's bolts writing %.0f KB/s in all in 200-byte "
           "writes for %.0f s (%.2f MB/s over the cluster); host_timeout_ms %d, replica_grace_ms %d; per host over "
           "the %.0f s and the catch-up after it (until every stream is acknowledged whole): bytes on its veth "
           "(sent, received: frames, encryption, acknowledgements, heartbeats and TCP/IP headers included), "
           "replica bytes written, the agent's CPU." % (rev, machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), HOSTS, BOLTS,
                             HOST_KBPS, SECONDS, HOSTS * HOST_KBPS / 1000.0, HOST_TIMEOUT_MS, GRACE_MS, SECONDS), ""]
    out += ["| N | origin MB | caught up after the writes s | sent MB/host mean / max | received MB/host mean / max | "
            "written MB/host mean / max | sent / origin byte | CPU s/host mean / max | coordinator CPU s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        s = r["steady"]
        ob = s["origin_bytes"] / HOSTS
        out.append("| %s | %.2f | %s | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f / %.2f | %.2f |" % (
            r["replicas"], s["origin_bytes"] / 1e6, caught(s), mean(s, "sent") / 1e6, peak(s, "sent") / 1e6,
            mean(s, "received") / 1e6, peak(s, "received") / 1e6, mean(s, "written") / 1e6, peak(s, "written") / 1e6,
            mean(s, "sent") / ob, mean(s, "cpu"), peak(s, "cpu"), s["coordinator_cpu"]))
    out += ["", "A holder SIGKILLed (the one holding the most streams), then started again:", "",
            "| N | streams | held by the dead agent | others moved | MB re-sent | whole after the kill s | "
            "of which placement waiting s | whole after the move s | moved back on return | whole again after return s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        x = r.get("rereplication")
        if not x:
            out.append("| %s | %d | - | - | - | - | - | - | - | - |" % (r["replicas"], HOSTS * BOLTS))
            continue
        out.append("| %s | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %d | %.2f |" % (
            r["replicas"], x["streams"], x["held"], x["collateral"], x["bytes"] / 1e6, x["from_kill_s"],
            x["moved_after_s"], x["from_move_s"], x["back_changed"], x["back_s"]))
    return "\n".join(out) + "\n"


def plot(results):
    tsv = os.path.join(HERE, "last-run.tsv")
    with open(tsv, "w") as f:
        f.write("# N\tsent_MB_per_host\twritten_MB_per_host\tcpu_s_per_host\n")
        for r in results:
            s = r["steady"]
            f.write("%d\t%.3f\t%.3f\t%.3f\n" % (n_of(r), mean(s, "sent") / 1e6, mean(s, "written") / 1e6, mean(s, "cpu")))
    script = """set terminal pngcairo size 1000,500 font "sans,10"
set output "%s"
set multiplot layout 1,2 title "bench/scale: %d agents, each stream on N peers (%s)"
set xlabel "N, peers holding each stream (31: every peer)"
set logscale x 2
set grid
set key top left
set ylabel "MB per host over the run"
plot "%s" using 1:2 with linespoints pt 7 title "sent", "" using 1:3 with linespoints pt 5 title "replica bytes written"
set ylabel "agent CPU s per host over the run"
plot "%s" using 1:4 with linespoints pt 7 title "CPU"
unset multiplot
""" % (os.path.join(HERE, "scale.png"), HOSTS, time.strftime("%Y-%m-%d"), tsv, tsv)
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def main():
    if not BIN:
        sys.exit("set TAILSAFE_BIN_DIR to the absolute path of build/")
    if os.geteuid() != 0:
        sys.exit("bench/scale needs root (network namespaces)")
    hosts = ["h%d" % (i + 1) for i in range(HOSTS)]
    net = Network(hosts)
    try:
        results = [run(net, n) for n in REPLICAS]
    finally:
        net.close()
    text = report(results)
    sys.stdout.write(text)
    with open(os.path.join(HERE, "last-run.md"), "w") as f:
        f.write(text)
    plot(results)


if __name__ == "__main__":
    main()
