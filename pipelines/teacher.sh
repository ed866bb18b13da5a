#!/usr/bin/env bash
# pipelines/teacher.sh - rebuilds the bundled teacher models, data/fmnist-ARCH.h5,
# with genie's own `train` and the recipe of train(1) (`make teacher`).
#
# Usage: pipelines/teacher.sh [ARCH...]  (default: resnet20 mbv2-tiny resnet-bneck)
# Environment: EPOCHS (15 for resnet20 and mbv2-tiny, 5 for resnet-bneck),
# SEED (1), THREADS (2), WORK (out/teacher: the imported datasets,
# checkpoints and logs).
# An interrupted run picks up from its last checkpoint when started again.
# Each model is written atomically: the old one stays until the new is complete.
# One architecture after the other: each run takes every core it is given.
# Run from a clone of genie: it replaces the clone's data/fmnist-ARCH.h5.
# Exit status: 0 ok, 1 a stage failed, 2 usage error.
set -eu
prog=teacher.sh
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
for a in "$@"; do
  case $a in
    -h|--help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) usage_error "unknown option '$a'" ;;
    resnet20|mbv2-tiny|resnet-bneck) ;;
    *) usage_error "unknown architecture '$a' (resnet20, mbv2-tiny or resnet-bneck)" ;;
  esac
done
FM=/usr/share/datasets/fashion-mnist
WORK=${WORK:-out/teacher}
EPOCHS=${EPOCHS:-}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
[ -z "$EPOCHS" ] || [[ $EPOCHS =~ ^[1-9][0-9]{0,5}$ ]] || usage_error "EPOCHS=$EPOCHS: not a positive count"
[[ $THREADS =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "THREADS=$THREADS: not a positive count"
[[ $SEED =~ ^[0-9]{1,19}$ ]] || usage_error "SEED=$SEED: not a non-negative integer"
cd "$(dirname "$0")/.."
[ -d data ] && [ -x bin/train ] || { echo "$prog: run it from a built clone of genie (no data/ and bin/train beside pipelines/)" >&2; exit 1; }
export PATH="$PWD/bin:$PATH"
mkdir -p "$WORK"
for s in train t10k; do
  f=$WORK/fmnist-$s.h5
  [ -f "$f" ] || idx2h5 "$FM/$s-images-idx3-ubyte.gz" "$FM/$s-labels-idx1-ubyte.gz" \
    --mean 0.2860 --std 0.3530 -o "$f"
done
[ $# -gt 0 ] || set -- resnet20 mbv2-tiny resnet-bneck
for arch in "$@"; do
  epochs=$EPOCHS
  if [ -z "$epochs" ]; then
    case $arch in resnet-bneck) epochs=5 ;; *) epochs=15 ;; esac
  fi
  out=data/fmnist-$arch.h5
  ckpt=$WORK/fmnist-$arch.ckpt.h5
  resume=
  [ -f "$ckpt" ] && resume=--resume
  echo "teacher: $arch -> $out (epochs $epochs, seed $SEED, $THREADS threads) $resume" >&2
  start=$(date +%s)
  train --arch "$arch" --data "$WORK/fmnist-train.h5" --test "$WORK/fmnist-t10k.h5" \
    --epochs "$epochs" --seed "$SEED" --threads "$THREADS" --checkpoint "$ckpt" $resume -o "$out"
  echo "teacher: $arch trained in $(( $(date +%s) - start )) s (this invocation)" >&2
  genie-eval "$out" "$WORK/fmnist-t10k.h5" -q
done
