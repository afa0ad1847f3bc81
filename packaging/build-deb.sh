#!/usr/bin/env bash
# make deb: builds the tailsafe .deb from a copy of this tree (packaging/debian becomes debian/)
# under build/pkg/deb, then runs lintian, which must report no error and no warning.
# The package lands in build/pkg/ as tailsafe_VERSION_ARCH.deb.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/pkg
version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
src=$out/deb/tailsafe-${version%-*}
rm -rf "$out/deb"
mkdir -p "$src"
# The tree as it is (committed or not), without build output or git's own files.
tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
cp -r "$top/packaging/debian" "$src/debian"
cp "$top/packaging/sysusers.conf" "$src/debian/tailsafe.sysusers"
cp "$top/packaging/tmpfiles.conf" "$src/debian/tailsafe.tmpfiles"
echo "deb: building tailsafe $version in $src"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -b -us -uc > "$out/deb/build.log" 2>&1) || {
  tail -40 "$out/deb/build.log" >&2
  echo "deb: dpkg-buildpackage failed; the whole log is $out/deb/build.log" >&2
  exit 1
}
deb=$(ls "$out"/deb/tailsafe_"$version"_*.deb)
cp "$deb" "$out/"
changes=$(ls "$out"/deb/tailsafe_"$version"_*.changes)
# lintian: errors and warnings fail the build; informational tags are printed, not fatal.
report=$(lintian --fail-on error,warning --display-info "$changes" 2>&1) && rc=0 || rc=$?
[[ -n "$report" ]] && echo "$report"
if ((rc != 0)); then
  echo "deb: lintian found errors or warnings" >&2
  exit 1
fi
echo "deb: $out/$(basename "$deb"): lintian clean (no errors, no warnings)"
