# dswfs build: `make` builds ./dswfs, `make check` runs every test, `make demo` mounts a demo fleet,
# `make install` installs (PREFIX, DESTDIR).
VERSION   := 0.1.0
CC        ?= cc
# The pkg-config modules dswfs links with, each with the Debian package that provides it.
BUILD_DEPS := fuse3:libfuse3-dev libcurl:libcurl4-openssl-dev libcjson:libcjson-dev \
              libcrypto:libssl-dev hiredis:libhiredis-dev libzstd:libzstd-dev
PKGS      := $(foreach d,$(BUILD_DEPS),$(firstword $(subst :, ,$(d))))
PKG_CONFIG ?= pkg-config
BUILD     ?= build
SAN       ?=
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

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

.PHONY: all deps build-deps check test-bins demo bench clean asan tsan fuzz-bins
# Plain `make` only builds: it installs nothing (`make deps`, `make check` and `make demo` do).
all: dswfs

deps:
	@sh scripts/install-deps.sh

# Checked before anything is compiled, so a missing library is named with its Debian package
# rather than shown as a missing header deep in a compile error.
build-deps:
	@missing=""; \
	command -v $(firstword $(CC)) >/dev/null 2>&1 || missing=" build-essential"; \
	if command -v $(PKG_CONFIG) >/dev/null 2>&1; then \
		for d in $(BUILD_DEPS); do \
			$(PKG_CONFIG) --exists "$${d%%:*}" || missing="$$missing $${d#*:}"; \
		done; \
	else \
		missing="$$missing pkg-config $(foreach d,$(BUILD_DEPS),$(lastword $(subst :, ,$(d))))"; \
	fi; \
	if [ -n "$$missing" ]; then \
		echo "dswfs: cannot build, missing Debian packages:$$missing" >&2; \
		echo "dswfs: install them (apt-get install$$missing), or run 'make deps' as root" >&2; \
		exit 1; \
	fi

dswfs: $(BUILD)/dswfs
	@cp $(BUILD)/dswfs dswfs

$(BUILD)/obj/%.o: fs/%.c | build-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libdswfs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dswfs: $(BUILD)/obj/main.o $(BUILD)/libdswfs.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/tf.o: tests/unit/tf.c | build-deps
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

demo: deps
	@$(MAKE) --no-print-directory dswfs
	@bash scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory dswfs
	@bash scripts/bench.sh

# 1, 4 and 16 mounts against one Redis and the local server, with and without the shared cache
# (scripts/bench_shared.py; BENCH_SHARED_ARGS e.g. "--instances 2000"). Not part of `check`.
.PHONY: bench-shared
bench-shared: deps
	@$(MAKE) --no-print-directory dswfs
	@python3 scripts/bench_shared.py $(BENCH_SHARED_ARGS)

# A few minutes of varying queries against a 1,000-instance fleet; fails unless the daemon's RSS
# plateaus (scripts/soak.py explains the rule and its SOAK_* knobs). Not part of `check`.
.PHONY: soak
soak: dswfs
	@python3 scripts/soak.py

# `make install` / `make uninstall`: the binary, the man page, the bash completion and the example
# systemd units (installed as documentation, never enabled). mount(8) runs `dswfs` found on its own
# fixed PATH (/usr/local/bin:/usr/bin:...) for `-t fuse.dswfs`, so no mount.fuse.dswfs link is
# needed; the example service's ExecStart= is rewritten to BINDIR.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR      ?= $(PREFIX)/share/doc/dswfs
INSTALL     ?= install
DIST_UNITS  := dswfs@.service mnt-dsw.mount mnt-dsw.automount

.PHONY: install uninstall
install: $(BUILD)/dswfs
	$(INSTALL) -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(BASHCOMPDIR)" \
		"$(DESTDIR)$(DOCDIR)"
	$(INSTALL) -m 0755 $(BUILD)/dswfs "$(DESTDIR)$(BINDIR)/dswfs"
	$(INSTALL) -m 0644 scripts/dist/dswfs.1 "$(DESTDIR)$(MANDIR)/man1/dswfs.1"
	$(INSTALL) -m 0644 scripts/dist/dswfs.bash "$(DESTDIR)$(BASHCOMPDIR)/dswfs"
	for u in $(DIST_UNITS); do \
		sed 's|/usr/local/bin/dswfs|$(BINDIR)/dswfs|g' "scripts/dist/$$u" \
			>"$(DESTDIR)$(DOCDIR)/$$u" && chmod 0644 "$(DESTDIR)$(DOCDIR)/$$u" || exit 1; \
	done

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/dswfs" "$(DESTDIR)$(MANDIR)/man1/dswfs.1" \
		"$(DESTDIR)$(BASHCOMPDIR)/dswfs" $(foreach u,$(DIST_UNITS),"$(DESTDIR)$(DOCDIR)/$(u)")
	rmdir "$(DESTDIR)$(DOCDIR)" 2>/dev/null || true

clean:
	rm -rf build build-asan build-tsan dswfs tests/node/node_modules
