# genie - one flat Makefile. `make` builds lib/ and bin/; see README.md.
PROGRAMS = $(sort $(basename $(notdir $(wildcard bin/*.c))))

PKGS      = hdf5 openblas libprotobuf-c libpng
DEBS      = build-essential clang libclang-rt-14-dev pkg-config libhdf5-dev hdf5-tools libopenblas-dev parallel bats \
            bats-support bats-assert libprotobuf-c-dev protobuf-c-compiler libonnx-dev \
            libpng-dev dataset-fashion-mnist zlib1g-dev gnuplot-nox \
            openssh-server openssh-client iproute2 rsync munge slurmctld slurmd slurm-client
# the test runtime for export-onnx: Debian's node and npm (kept when a node is
# already installed from elsewhere), then onnxruntime-node from npm into
# tests/node (pinned by its package-lock.json; node_modules is not in git)
NODE_DEBS = nodejs npm
ORT_NODE  = tests/node/node_modules/onnxruntime-node/package.json
PREFIX   ?= /usr/local
ONNX_PROTO ?= /usr/include/onnx/onnx.proto

ifeq ($(FUZZ),1)
# libFuzzer builds (make fuzz): clang, ASan + UBSan, lib/ instrumented for coverage
VARIANT   = fuzz
CC        = clang
WTRUNC    =
OPT       = -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),1)
VARIANT   = san
OPT       = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
VARIANT   = rel
OPT       = -O2 -g -march=x86-64-v2
endif
BUILD     = build/$(VARIANT)
GEN       = build/gen
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   ?=
WTRUNC   ?= -Wformat-truncation
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Wno-unused-parameter $(WTRUNC) -Ilib -I$(GEN) $(PKG_CFLAGS)
LDFLAGS  += $(OPT)
LDLIBS    = $(PKG_LIBS) -lz -lm -lpthread

LIB_SRC   = $(wildcard lib/*.c)
LIB_OBJ   = $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o) $(BUILD)/gen/onnx.pb-c.o
LIBA      = $(BUILD)/libgenie.a
BINS      = $(PROGRAMS:%=bin/%) bin/eval
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNITS     = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# fuzz targets (tests/fuzz): one per reader; the HDF5 kinds share fuzz_h5.c
FUZZ_H5   = model dataset bnstats qmodel unit packed
FUZZ_ALL  = onnx idx $(FUZZ_H5)
REPLAYS   = $(FUZZ_ALL:%=$(BUILD)/fuzz/replay_%)

.PHONY: fuzz fuzz-build all deps check check-distributed unit unit-build bench-build bats demo bench install uninstall clean variant teacher FORCE
.SECONDARY:

all: $(BINS)

# `make deps`: every Debian package genie needs, installed only where missing.
deps:
	@missing=""; for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	else echo "make deps: all Debian packages present"; fi
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "make deps: installing $(NODE_DEBS)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(NODE_DEBS); fi
	@$(MAKE) -s --no-print-directory $(ORT_NODE)

# onnxruntime-node as tests/node/package-lock.json pins it, redone when that
# changes; its postinstall would fetch CUDA binaries from GitHub, which the
# CPU runtime (in the npm package itself) does not need
$(ORT_NODE): tests/node/package.json tests/node/package-lock.json
	cd tests/node && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# the build variant in use; programs in bin/ relink when it changes
build/variant: FORCE
	@mkdir -p build; [ "$$(cat $@ 2>/dev/null)" = "$(VARIANT)" ] || echo $(VARIANT) > $@

$(GEN)/onnx.pb-c.c $(GEN)/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(GEN) $(ONNX_PROTO)

$(BUILD)/gen/onnx.pb-c.o: $(GEN)/onnx.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -w -c $< -o $@

$(BUILD)/lib/%.o: lib/%.c $(GEN)/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The Winograd transforms are loops left to gcc's vectoriser, which -O2's
# cost model skips when trip counts are not known multiples of the width.
$(BUILD)/lib/op_wino.o: CFLAGS += -O3

$(LIBA): $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(BUILD)/bin/%.o: bin/%.c $(GEN)/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

bin/%: $(BUILD)/bin/%.o $(LIBA) build/variant
	$(CC) $(LDFLAGS) $< $(LIBA) $(LDLIBS) -o $@

# the program is genie-eval (`eval` is a shell builtin); bin/eval is an alias.
# A clone built before the rename has bin/genie-eval as a link to eval: relink it.
bin/eval: bin/genie-eval
	ln -sfn genie-eval $@
ifneq ($(shell [ -L bin/genie-eval ] && echo link),)
bin/genie-eval: FORCE
endif

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -MMD -MP -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIBA)
	$(CC) $(LDFLAGS) $< $(LIBA) $(LDLIBS) -o $@

-include $(shell find build -name '*.d' 2>/dev/null)

# `make check`: deps, build (the benchmarks too, so they cannot rot; they are
# not run), lib/'s layer check, C unit tests, then the bats suites; one
# summary line.
check: deps
	@$(MAKE) --no-print-directory all unit-build bench-build
	@tests/run-all $(UNITS) $(REPLAYS)

unit-build: $(UNITS) $(REPLAYS)

# `make check-distributed`: the two-host tests alone, over ssh and under Slurm
# (make check runs them too, in tests/bats/distributed.bats); a test that
# exits 77 was skipped (no namespaces or no root here), and says why
check-distributed: deps
	@$(MAKE) --no-print-directory all
	@tests/distributed/run; a=$$?; tests/distributed/slurm; b=$$?; \
	for s in $$a $$b; do [ $$s = 0 ] || [ $$s = 77 ] || exit 1; done; [ $$a$$b != 7777 ] || exit 77

unit: $(UNITS) $(REPLAYS)
	@tests/run-all --unit-only $(UNITS) $(REPLAYS)

bats: all
	@tests/run-all --bats-only

demo: deps
	@$(MAKE) --no-print-directory all
	@pipelines/demo.sh

# the fuzz targets' replay drivers (gcc, any variant): tests/fuzz/replay.c
# runs LLVMFuzzerTestOneInput on the seeds and the regression corpus
$(BUILD)/fuzz/target_%.o: tests/fuzz/fuzz_h5.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKIND_$* -c $< -o $@

$(BUILD)/fuzz/target_onnx.o $(BUILD)/fuzz/target_idx.o: $(BUILD)/fuzz/target_%.o: tests/fuzz/fuzz_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/fuzz/replay_%: tests/fuzz/replay.c $(BUILD)/fuzz/target_%.o $(LIBA)
	$(CC) $(CFLAGS) -DTARGET=\"$*\" $< $(BUILD)/fuzz/target_$*.o $(LIBA) $(LDLIBS) -o $@

# libFuzzer binaries (FUZZ=1 variant, clang)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/target_%.o $(LIBA)
	$(CC) $(OPT) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

fuzz-build: $(FUZZ_ALL:%=$(BUILD)/fuzz/fuzz_%)

# `make fuzz`: each target in turn for FUZZ_TIME seconds (one process,
# niced), its corpus in tests/fuzz/corpus/T (ignored by git) grown from
# the seeds; crashes land in tests/fuzz/crash/T. Add a crasher to
# tests/fuzz/regress/T once it is fixed. FUZZ_TARGETS picks targets.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= $(FUZZ_ALL)
fuzz: deps
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@tests/fuzz/run $(FUZZ_TIME) $(FUZZ_TARGETS)

BENCH_SRC = $(wildcard tests/bench/*.c)
BENCHES   = $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/%: tests/bench/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $< $(LIBA) $(LDLIBS) -o $@

bench-build: $(BENCHES)

# `make teacher`: retrains the bundled models (hours: run it in the background)
teacher: deps
	@$(MAKE) --no-print-directory all
	@pipelines/teacher.sh

bench: all $(BENCHES)
	@tests/bench/run

# `make install` (PREFIX=/usr/local, DESTDIR for staging): the programs, eval
# as an alias of genie-eval, the man pages, and genie.mk with the scripts it
# and a user run in PREFIX/share/genie (genie.mk finds the programs in
# PREFIX/bin from there). The scripts that rebuild the bundled models and
# tables (demo, ladder, reference-table, teacher) need a clone and stay in it.
PIPE_FILES = genie.mk distill.sh recon-parallel.sh parallel.bash plot-loss.sh slurm-array.sbatch wave-plan.sh
MAN_FILES  = $(wildcard man/man1/*.1 man/man5/*.5 man/man7/*.7)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 \
	  $(DESTDIR)$(PREFIX)/share/genie
	install -m 755 $(PROGRAMS:%=bin/%) $(DESTDIR)$(PREFIX)/bin
	ln -sfn genie-eval $(DESTDIR)$(PREFIX)/bin/eval
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 man/man7/*.7 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 644 pipelines/genie.mk $(DESTDIR)$(PREFIX)/share/genie
	install -m 755 $(addprefix pipelines/,$(filter-out genie.mk,$(PIPE_FILES))) $(DESTDIR)$(PREFIX)/share/genie

# `make uninstall`: removes exactly what `make install` put there
uninstall:
	rm -f $(PROGRAMS:%=$(DESTDIR)$(PREFIX)/bin/%) $(DESTDIR)$(PREFIX)/bin/eval \
	  $(MAN_FILES:man/%=$(DESTDIR)$(PREFIX)/share/man/%) \
	  $(PIPE_FILES:%=$(DESTDIR)$(PREFIX)/share/genie/%)
	-rmdir $(DESTDIR)$(PREFIX)/share/genie 2>/dev/null

clean:
	rm -rf build $(BINS)

FORCE:
