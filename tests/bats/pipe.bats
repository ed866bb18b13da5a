#!/usr/bin/env bats
# The whole job as one shell pipe: every stage reads '-' (standard input, an
# HDF5 file image in memory) and writes '-' (standard output, written only
# when complete), and gives the same bytes as the file-by-file run.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# the first 64 Fashion-MNIST test images, made once
test64() {
  local f="$CACHE/fmnist-t10k-64.h5"
  if [ ! -f "$f" ]; then
    idx2h5 "$FMNIST/t10k-images-idx3-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz" \
      --mean 0.2860 --std 0.3530 -n 64 -o "$f.$$" >&2 && mv "$f.$$" "$f" || return 1
  fi
  echo "$f"
}

D_OPTS=(-n 8 --batch 8 --iters 3 --seed 5 -q)
R_OPTS=(--all --iters 2 --batch 4 --seed 5 -q)

@test "pipe: the whole job as one pipe gives the same bytes as file by file" {
  m=$(ref_model); t=$(test64)
  # file by file
  bnstats "$m" -o st.h5
  distill "$m" st.h5 "${D_OPTS[@]}" -o synth.f.h5
  calib "$m" synth.f.h5 -w 4 -a 4 -q -o q0.h5
  recon-block q0.h5 synth.f.h5 "${R_OPTS[@]}" -o qn.h5 2>/dev/null
  pack qn.h5 -q -o packed.f.h5
  "$EVAL" packed.f.h5 "$t" -q >acc.f.txt
  # the issue's two lines: stats through a pipe, then calib .. eval in one pipe
  # (tee keeps the packed model from the middle of it)
  set -o pipefail
  bnstats "$m" -o - | distill "$m" - "${D_OPTS[@]}" -o synth.p.h5
  calib "$m" synth.p.h5 -w 4 -a 4 -q -o - | recon-block - synth.p.h5 "${R_OPTS[@]}" -o - 2>/dev/null |
    pack - -q -o - | tee packed.p.h5 | "$EVAL" - "$t" -q >acc.p.txt
  cmp synth.f.h5 synth.p.h5
  cmp packed.f.h5 packed.p.h5
  cmp acc.f.txt acc.p.txt
  grep -q '^top-1 ' acc.p.txt
  # every stage's standard output equals its file
  bnstats "$m" -o - | cmp - st.h5
  calib "$m" synth.f.h5 -w 4 -a 4 -q -o - | cmp - q0.h5
  pack qn.h5 -q -o - | cmp - packed.f.h5
  # and reading a file from standard input changes nothing
  calib "$m" - -w 4 -a 4 -q -o q0.stdin.h5 <synth.f.h5
  cmp q0.h5 q0.stdin.h5
  # no temporary file is left anywhere here
  run bash -c "ls -A | grep -E 'tmp|genie-stdout' || true"
  assert_output ""
}

@test "pipe: distill -o - joins h5cat, and h5cat reads and writes '-'" {
  m=$(ref_model)
  bnstats "$m" -o st.h5
  distill "$m" st.h5 -n 16 --batch 8 --iters 2 -k 0 -q -o b0.h5
  distill "$m" st.h5 -n 16 --batch 8 --iters 2 -k 1 -q -o - | h5cat b0.h5 - -o all.h5
  distill "$m" st.h5 -n 16 --batch 8 --iters 2 -k 1 -q -o b1.h5
  h5cat b0.h5 b1.h5 -o all.f.h5
  cmp all.h5 all.f.h5
  h5cat b0.h5 b1.h5 -o - | tee all.t.h5 | h5cat - -o all.2.h5
  cmp all.t.h5 all.f.h5
  run h5dump -H -d x all.h5
  assert_output --partial "( 16, 1, 28, 28 )"
}

@test "pipe: two '-' inputs, or '-' twice as output, are usage errors" {
  m=$(ref_model)
  run calib - - -w 4 -a 4 -o q.h5 </dev/null
  assert_equal "$status" 2
  assert_line --index 0 "calib: only one input may be '-' (standard input), 2 are"
  assert_line --index 1 "Try 'calib --help' for more information."
  run distill - - -o s.h5 </dev/null
  assert_equal "$status" 2
  run distill "$m" st.h5 -o - --grid - </dev/null
  assert_equal "$status" 2
  assert_output --partial "only one output may be '-'"
  run "$EVAL" "$m" d.h5 --logits -
  assert_equal "$status" 2
  assert_output --partial "--logits -: standard output carries the accuracy line"
}

@test "pipe: a terminal on standard output is refused" {
  m=$(ref_model)
  # script(1) gives the program a terminal for its standard output
  run script -qec "bnstats '$m' -o -" /dev/null
  assert_equal "$status" 2
  assert_output --partial "bnstats: -: refusing to write HDF5 to a terminal"
}

@test "pipe: empty, non-HDF5 and truncated standard input each get one line naming '-'" {
  m=$(ref_model)
  run calib "$m" - -w 4 -a 4 -o q.h5 </dev/null
  assert_equal "$status" 1
  assert_output "calib: -: standard input is empty (did the stage before it in the pipe fail?)"
  echo "not hdf5" >junk.txt
  run calib "$m" - -w 4 -a 4 -o q.h5 <junk.txt
  assert_equal "$status" 1
  assert_output "calib: -: standard input is not an HDF5 file (9 bytes)"
  run calib "$m" - -w 4 -a 4 -o q.h5 <"$FIX/resnet20_fmnist.onnx"
  assert_equal "$status" 1
  assert_output "calib: -: this is an ONNX model: import it with onnx2h5 first"
  bnstats "$m" -o st.h5
  head -c 3000 st.h5 >cut.h5
  run distill "$m" - -n 8 --batch 8 --iters 1 -o s.h5 <cut.h5
  assert_equal "$status" 1
  assert_output "distill: -: standard input is truncated or damaged (3000 bytes of HDF5)"
  [ ! -e q.h5 ] && [ ! -e s.h5 ]
}

@test "pipe: a stage that fails mid-way writes nothing, and the next one says so" {
  m=$(ref_model)
  bnstats "$m" -o st.h5
  distill "$m" st.h5 -n 8 --batch 8 --iters 1 -q -o s.h5
  calib "$m" s.h5 -w 4 -a 4 -q -o q.h5
  # unit 99 does not exist: found after both files are read
  recon-block q.h5 s.h5 --unit 99 -o - >out.bin 2>err.txt && false
  [ ! -s out.bin ]
  grep -q "unit 99 out of range" err.txt
  run bash -c "recon-block q.h5 s.h5 --unit 99 -q -o - 2>/dev/null | pack - -o p.h5"
  assert_equal "$status" 1
  assert_output "pack: -: standard input is empty (did the stage before it in the pipe fail?)"
  [ ! -e p.h5 ]
}
