#!/usr/bin/env bats
# pipelines/walltime.sh: usage errors at once (exit 2, nothing made), and
# one tiny local measurement: two rows in the table, the second run's packed
# model cmp-identical to the first's. (The ssh and Slurm places need the
# namespace hosts and cluster: tests/distributed.)
load helper
load quick

setup() { cd "$BATS_TEST_TMPDIR"; }
W="$ROOT/pipelines/walltime.sh"

@test "walltime.sh: --help on stdout, exit 0; bad options and settings are usage errors, nothing made" {
  run "$W" --help
  assert_success
  assert_output --partial "Usage: pipelines/walltime.sh"
  assert_output --partial "busy_cores"
  for a in "--bogus" "-p mars" "-p local,,ssh" "-m greedy" "-j 0" "-j x" "-j 1,,2" "FOO=1" "SAMPLES=x" \
           "SAMPLES=0" "SAMPLES=100 BATCH=64" "OVERLAP_ENDS=2" "-p ssh" "extra" "-d"; do
    quick "$W" -d runs $a
    assert_failure 2
    assert_output --partial "Try 'walltime.sh --help'"
  done
  [ ! -e runs ]
}

@test "walltime.sh: a tiny local run at 1 and 2 jobs: one row each, the same packed model" {
  run nice -n 10 "$W" -d runs -p local -m sequential -j 1,2 SAMPLES=4 BATCH=2 DISTILL_ITERS=1 RECON_ITERS=1 RECON_BATCH=4
  echo "$output"
  assert_success
  [ -s runs/local-sequential-j1/model.int.h5 ] && [ -s runs/local-sequential-j2/model.int.h5 ]
  run cut -f1-4,14 runs/walltime.tsv
  assert_output "$(printf 'place\tmode\tjobs\tstatus\tsame\nlocal\tsequential\t1\tok\t-\nlocal\tsequential\t2\tok\tsame')"
  # wall and CPU seconds, load: numbers
  run awk -F'\t' 'NR > 1 && ($5 !~ /^[0-9.]+$/ || $5 <= 0 || $6 !~ /^[0-9.]+$/ || $8 !~ /^-?[0-9.]+$/ || $11 !~ /^[0-9.]+$/) { print "bad row " NR ": " $0 }' runs/walltime.tsv
  assert_output ""
  grep -q 'SAMPLES=4 BATCH=2 DISTILL_ITERS=1' runs/walltime.tsv
}
