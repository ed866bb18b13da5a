#!/usr/bin/env bats
# onnx2h5: importing ONNX models.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "onnx2h5 --help prints usage and exits 0" {
  run onnx2h5 --help
  assert_success
  assert_output --partial "Usage: onnx2h5"
}

@test "onnx2h5 imports the reference ResNet-20 with its BatchNorm nodes" {
  run onnx2h5 "$FIX/resnet20_fmnist.onnx" -o m.h5
  assert_success
  assert_output ""
  run bash -c "h5dump -A m.h5 | grep -c '\"batchnorm\"'"
  assert_output "21"
  run bash -c "h5dump -A m.h5 | grep -c '\"conv\"'"
  assert_output "21"
  run bash -c "h5dump -a genie_kind m.h5 | grep -o '\"model\"'"
  assert_output '"model"'
}

@test "onnx2h5: missing, random and truncated files are refused, nothing left behind" {
  run onnx2h5 nosuch.onnx -o m.h5
  assert_failure 1
  assert_output --partial "onnx2h5: nosuch.onnx:"
  head -c 4000 /dev/urandom > rnd.onnx
  run onnx2h5 rnd.onnx -o m.h5
  assert_failure 1
  assert_output --partial "onnx2h5: rnd.onnx:"
  head -c 50000 "$FIX/resnet20_fmnist.onnx" > trunc.onnx
  run onnx2h5 trunc.onnx -o m.h5
  assert_failure 1
  assert_output --partial "onnx2h5: trunc.onnx:"
  [ "$(echo "$output" | wc -l)" -eq 1 ]
  assert_no_output . m.h5
}

@test "onnx2h5: an HDF5 model given instead of ONNX is refused" {
  m=$(ref_model)
  run onnx2h5 "$m" -o m.h5
  assert_failure 1
  assert_output --partial "onnx2h5: $m:"
}

@test "onnx2h5: usage errors exit 2" {
  run onnx2h5 "$FIX/resnet20_fmnist.onnx"
  assert_failure 2
  assert_output --partial "no output file"
  run onnx2h5 -o m.h5
  assert_failure 2
  run onnx2h5 --bogus
  assert_failure 2
}
