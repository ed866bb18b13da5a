#!/usr/bin/env bash
# pipelines/demo.sh - `make demo`: the main job on the bundled model.
# Zero-shot W4A4 quantisation of the bundled ResNet-20 (data/fmnist-resnet20.h5):
# BatchNorm statistics -> Genie-D distillation (2 batches of 128, in parallel)
# -> calib -> Genie-M reconstruction of every unit -> pack -> genie-eval on the
# 10,000 Fashion-MNIST test images from Debian's dataset-fashion-mnist, FP32
# and quantised top-1 side by side; then the packed model exported as QDQ
# ONNX and run by onnxruntime, its top-1 next to genie's. A short
# configuration (fewer iterations than the paper's) so that it finishes
# within about 15 minutes on 2 cores; pipelines/genie.mk runs the full one.
# Results are cached in out/demo: a second `make demo` only prints them.
#
# Usage: pipelines/demo.sh            (from a clone of genie; no arguments)
# Environment: OUT (out/demo, relative to the clone), DEMO_DISTILL_ITERS (300),
# DEMO_RECON_ITERS (1000).
# Exit status: 0 ok, 1 a stage failed, 2 usage error.
set -eu
prog=demo.sh
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
case ${1-} in
  -h|--help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
[ $# -eq 0 ] || usage_error "takes no arguments, got '$1' (settings are environment variables: see --help)"
for v in DEMO_DISTILL_ITERS DEMO_RECON_ITERS; do
  [[ ${!v:-1} =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "$v=${!v}: not a positive count"
done
cd "$(dirname "$0")/.."
[ -f data/fmnist-resnet20.h5 ] || { echo "$prog: run it from a clone of genie (no data/fmnist-resnet20.h5 beside pipelines/)" >&2; exit 1; }
OUT=${OUT:-out/demo}
before=$(stat -c %Y "$OUT/summary.txt" 2>/dev/null || echo none)
make --no-print-directory -f pipelines/genie.mk \
  MODEL=data/fmnist-resnet20.h5 WBITS=4 ABITS=4 \
  SAMPLES=256 BATCH=128 DISTILL_ITERS=${DEMO_DISTILL_ITERS:-300} \
  RECON_ITERS=${DEMO_RECON_ITERS:-1000} RECON_BATCH=32 JOBS=2 SEED=0 \
  OUT="$OUT" all onnx
# genie.mk prints the summary when it makes it; a cached run prints it here
[ "$before" = "$(stat -c %Y "$OUT/summary.txt")" ] && cat "$OUT/summary.txt"
# OUT/model.qdq.onnx (genie.mk's onnx target) run by onnxruntime (from make
# deps) on the same test images: its top-1 next to genie's own, cached in
# OUT/onnx-check.txt
if [ ! -s "$OUT/onnx-check.txt" ] || [ "$OUT/model.qdq.onnx" -nt "$OUT/onnx-check.txt" ]; then
  pipelines/onnx-check.sh "$OUT/model.int.h5" "$OUT/model.qdq.onnx" "$OUT/test.h5" all >"$OUT/onnx-check.txt.tmp" &&
    mv "$OUT/onnx-check.txt.tmp" "$OUT/onnx-check.txt"
fi
echo "exported to $OUT/model.qdq.onnx ($(stat -c %s "$OUT/model.qdq.onnx") bytes) and run by onnxruntime:"
cat "$OUT/onnx-check.txt"
exit 0
