# libFuzzer targets (included by the top-level Makefile): tests/fuzz/fuzz_*.cc, built with clang
# under ASan + UBSan in build/fuzz, whatever MODE is. The library code they exercise is compiled
# again with clang; the seed writer (tests/fuzz/seeds.cc) is an ordinary program of this MODE.
.PHONY: fuzz fuzz-build fuzz-seeds

FUZZ_CXX ?= clang++
FUZZ_OUT := build/fuzz
FUZZ_FLAGS := $(CXXSTD) -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all $(CPPFLAGS)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cc,$(FUZZ_OUT)/%,$(sort $(wildcard tests/fuzz/fuzz_*.cc)))
FUZZ_LIB_OBJS := $(patsubst %.cc,$(FUZZ_OUT)/obj/%.o,$(COMMON_SRCS) coordinator/namespace_store.cc \
                 coordinator/agent_record.cc coordinator/bolt_record.cc coordinator/recovery_record.cc \
                 coordinator/status_page.cc coordinator/status_html.cc coordinator/status_assets.cc)
$(FUZZ_OUT)/obj/coordinator/status_assets.o: $(wildcard coordinator/web/*)

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

-include $(shell find $(FUZZ_OUT)/obj -name '*.d' 2>/dev/null)
