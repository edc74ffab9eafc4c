# runtime/build.mk - libsyncrt.a: every runtime/*.c (one module per .c / include/syncrt/*.h
# pair).  Users link it with $(SYNCRT_LDLIBS).

SYNCRT_PKG := libcurl jansson sqlite3 openssl libmicrohttpd
CPPFLAGS_runtime = -Iruntime/include $(call PKG_CFLAGS,$(SYNCRT_PKG))
SYNCRT_LDLIBS = $(call PKG_LIBS,$(SYNCRT_PKG)) -lm

SYNCRT_SRCS := $(wildcard runtime/*.c)
SYNCRT_OBJS := $(SYNCRT_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/libsyncrt.a: $(SYNCRT_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

.PHONY: runtime
runtime: $(BUILD)/libsyncrt.a
