#!/usr/bin/env bats
# pipelines/genie.mk end to end: a tiny few-shot run, its caching, and the
# distillation stages as far as the programs exist.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

GENIE_MK="$ROOT/pipelines/genie.mk"

@test "genie.mk help, and its settings are checked before anything runs" {
  run make -s -f "$GENIE_MK" help
  assert_success
  assert_output --partial "make -f pipelines/genie.mk MODEL=model.h5 WBITS=4 ABITS=4"
  run make -s -f "$GENIE_MK"
  assert_failure
  assert_output --partial "MODEL= is required"
  m=$(ref_model)
  for a in WBITS=9 MODE=fast METHOD=magic RECON_ITERS=x; do
    run make -s -f "$GENIE_MK" MODEL="$m" OUT=o "$a"
    echo "$a -> $status: $output"
    assert_failure
    assert_output --partial "$a"
  done
  run make -s -f "$GENIE_MK" MODEL="$m" OUT=o SAMPLES=100 BATCH=64
  assert_failure
  assert_output --partial "SAMPLES=100 is not a multiple of BATCH=64"
  [ ! -e o ]
  # REAL must hold SAMPLES images in /x (checked by the data stage alone)
  make_dataset d4.h5 4 1 28 28
  run make -s -f "$GENIE_MK" MODEL="$m" OUT=o REAL=d4.h5 SAMPLES=8 data
  assert_failure
  assert_output --partial "genie.mk: d4.h5 holds 4 images, fewer than SAMPLES=8"
  run make -s -f "$GENIE_MK" MODEL="$m" OUT=o REAL="$m" SAMPLES=8 data
  assert_failure
  assert_output --partial "no /x dataset (not a genie dataset file)"
  assert_no_output o 'h5'
}

@test "genie.mk REAL=: a tiny few-shot run, then nothing to redo, then touching MODEL redoes it" {
  cp "$(ref_model)" model.h5
  real=$(fmnist_n train 256); test=$(fmnist_n t10k 500)
  args=(-f "$GENIE_MK" MODEL=model.h5 REAL="$real" SAMPLES=64 RECON_ITERS=10 TEST="$test"
        OUT=out THREADS=1 QUIET=1)
  run make "${args[@]}"
  echo "$output"
  assert_success
  # every stage ran: calib, each of the 11 units, pack, both evaluations
  assert_output --partial "genie.mk: few-shot: the first 64 of the 256 images of"
  assert_output --partial "bin/calib model.h5 out/real.h5 -w 4 -a 4"
  for k in 0 1 2 3 4 5 6 7 8 9 10; do assert_output --partial "--unit $k "; done
  assert_output --partial "bin/pack"
  # the summary: FP32 and W4A4 side by side, printed and in OUT
  assert_output --regexp "top-1 +[0-9.]+% +[0-9.]+% +[-+][0-9.]+"
  [ -s out/model.int.h5 ] && [ -s out/summary.txt ] && [ -s out/result.json ]
  run cat out/summary.txt
  assert_output --partial "the first 64 images of $real (few-shot)"
  assert_output --partial "sequential, 10 iterations per unit"
  assert_output --partial "500 images"
  run cat out/result.json
  assert_output --regexp '"fp32": \{"top1": 0\.[0-9]+, "top5": [0-9.]+, "loss": [0-9.]+, "n": 500\}'
  assert_output --regexp '"quantised": \{"top1": 0\.[0-9]+, '
  assert_output --partial '"wbits": 4, "abits": 4'
  q1=$(sed -n 's/.*"quantised": {"top1": \([0-9.]*\).*/\1/p' out/result.json)
  awk -v a="$q1" 'BEGIN{exit !(a > 0.80)}'
  # the calibration set is bit for bit the first 64 images of REAL
  idx2h5 "$FMNIST/train-images-idx3-ubyte.gz" "$FMNIST/train-labels-idx1-ubyte.gz" \
    --mean 0.2860 --std 0.3530 -n 64 -o first64.h5
  run h5diff out/real.h5 first64.h5 /x /x
  assert_success
  run h5diff out/real.h5 first64.h5 /y /y
  assert_success

  # a second run has nothing to do
  run make -q "${args[@]}"
  assert_success
  run make -n "${args[@]}"
  assert_success
  refute_output --partial "bin/"
  run make "${args[@]}"
  assert_success
  assert_output --partial "Nothing to be done"

  # touching the model redoes every stage after it (shown, not run: -n)
  touch model.h5
  run make -q "${args[@]}"
  assert_failure 1
  run make -n "${args[@]}"
  assert_success
  assert_output --partial "bin/calib model.h5"
  assert_output --partial "bin/recon-block"
  assert_output --partial "bin/pack"
  assert_output --partial "bin/genie-eval model.h5"
  assert_output --partial "bin/genie-eval out/model.int.h5"
  refute_output --partial "h5dump -d /x"   # the calibration images do not depend on the model

  # changing a stage's setting redoes that stage and those after it only
  run make -n "${args[@]}" RECON_ITERS=11
  assert_success
  assert_output --partial "--iters 11"
  assert_output --partial "bin/pack"
}

@test "genie.mk MODE=jacobi: each round a cached stage, every unit again from the round before" {
  cp "$(ref_model)" model.h5
  real=$(fmnist_n train 64); test=$(fmnist_n t10k 200)
  args=(-f "$GENIE_MK" MODEL=model.h5 REAL="$real" SAMPLES=16 RECON_ITERS=2 RECON_BATCH=4 TEST="$test"
        OUT=out THREADS=1 JOBS=2 QUIET=1 MODE=jacobi)
  run make "${args[@]}" ROUNDS=2
  echo "$output"
  assert_success
  assert_output --partial "-d out/round.1 -q --next out/jq.1.h5 out/q.0.h5"
  assert_output --partial "-d out/round.2 -q --next out/jq.2.h5 out/jq.1.h5"
  for r in 1 2; do
    for k in 0 1 2 3 4 5 6 7 8 9 10; do [ -s out/round.$r/unit.$k.h5 ]; done
  done
  run cat out/summary.txt
  assert_output --partial "jacobi (2 rounds), 2 iterations per unit"
  # round 2's units belong to the model after round 1, and packed into it
  # they give the packed model
  files=(); for k in 0 1 2 3 4 5 6 7 8 9 10; do files+=(out/round.2/unit.$k.h5); done
  pack -q out/jq.1.h5 "${files[@]}" -o again.int.h5
  cmp again.int.h5 out/model.int.h5
  run pack out/q.0.h5 "${files[@]}" -o no.int.h5
  assert_failure 1
  assert_output --partial "made from another calibrated model"
  # round 2 started from round 1's parameters: they differ from the calibrated ones
  run h5diff -q out/q.0.h5 out/jq.1.h5
  assert_failure 1
  # nothing to redo; a third round redoes neither round 1 nor round 2
  run make -q "${args[@]}" ROUNDS=2
  assert_success
  run make -n "${args[@]}" ROUNDS=3
  assert_output --partial "-d out/round.3 -q --next out/jq.3.h5 out/jq.2.h5"
  refute_output --partial "out/round.1"
  refute_output --partial "out/round.2"
  # fewer rounds: the packed model is made again, from jq.1.h5
  run make -n "${args[@]}" ROUNDS=1
  assert_output --partial "pack -q out/jq.1.h5 -o out/model.int.h5"
  run make "${args[@]}" ROUNDS=0
  assert_failure
  assert_output --partial "ROUNDS=0: expected an integer in 1..100"
}

@test "genie.mk MODE=jacobi ROUND_ITERS: later rounds cached with their own iterations, as recon-block makes them" {
  cp "$(ref_model)" model.h5
  real=$(fmnist_n train 64); test=$(fmnist_n t10k 200)
  args=(-f "$GENIE_MK" MODEL=model.h5 REAL="$real" SAMPLES=16 RECON_ITERS=3 RECON_BATCH=4 TEST="$test"
        OUT=out THREADS=1 JOBS=2 QUIET=1 MODE=jacobi ROUNDS=2)
  run make "${args[@]}" ROUND_ITERS=1
  echo "$output"
  assert_success
  assert_output --partial "recon-parallel.sh -j 2 -i 3 -b 4"
  assert_output --partial "recon-parallel.sh -j 2 -i 1 -b 4"
  assert_output --partial "-d out/round.2 -q --next out/jq.2.h5 out/jq.1.h5"
  run cat out/summary.txt
  assert_output --partial "jacobi (2 rounds, 1 iterations per unit after the first), 3 iterations per unit"
  grep -q '"rounds": 2, "round_iters": 1, "recon_iters": 3,' out/result.json
  # a round-2 unit is recon-block --independent --iters 1 on the model after round 1
  (cd out && recon-block jq.1.h5 real.h5 --unit 4 --independent --iters 1 --batch 4 --seed 0 --threads 1 -q -o ../u4.h5)
  cmp u4.h5 out/round.2/unit.4.h5
  (cd out && recon-block jq.1.h5 real.h5 --unit 4 --independent --iters 3 --batch 4 --seed 0 --threads 1 -q -o ../u4.3.h5)
  ! cmp -s u4.3.h5 out/round.2/unit.4.h5
  # cached; another ROUND_ITERS redoes round 2, not round 1
  run make -q "${args[@]}" ROUND_ITERS=1
  assert_success
  run make -n "${args[@]}" ROUND_ITERS=2
  assert_output --partial "recon-parallel.sh -j 2 -i 2 -b 4"
  refute_output --partial "out/round.1 "
  refute_output --partial "-i 3"
  run make -s "${args[@]}" MODE=sequential ROUND_ITERS=2
  assert_failure 2
  assert_output --partial "ROUND_ITERS=2 takes MODE=jacobi, not sequential"
}

@test "genie.mk zero-shot: bnstats and distill batches with GNU parallel, then h5cat" {
  for p in bnstats distill h5cat; do [ -x "$ROOT/bin/$p" ] || skip "bin/$p is not built"; done
  m=$(ref_model)
  args=(-f "$GENIE_MK" MODEL="$m" SAMPLES=16 BATCH=8 DISTILL_ITERS=2 OUT=out THREADS=1 QUIET=1)
  run make "${args[@]}" synth
  echo "$output"
  assert_success
  assert_output --partial "2 of 2 batches of 8 images"
  run h5ls out/synth.h5
  assert_output --partial "x                        Dataset {16, 1, 28, 28}"
  [ -s out/stats.h5 ] && [ -s out/synth.0.h5 ] && [ -s out/synth.1.h5 ]
  run make -q "${args[@]}" synth
  assert_success
  # the rest of the job, on the distilled images
  run make -n "${args[@]}"
  assert_output --partial "out/synth.h5 -w 4 -a 4"
}

@test "recon-parallel.sh: help, usage errors, and a calibrated model is required" {
  rp="$ROOT/pipelines/recon-parallel.sh"
  run "$rp" --help
  assert_success
  assert_output --partial "Usage: pipelines/recon-parallel.sh [options] Q.0.h5 DATA.h5 [-o MODEL.int.h5]"
  run "$rp" onlyone.h5
  assert_failure 2
  assert_output --partial "Try 'recon-parallel.sh --help'"
  run "$rp" a.h5 b.h5 -j 0
  assert_failure 2
  make_dataset d.h5 2 1 28 28
  run "$rp" "$(ref_model)" d.h5 -o p.h5
  assert_failure 1
  assert_output --partial "is a genie model file, expected a quantised model (made by calib)"
  assert_no_output . 'p.h5|unit'
}
