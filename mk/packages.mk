# The packages and their checks (included by the top-level Makefile). Packages are built from a
# copy of this tree under build/pkg/: .deb (dpkg-buildpackage, then lintian) and .rpm (rpmbuild
# from Debian's rpm package); both run the top-level `make tailsafe` and `make install`.
# package-test installs the .deb on this machine, checks it, and purges it (root).
.PHONY: deb rpm package-test check-units

deb: deps
	$(Q)packaging/build-deb.sh
rpm: deps
	$(Q)packaging/build-rpm.sh
package-test: deb
	$(Q)packaging/test-deb.sh

# The systemd units: systemd-analyze verify clean, each daemon's exposure 2.0 or better.
check-units: all
	$(Q)packaging/systemd/check.sh $(abspath $(OUT))
