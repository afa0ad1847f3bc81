#!/usr/bin/env bash
# make package-test: installs build/pkg/tailsafe_*.deb on this machine with dpkg, checks that
# the programs, man pages (man -w), units (systemd-analyze verify, with their man: links), the
# tailsafe user, /var/lib/tailsafe and the conffile are in place and that the installed agent
# accepts the installed configuration, then purges the package and checks it is gone.
# Needs root; skips (exit 0, saying why) without it, or when tailsafe is already installed here.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "package-test: $*"; }
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
if [[ $(id -u) != 0 ]]; then
  say "skipped: installing a package needs root"
  exit 0
fi
if [[ "$(dpkg-query -W -f='${Status}' tailsafe 2>/dev/null || true)" == *" installed" ]]; then
  say "skipped: a tailsafe package is installed on this machine already; the test would replace it"
  exit 0
fi
deb=$(ls "$top"/build/pkg/tailsafe_*.deb 2>/dev/null | tail -1)
[[ -n "$deb" ]] || fail "no build/pkg/tailsafe_*.deb; run make deb"
had_user=0; getent passwd tailsafe >/dev/null && had_user=1
had_state=0; [[ -e /var/lib/tailsafe ]] && had_state=1
cleanup() {
  dpkg --purge tailsafe >/dev/null 2>&1 || true
  ((had_user)) || userdel tailsafe 2>/dev/null || true
  ((had_state)) || rm -rf /var/lib/tailsafe
  rm -f /etc/tailsafe/cluster.key
  rmdir /etc/tailsafe 2>/dev/null || true
}
trap cleanup EXIT

say "dpkg -i $(basename "$deb")"
dpkg -i "$deb" >/dev/null || fail "dpkg -i failed"

for p in tailsafe-agent tailsafe-coordinator tailsafectl; do
  [[ -x /usr/bin/$p ]] || fail "/usr/bin/$p is missing"
  /usr/bin/$p --version >/dev/null || fail "$p --version failed"
done
say "programs: /usr/bin/tailsafe-agent, tailsafe-coordinator, tailsafectl run"

for page in 8:tailsafe-agent 8:tailsafe-coordinator 1:tailsafectl 5:tailsafe.conf 7:tailsafe-hooks 7:tailsafe-storm; do
  where=$(man -w "${page%%:*}" "${page#*:}" 2>/dev/null) || fail "man -w ${page%%:*} ${page#*:} finds nothing"
  [[ "$where" == /usr/share/man/* ]] || fail "man -w ${page#*:} gives $where"
done
say "man pages: man -w finds all 5 under /usr/share/man"

units=()
for u in tailsafe-agent.service tailsafe-coordinator.service tailsafe-check.service tailsafe-check.timer; do
  [[ -f /lib/systemd/system/$u ]] || fail "/lib/systemd/system/$u is missing"
  units+=("/lib/systemd/system/$u")
done
out=$(systemd-analyze verify "${units[@]}" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify printed: $out"
say "units: 4 installed, systemd-analyze verify clean (man: links included)"

entry=$(getent passwd tailsafe) || fail "no tailsafe user"
[[ "$entry" == *:/var/lib/tailsafe:/usr/sbin/nologin ]] || fail "tailsafe user is '$entry'"
uid=$(id -u tailsafe)
((uid < 1000)) || fail "tailsafe is not a system user (uid $uid)"
state=$(stat -c '%U:%G %a' /var/lib/tailsafe) || fail "no /var/lib/tailsafe"
[[ "$state" == "tailsafe:tailsafe 750" ]] || fail "/var/lib/tailsafe is $state"
say "user: $entry; /var/lib/tailsafe $state"

dpkg-query -W -f='${Conffiles}\n' tailsafe | grep -q ' /etc/tailsafe/tailsafe.conf ' ||
  fail "/etc/tailsafe/tailsafe.conf is not a conffile"
tailsafectl keygen /etc/tailsafe/cluster.key >/dev/null || fail "tailsafectl keygen failed"
check=$(tailsafe-agent --check-config 2>&1) || fail "tailsafe-agent --check-config on the shipped configuration: $check"
say "conffile /etc/tailsafe/tailsafe.conf; tailsafe-agent --check-config: $check"

rm -f /etc/tailsafe/cluster.key
dpkg --purge tailsafe >/dev/null || fail "dpkg --purge failed"
for f in /usr/bin/tailsafe-agent /lib/systemd/system/tailsafe-agent.service /etc/tailsafe/tailsafe.conf \
         /usr/share/man/man8/tailsafe-agent.8.gz; do
  [[ ! -e "$f" ]] || fail "$f is still there after purge"
done
say "purged: programs, units, man pages and conffile gone"
say "passed"
