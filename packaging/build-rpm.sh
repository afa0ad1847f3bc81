#!/usr/bin/env bash
# make rpm: builds the tailsafe .rpm with rpmbuild from packaging/rpm/tailsafe.spec and a
# tarball of this tree, in build/pkg/rpm; the package lands in build/pkg/. On Debian the spec's
# BuildRequires name Fedora packages rpm cannot see, so they are not checked (--nodeps); the
# build uses the Debian packages make deps installs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/pkg
version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
version=${version%-*}
spec_version=$(sed -n 's/.*%global tailsafe_version \([^}]*\)}.*/\1/p' "$top/packaging/rpm/tailsafe.spec")
[[ "$spec_version" == "$version" ]] ||
  { echo "rpm: tailsafe.spec says $spec_version, debian/changelog $version" >&2; exit 1; }
rm -rf "$out/rpm"
mkdir -p "$out/rpm/SOURCES" "$out/rpm/stage/tailsafe-$version"
tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$out/rpm/stage/tailsafe-$version" -xf -
tar -C "$out/rpm/stage" -czf "$out/rpm/SOURCES/tailsafe-$version.tar.gz" "tailsafe-$version"
echo "rpm: building tailsafe $version in $out/rpm"
rpmbuild -bb --nodeps --define "_topdir $out/rpm" --define "tailsafe_version $version" \
  --define "_smp_mflags -j$(nproc)" "$top/packaging/rpm/tailsafe.spec" > "$out/rpm/build.log" 2>&1 || {
  tail -40 "$out/rpm/build.log" >&2
  echo "rpm: rpmbuild failed; the whole log is $out/rpm/build.log" >&2
  exit 1
}
rpm=$(ls "$out"/rpm/RPMS/*/tailsafe-"$version"-1*.rpm | grep -v debug | head -1)
cp "$rpm" "$out/"
echo "rpm: $out/$(basename "$rpm")"
rpm -qlp "$out/$(basename "$rpm")" 2>/dev/null | sed 's/^/rpm:   /'
