# pipelines/genie.mk - genie's whole job as a make graph: an FP32 model in, a
# packed W/A-bit model and its accuracy beside the FP32 one's out.
#
#   make -f pipelines/genie.mk MODEL=model.h5 WBITS=4 ABITS=4 [VARIABLE=value ...]
#
# Zero-shot (default):  bnstats -> distill (SAMPLES/BATCH batches, GNU parallel)
#                       -> h5cat -> calib -> recon-block per unit -> pack -> genie-eval
# Few-shot (REAL=...):  the first SAMPLES images of REAL -> calib -> ... -> genie-eval
#
# Every stage is a file in OUT and is only redone when something it depends on
# changed: an input file (touching MODEL redoes everything) or the settings of
# the stage (OUT/*.args record them; they are rewritten when make reads this
# file, only when a setting changed, and not under -n or -q, which just
# report the stage out of date). A second run does nothing. Each
# stage's output is complete or absent (the programs write to a temporary name
# and rename), so an interrupted run is simply started again; distillation
# batches and reconstructed units already made are kept.
# Time: the defaults (1024 images, 4000 distillation iterations per batch,
# 20000 reconstruction iterations per unit) take hours even for a 28x28
# ResNet-20 on 2 cores: about 10 h from genie-parallel(7)'s costs on a
# loaded machine, about 1.6 h from make bench's on a quiet one. Try
# SAMPLES=256 DISTILL_ITERS=300 RECON_ITERS=1000 first (15-20 minutes there).
# What this does not do: choose bit-widths per layer for you (BITS= passes
# calib --bits overrides) or install anything (make deps does).
#
# Variables (default):
#   MODEL          the FP32 model (genie-model(5)); required
#   WBITS, ABITS   weight / activation bits, 2..8 (4, 4)
#   FIRST_LAST     bits of the first and last layers (8)
#   BITS           calib --bits overrides, "LAYER=W/A ..." (none)
#   REAL           a dataset of real images: few-shot, no bnstats/distill (none)
#   SAMPLES        calibration images (1024)
#   METHOD         distill --method: genie, pixel or noise (genie)
#   BATCH          images per distillation batch (128; SAMPLES if smaller)
#   DISTILL_ITERS  iterations per distillation batch (4000)
#   PRODUCTS       distill --products: fp32, or bf16 for the teacher's
#                  convolutions where the CPU has AVX512_BF16 (genie-info
#                  says; fp32 elsewhere) (fp32)
#   RECON_ITERS    reconstruction iterations per unit (20000)
#   EARLY_STOP     1: distill --early-stop and recon-block --early-stop (the
#                  counts above become caps; MODE=sequential only; empty)
#   RECON_BATCH    reconstruction batch (SAMPLES/32, at least 1: the authors'
#                  N/32, so 32 for 1024 images and 8 for 256)
#   MODE           sequential (exact Genie-M: OUT/q.K.h5 unit after unit),
#                  independent (all units at once, JOBS at a time, with
#                  pipelines/recon-parallel.sh: OUT/unit.K.h5, then pack) or
#                  jacobi (ROUNDS rounds of all units at once: round 1 is
#                  independent; in round r+1 every unit again, from its
#                  round-r parameters, its input through the round-r model;
#                  round r is the stage OUT/jq.r.h5, its units in
#                  OUT/round.r/; see genie-parallel(7)) or wavefront (a
#                  pipeline: each unit's RECON_ITERS in STAGES stages of one
#                  schedule; at time step T = 1 .. N+STAGES-1 every unit K
#                  with 1 <= T-K <= STAGES runs its stage T-K, all at once,
#                  on the model after step T-1 (with OVERLAP_ENDS stage
#                  T-K+1, unit 0 T and unit N-1 T-K+2, N+STAGES-3 steps);
#                  step T is the stage
#                  OUT/wq.T.h5, its units in OUT/step.T/; wall time
#                  (N+STAGES-1)/STAGES unit reconstructions, or
#                  (N+STAGES-3)/STAGES with OVERLAP_ENDS; see
#                  genie-parallel(7)) (sequential)
#   ROUNDS         rounds of MODE=jacobi (3)
#   ROUND_ITERS    reconstruction iterations per unit in rounds 2..ROUNDS of
#                  MODE=jacobi: each starts from the round before, and a
#                  round's wall time is its iterations (RECON_ITERS)
#   STAGES         stages per unit of MODE=wavefront (3: on the 11 units of
#                  the bundled resnet20 and mbv2-tiny, with OVERLAP_ENDS, 11
#                  steps of RECON_ITERS/3, a wall time of 3.67 unit
#                  reconstructions against 11 sequential)
#   OVERLAP_ENDS   MODE=wavefront: 1, unit 1 starts with unit 0 and unit N-1
#                  with unit N-2 (recon-parallel.sh --overlap-ends): N+STAGES-3
#                  steps, for 8-bit first and last layers; 0, every unit a
#                  step after the one before (1 with FIRST_LAST=8, else 0:
#                  measured with 8-bit ends only)
#   FRESH_STAGES   1: MODE=wavefront's stages each a short schedule of their
#                  own (warm-up and beta annealing again in each), not one
#                  schedule continued (recon-parallel.sh --fresh-stages; empty)
#   WARMUP         MODE=wavefront: the fraction of each unit's schedule with
#                  the rounding loss off (recon-block --warmup; empty:
#                  GENIE.md's 0.2); (STAGES-1)/STAGES anneals beta in each
#                  unit's last stage only, on final inputs
#   SEED           seed of distill and recon-block (0)
#   JOBS           processes GNU parallel runs at a time, on each host (2)
#   THREADS        OpenBLAS threads of each program (all cores; under GNU
#                  parallel cores/JOBS here, 1 on other hosts)
#   HOSTS          run distillation batches and independent units on these
#                  hosts too: GNU parallel sshlogins, space separated (":" is
#                  this host); genie must be on their PATH (none)
#   SLF            a file of sshlogins, GNU parallel's --slf (none)
#   SSHCMD         the ssh command GNU parallel uses (ssh)
#   RETRIES        tries per batch or unit (3 with hosts, else 1)
#   WORKDIR        the jobs' directory on other hosts, relative to the login
#                  directory (.genie/STAGE.THISHOST.PID, removed afterwards)
#   TEST           the labelled test set for genie-eval (OUT/test.h5, made with
#                  idx2h5 from Fashion-MNIST's t10k in FMNIST)
#   EVAL_BATCH     genie-eval --batch (256)
#   FMNIST         /usr/share/datasets/fashion-mnist
#   OUT            out/MODELNAME-wWBITSaABITS-{real,METHOD}
#   BIN            the directory of genie's programs (in a clone its bin/;
#                  installed, PREFIX/bin beside PREFIX/share/genie; else the
#                  programs are found on PATH)
#   QUIET          1: no progress from the programs
#
# Targets: all (default: up to OUT/summary.txt, printed when made), stats,
# synth, data, calib, recon, pack, eval, summary (prints it), onnx (the packed
# model exported as QDQ ONNX by export-onnx: OUT/model.qdq.onnx), clean
# (removes the files this makefile makes in OUT), help.
# Results: OUT/model.int.h5 (the packed model), OUT/result.json, OUT/summary.txt;
# GNU parallel's job logs OUT/distill.joblog and OUT/recon.joblog.

GENIE_MK   := $(abspath $(lastword $(MAKEFILE_LIST)))
# the driver scripts sit beside this file: pipelines/ in a clone,
# PREFIX/share/genie when installed
GENIE_DIR  := $(patsubst %/,%,$(dir $(GENIE_MK)))
BIN        ?= $(firstword $(foreach d,$(GENIE_DIR)/../bin $(GENIE_DIR)/../../bin,$(if $(wildcard $(d)/calib),$(abspath $(d)))))
# a program's name as run: BIN/NAME, or NAME (from PATH) when BIN is empty
B          := $(if $(BIN),$(patsubst %/,%,$(BIN))/)

MODEL         ?=
WBITS         ?= 4
ABITS         ?= 4
FIRST_LAST    ?= 8
BITS          ?=
REAL          ?=
SAMPLES       ?= 1024
METHOD        ?= genie
BATCH         ?= 128
DISTILL_ITERS ?= 4000
PRODUCTS      ?= fp32
RECON_ITERS   ?= 20000
EARLY_STOP    ?=
RECON_BATCH   ?= $(shell s='$(SAMPLES)'; [[ $$s =~ ^[0-9]{1,9}$$ ]] && [ $$s -ge 32 ] && echo $$(( s / 32 )) || echo 1)
MODE          ?= sequential
ROUNDS        ?= 3
ROUND_ITERS   ?=
STAGES        ?=
FRESH_STAGES  ?=
OVERLAP_ENDS  ?=
WARMUP        ?=
SEED          ?= 0
JOBS          ?= 2
THREADS       ?=
HOSTS         ?=
SLF           ?=
SSHCMD        ?=
RETRIES       ?=
WORKDIR       ?=
TEST          ?=
EVAL_BATCH    ?= 256
FMNIST        ?= /usr/share/datasets/fashion-mnist
QUIET         ?=
OUT           ?= out/$(basename $(notdir $(MODEL)))-w$(WBITS)a$(ABITS)-$(if $(REAL),real,$(METHOD))

SHELL       := /bin/bash
comma       := ,
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
.PHONY: all stats synth data calib recon pack eval summary onnx clean help FORCE

all: $(OUT)/summary.txt

# ---- settings ---------------------------------------------------------------
GOALS := $(or $(MAKECMDGOALS),all)
ifneq ($(filter-out help clean,$(GOALS)),)
ifeq ($(strip $(MODEL)),)
$(error MODEL= is required: make -f pipelines/genie.mk MODEL=model.h5 WBITS=4 ABITS=4 (see make -f pipelines/genie.mk help))
endif
# the input files, before anything is made (no OUT, no *.args for a bad one)
$(if $(wildcard $(MODEL)),,$(error MODEL=$(MODEL): no such file))
$(if $(REAL),$(if $(wildcard $(REAL)),,$(error REAL=$(REAL): no such file)))
$(if $(TEST),$(if $(wildcard $(TEST)),,$(error TEST=$(TEST): no such file)))
# an ONNX file where a genie model belongs: say what to do with it
$(if $(shell f='$(MODEL)'; [ -f "$$f" ] && [ "$$(head -c 8 "$$f" | od -An -tx1 | tr -d ' \n')" != 894844460d0a1a0a ] && \
  { [[ $${f,,} == *.onnx ]] || [[ "$$(head -c 1 "$$f" | od -An -tx1 | tr -d ' \n')" == 08 ]]; } && echo onnx),\
  $(error MODEL=$(MODEL): this is an ONNX model: import it with onnx2h5 first (onnx2h5 $(MODEL) -o $(basename $(notdir $(MODEL))).h5)))
$(if $(B),$(if $(wildcard $(B)calib),,$(error BIN=$(BIN): genie's programs are not there)),\
  $(if $(shell command -v calib),,$(error genie's programs are neither beside pipelines/ nor on PATH: make install, or set BIN=)))
endif

# $(call count,NAME,VALUE,MIN,MAX): error unless VALUE is an integer in MIN..MAX
count = $(if $(shell v='$(2)'; [[ $$v =~ ^[0-9]{1,9}$$ ]] && [ $$v -ge $(3) ] && [ $$v -le $(4) ] && echo ok),,$(error $(1)=$(2): expected an integer in $(3)..$(4)))
$(call count,WBITS,$(WBITS),2,8)
$(call count,ABITS,$(ABITS),2,8)
$(call count,FIRST_LAST,$(FIRST_LAST),2,8)
$(call count,SAMPLES,$(SAMPLES),1,100000000)
$(call count,BATCH,$(BATCH),1,100000000)
$(call count,DISTILL_ITERS,$(DISTILL_ITERS),1,100000000)
$(call count,RECON_ITERS,$(RECON_ITERS),1,100000000)
$(call count,RECON_BATCH,$(RECON_BATCH),1,65536)
$(if $(shell [[ '$(SEED)' =~ ^[0-9]{1,19}$$ ]] && echo ok),,$(error SEED=$(SEED): expected a non-negative integer))
$(call count,JOBS,$(JOBS),1,1024)
$(call count,EVAL_BATCH,$(EVAL_BATCH),1,1048576)
$(if $(THREADS),$(call count,THREADS,$(THREADS),1,1024))
$(if $(RETRIES),$(call count,RETRIES,$(RETRIES),1,100))
$(if $(SLF),$(if $(wildcard $(SLF)),,$(error SLF=$(SLF): no such file)))
$(if $(filter $(MODE),sequential independent jacobi wavefront),,$(error MODE=$(MODE): expected sequential, independent, jacobi or wavefront))
$(if $(STAGES),$(call count,STAGES,$(STAGES),1,1000))
$(if $(STAGES),$(if $(filter wavefront,$(MODE)),,$(error STAGES=$(STAGES) takes MODE=wavefront, not $(MODE))))
WSTAGES := $(or $(STAGES),3)
$(if $(filter-out 0 1,$(FRESH_STAGES)),$(error FRESH_STAGES=$(FRESH_STAGES): expected 1 or empty))
$(if $(filter 1,$(FRESH_STAGES)),$(if $(filter wavefront,$(MODE)),,$(error FRESH_STAGES=1 takes MODE=wavefront, not $(MODE))))
FRESH := $(if $(filter 1,$(FRESH_STAGES)),--fresh-stages)
$(if $(filter-out 0 1,$(OVERLAP_ENDS)),$(error OVERLAP_ENDS=$(OVERLAP_ENDS): expected 0 or 1))
$(if $(OVERLAP_ENDS),$(if $(filter wavefront,$(MODE)),,$(error OVERLAP_ENDS=$(OVERLAP_ENDS) takes MODE=wavefront, not $(MODE))))
OVERLAP := $(if $(filter wavefront,$(MODE)),$(if $(filter 0,$(OVERLAP_ENDS)),,$(if $(or $(OVERLAP_ENDS),$(filter 8,$(FIRST_LAST))),--overlap-ends)))
$(if $(WARMUP),$(if $(shell [[ '$(WARMUP)' =~ ^0(\.[0-9]+)?$$ ]] && echo ok),,$(error WARMUP=$(WARMUP): expected 0 or a fraction 0.F (below 1))))
$(if $(WARMUP),$(if $(filter wavefront,$(MODE)),,$(error WARMUP=$(WARMUP) takes MODE=wavefront, not $(MODE))))
WARM := $(if $(WARMUP),--warmup $(WARMUP))
$(if $(filter wavefront,$(MODE)),$(if $(shell [ $(WSTAGES) -le $(RECON_ITERS) ] && echo ok),,$(error STAGES=$(WSTAGES): more stages than RECON_ITERS=$(RECON_ITERS))))
$(call count,ROUNDS,$(ROUNDS),1,100)
$(if $(ROUND_ITERS),$(call count,ROUND_ITERS,$(ROUND_ITERS),1,100000000))
$(if $(ROUND_ITERS),$(if $(filter jacobi,$(MODE)),,$(error ROUND_ITERS=$(ROUND_ITERS) takes MODE=jacobi, not $(MODE))))
RITERS := $(or $(ROUND_ITERS),$(RECON_ITERS))
$(if $(filter-out 0 1,$(EARLY_STOP)),$(error EARLY_STOP=$(EARLY_STOP): expected 1 or empty))
$(if $(filter 1,$(EARLY_STOP)),$(if $(filter sequential,$(MODE)),,$(error EARLY_STOP=1 takes MODE=sequential, not $(MODE))))
ES := $(if $(filter 1,$(EARLY_STOP)),--early-stop)
$(if $(filter $(METHOD),genie pixel noise),,$(error METHOD=$(METHOD): expected genie, pixel or noise))
$(if $(filter $(PRODUCTS),fp32 bf16),,$(error PRODUCTS=$(PRODUCTS): expected fp32 or bf16))

# distillation batches: BATCH, or all SAMPLES in one batch when fewer
DBATCH := $(shell [ $(SAMPLES) -lt $(BATCH) ] && echo $(SAMPLES) || echo $(BATCH))
NBATCH := $(shell echo $$(( $(SAMPLES) / $(DBATCH) )))
ifeq ($(REAL),)
ifneq ($(shell echo $$(( $(SAMPLES) % $(DBATCH) ))),0)
$(error SAMPLES=$(SAMPLES) is not a multiple of BATCH=$(BATCH))
endif
endif
THR     := $(if $(THREADS),--threads $(THREADS))
# GNU parallel's hosts and how it reaches them (pipelines/parallel.bash)
PAR     := $(foreach l,$(HOSTS),-S $(l)) $(if $(SLF),--slf $(SLF)) $(if $(SSHCMD),--ssh '$(SSHCMD)') \
           $(if $(RETRIES),--retries $(RETRIES)) $(if $(WORKDIR),--workdir $(WORKDIR))
Q       := $(if $(filter-out 0,$(QUIET)),-q)

CAL     := $(if $(REAL),$(OUT)/real.h5,$(OUT)/synth.h5)
Q0      := $(OUT)/q.0.h5
PACKED  := $(OUT)/model.int.h5
TESTSET := $(or $(TEST),$(OUT)/test.h5)
BATCHES := $(foreach k,$(shell seq 0 $$(( $(NBATCH) - 1 ))),$(OUT)/synth.$(k).h5)
ifeq ($(REAL),)
CAL_JSON := "distill_batch": $(DBATCH), "distill_iters": $(DISTILL_ITERS),
CAL_TEXT := $(SAMPLES) images distilled with method $(METHOD), $(DISTILL_ITERS) iterations per batch of $(DBATCH)
else
CAL_JSON := "real": "$(REAL)",
CAL_TEXT := the first $(SAMPLES) images of $(REAL) (few-shot)
endif

# $(call stamp,NAME,SETTINGS): OUT/NAME.args records a stage's SETTINGS. When
# they changed, a run rewrites it as this file is read (making the stage out
# of date); under -n or -q it is left alone and only reported out of date.
DRY   := $(if $(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS))),1)
stamp = $(if $(shell [ "$$(cat '$(OUT)/$(1).args' 2>/dev/null)" = '$(2)' ] || echo changed),$(eval $(call stamp_changed,$(1),$(2))))
define stamp_changed
ifeq ($(DRY),)
$$(shell mkdir -p '$(OUT)' && printf '%s\n' '$(2)' >'$(OUT)/$(1).args')
else
$(OUT)/$(1).args: FORCE
	printf '%s\n' '$(2)' >$$@
endif
endef
ifneq ($(filter-out help clean,$(GOALS)),)
$(call stamp,model,model=$(abspath $(MODEL)))
$(if $(REAL),$(call stamp,real,real=$(abspath $(REAL)) samples=$(SAMPLES)),$(call stamp,distill,method=$(METHOD) samples=$(SAMPLES) batch=$(DBATCH) iters=$(DISTILL_ITERS) seed=$(SEED)$(if $(ES), early_stop=1)$(if $(filter bf16,$(PRODUCTS)), products=bf16)))
$(call stamp,calib,data=$(CAL) wbits=$(WBITS) abits=$(ABITS) first_last=$(FIRST_LAST) bits=$(BITS))
$(call stamp,recon,mode=$(MODE) iters=$(RECON_ITERS) batch=$(RECON_BATCH) seed=$(SEED)$(if $(ES), early_stop=1))
$(call stamp,test,test=$(abspath $(TESTSET)))
$(if $(filter jacobi,$(MODE)),$(call stamp,rounds,rounds=$(ROUNDS)))
$(if $(filter jacobi,$(MODE)),$(call stamp,round_iters,round_iters=$(RITERS)))
$(if $(filter wavefront,$(MODE)),$(call stamp,stages,stages=$(WSTAGES)$(if $(FRESH), fresh=1, resume=1)$(if $(WARMUP), warmup=$(WARMUP))$(if $(OVERLAP), overlap_ends=1)))
endif

# ---- zero-shot data: Genie-D --------------------------------------------------
$(OUT)/stats.h5: $(MODEL) $(OUT)/model.args
	$(B)bnstats $(Q) $(THR) $(MODEL) -o $@

# one distill process per batch (GNU parallel, pipelines/distill.sh, here or
# on HOSTS); batches already made are kept
$(OUT)/synth.h5: $(OUT)/stats.h5 $(MODEL) $(OUT)/model.args $(OUT)/distill.args
	BIN=$(BIN) $(GENIE_DIR)/distill.sh $(MODEL) $(OUT)/stats.h5 -n $(SAMPLES) --batch $(DBATCH) \
	  --iters $(DISTILL_ITERS) --seed $(SEED) --method $(METHOD) --products $(PRODUCTS) \
	  -j $(JOBS) $(THR) $(PAR) $(ES) \
	  --joblog $(OUT)/distill.joblog -d $(OUT) $(Q) -o $@

# ---- few-shot data: the first SAMPLES images of REAL (h5dump + h5import, bit-exact)
$(OUT)/real.h5: $(REAL) $(OUT)/real.args
	@hdr=$$(h5dump -H -d /x $(REAL) 2>/dev/null) || { echo "genie.mk: $(REAL): no /x dataset (not a genie dataset file)" >&2; exit 1; }; \
	grep -q H5T_IEEE_F32LE <<<"$$hdr" || { echo "genie.mk: $(REAL): /x is not float32" >&2; exit 1; }; \
	dims=$$(sed -n 's/.*DATASPACE *SIMPLE { ( \([0-9, ]*\) ).*/\1/p' <<<"$$hdr" | tr -d ' '); \
	IFS=, read -r n c h w rest <<<"$$dims"; \
	[ -n "$$w" ] && [ -z "$$rest" ] || { echo "genie.mk: $(REAL): /x is not [N,C,H,W]" >&2; exit 1; }; \
	[ $$n -ge $(SAMPLES) ] || { echo "genie.mk: $(REAL) holds $$n images, fewer than SAMPLES=$(SAMPLES)" >&2; exit 1; }; \
	echo "genie.mk: few-shot: the first $(SAMPLES) of the $$n images of $(REAL)" >&2; \
	t=$$(mktemp -d); trap 'rm -rf "$$t"' EXIT; \
	cfg='INPUT-SIZE 32\nINPUT-BYTE-ORDER LE\nOUTPUT-SIZE 32\nOUTPUT-BYTE-ORDER LE\n'; \
	h5dump -d /x -s 0,0,0,0 -c $(SAMPLES),$$c,$$h,$$w -b LE -o $$t/x.bin $(REAL) >/dev/null; \
	printf "PATH x\nINPUT-CLASS FP\nOUTPUT-CLASS FP\nRANK 4\nDIMENSION-SIZES $(SAMPLES) $$c $$h $$w\n$$cfg" >$$t/x.cfg; \
	set -- $$t/x.bin -c $$t/x.cfg; \
	if h5dump -H -d /y $(REAL) 2>/dev/null | grep -q H5T_STD_I32LE; then \
	  h5dump -d /y -s 0 -c $(SAMPLES) -b LE -o $$t/y.bin $(REAL) >/dev/null; \
	  printf "PATH y\nINPUT-CLASS IN\nOUTPUT-CLASS IN\nRANK 1\nDIMENSION-SIZES $(SAMPLES)\n$$cfg" >$$t/y.cfg; \
	  set -- "$$@" $$t/y.bin -c $$t/y.cfg; \
	fi; \
	rm -f $@.tmp; h5import "$$@" -o $@.tmp >/dev/null || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

# ---- Genie-M ------------------------------------------------------------------
$(Q0): $(MODEL) $(CAL) $(OUT)/model.args $(OUT)/calib.args
	$(B)calib $(MODEL) $(CAL) -w $(WBITS) -a $(ABITS) --first-last $(FIRST_LAST) \
	  $(addprefix --bits ,$(BITS)) $(THR) $(Q) -o $@

ifeq ($(MODE),sequential)
# unit k of q.k.h5 -> q.k+1.h5, in order; a q.k+1.h5 newer than q.k.h5 is kept
$(OUT)/q.h5: $(Q0) $(CAL) $(OUT)/recon.args
	@n=$$($(B)calib --list-units $(Q0) | wc -l); \
	for k in $$(seq 0 $$(( n - 1 ))); do \
	  src=$(OUT)/q.$$k.h5 dst=$(OUT)/q.$$(( k + 1 )).h5; \
	  if [ -f $$dst ] && [ $$dst -nt $$src ] && [ $$dst -nt $(CAL) ] && [ $$dst -nt $(OUT)/recon.args ]; then continue; fi; \
	  set -- $(B)recon-block $$src $(CAL) --unit $$k --iters $(RECON_ITERS) --batch $(RECON_BATCH) \
	    --seed $(SEED) $(ES) $(THR) $(Q) -o $$dst; \
	  echo "$$*"; "$$@"; \
	done; \
	cp $(OUT)/q.$$n.h5 $@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

$(PACKED): $(OUT)/q.h5
	$(B)pack $(Q) $< -o $@
else ifeq ($(MODE),jacobi)
# round r: every unit at once from jq.r-1.h5 (q.0.h5 for round 1), its unit
# files in round.r/, and jq.r.h5 that model with them applied (pack
# --qmodel); each round a stage of its own, so an interrupted run resumes at
# its round. More ROUNDS later reuses the rounds made. Round 1 runs
# RECON_ITERS iterations per unit, the later ones ROUND_ITERS.
define jacobi_round
$(OUT)/jq.$(1).h5: $(if $(filter 1,$(1)),$(Q0),$(OUT)/jq.$(shell echo $$(( $(1) - 1 ))).h5 $(OUT)/round_iters.args) $(CAL) $(OUT)/recon.args
	BIN=$(BIN) $(GENIE_DIR)/recon-parallel.sh -j $(JOBS) -i $(if $(filter 1,$(1)),$(RECON_ITERS),$(RITERS)) -b $(RECON_BATCH) \
	  -s $(SEED) $(THR) $(PAR) --joblog $(OUT)/recon.$(1).joblog -d $(OUT)/round.$(1) $(Q) \
	  --next $$@ $$< $(CAL)
endef
$(foreach r,$(shell seq 1 $(ROUNDS)),$(eval $(call jacobi_round,$(r))))

$(PACKED): $(OUT)/jq.$(ROUNDS).h5 $(OUT)/rounds.args
	$(B)pack $(Q) $< -o $@
else ifeq ($(MODE),wavefront)
# time step T: the units K with 1 <= T-K <= STAGES, each its stage T-K
# (T-K+z(K) with OVERLAP_ENDS: z = 0 for unit 0, 2 for unit N-1, else 1)
# (recon-block --stage, resuming the optimiser of its stage before from
# step.T-1/: --resume), all at once on wq.T-1.h5 (q.0.h5 for T = 1), their
# unit files in step.T/, and wq.T.h5 that model with them applied; each step
# a stage of its own, so an interrupted run resumes at its step. The number
# of steps, N+STAGES-1 (N+STAGES-3 with OVERLAP_ENDS), is known once q.0.h5 is: wq.h5 (the model after the
# last step) asks this makefile again for that step, with WAVE_STEPS set.
define wave_step
$(OUT)/wq.$(1).h5: $(if $(filter 1,$(1)),$(Q0),$(OUT)/wq.$(shell echo $$(( $(1) - 1 ))).h5) $(CAL) $(OUT)/recon.args $(OUT)/stages.args
	BIN=$(BIN) $(GENIE_DIR)/recon-parallel.sh -j $(JOBS) -i $(RECON_ITERS) -b $(RECON_BATCH) -s $(SEED) \
	  --wavefront $(WSTAGES)$(if $(OVERLAP), $(OVERLAP))$(if $(FRESH), $(FRESH))$(if $(WARM), $(WARM)) --step $(1)$(if $(or $(FRESH),$(filter 1,$(1))),, --resume-dir $(OUT)/step.$(shell echo $$(( $(1) - 1 )))) $(THR) $(PAR) --joblog $(OUT)/recon.step.$(1).joblog -d $(OUT)/step.$(1) $(Q) \
	  --next $$@ $$< $(CAL)
endef
$(if $(WAVE_STEPS),$(call count,WAVE_STEPS,$(WAVE_STEPS),1,1000000))
$(foreach t,$(if $(WAVE_STEPS),$(shell seq 1 $(WAVE_STEPS))),$(eval $(call wave_step,$(t))))

$(OUT)/wq.h5: $(Q0) $(CAL) $(OUT)/recon.args $(OUT)/stages.args
	@n=$$($(B)calib --list-units $(Q0) | wc -l); t=$$(( n + $(WSTAGES) - 1 $(if $(OVERLAP),- (n > 2 ? 2 : n - 1)) )); \
	echo "genie.mk: wavefront of $$n units in $(WSTAGES) stages$(if $(OVERLAP), (its ends overlapped)): $$t time steps" >&2; \
	$(MAKE) --no-print-directory -f $(GENIE_MK) WAVE_STEPS=$$t $(OUT)/wq.$$t.h5; \
	cp $(OUT)/wq.$$t.h5 $@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

$(PACKED): $(OUT)/wq.h5
	$(B)pack $(Q) $< -o $@
else
# every unit at once from q.0.h5, then pack q.0.h5 unit.*.h5
$(PACKED): $(Q0) $(CAL) $(OUT)/recon.args
	BIN=$(BIN) $(GENIE_DIR)/recon-parallel.sh -j $(JOBS) -i $(RECON_ITERS) -b $(RECON_BATCH) \
	  -s $(SEED) $(THR) $(PAR) --joblog $(OUT)/recon.joblog -d $(OUT) $(Q) $(Q0) $(CAL) -o $@
endif

# ---- evaluation -----------------------------------------------------------------
$(OUT)/test.h5:
	$(B)idx2h5 $(FMNIST)/t10k-images-idx3-ubyte.gz $(FMNIST)/t10k-labels-idx1-ubyte.gz \
	  --mean 0.2860 --std 0.3530 -o $@

$(OUT)/fp32.json: $(MODEL) $(TESTSET) $(OUT)/model.args $(OUT)/test.args
	$(B)genie-eval $(MODEL) $(TESTSET) --json --batch $(EVAL_BATCH) -q $(THR) >$@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

$(OUT)/quant.json: $(PACKED) $(TESTSET) $(OUT)/test.args
	$(B)genie-eval $(PACKED) $(TESTSET) --json --batch $(EVAL_BATCH) -q $(THR) >$@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

# result.json: the settings and both evaluations, one JSON object
$(OUT)/result.json: $(OUT)/fp32.json $(OUT)/quant.json
	@{ printf '{"model": "%s", "wbits": %d, "abits": %d, "first_last": %d, "bits": "%s", ' \
	    '$(MODEL)' $(WBITS) $(ABITS) $(FIRST_LAST) '$(BITS)'; \
	  printf '"calibration": "%s", "samples": %d, ' '$(if $(REAL),real,$(METHOD))' $(SAMPLES); \
	  printf '%s ' '$(CAL_JSON)'; \
	  printf '"mode": "%s", $(if $(filter jacobi,$(MODE)),"rounds": $(ROUNDS)$(comma) "round_iters": $(RITERS)$(comma) )$(if $(filter wavefront,$(MODE)),"stages": $(WSTAGES)$(comma) "overlap_ends": $(if $(OVERLAP),true,false)$(comma) "fresh_stages": $(if $(FRESH),true,false)$(comma) $(if $(WARMUP),"warmup": $(WARMUP)$(comma) ))"recon_iters": %d, "recon_batch": %d, "seed": %s, ' $(MODE) $(RECON_ITERS) $(RECON_BATCH) $(SEED); \
	  printf '"test": "%s", "model_bytes": %d, "packed_bytes": %d, ' '$(TESTSET)' $$(stat -c %s $(MODEL)) $$(stat -c %s $(PACKED)); \
	  printf '"fp32": %s, "quantised": %s}\n' "$$(cat $(OUT)/fp32.json)" "$$(cat $(OUT)/quant.json)"; \
	} >$@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

# summary.txt: FP32 and quantised side by side; printed when made
$(OUT)/summary.txt: $(OUT)/result.json
	@get() { sed -n "s/.*\"$$2\": \([0-9.eE+-]*\).*/\1/p" $(OUT)/$$1.json; }; \
	{ echo "genie: $(MODEL) quantised to W$(WBITS)A$(ABITS) (first and last layers $(FIRST_LAST) bits$(if $(BITS), overrides $(BITS)))"; \
	  echo "calibration:    $(CAL_TEXT)"; \
	  echo "reconstruction: $(MODE)$(if $(filter jacobi,$(MODE)), ($(ROUNDS) round$(if $(filter 1,$(ROUNDS)),,s)$(if $(ROUND_ITERS),$(if $(filter 1,$(ROUNDS)),,, $(ROUND_ITERS) iterations per unit after the first))))$(if $(filter wavefront,$(MODE)), ($(WSTAGES) $(if $(FRESH),fresh )stages$(if $(OVERLAP), with its ends overlapped)$(if $(WARMUP), warm-up $(WARMUP)))), $(RECON_ITERS) iterations per unit, batch $(RECON_BATCH), seed $(SEED)"; \
	  echo "test set:       $(TESTSET), $$(get fp32 n) images"; \
	  printf '%-16s%12s%12s%10s\n' "" FP32 W$(WBITS)A$(ABITS) change; \
	  awk -v a="$$(get fp32 top1)" -v b="$$(get quant top1)" 'BEGIN{printf "%-16s%11.2f%%%11.2f%%%+10.2f\n", "top-1", 100*a, 100*b, 100*(b-a)}'; \
	  awk -v a="$$(get fp32 top5)" -v b="$$(get quant top5)" 'BEGIN{printf "%-16s%11.2f%%%11.2f%%%+10.2f\n", "top-5", 100*a, 100*b, 100*(b-a)}'; \
	  awk -v a="$$(get fp32 loss)" -v b="$$(get quant loss)" 'BEGIN{printf "%-16s%12.4f%12.4f%+10.4f\n", "loss", a, b, b-a}'; \
	  awk -v a=$$(stat -c %s $(MODEL)) -v b=$$(stat -c %s $(PACKED)) 'BEGIN{printf "%-16s%9.0f kB%9.0f kB%9.1fx\n", "file size", a/1024, b/1024, a/b}'; \
	  echo "packed model:   $(PACKED)"; \
	} >$@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@; cat $@

# ---- deployment: the packed model as QDQ ONNX (export-onnx(1))
$(OUT)/model.qdq.onnx: $(PACKED)
	$(BIN)/export-onnx $(Q) $< -o $@

# ---- conveniences ----------------------------------------------------------------
stats: $(OUT)/stats.h5
synth: $(OUT)/synth.h5
data: $(CAL)
calib: $(Q0)
recon: $(if $(filter sequential,$(MODE)),$(OUT)/q.h5,$(if $(filter jacobi,$(MODE)),$(OUT)/jq.$(ROUNDS).h5,$(if $(filter wavefront,$(MODE)),$(OUT)/wq.h5,$(PACKED))))
pack: $(PACKED)
onnx: $(OUT)/model.qdq.onnx
eval: $(OUT)/result.json
summary: $(OUT)/summary.txt
	@cat $<

clean:
	rm -f $(addprefix $(OUT)/,stats.h5 synth.h5 synth.[0-9]*.h5 real.h5 q.h5 q.[0-9]*.h5 unit.[0-9]*.h5 \
	  unit.args synth.args model.int.h5 model.qdq.onnx test.h5 fp32.json quant.json result.json summary.txt *.args *.tmp* \
	  distill.joblog recon.joblog jq.[0-9]*.h5 recon.[0-9]*.joblog wq.h5 wq.[0-9]*.h5 recon.step.[0-9]*.joblog)
	rm -rf $(OUT)/round.[0-9]* $(OUT)/step.[0-9]*

FORCE:

help:
	@sed -n '1,/^$$/s/^# \{0,1\}//p' $(GENIE_MK)
