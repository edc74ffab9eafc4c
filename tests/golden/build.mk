# tests/golden/build.mk - the front end's C API test ($(BUILD)/tests/golden/test_frontend),
# linked with libmapc.a; tests/golden/suite.sh runs it next to the golden cases.

GOLDEN_TEST_BINS := $(BUILD)/tests/golden/test_frontend

$(BUILD)/tests/golden/test_frontend.o: tests/golden/test_frontend.c | $(filter %.h,$(MAPC_GEN_SRCS:.c=.h))
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS_compiler) -Itests -c $< -o $@

$(BUILD)/tests/golden/test_frontend: $(BUILD)/tests/golden/test_frontend.o $(BUILD)/libmapc.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MAPC_LDLIBS)

TEST_BINS += $(GOLDEN_TEST_BINS)
