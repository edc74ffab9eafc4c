# tests/schema/build.mk - the schema loaders' C unit tests: $(BUILD)/tests/schema/test_schema,
# linked with the schema objects only (schema.c, csdl.c, openapi.c), so it builds even when
# other parts of libmapc are in flux.

SCHEMA_TEST_SRCS := $(wildcard tests/schema/test_*.c)
SCHEMA_TEST_BINS := $(SCHEMA_TEST_SRCS:%.c=$(BUILD)/%)
SCHEMA_LIB_OBJS := $(BUILD)/compiler/schema.o $(BUILD)/compiler/csdl.o $(BUILD)/compiler/openapi.o

$(SCHEMA_TEST_SRCS:%.c=$(BUILD)/%.o): $(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icompiler -Itests -c $< -o $@

$(SCHEMA_TEST_BINS): $(BUILD)/%: $(BUILD)/%.o $(SCHEMA_LIB_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MAPC_LDLIBS)

TEST_BINS += $(SCHEMA_TEST_BINS)
