# compiler/build.mk - mapc: libmapc.a (every compiler/*.c but the CLI files main.c and
# cmd_*.c, plus the flex and bison outputs generated into $(BUILD)/compiler) and the thin
# CLI build/mapc (main.c dispatching to one cmd_<name>.c per subcommand).

MAPC_LIBS_PKG := libxml-2.0 jansson
CPPFLAGS_compiler = -Icompiler -I$(BUILD)/compiler -Iruntime/include $(call PKG_CFLAGS,$(MAPC_LIBS_PKG))
MAPC_LDLIBS = $(call PKG_LIBS,$(MAPC_LIBS_PKG)) -lm

MAPC_CLI_SRCS := compiler/main.c $(wildcard compiler/cmd_*.c)
MAPC_SRCS := $(filter-out $(MAPC_CLI_SRCS),$(wildcard compiler/*.c))
MAPC_GEN_SRCS :=
ifneq ($(wildcard compiler/parser.y),)
MAPC_GEN_SRCS += $(BUILD)/compiler/parser.c
endif
ifneq ($(wildcard compiler/lexer.l),)
MAPC_GEN_SRCS += $(BUILD)/compiler/lexer.c
endif
MAPC_OBJS := $(MAPC_SRCS:%.c=$(BUILD)/%.o) $(MAPC_GEN_SRCS:.c=.o)

$(BUILD)/compiler/parser.c $(BUILD)/compiler/parser.h &: compiler/parser.y
	@mkdir -p $(@D)
	bison -Wall -Werror --defines=$(BUILD)/compiler/parser.h -o $(BUILD)/compiler/parser.c $<

$(BUILD)/compiler/lexer.c $(BUILD)/compiler/lexer.h &: compiler/lexer.l
	@mkdir -p $(@D)
	flex --header-file=$(BUILD)/compiler/lexer.h -o $(BUILD)/compiler/lexer.c $<

# Generated sources: same flags minus the warnings flex/bison skeletons trip over.
$(BUILD)/compiler/parser.o $(BUILD)/compiler/lexer.o: %.o: %.c
	$(CC) $(ALL_CFLAGS) -Wno-sign-compare -Wno-unused-function -Wno-missing-prototypes $(CPPFLAGS_compiler) -c $< -o $@

# Every compiler object may include the generated headers.
$(MAPC_SRCS:%.c=$(BUILD)/%.o) $(MAPC_CLI_SRCS:%.c=$(BUILD)/%.o): | $(filter %.h,$(MAPC_GEN_SRCS:.c=.h))
$(BUILD)/compiler/lexer.o: $(BUILD)/compiler/parser.h
$(BUILD)/compiler/parser.o: $(BUILD)/compiler/lexer.h

$(BUILD)/libmapc.a: $(MAPC_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/mapc: $(MAPC_CLI_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/libmapc.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MAPC_LDLIBS)

BINS += $(BUILD)/mapc

# mapc preview compiles generated code against the runtime of this build.
$(BUILD)/compiler/cmd_preview.o: CPPFLAGS_compiler += -DMAPC_RUNTIME_INCLUDE='"$(abspath runtime/include)"' \
    -DMAPC_RUNTIME_LIB='"$(abspath $(BUILD)/libsyncrt.a)"' -DMAPC_RUNTIME_CFLAGS='"$(SAN_FLAGS)"'
$(BUILD)/mapc: | $(BUILD)/libsyncrt.a
