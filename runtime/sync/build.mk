# runtime/sync/build.mk - build/sync: the sync binary (runtime/sync/*.c) with the mappers
# generated from examples/ (generated/*.c, compiled here into $(BUILD)/sync-gen/) and
# libsyncrt.a.

SYNC_SRCS := $(wildcard runtime/sync/*.c)
SYNC_OBJS := $(SYNC_SRCS:%.c=$(BUILD)/%.o)
SYNC_GEN_SRCS := $(wildcard generated/*.c)
SYNC_GEN_OBJS := $(SYNC_GEN_SRCS:generated/%.c=$(BUILD)/sync-gen/%.o)

$(SYNC_OBJS): CPPFLAGS_runtime += -Igenerated

$(SYNC_GEN_OBJS): $(BUILD)/sync-gen/%.o: generated/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iruntime/include -Igenerated $(call PKG_CFLAGS,$(SYNCRT_PKG)) -c $< -o $@

$(BUILD)/sync: $(SYNC_OBJS) $(SYNC_GEN_OBJS) $(BUILD)/libsyncrt.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(SYNC_OBJS) $(SYNC_GEN_OBJS) $(BUILD)/libsyncrt.a $(SYNCRT_LDLIBS) -lpthread

BINS += $(BUILD)/sync
