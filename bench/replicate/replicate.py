#!/usr/bin/env python3
"""bench/replicate: replication benchmark, one origin to two replicas on one host.

Systems and phases (same access-log workload from build/bench/bench_writer everywhere):
  tailsafe           origin agent + two peer agents on loopback, zstd + XXH3, durable ACKs
                     (fdatasync on the peers): max throughput, 5, 10 and 100 MB/s
  tailsafe linger N  the same with linger_ms = N (the origin reads and ships a growing file at most
                     every N ms): N = 1, 2, 5, 10, 20 at 5 MB/s (the CPU/lag curve), N = 10 at 10 MB/s
  lsyncd as shipped  lsyncd + rsync, default settings (default.rsync: delay 15 s,
                     inotifyMode CloseWrite), two sync{} targets: 5 MB/s
  lsyncd fastest     inotifyMode = "Modify", delay = 0, rsync append = true: 5 and 10 MB/s
  tail|zstd|nc       tail -c +1 -F FILE | zstd -1 | tee >(nc R1) | nc R2, receivers
                     nc -l PORT | zstd -d > replica: 5, 10, 100 MB/s and max
  pipeline (durable) bench/pipeline/pipeline.cc: inotify, 64 KiB chunks, zstd -1, XXH3, TCP to two
                     receivers that append and fdatasync once per batch (group commit), the
                     reference issue 24 compares tailsafe with: 5, 10, 100 MB/s and max
  factors            the same pipeline with tailsafe's extras added one at a time (ACKs, the
                     fdatasync handed to a second thread, ChaCha20-Poly1305): 5 MB/s

Lag: tailsafe, from the peer agents' durable logs (append -> each peer's commit ended and its ACK
left, on both; BENCH_LAG_AT=origin: from the origin's ACK log, one hop later); the durable
pipeline, from its receivers' REPLICA.durable logs (each fdatasync's end, by the receiver's own
clock: no hop back, which tailsafe's ACKs make); the others,
append -> bytes visible in both target files (stat polled at 1 kHz by the writer; no
durability). CPU: ru_utime + ru_stime from wait4() of every process of the system under test
(which includes its reaped children, e.g. lsyncd's rsyncs), minus what they had used when the
writer started (/proc/PID/stat utime+stime+cutime+cstime). Peak RSS: VmHWM from /proc/PID/status
before the process is stopped; for lsyncd's short-lived rsync children, sampled every 20 ms.
See docs/performance.md.

Prints progress on stderr and the report (markdown) on stdout; the report is also written to
bench/replicate/last-run.md. Exit 0 when every phase ran and every replica matched its origin.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import cluster_key, machine  # noqa: E402

BIN = os.environ.get("TAILSAFE_BIN_DIR", "")
DATA = os.environ.get("BENCH_DIR", "/var/tmp/tailsafe-bench")
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "tailsafe,lsyncd,pipeline,durable,factors").split(",")))
# BENCH_PHASES: run only these phases (5, 10, 100, max, lines@5, linger-Nms@5 for each N in
# LINGER_SWEEP_MS, linger-10ms@10; the durable pipeline's of the same names), e.g. to profile one
# phase. Unset: all of them.
PHASES = set(filter(None, os.environ.get("BENCH_PHASES", "").split(",")))
# BENCH_LAG_AT: where tailsafe's lag ends. "peers" (default): when each peer's commit ended and
# its ACK left (the peers' durablelog), the moment the durable pipeline's receivers time too;
# "origin": when the origin received the ACK (its acklog), one network hop later.
LAG_AT = os.environ.get("BENCH_LAG_AT", "peers")
if LAG_AT not in ("peers", "origin"):
    sys.exit("bench/replicate: BENCH_LAG_AT must be peers or origin, not %r" % LAG_AT)
REPORT = os.environ.get("BENCH_REPORT", os.path.join(HERE, "last-run.md"))
JSON_OUT = os.environ.get("BENCH_JSON", "")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MARKER = ".tailsafe-bench"
T0 = time.monotonic()

GOAL_MBPS = 350.0
GOAL_P99_MS_AT_10 = 2.0
GOAL_CPU_PCT_AT_5 = 10.0

LINE_BYTES = 200         # the second write pattern: a bolt writing each 200-byte line as it comes
LINES_PHASE = "5 MB/s, 200-byte writes"
WRITE_MAX = 32768        # fixed-rate phases: RandomWriteSize(32 KiB), mean ~3.2 KB
WRITE_MAX_FAST = 1 << 20  # as-fast-as-possible phases: up to 1 MiB, so the writer is not the bottleneck
MAX_BYTES = 2_000_000_000

problems = []  # (phase, text): anything that went wrong


def log(msg):
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def problem(phase, text):
    problems.append((phase, text))
    log("PROBLEM in %s: %s" % (phase, text))


# ---------------------------------------------------------------------------------------------
# Processes


class Proc:
    """A child process whose CPU and peak RSS we account with wait4()."""

    def __init__(self, name, argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None, pass_fds=()):
        self.name = name
        self.argv = argv
        self.popen = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=pass_fds,
                                      close_fds=True)
        self.pid = self.popen.pid
        self.rusage = None
        self.exit_code = None
        self.killed = False

    @property
    def stdout(self):
        return self.popen.stdout

    def running(self):
        if self.rusage is not None:
            return False
        self._try_reap()
        return self.rusage is None

    def ticks(self):
        """utime+stime+cutime+cstime in clock ticks (0 once reaped)."""
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                s = f.read()
        except OSError:
            return 0
        fields = s[s.rindex(")") + 2:].split()
        return sum(int(x) for x in fields[11:15])  # fields 14..17 of proc(5)

    def hwm_kib(self):
        """Peak RSS of the process itself (VmHWM; 0 once reaped). Not wait4's ru_maxrss: that
        includes the parent's RSS at fork time (vfork+exec records the old mm's high water)."""
        return vm_kib(self.pid, "VmHWM:")

    def children(self):
        out = []
        try:
            for tid in os.listdir("/proc/%d/task" % self.pid):
                with open("/proc/%d/task/%s/children" % (self.pid, tid)) as f:
                    out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out

    def _try_reap(self, block=False):
        if self.rusage is not None:
            return True
        try:
            pid, status, ru = os.wait4(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped by subprocess (communicate): no rusage
            self.exit_code = self.popen.returncode
            self.rusage = self.rusage or False
            return True
        if pid == 0:
            return False
        self.rusage = ru
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.exit_code
        return True

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while not self._try_reap():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def send(self, sig):
        if self.rusage is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=15, sig=signal.SIGTERM):
        """Signals and reaps; SIGKILL after `timeout`. Returns True if it ended on its own."""
        if self.rusage is not None:
            return True
        self.send(sig)
        if self.wait(timeout):
            return True
        self.killed = True
        self.send(signal.SIGKILL)
        self.wait(10)
        return False

    def cpu_s(self):
        return (self.rusage.ru_utime + self.rusage.ru_stime) if self.rusage else 0.0  # False: not ours


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            pass
    return out


def vm_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ChildRssSampler(threading.Thread):
    """Largest sum of VmHWM over the live descendants of `pid`, sampled every 20 ms (for the
    rsync processes lsyncd spawns: too short-lived to read at the end, and wait4's ru_maxrss
    would be inflated by the parent's size at fork)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.02):
            total = sum(vm_kib(k, "VmHWM:") for k in descendants(self.pid))
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1

    def stop(self):
        self.halt.set()
        self.join()


def kill_all(procs):
    for p in procs:
        if p.running():
            p.killed = True
            p.send(signal.SIGKILL)
            p.wait(10)


def wait_until(what, fn, timeout, interval=0.02):
    """Polls fn() until it returns a true value or `timeout` seconds pass (then raises)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("%s: not within %.0f s" % (what, timeout))
        time.sleep(interval)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def tcp_states(port):
    """States (hex strings) of TCP sockets, IPv4 or IPv6, whose local port is `port`."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port:
                    out.append(parts[3])
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def fresh_dir(name):
    d = os.path.join(DATA, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def drop_dir(d):
    shutil.rmtree(d, ignore_errors=True)
    os.sync()  # no dirty pages of this phase left to be written back during the next one


def run_writer(phase, args, timeout):
    cmd = [os.path.join(BIN, "bench", "bench_writer")] + [str(a) for a in args]
    p = Proc("bench_writer", cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.popen.kill()
        p.popen.wait()
        raise RuntimeError("bench_writer did not finish within %.0f s" % timeout)
    except BaseException:
        p.popen.kill()
        p.popen.wait()
        raise
    if p.popen.returncode != 0:
        raise RuntimeError("bench_writer exited %s: %s" % (p.popen.returncode, err.decode(errors="replace").strip()))
    return json.loads(out.decode())


def writer_args(target, rate, seconds, nbytes, max_write, write_size, bytes_timeout):
    """bench_writer's arguments for `target` (--file and where to measure), and its timeout: `nbytes` as
    fast as possible, or `seconds` at `rate` MB/s; writes of RandomWriteSize(max_write), or all `write_size`."""
    args = target + ["--max-write", max_write, "--settle-s", 60] + (["--write-size", write_size] if write_size else [])
    if nbytes:
        return args + ["--bytes", nbytes, "--rate", 0], bytes_timeout
    return args + ["--seconds", seconds, "--rate", rate], seconds + 120


def verify(phase, origin, replicas):
    """sha256 of the origin file and every replica; returns (ok, text)."""
    want = sha256(origin)
    bad = []
    for name, path in replicas:
        if not os.path.exists(path):
            bad.append("%s: missing" % name)
            continue
        got = sha256(path)
        if got != want:
            bad.append("%s: sha256 %s.. (%d bytes) != origin %s.. (%d bytes)" %
                       (name, got[:12], os.path.getsize(path), want[:12], os.path.getsize(origin)))
    if bad:
        problem(phase, "replica mismatch: " + "; ".join(bad))
        return False, "replicas DIFFER: " + "; ".join(bad)
    return True, "sha256 of %s equal to the origin (%s..)" % (" and ".join(n for n, _ in replicas), want[:12])


def cpu_baseline(procs):
    return sum(p.ticks() for p in procs) / CLK_TCK


def mib(kib):
    return kib / 1024.0


# ---------------------------------------------------------------------------------------------
# Phases. Each returns a row dict for the table.


def base_row(system, phase, w, cpu_s):
    total = w["total_bytes"]
    row = {"system": system, "phase": phase, "writer": w, "cpu_s": cpu_s, "notes": []}
    row["mbps"] = w.get("delivered_mbps")
    row["cpu_s_per_gb"] = cpu_s / (total / 1e9) if total else None
    # Average share of one core while moving the bytes at the row's rate.
    row["cpu_pct"] = row["cpu_s_per_gb"] * (row["mbps"] / 1000.0) * 100 if row["mbps"] and total else None
    if row["mbps"] is None and w.get("phase_s"):
        row["cpu_pct"] = cpu_s / w["phase_s"] * 100
    return row


def agent_config(d, agent_id, port, peers, bolt_file=None, tunables=None):
    path = os.path.join(d, agent_id + ".toml")
    lines = ['[cluster]', 'name = "bench"', 'key_file = "%s"' % cluster_key(d), '[agent]', 'id = "%s"' % agent_id, 'listen = "127.0.0.1:%d"' % port,
             'data_dir = "%s"' % os.path.join(d, agent_id + "-data"),
             'peers = [%s]' % ", ".join('"%s@127.0.0.1:%d"' % (pid, pport) for pid, pport in peers)]
    lines += ["%s = %d" % kv for kv in sorted((tunables or {}).items())]
    if bolt_file:
        lines += ['[[bolt]]', 'name = "bolt-1"', 'file = "%s"' % bolt_file]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def ctl_status(sock):
    r = subprocess.run([os.path.join(BIN, "tailsafectl"), "status", "--json", "--socket", sock, "--timeout-ms", "3000"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.decode())


def agent_log_findings(d, ids):
    """Warning and error lines (syslog levels 0-4) from the agents' logs."""
    out = []
    for agent_id in ids:
        try:
            with open(os.path.join(d, agent_id + ".log"), errors="replace") as f:
                for line in f:
                    if len(line) > 2 and line[0] == "<" and line[1] in "01234":
                        out.append(line.rstrip())
        except OSError:
            pass
    return out


# The linger profiles: the origin waits linger_ms after a growth before reading, so the writes
# meanwhile travel as one frame and each peer syncs once for them: about N ms more lag for far
# fewer wake-ups and fdatasyncs (docs/performance.md). commit_interval_ms stays 0: with one origin
# the peers then sync once per frame anyway, and spacing the syncs as well only adds lag. At
# 5 MB/s the benchmark sweeps N to draw the CPU/lag curve; 10 ms also runs at 10 MB/s.
LINGER_SWEEP_MS = (1, 2, 5, 10, 20)


def lingering(ms):
    return {"linger_ms": ms}


def linger_system(ms):
    return "tailsafe linger %d ms" % ms


def phase_tailsafe(label, rate, seconds=None, nbytes=None, max_write=WRITE_MAX, tunables=None, write_size=None):
    system = linger_system(tunables["linger_ms"]) if tunables else "tailsafe"
    phase = system + " " + label
    log("%s: starting 3 agents" % phase)
    d = fresh_dir("tailsafe")
    spool = os.path.join(d, "spool")
    os.makedirs(spool)
    bolt = os.path.join(spool, "bolt-1.log")
    open(bolt, "w").close()
    po, p1, p2 = free_ports(3)
    confs = {
        "p1": agent_config(d, "p1", p1, [], tunables=tunables),
        "p2": agent_config(d, "p2", p2, [], tunables=tunables),
        "origin": agent_config(d, "origin", po, [("p1", p1), ("p2", p2)], bolt, tunables=tunables),
    }
    agent = os.path.join(BIN, "tailsafe-agent")
    procs = {}
    logs = []
    try:
        for agent_id, port in (("p1", p1), ("p2", p2), ("origin", po)):
            if agent_id == "origin":  # the peers listen first, so the origin connects at once
                for pp in (p1, p2):
                    wait_until("peer agent listening on %d" % pp, lambda x=pp: "0A" in tcp_states(x), 20)
            lf = open(os.path.join(d, agent_id + ".log"), "w")
            logs.append(lf)
            procs[agent_id] = Proc(agent_id, [agent, "-c", confs[agent_id]], stderr=lf)
        sock = os.path.join(d, "origin-data", "agent.sock")

        def ready():
            for p in procs.values():
                if not p.running():
                    raise RuntimeError("agent %s exited with %s at start-up" % (p.name, p.exit_code))
            st = ctl_status(sock) if os.path.exists(sock) else None
            return st and len(st.get("peers", [])) == 2 and all(x.get("connected") for x in st["peers"])

        wait_until("origin connected to both peers", ready, 20)

        base_each = {k: p.ticks() / CLK_TCK for k, p in procs.items()}
        base = sum(base_each.values())
        if LAG_AT == "origin":
            meter = ["--acklog", sock, "--peers", "p1,p2"]
        else:
            meter = ["--durablelog", ",".join(os.path.join(d, p + "-data", "agent.sock") for p in ("p1", "p2")),
                     "--origin", "origin"]
        args, timeout = writer_args(["--file", bolt] + meter + ["--generation", 1],
                                    rate, seconds, nbytes, max_write, write_size, 300)
        log("%s: writing" % phase)
        w = run_writer(phase, args, timeout)
        total = w["total_bytes"]

        st_holder = {}

        def all_acked():
            for p in procs.values():
                if not p.running():
                    raise RuntimeError("agent %s exited with %s" % (p.name, p.exit_code))
            st = ctl_status(sock)
            if not st:
                return False
            st_holder["st"] = st
            b = st["bolts"][0]
            return b["origin_size"] == total and all(x["acked"] == total for x in b["peers"])

        try:
            wait_until("origin size and both peers' acked == %d" % total, all_acked, 30, 0.1)
        except TimeoutError as e:
            problem(phase, "%s; last status: %s" % (e, json.dumps(st_holder.get("st", {}).get("bolts"))))
        st = st_holder.get("st", {})
        if w["settle"] != "complete" or w["unseen_writes"]:
            problem(phase, "not every write was acknowledged durable by both peers within the deadline "
                    "(settle=%s, %d writes unseen, targets %s)" % (w["settle"], w["unseen_writes"], w["targets"]))
        rss_live = {k: p.hwm_kib() for k, p in procs.items()}
        for agent_id in ("origin", "p1", "p2"):
            if not procs[agent_id].stop(15):
                problem(phase, "agent %s did not stop within 15 s of SIGTERM (killed)" % agent_id)
            elif procs[agent_id].exit_code != 0:
                problem(phase, "agent %s exited with %s" % (agent_id, procs[agent_id].exit_code))
        cpu = sum(p.cpu_s() for p in procs.values()) - base
        row = base_row(system, label, w, cpu)
        row["rss"] = "origin %.1f, p1 %.1f, p2 %.1f" % tuple(mib(rss_live[k]) for k in ("origin", "p1", "p2"))
        if tunables:
            row["notes"].append("every agent with " + ", ".join("%s = %d" % kv for kv in sorted(tunables.items())))
        row["notes"].append("CPU origin %.2f s, p1 %.2f s, p2 %.2f s" % tuple(
            procs[k].cpu_s() - base_each[k] for k in ("origin", "p1", "p2")))
        reps = [(pid, os.path.join(d, pid + "-data", "replicas", "origin", "bolt-1", "00000000000000000001"))
                for pid in ("p1", "p2")]
        ok, text = verify(phase, bolt, reps)
        row["verified"] = ok
        row["notes"].append(text)
        peers = st.get("peers", [])
        sent = sum(x.get("bytes_sent", 0) for x in peers)
        wire = sum(x.get("wire_bytes", 0) for x in peers)
        if wire:
            row["notes"].append("zstd on the wire %.2fx (%.1f MB sent as %.1f MB per peer)" %
                                (sent / wire, sent / 2e6, wire / 2e6))
        resent = sum(x.get("resent_bytes", 0) for x in peers)
        disc = sum(x.get("disconnects", 0) for x in peers)
        if resent or disc:
            problem(phase, "peer links: %d disconnects, %d bytes resent" % (disc, resent))
        frames = sum(b.get("frames_encoded", 0) for b in st.get("bolts", []))
        if frames:
            row["frames"] = frames
            row["notes"].append("%d frames (%.0f a second)" % (frames, frames / max(w["write_window_s"], 1e-9)))
        row["notes"].append("%d ACK events drained in %d %s requests" %
                            (w["acklog"]["events"], w["acklog"]["requests"],
                             "acklog" if LAG_AT == "origin" else "durablelog"))
        if w["acklog"]["errors"]:
            problem(phase, "acklog errors: %d, last: %s" % (w["acklog"]["errors"], w["acklog"]["last_error"]))
        findings = agent_log_findings(d, ("origin", "p1", "p2"))
        if findings:
            problem(phase, "agent warnings/errors (%d lines), first: %s" % (len(findings), " | ".join(findings[:5])))
        log("%s: %.1f MB/s, lag p50 %s p99 %s max %s ms, %.2f CPU s/GB, %s" % (
            phase, row["mbps"] or 0, w["lag_ms"]["p50"], w["lag_ms"]["p99"], w["lag_ms"]["max"],
            row["cpu_s_per_gb"], text))
        return row
    finally:
        kill_all(procs.values())
        for lf in logs:
            lf.close()
        drop_dir(d)


LSYNCD_SHIPPED = """\
settings {{ logfile = "{d}/lsyncd.log", nodaemon = true }}
sync {{ default.rsync, source = "{d}/src", target = "{d}/t1" }}
sync {{ default.rsync, source = "{d}/src", target = "{d}/t2" }}
"""
LSYNCD_FASTEST = """\
settings {{ logfile = "{d}/lsyncd.log", nodaemon = true, inotifyMode = "Modify" }}
sync {{ default.rsync, source = "{d}/src", target = "{d}/t1", delay = 0, rsync = {{ append = true }} }}
sync {{ default.rsync, source = "{d}/src", target = "{d}/t2", delay = 0, rsync = {{ append = true }} }}
"""


def phase_lsyncd(system, template, rate, seconds, extra_max_s, settle_s, stall_s):
    phase = "%s %g MB/s" % (system, rate)
    log("%s: starting lsyncd" % phase)
    d = fresh_dir("lsyncd")
    src = os.path.join(d, "src")
    os.makedirs(src)
    bolt = os.path.join(src, "bolt-1.log")
    open(bolt, "w").close()
    conf = os.path.join(d, "lsyncd.conf.lua")
    with open(conf, "w") as f:
        f.write(template.format(d=d))
    targets = [os.path.join(d, t, "bolt-1.log") for t in ("t1", "t2")]
    out = open(os.path.join(d, "lsyncd.out"), "w")
    lp = Proc("lsyncd", ["lsyncd", conf], stdout=out, stderr=subprocess.STDOUT)
    try:
        def started():
            if not lp.running():
                raise RuntimeError("lsyncd exited with %s at start-up; see its output" % lp.exit_code)
            return all(os.path.exists(t) for t in targets) and not lp.children()

        wait_until("lsyncd's startup rsyncs", started, 20)
        sampler = ChildRssSampler(lp.pid)
        sampler.start()
        base = cpu_baseline([lp])
        args = ["--file", bolt, "--watch", targets[0], "--watch", targets[1], "--seconds", seconds, "--rate", rate,
                "--max-write", WRITE_MAX, "--extra-max-s", extra_max_s, "--settle-s", settle_s, "--stall-s", stall_s]
        log("%s: writing" % phase)
        w = run_writer(phase, args, seconds + extra_max_s + settle_s + 60)
        # The rsyncs still running (lsyncd may start one more after the last event) must be reaped
        # by lsyncd before we take its CPU.
        try:
            wait_until("lsyncd's rsync children to finish", lambda: not lp.children(), 60)
        except TimeoutError as e:
            problem(phase, str(e))
        sampler.stop()
        hwm = lp.hwm_kib()
        if not lp.stop(15):
            problem(phase, "lsyncd did not stop within 15 s of SIGTERM")
        cpu = lp.cpu_s() - base
        row = base_row(system, "%g MB/s" % rate, w, cpu)
        row["rss"] = "lsyncd %.1f, its rsyncs %.1f" % (mib(hwm), mib(sampler.peak_kib))
        row["notes"].append("rsync RSS: the largest sum of VmHWM over lsyncd's live descendants in %d samples "
                            "taken every 20 ms" % sampler.samples)
        if w["unseen_writes"]:
            row["notes"].append("%d measured writes (%.1f MB) never became visible during the phase (%s)" %
                                (w["unseen_writes"], w["unseen_bytes"] / 1e6, w["settle"]))
        if not w["total_visible_everywhere"]:
            problem(phase, "targets incomplete at the end: %s of %d bytes" %
                    ([t["high"] for t in w["targets"]], w["total_bytes"]))
        ok, text = verify(phase, bolt, [("t1", targets[0]), ("t2", targets[1])])
        row["verified"] = ok
        row["notes"].append(text)
        runs = 0
        try:
            with open(os.path.join(d, "lsyncd.log"), errors="replace") as f:
                runs = sum(1 for line in f if "Calling rsync" in line or "Exec:" in line)
        except OSError:
            pass
        row["notes"].append("%d rsync runs for 2 targets; %s extra MB written after the window; "
                            "stat poll interval p50 %d us, p99 %d us" %
                            (runs, "%.1f" % (w["extra_bytes"] / 1e6), w["poll"]["interval_us_p50"],
                             w["poll"]["interval_us_p99"]))
        log("%s: %s MB/s, lag p50 %s p99 %s max %s ms, %.2f CPU s/GB" % (
            phase, row["mbps"], w["lag_ms"]["p50"], w["lag_ms"]["p99"], w["lag_ms"]["max"], row["cpu_s_per_gb"]))
        return row
    finally:
        kill_all([lp])
        out.close()
        drop_dir(d)


def write_through_pipeline(phase, args, timeout, procs):
    """Runs the writer; a pipeline process that exited meanwhile is a problem. The writer's JSON and
    each process's peak RSS (KiB, by name)."""
    log("%s: writing" % phase)
    w = run_writer(phase, args, timeout)
    dead = [p.name for p in procs if not p.running()]
    if dead:
        problem(phase, "pipeline processes exited during the phase: %s" % dead)
    return w, {p.name: p.hwm_kib() for p in procs}


def two_replica_dir(name):
    """A fresh directory for a pipeline: its empty bolt file, its two replicas' paths, two free ports."""
    d = fresh_dir(name)
    bolt = os.path.join(d, "bolt-1.log")
    open(bolt, "w").close()
    return d, bolt, [os.path.join(d, "replica-1"), os.path.join(d, "replica-2")], free_ports(2)


def phase_pipeline(label, rate, seconds=None, nbytes=None, max_write=WRITE_MAX):
    system = "tail|zstd|nc"
    phase = "%s %s" % (system, label)
    log("%s: starting the pipeline" % phase)
    d, bolt, reps, ports = two_replica_dir("pipeline")
    procs, receivers, sender = [], [], []
    files = []
    try:
        for i, port in enumerate(ports):
            ncl = Proc("nc -l %d" % (i + 1), ["nc", "-l", "127.0.0.1", str(port)], stdout=subprocess.PIPE)
            f = open(reps[i], "wb")
            files.append(f)
            zd = Proc("zstd -d %d" % (i + 1), ["zstd", "-d", "-q", "-c"], stdin=ncl.stdout, stdout=f)
            ncl.stdout.close()
            receivers.append([ncl, zd])
            procs += [ncl, zd]
        for port in ports:
            wait_until("nc listening on %d" % port, lambda p=port: "0A" in tcp_states(p), 10)
        tail = Proc("tail", ["tail", "-c", "+1", "-F", bolt], stdout=subprocess.PIPE)
        zc = Proc("zstd -1", ["zstd", "-1", "-q", "-c"], stdin=tail.stdout, stdout=subprocess.PIPE)
        tail.stdout.close()
        r, wfd = os.pipe()
        nc1 = Proc("nc 1", ["nc", "-N", "127.0.0.1", str(ports[0])], stdin=r)
        os.close(r)
        tee = Proc("tee", ["tee", "/dev/fd/%d" % wfd], stdin=zc.stdout, stdout=subprocess.PIPE, pass_fds=(wfd,))
        os.close(wfd)
        zc.stdout.close()
        nc2 = Proc("nc 2", ["nc", "-N", "127.0.0.1", str(ports[1])], stdin=tee.stdout)
        tee.stdout.close()
        sender = [tail, zc, tee, nc1, nc2]
        procs += sender
        for port in ports:
            wait_until("connection to %d" % port, lambda p=port: "01" in tcp_states(p), 10)

        base = cpu_baseline(procs)
        base_sender = cpu_baseline(sender)
        args = ["--file", bolt, "--watch", reps[0], "--watch", reps[1], "--max-write", max_write,
                "--settle-s", 5, "--stall-s", 1.5]
        if nbytes:
            args += ["--bytes", nbytes, "--rate", 0, "--extra-max-s", 60, "--extra-rate", 10]
            timeout = 400
        else:
            args += ["--seconds", seconds, "--rate", rate, "--extra-max-s", 10]
            timeout = seconds + 120
        w, hwm = write_through_pipeline(phase, args, timeout, procs)
        # End of stream: tail stops, zstd flushes its last block, nc -N shuts the sockets down,
        # the receivers decompress the rest and exit.
        tail.stop(10)
        for p in procs:
            if not p.wait(60):
                problem(phase, "%s did not exit after end of stream" % p.name)
        kill_all(procs)
        for f in files:
            f.close()
        files = []
        cpu = sum(p.cpu_s() for p in procs) - base
        row = base_row(system, label, w, cpu)
        row["rss"] = "sender %.1f (5 procs), receivers %.1f, %.1f" % (
            mib(sum(hwm[p.name] for p in sender)), mib(sum(hwm[p.name] for p in receivers[0])),
            mib(sum(hwm[p.name] for p in receivers[1])))
        row["notes"].append("CPU sender (tail, zstd, tee, 2 nc) %.2f s, receivers (nc -l, zstd -d) %.2f s; "
                            "peak RSS sender: %s MiB" % (
                                sum(p.cpu_s() for p in sender) - base_sender,
                                sum(p.cpu_s() for p in procs if p not in sender) - (base - base_sender),
                                ", ".join("%s %.1f" % (p.name, mib(hwm[p.name])) for p in sender)))
        ok, text = verify(phase, bolt, [("replica-1", reps[0]), ("replica-2", reps[1])])
        row["verified"] = ok
        row["notes"].append(text + " after end of stream")
        stuck = w["total_bytes"] - min(t["high"] for t in w["targets"])
        row["notes"].append("%.1f MB written after the window to push the measured bytes out; the last %.2f MB "
                            "stayed in the pipeline's buffers until end of stream; stat poll interval p50 %d us, "
                            "p99 %d us" % (w["extra_bytes"] / 1e6, stuck / 1e6, w["poll"]["interval_us_p50"],
                                           w["poll"]["interval_us_p99"]))
        if w["unseen_writes"]:
            row["notes"].append("%d measured writes (%.2f MB) not visible before end of stream: excluded from lag" %
                                (w["unseen_writes"], w["unseen_bytes"] / 1e6))
        log("%s: %s MB/s, lag p50 %s p99 %s max %s ms, %.2f CPU s/GB" % (
            phase, row["mbps"], w["lag_ms"]["p50"], w["lag_ms"]["p99"], w["lag_ms"]["max"], row["cpu_s_per_gb"]))
        return row
    finally:
        kill_all(procs)
        for f in files:
            f.close()
        drop_dir(d)


# The pipeline with tailsafe's extras added one at a time (bench/pipeline/pipeline.cc's options):
# system name -> (sender options, receiver options). What each row adds to the one before is what
# that extra costs, measured on the pipeline rather than guessed from a profile.
FACTORS = [
    ("pipeline + ACK", ["--ack"], ["--ack"]),
    ("pipeline + ACK + hand-off", ["--ack"], ["--ack", "--handoff"]),
    ("pipeline + ACK + hand-off + AEAD", ["--ack", "--encrypt"], ["--ack", "--handoff", "--encrypt"]),
]


def phase_durable_pipeline(label, rate, seconds=None, nbytes=None, max_write=WRITE_MAX, write_size=None,
                           system="pipeline (durable)", send_opts=(), receive_opts=()):
    """bench/pipeline/pipeline.cc: inotify, 64 KiB chunks, zstd -1, XXH3, TCP to two receivers that
    append and fdatasync once per batch read (group commit); `send_opts` and `receive_opts` add
    tailsafe's extras (FACTORS). Lag: append until durable on both, from the receivers'
    REPLICA.durable logs: each fdatasync's end, timed by the receiver itself."""
    phase = "%s %s" % (system, label)
    log("%s: starting the pipeline" % phase)
    d, bolt, reps, ports = two_replica_dir("durable-pipeline")
    binary = os.path.join(BIN, "bench", "pipeline")
    procs = []
    try:
        receivers = [Proc("receiver %d" % (i + 1), [binary, "receive"] + list(receive_opts) + [str(port), reps[i]])
                     for i, port in enumerate(ports)]
        procs += receivers
        for port in ports:
            wait_until("receiver listening on %d" % port, lambda p=port: "0A" in tcp_states(p), 10)
        sender = Proc("sender", [binary, "send"] + list(send_opts) + [bolt] + ["127.0.0.1:%d" % p for p in ports])
        procs.append(sender)
        for port in ports:
            wait_until("connection to %d" % port, lambda p=port: "01" in tcp_states(p), 10)
        base = cpu_baseline(procs)
        durable = [r + ".durable" for r in reps]
        args, timeout = writer_args(["--file", bolt, "--durable-log", durable[0], "--durable-log", durable[1]],
                                    rate, seconds, nbytes, max_write, write_size, 400)
        w, hwm = write_through_pipeline(phase, args, timeout, procs)
        if not sender.stop(10) or sender.exit_code != 0:
            problem(phase, "the sender did not exit 0 on SIGTERM (%s)" % sender.exit_code)
        for p in receivers:
            if not p.wait(30) or p.exit_code != 0:
                problem(phase, "%s did not exit 0 after the sender closed (%s)" % (p.name, p.exit_code))
        cpu = sum(p.cpu_s() for p in procs) - base
        row = base_row(system, label, w, cpu)
        row["rss"] = "sender %.1f, receivers %.1f, %.1f" % tuple(mib(hwm[p.name]) for p in procs[2:] + procs[:2])
        row["notes"].append("CPU sender %.2f s, receivers %.2f s, %.2f s" % tuple(p.cpu_s() for p in procs[2:] + procs[:2]))
        ok, text = verify(phase, bolt, [("replica-1", reps[0]), ("replica-2", reps[1])])
        row["verified"] = ok
        row["notes"].append(text)
        if w["settle"] != "complete" or w["unseen_writes"]:
            problem(phase, "not every write became durable on both receivers within the deadline "
                    "(settle=%s, %d writes unseen)" % (w["settle"], w["unseen_writes"]))
        log("%s: %s MB/s, lag p50 %s p99 %s max %s ms, %.2f CPU s/GB" % (
            phase, row["mbps"], w["lag_ms"]["p50"], w["lag_ms"]["p99"], w["lag_ms"]["max"], row["cpu_s_per_gb"]))
        return row
    finally:
        kill_all(procs)
        drop_dir(d)


# ---------------------------------------------------------------------------------------------
# Report


def disk():
    r = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", DATA], stdout=subprocess.PIPE)
    src, fstype, opts = (r.stdout.decode().split() + ["?", "?", "?"])[:3]
    extra = ""
    dev = os.path.basename(src)
    for cand in (dev, dev.rstrip("0123456789"), dev[:-2] if dev.endswith(tuple("p%d" % i for i in range(10))) else dev):
        rot = "/sys/block/%s/queue/rotational" % cand
        if os.path.exists(rot):
            with open(rot) as f:
                extra = ", %s" % ("rotational" if f.read().strip() == "1" else "non-rotational")
            model = "/sys/block/%s/device/model" % cand
            if os.path.exists(model):
                with open(model) as f:
                    extra += ", model %s" % f.read().strip()
            break
    return "%s on %s (%s, %s%s)" % (DATA, src, fstype, opts.split(",")[0], extra)


def versions():
    out = []
    for pkg in ("lsyncd", "rsync", "zstd", "netcat-openbsd", "coreutils"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out.append("%s %s" % (pkg, r.stdout.decode() or "?"))
    return ", ".join(out)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fmt_ms(v):
    if v is None:
        return "n/a"
    if v < 10:
        return "%.2f" % v
    if v < 1000:
        return "%.1f" % v
    return "{:,.0f}".format(v)


def fmt(v, spec):
    return "n/a" if v is None else spec % v


def goal_text(row):
    if not row["system"].startswith("tailsafe"):
        return ""
    w = row["writer"]
    if row["phase"].startswith("max"):
        v = row["mbps"] or 0
        return "sustained >= %g MB/s: %s (%.0f)" % (GOAL_MBPS, "met" if v >= GOAL_MBPS else "MISSED", v)
    if row["phase"] == "10 MB/s":
        if row["system"] != "tailsafe":
            return "(the lag goal is the default profile's)"
        v = w["lag_ms"]["p99"]
        return "p99 < %g ms: %s (%s)" % (GOAL_P99_MS_AT_10, "met" if v is not None and v < GOAL_P99_MS_AT_10
                                         else "MISSED", fmt_ms(v))
    if row["phase"] == "5 MB/s":
        v = row["cpu_pct"]
        return "< %g%% of one core: %s (%.1f%%)" % (GOAL_CPU_PCT_AT_5, "met" if v is not None and v < GOAL_CPU_PCT_AT_5
                                                    else "MISSED", v or 0)
    return ""


def cost_model(rows):
    """CPU s = per_frame x frames + per_byte x bytes, fitted by least squares over the linger rows
    at 5 MB/s (the same bytes, different frame counts; each frame is one fdatasync on each peer,
    which the defaults' group commit does not promise). The per-frame cost is what lingering buys
    back; the per-byte cost is the floor that no setting removes."""
    pts = [(r["frames"], r["cpu_s"], r["writer"]["total_bytes"]) for r in rows
           if r["system"].startswith("tailsafe linger") and r["phase"] == "5 MB/s" and r.get("frames")
           and not r.get("failed")]
    if len(pts) < 3:
        return ""
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return ""
    a = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    c = my - a * mx
    nbytes = sum(p[2] for p in pts) / n
    resid = max(abs(p[1] - (a * p[0] + c)) for p in pts)
    return ("CPU model at 5 MB/s (least squares over the %d linger rows, all three agents together): "
            "%.0f us per frame + %.2f CPU s per GB (largest residual %.2f s). At 5 MB/s the per-byte part "
            "alone is %.1f%% of one core; each 100 frames a second add %.1f%%." %
            (n, a * 1e6, c / nbytes * 1e9, resid, c / nbytes * 5e6 * 100, a * 100 * 100))


def table(rows):
    head = ["System", "Phase", "MB/s", "Lag p50 (ms)", "Lag p99 (ms)", "Lag max (ms)", "CPU s/GB",
            "CPU % of 1 core", "Peak RSS (MiB)", "Goal (tailsafe)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for i, r in enumerate(rows, 1):
        if r.get("failed"):
            lines.append("| %s | %s | FAILED: %s | | | | | | | |" % (r["system"].replace("|", "\\|"), r["phase"],
                                                                    r["failed"].replace("|", "\\|")))
            continue
        w = r["writer"]
        lag = w["lag_ms"]
        cells = [r["system"].replace("|", "\\|"), "%s [%d]" % (r["phase"], i), fmt(r["mbps"], "%.1f"),
                 fmt_ms(lag["p50"]), fmt_ms(lag["p99"]), fmt_ms(lag["max"]), fmt(r["cpu_s_per_gb"], "%.2f"),
                 fmt(r["cpu_pct"], "%.1f"), r["rss"], goal_text(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(rows):
    """tailsafe / the durable pipeline, phase by phase (issue 24's goals at 5 MB/s: CPU per GB at most
    1.0, p99 lag at most 1.5; at max, MB/s at least 0.9)."""
    ref = {r["phase"]: r for r in rows if r["system"] == "pipeline (durable)" and not r.get("failed")}
    head = ["Phase", "CPU s/GB", "Lag p50", "Lag p99", "MB/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]

    def ratio(a, b):
        return "%.2f" % (a / b) if a is not None and b else "-"

    for r in rows:
        p = ref.get(r["phase"])
        if r["system"] != "tailsafe" or r.get("failed") or p is None:
            continue
        lines.append("| %s | %s | %s | %s | %s |" % (
            r["phase"], ratio(r["cpu_s_per_gb"], p["cpu_s_per_gb"]),
            ratio(r["writer"]["lag_ms"]["p50"], p["writer"]["lag_ms"]["p50"]),
            ratio(r["writer"]["lag_ms"]["p99"], p["writer"]["lag_ms"]["p99"]), ratio(r["mbps"], p["mbps"])))
    return "\n".join(lines) if len(lines) > 2 else ""


def factor_table(rows):
    """What each of tailsafe's extras costs on the pipeline at 5 MB/s: each FACTORS row against the
    row before it, and tailsafe against the pipeline that has them all."""
    by = {r["system"]: r for r in rows if r["phase"] == "5 MB/s" and not r.get("failed")}
    chain = ["pipeline (durable)"] + [name for name, _, _ in FACTORS] + ["tailsafe"]
    have = [name for name in chain if name in by]
    if len(have) < 2 or have[0] != "pipeline (durable)":
        return ""
    base = by[have[0]]["cpu_s_per_gb"]
    lines = ["| System | CPU s/GB | Added by this step | / pipeline (durable) | Lag p99 (ms) |", "|---|---|---|---|---|"]
    prev = None
    for name in have:
        cpu = by[name]["cpu_s_per_gb"]
        added = "" if prev is None else "%+.2f" % (cpu - prev)
        lines.append("| %s | %.2f | %s | %.2f | %s |" % (name, cpu, added, cpu / base, fmt_ms(by[name]["writer"]["lag_ms"]["p99"])))
        prev = cpu
    return "\n".join(lines)


def notes(rows):
    out = []
    for i, r in enumerate(rows, 1):
        if r.get("failed"):
            continue
        w = r["writer"]
        head = "[%d] %s %s: %.1f MB in %d writes over %.2f s (writer %.1f MB/s), replicated in %s s; CPU %.2f s." % (
            i, r["system"], r["phase"], w["measured_bytes"] / 1e6, w["measured_writes"], w["write_window_s"],
            w["writer_mbps"], fmt(w["delivered_s"], "%.2f"), r["cpu_s"])
        out.append(head + " " + "; ".join(r["notes"]) + ".")
    return "\n".join(out)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")  # unwinds through the phases' cleanup


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    if not BIN or not os.path.isabs(BIN):
        sys.exit("bench/replicate: set TAILSAFE_BIN_DIR to the absolute path of build/")
    for b in ("tailsafe-agent", "tailsafectl", "bench/bench_writer") + (("bench/pipeline",) if ONLY & {"durable", "factors"} else ()):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            sys.exit("bench/replicate: %s/%s is missing; run `make bench`" % (BIN, b))
    for tool in ("lsyncd", "rsync", "nc", "zstd", "tail", "tee"):
        if not shutil.which(tool):
            sys.exit("bench/replicate: %s is missing; run `DEPS_BENCH=1 scripts/deps.sh` as root" % tool)
    if not os.path.isabs(DATA) or os.path.realpath(DATA) in ("/", "/var", "/var/tmp", "/tmp", os.path.expanduser("~")):
        sys.exit("bench/replicate: BENCH_DIR must be a dedicated absolute directory, not %s" % DATA)
    if os.path.exists(DATA) and os.listdir(DATA) and not os.path.exists(os.path.join(DATA, MARKER)):
        sys.exit("bench/replicate: %s exists and was not made by this benchmark; remove it or set BENCH_DIR" % DATA)
    shutil.rmtree(DATA, ignore_errors=True)
    os.makedirs(DATA)
    open(os.path.join(DATA, MARKER), "w").close()
    r = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", DATA], stdout=subprocess.PIPE)
    if r.stdout.decode().strip() in ("tmpfs", "ramfs"):
        log("WARNING: %s is on %s, not a real disk; set BENCH_DIR" % (DATA, r.stdout.decode().strip()))

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    disk_line = disk()
    load_before = loadavg()
    log("machine: %s" % machine())
    log("data: %s" % disk_line)
    s = SCALE
    plan = []
    if "tailsafe" in ONLY:
        tailsafe_plan = [
            (1, lambda: phase_tailsafe("5 MB/s", 5, seconds=20 * s), ("tailsafe", "5 MB/s")),
            (2, lambda: phase_tailsafe("10 MB/s", 10, seconds=20 * s), ("tailsafe", "10 MB/s")),
            (3, lambda: phase_tailsafe("100 MB/s", 100, seconds=10 * s), ("tailsafe", "100 MB/s")),
            (0, lambda: phase_tailsafe("max", 0, nbytes=int(MAX_BYTES * s), max_write=WRITE_MAX_FAST),
             ("tailsafe", "max")),
        ]
        tailsafe_plan += [(3 + ms / 100, lambda ms=ms: phase_tailsafe("5 MB/s", 5, seconds=20 * s, tunables=lingering(ms)),
                           (linger_system(ms), "5 MB/s")) for ms in LINGER_SWEEP_MS]
        tailsafe_plan.append((3.5, lambda: phase_tailsafe("10 MB/s", 10, seconds=20 * s, tunables=lingering(10)),
                              (linger_system(10), "10 MB/s")))
        tailsafe_plan.append((3.9, lambda: phase_tailsafe(LINES_PHASE, 5, seconds=20 * s, write_size=LINE_BYTES),
                              ("tailsafe", LINES_PHASE)))
        keys = (["5", "10", "100", "max"] + ["linger-%dms@5" % ms for ms in LINGER_SWEEP_MS] + ["linger-10ms@10"] +
                ["lines@5"])
        unknown = PHASES - set(keys)
        if unknown:
            sys.exit("bench/replicate: BENCH_PHASES names unknown phases %s; known: %s" %
                     (",".join(sorted(unknown)), ",".join(keys)))
        plan += [p for k, p in zip(keys, tailsafe_plan) if not PHASES or k in PHASES]
    if "lsyncd" in ONLY:
        plan += [
            (4, lambda: phase_lsyncd("lsyncd+rsync as shipped", LSYNCD_SHIPPED, 5, 30 * s, 0, 45, 0),
             ("lsyncd+rsync as shipped", "5 MB/s")),
            (5, lambda: phase_lsyncd("lsyncd+rsync fastest", LSYNCD_FASTEST, 5, 20 * s, 10, 30, 5),
             ("lsyncd+rsync fastest", "5 MB/s")),
            (6, lambda: phase_lsyncd("lsyncd+rsync fastest", LSYNCD_FASTEST, 10, 20 * s, 10, 30, 5),
             ("lsyncd+rsync fastest", "10 MB/s")),
        ]
    def rate_phases(first, system, fn):  # 5, 10, 100 MB/s and as fast as possible, in plan order from `first`
        return [(first, lambda: fn("5 MB/s", 5, seconds=20 * s), (system, "5 MB/s")),
                (first + 1, lambda: fn("10 MB/s", 10, seconds=20 * s), (system, "10 MB/s")),
                (first + 2, lambda: fn("100 MB/s", 100, seconds=10 * s), (system, "100 MB/s")),
                (first + 3, lambda: fn("max", 0, nbytes=int(MAX_BYTES * s), max_write=WRITE_MAX_FAST), (system, "max"))]

    if "pipeline" in ONLY:
        plan += rate_phases(7, "tail|zstd|nc", phase_pipeline)
    if "durable" in ONLY:
        durable_plan = rate_phases(11, "pipeline (durable)", phase_durable_pipeline)
        durable_plan.append((15, lambda: phase_durable_pipeline(LINES_PHASE, 5, seconds=20 * s, write_size=LINE_BYTES),
                             ("pipeline (durable)", LINES_PHASE)))
        # BENCH_PHASES picks the pipeline's phases of the same names (its others have no counterpart).
        plan += [p for k, p in zip(["5", "10", "100", "max", "lines@5"], durable_plan) if not PHASES or k in PHASES]
    if "factors" in ONLY and (not PHASES or "5" in PHASES):
        plan += [(11.1 + i / 10, lambda n=name, so=so, ro=ro: phase_durable_pipeline(
                     "5 MB/s", 5, seconds=20 * s, system=n, send_opts=so, receive_opts=ro), (name, "5 MB/s"))
                 for i, (name, so, ro) in enumerate(FACTORS)]
    results = []
    try:
        for order, fn, (system, phase) in plan:
            try:
                row = fn()
            except Exception as e:  # a phase that fails is reported, the others still run
                problem("%s %s" % (system, phase), "%s: %s" % (type(e).__name__, e))
                row = {"system": system, "phase": phase, "failed": str(e)}
            results.append((order, row))
    finally:
        shutil.rmtree(DATA, ignore_errors=True)
    rows = [r for _, r in sorted(results, key=lambda x: x[0])]
    for r in rows:
        if r["phase"] == "max" and not r.get("failed"):
            r["phase"] = "max (as fast as possible)"
    elapsed = time.monotonic() - T0

    report = []
    report.append("## bench/replicate, %s" % started)
    report.append("")
    report.append("- Machine: %s" % machine())
    report.append("- Data directory: %s" % disk_line)
    report.append("- Load average before / after: %s / %s (other work on the host shows here)" % (load_before, loadavg()))
    report.append("- Tools: %s" % versions())
    report.append("- Workload: access-log lines (tests/support/loglines.h), one bolt file kept open, writes of "
                  "RandomWriteSize(%d) bytes (log-uniform, mean ~3.2 KB) paced at the phase's rate; the max rows "
                  "write %.1f GB as fast as possible in writes of up to 1 MiB. 1 MB = 10^6 bytes." %
                  (WRITE_MAX, MAX_BYTES * s / 1e9))
    report.append("- Goals: >= %g MB/s sustained; p99 durable lag < %g ms at 10 MB/s; < %g%% of one core for all "
                  "agents together at 5 MB/s." % (GOAL_MBPS, GOAL_P99_MS_AT_10, GOAL_CPU_PCT_AT_5))
    if s != 1:
        report.append("- BENCH_SCALE=%g: phases shortened, figures are a smoke run only." % s)
    report.append("")
    report.append(table(rows))
    report.append("")
    ratio_table = ratios(rows)
    if ratio_table:
        report.append("tailsafe / pipeline (durable), the same phase in this same invocation (goals at 5 MB/s: "
                      "CPU s/GB at most 1.0, lag p99 at most 1.5; at max, MB/s at least 0.9):")
        report.append("")
        report.append(ratio_table)
        report.append("")
    factors = factor_table(rows)
    if factors:
        report.append("What tailsafe's extras cost, added one at a time to the pipeline (bench/pipeline/pipeline.cc's "
                      "--ack, --handoff, --encrypt), 5 MB/s; the tailsafe row is the product, which also keeps state "
                      "and runs an event loop:")
        report.append("")
        report.append(factors)
        report.append("")
    report.append("Lag: tailsafe = append until durable (fdatasync) on both peers, " +
                  ("from the origin's ACK log (when the ACKs arrived); " if LAG_AT == "origin" else
                   "from the peers' durable logs (when each peer's commit ended and its ACK left; the origin "
                   "hears one network hop later); ") +
                  "pipeline = append until durable on both receivers, each fdatasync's end as the receiver timed it "
                  "(REPLICA.durable log; no ACK hop back to the sender); "
                  "lsyncd and tail|zstd|nc = append until the bytes are visible in both target files "
                  "(stat polled at 1 kHz, no durability). MB/s = measured bytes / time from the first write until "
                  "they were on both targets. CPU = all processes of the system (3 agents; lsyncd with its rsync "
                  "children; tail, zstd, tee, 2 nc and 2 nc -l + zstd -d), from wait4() rusage; CPU % = CPU s per "
                  "byte x the row's MB/s. Peak RSS = VmHWM of each process (lsyncd's rsyncs: largest sum over "
                  "the live ones, sampled every 20 ms). In max rows the lag is mostly backlog (the writer outruns replication).")
    report.append("")
    report.append(notes(rows))
    model = cost_model(rows)
    if model:
        report.append("")
        report.append(model)
    report.append("")
    if problems:
        report.append("Problems seen:")
        for phase, text in problems:
            report.append("- %s: %s" % (phase, text))
    else:
        report.append("No problems: every phase completed, every replica's sha256 equals its origin's, "
                      "no agent warnings or errors.")
    report.append("")
    report.append("Run time: %.0f s." % elapsed)
    text = "\n".join(report) + "\n"
    sys.stdout.write(text)
    try:
        with open(REPORT, "w") as f:
            f.write(text)
    except OSError as e:
        log("cannot write %s: %s" % (REPORT, e))
    if JSON_OUT:
        with open(JSON_OUT, "w") as f:
            json.dump({"started": started, "machine": machine(), "scale": s, "problems": problems, "rows": rows},
                      f, indent=1, default=str)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
