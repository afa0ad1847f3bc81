#!/usr/bin/env python3
"""bench/weblog: requests per second through weblog-spout and three weblog-bolts, with tailsafe
running and without it, and the overhead ratio.

Workload: weblog-gen writes BENCH_REQUESTS (1,000,000) requests once. Each run starts three
weblog-bolts (no rate limit; --commit-ms 100; one results database), then weblog-spout with no
rate limit; a run ends when the spout has exited (every request acknowledged, so in a backup
file) and every bolt's checkpoint equals its backup file's size (every request analysed and
committed). Requests per second = requests / (end - spout start).

"off": only the application. "on": the same, plus tailsafe-coordinator and three agents, each
replicating its host's backup file to the two others (zstd, durable acks), tracking the bolt's
pid file and checkpoint, with weblog-analyze as the hook. All on one machine: the agents share
the CPUs and the disk with the application, which is the overhead being measured.

Runs alternate (off, on, on, off, ...) BENCH_ROUNDS times each (3); the medians give the
overhead. Every run's results database is checked against the input (weblog-analyze compare).
CPU seconds are utime+stime from /proc/PID/stat just before each process is stopped.

Prints the report (markdown) and writes it to bench/weblog/last-run.md. Exit 1 on any failure.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import cluster_key, free_port, log, machine, wait_until  # noqa: E402

BIN = os.environ.get("TAILSAFE_BIN_DIR", "")
DATA = os.environ.get("BENCH_DIR", "/var/tmp/tailsafe-bench-weblog")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
HOSTS = ["h1", "h2", "h3"]
TICKS = os.sysconf("SC_CLK_TCK")





def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


class Run:
    def __init__(self, mode, n):
        self.mode = mode
        self.dir = os.path.join(DATA, "%s-%d" % (mode, n))
        os.makedirs(self.dir)
        self.db = os.path.join(self.dir, "results.db")
        self.procs = {}  # name -> Popen
        self.cpu = {}    # name -> seconds

    def path(self, host, name):
        return os.path.join(self.dir, host, name)

    def spawn(self, name, argv):
        out = open(os.path.join(self.dir, name + ".log"), "a")
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name)
        self.cpu[name] = cpu_seconds(p.pid)
        p.send_signal(sig)
        if p.wait(timeout=60) != 0 and sig == signal.SIGTERM:
            raise RuntimeError("%s exited %d; see %s" % (name, p.returncode, os.path.join(self.dir, name + ".log")))

    def start_tailsafe(self):
        coord = "127.0.0.1:%d" % free_port()
        key = cluster_key(self.dir)
        with open(os.path.join(self.dir, "coordinator.toml"), "w") as f:
            f.write('[cluster]\nname = "bench"\nkey_file = "%s"\n\n[coordinator]\nlisten = "%s"\nstate_dir = "%s/coordinator"\n'
                    % (key, coord, self.dir))
        self.spawn("coordinator", [BIN + "/tailsafe-coordinator", "-c", os.path.join(self.dir, "coordinator.toml")])
        for h in HOSTS:
            with open(self.path(h, "tailsafe.conf"), "w") as f:
                f.write('[cluster]\nname = "bench"\nkey_file = "%s"\ncoordinator = "%s"\n\n[agent]\nid = "%s"\nlisten = "127.0.0.1:%d"\n'
                        'data_dir = "%s"\n\n[hooks]\nweblog = ["%s/weblog-analyze", "--db", "%s"]\n\n'
                        '[[bolt]]\nname = "bolt"\nfile = "%s"\npid_file = "%s"\ncheckpoint_file = "%s"\nhook = "weblog"\n'
                        % (key, coord, h, free_port(), self.path(h, "data"), BIN, self.db, self.path(h, "bolt.log"),
                           self.path(h, "bolt.pid"), self.path(h, "bolt.ckpt")))
            self.spawn("agent-" + h, [BIN + "/tailsafe-agent", "-c", self.path(h, "tailsafe.conf")])

        def registered():
            r = subprocess.run([BIN + "/tailsafectl", "--key-file", key, "ls", "/agents", "--coordinator", coord],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            return r.returncode == 0 and len(r.stdout.split()) == 3
        wait_until(registered, 20, "three agents to register")
        self.coord = coord

    def replicated(self):
        """Every byte of every bolt file durable on both peers (tailsafectl status of each origin)."""
        for h in HOSTS:
            r = subprocess.run([BIN + "/tailsafectl", "-c", self.path(h, "tailsafe.conf"), "status", "--local", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                return False
            d = json.loads(r.stdout)
            if any(p["lag_bytes"] for b in d["bolts"] for p in b["peers"]):
                return False
        return True

    def go(self, input_path):
        for h in HOSTS:
            os.makedirs(self.path(h, "data"))
        if self.mode == "on":
            self.start_tailsafe()
        for h in HOSTS:
            self.spawn("bolt-" + h, [BIN + "/weblog-bolt", "--name", h, "--listen", self.path(h, "bolt.sock"),
                                     "--backup", self.path(h, "bolt.log"), "--checkpoint", self.path(h, "bolt.ckpt"),
                                     "--pid-file", self.path(h, "bolt.pid"), "--db", self.db, "--quiet"])
        wait_until(lambda: all(os.path.exists(self.path(h, "bolt.sock")) for h in HOSTS), 20, "the bolts' sockets")
        start = time.monotonic()
        argv = [BIN + "/weblog-spout", "--quiet"]
        for h in HOSTS:
            argv += ["--bolt", self.path(h, "bolt.sock")]
        self.spawn("spout", argv + [input_path])
        spout = self.procs["spout"]
        while spout.poll() is None:
            self.cpu["spout"] = cpu_seconds(spout.pid)
            time.sleep(0.01)
        self.procs.pop("spout")
        if spout.returncode != 0:
            raise RuntimeError("weblog-spout exited %d" % spout.returncode)
        wait_until(lambda: all(size(self.path(h, "bolt.log")) == read_int(self.path(h, "bolt.ckpt")) for h in HOSTS),
                   600, "the bolts to analyse everything", poll=0.005)
        self.seconds = time.monotonic() - start
        self.catch_up = None
        if self.mode == "on":
            wait_until(self.replicated, 120, "the replicas to catch up", poll=0.05)
            self.catch_up = time.monotonic() - start - self.seconds
        for h in HOSTS:
            self.stop("bolt-" + h)
        for name in [n for n in self.procs if n.startswith("agent-")] + (["coordinator"] if self.mode == "on" else []):
            self.stop(name)
        cmp = subprocess.run([BIN + "/weblog-analyze", "compare", "--db", self.db, input_path], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        if cmp.returncode != 0:
            raise RuntimeError("the results differ from the input: " + cmp.stdout.decode()[:2000])
        self.backup_bytes = sum(size(self.path(h, "bolt.log")) for h in HOSTS)
        shutil.rmtree(self.dir)  # keep the disk's page cache and space the same for every run

    def kill_all(self):
        for p in self.procs.values():
            p.kill()
            p.wait()


def main():
    if not BIN:
        sys.exit("set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench-weblog does)")
    shutil.rmtree(DATA, ignore_errors=True)
    os.makedirs(DATA)
    input_path = os.path.join(DATA, "access.log")
    subprocess.run([BIN + "/weblog-gen", "-n", str(REQUESTS), "--minutes", "600", "-o", input_path], check=True)
    log("input: %d requests, %d bytes" % (REQUESTS, size(input_path)))
    order = []
    for r in range(ROUNDS):
        order += ["off", "on"] if r % 2 == 0 else ["on", "off"]
    runs = []
    try:
        for i, mode in enumerate(order):
            run = Run(mode, i)
            try:
                run.go(input_path)
            finally:
                run.kill_all()
            log("%s: %.0f requests/s (%.2f s)%s" % (mode, REQUESTS / run.seconds, run.seconds,
                                                   "" if run.catch_up is None else
                                                   "; replicas caught up %.2f s later" % run.catch_up))
            runs.append(run)
    except Exception as e:  # noqa: BLE001
        log("FAILED: %s" % e)
        sys.exit(1)

    def med(mode, f):
        return statistics.median(f(r) for r in runs if r.mode == mode)

    rate_off = med("off", lambda r: REQUESTS / r.seconds)
    rate_on = med("on", lambda r: REQUESTS / r.seconds)
    overhead = 1 - rate_on / rate_off
    per_m = 1e6 / REQUESTS
    lines = []
    lines.append("# bench/weblog: the weblog application with and without tailsafe")
    lines.append("")
    lines.append("- When: %s (the VM's clock), commit %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE).stdout.decode().strip()))
    lines.append("- Machine: " + machine())
    lines.append("- Workload: %d requests (%d bytes of vhost_combined lines, weblog-gen), 3 weblog-bolts, one "
                 "weblog-spout, no rate limits; %d runs of each mode, alternating" % (
                     REQUESTS, size(input_path), ROUNDS))
    lines.append("")
    lines.append("| Run | Mode | Seconds | Requests/s | CPU s: spout | CPU s: bolts | CPU s: agents + coordinator | "
                 "Replicas caught up (s after the end) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(runs):
        bolts = sum(v for k, v in r.cpu.items() if k.startswith("bolt-"))
        ts = sum(v for k, v in r.cpu.items() if k.startswith("agent-") or k == "coordinator")
        lines.append("| %d | %s | %.2f | %.0f | %.2f | %.2f | %s | %s |" % (
            i + 1, r.mode, r.seconds, REQUESTS / r.seconds, r.cpu.get("spout", 0), bolts,
            "%.2f" % ts if r.mode == "on" else "-", "%.2f" % r.catch_up if r.catch_up is not None else "-"))
    lines.append("")
    lines.append("Median requests/s: off %.0f, on %.0f. **Overhead: %.1f%%** (goal: under 10%%: %s)." % (
        rate_off, rate_on, 100 * overhead, "met" if overhead < 0.10 else "MISSED"))
    lines.append("CPU per million requests (medians): bolts %.2f s off, %.2f s on; tailsafe (agents and coordinator) "
                 "%.2f s." % (
                     per_m * med("off", lambda r: sum(v for k, v in r.cpu.items() if k.startswith("bolt-"))),
                     per_m * med("on", lambda r: sum(v for k, v in r.cpu.items() if k.startswith("bolt-"))),
                     per_m * med("on", lambda r: sum(v for k, v in r.cpu.items() if k.startswith("agent-") or
                                                     k == "coordinator"))))
    lines.append("Every run's results database equalled the analysis of the input (weblog-analyze compare).")
    report = "\n".join(lines) + "\n"
    sys.stdout.write(report)
    with open(os.path.join(HERE, "last-run.md"), "w") as f:
        f.write(report)
    shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
