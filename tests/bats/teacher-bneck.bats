#!/usr/bin/env bats
# resnet-bneck, the bundled Bottleneck teacher: the architecture trains for a
# few steps, calib makes one unit of each Bottleneck block, and the committed
# data/fmnist-resnet-bneck.h5 evaluates to the top-1 data/README.md states.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "train --arch resnet-bneck: 4 steps give a model genie-eval reads, with 22 conv layers" {
  d=$(fmnist_n train 256)
  run train --arch resnet-bneck --data "$d" --test "$d" --epochs 1 --batch 64 -t 2 -o m.h5
  assert_success
  assert_output --regexp "train: resnet-bneck, 220090 parameters; 256 samples of 1x28x28, 4 steps per epoch"
  assert_output --regexp "train: epoch 1/1  loss [0-9.]+  test top-1 [0-9.]+%  [0-9.]+ s"
  run genie-eval m.h5 "$d" -q
  assert_success
  assert_output --regexp '^top-1 [0-9.]+%  top-5 [0-9.]+%  loss [0-9.]+  n 256$'
  run h5dump -a arch m.h5
  assert_output --partial '"resnet-bneck"'
  # stem, 6 x (conv1, conv2, conv3), a downsample on each stage's first block, fc
  run calib --list-layers m.h5
  assert_success
  [ "${#lines[@]}" -eq 23 ]
  assert_line --index 0 --regexp '^conv1	conv1	8/-$'
  assert_line --index 4 --regexp '^layer1.0.downsample.0	'
  assert_line --index 22 --regexp '^fc	fc	8/8$'
  [ "$(grep -c downsample <<<"$output")" -eq 3 ]
}

@test "calib on resnet-bneck: one unit per Bottleneck block, plus the stem and the head" {
  d=$(fmnist_n train 64)
  train --arch resnet-bneck --data "$d" --epochs 1 --batch 64 -t 2 -q -o m.h5
  run calib m.h5 "$d" -w 2 -a 2 -t 1 -q -o q.h5
  assert_success
  run calib --list-units q.h5
  assert_success
  [ "${#lines[@]}" -eq 8 ]
  assert_line --index 0 --regexp '^0	conv1 \.\. relu \(.*1 weight layers\)$'
  for b in 1.0 2.0 3.0; do      # first block of a stage: conv1-3 and the downsample
    assert_output --regexp ".. layer$b.relu3 \([0-9]+ nodes, 4 weight layers\)"
  done
  for b in 1.1 2.1 3.1; do
    assert_output --regexp ".. layer$b.relu3 \([0-9]+ nodes, 3 weight layers\)"
  done
  assert_line --index 7 --regexp '^7	avgpool \.\. fc '
}

@test "data/fmnist-resnet-bneck.h5: 91.34% top-1 on the 10,000 test images, as data/README.md says" {
  m="$ROOT/data/fmnist-resnet-bneck.h5"
  t=$(fmnist_test)
  run genie-eval "$m" "$t" -q -t 2
  assert_success
  assert_output --regexp '^top-1 91\.34%  '
  grep -q '91\.34 %' "$ROOT/data/README.md"
  run h5dump -a arch "$m"
  assert_output --partial '"resnet-bneck"'
  run h5dump -a train_epochs "$m"
  assert_output --partial '(0): 5'
}
