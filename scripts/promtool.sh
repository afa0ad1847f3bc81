#!/usr/bin/env bash
# Puts promtool (from Debian's prometheus package) at OUT/tools/promtool for the metrics test,
# without installing the package: installing it would start a Prometheus server. The .deb is
# fetched with apt-get download and only the promtool binary is extracted from it.
# Usage: scripts/promtool.sh OUT     (idempotent; a failure is reported, not fatal: the metrics
# test then checks with its own parser only and says so)
set -uo pipefail
out=${1:?usage: scripts/promtool.sh OUT}
dest="$out/tools/promtool"
[[ -x "$dest" ]] && exit 0
if command -v promtool >/dev/null; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt-get download drops privileges to _apt where it can
if ! (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>"$tmp/err"); then
  echo "promtool: cannot download Debian's prometheus package ($(tail -1 "$tmp/err")); the metrics test will use its own parser only" >&2
  exit 0
fi
if ! dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool; then
  echo "promtool: no usr/bin/promtool in the prometheus package; the metrics test will use its own parser only" >&2
  exit 0
fi
mkdir -p "$out/tools"
mv "$tmp/usr/bin/promtool" "$dest"
echo "promtool: $("$dest" --version 2>&1 | head -1) at $dest"
