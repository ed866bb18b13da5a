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

# bnstats -> distill -> calib -> recon-block (every unit, in order) -> pack ->
# eval on family $1 with tiny counts; the packed model's logits must equal its
# fake-quantised twin's bit for bit. SqueezeNet has no BatchNorm (no Genie-D):
# it calibrates on the fixture's own inputs.
pipeline() {
  local f=$1 data
  onnx2h5 -q "$FIX/fam/$f.onnx" -o "$f.h5" || return 1
  if [ "$f" = squeezenet ]; then
    run bnstats "$f.h5" -o s.h5
    [ "$status" -eq 1 ] || return 1
    data="$FIX/fam/$f.ref.h5"
  else
    bnstats "$f.h5" -o "$f.stats.h5" || return 1
    distill "$f.h5" "$f.stats.h5" -n 4 -b 4 -i 2 -t 1 -q -o "$f.syn.h5" || return 1
    data="$f.syn.h5"
  fi
  calib "$f.h5" "$data" -w 4 -a 4 -q -o "$f.q.h5" || return 1
  recon-block "$f.q.h5" "$data" --all --iters 3 --batch 4 -t 1 -q -o "$f.r.h5" 2>/dev/null || return 1
  pack "$f.r.h5" -o "$f.p.h5" 2>/dev/null || return 1
  "$EVAL" "$f.r.h5" "$FIX/fam/$f.ref.h5" --logits "$f.lq.h5" -q -t 1 || return 1
  "$EVAL" "$f.p.h5" "$FIX/fam/$f.ref.h5" --logits "$f.lp.h5" -q -t 1 || return 1
  h5diff "$f.lq.h5" "$f.lp.h5" /logits /logits
}

@test "families: the whole pipeline runs on each; packed logits equal the fake-quantised ones" {
  for f in $FAMILIES; do
    run pipeline "$f"
    [ "$status" -eq 0 ] || { echo "$f: $output"; false; }
  done
}

@test "families: distill makes 3-channel images of the model's own size" {
  onnx2h5 -q "$FIX/fam/vgg11bn.onnx" -o v.h5
  bnstats v.h5 -o v.stats.h5
  distill v.h5 v.stats.h5 -n 2 -b 2 -i 1 -t 1 -q -o v.syn.h5
  run h5ls v.syn.h5/x
  assert_output --partial "{2, 3, 32, 32}"
  onnx2h5 -q "$FIX/fam/mnasnet.onnx" -o m.h5
  bnstats m.h5 -o m.stats.h5
  distill m.h5 m.stats.h5 -n 2 -b 2 -i 1 -t 1 -q -o m.syn.h5
  run h5ls m.syn.h5/x
  assert_output --partial "{2, 3, 64, 64}"
}

@test "families: units of the new structures (calib --list-units)" {
  units() { # family -> the unit list of its calibrated model
    onnx2h5 -q "$FIX/fam/$1.onnx" -o "$1.h5" &&
      calib "$1.h5" "$FIX/fam/$1.ref.h5" -w 4 -a 4 -q -o "$1.q.h5" &&
      calib --list-units "$1.q.h5"
  }
  # the stem's max pool ends the stem's unit: no unit without a weight layer
  run units resnet50
  assert_success
  refute_output --partial "0 weight layers"
  assert_line --index 0 --partial "/conv1/Conv .. /maxpool/MaxPool (3 nodes, 1 weight layers)"
  # Bottleneck with its downsample: 4 weight layers
  assert_line --index 1 --partial "/layer1/layer1.0/relu_2/Relu (11 nodes, 4 weight layers)"
  # RegNetY: the block with its squeeze-excitation (2 more 1x1 convolutions)
  run units regnety
  assert_line --index 1 --partial "block1-0/activation/Relu (19 nodes, 6 weight layers)"
  # EfficientNet: an MBConv without shortcut, SE inside: expand, dw, fc1, fc2, project
  run units efficientnet
  assert_line --index 2 --partial "(19 nodes, 5 weight layers)"
  # MnasNet: MBConv without SE: expand, dw, project
  run units mnasnet
  assert_line --index 2 --partial "(8 nodes, 3 weight layers)"
  # ShuffleNetV2: a stride-2 unit (both branches, concat, shuffle) and a stride-1 unit
  run units shufflenetv2
  assert_line --index 1 --partial "/stage2/stage2.0/Reshape_1 (14 nodes, 5 weight layers)"
  assert_line --index 2 --partial "/stage2/stage2.1/Slice .. /stage2/stage2.1/Reshape_1 (12 nodes, 3 weight layers)"
  # DenseNet: a unit per dense layer, from after the concatenation it reads
  # to its new feature; the concatenations lie between units; GoogLeNet: an
  # Inception module
  run units densenet
  assert_line --index 1 --partial "/features/denseblock1/denselayer1/norm1/BatchNormalization .. /features/denseblock1/denselayer1/conv2/Conv (7 nodes, 2 weight layers)"
  assert_line --index 2 --partial "/features/denseblock1/denselayer2/norm1/BatchNormalization .. /features/denseblock1/denselayer2/conv2/Conv (7 nodes, 2 weight layers)"
  assert_line --index 3 --partial "/features/transition1/norm/BatchNormalization .. /features/transition1/pool/AveragePool (6 nodes, 1 weight layers)"
  refute_output --partial "Concat"
  run units googlenet
  assert_line --index 3 --partial "/inception3a/Concat (18 nodes, 6 weight layers)"
  refute_output --partial "0 weight layers"
}

@test "families: unit counts (README's table)" {
  local want="resnet18 10 resnet50 8 resnext 6 mobilenetv2 13 mobilenetv3 15 regnetx 7
regnety 7 mnasnet 20 efficientnet 13 shufflenetv2 9 densenet 11 googlenet 8 squeezenet 10 vgg11bn 11"
  local got="" f
  for f in $FAMILIES; do
    onnx2h5 -q "$FIX/fam/$f.onnx" -o "$f.h5"
    got="$got $f $(calib "$f.h5" "$FIX/fam/$f.ref.h5" -w 4 -a 4 -q -t 1 --list-units -o "$f.q.h5" | wc -l)"
  done
  [ "$(echo $got)" = "$(echo $want)" ] || { echo "got:  $got"; echo "want: $(echo $want)"; false; }
}
