# sandbox/build.mk - build/sandbox: the D365 F&O and Clarity eCommerce emulators in one binary.
# Every sandbox/*.c is compiled (both emulators' files join by wildcard) and linked with
# libmapc.a (the compiler's schema loaders, used to serve every F&O entity set generically) and
# whatever libmapc itself needs (MAPC_LDLIBS from compiler/build.mk).

SANDBOX_PKGS := libmicrohttpd jansson sqlite3 libxml-2.0 libcrypto libcurl
CPPFLAGS_sandbox = -Isandbox -Icompiler $(call PKG_CFLAGS,$(SANDBOX_PKGS))
SANDBOX_LDLIBS = $(call PKG_LIBS,$(SANDBOX_PKGS)) -lpthread -lm

SANDBOX_SRCS := $(wildcard sandbox/*.c)
# The binary is $(BUILD)/sandbox (CONTRACT), so the objects cannot live in $(BUILD)/sandbox/:
# they go to $(BUILD)/sandbox-obj/ through this rule (same flags as the top pattern rule).
SANDBOX_OBJS := $(SANDBOX_SRCS:sandbox/%.c=$(BUILD)/sandbox-obj/%.o)

$(SANDBOX_OBJS): $(BUILD)/sandbox-obj/%.o: sandbox/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS_sandbox) -c $< -o $@

$(BUILD)/sandbox: $(SANDBOX_OBJS) $(BUILD)/libmapc.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(SANDBOX_OBJS) $(BUILD)/libmapc.a $(SANDBOX_LDLIBS) $(MAPC_LDLIBS)

BINS += $(BUILD)/sandbox
