#!/usr/bin/env bats
# calib --list-layers, and --bits by the names it shows: a layer's
# parameter-style name (as h5ls shows /params) or its node name.
load helper
load quick

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "calib --list-layers: every conv/linear layer, both names, the bits calib gives it" {
  m=$(ref_model)   # imported from ONNX: node names differ from parameter names
  run calib --list-layers "$m"
  assert_success
  [ "${#lines[@]}" = 22 ]
  [ "${lines[0]}" = "$(printf 'conv1\t/conv1/Conv\t8/-')" ]
  [ "${lines[1]}" = "$(printf 'layer1.0.conv1\t/layer1/layer1.0/conv1/Conv\t4/8')" ]
  [ "${lines[2]}" = "$(printf 'layer1.0.conv2\t/layer1/layer1.0/conv2/Conv\t4/4')" ]
  [ "${lines[21]}" = "$(printf 'fc\t/fc/Gemm\t8/8')" ]
  # every parameter-style name is a weight h5ls shows
  run h5ls "$m/params"
  for n in $(calib --list-layers "$m" | cut -f1); do assert_output --partial "$n.weight "; done
  # with the options calib would be given, overrides by either name
  run calib --list-layers "$m" -w 2 -a 3 --first-last 6 --bits layer1.0.conv2=5/ --bits /layer2/layer2.0/conv1/Conv=/7
  assert_success
  [ "${lines[0]}" = "$(printf 'conv1\t/conv1/Conv\t6/-')" ]
  [ "${lines[1]}" = "$(printf 'layer1.0.conv1\t/layer1/layer1.0/conv1/Conv\t2/6')" ]
  [ "${lines[2]}" = "$(printf 'layer1.0.conv2\t/layer1/layer1.0/conv2/Conv\t5/3')" ]
  assert_line "$(printf 'layer2.0.conv1\t/layer2/layer2.0/conv1/Conv\t2/7')"
  run ls -A
  assert_output ""
}

@test "calib --bits: a parameter-style name quantises exactly as the node name" {
  m=$(ref_model)
  make_dataset d.h5 8 1 28 28
  calib "$m" d.h5 -w 4 -a 4 -q --bits /layer1/layer1.0/conv1/Conv=2/3 -o a.h5
  calib "$m" d.h5 -w 4 -a 4 -q --bits layer1.0.conv1=2/3 -o b.h5
  calib "$m" d.h5 -w 4 -a 4 -q --bits layer1.0.conv1.weight=2/3 -o c.h5
  calib "$m" d.h5 -w 4 -a 4 -q -o n.h5
  h5diff a.h5 b.h5
  h5diff a.h5 c.h5
  run h5diff -q a.h5 n.h5
  assert_failure 1   # and the override did something
}

@test "calib --bits: a name that is no layer fails at once, says where to look, writes nothing" {
  m=$(ref_model)
  make_dataset d.h5 8 1 28 28
  for n in layer1.0.conv layer1.0.bn1 /layer1/layer1.0/conv1; do
    quick calib "$m" d.h5 -w 4 -a 4 --bits "$n=2/4" -o q.h5
    assert_failure 1
    assert_output "calib: $m: --bits: no convolution or linear layer named '$n' (calib --list-layers shows them)"
  done
  quick calib --list-layers "$m" --bits nosuch=2/2
  assert_failure 1
  assert_output --partial "no convolution or linear layer named 'nosuch'"
  run ls -A
  assert_output "d.h5"
}

@test "calib --list-layers: usage errors exit 2" {
  quick calib --list-layers
  assert_failure 2
  assert_output --partial "calib: --list-layers: expected a MODEL file, got 0 argument(s)"
  assert_output --partial "Try 'calib --help'"
  quick calib --list-layers a.h5 -o q.h5
  assert_failure 2
  assert_output --partial "calib: --list-layers takes MODEL alone (no --list-units, no -o)"
  quick calib --list-layers nosuch.h5
  assert_failure 1
  assert_output "calib: nosuch.h5: No such file or directory"
  run ls -A
  assert_output ""
}
