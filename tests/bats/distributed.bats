#!/usr/bin/env bats
# genie over two hosts for real (tests/distributed/run): network namespaces
# with an sshd each, distill batches and independent units sent there with
# GNU parallel, results bit-identical to one host; and a real Slurm cluster
# in the same namespaces (tests/distributed/slurm). Skipped, with the reason,
# where network namespaces cannot be created (or Slurm cannot run).
load helper

@test "distributed: two ssh hosts in network namespaces give the one-host bytes; failures retried or leave nothing" {
  run "$ROOT/tests/distributed/run"
  echo "$output"
  if [ "$status" = 77 ]; then skip "$(grep '^SKIP:' <<<"$output" | head -n 1)"; fi
  assert_success
  assert_output --partial "joined synthetic set: cmp identical to the one-host run"
  assert_output --partial "packed model: cmp identical to the one-host run"
}

@test "distributed: a real Slurm cluster (munged, slurmctld, two slurmd): sbatch --array gives the one-host bytes, rounds and a wavefront too; a failed task is requeued" {
  run "$ROOT/tests/distributed/slurm"
  echo "$output"
  if [ "$status" = 77 ]; then skip "$(grep '^SKIP:' <<<"$output" | head -n 1)"; fi
  assert_success
  assert_output --partial "scontrol requeue"
  assert_output --partial "joined synthetic set: cmp identical to the one-host run"
  assert_output --partial "packed model: cmp identical to the one-host run"
  assert_output --partial "unit 3 redone"
  assert_output --partial "the model after every step and the packed model cmp identical to recon-parallel.sh --wavefront 2"
}

@test "distill.sh and recon-parallel.sh: bad host options are usage errors" {
  cd "$BATS_TEST_TMPDIR"
  for d in distill.sh recon-parallel.sh; do
    for a in "--retries 0" "--retries x" "-j 0" "--workdir /abs" "--workdir ../up" "--slf nosuchfile" "-S"; do
      run "$ROOT/pipelines/$d" a.h5 b.h5 -o o.h5 $a
      echo "$d $a -> $status: $output"
      assert_failure 2
      assert_output --partial "Try '$d --help'"
    done
    run "$ROOT/pipelines/$d" --help
    assert_success
    assert_output --partial "--sshlogin"
    assert_output --partial "--joblog"
  done
  assert_no_output . 'o.h5'
}

@test "distill.sh -d: batches kept, a failed batch leaves no joined output and the job log says which" {
  cd "$BATS_TEST_TMPDIR"
  m="$ROOT/data/fmnist-resnet20.h5"
  bnstats -q -t 1 "$m" -o stats.h5
  run "$ROOT/pipelines/distill.sh" "$m" stats.h5 -n 8 --batch 4 --iters 2 -j 2 -d parts -o s.h5
  assert_success
  assert_output --partial "2 of 2 batches of 4 images, 2 at a time, 1 thread(s) each"
  [ -s s.h5 ] && [ -s parts/synth.0.h5 ] && [ -s parts/synth.1.h5 ] && [ -s parts/distill.joblog ]
  # nothing to redo: the join only
  run "$ROOT/pipelines/distill.sh" "$m" stats.h5 -n 8 --batch 4 --iters 2 -j 2 -d parts -o s2.h5
  assert_success
  refute_output --partial "batches of"
  cmp s.h5 s2.h5
  # every batch fails (a distill whose --dry-run passes, as distill.sh runs it
  # first, and whose jobs fail): nothing joined, log kept
  mkdir fake
  for p in "$ROOT"/bin/*; do
    case $p in *.c) ;; *) if [ -f "$p" ] && [ -x "$p" ]; then ln -s "$p" fake/; fi ;; esac
  done
  rm fake/distill
  printf '#!/bin/sh\ncase " $* " in *" --dry-run "*) exec "%s/bin/distill" "$@" ;; esac\necho "distill: failing on purpose" >&2\nexit 1\n' "$ROOT" >fake/distill
  chmod +x fake/distill
  BIN=$PWD/fake run "$ROOT/pipelines/distill.sh" "$m" stats.h5 -n 8 --batch 4 --iters 2 -j 2 --joblog j.log -o bad.h5
  assert_failure 1
  assert_output --partial "distill.sh: a distill job failed (job log: j.log); nothing written"
  [ ! -e bad.h5 ]
  run awk -F'\t' 'NR > 1 { print $7 }' j.log
  assert_output --regexp '[1-9]'
}

@test "slurm-array.sbatch: one array task makes one batch or one unit, as the drivers do; usage errors" {
  cd "$BATS_TEST_TMPDIR"
  sb="$ROOT/pipelines/slurm-array.sbatch"
  m="$ROOT/data/fmnist-resnet20.h5"
  run "$sb" distill "$m" s.h5 parts
  assert_failure 2
  assert_output --partial "SLURM_ARRAY_TASK_ID is not set"
  SLURM_ARRAY_TASK_ID=0 run "$sb" magic a b parts
  assert_failure 2
  bnstats -q -t 1 "$m" -o stats.h5
  for k in 0 1; do
    SLURM_ARRAY_TASK_ID=$k run "$sb" distill "$m" stats.h5 parts -n 8 --batch 4 --iters 2
    assert_success
  done
  h5cat parts/synth.0.h5 parts/synth.1.h5 -o synth.h5
  "$ROOT/pipelines/distill.sh" "$m" stats.h5 -n 8 --batch 4 --iters 2 -j 2 -o ref.h5 2>/dev/null
  run h5diff synth.h5 ref.h5 /x /x
  assert_success
  calib "$m" synth.h5 -w 4 -a 4 -t 1 -q -o q.0.h5
  SLURM_ARRAY_TASK_ID=10 SLURM_CPUS_PER_TASK=1 run "$sb" recon q.0.h5 synth.h5 parts --iters 2 --batch 4 -q
  assert_success
  [ -s parts/unit.10.h5 ]
  # done already: a rerun of the task does nothing
  SLURM_ARRAY_TASK_ID=10 run "$sb" recon q.0.h5 synth.h5 parts --iters 2 --batch 4 -q
  assert_success
  assert_output --partial "already made"
}
