#!/usr/bin/env bash
# pipelines/reference-table.sh - like-for-like with the authors' PyTorch code
# on the reference ResNet-20 (tests/fixtures/resnet20_fmnist.onnx): 256
# distilled images (2 batches of 128, 1000 distillation iterations each) or
# the first 256 Fashion-MNIST training images, 4000 reconstruction
# iterations per unit, batch RBATCH (8: what the reference's 256/32 gives),
# top-1 on the 10,000 test images. Runs JOBS configurations at a time, one
# thread each.
#
# Usage: pipelines/reference-table.sh [OUTDIR]   (default out/reference-table)
# Environment: RBATCH (8), RITERS (4000), DITERS (1000), JOBS (2), SEED (0).
# Run from a clone of genie (OUTDIR is relative to it). Prints a Markdown table.
# Exit status: 0 ok, 1 a configuration failed, 2 usage error.
set -eu
prog=reference-table.sh
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
case ${1-} in
  -h|--help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) usage_error "unknown option '$1'" ;;
esac
[ $# -le 1 ] || usage_error "expected at most one OUTDIR, got $# arguments"
O=${1:-out/reference-table}
RBATCH=${RBATCH:-8} RITERS=${RITERS:-4000} DITERS=${DITERS:-1000} JOBS=${JOBS:-2} SEED=${SEED:-0}
for v in RBATCH RITERS DITERS JOBS; do
  [[ ${!v} =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "$v=${!v}: not a positive count"
done
[[ $SEED =~ ^[0-9]{1,19}$ ]] || usage_error "SEED=$SEED: not a non-negative integer"
cd "$(dirname "$0")/.."
[ -f tests/fixtures/resnet20_fmnist.onnx ] || { echo "$prog: run it from a clone of genie (no tests/fixtures/ beside pipelines/)" >&2; exit 1; }
export PATH="$PWD/bin:$PATH"
FM=/usr/share/datasets/fashion-mnist
mkdir -p "$O"
[ -f "$O/ref.h5" ] || onnx2h5 -q tests/fixtures/resnet20_fmnist.onnx -o "$O/ref.h5"
[ -f "$O/test.h5" ] || idx2h5 $FM/t10k-images-idx3-ubyte.gz $FM/t10k-labels-idx1-ubyte.gz --mean 0.2860 --std 0.3530 -o "$O/test.h5"
[ -f "$O/real.h5" ] || idx2h5 $FM/train-images-idx3-ubyte.gz $FM/train-labels-idx1-ubyte.gz --mean 0.2860 --std 0.3530 -n 256 -o "$O/real.h5"
[ -f "$O/stats.h5" ] || bnstats "$O/ref.h5" -o "$O/stats.h5"
if [ ! -f "$O/synth.h5" ]; then
  parallel -j "$JOBS" --halt now,fail=1 distill "$O/ref.h5" "$O/stats.h5" -n 256 --batch 128 --iters "$DITERS" \
    --seed "$SEED" --batch-index {} -t 1 -q -o "$O/synth.{}.h5" ::: 0 1
  h5cat "$O/synth.0.h5" "$O/synth.1.h5" -o "$O/synth.h5"
fi
run() { # data w a
  local d=$1 w=$2 a=$3 tag=$1-w$2a$3
  [ -f "$O/$tag.json" ] && return 0
  calib "$O/ref.h5" "$O/$d.h5" -w "$w" -a "$a" -t 1 -q -o "$O/$tag.q0.h5"
  [ "$d" = synth ] && genie-eval "$O/$tag.q0.h5" "$O/test.h5" --json -q -t 1 > "$O/rtn-w$w""a$a.json"
  recon-block "$O/$tag.q0.h5" "$O/$d.h5" --all --iters "$RITERS" --batch "$RBATCH" --seed "$SEED" -t 1 -q \
    -o "$O/$tag.q.h5" 2> "$O/$tag.log"
  genie-eval "$O/$tag.q.h5" "$O/test.h5" --json -q -t 1 > "$O/$tag.json.tmp" && mv "$O/$tag.json.tmp" "$O/$tag.json"
}
export -f run; export O RBATCH RITERS SEED
printf '%s\n' 'synth 2 4' 'real 2 4' 'synth 4 4' 'real 4 4' 'synth 2 2' 'real 2 2' |
  parallel -j "$JOBS" --colsep ' ' --halt now,fail=1 run {1} {2} {3}
top1() { sed -n 's/.*"top1": \([0-9.]*\).*/\1/p' "$O/$1.json" | awk '{printf "%.2f", 100*$1}'; }
echo "| W/A | few-shot (256 real) | zero-shot (Genie-D) | round-to-nearest |"
echo "|---|---|---|---|"
for wa in "4 4" "2 4" "2 2"; do set -- $wa
  [ -f "$O/synth-w$1a$2.json" ] || continue
  rtn=$(top1 rtn-w$1a$2 2>/dev/null || echo —)
  echo "| $1/$2 | $(top1 real-w$1a$2 2>/dev/null || echo —) | $(top1 synth-w$1a$2) | $rtn |"
done
