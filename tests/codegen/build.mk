# tests/codegen/build.mk - the C test program over generated code: examples/order_to_cash.map
# is regenerated into $(BUILD)/tests/codegen/gen whenever mapc or its inputs change (depfile
# from mapc gen -M) and compiled with -Werror -pedantic; `make check-generated` compares the
# committed generated/ with a fresh mapc gen of examples/.

CODEGEN_GEN := $(BUILD)/tests/codegen/gen
CODEGEN_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pedantic $(CFLAGS) $(SAN_FLAGS) \
    -Iruntime/include -Itests -I$(CODEGEN_GEN)

$(CODEGEN_GEN)/order_to_cash.c $(CODEGEN_GEN)/order_to_cash.h &: examples/order_to_cash.map $(BUILD)/mapc
	@mkdir -p $(CODEGEN_GEN)
	$(BUILD)/mapc gen -o $(CODEGEN_GEN) -M $(CODEGEN_GEN)/order_to_cash.d examples/order_to_cash.map
	@touch $(CODEGEN_GEN)/order_to_cash.c $(CODEGEN_GEN)/order_to_cash.h

-include $(CODEGEN_GEN)/order_to_cash.d

$(BUILD)/tests/codegen/test_typed: tests/codegen/test_typed.c $(CODEGEN_GEN)/order_to_cash.c \
        $(CODEGEN_GEN)/order_to_cash.h $(BUILD)/libsyncrt.a
	$(CC) $(CODEGEN_CFLAGS) -o $@ tests/codegen/test_typed.c $(CODEGEN_GEN)/order_to_cash.c \
	    $(BUILD)/libsyncrt.a -lm

TEST_BINS += $(BUILD)/tests/codegen/test_typed

.PHONY: check-generated
check-generated: $(BUILD)/mapc
	tests/codegen/check_generated.sh $(BUILD)/mapc

# The flow descriptors and registry of the committed generated/ (every file, -Werror -pedantic).
$(BUILD)/tests/codegen/test_flowdesc: tests/codegen/test_flowdesc.c $(wildcard generated/*.c generated/*.h) \
        $(BUILD)/libsyncrt.a
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pedantic $(CFLAGS) $(SAN_FLAGS) \
	    -Iruntime/include -Igenerated -o $@ tests/codegen/test_flowdesc.c $(wildcard generated/*.c) \
	    $(BUILD)/libsyncrt.a -lm

TEST_BINS += $(BUILD)/tests/codegen/test_flowdesc
