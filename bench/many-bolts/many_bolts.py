#!/usr/bin/env python3
"""bench/many-bolts: an agent with 1 bolt and with 1,000 (issue 23): its memory, its descriptors,
and how fast it sees a bolt die, measured in the same run.

Setup, for each size in BENCH_SIZES (1,1000): three agents on loopback, h1 the origin with that
many bolts, h2 and h3 peers with none (they keep h1's replicas). Each bolt is its own file
(BENCH_FILE_KIB of log lines, 16), a pid file naming a `sleep` process, and a checkpoint file.
Every agent starts with a soft open-files limit of 1024 (as systemd starts services; the agent
raises it itself). h1 starts after its peers.

Measured: h1's start (exec to its control socket answering), the time until both peers hold
every file byte for byte and until h1 counts every file acknowledged by both (the deaths are
timed after that: a death during the catch-up waits behind it, up to ~130 ms with 1,000 bolts on
this VM), then VmRSS and VmHWM (/proc/PID/status) and the descriptors
(/proc/PID/fd) of each agent and h1's inotify instances; then BENCH_KILLS (50) bolts are
SIGKILLed one at a time, spread over the bolts: death detection is the time from just before
kill(2) to h1's "process N exited" line arriving on the pipe from its stderr (a thread reads it
and stamps each line on arrival, so the figure includes one pipe wake-up).

Then, unless BENCH_RATE_SECONDS is 0, every bolt writes (issue 24): BENCH_RATE_MBPS (5) in all for
BENCH_RATE_SECONDS (20), in writes of BENCH_WRITE_BYTES (200) spread over the bolts in turn
(build/bench/spread_writer), and the three agents' CPU from the first write until h1 counts every
byte acknowledged gives CPU per GB, against the one-bolt run of the same invocation.

Prints the report (markdown) on stdout and writes it to bench/many-bolts/last-run.md. Exit 0 when
every file was replicated and every death seen.
"""

import filecmp
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import agent_status, cluster_key, cpu_s, free_port, log, machine, machine_busy_s, wait_until  # noqa: E402

BIN = os.environ.get("TAILSAFE_BIN_DIR", "")
DATA = os.environ.get("BENCH_DIR", "/var/tmp/tailsafe-bench-many-bolts")
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1,1000").split(",")]
FILE_KIB = int(os.environ.get("BENCH_FILE_KIB", "16"))
KILLS = int(os.environ.get("BENCH_KILLS", "50"))
# The CPU stage (issue 24): every bolt writing, RATE_MBPS in all for RATE_S seconds, in writes of
# WRITE_BYTES (one access-log line as it comes); 0 seconds skips it.
RATE_MBPS = float(os.environ.get("BENCH_RATE_MBPS", "5"))
RATE_S = float(os.environ.get("BENCH_RATE_SECONDS", "20"))
WRITE_BYTES = int(os.environ.get("BENCH_WRITE_BYTES", "200"))
LINGER_MS = int(os.environ.get("BENCH_LINGER_MS", "0"))  # the agents' linger_ms (0: the default, unset)
SYNCFS_FILES = os.environ.get("BENCH_SYNCFS_FILES", "")  # the agents' commit_syncfs_files ("": the default, unset)
IDS = ["h1", "h2", "h3"]


def soft_nofile_1024():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


class LineStamps(threading.Thread):
    """Reads an agent's stderr, copies it to a log file, and stamps every line on arrival."""

    def __init__(self, pipe, path):
        super().__init__(daemon=True)
        self.pipe, self.out = pipe, open(path, "wb")
        self.lock = threading.Lock()
        self.exited = {}  # pid -> time.monotonic() of its "process PID exited" line
        self.tracked = set()  # pids h1 said it tracks
        self.lines = []   # (time, line) of the first lines, for the start-up notes

    def run(self):
        exited = re.compile(rb": process (\d+) exited")
        tracking = re.compile(rb": tracking process (\d+)")
        for line in self.pipe:
            now = time.monotonic()
            self.out.write(line)
            m, t = exited.search(line), tracking.search(line)
            with self.lock:
                if m:
                    self.exited.setdefault(int(m.group(1)), now)
                if t:
                    self.tracked.add(int(t.group(1)))
                if len(self.lines) < 50:
                    self.lines.append((now, line.decode(errors="replace").rstrip()))
        self.out.close()

    def exited_at(self, pid):
        with self.lock:
            return self.exited.get(pid)


class Cluster:
    def __init__(self, data, bolts):
        self.data, self.bolts = data, bolts
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        self.key = cluster_key(data)
        self.ports = {i: free_port() for i in IDS}
        self.procs, self.stamps, self.sleepers = {}, {}, []
        for i in IDS:
            os.makedirs(os.path.join(data, i, "spool"))
            peers = ", ".join('"%s@127.0.0.1:%d"' % (j, self.ports[j]) for j in IDS if j != i)
            text = ('[cluster]\nname = "bench"\nkey_file = "%s"\n\n[agent]\nid = "%s"\nlisten = "127.0.0.1:%d"\n'
                    'data_dir = "%s/data"\npeers = [%s]\nreconnect_max_ms = 200\n'
                    % (self.key, i, self.ports[i], self.dir(i), peers))
            if LINGER_MS:
                text += "linger_ms = %d\n" % LINGER_MS
            if SYNCFS_FILES:
                text += "commit_syncfs_files = %d\n" % int(SYNCFS_FILES)
            for b in range(bolts if i == "h1" else 0):
                text += ('\n[[bolt]]\nname = "%s"\nfile = "%s"\npid_file = "%s"\ncheckpoint_file = "%s"\n'
                         % (self.bolt(b), self.spool(b, "log"), self.spool(b, "pid"), self.spool(b, "ckpt")))
            with open(os.path.join(self.dir(i), "tailsafe.conf"), "w") as f:
                f.write(text)

    def dir(self, i):
        return os.path.join(self.data, i)

    @staticmethod
    def bolt(b):
        return "bolt-%d" % (b + 1)

    def spool(self, b, ext):
        return os.path.join(self.dir("h1"), "spool", "%s.%s" % (self.bolt(b), ext))

    def replica(self, holder, b):
        return os.path.join(self.dir(holder), "data", "replicas", "h1", self.bolt(b), "%020d" % 1)

    def make_bolts(self):
        line = "192.0.2.%d - - [01/Jan/2025:00:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 %d\n"
        for b in range(self.bolts):
            p = subprocess.Popen(["sleep", "86400"])
            self.sleepers.append(p)
            with open(self.spool(b, "pid") + ".tmp", "w") as f:
                f.write("%d\n" % p.pid)
            os.rename(self.spool(b, "pid") + ".tmp", self.spool(b, "pid"))
            with open(self.spool(b, "log"), "w") as f:
                n, k = 0, 0
                while n < FILE_KIB * 1024:
                    s = line % (b % 250, k)
                    f.write(s)
                    n, k = n + len(s), k + 1
            with open(self.spool(b, "ckpt"), "w") as f:
                f.write("0\n")

    def start(self, i):
        p = subprocess.Popen([BIN + "/tailsafe-agent", "-c", os.path.join(self.dir(i), "tailsafe.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=soft_nofile_1024)
        self.procs[i] = p
        self.stamps[i] = LineStamps(p.stderr, os.path.join(self.dir(i), "agent.log"))
        self.stamps[i].start()
        sock = os.path.join(self.dir(i), "data", "agent.sock")

        def answers():
            if p.poll() is not None:
                raise RuntimeError("agent %s exited with %d; see %s/agent.log" % (i, p.returncode, self.dir(i)))
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sock)
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_until(answers, 120, "agent %s's control socket" % i, poll=0.005)

    def status(self, i):
        """Agent i's status document (the control socket's "status" request)."""
        return agent_status(os.path.join(self.dir(i), "data"))

    def acknowledged(self):
        """Whether h1 counts every file acknowledged (durable) by both peers."""
        bolts = self.status("h1")["bolts"]
        for b in range(self.bolts):
            size = os.path.getsize(self.spool(b, "log"))
            peers = bolts[b]["peers"]
            if len(peers) != 2 or any(p["acked"] != size for p in peers):
                return False
        return True

    def replicated(self):
        for b in range(self.bolts):
            size = os.path.getsize(self.spool(b, "log"))
            for h in ("h2", "h3"):
                try:
                    if os.path.getsize(self.replica(h, b)) != size:
                        return False
                except OSError:
                    return False
        return True

    def stop(self):
        for i, p in self.procs.items():
            p.send_signal(signal.SIGTERM)
        for i, p in self.procs.items():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for p in self.sleepers:
            if p.poll() is None:
                p.kill()
                p.wait()


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0  # MiB
    fds = os.listdir("/proc/%d/fd" % pid)
    out["fds"] = len(fds)
    out["inotify"] = 0
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:inotify":
                out["inotify"] += 1
        except OSError:
            pass
    return out




def rate_stage(c, n):
    """Every bolt appending, RATE_MBPS in all, until both peers acknowledged every byte: the agents' CPU
    per GB written (from /proc/PID/stat, before and after)."""
    log("%d bolts: writing %.1f MB/s in all for %.0f s, %d bytes a write" % (n, RATE_MBPS, RATE_S, WRITE_BYTES))
    before = {i: cpu_s(c.procs[i].pid) for i in IDS}
    machine_before = machine_busy_s()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [BIN + "/bench/spread_writer", "--prefix", os.path.join(c.dir("h1"), "spool", "bolt-"), "--files", str(n),
           "--rate", str(RATE_MBPS), "--seconds", str(RATE_S), "--write-size", str(WRITE_BYTES)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RATE_S * 3 + 60)
    if p.returncode != 0:
        raise RuntimeError("spread_writer exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace").strip()))
    w = json.loads(p.stdout)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the writer is the one child reaped meanwhile
    writer_s = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    t = time.monotonic()
    wait_until(c.acknowledged, 600, "h1 counting every byte acknowledged", poll=0.5)
    each = {i: cpu_s(c.procs[i].pid) - before[i] for i in IDS}
    machine_s = machine_busy_s() - machine_before
    gb = w["total_bytes"] / 1e9
    out = {"writer": w, "acked_after_s": time.monotonic() - t, "cpu_each": each,
           "cpu_s_per_gb": sum(each.values()) / gb, "machine_s_per_gb": machine_s / gb, "writer_s": writer_s,
           "other_s": machine_s - sum(each.values()) - writer_s}
    log("%d bolts: %.2f MB/s written (%d writes), acknowledged %.2f s after the last; %.1f CPU s/GB "
        "(h1 %.2f s, h2 %.2f s, h3 %.2f s); the machine's %.1f CPU s/GB (writer %.2f s, the rest %.2f s)" % (
            n, w["mbps"], w["writes"], out["acked_after_s"], out["cpu_s_per_gb"], each["h1"], each["h2"], each["h3"],
            out["machine_s_per_gb"], writer_s, out["other_s"]))
    return out


def run_size(n):
    log("%d bolts: setting up" % n)
    c = Cluster(os.path.join(DATA, "n%d" % n), n)
    r = {"bolts": n}
    try:
        c.make_bolts()
        c.start("h2")
        c.start("h3")
        t0 = time.monotonic()
        c.start("h1")
        r["start_s"] = time.monotonic() - t0
        wait_until(c.replicated, 600, "every file on both peers", poll=0.05)
        r["replicated_s"] = time.monotonic() - t0
        wait_until(c.acknowledged, 600, "h1 counting every file acknowledged", poll=0.05)
        r["acked_s"] = time.monotonic() - t0
        for b in range(n):
            for h in ("h2", "h3"):
                if not filecmp.cmp(c.spool(b, "log"), c.replica(h, b), shallow=False):
                    raise RuntimeError("%s's replica of %s differs from the file" % (h, c.bolt(b)))
        log("%d bolts: h1 ready in %.2f s, every file on both peers after %.2f s, acknowledged after %.2f s"
            % (n, r["start_s"], r["replicated_s"], r["acked_s"]))
        for i in IDS:
            r[i] = proc_status(c.procs[i].pid)
        with c.stamps["h1"].lock:
            r["notes"] = [l for _, l in c.stamps["h1"].lines if "open files" in l or "inotify" in l]
        if RATE_S > 0:
            r["rate"] = rate_stage(c, n)
        victims = sorted({(k * n) // KILLS for k in range(KILLS)}) if n > 1 else [0] * KILLS
        lat = []
        for b in victims:
            if n == 1 and c.sleepers[0].poll() is not None:  # one bolt: start it again, and wait until tracked
                p = subprocess.Popen(["sleep", "86400"])
                c.sleepers[0] = p
                with open(c.spool(0, "pid") + ".tmp", "w") as f:
                    f.write("%d\n" % p.pid)
                os.rename(c.spool(0, "pid") + ".tmp", c.spool(0, "pid"))
                wait_until(lambda: tracked(c, p.pid), 10, "h1 tracking process %d" % p.pid)
            p = c.sleepers[b]
            t = time.monotonic()
            os.kill(p.pid, signal.SIGKILL)
            seen = wait_until(lambda: c.stamps["h1"].exited_at(p.pid), 10, "h1 seeing process %d exit" % p.pid,
                              poll=0.0005)
            p.wait()
            lat.append((seen - t) * 1000.0)
        r["death_ms"] = lat
        log("%d bolts: death detection p50 %.2f ms, max %.2f ms over %d deaths"
            % (n, statistics.median(lat), max(lat), len(lat)))
    finally:
        c.stop()
    return r


def tracked(c, pid):
    with c.stamps["h1"].lock:
        return pid in c.stamps["h1"].tracked


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def report(results):
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, stdout=subprocess.PIPE).stdout.decode().strip()
    out = ["# bench/many-bolts: one agent with 1 bolt and with 1,000", "",
           "Commit %s; %s; %s." % (rev, machine(), time.strftime("%Y-%m-%d")),
           "Each bolt: a %d KiB file, a pid file naming a `sleep`, a checkpoint file; two peers with no bolts of "
           "their own; every agent started with a soft open-files limit of 1024. Memory and descriptors after every "
           "file is on both peers and h1 counts it acknowledged; death detection, after that: SIGKILL to h1's "
           "\"process N exited\" line, over %d deaths."
           % (FILE_KIB, KILLS), "",
           "| bolts | h1 start s | all replicated s | all acked s | h1 VmRSS MiB | h1 VmHWM MiB | h1 fds | h1 inotify instances "
           "| peer VmRSS MiB (h2, h3) | peer fds (h2, h3) | death detection ms p50 / p90 / max |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        d = r["death_ms"]
        out.append("| %d | %.2f | %.2f | %.2f | %.1f | %.1f | %d | %d | %.1f, %.1f | %d, %d | %.2f / %.2f / %.2f |" % (
            r["bolts"], r["start_s"], r["replicated_s"], r["acked_s"], r["h1"]["VmRSS"], r["h1"]["VmHWM"], r["h1"]["fds"],
            r["h1"]["inotify"], r["h2"]["VmRSS"], r["h3"]["VmRSS"], r["h2"]["fds"], r["h3"]["fds"],
            statistics.median(d), pct(d, 90), max(d)))
    out.append("")
    rated = [r for r in results if "rate" in r]
    if rated:
        one = next((r["rate"]["cpu_s_per_gb"] for r in rated if r["bolts"] == 1), None)
        one_m = next((r["rate"]["machine_s_per_gb"] for r in rated if r["bolts"] == 1), None)
        out += ["Every bolt writing: %.1f MB/s in all for %.0f s, in writes of %d bytes spread over the bolts in turn "
                "(`bench/tools/spread_writer.cc`); CPU of the three agents from /proc/PID/stat, from the first write "
                "until h1 counts every byte acknowledged by both peers; linger_ms %d, commit_syncfs_files %s. "
                "The machine's CPU is every "
                "core's busy time in /proc/stat over the same span: it adds the writer (its own CPU, from its "
                "rusage, includes queueing an inotify event per write) and the rest: the bench's polling and the "
                "kernel's own threads (the flusher threads that write what a syncfs asks for)."
                % (RATE_MBPS, RATE_S, WRITE_BYTES, LINGER_MS, SYNCFS_FILES or "0 (the default)"), "",
                "| bolts | MB/s written | writes | acked after the last write s | CPU s h1 / h2 / h3 | CPU s/GB | "
                "CPU % of one core | against 1 bolt | machine CPU s/GB | machine against 1 bolt | writer CPU s | "
                "the rest CPU s |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rated:
            x = r["rate"]
            e = x["cpu_each"]
            out.append("| %d | %.2f | %d | %.2f | %.2f / %.2f / %.2f | %.1f | %.1f | %s | %.1f | %s | %.2f | %.2f |" % (
                r["bolts"], x["writer"]["mbps"], x["writer"]["writes"], x["acked_after_s"], e["h1"], e["h2"], e["h3"],
                x["cpu_s_per_gb"], x["cpu_s_per_gb"] * x["writer"]["mbps"] / 10.0,
                "%.2f" % (x["cpu_s_per_gb"] / one) if one else "-", x["machine_s_per_gb"],
                "%.2f" % (x["machine_s_per_gb"] / one_m) if one_m else "-", x["writer_s"], x["other_s"]))
        out.append("")
    for r in results:
        for note in r.get("notes", []):
            out.append("- %d bolt%s, h1's log: `%s`" % (r["bolts"], "" if r["bolts"] == 1 else "s", note))
    return "\n".join(out) + "\n"


def main():
    if not BIN:
        sys.exit("set TAILSAFE_BIN_DIR to the absolute path of build/")
    results = [run_size(n) for n in SIZES]
    text = report(results)
    sys.stdout.write(text)
    with open(os.path.join(HERE, "last-run.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
