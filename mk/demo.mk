# The demos (included by the top-level Makefile): each installs what is missing, builds, and runs
# its script with the binaries of this MODE.
.PHONY: demo demo-ha demo-storm demo-replication

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
demo-storm: deps
	$(Q)$(MAKE) --no-print-directory all $(OUT)/tests/ts-storm-cluster
	$(Q)$(MAKE) --no-print-directory storm-home
	$(Q)$(MAKE) --no-print-directory storm-jars
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) TAILSAFE_SOURCE_DIR=$(CURDIR) examples/storm-weblog/demo.sh

demo-replication: deps
	$(Q)$(MAKE) --no-print-directory all $(TOOL_BINS)
	$(Q)TAILSAFE_BIN_DIR=$(abspath $(OUT)) examples/replication-demo/run.sh
