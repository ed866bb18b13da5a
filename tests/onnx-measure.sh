#!/usr/bin/env bash
# tests/onnx-measure.sh - the figures of export-onnx(1)'s README section:
# the bundled models quantised few-shot (the first SAMPLES Fashion-MNIST
# training images, RECON_ITERS reconstruction iterations per unit, seed 0)
# at W4A4, W2A4 and W2A2 with pipelines/genie.mk, exported (its onnx
# target) and run by genie's eval and by onnxruntime at both optimisation
# extremes on the 10,000 test images (pipelines/onnx-check.sh).
# Hours of CPU: run it niced in the background.
#   tests/onnx-measure.sh [OUTDIR]      (default out/onnx-measure)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
O=${1:-out/onnx-measure}
SAMPLES=${SAMPLES:-256} RECON_ITERS=${RECON_ITERS:-200}
FM=/usr/share/datasets/fashion-mnist
mkdir -p "$O"
[ -f "$O/train.h5" ] || bin/idx2h5 $FM/train-images-idx3-ubyte.gz $FM/train-labels-idx1-ubyte.gz \
  --mean 0.2860 --std 0.3530 -n "$SAMPLES" -o "$O/train.h5"
[ -f "$O/test.h5" ] || bin/idx2h5 $FM/t10k-images-idx3-ubyte.gz $FM/t10k-labels-idx1-ubyte.gz \
  --mean 0.2860 --std 0.3530 -o "$O/test.h5"
for m in fmnist-resnet20 fmnist-mbv2-tiny; do
  bin/export-onnx -q data/$m.h5 -o "$O/$m.fp32.onnx"
  echo "== $m FP32"
  pipelines/onnx-check.sh data/$m.h5 "$O/$m.fp32.onnx" "$O/test.h5"
  for wa in 4/4 2/4 2/2; do
    w=${wa%/*} a=${wa#*/} d="$O/$m-w${w}a$a"
    make -s --no-print-directory -f pipelines/genie.mk MODEL=data/$m.h5 WBITS=$w ABITS=$a REAL="$O/train.h5" \
      SAMPLES="$SAMPLES" RECON_ITERS="$RECON_ITERS" RECON_BATCH=32 SEED=0 JOBS=1 THREADS=1 QUIET=1 \
      TEST="$O/test.h5" OUT="$d" onnx >"$d.log" 2>&1 || { echo "$m W${w}A$a: failed, see $d.log"; continue; }
    echo "== $m W${w}A$a ($SAMPLES real training images, $RECON_ITERS iterations per unit, seed 0)"
    pipelines/onnx-check.sh "$d/model.int.h5" "$d/model.qdq.onnx" "$O/test.h5"
  done
done
