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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import cluster_key, free_port, log, machine, wait_until  # noqa: E402

BIN = os.environ.get("TAILSAFE_BIN_DIR", "")
DATA = os.environ.get("BENCH_DIR", "/var/tmp/tailsafe-bench-failover")
BOLT_KILLS = int(os.environ.get("BENCH_BOLT_KILLS", "100"))
HOST_KILLS = int(os.environ.get("BENCH_HOST_KILLS", "100"))
HOST_TIMEOUT_MS = int(os.environ.get("BENCH_HOST_TIMEOUT_MS", "1000"))





def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


class Cluster:
    def __init__(self):
        shutil.rmtree(DATA, ignore_errors=True)
        os.makedirs(DATA)
        self.ids = ["h1", "h2", "h3"]
        self.ports = {i: free_port() for i in self.ids}
        self.coord_port = free_port()
        self.coord = "127.0.0.1:%d" % self.coord_port
        self.procs = {}
        self.key = cluster_key(DATA)
        with open(os.path.join(DATA, "coordinator.toml"), "w") as f:
            f.write('[cluster]\nname = "bench"\nkey_file = "%s"\n\n[coordinator]\nlisten = "%s"\nstate_dir = "%s/coordinator"\n'
                    "host_timeout_ms = %d\n" % (self.key, self.coord, DATA, HOST_TIMEOUT_MS))
        for i in self.ids:
            d = os.path.join(DATA, i)
            os.makedirs(d + "/spool")
            with open(self.config(i), "w") as f:
                f.write('[cluster]\nname = "bench"\nkey_file = "%s"\ncoordinator = "%s"\n\n[agent]\nid = "%s"\nlisten = "127.0.0.1:%d"\n'
                        'data_dir = "%s/data"\nreconnect_max_ms = 200\n\n[hooks]\nhook = ["%s/tests/ts-hook", "%s/hooks"]\n\n'
                        '[[bolt]]\nname = "bolt-1"\nfile = "%s/spool/bolt-1.log"\npid_file = "%s/spool/bolt-1.pid"\n'
                        'checkpoint_file = "%s/spool/bolt-1.ckpt"\nhook = "hook"\n'
                        % (self.key, self.coord, i, self.ports[i], d, BIN, d, d, d, d))

    def config(self, i):
        return os.path.join(DATA, i, "tailsafe.conf")

    def spool(self, i, name):
        return os.path.join(DATA, i, "spool", name)

    def start_coordinator(self):
        log_file = open(os.path.join(DATA, "coordinator.log"), "a")
        self.procs["coordinator"] = subprocess.Popen(
            [BIN + "/tailsafe-coordinator", "-c", os.path.join(DATA, "coordinator.toml")], stdout=log_file,
            stderr=subprocess.STDOUT)
        wait_until(lambda: self.ctl("ls", "/") is not None, 10, "the coordinator")

    def start_agent(self, i):
        log_file = open(os.path.join(DATA, i, "agent.log"), "a")
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
        r = subprocess.run([BIN + "/tailsafectl", "--config", self.config("h1")] + list(args) +
                           ["--coordinator", self.coord, "--timeout-ms", "1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return r.stdout.decode() if r.returncode == 0 else None

    def get(self, path):
        out = self.ctl("get", path, "--json")
        return json.loads(out) if out else None

    def replica_size(self, holder, origin):
        files = sorted(glob.glob(os.path.join(DATA, holder, "data", "replicas", origin, "bolt-1", "*")))
        files = [f for f in files if not f.endswith(".tmp") and ".cut-" not in f]
        return os.path.getsize(files[-1]) if files else 0

    def hook_runs(self):
        runs = {}
        for path in glob.glob(os.path.join(DATA, "h*", "hooks", "r*.env")):
            env = {}
            with open(path) as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    env[k] = v
            runs[path] = env
        return runs


def one_death(c, n, host):
    """Starts h1's bolt, writes, kills (the bolt, or the whole host); returns ms to the hook."""
    bolt = subprocess.Popen(["/bin/sleep", "3600"])
    write_atomically(c.spool("h1", "bolt-1.pid"), "%d\n" % bolt.pid)
    wait_until(lambda: ((c.get("/bolts/h1/bolt-1") or {}).get("process") or {}).get("pid") == bolt.pid
               and c.get("/bolts/h1/bolt-1")["process"].get("state") == "running", 10, "the bolt to be seen running")
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
    before = set(c.hook_runs())
    killed_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
    if host:
        c.procs["h1"].send_signal(signal.SIGKILL)
    bolt.send_signal(signal.SIGKILL)
    bolt.wait()
    if host:
        c.procs.pop("h1").wait()

    def new_run():
        for path, env in c.hook_runs().items():
            if path not in before and env.get("TAILSAFE_ORIGIN") == "h1" and env.get("TAILSAFE_FROM") == str(start + half):
                return env
        return None
    env = wait_until(new_run, 30, "the hook to run")
    ms = (int(env["START_UNIX_NS"]) - killed_ns) / 1e6
    if host:
        c.start_agent("h1")
    return ms


def percentile(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    v = sorted(values)
    k = min(len(v) - 1, max(0, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def main():
    if not BIN:
        sys.exit("set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench-failover does)")
    c = Cluster()
    results = {"bolt": [], "host": []}
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
    rows = []
    goals = {"bolt": "p50 < 10 ms, p99 < 50 ms", "host": "p99 < host_timeout_ms + 200 = %d ms" % (HOST_TIMEOUT_MS + 200)}
    for kind, label in (("bolt", "bolt process SIGKILL"), ("host", "whole host SIGKILL (agent + bolt)")):
        v = results[kind]
        if not v:
            continue
        rows.append("| %s | %d | %.1f | %.1f | %.1f | %s |" % (label, len(v), percentile(v, 50), percentile(v, 99), max(v),
                                                             goals[kind]))
    report = "\n".join([
        "## bench/failover: death to hook start",
        "",
        "Machine: %s. host_timeout_ms = %d. Run: `make bench-failover`." % (machine(), HOST_TIMEOUT_MS),
        "",
        "| death | n | p50 ms | p99 ms | max ms | goal |",
        "|---|---:|---:|---:|---:|---|",
    ] + rows) + "\n"
    sys.stdout.write(report)
    with open(os.path.join(HERE, "last-run.md"), "w") as f:
        f.write(report)
    shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
