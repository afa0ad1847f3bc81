#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS: first over its regression inputs (crashers found before,
# tests/fuzz/regressions/TARGET/), then fuzzing from the seed corpus (tests/fuzz/corpus/TARGET/,
# read-only) with new inputs kept in build/fuzz/corpus/TARGET/. A crash, a hang (10 s), a leak or
# a sanitizer report fails the run; its input is saved under build/fuzz/artifacts/.
#
#   scripts/fuzz.sh SECONDS build/fuzz/fuzz_frame ...
set -euo pipefail
seconds=$1
shift
mkdir -p build/fuzz/artifacts
summary=()
for bin in "$@"; do
  t=$(basename "$bin")
  mkdir -p "build/fuzz/corpus/$t"
  if compgen -G "tests/fuzz/regressions/$t/*" > /dev/null; then
    "$bin" -runs=0 tests/fuzz/regressions/"$t"/* > "build/fuzz/$t.regressions.log" 2>&1 || {
      cat "build/fuzz/$t.regressions.log"; echo "fuzz: $t: a regression input fails again" >&2; exit 1; }
  fi
  echo "== fuzz $t for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/artifacts/$t-" "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" \
      > "build/fuzz/$t.log" 2>&1; then
    tail -60 "build/fuzz/$t.log"
    echo "fuzz: $t found a problem; the input is in build/fuzz/artifacts/" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$t.log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "build/fuzz/$t.log" | tail -1 || true)
  summary+=("$t: ${seconds}s, $execs executions, $cov, no crash")
done
printf 'fuzz: %s\n' "${summary[@]}"
