# migrabox — plain GNU Makefile (redis model).
#
#   make              static release binary build/migrabox
#   make test         unit + integration tests (release flags, dynamic test binaries)
#   make SANITIZE=1 test   the same under ASan+UBSan (objects in build/san/)
#   make fuzz         libFuzzer targets (clang) in build/fuzz/
#   make bench        benchmarks (bench/run.sh)
#   make deps         install build/test dependencies with apt (Debian 12)
#   make clean

CC        ?= cc
ifeq ($(origin CC),default)
CC        := gcc
endif
CLANG     ?= clang
V         ?= 0
SANITIZE  ?= 0

BUILD     ?= build
TP        := build/third_party
MODULES   ?= $(notdir $(wildcard src/*))
ifeq ($(SANITIZE),1)
OUT       := $(BUILD)/san
else
OUT       := $(BUILD)
endif

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
             -Wmissing-prototypes -Wcast-qual -Wpointer-arith -Wvla -fno-common
CSTD      := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE
OPT       ?= -O2 -g
CPPFLAGS  := -Isrc -I$(OUT)/gen -I$(TP)/include
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) -MMD -MP $(CFLAGS)
# mbedTLS 3.6 and libmicrohttpd 1.0 are built statically from Debian 13's source packages
# into $(TP) (third_party/*.sh); libpq (the PostgreSQL store) from Debian 12's postgresql-15
# source package, with TLS by Debian 12's static OpenSSL (libssl-dev); SQLite and libcsv are
# Debian 12's static archives.
MBEDTLS_LIBS := $(TP)/lib/libmbedtls.a $(TP)/lib/libmbedx509.a $(TP)/lib/libmbedcrypto.a
PQ_LIBS   := $(TP)/lib/libpq.a $(TP)/lib/libpgcommon.a $(TP)/lib/libpgport.a -lssl -lcrypto
LIBS      := $(TP)/lib/libmicrohttpd.a $(MBEDTLS_LIBS) $(PQ_LIBS) -lsqlite3 -lcsv -lm -lpthread
# mbedTLS is built with MBEDTLS_CHACHA20_ALT / MBEDTLS_POLY1305_ALT: libmbedcrypto.a calls the
# ChaCha20 and Poly1305 of src/aead/ (in libmigrabox.a), so the archives link as one group.
GROUP     := -Wl,--start-group
ENDGROUP  := -Wl,--end-group
ifeq ($(SANITIZE),1)
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
CFLAGS_ALL += $(SANFLAGS)
BIN_LDFLAGS := $(SANFLAGS)
TEST_LDFLAGS := $(SANFLAGS)
else
BIN_LDFLAGS := -static
TEST_LDFLAGS :=
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC   := $(sort $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c)))
LIB_OBJ   := $(patsubst src/%.c,$(OUT)/obj/%.o,$(LIB_SRC)) $(OUT)/obj/gen/assets.o
MAIN_OBJ  := $(OUT)/obj/main.o
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRC))
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN := $(patsubst tests/helpers/%.c,$(OUT)/tests/%,$(HELPER_SRC))
WEB_FILES := $(shell find web -type f 2>/dev/null | LC_ALL=C sort)
MHD_STAMP := $(TP)/lib/libmicrohttpd.a
MBEDTLS_STAMP := $(TP)/lib/libmbedtls.a
PQ_STAMP  := $(TP)/lib/libpq.a
TP_STAMPS := $(MHD_STAMP) $(MBEDTLS_STAMP) $(PQ_STAMP)

.SECONDARY:
.PHONY: all test unit integ fuzz fuzz-run bench clean deps demo deb format format-check lint valgrind FORCE
all: $(OUT)/migrabox

deps:
	bash third_party/install-deps.sh

# The recipes run their own `make -j$(nproc)`: without this make's jobserver (MAKEFLAGS
# emptied), not at -j1.
$(MHD_STAMP): third_party/libmicrohttpd.sh
	@mkdir -p build
	$(Q)export MAKEFLAGS= MFLAGS=; flock build/.tp.lock bash third_party/libmicrohttpd.sh $(TP) \
	  || bash third_party/libmicrohttpd.sh $(TP)
$(MBEDTLS_STAMP): third_party/mbedtls.sh src/aead/chacha20_alt.h src/aead/poly1305_alt.h
	@mkdir -p build
	$(Q)export MAKEFLAGS= MFLAGS=; flock build/.tp.lock bash third_party/mbedtls.sh $(TP) \
	  || bash third_party/mbedtls.sh $(TP)
$(PQ_STAMP): third_party/libpq.sh
	@mkdir -p build
	$(Q)export MAKEFLAGS= MFLAGS=; flock build/.tp.lock bash third_party/libpq.sh $(TP) \
	  || bash third_party/libpq.sh $(TP)

# Version from git describe, rewritten only when it changes.
$(OUT)/gen/version.h: FORCE
	@mkdir -p $(@D)
	@v=$$(git describe --tags --always --dirty 2>/dev/null || echo unknown); \
	 printf '#define MIGRABOX_VERSION "%s"\n' "$$v" > $@.tmp; \
	 cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE:

# Embedded web assets: a host generator turns web/** into a C table.
$(BUILD)/host/mkassets: tools/mkassets.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CSTD) -O2 $(WARN) -o $@ $<
$(OUT)/gen/assets.c: $(BUILD)/host/mkassets $(WEB_FILES)
	@mkdir -p $(@D)
	$(Q)$(BUILD)/host/mkassets web $@

$(OUT)/obj/gen/assets.o: $(OUT)/gen/assets.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CSTD) $(OPT) $(CPPFLAGS) $(if $(filter 1,$(SANITIZE)),$(SANFLAGS)) -c -o $@ $<

$(OUT)/obj/%.o: src/%.c $(TP_STAMPS) $(OUT)/gen/version.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(OUT)/libmigrabox.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(OUT)/migrabox: $(MAIN_OBJ) $(OUT)/libmigrabox.a $(TP_STAMPS)
	@echo "  LINK    $@"
	$(Q)$(CC) $(BIN_LDFLAGS) -o $@ $(MAIN_OBJ) $(GROUP) $(OUT)/libmigrabox.a $(LIBS) $(ENDGROUP) 2>$(OUT)/link.log \
	  || { cat $(OUT)/link.log; exit 1; }
	@grep -v -e 'statically linked applications requires at runtime' -e 'in function' $(OUT)/link.log || true

$(OUT)/tests/%.o: tests/unit/%.c $(TP_STAMPS) $(OUT)/gen/version.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit -c -o $@ $<
$(OUT)/tests/%.o: tests/helpers/%.c $(TP_STAMPS) $(OUT)/gen/version.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit -c -o $@ $<
$(OUT)/tests/%: $(OUT)/tests/%.o $(OUT)/libmigrabox.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(TEST_LDFLAGS) -o $@ $< $(GROUP) $(OUT)/libmigrabox.a $(LIBS) $(ENDGROUP)

# tests/run-all.sh runs them (several at once) and counts: unit binaries, integration
# scripts, or both.
unit: $(UNIT_BIN)
	@RUN=unit VALGRIND=$(VALGRIND) UNIT_BIN="$(UNIT_BIN)" bash tests/run-all.sh

integ: $(OUT)/migrabox $(HELPER_BIN)
	@RUN=integ MIGRABOX=$(CURDIR)/$(OUT)/migrabox TESTBIN=$(CURDIR)/$(OUT)/tests \
	  SANITIZE=$(SANITIZE) bash tests/run-all.sh

# Unit tests, then integration tests; the summary line counts both.
test: $(OUT)/migrabox $(UNIT_BIN) $(HELPER_BIN)
	@MIGRABOX=$(CURDIR)/$(OUT)/migrabox TESTBIN=$(CURDIR)/$(OUT)/tests SANITIZE=$(SANITIZE) \
	  VALGRIND=$(VALGRIND) UNIT_BIN="$(UNIT_BIN)" bash tests/run-all.sh

valgrind:
	$(MAKE) unit VALGRIND=1

# ---- fuzzing (clang libFuzzer + ASan + UBSan) ----
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_OBJ  := $(patsubst src/%.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRC))
FUZZ_CFLAGS := $(CSTD) -O1 -g $(CPPFLAGS) -I$(BUILD)/gen -fsanitize=fuzzer-no-link,address,undefined
$(BUILD)/fuzz/obj/%.o: src/%.c $(TP_STAMPS) $(BUILD)/gen/version.h
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
$(BUILD)/fuzz/libfuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libfuzz.a
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(CSTD) -O1 -g $(CPPFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	  $(GROUP) $(BUILD)/fuzz/libfuzz.a $(LIBS) $(ENDGROUP)
fuzz: $(FUZZ_BIN)
FUZZ_SECONDS ?= 30
fuzz-run: $(FUZZ_BIN)
	bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: $(BUILD)/migrabox
	bash bench/run.sh

demo:
	bash packaging/demo.sh

deb: $(BUILD)/migrabox
	bash packaging/mkdeb.sh $(BUILD)/migrabox $(BUILD)

FORMAT_SRC := $(LIB_SRC) src/main.c $(wildcard src/*/*.h) $(wildcard tests/unit/*.[ch]) \
              $(wildcard tests/helpers/*.c) $(wildcard tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files clean"

clean:
	rm -rf $(OUT)/obj $(OUT)/tests $(OUT)/gen $(OUT)/migrabox $(OUT)/libmigrabox.a $(BUILD)/san \
	       $(BUILD)/fuzz $(BUILD)/host $(BUILD)/link.log

-include $(shell find $(OUT)/obj $(OUT)/tests -name '*.d' 2>/dev/null)
