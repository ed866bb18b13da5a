#!/usr/bin/env bash
# pipelines/teacher.sh - rebuilds the bundled teacher models, data/fmnist-ARCH.h5,
# with genie's own `train` and the recipe of train(1) (`make teacher`).
#
# Usage: pipelines/teacher.sh [ARCH...]      (default: resnet20 mbv2-tiny)
# Environment: EPOCHS (15), SEED (1), THREADS (2), WORK (out/teacher: the
# imported datasets, checkpoints and logs).
# An interrupted run picks up from its last checkpoint when started again.
# Each model is written atomically: the old one stays until the new is complete.
# One architecture after the other: each run takes every core it is given.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
FM=/usr/share/datasets/fashion-mnist
WORK=${WORK:-out/teacher}
EPOCHS=${EPOCHS:-15}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
mkdir -p "$WORK"
for s in train t10k; do
  f=$WORK/fmnist-$s.h5
  [ -f "$f" ] || idx2h5 "$FM/$s-images-idx3-ubyte.gz" "$FM/$s-labels-idx1-ubyte.gz" \
    --mean 0.2860 --std 0.3530 -o "$f"
done
[ $# -gt 0 ] || set -- resnet20 mbv2-tiny
for arch in "$@"; do
  out=data/fmnist-$arch.h5
  ckpt=$WORK/fmnist-$arch.ckpt.h5
  resume=
  [ -f "$ckpt" ] && resume=--resume
  echo "teacher: $arch -> $out (epochs $EPOCHS, seed $SEED, $THREADS threads) $resume" >&2
  start=$(date +%s)
  train --arch "$arch" --data "$WORK/fmnist-train.h5" --test "$WORK/fmnist-t10k.h5" \
    --epochs "$EPOCHS" --seed "$SEED" --threads "$THREADS" --checkpoint "$ckpt" $resume -o "$out"
  echo "teacher: $arch trained in $(( $(date +%s) - start )) s (this invocation)" >&2
  "$PWD/bin/eval" "$out" "$WORK/fmnist-t10k.h5" -q   # the program, not the shell builtin
done
