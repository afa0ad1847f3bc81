#!/usr/bin/env python3
"""bench/failover: time from a bolt's death to its recovery hook's start on the elected agent.

Setup: tailsafe-coordinator and three agents (h1, h2, h3) on loopback, each with one bolt whose
process is `sleep` named by a pid file, a checkpoint file, and build/tests/ts-hook as the hook
(it notes CLOCK_REALTIME as its first act). host_timeout_ms = BENCH_HOST_TIMEOUT_MS (1000).

Bolt deaths (BENCH_BOLT_KILLS, 100): start h1's bolt, wait until the coordinator sees it running,
append 100 lines and a checkpoint after the first 50, wait until both peers hold every byte, then
SIGKILL the bolt. Measured: SIGKILL (CLOCK_REALTIME just before kill(2)) to the hook's first
instruction on the elected agent.

Host deaths (BENCH_HOST_KILLS, 100): the same, but h1's agent and bolt are SIGKILLed together; the
coordinator must first notice the silence (host_timeout_ms). h1 is restarted after each round.

Prints the report (markdown) on stdout and writes it to bench/failover/last-run.md. Exit 0 when
every death was recovered.
"""

import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import cluster_key, free_port, log, machine, wait_until  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts"))
import zk_ensemble  # noqa: E402

BIN = os.environ.get("TAILSAFE_BIN_DIR", "")
DATA = os.environ.get("BENCH_DIR", "/var/tmp/tailsafe-bench-failover")
BOLT_KILLS = int(os.environ.get("BENCH_BOLT_KILLS", "100"))
HOST_KILLS = int(os.environ.get("BENCH_HOST_KILLS", "100"))
HOST_TIMEOUT_MS = int(os.environ.get("BENCH_HOST_TIMEOUT_MS", "1000"))
LEADER_KILLS = int(os.environ.get("BENCH_LEADER_KILLS", "50"))
ZK_SESSION_MS = int(os.environ.get("BENCH_ZK_SESSION_MS", "6000"))





def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


class Cluster:
    """One coordinator on SQLite, or (with `zookeeper`, a connect string) three instances on
    ZooKeeper, each with a metrics port that says whether it leads; three agents."""

    def __init__(self, data, zookeeper=None):
        self.data = data
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        self.ids = ["h1", "h2", "h3"]
        self.ports = {i: free_port() for i in self.ids}
        self.instances = ["coordinator"] if not zookeeper else ["co1", "co2", "co3"]
        self.listen = {k: "127.0.0.1:%d" % free_port() for k in self.instances}
        self.metrics = {k: free_port() for k in self.instances}
        self.coord = self.listen[self.instances[0]]
        self.procs = {}
        self.key = cluster_key(data)
        for k in self.instances:
            with open(os.path.join(data, k + ".toml"), "w") as f:
                f.write('[cluster]\nname = "bench"\nkey_file = "%s"\n\n[coordinator]\nlisten = "%s"\nstate_dir = "%s/%s"\n'
                        'host_timeout_ms = %d\nmetrics_listen = "127.0.0.1:%d"\n'
                        % (self.key, self.listen[k], data, k, HOST_TIMEOUT_MS, self.metrics[k]))
                if zookeeper:
                    f.write('store = "zookeeper"\nzookeeper = "%s"\nzookeeper_root = "/tailsafe-bench/%d"\n'
                            'zookeeper_session_ms = %d\n' % (zookeeper, os.getpid(), ZK_SESSION_MS))
        coordinators = "[%s]" % ", ".join('"%s"' % self.listen[k] for k in self.instances)
        for i in self.ids:
            d = os.path.join(data, i)
            os.makedirs(d + "/spool")
            with open(self.config(i), "w") as f:
                f.write('[cluster]\nname = "bench"\nkey_file = "%s"\ncoordinator = %s\n\n[agent]\nid = "%s"\nlisten = "127.0.0.1:%d"\n'
                        'data_dir = "%s/data"\nreconnect_max_ms = 200\n\n[hooks]\nhook = ["%s/tests/ts-hook", "%s/hooks"]\n\n'
                        '[[bolt]]\nname = "bolt-1"\nfile = "%s/spool/bolt-1.log"\npid_file = "%s/spool/bolt-1.pid"\n'
                        'checkpoint_file = "%s/spool/bolt-1.ckpt"\nhook = "hook"\n'
                        % (self.key, coordinators, i, self.ports[i], d, BIN, d, d, d, d))

    def config(self, i):
        return os.path.join(self.data, i, "tailsafe.conf")

    def spool(self, i, name):
        return os.path.join(self.data, i, "spool", name)

    def start_coordinator(self, k=None):
        k = k or self.instances[0]
        log_file = open(os.path.join(self.data, k + ".log"), "a")
        self.procs[k] = subprocess.Popen(
            [BIN + "/tailsafe-coordinator", "-c", os.path.join(self.data, k + ".toml")], stdout=log_file,
            stderr=subprocess.STDOUT)
        wait_until(lambda: self.leading(k) is not None, 20, "coordinator " + k)

    def leading(self, k):
        """True or False from instance k's tailsafe_coordinator_leading gauge; None if it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics[k], timeout=1) as r:
                text = r.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("tailsafe_coordinator_leading "):
                return line.split()[1] == "1"
        return None

    def leader(self):
        leaders = [k for k in self.instances if self.leading(k)]
        return leaders[0] if len(leaders) == 1 else None

    def start_agent(self, i):
        log_file = open(os.path.join(self.data, i, "agent.log"), "a")
        self.procs[i] = subprocess.Popen([BIN + "/tailsafe-agent", "-c", self.config(i)], stdout=log_file,
                                         stderr=subprocess.STDOUT)
        wait_until(lambda: (self.get("/agents/" + i) or {}).get("connected"), 10, "agent " + i)

    def kill(self, name):
        p = self.procs.pop(name, None)
        if p:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def stop_all(self):
        for name in list(self.procs):
            p = self.procs.pop(name)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def ctl(self, *args):
        # The instances come from the configuration; tailsafectl follows redirects to the leader.
        r = subprocess.run([BIN + "/tailsafectl", "--config", self.config("h1")] + list(args) + ["--timeout-ms", "1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return r.stdout.decode() if r.returncode == 0 else None

    def get(self, path):
        out = self.ctl("get", path, "--json")
        return json.loads(out) if out else None

    def replica_size(self, holder, origin):
        files = sorted(glob.glob(os.path.join(self.data, holder, "data", "replicas", origin, "bolt-1", "*")))
        files = [f for f in files if not f.endswith(".tmp") and ".cut-" not in f]
        return os.path.getsize(files[-1]) if files else 0

    def hook_runs(self):
        runs = {}
        for path in glob.glob(os.path.join(self.data, "h*", "hooks", "r*.env")):
            env = {}
            with open(path) as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    env[k] = v
            runs[path] = env
        return runs


def prepare_round(c, n):
    """Starts h1's bolt and writes 100 lines with a checkpoint after 50, replicated and known;
    returns (the bolt process, the offset its tail starts at)."""
    bolt = subprocess.Popen(["/bin/sleep", "3600"])
    write_atomically(c.spool("h1", "bolt-1.pid"), "%d\n" % bolt.pid)
    wait_until(lambda: ((c.get("/bolts/h1/bolt-1") or {}).get("process") or {}).get("pid") == bolt.pid
               and c.get("/bolts/h1/bolt-1")["process"].get("state") == "running", 20, "the bolt to be seen running")
    log_path = c.spool("h1", "bolt-1.log")
    lines = "".join("GET /round/%d/line/%d HTTP/1.1 200 host-%d\n" % (n, k, k % 5) for k in range(100))
    half = len("".join("GET /round/%d/line/%d HTTP/1.1 200 host-%d\n" % (n, k, k % 5) for k in range(50)))
    start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    with open(log_path, "a") as f:
        f.write(lines)
    write_atomically(c.spool("h1", "bolt-1.ckpt"), "%d\n" % (start + half))
    end = start + len(lines)
    wait_until(lambda: c.replica_size("h2", "h1") >= end and c.replica_size("h3", "h1") >= end, 10,
               "the peers to hold every byte")
    # The checkpoint has reached the coordinator or a peer (a host death needs it there).
    wait_until(lambda: ((c.get("/bolts/h1/bolt-1") or {}).get("checkpoint") or {}).get("offset") == start + half,
               10, "the checkpoint to reach the coordinator")
    return bolt, start + half


def hook_start_ns(c, before, tail_from):
    """Waits for this round's hook run on h1's tail; returns its first instruction's CLOCK_REALTIME."""
    def new_run():
        for path, env in c.hook_runs().items():
            if path not in before and env.get("TAILSAFE_ORIGIN") == "h1" and env.get("TAILSAFE_FROM") == str(tail_from):
                return env
        return None
    return int(wait_until(new_run, 60, "the hook to run")["START_UNIX_NS"])


def one_death(c, n, host):
    """Starts h1's bolt, writes, kills (the bolt, or the whole host); returns ms to the hook."""
    bolt, tail_from = prepare_round(c, n)
    before = set(c.hook_runs())
    killed_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
    if host:
        c.procs["h1"].send_signal(signal.SIGKILL)
    bolt.send_signal(signal.SIGKILL)
    bolt.wait()
    if host:
        c.procs.pop("h1").wait()
    ms = (hook_start_ns(c, before, tail_from) - killed_ns) / 1e6
    if host:
        c.start_agent("h1")
    return ms


def leader_death(c, n):
    """SIGKILLs the leading coordinator and h1's bolt at the same moment; returns (ms until a
    follower leads, ms until the hook's first instruction). The dead instance is restarted after."""
    leader = wait_until(c.leader, 30, "one instance to lead")
    bolt, tail_from = prepare_round(c, n)
    before = set(c.hook_runs())
    others = [k for k in c.instances if k != leader]
    killed_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
    c.procs[leader].send_signal(signal.SIGKILL)
    bolt.send_signal(signal.SIGKILL)
    c.procs.pop(leader).wait()
    bolt.wait()

    def new_leader():
        for k in others:
            if c.leading(k):
                return time.clock_gettime_ns(time.CLOCK_REALTIME)
        return None
    led_ns = wait_until(new_leader, 60, "a follower to lead", poll=0.002)
    hook_ns = hook_start_ns(c, before, tail_from)
    c.start_coordinator(leader)
    return (led_ns - killed_ns) / 1e6, (hook_ns - killed_ns) / 1e6


def percentile(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    v = sorted(values)
    k = min(len(v) - 1, max(0, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def run_single(results):
    c = Cluster(DATA)
    try:
        c.start_coordinator()
        for i in c.ids:
            c.start_agent(i)
        for n in range(BOLT_KILLS):
            results["bolt"].append(one_death(c, n, False))
            if (n + 1) % 10 == 0:
                log("bolt deaths: %d/%d, last %.1f ms" % (n + 1, BOLT_KILLS, results["bolt"][-1]))
        for n in range(HOST_KILLS):
            results["host"].append(one_death(c, BOLT_KILLS + n, True))
            log("host deaths: %d/%d, last %.1f ms" % (n + 1, HOST_KILLS, results["host"][-1]))
    finally:
        c.stop_all()
    shutil.rmtree(DATA, ignore_errors=True)


def run_leader(results):
    why = zk_ensemble.missing()
    if why:
        log("leader deaths skipped: " + why)
        return
    data = DATA + "-ha"
    shutil.rmtree(data, ignore_errors=True)
    zk = zk_ensemble.Ensemble(data + "-zk")
    zk.start()
    try:
        if not zk.wait_serving():
            raise RuntimeError("the ZooKeeper ensemble does not serve; logs under %s-zk" % data)
        c = Cluster(data, zookeeper=zk.connect_string())
        try:
            for k in c.instances:
                c.start_coordinator(k)
            for i in c.ids:
                c.start_agent(i)
            for n in range(LEADER_KILLS):
                led, hook = leader_death(c, n)
                results["leader"].append(led)
                results["leader_bolt"].append(hook)
                log("leader deaths: %d/%d, last: led after %.1f ms, hook after %.1f ms" % (n + 1, LEADER_KILLS, led, hook))
        finally:
            c.stop_all()
    finally:
        zk.stop()
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(data + "-zk", ignore_errors=True)


def main():
    if not BIN:
        sys.exit("set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench-failover does)")
    results = {"bolt": [], "host": [], "leader": [], "leader_bolt": []}
    if BOLT_KILLS or HOST_KILLS:
        run_single(results)
    if LEADER_KILLS:
        run_leader(results)
    rows = []
    session_goal = "p99 < zookeeper_session_ms + 1000 = %d ms" % (ZK_SESSION_MS + 1000)
    kinds = (("bolt", "bolt process SIGKILL", "p50 < 10 ms, p99 < 50 ms"),
             ("host", "whole host SIGKILL (agent + bolt)", "p99 < host_timeout_ms + 200 = %d ms" % (HOST_TIMEOUT_MS + 200)),
             ("leader", "leader coordinator SIGKILL, to a follower leading", session_goal),
             ("leader_bolt", "leader coordinator and a bolt SIGKILLed at once, to the hook's start", session_goal))
    for kind, label, goal in kinds:
        v = results[kind]
        if not v:
            continue
        rows.append("| %s | %d | %.1f | %.1f | %.1f | %s |" % (label, len(v), percentile(v, 50), percentile(v, 99), max(v), goal))
    report = "\n".join([
        "## bench/failover: death to hook start",
        "",
        "Machine: %s. host_timeout_ms = %d; leader deaths: 3 coordinators on a 3-member ZooKeeper ensemble, "
        "zookeeper_session_ms = %d. Run: `make bench-failover`." % (machine(), HOST_TIMEOUT_MS, ZK_SESSION_MS),
        "",
        "| death | n | p50 ms | p99 ms | max ms | goal |",
        "|---|---:|---:|---:|---:|---|",
    ] + rows) + "\n"
    sys.stdout.write(report)
    with open(os.path.join(HERE, "last-run.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
