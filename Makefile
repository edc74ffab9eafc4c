# One non-recursive Makefile for the whole product.  Each part of the tree adds its own rules
# in a fragment (compiler/build.mk, runtime/build.mk, sandbox/build.mk, tests/<suite>/build.mk,
# bench/build.mk) included below; every output goes under $(BUILD).
#
#   make                      build/mapc, build/sync, build/sandbox
#   make test                 install missing packages, build, run every suite
#   make test SANITIZE=address,undefined   the same under ASan+UBSan (in build/san)
#   make test VALGRIND=1      run the suites' binaries under valgrind
#   make test-valgrind        the suites of VALGRIND_SUITES under valgrind (CI)
#   make bench                benchmarks -> build/bench/*.json
#   make demo                 the end-to-end demo

.DEFAULT_GOAL := all
SHELL := /bin/bash

SANITIZE ?=
ifneq ($(SANITIZE),)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
OPT ?= -O2
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)

# pkg-config is asked lazily (recursive variables), so `make test` on a fresh machine can
# install the packages first and only then look them up.
PKG = $(shell pkg-config --cflags --libs $(1) 2>/dev/null)
PKG_CFLAGS = $(shell pkg-config --cflags $(1) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(1) 2>/dev/null)

VALGRIND ?=
VALGRIND_ON := valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
ifneq ($(VALGRIND),)
VALGRIND_CMD := $(VALGRIND_ON)
else
VALGRIND_CMD :=
endif
# The suites CI runs under valgrind (all of them with `make test VALGRIND=1`).
VALGRIND_SUITES ?= golden schema codegen

BINS :=
TEST_BINS :=
CLEAN :=

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@

include $(sort $(wildcard compiler/build.mk runtime/build.mk runtime/*/build.mk sandbox/build.mk tests/*/build.mk bench/build.mk))

.PHONY: all setup test tests test-valgrind demo clean
all: $(BINS)

setup:
	@scripts/setup.sh

# The README's test command: installs what is missing, builds, runs every suite.
test:
	@scripts/setup.sh
	@$(MAKE) --no-print-directory all tests
	@BUILD=$(BUILD) VALGRIND_CMD="$(VALGRIND_CMD)" tests/run.sh

# The suites of VALGRIND_SUITES with every binary of ours under valgrind.
test-valgrind:
	@scripts/setup.sh
	@$(MAKE) --no-print-directory all tests
	@BUILD=$(BUILD) VALGRIND_CMD="$(VALGRIND_ON)" tests/run.sh $(VALGRIND_SUITES)

tests: $(TEST_BINS)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

demo:
	@scripts/demo.sh
