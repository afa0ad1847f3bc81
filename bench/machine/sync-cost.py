#!/usr/bin/env python3
"""CPU and wall time of the durability primitives on this machine (docs/performance.md).

Appends ~9.6 KB and fdatasyncs, 2000 times, counting the block device's completed writes: to a
plain file, to one preallocated past its end (fallocate KEEP_SIZE, its size unchanged), and
overwriting a zero-filled file (no size or allocation change: what a replica would cost if it
were not an exact copy of the bolt's file);
commits one-row SQLite transactions in WAL mode with synchronous=FULL (what state.db uses) and
NORMAL; and measures fdatasync latency percentiles for 6.4 KB appends paced at ~1.5 kHz (about
the 10 MB/s phase's write rate), with the stalls the disk itself makes. Usage: sync-cost.py [DIR]
"""
import ctypes, os, resource, sqlite3, sys, tempfile, time

d = tempfile.mkdtemp(prefix="tailsafe-sync-cost.", dir=sys.argv[1] if len(sys.argv) > 1 else "/var/tmp")
N = 2000


def disk_writes():
    """Write requests the data directory's block device has completed (None if unknown)."""
    dev = os.stat(d).st_dev
    try:
        with open("/sys/dev/block/%d:%d/stat" % (os.major(dev), os.minor(dev))) as f:
            return int(f.read().split()[4])
    except (OSError, IndexError, ValueError):
        return None


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_syncs(f, buf):
    """CPU and wall per write of `buf` + fdatasync of `f`, N times, and the disk writes each."""
    c0, t0, w0 = cpu(), time.time(), disk_writes()
    for _ in range(N):
        os.write(f, buf)
        os.fdatasync(f)
    w1 = disk_writes()
    ios = "" if w0 is None or w1 is None else ", %.2f disk writes each" % ((w1 - w0) / N)
    return (cpu() - c0) / N * 1e6, (time.time() - t0) / N * 1e6, ios


def synced_appends(kind, buf):
    """CPU and wall per write + fdatasync into a file set up as `kind`, and the disk writes each."""
    f = os.open(os.path.join(d, kind), os.O_CREAT | os.O_RDWR)
    try:
        span = len(buf) * N
        if kind == "preallocated":
            libc = ctypes.CDLL(None, use_errno=True)
            libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
            if libc.fallocate(f, 1, 0, span) != 0:  # 1: FALLOC_FL_KEEP_SIZE
                raise OSError(ctypes.get_errno(), "fallocate")
        else:
            os.write(f, bytes(span))
        os.fsync(f)
        os.lseek(f, 0, os.SEEK_SET)
        return timed_syncs(f, buf)
    finally:
        os.close(f)


try:
    fd = os.open(os.path.join(d, "data"), os.O_CREAT | os.O_WRONLY | os.O_APPEND)
    buf = b"x" * 9600
    print("write + fdatasync:        %6.1f us CPU, %6.1f us wall%s" % timed_syncs(fd, buf))
    for name, label in (("preallocated", "preallocated past EOF:"), ("zeroed", "overwriting zeroes:")):
        print("  %-23s %6.1f us CPU, %6.1f us wall%s" % ((label,) + synced_appends(name, buf)))
    c0 = cpu()
    for _ in range(N):
        os.write(fd, buf)
    print("write only:               %6.1f us CPU" % ((cpu() - c0) / N * 1e6))
    db = sqlite3.connect(os.path.join(d, "state.db"), isolation_level=None)
    db.execute("pragma journal_mode=wal")
    db.execute("create table t(k text primary key, v int)")
    for mode in ("full", "normal"):
        db.execute("pragma synchronous=" + mode)
        c0, t0 = cpu(), time.time()
        for i in range(N):
            db.execute("begin immediate")
            db.execute("insert or replace into t values('a', ?)", (i,))
            db.execute("commit")
        print("sqlite tx, synchronous=%-6s %6.1f us CPU, %6.1f us wall" % (mode + ":", (cpu() - c0) / N * 1e6,
                                                                         (time.time() - t0) / N * 1e6))
    lat = []
    small = b"x" * 6400
    for _ in range(5000):
        os.write(fd, small)
        t = time.perf_counter()
        os.fdatasync(fd)
        lat.append((time.perf_counter() - t) * 1e3)
        time.sleep(0.0006)
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
    print("fdatasync latency (ms):   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f" %
          (q(0.5), q(0.9), q(0.99), q(0.999), lat[-1]))
    # The disk's own stalls bound any durable lag measured on this machine from below.
    print("fdatasync stalls:         %d of %d over 2 ms, %d over 10 ms, %d over 100 ms" %
          (sum(x > 2 for x in lat), len(lat), sum(x > 10 for x in lat), sum(x > 100 for x in lat)))
finally:
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.rmdir(d)
