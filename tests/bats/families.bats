#!/usr/bin/env bats
# families.bats - the torchvision CNN families (tests/fixtures/fam, made by
# tests/fixtures/make-families.py): each imports with onnx2h5 and gives
# PyTorch's logits within 1e-4.

load helper

FAMILIES="resnet18 resnet50 resnext mobilenetv2 mobilenetv3 regnetx regnety mnasnet
efficientnet shufflenetv2 densenet googlenet squeezenet vgg11bn"

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "families: every fixture imports and matches PyTorch's logits within 1e-4" {
  for f in $FAMILIES; do
    run onnx2h5 -q "$FIX/fam/$f.onnx" -o "$f.h5"
    [ "$status" -eq 0 ] || { echo "$f: $output"; false; }
    run "$EVAL" "$f.h5" "$FIX/fam/$f.ref.h5" --logits "$f.logits.h5" -q
    [ "$status" -eq 0 ] || { echo "$f: $output"; false; }
    run h5diff -d 1e-4 "$f.logits.h5" "$FIX/fam/$f.ref.h5" /logits /logits
    [ "$status" -eq 0 ] || { echo "$f: $output"; false; }
  done
}

@test "families: a changed logit is caught (the comparison can fail)" {
  onnx2h5 -q "$FIX/fam/densenet.onnx" -o d.h5
  "$EVAL" d.h5 "$FIX/fam/googlenet.ref.h5" --logits l.h5 -q 2>/dev/null || true
  run h5diff -d 1e-4 l.h5 "$FIX/fam/googlenet.ref.h5" /logits /logits
  [ "$status" -ne 0 ]
}

@test "families: new operators appear in the imported graphs" {
  onnx2h5 -q "$FIX/fam/shufflenetv2.onnx" -o s.h5
  onnx2h5 -q "$FIX/fam/mobilenetv3.onnx" -o m.h5
  run h5dump -A s.h5
  assert_output --partial '"shuffle"'
  assert_output --partial '"slice"'
  assert_output --partial '"concat"'
  run h5dump -A m.h5
  assert_output --partial '"hardswish"'
  assert_output --partial '"hardsigmoid"'
  assert_output --partial '"mul"'
}
