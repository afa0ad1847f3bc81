# The fault suite (included by the top-level Makefile): one run of FAULT_SECONDS of faults
# (tests/faults/test_faults.cc says what). With FAULT_STORE=zookeeper its report and figures are
# faults-zookeeper.*, beside the SQLite ones; with FAULT_REPLICAS=N (every agent's [cluster]
# replicas) they are faults-replicas-N.*. FAULT_SEED, FAULT_HOSTS and FAULT_KINDS pass through.
.PHONY: faults

FAULT_SECONDS ?= 600
FAULT_RUN = faults$(if $(filter-out sqlite,$(FAULT_STORE)),-$(FAULT_STORE))$(if $(FAULT_REPLICAS),-replicas-$(FAULT_REPLICAS))
faults: deps
	$(Q)$(MAKE) --no-print-directory all $(FAULT_BIN)
	@rm -f $(OUT)/tests/$(FAULT_RUN).report.xml $(OUT)/tests/$(FAULT_RUN).junit.xml
	$(Q)$(TEST_ENV) TAILSAFE_FAULT_SECONDS=$(FAULT_SECONDS) TAILSAFE_FAULT_FIGURES=$(OUT)/tests/$(FAULT_RUN).json \
	  $(if $(FAULT_SEED),TAILSAFE_FAULT_SEED=$(FAULT_SEED)) $(if $(FAULT_HOSTS),TAILSAFE_FAULT_HOSTS=$(FAULT_HOSTS)) \
	  $(if $(FAULT_KINDS),TAILSAFE_FAULT_KINDS=$(FAULT_KINDS)) $(if $(FAULT_STORE),TAILSAFE_FAULT_STORE=$(FAULT_STORE)) \
	  $(if $(FAULT_REPLICAS),TAILSAFE_FAULT_REPLICAS=$(FAULT_REPLICAS)) \
	  $(FAULT_BIN) $(call REPORT_ARGS,$(FAULT_RUN),message); rc=$$?; \
	  scripts/test-report.py $(FAULT_RUN) $(OUT)/tests/$(FAULT_RUN).report.xml; exit $$rc
