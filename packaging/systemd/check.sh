#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` must print nothing, and each daemon's
# `systemd-analyze security --offline=yes` exposure must be 2.0 or better (printed).
# Usage: packaging/systemd/check.sh [BIN_DIR]
#   BIN_DIR: where the binaries are (default: the installed /usr/bin). When not /usr/bin, the
#   units are checked from a copy whose ExecStart= points there, without Documentation= (man
#   pages are checked by the package test, where they are installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-/usr/bin}
if ! command -v systemd-analyze >/dev/null; then
  echo "check-units: systemd-analyze not found (package systemd); skipped" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$here"/*.service "$here"/*.timer; do
  if [[ "$bin" == /usr/bin ]]; then
    cp "$f" "$tmp/"
  else
    sed -e "s#/usr/bin/#${bin%/}/#" -e '/^Documentation=/d' "$f" > "$tmp/$(basename "$f")"
  fi
done
out=$(systemd-analyze verify "$tmp"/*.service "$tmp"/*.timer 2>&1) || { echo "$out" >&2; echo "check-units: systemd-analyze verify failed" >&2; exit 1; }
if [[ -n "$out" ]]; then
  echo "$out" >&2
  echo "check-units: systemd-analyze verify printed warnings" >&2
  exit 1
fi
echo "check-units: systemd-analyze verify: clean"
rc=0
for u in tailsafe-agent tailsafe-coordinator; do
  line=$(systemd-analyze security --offline=yes "$tmp/$u.service" 2>&1 | grep 'Overall exposure level' || true)
  score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")
  echo "check-units: $u.service exposure ${score:-?} (goal 2.0 or better)"
  if [[ -z "$score" ]] || awk -v s="$score" 'BEGIN { exit !(s > 2.0) }'; then rc=1; fi
done
exit $rc
