#!/usr/bin/env bats
# genie.mk and the programs on inputs that cannot work: a missing model, an
# ONNX file where a genie HDF5 file belongs, a stage that fails. Each says
# what is wrong at once and leaves nothing behind.
load helper
load quick

setup() { cd "$BATS_TEST_TMPDIR"; }

GENIE_MK="$ROOT/pipelines/genie.mk"
ONNX="$FIX/resnet20_fmnist.onnx"

@test "genie.mk: a missing MODEL, REAL or TEST stops it before OUT or any *.args exists" {
  quick make -s -f "$GENIE_MK" MODEL=nonexist.h5
  assert_failure 2
  assert_output --partial "MODEL=nonexist.h5: no such file"
  m=$(ref_model)
  quick make -s -f "$GENIE_MK" MODEL="$m" REAL=nonexist.h5
  assert_failure 2
  assert_output --partial "REAL=nonexist.h5: no such file"
  quick make -s -f "$GENIE_MK" MODEL="$m" TEST=nonexist.h5
  assert_failure 2
  assert_output --partial "TEST=nonexist.h5: no such file"
  [ ! -e out ]
  run ls -A
  assert_output ""
}

@test "genie.mk: an ONNX MODEL is sent to onnx2h5, under any name, and nothing is made" {
  quick make -s -f "$GENIE_MK" MODEL="$ONNX"
  assert_failure 2
  assert_output --partial "MODEL=$ONNX: this is an ONNX model: import it with onnx2h5 first (onnx2h5 $ONNX -o resnet20_fmnist.h5)"
  cp "$ONNX" mymodel.h5
  quick make -s -f "$GENIE_MK" MODEL=mymodel.h5 TEST=mymodel.h5
  assert_failure 2
  assert_output --partial "MODEL=mymodel.h5: this is an ONNX model: import it with onnx2h5 first"
  run ls -A
  assert_output "mymodel.h5"
}

@test "programs: an ONNX file where genie HDF5 belongs says to import it" {
  cp "$ONNX" m.bin
  for c in "genie-eval $ONNX m.bin" "bnstats m.bin -o s.h5" "calib --list-layers m.bin"; do
    quick $c
    assert_failure 1
    assert_output --partial ": this is an ONNX model: import it with onnx2h5 first"
  done
  quick genie-eval "$(ref_model)" m.bin
  assert_failure 1
  assert_output "genie-eval: m.bin: this is an ONNX model: import it with onnx2h5 first"
  # a file that is neither keeps the plain message
  echo text >t.h5
  quick bnstats t.h5 -o s.h5
  assert_failure 1
  assert_output "bnstats: t.h5: not an HDF5 file (or truncated)"
  run ls -A
  assert_output "$(printf 'm.bin\nt.h5')"
}

@test "genie.mk: a stage that fails leaves no temporary (fp32.json.tmp) and no output" {
  m=$(ref_model)
  # a model where the test set belongs: genie-eval fails in the fp32.json stage
  run make -s -f "$GENIE_MK" MODEL="$m" TEST="$m" OUT=o o/fp32.json   # a stage: not timed
  assert_failure 2
  assert_output --partial "genie-eval: $m"
  run bash -c "ls -A o | grep -v '\.args$' || true"
  assert_output ""
}

@test "genie.mk: EARLY_STOP is 1 or empty, and takes MODE=sequential only; nothing is made" {
  m=$(ref_model)
  quick make -s -f "$GENIE_MK" MODEL="$m" EARLY_STOP=2
  assert_failure 2
  assert_output --partial "EARLY_STOP=2: expected 1 or empty"
  quick make -s -f "$GENIE_MK" MODEL="$m" EARLY_STOP=1 MODE=jacobi
  assert_failure 2
  assert_output --partial "EARLY_STOP=1 takes MODE=sequential, not jacobi"
  run ls -A
  assert_output ""
}
