# Swappart chat service. `make` builds both tiers into build/;
# `make start` / `make stop` / `make run` drive a local stack;
# `make test` is everything CI runs; `make fuzz` runs the fuzz harnesses
# briefly; `make bench` prints figures;
# `make install` lays out a deployment (PREFIX, DESTDIR).

# `make` alone builds the programs, not the first rule below (build/pkg.mk).
.DEFAULT_GOAL := all

CC      ?= gcc
PKG_CONFIG ?= pkg-config
PKGS    := json-c libpq libjwt libzmq openssl
CFLAGS  ?= -O2 -g

# The compiler and linker flags of the libraries, known only once their
# Debian packages are installed. On a bare machine the packages arrive
# during this very run (tools/deps.sh), so the flags cannot be read when
# make parses this file: build/pkg.mk is a makefile that make first brings
# up to date (installing the packages, then asking pkg-config), and make
# restarts with it read. Goals that build nothing do not need it.
NO_BUILD_GOALS := clean stop deps fuzz-deps
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(NO_BUILD_GOALS),$(MAKECMDGOALS)),)
SKIP_PKG_MK := 1
endif
endif
ifndef SKIP_PKG_MK
include build/pkg.mk
endif

build/pkg.mk: Makefile tools/deps.sh
	@tools/deps.sh build
	@mkdir -p build
	@cflags=$$($(PKG_CONFIG) --cflags $(PKGS)) && libs=$$($(PKG_CONFIG) --libs $(PKGS)) || \
		{ echo "pkg-config does not find: $(PKGS)" >&2; exit 1; }; \
	printf 'PKG_CFLAGS := %s\nPKG_LIBS := %s\n' "$$cflags" "$$libs" >$@.tmp && mv $@.tmp $@

CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Ishared -Ibuild -D_GNU_SOURCE $(PKG_CFLAGS)
LDLIBS  = $(PKG_LIBS) -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
PYTHON  := /usr/bin/python3

SHARED_SRC := $(wildcard shared/*.c)
REST_SRC   := $(wildcard rest-fcgi/*.c)
WS_SRC     := $(wildcard ws-daemon/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
# A tier's main.c holds main(); the rest of the tier is unit-testable.
REST_LIB   := $(filter-out rest-fcgi/main.c,$(REST_SRC))
WS_LIB     := $(filter-out ws-daemon/main.c,$(WS_SRC))

# Two flavours of every object: build/ (optimised) and build/asan/ (tests).
define flavour
$(1)/obj/%.o: %.c $$(wildcard shared/*.h rest-fcgi/*.h ws-daemon/*.h)
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$@"
	@$$(CC) $$(CFLAGS) $(2) -c $$< -o $$@

$(1)/rest-fcgi: $$(patsubst %.c,$(1)/obj/%.o,$$(REST_SRC) $$(SHARED_SRC))
	@echo "  LD      $$@"
	@$$(CC) $$(CFLAGS) $(2) $$^ -o $$@ -lfcgi $$(LDLIBS)

$(1)/ws-daemon: $$(patsubst %.c,$(1)/obj/%.o,$$(WS_SRC) $$(SHARED_SRC))
	@echo "  LD      $$@"
	@$$(CC) $$(CFLAGS) $(2) $$^ -o $$@ -lwebsockets -lev $$(LDLIBS)

$(1)/chat-token: $$(patsubst %.c,$(1)/obj/%.o,tools/chat-token.c $$(SHARED_SRC))
	@echo "  LD      $$@"
	@$$(CC) $$(CFLAGS) $(2) $$^ -o $$@ $$(LDLIBS)

$(1)/chat-keygen: $$(patsubst %.c,$(1)/obj/%.o,tools/chat-keygen.c $$(SHARED_SRC))
	@echo "  LD      $$@"
	@$$(CC) $$(CFLAGS) $(2) $$^ -o $$@ $$(LDLIBS)
endef

$(eval $(call flavour,build,))
$(eval $(call flavour,build/asan,$(SAN)))

# The websocket load generator of `make bench-ws` (tests/bench/).
build/ws-load: $(wildcard tests/bench/ws-load*.c tests/bench/ws-load*.h)
	@mkdir -p build
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(filter %.c,$^) -o $@ $(LDLIBS)

# The build's version, for chat_build_info (shared/metrics.h): git describe,
# written to build/version.h only when it changed, so that only metrics.c
# is compiled again.
build/version.h: FORCE
	@mkdir -p build
	@v=$$(git describe --always --dirty 2>/dev/null | tr -cd 'A-Za-z0-9._+-'); \
	printf '#define CHAT_VERSION "%s"\n' "$${v:-unknown}" >$@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

build/obj/shared/metrics.o build/asan/obj/shared/metrics.o build/fuzz/obj/shared/metrics.o: build/version.h

FORCE:

PROGS := build/rest-fcgi build/ws-daemon build/chat-token build/chat-keygen
UNIT_BINS := $(patsubst tests/unit/%.c,build/asan/%,$(UNIT_SRC))

all: $(PROGS)

# Unit tests link the shared code and both tiers' non-main modules.
build/asan/test_%: tests/unit/test_%.c $(patsubst %.c,build/asan/obj/%.o,$(SHARED_SRC) $(REST_LIB) $(WS_LIB))
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(SAN) -Irest-fcgi -Iws-daemon $^ -o $@ -lcmocka -lfcgi -lwebsockets -lev $(LDLIBS)

deps:
	@tools/deps.sh build

# libFuzzer harnesses (tests/fuzz/, docs/fuzzing.md): one per parser of
# untrusted bytes. clang builds them with ASan/UBSan and coverage; the
# code under test is compiled once more for them (build/fuzz/obj/). Each
# runs FUZZ_SECS seconds from its committed seeds; new inputs go to a
# scratch corpus under build/fuzz/, crash inputs to build/fuzz/crash-*.
# Any crash, leak, sanitizer report or broken invariant fails the target.
FUZZ_CC    ?= clang-14
FUZZ_SECS  ?= 20
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BINS  := $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_OBJS  := $(patsubst %.c,build/fuzz/obj/%.o,$(SHARED_SRC) $(REST_LIB) $(WS_LIB))

build/fuzz/obj/%.o: %.c $(wildcard shared/*.h rest-fcgi/*.h ws-daemon/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $@"
	@$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_OBJS)
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -Irest-fcgi -Iws-daemon \
		$< $(FUZZ_OBJS) -o $@ -lfcgi -lwebsockets -lev $(LDLIBS)

fuzz-deps:
	@tools/deps.sh build fuzz

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory -s $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_NAMES); do echo "== fuzz $$t ($(FUZZ_SECS) s)"; \
		mkdir -p build/fuzz/corpus/$$t; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECS) -timeout=10 \
			-print_final_stats=1 -artifact_prefix=build/fuzz/crash-$$t- \
			build/fuzz/corpus/$$t tests/fuzz/corpus/$$t >build/fuzz/$$t.log 2>&1 || \
			{ tail -n 60 build/fuzz/$$t.log; echo "fuzz $$t failed (log: build/fuzz/$$t.log)"; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^stat::new_units_added' build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

check: deps $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1 $$t; done

asan: build/asan/rest-fcgi build/asan/ws-daemon build/asan/chat-token

# The local stack is a development stack: CHAT_DEV=1 lets it accept tokens
# signed with the documented dev secret (build/chat-token). A deployment
# never sets it (README, "Operating a deployment").
start: deps all
	@tools/deps.sh run
	@CHAT_DEV=1 tools/stack.sh start

stop:
	@tools/stack.sh stop

run: deps all
	@tools/deps.sh run
	@CHAT_DEV=1 exec tools/stack.sh run

token: build/chat-token
	@build/chat-token $(if $(ADMIN),--admin) $(USER_ID)

# Everything CI runs: unit tests, then the integration suite against a
# real stack (ASan/UBSan builds) on free ports in a temporary directory.
test: deps
	@tools/deps.sh run test
	$(MAKE) check asan all
	$(MAKE) fuzz
	CHAT_DEV=1 CHAT_BIN_DIR=$(CURDIR)/build/asan $(PYTHON) -m pytest -p no:cacheprovider -q tests/integration

bench: bench-rest bench-ws

bench-rest: all
	@tools/deps.sh run bench
	CHAT_DEV=1 tests/bench/rest.sh

bench-ws: all build/ws-load
	@tools/deps.sh run bench
	CHAT_DEV=1 tests/bench/ws.sh

# A deployment: programs, SQL and migration tool, systemd units (deploy/),
# env file and nginx site. PREFIX defaults to /usr/local; configuration
# goes to SYSCONFDIR (/etc). With DESTDIR (packagers) the system user is
# not created: tools/install.sh prints what the package must do instead.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

install: all
	@DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' SYSCONFDIR='$(SYSCONFDIR)' \
		UNITDIR='$(UNITDIR)' tools/install.sh

clean:
	rm -rf build

.PHONY: FORCE all deps check asan fuzz fuzz-deps fuzz-build start stop run token test bench bench-rest bench-ws install clean
