#!/usr/bin/env bash
# pipelines/demo.sh - `make demo`: the main job on the bundled model.
# Imports the Fashion-MNIST test set from Debian's dataset-fashion-mnist and
# evaluates the bundled ResNet-20. (The quantisation stages extend this.)
set -eu
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
FM=/usr/share/datasets/fashion-mnist
OUT=${OUT:-out/demo}
mkdir -p "$OUT"
if [ -f data/fmnist-resnet20.h5 ]; then MODEL=data/fmnist-resnet20.h5
else
  # until the bundled teacher lands: the reference model, imported
  [ -f "$OUT/resnet20.h5" ] || onnx2h5 tests/fixtures/resnet20_fmnist.onnx -o "$OUT/resnet20.h5"
  MODEL=$OUT/resnet20.h5
fi
[ -f "$OUT/fmnist-test.h5" ] || idx2h5 "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" \
  --mean 0.2860 --std 0.3530 -o "$OUT/fmnist-test.h5"
echo "demo: FP32 $MODEL on the 10,000 Fashion-MNIST test images:" >&2
bin/eval "$MODEL" "$OUT/fmnist-test.h5" -q
