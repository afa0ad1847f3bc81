# `make install` and `make man-lint` (included by the top-level Makefile).
.PHONY: install man-lint

# `make install`: programs, man pages, systemd units (their ExecStart= pointed at PREFIX), the
# tailsafe user (sysusers.d) and /var/lib/tailsafe (tmpfiles.d), and an example configuration as
# SYSCONFDIR/tailsafe/tailsafe.conf unless one is there. An empty UNITDIR, SYSUSERSDIR or
# TMPFILESDIR skips that part (debhelper installs them its own way).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MAN_PAGES := $(sort $(wildcard man/*.[1-8]))
install: tailsafe
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(AGENT_BIN) $(COORD_BIN) $(CTL_BIN) $(DESTDIR)$(PREFIX)/bin/
	for page in $(MAN_PAGES); do \
	  section=$${page##*.}; install -d $(DESTDIR)$(MANDIR)/man$$section; \
	  install -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$section/; done
	if [ -n "$(UNITDIR)" ]; then install -d $(DESTDIR)$(UNITDIR); \
	  for unit in packaging/systemd/*.service packaging/systemd/*.timer; do \
	    sed 's#/usr/bin/tailsafe#$(PREFIX)/bin/tailsafe#; s#/etc/tailsafe/#$(SYSCONFDIR)/tailsafe/#' $$unit \
	      > $(DESTDIR)$(UNITDIR)/$$(basename $$unit); chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$unit); done; fi
	if [ -n "$(SYSUSERSDIR)" ]; then install -D -m 0644 packaging/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/tailsafe.conf; fi
	if [ -n "$(TMPFILESDIR)" ]; then install -D -m 0644 packaging/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/tailsafe.conf; fi
	install -d $(DESTDIR)$(SYSCONFDIR)/tailsafe
	[ -e $(DESTDIR)$(SYSCONFDIR)/tailsafe/tailsafe.conf ] || \
	  install -m 0644 packaging/tailsafe.conf.example $(DESTDIR)$(SYSCONFDIR)/tailsafe/tailsafe.conf

# The man pages: mandoc -Tlint must print nothing.
man-lint:
	$(Q)out=$$(mandoc -Tlint $(MAN_PAGES) 2>&1); if [ -n "$$out" ]; then echo "$$out" >&2; exit 1; fi; \
	  echo "man-lint: mandoc -Tlint: clean ($(words $(MAN_PAGES)) pages)"
