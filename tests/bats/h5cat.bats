#!/usr/bin/env bats
# h5cat: joining dataset files along the sample axis, with provenance checks.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

dims() { h5dump -H -d "$2" "$1" | sed -n 's/.*SIMPLE { ( \([0-9, ]*\) ).*/\1/p'; }
# batch K of a small distillation: part K
part() { # k [extra distill options]
  local k=$1; shift
  distill m.h5 s.h5 -n 12 --batch 4 --iters 2 --batch-index "$k" -q -o "part$k.h5" "$@"
}

@test "h5cat --help prints usage and exits 0" {
  run h5cat --help
  assert_success
  assert_output --partial "Usage: h5cat"
}

@test "h5cat joins distill batches: /x, /loss, /loss_iter and the batch list" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  part 0; part 1; part 2
  run h5cat part2.h5 part0.h5 part1.h5 -o all.h5
  assert_success
  assert_output ""
  [ "$(dims all.h5 /x)" = "12, 1, 8, 8" ]
  [ "$(dims all.h5 /loss)" = "6, 3" ]
  [ "$(dims all.h5 /loss_iter)" = "6" ]
  run bash -c "h5dump -a batches all.h5 | sed -n 's/.*(0): //p'"
  assert_output "2, 0, 1"
  [ "$(h5dump -a model_sha256 all.h5 | grep -c "$(sha256sum m.h5 | cut -c1-64)")" = 1 ]
  [ "$(h5dump -a genie_kind all.h5 | grep -c '"dataset"')" = 1 ]
}

@test "h5cat joins labelled datasets: /x and /y" {
  make_dataset a.h5 3 1 8 8
  make_dataset b.h5 5 1 8 8
  run h5cat a.h5 b.h5 -o ab.h5
  assert_success
  [ "$(dims ab.h5 /x)" = "8, 1, 8, 8" ]
  [ "$(dims ab.h5 /y)" = "8" ]
  run bash -c "h5dump -d /y ab.h5 | tr -d ' \n' | grep -o '(0):[0-9,]*'"
  assert_output "(0):0,1,2,0,1,2,3,4"
}

@test "h5cat: parts of different jobs are refused, nothing written" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  part 0
  part 1 --seed 3
  run h5cat part0.h5 part1.h5 -o all.h5
  assert_failure 1
  assert_output "h5cat: part0.h5 and part1.h5 differ in seed ('0' vs '3'): not parts of one job"
  part 1 --iters 3
  run h5cat part0.h5 part1.h5 -o all.h5
  assert_failure 1
  assert_output --partial "differ in iters (2 vs 3)"
  part 1 --no-swing
  run h5cat part0.h5 part1.h5 -o all.h5
  assert_failure 1
  assert_output --partial "differ in swing (1 vs 0)"
  # another model: the hash differs
  fixture tiny2 m2.h5
  bnstats m2.h5 -o s2.h5
  distill m2.h5 s2.h5 -n 12 --batch 4 --iters 2 --batch-index 1 -q -o other.h5
  run h5cat part0.h5 other.h5 -o all.h5
  assert_failure 1
  assert_output --partial "differ in"
  # the same batch twice
  run h5cat part0.h5 part0.h5 -o all.h5
  assert_failure 1
  assert_output "h5cat: part0.h5: batch 0 is already in an earlier file: a batch may be joined once"
  assert_no_output . 'all\.h5'
}

@test "h5cat --force joins parts whose settings differ" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  part 0
  part 1 --seed 3
  run h5cat --force part0.h5 part1.h5 -o all.h5
  assert_success
  [ "$(dims all.h5 /x)" = "8, 1, 8, 8" ]
}

@test "h5cat: shapes that disagree are refused, nothing written" {
  make_dataset a.h5 3 1 8 8
  make_dataset b.h5 3 1 28 28
  run h5cat a.h5 b.h5 -o ab.h5
  assert_failure 1
  assert_output "h5cat: b.h5: /x holds samples of 1x28x28, a.h5 of 1x8x8 (or another type)"
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  distill m.h5 s.h5 -n 3 --batch 3 --iters 1 -q -o u.h5
  run h5cat a.h5 u.h5 -o ab.h5
  assert_failure 1
  assert_output --partial "has /loss, a.h5 has not"
  run h5cat m.h5 a.h5 -o ab.h5
  assert_failure 1
  assert_output "h5cat: m.h5: is a genie model file, expected a dataset"
  run h5cat a.h5 nosuch.h5 -o ab.h5
  assert_failure 1
  assert_output "h5cat: nosuch.h5: No such file or directory"
  assert_no_output . 'ab\.h5'
}

@test "h5cat: usage errors exit 2" {
  run h5cat a.h5 b.h5
  assert_failure 2
  assert_output --partial "no output file given"
  run h5cat -o x.h5
  assert_failure 2
  run h5cat --bogus a.h5 -o x.h5
  assert_failure 2
}
