# tests/fuzz/build.mk - fuzzing.  Every tests/fuzz/fuzz_NAME.c is a libFuzzer target
# (LLVMFuzzerTestOneInput), picked up by wildcard, built two ways:
#
#   make fuzz          $(BUILD)/fuzz/fuzz_NAME: clang -fsanitize=fuzzer,address,undefined,
#                      linked with the compiler sources compiled by clang into
#                      $(BUILD)/fuzz/obj (not the gcc libmapc.a)
#   make tests         $(BUILD)/tests/fuzz/replay_NAME: the same fuzz_NAME.c built by the
#                      normal compiler with replay.c (a standalone driver) and libmapc.a;
#                      tests/fuzz/suite.sh replays tests/fuzz/corpus/NAME/ with it
#   make fuzz-run FUZZ_TIME=600 [FUZZ_TARGETS="csdl openapi"]
#                      runs each target for FUZZ_TIME seconds on a working copy of its corpus
#                      ($(BUILD)/fuzz/corpus/NAME, seeded from tests/fuzz/corpus/NAME), with
#                      tests/fuzz/NAME.dict when present; crashes go to
#                      $(BUILD)/fuzz/artifacts/NAME/ and the log to $(BUILD)/fuzz/NAME.log

FUZZ_CC ?= clang
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -MMD -MP \
               -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_OBJDIR := $(BUILD)/fuzz/obj
FUZZ_LIB_OBJS := $(MAPC_SRCS:%.c=$(FUZZ_OBJDIR)/%.o) \
                 $(patsubst $(BUILD)/%.c,$(FUZZ_OBJDIR)/gen/%.o,$(MAPC_GEN_SRCS))

$(FUZZ_OBJDIR)/compiler/%.o: compiler/%.c | $(filter %.h,$(MAPC_GEN_SRCS:.c=.h))
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CPPFLAGS_compiler) -c $< -o $@

$(FUZZ_OBJDIR)/gen/compiler/%.o: $(BUILD)/compiler/%.c | $(filter %.h,$(MAPC_GEN_SRCS:.c=.h))
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-everything $(CPPFLAGS_compiler) -c $< -o $@

$(FUZZ_OBJDIR)/tests/fuzz/%.o: tests/fuzz/%.c | $(filter %.h,$(MAPC_GEN_SRCS:.c=.h))
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz $(CPPFLAGS_compiler) -c $< -o $@

$(BUILD)/fuzz/fuzz_%: $(FUZZ_OBJDIR)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(MAPC_LDLIBS)

# the replay side: the normal compiler and flags (SANITIZE= applies), libmapc.a
$(FUZZ_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/tests/fuzz/replay.o: $(BUILD)/tests/fuzz/%.o: tests/fuzz/%.c \
		| $(filter %.h,$(MAPC_GEN_SRCS:.c=.h))
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz $(CPPFLAGS_compiler) -c $< -o $@

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(BUILD)/libmapc.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MAPC_LDLIBS)

TEST_BINS += $(FUZZ_REPLAY_BINS)

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BINS)

FUZZ_TIME ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
fuzz-run: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$t $(BUILD)/fuzz/artifacts/$$t; \
	  if [ -d tests/fuzz/corpus/$$t ]; then cp -n tests/fuzz/corpus/$$t/* $(BUILD)/fuzz/corpus/$$t/ 2>/dev/null; fi; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  echo "fuzz-run: $$t for $(FUZZ_TIME)s (log $(BUILD)/fuzz/$$t.log)"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 $$dict -artifact_prefix=$(BUILD)/fuzz/artifacts/$$t/ \
	    $(BUILD)/fuzz/corpus/$$t >$(BUILD)/fuzz/$$t.log 2>&1 \
	    || { echo "fuzz-run: $$t FAILED, see $(BUILD)/fuzz/$$t.log"; exit 1; }; \
	  tail -n 3 $(BUILD)/fuzz/$$t.log; \
	done
