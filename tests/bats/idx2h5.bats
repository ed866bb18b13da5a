#!/usr/bin/env bats
# idx2h5: importing idx images and labels.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "idx2h5 --help prints usage and exits 0" {
  run idx2h5 --help
  assert_success
  assert_output --partial "Usage: idx2h5"
}

@test "idx2h5 imports 100 Fashion-MNIST test images, normalised" {
  run idx2h5 "$FMNIST/t10k-images-idx3-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz" --mean 0.2860 --std 0.3530 -n 100 -o d.h5
  assert_success
  run h5ls d.h5
  assert_output --partial "x                        Dataset {100, 1, 28, 28}"
  assert_output --partial "y                        Dataset {100}"
  # pixel 0 is black: (0 - 0.286)/0.353
  run bash -c "h5dump -d /x -s 0,0,0,0 -c 1,1,1,1 d.h5 | grep -o '(0,0,0,0): [-0-9.]*'"
  assert_output --partial "-0.81"
  # the first test label of Fashion-MNIST is 9 (ankle boot)
  run bash -c "h5dump -d /y -c 1 d.h5 | grep -o '(0): [0-9]*'"
  assert_output "(0): 9"
}

@test "idx2h5 reads uncompressed idx files too" {
  zcat "$FMNIST/t10k-images-idx3-ubyte.gz" | head -c $((16 + 5*784)) > img
  zcat "$FMNIST/t10k-labels-idx1-ubyte.gz" > lab
  run idx2h5 img lab --mean 0.2860 --std 0.3530 -n 5 -o d.h5
  assert_success
  run h5ls d.h5
  assert_output --partial "{5, 1, 28, 28}"
}

@test "idx2h5: a labels file given as images is refused" {
  run idx2h5 "$FMNIST/t10k-labels-idx1-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz" --mean 0 --std 1 -o d.h5
  assert_failure 1
  assert_output --partial "t10k-labels-idx1-ubyte.gz: magic 0x00000801: an idx1 labels file, expected an idx3 images file"
  assert_no_output . d.h5
}

@test "idx2h5: missing file, random bytes and truncated files are refused" {
  run idx2h5 nosuch.gz "$FMNIST/t10k-labels-idx1-ubyte.gz" --mean 0 --std 1 -o d.h5
  assert_failure 1
  assert_output "idx2h5: nosuch.gz: No such file or directory"
  head -c 3000 /dev/urandom > rnd
  run idx2h5 rnd "$FMNIST/t10k-labels-idx1-ubyte.gz" --mean 0 --std 1 -o d.h5
  assert_failure 1
  assert_output --partial "rnd: magic"
  zcat "$FMNIST/t10k-images-idx3-ubyte.gz" | head -c 5000 > trunc
  run idx2h5 trunc "$FMNIST/t10k-labels-idx1-ubyte.gz" --mean 0 --std 1 -o d.h5
  assert_failure 1
  assert_output --partial "trunc: truncated"
  assert_no_output . d.h5
}

@test "idx2h5: usage errors exit 2" {
  run idx2h5 a b --std 1 -o d.h5
  assert_failure 2
  assert_output --partial "--mean and --std are required"
  assert_output --partial "Try 'idx2h5 --help'"
  run idx2h5 a b --mean x --std 1 -o d.h5
  assert_failure 2
  run idx2h5 a b --mean 0 --std 0 -o d.h5
  assert_failure 2
  run idx2h5 a --mean 0 --std 1 -o d.h5
  assert_failure 2
  run idx2h5 a b --mean 0 --std 1
  assert_failure 2
  assert_output --partial "no output file"
}

@test "idx2h5 leaves an existing output intact when it fails" {
  echo precious > d.h5
  run idx2h5 nosuch.gz nosuch2.gz --mean 0 --std 1 -o d.h5
  assert_failure 1
  run cat d.h5
  assert_output "precious"
}
