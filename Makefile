# dswfs build: `make` builds ./dswfs, `make check` runs every test, `make demo` mounts a demo fleet.
VERSION   := 0.1.0
CC        ?= cc
PKGS      := fuse3 libcurl libcjson libcrypto
# The shared cache level (fs/shared).
PKGS      += hiredis libzstd
BUILD     ?= build
SAN       ?=
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Wmissing-declarations -Wstrict-prototypes -Wwrite-strings \
             -Wshadow -Wformat=2 -Wno-format-nonliteral
ifneq ($(filter true 1,$(CI) $(WERROR)),)
WARN      += -Werror
endif
CFLAGS    ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -MMD -MP $(WARN) $(CFLAGS) -D_GNU_SOURCE -DFUSE_USE_VERSION=312 \
             -DDSWFS_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS) -pthread
ifeq ($(SAN),1)
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN      := -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
ALL_CFLAGS += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDSAN      := -fsanitize=thread
endif
LDLIBS    := $(PKG_LIBS) -pthread -lm

LIB_SRCS  := $(filter-out fs/main.c,$(wildcard fs/*.c fs/*/*.c))
LIB_OBJS  := $(LIB_SRCS:fs/%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps check test-bins demo bench clean asan tsan fuzz-bins
all: deps
	@$(MAKE) --no-print-directory dswfs

deps:
	@sh scripts/install-deps.sh

dswfs: $(BUILD)/dswfs
	@cp $(BUILD)/dswfs dswfs

$(BUILD)/obj/%.o: fs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libdswfs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dswfs: $(BUILD)/obj/main.o $(BUILD)/libdswfs.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/tf.o: tests/unit/tf.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/obj/tf.o $(BUILD)/libdswfs.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDSAN) -o $@ $< $(BUILD)/obj/tf.o $(BUILD)/libdswfs.a $(LDLIBS)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.c $(BUILD)/libdswfs.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ $< tests/fuzz/driver.c $(BUILD)/libdswfs.a $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libdswfs.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ $< $(BUILD)/libdswfs.a $(LDLIBS)

# Header dependencies come from the compiler (-MMD): an object is rebuilt when a header it
# includes changes, and only then.
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

test-bins: $(BUILD)/dswfs $(TEST_BINS) $(FUZZ_BINS) $(TOOL_BINS)

# The sanitizer builds live in their own trees so they never mix objects with the normal one.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test-bins
tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=thread build-tsan/dswfs

check: deps
	@$(MAKE) --no-print-directory dswfs test-bins
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory tsan
	@bash tests/run.sh

demo: all
	@bash scripts/demo.sh

bench: all
	@bash scripts/bench.sh

# 1, 4 and 16 mounts against one Redis and the local server, with and without the shared cache
# (scripts/bench_shared.py; BENCH_SHARED_ARGS e.g. "--instances 2000"). Not part of `check`.
.PHONY: bench-shared
bench-shared: all
	@python3 scripts/bench_shared.py $(BENCH_SHARED_ARGS)

# A few minutes of varying queries against a 1,000-instance fleet; fails unless the daemon's RSS
# plateaus (scripts/soak.py explains the rule and its SOAK_* knobs). Not part of `check`.
.PHONY: soak
soak: dswfs
	@python3 scripts/soak.py

clean:
	rm -rf build build-asan build-tsan dswfs tests/node/node_modules
