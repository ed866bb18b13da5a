#!/usr/bin/env bash
# pipelines/ladder.sh - the whole ladder of calibration data on the bundled
# teachers: FP32 | round-to-nearest (calib, no reconstruction) | noise +
# Genie-M | pixel-distilled + Genie-M | Genie-D + Genie-M (zero-shot) | real
# training images + Genie-M (few-shot), at W4A4, W2A4 and W2A2, the same
# SAMPLES images for every data source. Every cell is one pipelines/genie.mk
# run (cached: a second run only prints the table); the data sources are
# made once per model and handed to genie.mk as REAL=.
#
# Usage: pipelines/ladder.sh [OUTDIR]        (default out/ladder)
# Settings (environment): MODELS ("data/fmnist-resnet20.h5
# data/fmnist-mbv2-tiny.h5"), SAMPLES (256), DITERS (300 distillation
# iterations per batch of 128), RITERS (1000 reconstruction iterations per
# unit), RBATCH (8), SEED (0), JOBS (cells at a time, 1), THREADS (per
# program, 1). Prints a Markdown table; OUTDIR/ladder.md keeps it.
# Run from a clone of genie (OUTDIR is relative to it).
# Exit status: 0 ok, 1 a cell failed, 2 usage error.
set -eu
prog=ladder.sh
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
case ${1-} in
  -h|--help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) usage_error "unknown option '$1'" ;;
esac
[ $# -le 1 ] || usage_error "expected at most one OUTDIR, got $# arguments"
O=${1:-out/ladder}
MODELS=${MODELS:-data/fmnist-resnet20.h5 data/fmnist-mbv2-tiny.h5}
SAMPLES=${SAMPLES:-256} DITERS=${DITERS:-300} RITERS=${RITERS:-1000} RBATCH=${RBATCH:-8}
SEED=${SEED:-0} JOBS=${JOBS:-1} THREADS=${THREADS:-1}
for v in SAMPLES DITERS RITERS RBATCH JOBS THREADS; do
  [[ ${!v} =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "$v=${!v}: not a positive count"
done
[[ $SEED =~ ^[0-9]{1,19}$ ]] || usage_error "SEED=$SEED: not a non-negative integer"
[ $((SAMPLES % 128)) -eq 0 ] || usage_error "SAMPLES=$SAMPLES: not a multiple of the distillation batch, 128"
cd "$(dirname "$0")/.."
for m in $MODELS; do [ -f "$m" ] || { echo "$prog: $m: No such file or directory" >&2; exit 1; }; done
FM=/usr/share/datasets/fashion-mnist
MK="make --no-print-directory -f pipelines/genie.mk QUIET=1 SEED=$SEED THREADS=$THREADS SAMPLES=$SAMPLES"
mkdir -p "$O"
[ -f "$O/real.h5" ] || bin/idx2h5 $FM/train-images-idx3-ubyte.gz $FM/train-labels-idx1-ubyte.gz \
  --mean 0.2860 --std 0.3530 -n "$SAMPLES" -o "$O/real.h5"
[ -f "$O/test.h5" ] || bin/idx2h5 $FM/t10k-images-idx3-ubyte.gz $FM/t10k-labels-idx1-ubyte.gz \
  --mean 0.2860 --std 0.3530 -o "$O/test.h5"

# the data sources, once per model
cells=()
for m in $MODELS; do
  n=$(basename "$m" .h5)
  for meth in noise pixel genie; do
    $MK MODEL="$m" METHOD=$meth BATCH=128 DISTILL_ITERS="$DITERS" JOBS=2 OUT="$O/$n-$meth" \
      "$O/$n-$meth/synth.h5" >&2
  done
  for wa in 4/4 2/4 2/2; do
    for src in noise pixel genie real; do
      d=$O/$n-$src/synth.h5; [ $src = real ] && d=$O/real.h5
      cells+=("$m ${wa%/*} ${wa#*/} $src $d")
    done
  done
done

cell() { # model wbits abits source data
  local out=$O/$(basename "$1" .h5)-w$2a$3-$4
  $MK MODEL="$1" WBITS="$2" ABITS="$3" REAL="$5" RECON_ITERS="$RITERS" RECON_BATCH="$RBATCH" \
    TEST="$O/test.h5" OUT="$out" JOBS=1 all >/dev/null
  # round-to-nearest: the calibrated model before any reconstruction
  [ "$4" = genie ] && [ ! -f "$out/rtn.json" ] &&
    bin/genie-eval "$out/q.0.h5" "$O/test.h5" --json -q -t "$THREADS" >"$out/rtn.json.tmp" && mv "$out/rtn.json.tmp" "$out/rtn.json"
  return 0
}
export -f cell; export O MK RITERS RBATCH THREADS
printf '%s\n' "${cells[@]}" | parallel -j "$JOBS" --colsep ' ' --halt now,fail=1 --joblog "$O/joblog" cell {1} {2} {3} {4} {5}

top1() { sed -n 's/.*"'"$2"'": {"top1": \([0-9.]*\).*/\1/p; s/^{"top1": \([0-9.]*\).*/\1/p' "$1" | head -1 | awk '{printf "%.2f", 100*$1}'; }
{
  echo "| model | W/A | FP32 | round-to-nearest | noise | pixel | Genie-D (zero-shot) | real (few-shot) |"
  echo "|---|---|---|---|---|---|---|---|"
  for m in $MODELS; do
    n=$(basename "$m" .h5)
    for wa in 4/4 2/4 2/2; do
      p=$O/$n-w${wa%/*}a${wa#*/}
      printf '| %s | %s | %s | %s' "$n" "$wa" "$(top1 $p-genie/result.json fp32)" "$(top1 $p-genie/rtn.json x)"
      for src in noise pixel genie real; do printf ' | %s' "$(top1 $p-$src/result.json quantised)"; done
      echo " |"
    done
  done
  echo
  echo "$SAMPLES images per source; distillation $DITERS iterations per batch of 128; reconstruction $RITERS iterations per unit at batch $RBATCH, seed $SEED; top-1 (%) on the 10,000 Fashion-MNIST test images."
} | tee "$O/ladder.md"
