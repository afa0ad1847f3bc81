#!/usr/bin/env python3
"""bench/machine/syncfs-cost.py: what a group commit that touches K files costs on this disk, with
one fdatasync per file against one syncfs(2) for the filesystem (docs/performance.md, "One agent
with 1,000 bolts"). 1,000 files in DIR (default /var/tmp/tailsafe-syncfs-cost, wiped); each
commit appends 200 bytes to K of them in turn, then makes them durable; 300 commits per row, each
mode twice, alternating. CPU is this process's (user + system, getrusage) and the machine's
(every core's busy time in /proc/stat, so writeback that the kernel's flusher threads do for a
syncfs counts too); run it on an otherwise idle machine.

    python3 bench/machine/syncfs-cost.py [DIR]
"""

import ctypes
import os
import resource
import shutil
import sys
import time

FILES, ROUNDS, WRITE = 1000, 300, b"x" * 200


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine_busy_s():
    # /proc/stat's first line: user nice system idle iowait irq softirq steal ..., in USER_HZ.
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def main():
    where = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/tailsafe-syncfs-cost"
    shutil.rmtree(where, ignore_errors=True)
    os.makedirs(where)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fds = [os.open(os.path.join(where, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) for i in range(FILES)]
    try:
        for mode in ("fdatasync", "syncfs", "fdatasync", "syncfs"):
            for k in (1, 10, 50):
                c0, m0, t0 = cpu(), machine_busy_s(), time.monotonic()
                for r in range(ROUNDS):
                    touched = [fds[(r * k + j) % FILES] for j in range(k)]
                    for fd in touched:
                        os.write(fd, WRITE)
                    if mode == "fdatasync":
                        for fd in touched:
                            os.fdatasync(fd)
                    elif libc.syncfs(touched[0]) != 0:
                        raise OSError(ctypes.get_errno(), "syncfs")
                print("%-9s %3d files a commit: %7.1f us CPU, %7.1f us machine CPU, %6.2f ms wall per commit"
                      % (mode, k, (cpu() - c0) / ROUNDS * 1e6, (machine_busy_s() - m0) / ROUNDS * 1e6,
                         (time.monotonic() - t0) / ROUNDS * 1e3))
    finally:
        for fd in fds:
            os.close(fd)
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
