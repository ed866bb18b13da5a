#!/usr/bin/env bats
# train: a tiny run gives a model genie-eval reads; --resume equals an uninterrupted
# run bit for bit; Ctrl-C keeps the last checkpoint; bad input is refused
# with one line naming the file or value, and leaves no output.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "train --help prints usage and exits 0; --version" {
  run train --help
  assert_success
  assert_output --partial "Usage: train --arch NAME --data TRAIN.h5"
  assert_output --partial "resnet20, mbv2-tiny"
  run train --version
  assert_success
  assert_output --partial "train (genie)"
}

@test "train: one epoch on 256 images gives a model that genie-eval reads" {
  d=$(fmnist_n train 256)
  run train --arch resnet20 --data "$d" --test "$d" --epochs 1 --batch 64 -t 2 -o m.h5
  assert_success
  assert_output --regexp "train: resnet20, 272186 parameters; 256 samples of 1x28x28, 4 steps per epoch"
  assert_output --regexp "train: epoch 1/1  loss [0-9.]+  test top-1 [0-9.]+%  [0-9.]+ s"
  [ -f m.h5 ]
  [ ! -e m.h5.ckpt.h5 ]          # removed once the model is written
  run genie-eval m.h5 "$d" -q
  assert_success
  assert_output --regexp '^top-1 [0-9.]+%  top-5 [0-9.]+%  loss [0-9.]+  n 256$'
  run h5dump -a arch m.h5
  assert_output --partial '"resnet20"'
  run h5dump -a genie_kind m.h5
  assert_output --partial '"model"'
}

@test "train: --resume after --stop-after equals an uninterrupted run, bit for bit" {
  d=$(fmnist_n train 96)
  opts="--arch resnet20 --data $d --epochs 2 --batch 32 --seed 7 -t 2 -q"
  run train $opts -o a.h5
  assert_success
  run train $opts --stop-after 1 -o b.h5
  assert_success
  [ ! -e b.h5 ]
  [ -f b.h5.ckpt.h5 ]
  run h5dump -a epoch b.h5.ckpt.h5
  assert_output --partial "(0): 1"
  run train --data "$d" --resume -t 2 -q -o b.h5
  assert_success
  run h5diff a.h5 b.h5
  assert_success
  # and the comparison is not vacuous: another seed gives other bits
  run train ${opts/--seed 7/--seed 8} -o c.h5
  assert_success
  run h5diff -q a.h5 c.h5
  assert_failure
}

@test "train: Ctrl-C leaves the last complete checkpoint and no model" {
  d=$(fmnist_n train 96)
  train --arch resnet20 --data "$d" --epochs 50 --batch 32 -t 2 -q -o m.h5 2>err.txt &
  pid=$!
  for i in $(seq 1 300); do [ -f m.h5.ckpt.h5 ] && break; sleep 0.1; done
  [ -f m.h5.ckpt.h5 ]
  kill -INT "$pid"
  st=0; wait "$pid" || st=$?
  [ "$st" -ne 0 ]
  [ ! -e m.h5 ]
  run bash -c "ls -A | grep tmp || true"
  assert_output ""
  run h5dump -a epoch m.h5.ckpt.h5     # a complete checkpoint of some epoch
  assert_success
  assert_output --regexp "\(0\): [1-9]"
  run train --data "$d" --resume --epochs 51 -q -o m.h5
  assert_failure 1
  assert_output "train: m.h5.ckpt.h5: checkpoint was made with --epochs 50, not 51"
}

@test "train: unknown architecture and bad numbers are usage errors" {
  d=$(fmnist_n train 96)
  run train --arch resnet21 --data "$d" -o m.h5
  assert_failure 2
  assert_output --partial "train: --arch: unknown architecture 'resnet21' (known: resnet20, mbv2-tiny, resnet-bneck, resnet18, resnet50, mobilenet_v2)"
  assert_output --partial "Try 'train --help'"
  run train --arch resnet20 --data "$d" --epochs 0 -o m.h5
  assert_failure 2
  assert_output --partial "train: --epochs: not a positive integer: '0'"
  run train --arch resnet20 --data "$d" --lr abc -o m.h5
  assert_failure 2
  assert_output --partial "train: --lr: not a positive number: 'abc'"
  run train --arch resnet20 --data "$d" --batch -3 -o m.h5
  assert_failure 2
  assert_output --partial "'-3'"
  run train --arch resnet20 --data "$d" --seed -1 -o m.h5
  assert_failure 2
  run train --arch resnet20 --data "$d" --momentum 1 -o m.h5
  assert_failure 2
  run train --arch resnet20 --data "$d"
  assert_failure 2
  assert_output --partial "no output file"
  run train --data "$d" -o m.h5
  assert_failure 2
  assert_output --partial "no architecture"
  run train --arch resnet20 -o m.h5
  assert_failure 2
  run train --arch resnet20 --bogus --data "$d" -o m.h5
  assert_failure 2
  assert_no_output . m.h5
}

@test "train: missing, non-HDF5 and wrong-kind data are refused, no output left" {
  run train --arch resnet20 --data nosuch.h5 -o m.h5
  assert_failure 1
  assert_output "train: nosuch.h5: No such file or directory"
  echo hello > text.h5
  run train --arch resnet20 --data text.h5 -o m.h5
  assert_failure 1
  assert_output "train: text.h5: not an HDF5 file (or truncated)"
  run train --arch resnet20 --data "$(ref_model)" -o m.h5
  assert_failure 1
  assert_output --partial "is a genie model file, expected a dataset"
  d=$(fmnist_n train 96)
  run train --arch resnet20 --data "$d" --test nosuch.h5 -o m.h5
  assert_failure 1
  assert_output "train: nosuch.h5: No such file or directory"
  assert_no_output . m.h5
}

@test "train: a test set of another shape, labels out of range, images too small" {
  d=$(fmnist_n train 96)
  make_dataset d32.h5 4 1 32 32
  run train --arch resnet20 --data "$d" --test d32.h5 -o m.h5
  assert_failure 1
  assert_output "train: d32.h5: /x holds 1x32x32 samples, the model takes 1x28x28"
  run train --arch resnet20 --data d32.h5 --classes 3 -o m.h5
  assert_failure 1
  assert_output "train: d32.h5: /y[3] = 3 is not a class of a 3-class model"
  make_dataset d1.h5 4 1 1 1
  run train --arch resnet20 --data d1.h5 -o m.h5
  assert_failure 1
  assert_output "train: d1.h5: padding 2 is larger than the 1x1 images"
  assert_no_output . m.h5
}

@test "train --resume: a missing checkpoint, or a model given as one, is refused" {
  d=$(fmnist_n train 96)
  run train --data "$d" --resume -o m.h5
  assert_failure 1
  assert_output "train: m.h5.ckpt.h5: No such file or directory"
  run train --data "$d" --resume --checkpoint "$(ref_model)" -o m.h5
  assert_failure 1
  assert_output --partial "is a genie model file, expected a checkpoint"
  assert_no_output . m.h5
}
