"""Helpers the benchmarks share (bench/replicate, bench/failover)."""

import platform
import subprocess


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
