#!/usr/bin/env bats
# eval: accuracy, and the engine checked against PyTorch on the reference model.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "eval --help prints usage and exits 0" {
  run "$EVAL" --help
  assert_success
  assert_output --partial "Usage: genie-eval"
}

@test "eval: reference ResNet-20 logits match PyTorch within 1e-4" {
  m=$(ref_model)
  run "$EVAL" "$m" "$FIX/resnet20_fmnist.ref.h5" --logits logits.h5 -q
  assert_success
  run h5diff -d 1e-4 logits.h5 "$FIX/resnet20_fmnist.ref.h5" /logits /logits
  assert_success
  # and the comparison is not vacuous: at 1e-7 they do differ somewhere, or are equal
  run h5ls logits.h5
  assert_output --partial "{100, 10}"
}

@test "eval: top-1 on the 10,000 test images equals PyTorch's within 0.02%" {
  m=$(ref_model); d=$(fmnist_test)
  run "$EVAL" "$m" "$d" --json -q
  assert_success
  ref=$(h5attr "$FIX/resnet20_fmnist.ref.h5" test_top1)
  top1=$(echo "$output" | sed -n 's/.*"top1": \([0-9.]*\).*/\1/p')
  n=$(echo "$output" | sed -n 's/.*"n": \([0-9]*\).*/\1/p')
  echo "genie $top1 pytorch $ref"
  [ "$n" = 10000 ]
  awk -v a="$top1" -v b="$ref" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d<=0.0002+1e-9)}'
}

@test "eval prints top-1, top-5, loss and n" {
  m=$(ref_model)
  run "$EVAL" "$m" "$FIX/resnet20_fmnist.ref.h5" -q
  assert_success
  assert_output --regexp '^top-1 [0-9.]+%  top-5 [0-9.]+%  loss [0-9.]+  n 100$'
}

@test "eval: missing, non-HDF5, truncated and random files are refused" {
  m=$(ref_model)
  run "$EVAL" nosuch.h5 "$FIX/resnet20_fmnist.ref.h5"
  assert_failure 1
  assert_output "genie-eval: nosuch.h5: No such file or directory"
  echo "hello" > text.h5
  run "$EVAL" text.h5 "$FIX/resnet20_fmnist.ref.h5"
  assert_failure 1
  assert_output "genie-eval: text.h5: not an HDF5 file (or truncated)"
  head -c 20000 "$m" > trunc.h5
  run "$EVAL" trunc.h5 "$FIX/resnet20_fmnist.ref.h5"
  assert_failure 1
  assert_output --partial "genie-eval: trunc.h5:"
  head -c 5000 /dev/urandom > rnd.h5
  run "$EVAL" "$m" rnd.h5
  assert_failure 1
  assert_output --partial "genie-eval: rnd.h5: not an HDF5 file"
}

@test "eval: a dataset where the model belongs is refused" {
  d=$(fmnist_test)
  run "$EVAL" "$d" "$FIX/resnet20_fmnist.ref.h5"
  assert_failure 1
  assert_output --partial "is a genie dataset file, expected a model file"
}

@test "eval: data whose shape the model cannot take is refused" {
  m=$(ref_model)
  make_dataset d32.h5 4 1 32 32
  run "$EVAL" "$m" d32.h5
  assert_failure 1
  assert_output --partial "d32.h5: /x holds 1x32x32 samples, model"
  assert_output --partial "takes 1x28x28"
}

@test "eval --logits leaves no file when the run fails" {
  run "$EVAL" nosuch.h5 "$FIX/resnet20_fmnist.ref.h5" --logits l.h5
  assert_failure 1
  assert_no_output . l.h5
}

@test "eval: usage errors exit 2" {
  run "$EVAL" onlyone.h5
  assert_failure 2
  assert_output --partial "Try 'genie-eval --help'"
  run "$EVAL" a b --batch 0
  assert_failure 2
  run "$EVAL" a b --bogus
  assert_failure 2
}

@test "eval: GN_PROFILE prints time per operator kind, GN_NO_FUSE changes no logit" {
  m=$(ref_model)
  GN_PROFILE=1 "$EVAL" "$m" "$FIX/resnet20_fmnist.ref.h5" --logits fused.h5 -q 2>err
  grep -E '^GN_PROFILE: conv +[0-9]+ ' err
  grep -E '^GN_PROFILE: batchnorm ' err
  # ReLU runs inside BatchNorm and Add: no ReLU line of its own
  run grep -E '^GN_PROFILE: relu ' err
  assert_failure 1
  GN_NO_FUSE=1 GN_PROFILE=1 "$EVAL" "$m" "$FIX/resnet20_fmnist.ref.h5" --logits plain.h5 -q 2>err2
  grep -E '^GN_PROFILE: relu ' err2
  run h5diff fused.h5 plain.h5 /logits /logits
  assert_success
}

@test "eval: GN_NO_WINO=1 (im2col) and Winograd logits agree within 1e-5" {
  m=$(ref_model)
  "$EVAL" "$m" "$FIX/resnet20_fmnist.ref.h5" --logits wino.h5 -q
  GN_NO_WINO=1 "$EVAL" "$m" "$FIX/resnet20_fmnist.ref.h5" --logits im2col.h5 -q
  # the two take their sums in another order: not the same bits, but close
  run h5diff -d 1e-5 wino.h5 im2col.h5 /logits /logits
  assert_success
  # where Winograd runs (AVX-512), the switch did change the arithmetic
  if grep -qw avx512f /proc/cpuinfo; then
    run h5diff wino.h5 im2col.h5 /logits /logits
    assert_failure
  fi
}
