# The benchmarks (included by the top-level Makefile): bench/*/ and the programs in bench/tools/.
# Each installs what is missing (DEPS_BENCH adds the benchmarks' own tools), builds, and runs;
# docs/performance.md has their figures.
.PHONY: bench bench-ab bench-build bench-failover bench-many-bolts bench-scale bench-storm bench-weblog

BENCH_TOOL_SRCS := $(sort $(wildcard bench/tools/*.cc))
BENCH_BINS := $(patsubst bench/tools/%.cc,$(OUT)/bench/%,$(BENCH_TOOL_SRCS))

# The test support library brings the ZooKeeper client and libpq, as for the test tools.
$(BENCH_BINS): $(OUT)/bench/%: $(OBJ)/bench/tools/%.o $(LIBSUPPORT) $(LIBCOORD) $(LIBCOMMON)
	$(call link,$(ZK_LIBS) $(PQ_LIBS))

# The minimal durable pipeline tailsafe is compared with (bench/pipeline/pipeline.cc): zstd and
# XXH3 only, nothing of tailsafe's.
PIPELINE_BIN := $(OUT)/bench/pipeline
$(PIPELINE_BIN): $(OBJ)/bench/pipeline/pipeline.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(LINKER) -o $@ $^ -lzstd -lxxhash -lsodium

# What bench/replicate/ab.py builds in the older tree it compares with.
bench-build: all $(BENCH_BINS) $(PIPELINE_BIN)

bench: deps
	$(Q)DEPS_BENCH=1 scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all $(TOOL_BINS) $(BENCH_BINS) $(PIPELINE_BIN)
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

# bench/many-bolts: one agent with 1 bolt and with 1,000 (memory, descriptors, death detection,
# CPU per GB with every bolt writing). BENCH_* settings: bench/many-bolts/run.sh.
bench-many-bolts: deps
	$(Q)$(MAKE) --no-print-directory bench-build
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) bench/many-bolts/run.sh

# bench/scale: 32 agents in network namespaces, each stream on N = 1, 2, 3 and all peers (root;
# gnuplot draws bench/scale/scale.png). BENCH_* settings: bench/scale/run.sh.
bench-scale: deps
	$(Q)$(MAKE) --no-print-directory bench-build
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) bench/scale/run.sh
