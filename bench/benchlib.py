"""Helpers the benchmarks share (bench/replicate, bench/failover, bench/weblog, bench/many-bolts,
bench/scale)."""

import json
import os
import platform
import socket
import subprocess
import sys
import time

T0 = time.monotonic()


def log(msg):
    """A progress line on stderr, with the seconds since the benchmark started."""
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, seconds, what, poll=0.002):
    """pred()'s first true value, polling every `poll` s; RuntimeError after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    raise RuntimeError("timed out waiting for " + what)


def cluster_key(directory):
    """A new cluster key in `directory`, returning its path: 32 random bytes, mode 0600, the format
    `tailsafectl keygen` writes. Made here rather than by the binaries under test, so bench/replicate/ab.py
    can run builds from before keys existed (they parse key_file and ignore it)."""
    path = os.path.join(directory, "cluster.key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(32))
        finally:
            os.close(fd)
    return path


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    nproc = subprocess.run(["nproc"], stdout=subprocess.PIPE).stdout.decode().strip()
    return "%s cores (nproc), %s, Linux %s, %.1f GiB RAM" % (nproc, model, platform.release(), mem_kib / 1048576)


def agent_status(data_dir, timeout=10):
    """The status document of the agent whose data_dir this is (its control socket's "status")."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(os.path.join(data_dir, "agent.sock"))
        s.sendall(b"status\n")
        reply = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            reply += chunk
    finally:
        s.close()
    return json.loads(reply)


def machine_busy_s():
    """Every core's busy time so far (/proc/stat: all but idle and iowait), in seconds: with the
    machine otherwise idle, it also counts work the kernel does for a process in its own threads
    (the flusher threads that write the pages a syncfs(2) asks for)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of a live process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

