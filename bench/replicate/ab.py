#!/usr/bin/env python3
"""bench/replicate/ab.py: the tailsafe phases of bench/replicate for two builds, alternating.

    make bench-ab BASE=REV [PAIRS=3]

BASE is any git revision. It is checked out in a worktree under build/ab/ and built there (release
mode); the candidate is this checkout's build/ (TAILSAFE_BIN_DIR). Both are driven by this
checkout's replicate.py, so the workload, the phases and the measurement are the same code. Runs
alternate (base, candidate, then candidate, base, ...) so a drift in the machine's speed during the
run hits both alike. The report gives every run's figures and, per phase, the medians and the
candidate's change against the base; it is printed and written to bench/replicate/ab-last-run.md.

Written to compare tailsafe with and without the secure channel (docs/security.md): BASE=075b5ec is
the last commit whose connections were plaintext.

Environment: TAILSAFE_BIN_DIR (required, absolute), PAIRS (default 3), BENCH_SCALE (passed on).
Exit 0 when every run completed with every replica verified.
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import log, machine  # noqa: E402


def git(*args, cwd=REPO):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, stdout=subprocess.PIPE).stdout.decode().strip()


def build_base(rev, ab_dir):
    sha = git("rev-parse", "--verify", rev + "^{commit}")
    tree = os.path.join(ab_dir, sha[:12])
    if not os.path.isdir(os.path.join(tree, ".git")) and not os.path.isfile(os.path.join(tree, ".git")):
        os.makedirs(ab_dir, exist_ok=True)
        git("worktree", "add", "--detach", tree, sha)
    log("building %s in %s" % (sha[:12], tree))
    jobs = str(os.cpu_count() or 2)
    r = subprocess.run(["make", "-C", tree, "-j" + jobs, "--no-print-directory", "MODE=release", "all", "bench-build"],
                       stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit("bench/replicate/ab.py: building %s failed (make -C %s all bench-build)" % (sha[:12], tree))
    return sha, os.path.join(tree, "build")


def run_once(label, bin_dir, out_dir, index):
    stem = os.path.join(out_dir, "run-%d-%s" % (index, label))
    env = dict(os.environ, TAILSAFE_BIN_DIR=bin_dir, BENCH_ONLY="tailsafe",
               BENCH_REPORT=stem + ".md", BENCH_JSON=stem + ".json")
    log("run %d: %s (%s)" % (index, label, bin_dir))
    r = subprocess.run([sys.executable, os.path.join(HERE, "replicate.py")], env=env, stdout=subprocess.DEVNULL)
    try:
        with open(stem + ".json") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return {"label": label, "index": index, "rc": r.returncode, "rows": [], "problems": [["run", str(e)]]}
    data.update(label=label, index=index, rc=r.returncode)
    return data


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def change(base, cand):
    if base is None or cand is None or base == 0:
        return "n/a"
    return "%+.1f%%" % ((cand - base) / base * 100)


def num(v, spec):
    return "n/a" if v is None else spec % v


METRICS = [  # (heading, how to read it from a row, format)
    ("MB/s", lambda r: r.get("mbps"), "%.1f"),
    ("CPU s/GB", lambda r: r.get("cpu_s_per_gb"), "%.2f"),
    ("lag p50 ms", lambda r: r["writer"]["lag_ms"]["p50"], "%.2f"),
    ("lag p99 ms", lambda r: r["writer"]["lag_ms"]["p99"], "%.2f"),
]


def main():
    bin_dir = os.environ.get("TAILSAFE_BIN_DIR", "")
    if not bin_dir or not os.path.isabs(bin_dir):
        sys.exit("bench/replicate/ab.py: set TAILSAFE_BIN_DIR to the absolute path of build/ (make bench-ab does)")
    if len(sys.argv) != 2:
        sys.exit("usage: make bench-ab BASE=REV [PAIRS=N]   (bench/replicate/ab.py REV)")
    try:
        pairs = int(os.environ.get("PAIRS", "3"))
    except ValueError:
        sys.exit("bench/replicate/ab.py: PAIRS must be a whole number, not %r" % os.environ["PAIRS"])
    if pairs < 1:
        sys.exit("bench/replicate/ab.py: PAIRS must be at least 1")
    base_sha, base_bin = build_base(sys.argv[1], os.path.join(bin_dir, "ab"))
    cand = git("describe", "--always", "--dirty", "--abbrev=12")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = open("/proc/loadavg").read().split()[:3]
    out_dir = os.path.join(bin_dir, "ab", "runs-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir)

    runs = []
    for i in range(pairs):
        order = [("base", base_bin), ("candidate", bin_dir)]
        if i % 2:
            order.reverse()
        for label, b in order:
            runs.append(run_once(label, b, out_dir, len(runs) + 1))

    # (system, phase) -> label -> [row, ...]
    cells = {}
    keys = []
    for run in runs:
        for row in run["rows"]:
            if row.get("failed"):
                continue
            k = (row["system"], row["phase"])
            if k not in cells:
                cells[k] = {"base": [], "candidate": []}
                keys.append(k)
            cells[k][run["label"]].append(row)

    out = ["## bench/replicate/ab.py, %s" % started, "",
           "- Machine: %s" % machine(),
           "- Base: %s (`%s`); candidate: %s (this checkout's build/)" % (base_sha[:12], sys.argv[1], cand),
           "- %d runs of bench/replicate's tailsafe phases (BENCH_SCALE=%s), alternating base and candidate; "
           "load average before / after: %s / %s" % (len(runs), os.environ.get("BENCH_SCALE", "1"),
                                                      " ".join(load_before), " ".join(open("/proc/loadavg").read().split()[:3])),
           "- Raw reports: %s" % out_dir, "",
           "Medians (every run in brackets, in run order):", "",
           "| System | Phase | " + " | ".join("%s base | %s candidate | change" % (m, m) for m, _, _ in METRICS) + " |",
           "|" + "|".join(["---"] * (2 + 3 * len(METRICS))) + "|"]
    for k in keys:
        line = [k[0], k[1]]
        for _, get, spec in METRICS:
            b = [get(r) for r in cells[k]["base"]]
            c = [get(r) for r in cells[k]["candidate"]]
            mb, mc = median(b), median(c)
            line.append("%s (%s)" % (num(mb, spec), ", ".join(num(v, spec) for v in b)))
            line.append("%s (%s)" % (num(mc, spec), ", ".join(num(v, spec) for v in c)))
            line.append(change(mb, mc))
        out.append("| " + " | ".join(line) + " |")
    out.append("")
    bad = [(r["index"], r["label"], p) for r in runs for p in r["problems"]] + \
          [(r["index"], r["label"], ["run", "exit %d" % r["rc"]]) for r in runs if r["rc"] != 0]
    if bad:
        out.append("Problems seen:")
        out += ["- run %d (%s) %s: %s" % (i, label, p[0], p[1]) for i, label, p in bad]
    else:
        out.append("No problems: every run completed and every replica's sha256 equals its origin's.")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(HERE, "ab-last-run.md"), "w") as f:
        f.write(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
