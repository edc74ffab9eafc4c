# tests/runtime/build.mk - the runtime's C test programs: one $(BUILD)/tests/runtime/test_X
# per tests/runtime/test_X.c, each linked with libsyncrt.a.  Compiled by their own rule so the
# include path does not depend on how other suites set CPPFLAGS_tests.

RUNTIME_TEST_SRCS := $(wildcard tests/runtime/test_*.c)
RUNTIME_TEST_OBJS := $(RUNTIME_TEST_SRCS:%.c=$(BUILD)/%.o)
RUNTIME_TEST_BINS := $(RUNTIME_TEST_SRCS:%.c=$(BUILD)/%)

$(RUNTIME_TEST_OBJS): $(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iruntime/include -Itests $(call PKG_CFLAGS,$(SYNCRT_PKG)) -c $< -o $@

$(RUNTIME_TEST_BINS): $(BUILD)/%: $(BUILD)/%.o $(BUILD)/libsyncrt.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SYNCRT_LDLIBS)

TEST_BINS += $(RUNTIME_TEST_BINS)
