# llmfs — plain Makefile.  `make` builds bin/, `make test` runs the suite,
# `make SANITIZE=address,undefined test` the same under sanitizers.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=

CC      ?= cc
PKGS    := fuse3 openblas yaml-0.1 libzstd libxxhash libcurl hiredis libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))

OPT     ?= -O3
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -ffp-contract=off \
           -fno-strict-aliasing -pthread -MMD -MP -I. $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -pthread
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
B       := build-san$(if $(findstring thread,$(SANITIZE)),-thread,)
else
B       := build
endif

ENGINE_SRC := $(wildcard engine/*.c)
FS_SRC     := $(wildcard fs/*.c)
CACHE_SRC  := $(wildcard cache/*.c)
REMOTE_SRC := $(wildcard remote/*.c)
LOADGEN_SRC := $(wildcard loadgen/*.c)
TOOLS      := $(patsubst tools/%.c,bin/%,$(wildcard tools/*.c))
TESTS      := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
BENCHES    := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))
ENGINE_OBJ := $(patsubst %.c,$(B)/%.o,$(ENGINE_SRC))
FS_OBJ     := $(patsubst %.c,$(B)/%.o,$(FS_SRC))
CACHE_OBJ  := $(patsubst %.c,$(B)/%.o,$(CACHE_SRC))
REMOTE_OBJ := $(patsubst %.c,$(B)/%.o,$(REMOTE_SRC))
LOADGEN_OBJ := $(patsubst %.c,$(B)/%.o,$(LOADGEN_SRC))
# loadgen (llmfs-bench's modules) -> fs -> remote -> cache -> engine: each
# library uses only the ones after it.
LIBS       := $(B)/libloadgen.a $(B)/libfs.a $(B)/libremote.a $(B)/libcache.a $(B)/libengine.a

# A sanitizer build puts its programs beside the objects, so that the
# normal bin/ is never silently replaced by a slow instrumented one.
ifneq ($(SANITIZE),)
BIN := $(B)/bin
TOOLS := $(patsubst bin/%,$(BIN)/%,$(TOOLS))
else
BIN := bin
endif
all: $(TOOLS) $(TESTS) $(BENCHES)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libengine.a: $(ENGINE_OBJ)
	@rm -f $@; ar rcs $@ $^
$(B)/libcache.a: $(CACHE_OBJ)
	@rm -f $@; ar rcs $@ $^
$(B)/libremote.a: $(REMOTE_OBJ)
	@rm -f $@; ar rcs $@ $^
$(B)/libfs.a: $(FS_OBJ)
	@rm -f $@; ar rcs $@ $^
$(B)/libloadgen.a: $(LOADGEN_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BIN)/%: $(B)/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(B)/tests/%: $(B)/tests/%.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)
$(B)/bench/%: $(B)/bench/%.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

test: all
	BIN=$(BIN) TESTBIN=$(B)/tests bash tests/run.sh

bench: all
	bash bench/bench.sh

# `make mount`: build, mount MODEL on MNT and ask it a first question.
MODEL ?= ../shared/models/stories260K.gguf
MNT   ?= /tmp/llm
mount: $(TOOLS)
	@mkdir -p $(MNT)
	@if mountpoint -q $(MNT); then fusermount3 -u $(MNT); fi
	$(BIN)/llmfs --model $(MODEL) $(MNT)
	echo "Once upon a time" > $(MNT)/prompts/hello
	cat $(MNT)/completions/hello
	@echo; echo "llmfs is mounted on $(MNT): ls $(MNT); cat $(MNT)/stats/latency; unmount: fusermount3 -u $(MNT)"

# The harnesses share one set of instrumented objects, each source
# compiled once (not once per harness).
FUZZERS  := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJ := $(patsubst %.c,build-fuzz/obj/%.o,$(ENGINE_SRC) $(CACHE_SRC) $(REMOTE_SRC) $(FS_SRC) $(LOADGEN_SRC))
FUZZ_CFLAGS := -g -O1 -ffp-contract=off -pthread -I. $(PKG_CFLAGS)
fuzz: $(FUZZERS)
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<
build-fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -lm -pthread
-include $(FUZZ_OBJ:.o=.d)

install: $(TOOLS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1/
	$(if $(wildcard man/*.5),install -m 644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5/)

clean:
	rm -rf build build-san build-san-thread build-fuzz bin

.PHONY: all test bench mount fuzz install clean
.SECONDARY:
-include $(shell find build build-san -name '*.d' 2>/dev/null)
