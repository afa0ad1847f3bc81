# tailsafe top-level Makefile: the build and the test suites. The other targets live in mk/, one
# file per job, included at the end; every one is run from here (`make bench`, not make -f).
#
# Build and test (this file)
#   make                 build the binaries into build/ (MODE=release)
#   make MODE=debug      -O0, binaries into build/debug/
#   make MODE=asan       AddressSanitizer + UBSan, binaries into build/asan/
#   make test            install missing packages, build, run every test suite
#   make deps            install the missing Debian packages (root)
#   make code-shape      functions over 80 lines and classes over 500 in agent/, coordinator/ and
#                        common/ (scripts/code-shape.py; MAX_FUNCTION=N, MAX_CLASS=M; also in make test)
#   make clean           remove build/ and the Maven modules' target/ directories
#   V=1                  show the commands
#   JOBS=N               compile with N jobs (default: every core, nproc); a top-level -jN is
#                        overridden, so say JOBS=1 for a serial build
#   EXTRA_CPPFLAGS, EXTRA_CXXFLAGS, EXTRA_LDFLAGS   a packager's flags (debian/rules, the .spec)
#
# Demos (mk/demo.mk)
#   make demo            install missing packages, build, run the weblog demo (examples/weblog)
#   make demo-ha         the weblog demo on three coordinators and a 3-member ZooKeeper ensemble
#   make demo-storm      the weblog demo on a real Apache Storm cluster (root): a worker JVM killed
#                        mid-stream (examples/storm-weblog/demo.sh)
#   make demo-replication  the replication-only demo (examples/replication-demo)
#
# Fault suite (mk/faults.mk)
#   make faults          the fault suite (tests/faults/, root): FAULT_SECONDS of kills, pauses,
#                        partitions, full disks and rotation storms under small inotify queues
#                        (default 600), then the checker; FAULT_SEED replays a schedule; figures
#                        in $(OUT)/tests/faults.json; FAULT_STORE=zookeeper runs three coordinators
#                        on an ensemble, with their own faults (faults-zookeeper.json);
#                        FAULT_REPLICAS=N gives every agent [cluster] replicas = N; .ci/run runs
#                        both stores in both modes, and replicas = 2 on 5 hosts
#
# Fuzzing (mk/fuzz.mk)
#   make fuzz            build the libFuzzer targets (clang) and run each FUZZ_SECONDS (default 60)
#   make fuzz-seeds      rewrite the seed corpora in tests/fuzz/corpus/ from real messages
#
# Benchmarks (mk/bench.mk)
#   make bench           run bench/replicate (needs DEPS_BENCH packages)
#   make bench-failover  run bench/failover (death to hook start; leader failover on ZooKeeper)
#   make bench-weblog    run bench/weblog (the weblog application with and without tailsafe)
#   make bench-storm     run bench/storm (tuples/s through a Storm topology with TailsafeBolt and without)
#   make bench-ab BASE=REV  bench/replicate's tailsafe phases for REV and this build, alternating (PAIRS=3)
#   make bench-many-bolts  run bench/many-bolts (an agent with 1 bolt and with 1,000)
#   make bench-scale     run bench/scale (32 agents in network namespaces, each stream on N peers; root)
#
# Storm module (mk/storm.mk)
#   make storm-test      build the storm/ Maven module, run its JUnit tests, build its javadoc
#                        (storm/target/reports/apidocs) and the example topology jar
#                        (examples/storm-weblog) (also in make test)
#   make storm-home      lay out build/storm-home from Storm's jars (Maven Central) and build the
#                        Nimbus client storm/admin: what the Storm integration tests run on
#
# Install and packages (mk/install.mk, mk/packages.mk)
#   make install         programs, man pages, units, sysusers/tmpfiles, example config (PREFIX, DESTDIR)
#   make man-lint        mandoc -Tlint man/* prints nothing (also in make test)
#   make deb | rpm       packages under build/pkg/ (lintian for the .deb)
#   make package-test    build the .deb, install it here, check it, purge it (also in make test)
#   make check-units     systemd-analyze verify and security scores of packaging/systemd/ (also in make test)
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
  # -g1: line tables, which are all a sanitizer report's stack needs, and quicker to build than -g.
  MODE_FLAGS := -O1 -g1 -fno-omit-frame-pointer $(SAN_FLAGS)
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
LIBS := -luv -lzstd -lxxhash -lsqlite3 -ltomlplusplus -lsodium -lsystemd -lmicrohttpd
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
UNIT_TEST_SRCS := $(sort $(wildcard tests/common/*.cc tests/agent/*.cc tests/coordinator/*.cc tests/ctl/*.cc tests/weblog/*.cc)) tests/unit_main.cc
INTEGRATION_TEST_SRCS := $(sort $(wildcard tests/integration/*.cc)) tests/integration_main.cc
FAULT_TEST_SRCS := $(sort $(wildcard tests/faults/*.cc))
SUPPORT_SRCS := $(sort $(wildcard tests/support/*.cc))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.cc))
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

WEBLOG_BINS := $(patsubst examples/weblog/%_main.cc,$(OUT)/weblog-%,$(WEBLOG_MAIN_SRCS))

BINS := $(AGENT_BIN) $(COORD_BIN) $(CTL_BIN) $(WEBLOG_BINS)

.PHONY: all tailsafe deps test unit-test integration-test code-shape clean
.DEFAULT_GOAL := all

all: $(BINS)

# What the packages ship: the three programs (the weblog example's are not installed).
tailsafe: $(AGENT_BIN) $(COORD_BIN) $(CTL_BIN)

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
# The status page's script and stylesheet are assembled into this object (.incbin).
$(OBJ)/coordinator/status_assets.o: $(wildcard coordinator/web/*)
$(LIBCOORD): $(call objs,$(COORD_LIB_SRCS))
$(LIBSUPPORT): $(call objs,$(SUPPORT_SRCS))
$(LIBWEBLOG): $(call objs,$(WEBLOG_LIB_SRCS))
$(ARCHIVES):
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The one link recipe: a program's rule lists its objects, then its archives (libcommon last),
# and says `$(call link,EXTRA)`: the link adds LIBS, then EXTRA (ZK_LIBS, PQ_LIBS, TEST_LIBS).
# LINKER is the driver and its flags; the fuzz targets (mk/fuzz.mk) set clang's for themselves.
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
$(UNIT_BIN): $(call objs,$(UNIT_TEST_SRCS)) $(OBJ)/ctl/health_check.o $(LIBSUPPORT) $(LIBAGENT) $(LIBCOORD) $(LIBWEBLOG) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS) $(TEST_LIBS))
$(INTEGRATION_BIN): $(call objs,$(INTEGRATION_TEST_SRCS)) $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS) $(TEST_LIBS))
$(FAULT_BIN): $(call objs,$(FAULT_TEST_SRCS)) $(LIBSUPPORT) $(LIBCOORD) $(LIBWEBLOG) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(TEST_LIBS))
# The test support library brings the ZooKeeper client (ZookeeperEnsemble asks the ensemble)
# and libpq (PostgresServer) to the tools that use those parts.
$(TOOL_BINS): $(OUT)/tests/%: $(OBJ)/tests/tools/%.o $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS))

# Tests find the binaries under test through TAILSAFE_BIN_DIR.
TEST_ENV := TAILSAFE_BIN_DIR=$(abspath $(OUT)) TAILSAFE_SOURCE_DIR=$(CURDIR)

# Each suite writes a detailed Boost.Test XML report beside its binary; scripts/test-report.py
# turns the reports into the plain "N passed, N failed" closing line that CI reads, with one
# "failed: suite/case" line above it per failed case (no colour codes, which would hide them).
# The JUnit log beside it holds each failed check's message, which test-report.py prints too.
REPORT_ARGS = --color_output=no --report_format=XML --report_level=detailed --report_sink=$(OUT)/tests/$(1).report.xml \
  --logger=HRF,$(2),stdout:JUNIT,error,$(OUT)/tests/$(1).junit.xml

unit-test: $(UNIT_BIN)
	@rm -f $(OUT)/tests/unit.report.xml $(OUT)/tests/unit.junit.xml
	$(Q)$(TEST_ENV) $(UNIT_BIN) $(call REPORT_ARGS,unit,warning); rc=$$?; \
	  scripts/test-report.py unit $(OUT)/tests/unit.report.xml; exit $$rc

integration-test: $(BINS) $(INTEGRATION_BIN) $(TOOL_BINS)
	@rm -f $(OUT)/tests/integration.report.xml $(OUT)/tests/integration.junit.xml
	@scripts/promtool.sh $(OUT)
	$(Q)$(TEST_ENV) $(INTEGRATION_BIN) $(call REPORT_ARGS,integration,message); rc=$$?; \
	  scripts/test-report.py integration $(OUT)/tests/integration.report.xml; \
	  exit $$rc

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
	  $(MAKE) --no-print-directory code-shape || rc=1; \
	  if [ "$(MODE)" = release ]; then scripts/timed.sh "deb and rpm packages" \
	    $(MAKE) --no-print-directory package-test rpm || rc=1; fi; \
	  scripts/test-report.py tests $(OUT)/tests/unit.report.xml \
	    $(OUT)/tests/integration.report.xml $(if $(filter release,$(MODE)),$(STORM_REPORTS)/TEST-*.xml); exit $$rc

# Issue 23's size limits: the checker's own self-test, then one line per function or class over
# them (scripts/code-shape.py says how it counts). make test fails on any.
MAX_FUNCTION ?= 80
MAX_CLASS ?= 500
code-shape:
	$(Q)scripts/code-shape.py --self-test
	$(Q)scripts/code-shape.py --max-function $(MAX_FUNCTION) --max-class $(MAX_CLASS)

clean:
	rm -rf build storm/target storm/admin/target storm/home/target examples/storm-weblog/target bench/storm/target

include mk/demo.mk mk/faults.mk mk/fuzz.mk mk/bench.mk mk/storm.mk mk/install.mk mk/packages.mk

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
