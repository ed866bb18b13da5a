#!/usr/bin/env bats
# pack: hard rounding, integer codes; genie-eval of packed models.
# Kept fast: the W4A4 model calibrated once (shared with calib.bats and
# recon-block.bats), one unit reconstructed for the whole file (20
# iterations), 64 test images.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# an integer attribute (all values, comma-separated) of an object in a file
int_attr() { h5dump -a "$2" "$1" | sed -n 's/.*(0): *//p' | head -n 1; }

# once for the file: unit 4 (a W4A4 block with a downsampling shortcut)
# reconstructed sequentially (q4.h5) and independently (unit.4.h5) from the
# calibrated model; unit 4's input is the same either way (units 0..3 are not
# reconstructed), so the two must agree
setup_file() {
  local q d
  q=$(q44) && d=$(fmnist_n train 64) || return 1
  cd "$BATS_FILE_TMPDIR"
  recon-block "$q" "$d" --unit 4 --iters 20 --batch 16 -t 1 -q -o q4.h5 2>/dev/null || return 1
  recon-block "$q" "$d" --unit 4 --iters 20 --batch 16 -t 1 -q --independent -o unit.4.h5 2>/dev/null
}

@test "pack --help prints usage and every option, exits 0" {
  run pack --help
  assert_success
  assert_output --partial "Usage: pack Q.h5 [UNIT.h5 ...] -o MODEL.int.h5"
  for o in --output --quiet --version --qmodel; do assert_output --partial -- "$o"; done
}

@test "pack --qmodel: the quantised model with the unit applied, packing to the same bytes; a unit made from it is refused by Q" {
  q=$(q44)
  u=$BATS_FILE_TMPDIR/unit.4.h5
  run pack "$q" "$u" --qmodel -o q2.h5
  assert_success
  assert_output "pack: W4A4, 1 of 11 units reconstructed (the others keep round-to-nearest); quantised model written"
  run h5dump -a genie_kind q2.h5
  assert_output --partial '"qmodel"'
  pack -q q2.h5 -o a.int.h5
  pack -q "$q" "$u" -o b.int.h5
  cmp a.int.h5 b.int.h5
  # unit 4 is marked reconstructed, with its steps kept at its next turn
  run recon-block q2.h5 "$(fmnist_n train 64)" --unit 4 --independent --iters 2 --batch 16 -t 1 -q -o u2.h5
  assert_success
  assert_output --partial "steps kept"
  # a unit file made from q2.h5 belongs to q2.h5, not to the calibrated model
  run pack "$q" u2.h5 -o c.int.h5
  assert_failure 1
  assert_output --partial "made from another calibrated model"
  assert_no_output . 'c.int.h5'
}

@test "pack: the packed model's logits equal the quantised model's bit for bit" {
  t=$(fmnist_n t10k 64)
  q4=$BATS_FILE_TMPDIR/q4.h5
  run pack "$q4" -o p.h5
  assert_success
  assert_output "pack: W4A4, 1 of 11 units reconstructed (the others keep round-to-nearest)"
  run "$EVAL" "$q4" "$t" --logits lq.h5 -q -t 1
  assert_success
  acc_q=$output
  run "$EVAL" p.h5 "$t" --logits lp.h5 -q -t 1
  assert_success
  assert_output "$acc_q"
  run h5diff lq.h5 lp.h5 /logits /logits
  assert_success
  run h5ls lp.h5
  assert_output --partial "{64, 10}"
}

@test "pack: a 4-bit packed model is smaller than the quantised and the FP32 model" {
  q=$(q44); m=$(ref_model)
  run pack -q "$q" -o p.h5
  assert_success
  assert_output ""
  sp=$(stat -c %s p.h5) sq=$(stat -c %s "$q") sm=$(stat -c %s "$m")
  echo "packed $sp, quantised $sq, FP32 $sm bytes"
  [ "$sp" -lt "$sq" ]
  [ "$sp" -lt "$sm" ]
  run h5dump -a genie_kind p.h5
  assert_output --partial '"packed"'
  # codes: 2 per byte at 4 bits, 1 per byte at 8 bits (the first layer)
  run h5ls p.h5/qweights/layer1.0.conv1.weight
  assert_output --partial "codes                    Dataset {1152}"
  assert_output --partial "step                     Dataset {16}"
  assert_output --partial "zero_point               Dataset {16}"
  [ "$(int_attr p.h5 /qweights/layer1.0.conv1.weight/bits)" = 4 ]
  [ "$(int_attr p.h5 /qweights/layer1.0.conv1.weight/shape)" = "16, 16, 3, 3" ]
  run h5ls p.h5/qweights/conv1.weight
  assert_output --partial "codes                    Dataset {144}"
  [ "$(int_attr p.h5 /qweights/conv1.weight/bits)" = 8 ]
  # the float weights and the quantisers' training parameters are gone
  run bash -c "h5ls p.h5/params | grep -E 'weight|wq\\.' || true"
  assert_output ""
}

@test "pack: unit files replace their units; one made from another quantised model is refused" {
  q=$(q44)
  cp "$BATS_FILE_TMPDIR"/{q4.h5,unit.4.h5} .
  run pack "$q" unit.4.h5 -o p.h5
  assert_success
  assert_output --partial "1 of 11 units reconstructed"
  # the same packed model as the sequential run of that unit
  pack -q q4.h5 -o p4.h5
  run h5diff p.h5 p4.h5 /qweights /qweights
  assert_success
  run h5diff p.h5 p4.h5 /params /params
  assert_success
  # and not the calibrated model's
  pack -q "$q" -o p0.h5
  run h5diff -q p.h5 p0.h5 /qweights /qweights
  assert_failure 1
  # q4.h5 is another quantised model than the one unit.4.h5 was made from
  run pack q4.h5 unit.4.h5 -o bad.h5
  assert_failure 1
  assert_output --partial "unit.4.h5: made from another calibrated model"
  assert_no_output . bad
}

@test "pack: wrong kinds are refused, no output" {
  q=$(q44); d=$(fmnist_n train 64); m=$(ref_model)
  pack -q "$q" -o p.h5
  run pack "$m" -o out.h5
  assert_failure 1
  assert_output --partial "is a genie model file, expected a quantised model (made by calib)"
  run pack p.h5 -o out.h5
  assert_failure 1
  assert_output --partial "is a genie packed file, expected a quantised model"
  run pack "$d" -o out.h5
  assert_failure 1
  assert_output --partial "is a genie dataset file, expected a quantised model"
  run pack "$q" "$q" -o out.h5
  assert_failure 1
  assert_output --partial "is a genie qmodel file, expected a unit file (recon-block --independent)"
  run pack "$q" "$m" -o out.h5
  assert_failure 1
  assert_output --partial "is a genie model file, expected a unit file"
  run pack "$q" nosuch.h5 -o out.h5
  assert_failure 1
  assert_output --partial "nosuch.h5: No such file or directory"
  assert_no_output . out
}

@test "pack: usage errors exit 2" {
  q=$(q44)
  run pack "$q"
  assert_failure 2
  assert_output --partial "no output file given (-o)"
  run pack -o out.h5
  assert_failure 2
  assert_output --partial "Try 'pack --help'"
  run pack "$q" --bogus -o out.h5
  assert_failure 2
  assert_no_output . out
}
