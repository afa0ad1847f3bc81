# tailsafe top-level Makefile.
#
#   make                 build the binaries into build/ (MODE=release)
#   make MODE=debug      -O0, binaries into build/debug/
#   make MODE=asan       AddressSanitizer + UBSan, binaries into build/asan/
#   make test            install missing packages, build, run every test suite
#   make demo            install missing packages, build, run the weblog demo (examples/weblog)
#   make demo-ha         the weblog demo on three coordinators and a 3-member ZooKeeper ensemble
#   make demo-storm      the weblog demo on a real Apache Storm cluster (root): a worker JVM killed
#                        mid-stream (examples/storm-weblog/demo.sh)
#   make demo-replication  the replication-only demo (examples/replication-demo)
#   make deps            install the missing Debian packages (root)
#   make bench           run bench/replicate (needs DEPS_BENCH packages)
#   make bench-failover  run bench/failover (death to hook start; leader failover on ZooKeeper)
#   make bench-weblog    run bench/weblog (the weblog application with and without tailsafe)
#   make bench-storm     run bench/storm (tuples/s through a Storm topology with TailsafeBolt and without)
#   make bench-ab BASE=REV  bench/replicate's tailsafe phases for REV and this build, alternating (PAIRS=3)
#   make check-units     systemd-analyze verify and security scores of packaging/systemd/ (also in make test)
#   make install         programs, man pages, units, sysusers/tmpfiles, example config (PREFIX, DESTDIR)
#   make deb | rpm       packages under build/pkg/ (lintian for the .deb)
#   make package-test    build the .deb, install it here, check it, purge it (also in make test)
#   make man-lint        mandoc -Tlint man/* prints nothing (also in make test)
#   make storm-test      build the storm/ Maven module, run its JUnit tests, build its javadoc
#                        (storm/target/reports/apidocs) and the example topology jar
#                        (examples/storm-weblog) (also in make test)
#   make storm-home      lay out build/storm-home from Storm's jars (Maven Central) and build the
#                        Nimbus client storm/admin: what the Storm integration tests run on
#   make faults          the fault suite (tests/faults/, root): FAULT_SECONDS of kills, pauses,
#                        partitions, full disks and rotation storms under small inotify queues
#                        (default 600), then the checker; FAULT_SEED replays a schedule; figures
#                        in $(OUT)/tests/faults.json; FAULT_STORE=zookeeper runs three coordinators
#                        on an ensemble, with their own faults (faults-zookeeper.json); .ci/run
#                        runs both stores in both modes
#   make fuzz            build the libFuzzer targets (clang) and run each FUZZ_SECONDS (default 60)
#   make fuzz-seeds      rewrite the seed corpora in tests/fuzz/corpus/ from real messages
#   V=1                  show the commands
#   JOBS=N               compile with N jobs (default: every core, nproc); a top-level -jN is
#                        overridden, so say JOBS=1 for a serial build
#
# Objects live under $(OUT)/obj; a flags stamp rebuilds everything when the flags change;
# -MMD -MP gives automatic header dependencies. Every archive is made by one rule, every program
# linked by one recipe ($(call link,...)).

# Every core by default: the top-level make sets -j (sub-makes share its jobserver). GNU make 4.3
# does not show a command-line -j to the makefile, hence JOBS instead.
JOBS ?= $(shell nproc)
ifeq ($(MAKELEVEL),0)
  MAKEFLAGS += -j$(JOBS)
endif

MODE ?= release
ifeq ($(MODE),release)
  OUT := build
  MODE_FLAGS := -O2 -g
else ifeq ($(MODE),debug)
  OUT := build/debug
  MODE_FLAGS := -O0 -g3
else ifeq ($(MODE),asan)
  OUT := build/asan
  SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
  MODE_FLAGS := -O1 -g -fno-omit-frame-pointer $(SAN_FLAGS)
else
  $(error MODE must be release, debug or asan, not '$(MODE)')
endif

CXX ?= g++
CXXSTD := -std=c++20
WARN := -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wformat=2
CPPFLAGS := -I. -D_GNU_SOURCE
# EXTRA_*: flags a packager adds (debian/rules passes dpkg-buildflags' hardening flags).
CPPFLAGS += $(EXTRA_CPPFLAGS)
CXXFLAGS := $(CXXSTD) $(WARN) $(MODE_FLAGS) -pthread $(EXTRA_CXXFLAGS)
LDFLAGS := -pthread $(SAN_FLAGS) $(EXTRA_LDFLAGS)
LIBS := -luv -lzstd -lxxhash -lsqlite3 -ltomlplusplus -lsodium -lsystemd
TEST_LIBS := -lboost_unit_test_framework
# The coordinator's ZooKeeper store: Debian's single-threaded C client (libzookeeper-st-dev).
ZK_LIBS := -lzookeeper_st
# The weblog results database on PostgreSQL (libpq-dev): the weblog programs and the tests that
# start a server link it; the daemons and tailsafectl never do.
PQ_LIBS := -lpq

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

OBJ := $(OUT)/obj

COMMON_SRCS := $(sort $(wildcard common/*.cc))
AGENT_LIB_SRCS := $(filter-out agent/main.cc,$(sort $(wildcard agent/*.cc)))
COORD_LIB_SRCS := $(filter-out coordinator/main.cc,$(sort $(wildcard coordinator/*.cc)))
CTL_SRCS := $(sort $(wildcard ctl/*.cc))
UNIT_TEST_SRCS := $(sort $(wildcard tests/common/*.cc tests/agent/*.cc tests/coordinator/*.cc tests/weblog/*.cc)) tests/unit_main.cc
INTEGRATION_TEST_SRCS := $(sort $(wildcard tests/integration/*.cc)) tests/integration_main.cc
FAULT_TEST_SRCS := $(sort $(wildcard tests/faults/*.cc))
SUPPORT_SRCS := $(sort $(wildcard tests/support/*.cc))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.cc))
BENCH_TOOL_SRCS := $(sort $(wildcard bench/tools/*.cc))
# The weblog application (examples/weblog): a library, and one *_main.cc per program.
WEBLOG_MAIN_SRCS := $(sort $(wildcard examples/weblog/*_main.cc))
WEBLOG_LIB_SRCS := $(filter-out $(WEBLOG_MAIN_SRCS),$(sort $(wildcard examples/weblog/*.cc)))

objs = $(patsubst %.cc,$(OBJ)/%.o,$(1))

LIBCOMMON := $(OBJ)/libcommon.a
LIBAGENT := $(OBJ)/libagent.a
LIBCOORD := $(OBJ)/libcoordinator.a
LIBSUPPORT := $(OBJ)/libtestsupport.a
LIBWEBLOG := $(OBJ)/libweblog.a
ARCHIVES := $(LIBCOMMON) $(LIBAGENT) $(LIBCOORD) $(LIBSUPPORT) $(LIBWEBLOG)

AGENT_BIN := $(OUT)/tailsafe-agent
CTL_BIN := $(OUT)/tailsafectl
COORD_BIN := $(OUT)/tailsafe-coordinator
UNIT_BIN := $(OUT)/tests/unit_tests
INTEGRATION_BIN := $(OUT)/tests/integration_tests
FAULT_BIN := $(OUT)/tests/fault_tests
TOOL_BINS := $(patsubst tests/tools/%.cc,$(OUT)/tests/%,$(TOOL_SRCS))
BENCH_BINS := $(patsubst bench/tools/%.cc,$(OUT)/bench/%,$(BENCH_TOOL_SRCS))

WEBLOG_BINS := $(patsubst examples/weblog/%_main.cc,$(OUT)/weblog-%,$(WEBLOG_MAIN_SRCS))

BINS := $(AGENT_BIN) $(COORD_BIN) $(CTL_BIN) $(WEBLOG_BINS)

.PHONY: all faults tailsafe install man-lint deb rpm package-test deps test unit-test integration-test demo demo-ha demo-replication bench bench-failover bench-weblog bench-storm bench-ab bench-build check-units \
        fuzz fuzz-build fuzz-seeds clean storm-test storm-home storm-jars

bench-build: all $(BENCH_BINS)
.DEFAULT_GOAL := all

all: $(BINS)

# What the packages ship: the three programs (the weblog example's are not installed).
tailsafe: $(AGENT_BIN) $(COORD_BIN) $(CTL_BIN)

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

# Packages, built from a copy of this tree under build/pkg/: .deb (dpkg-buildpackage, then
# lintian) and .rpm (rpmbuild from Debian's rpm package). package-test installs the .deb on this
# machine, checks it, and purges it (root).
deb: deps
	$(Q)packaging/build-deb.sh
rpm: deps
	$(Q)packaging/build-rpm.sh
package-test: deb
	$(Q)packaging/test-deb.sh

deps:
	$(Q)scripts/deps.sh

# Flags stamp: rewritten only when the compile/link line changes, so a flag change rebuilds.
FLAGS_LINE := $(CXX) $(CPPFLAGS) $(CXXFLAGS) $(LDFLAGS) $(LIBS)
$(OBJ)/flags.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_LINE)' | cmp -s - $@ || echo '$(FLAGS_LINE)' > $@
FORCE:

$(OBJ)/%.o: %.cc $(OBJ)/flags.stamp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

# The static libraries: each one's objects, then the one rule that archives them.
$(LIBCOMMON): $(call objs,$(COMMON_SRCS))
$(LIBAGENT): $(call objs,$(AGENT_LIB_SRCS))
$(LIBCOORD): $(call objs,$(COORD_LIB_SRCS))
$(LIBSUPPORT): $(call objs,$(SUPPORT_SRCS))
$(LIBWEBLOG): $(call objs,$(WEBLOG_LIB_SRCS))
$(ARCHIVES):
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The one link recipe: a program's rule lists its objects, then its archives (libcommon last),
# and says `$(call link,EXTRA)`: the link adds LIBS, then EXTRA (ZK_LIBS, PQ_LIBS, TEST_LIBS).
# LINKER is the driver and its flags; the fuzz targets (below) set clang's for themselves.
LINKER = $(CXX) $(LDFLAGS)
define link
@mkdir -p $(@D)
@$(if $(Q),echo "  LINK    $@")
$(Q)$(LINKER) -o $@ $^ $(LIBS) $(1)
endef

$(AGENT_BIN): $(call objs,agent/main.cc) $(LIBAGENT) $(LIBCOMMON)
	$(call link)
$(COORD_BIN): $(call objs,coordinator/main.cc) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS))
$(CTL_BIN): $(call objs,$(CTL_SRCS)) $(LIBCOMMON)
	$(call link)
$(WEBLOG_BINS): $(OUT)/weblog-%: $(OBJ)/examples/weblog/%_main.o $(LIBWEBLOG) $(LIBCOMMON)
	$(call link,$(PQ_LIBS))
$(UNIT_BIN): $(call objs,$(UNIT_TEST_SRCS)) $(LIBSUPPORT) $(LIBAGENT) $(LIBCOORD) $(LIBWEBLOG) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS) $(TEST_LIBS))
$(INTEGRATION_BIN): $(call objs,$(INTEGRATION_TEST_SRCS)) $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS) $(TEST_LIBS))
$(FAULT_BIN): $(call objs,$(FAULT_TEST_SRCS)) $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(TEST_LIBS))
# The test support library brings the ZooKeeper client (ZookeeperEnsemble asks the ensemble)
# and libpq (PostgresServer) to the tools (and the benchmark's programs) that use those parts.
$(TOOL_BINS): $(OUT)/tests/%: $(OBJ)/tests/tools/%.o $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS))
$(BENCH_BINS): $(OUT)/bench/%: $(OBJ)/bench/tools/%.o $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS))

# Tests find the binaries under test through TAILSAFE_BIN_DIR.
TEST_ENV := TAILSAFE_BIN_DIR=$(abspath $(OUT)) TAILSAFE_SOURCE_DIR=$(CURDIR)

# Each suite writes a detailed Boost.Test XML report beside its binary; scripts/test-report.py
# turns the reports into the plain "N passed, N failed" closing line that CI reads, with one
# "failed: suite/case" line above it per failed case (no colour codes, which would hide them).
REPORT_ARGS = --color_output=no --report_format=XML --report_level=detailed --report_sink=$(OUT)/tests/$(1).report.xml

unit-test: $(UNIT_BIN)
	@rm -f $(OUT)/tests/unit.report.xml
	$(Q)$(TEST_ENV) $(UNIT_BIN) --log_level=warning $(call REPORT_ARGS,unit); rc=$$?; \
	  scripts/test-report.py unit $(OUT)/tests/unit.report.xml; exit $$rc

integration-test: $(BINS) $(INTEGRATION_BIN) $(TOOL_BINS)
	@rm -f $(OUT)/tests/integration.report.xml
	@scripts/promtool.sh $(OUT)
	$(Q)$(TEST_ENV) $(INTEGRATION_BIN) --log_level=message $(call REPORT_ARGS,integration); rc=$$?; \
	  scripts/test-report.py integration $(OUT)/tests/integration.report.xml; \
	  exit $$rc

# storm/: the tailsafe-storm Maven module (Java 17; its jars come from Maven Central). Its JUnit
# reports feed the same closing line. `install` puts it in the local Maven repository, where the
# example topology (examples/storm-weblog, a shaded topology jar) finds it.
MVN ?= mvn
STORM_REPORTS := storm/target/surefire-reports
STORM_WEBLOG_JAR := examples/storm-weblog/target/storm-weblog-0.1.0-topology.jar
# A storm.home for the tests, the demo and the benchmark (build/storm-home: Storm's released jars
# from Maven Central, storm/home/pom.xml) and the Nimbus client they drive it with (storm/admin).
STORM_HOME := build/storm-home
storm-home: deps
	@mkdir -p build
	$(Q)$(MVN) -B -q -f storm/home/pom.xml package -Dstorm.home.dir=$(abspath $(STORM_HOME)) > build/storm-home.log 2>&1 && \
	  $(MVN) -B -q -f storm/admin/pom.xml package >> build/storm-home.log 2>&1 || { tail -n 80 build/storm-home.log; exit 1; }
# The same jars without the JUnit run (the sanitizer pass of make test needs the jars only).
storm-jars: deps
	@mkdir -p $(OUT)
	$(Q)$(MVN) -B -q -f storm/pom.xml install -DskipTests > $(OUT)/storm-mvn.log 2>&1 && \
	  $(MVN) -B -q -f examples/storm-weblog/pom.xml package >> $(OUT)/storm-mvn.log 2>&1 || { tail -n 80 $(OUT)/storm-mvn.log; exit 1; }
# Maven's own output goes to $(OUT)/storm-mvn.log, shown when the build or a test fails.
storm-test: deps
	@rm -rf $(STORM_REPORTS); mkdir -p $(OUT)
	$(Q)$(MVN) -B -q -f storm/pom.xml install javadoc:javadoc > $(OUT)/storm-mvn.log 2>&1 && \
	  $(MVN) -B -q -f examples/storm-weblog/pom.xml package >> $(OUT)/storm-mvn.log 2>&1; rc=$$?; \
	  if [ $$rc != 0 ]; then tail -n 80 $(OUT)/storm-mvn.log; fi; \
	  scripts/test-report.py storm $(STORM_REPORTS)/TEST-*.xml; exit $$rc

# The fault suite: one run of FAULT_SECONDS of faults (tests/faults/test_faults.cc says what).
# With FAULT_STORE=zookeeper its report and figures are faults-zookeeper.*, beside the SQLite ones.
FAULT_SECONDS ?= 600
FAULT_RUN = faults$(if $(filter-out sqlite,$(FAULT_STORE)),-$(FAULT_STORE))
faults: deps
	$(Q)$(MAKE) --no-print-directory all $(FAULT_BIN)
	@rm -f $(OUT)/tests/$(FAULT_RUN).report.xml
	$(Q)$(TEST_ENV) TAILSAFE_FAULT_SECONDS=$(FAULT_SECONDS) TAILSAFE_FAULT_FIGURES=$(OUT)/tests/$(FAULT_RUN).json \
	  $(if $(FAULT_SEED),TAILSAFE_FAULT_SEED=$(FAULT_SEED)) $(if $(FAULT_HOSTS),TAILSAFE_FAULT_HOSTS=$(FAULT_HOSTS)) \
	  $(if $(FAULT_KINDS),TAILSAFE_FAULT_KINDS=$(FAULT_KINDS)) $(if $(FAULT_STORE),TAILSAFE_FAULT_STORE=$(FAULT_STORE)) \
	  $(FAULT_BIN) --log_level=message $(call REPORT_ARGS,$(FAULT_RUN)); rc=$$?; \
	  scripts/test-report.py $(FAULT_RUN) $(OUT)/tests/$(FAULT_RUN).report.xml; exit $$rc

# `make test`: the README's command. Installs what is missing, builds, runs every suite (the
# integration suite runs even if a unit test failed), and ends with one total line. The
# packages (built release) and the Java module's JUnit tests run in the release mode only; the
# Java jars and build/storm-home are built before the integration tests, which run Storm.
test: deps
	@echo "== make test (MODE=$(MODE))"
	$(Q)scripts/timed.sh "build ($(MODE))" $(MAKE) --no-print-directory all $(UNIT_BIN) $(INTEGRATION_BIN) $(TOOL_BINS)
	$(Q)rc=0; scripts/timed.sh "unit tests" $(MAKE) --no-print-directory unit-test || rc=1; \
	  if [ "$(MODE)" = release ]; then scripts/timed.sh "storm module" $(MAKE) --no-print-directory storm-test || rc=1; \
	  else $(MAKE) --no-print-directory storm-jars || rc=1; fi; \
	  scripts/timed.sh "storm home" $(MAKE) --no-print-directory storm-home || rc=1; \
	  scripts/timed.sh "integration tests" $(MAKE) --no-print-directory integration-test || rc=1; \
	  packaging/systemd/check.sh $(abspath $(OUT)) || rc=1; \
	  $(MAKE) --no-print-directory man-lint || rc=1; \
	  if [ "$(MODE)" = release ]; then scripts/timed.sh "deb and rpm packages" \
	    $(MAKE) --no-print-directory package-test rpm || rc=1; fi; \
	  scripts/test-report.py tests $(OUT)/tests/unit.report.xml \
	    $(OUT)/tests/integration.report.xml $(if $(filter release,$(MODE)),$(STORM_REPORTS)/TEST-*.xml); exit $$rc

# The systemd units: systemd-analyze verify clean, each daemon's exposure 2.0 or better.
check-units: all
	$(Q)packaging/systemd/check.sh $(abspath $(OUT))

# `make demo`: the README's main job, the weblog application under tailsafe (examples/weblog).
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) examples/weblog/demo.sh

# The same demo with three coordinators on a 3-member ZooKeeper ensemble; the leader is
# SIGKILLed with the bolt.
demo-ha: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) DEMO_HA=1 examples/weblog/demo.sh

# The weblog demo on a real Storm cluster (examples/storm-weblog): Nimbus and two supervisors in a
# network namespace (root), tailsafe's agents finding the tasks' files by a [[bolt_pattern]] rule;
# a worker JVM is SIGKILLed mid-stream; the same EQUAL check and chart, in $(OUT)/demo-storm/.
.PHONY: demo-storm
demo-storm: deps
	$(Q)$(MAKE) --no-print-directory all $(OUT)/tests/ts-storm-cluster
	$(Q)$(MAKE) --no-print-directory storm-home
	$(Q)$(MAKE) --no-print-directory storm-jars
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) TAILSAFE_SOURCE_DIR=$(CURDIR) examples/storm-weblog/demo.sh

demo-replication: deps
	$(Q)$(MAKE) --no-print-directory all $(TOOL_BINS)
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) examples/replication-demo/run.sh

bench: deps
	$(Q)DEPS_BENCH=1 scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all $(TOOL_BINS) $(BENCH_BINS)
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) bench/replicate/run.sh

bench-ab: deps
	$(Q)test -n "$(BASE)" || { echo "make bench-ab: say which revision to compare with, e.g. make bench-ab BASE=075b5ec" >&2; exit 2; }
	$(Q)DEPS_BENCH=1 scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all $(BENCH_BINS)
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) PAIRS=$(or $(PAIRS),3) bench/replicate/ab.py $(BASE)

bench-weblog: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) bench/weblog/run.sh

# bench/storm: tuples per second through a real Storm topology with TailsafeBolt and without it:
# the weblog application's, then a bolt that costs almost nothing (TOPOLOGY=weblog or count for
# one; PAIRS pairs of alternating runs, TUPLES a run). The last run is in bench/storm/last-run.md.
bench-storm: deps
	$(Q)$(MAKE) --no-print-directory all $(OUT)/bench/storm_bench storm-home storm-jars
	$(Q)$(MVN) -B -q -f bench/storm/pom.xml package > $(OUT)/bench-storm-mvn.log 2>&1 || { tail -n 80 $(OUT)/bench-storm-mvn.log; exit 1; }
	$(Q)printf '# bench/storm, last run\n\nWritten by `make bench-storm` (bench/tools/storm_bench.cc says what it measures).\n\n' > bench/storm/last-run.md
	$(Q)for t in $(or $(TOPOLOGY),weblog count); do \
	  TAILSAFE_BIN_DIR=$(abspath $(OUT)) TAILSAFE_SOURCE_DIR=$(CURDIR) $(OUT)/bench/storm_bench --topology $$t --pairs $(or $(PAIRS),3) \
	    $(if $(TUPLES),--tuples $(TUPLES)) --out bench/storm/last-run.md || exit 1; echo >> bench/storm/last-run.md; done

bench-failover: deps
	$(Q)$(MAKE) --no-print-directory all $(TOOL_BINS)
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) bench/failover/run.sh

# libFuzzer targets (tests/fuzz/fuzz_*.cc), built with clang under ASan + UBSan in build/fuzz,
# whatever MODE is. The library code they exercise is compiled again with clang.
FUZZ_CXX ?= clang++
FUZZ_OUT := build/fuzz
FUZZ_FLAGS := $(CXXSTD) -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all $(CPPFLAGS)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cc,$(FUZZ_OUT)/%,$(sort $(wildcard tests/fuzz/fuzz_*.cc)))
FUZZ_LIB_OBJS := $(patsubst %.cc,$(FUZZ_OUT)/obj/%.o,$(COMMON_SRCS) coordinator/namespace_store.cc \
                 coordinator/agent_record.cc coordinator/bolt_record.cc coordinator/recovery_record.cc)

$(FUZZ_OUT)/obj/%.o: %.cc
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCXX $<")
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_TARGETS): LINKER = $(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer
$(FUZZ_TARGETS): $(FUZZ_OUT)/%: $(FUZZ_OUT)/obj/tests/fuzz/%.o $(FUZZ_LIB_OBJS)
	$(call link)

fuzz-build: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_TARGETS)
fuzz: fuzz-build
	$(Q)scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
$(OUT)/fuzz-seeds: $(OBJ)/tests/fuzz/seeds.o $(LIBCOMMON)
	$(call link)
fuzz-seeds: $(OUT)/fuzz-seeds
	$(Q)$(OUT)/fuzz-seeds tests/fuzz/corpus

clean:
	rm -rf build storm/target storm/admin/target storm/home/target examples/storm-weblog/target bench/storm/target

-include $(shell find $(OBJ) $(FUZZ_OUT)/obj -name '*.d' 2>/dev/null)
