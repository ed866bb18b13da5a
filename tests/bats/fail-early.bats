#!/usr/bin/env bats
# Bad outputs and bad options are found before any work starts: each run
# fails with one message naming the user's path or option, the right exit
# status, within a second, and leaves nothing behind.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# fast CMD...: runs CMD with `run` and fails the test when it took 1 s or more
# (5 s in a SANITIZE=1 build, whose start-up alone is slower)
LIMIT_MS=1000
[ "$(cat "$ROOT/build/variant" 2>/dev/null)" != san ] || LIMIT_MS=5000
fast() {
  local t0 t1
  t0=$(date +%s%N)
  run "$@"
  t1=$(date +%s%N)
  echo "took $(((t1 - t0) / 1000000)) ms: $*"
  [ $(((t1 - t0) / 1000000)) -lt "$LIMIT_MS" ]
}

# nothing but the files named is in the current directory
only() { # expected names, sorted
  run bash -c "ls -A | sort | tr '\n' ' '"
  assert_output "${*:+$* }"
}

inputs() { # model, stats, synthetic data and a quantised model, made once per test
  m=$(ref_model)
  bnstats "$m" -o st.h5
  make_dataset d.h5 8 1 28 28
  calib "$m" d.h5 -w 4 -a 4 -q -o q.h5
}

@test "fail early: a missing output directory is named before any work" {
  inputs
  fast distill "$m" st.h5 -n 32 --batch 32 --iters 60 -o nodir/s.h5
  assert_equal "$status" 1
  assert_output "distill: nodir/s.h5: directory nodir does not exist"
  fast distill "$m" st.h5 -n 32 --batch 32 --iters 60 -o s.h5 --grid nodir/g.png
  assert_equal "$status" 1
  assert_output "distill: nodir/g.png: directory nodir does not exist"
  fast recon-block q.h5 d.h5 --all -o nodir/r.h5
  assert_equal "$status" 1
  assert_output "recon-block: nodir/r.h5: directory nodir does not exist"
  fast train --arch resnet20 --data d.h5 --epochs 1 -o nodir/t.h5
  assert_equal "$status" 1
  assert_output "train: nodir/t.h5: directory nodir does not exist"
  fast train --arch resnet20 --data d.h5 --epochs 1 --checkpoint nodir/c.h5 -o t.h5
  assert_equal "$status" 1
  assert_output "train: nodir/c.h5: directory nodir does not exist"
  fast "$EVAL" "$m" d.h5 --logits nodir/l.h5
  assert_equal "$status" 1
  assert_output "genie-eval: nodir/l.h5: directory nodir does not exist" # no accuracy line first
  fast calib "$m" d.h5 -w 4 -a 4 -o nodir/q.h5
  assert_equal "$status" 1
  assert_output "calib: nodir/q.h5: directory nodir does not exist"
  fast bnstats "$m" -o nodir/st.h5
  assert_equal "$status" 1
  fast pack q.h5 -o nodir/p.h5
  assert_equal "$status" 1
  fast h5cat d.h5 -o nodir/a.h5
  assert_equal "$status" 1
  fast onnx2h5 "$FIX/resnet20_fmnist.onnx" -o nodir/m.h5
  assert_equal "$status" 1
  fast idx2h5 "$FMNIST/t10k-images-idx3-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz" \
    --mean 0.2860 --std 0.3530 -o nodir/x.h5
  assert_equal "$status" 1
  assert_output "idx2h5: nodir/x.h5: directory nodir does not exist"
  only d.h5 q.h5 st.h5
}

@test "fail early: an output that is a directory is refused" {
  inputs
  mkdir adir
  fast distill "$m" st.h5 -n 32 --batch 32 --iters 60 -o adir
  assert_equal "$status" 1
  assert_output "distill: adir: is a directory"
  fast recon-block q.h5 d.h5 --unit 0 -o adir
  assert_equal "$status" 1
  assert_output "recon-block: adir: is a directory"
  only adir d.h5 q.h5 st.h5
  [ -z "$(ls -A adir)" ]
}

@test "fail early: a program never overwrites one of its own inputs" {
  inputs
  cp "$m" m.h5
  cp m.h5 m.orig.h5
  fast bnstats m.h5 -o m.h5
  assert_equal "$status" 1
  assert_output "bnstats: m.h5: is also an input (m.h5): refusing to overwrite it"
  cmp m.h5 m.orig.h5
  # the same file under another name: compared by device and inode
  ln m.h5 alias.h5
  fast calib alias.h5 d.h5 -w 4 -a 4 -o ./m.h5
  assert_equal "$status" 1
  assert_output "calib: ./m.h5: is also an input (alias.h5): refusing to overwrite it"
  fast recon-block q.h5 d.h5 --all -o d.h5
  assert_equal "$status" 1
  fast h5cat d.h5 d.h5 -o d.h5
  assert_equal "$status" 1
  fast pack q.h5 -o q.h5
  assert_equal "$status" 1
  fast "$EVAL" m.h5 d.h5 --logits d.h5
  assert_equal "$status" 1
  fast train --data d.h5 --arch resnet20 -o d.h5
  assert_equal "$status" 1
  cmp m.h5 m.orig.h5
  only alias.h5 d.h5 m.h5 m.orig.h5 q.h5 st.h5
}

@test "fail early: an unwritable output directory is named (not as root)" {
  [ "$(id -u)" != 0 ] || skip "root may write anywhere"
  inputs
  mkdir ro && chmod a-w ro
  fast bnstats "$m" -o ro/st.h5
  assert_equal "$status" 1
  assert_output "bnstats: ro/st.h5: cannot write in directory ro: Permission denied"
}

@test "messages: --threads out of range says the range" {
  m=$(ref_model)
  for p in bnstats distill calib recon-block "$EVAL" train genie-info; do
    fast "$p" --threads 5000 a b -o x.h5
    assert_equal "$status" 2
    assert_line --index 0 "$(basename "$p"): --threads: expected a number from 1 to 1024, got '5000'"
    assert_line --index 1 "Try '$(basename "$p") --help' for more information."
    [ "${#lines[@]}" -eq 2 ]
  done
  fast distill "$m" st.h5 --batch 1 -o x.h5
  assert_equal "$status" 2
  assert_line --index 0 "distill: --batch: expected a number from 2 to 1048576, got '1'"
  fast recon-block --seed " -5" a b --all -o x.h5
  assert_equal "$status" 2
  assert_line --index 0 "recon-block: --seed: expected a number from 0 to 18446744073709551615, got ' -5'"
  only
}

@test "messages: an unknown option is one line, then Try '--help'" {
  for p in bnstats distill calib recon-block pack "$EVAL" train h5cat onnx2h5 idx2h5 genie-info; do
    n=$(basename "$p")
    fast "$p" --frobnicate
    assert_equal "$status" 2
    assert_output "$n: unknown option '--frobnicate'
Try '$n --help' for more information."
    fast "$p" -Z
    assert_equal "$status" 2
    assert_output "$n: unknown option '-Z'
Try '$n --help' for more information."
  done
  fast bnstats --quiet=yes
  assert_output --partial "bnstats: option '--quiet' takes no argument"
  fast distill a b -o
  assert_output --partial "distill: option '-o' needs an argument"
  fast distill a b --output
  assert_output --partial "distill: option '--output' needs an argument"
  fast distill a b --lr 1
  assert_equal "$status" 2
  assert_output --partial "distill: option '--lr' is ambiguous (--lr-z, --lr-g, --lr-pixel)"
  only
}

@test "messages: errors name the user's path, never the temporary file" {
  m=$(ref_model)
  bnstats "$m" -o st.h5
  # the directory is writable at the check and gone when the output is made
  # (200 iterations: about 7 s on a quiet 2-core machine, well past the 1.5 s)
  mkdir gone
  run bash -c "distill '$m' st.h5 -n 8 --batch 8 --iters 200 -q -o gone/s.h5 & sleep 1.5; rmdir gone; wait \$!"
  assert_equal "$status" 1
  assert_output --regexp "^distill: gone/s.h5: cannot create: "
  refute_output --partial ".tmp."
  only st.h5
}
