#!/usr/bin/env bats
# The wavefront schedule (genie-parallel(7), WAVEFRONT): recon-block --stage,
# recon-parallel.sh --wavefront and genie.mk MODE=wavefront.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

GENIE_MK="$ROOT/pipelines/genie.mk"

@test "genie.mk MODE=wavefront: the step schedule, each step a cached stage, a stage is a hand-run recon-block" {
  cp "$(ref_model)" model.h5
  real=$(fmnist_n train 64); test=$(fmnist_n t10k 200)
  args=(-f "$GENIE_MK" MODEL=model.h5 REAL="$real" SAMPLES=16 RECON_ITERS=4 RECON_BATCH=4 TEST="$test"
        OUT=out THREADS=1 JOBS=2 QUIET=1 MODE=wavefront OVERLAP_ENDS=0)
  run make "${args[@]}" STAGES=2
  echo "$output"
  assert_success
  # 11 units in 2 stages: 12 time steps; step T runs units T-2 .. T-1
  assert_output --partial "wavefront of 11 units in 2 stages: 12 time steps"
  assert_output --partial "--wavefront 2 --step 1 "
  assert_output --partial "--joblog out/recon.step.1.joblog -d out/step.1 -q --next out/wq.1.h5 out/q.0.h5"
  assert_output --partial "--wavefront 2 --step 12 "
  assert_output --partial "--joblog out/recon.step.12.joblog -d out/step.12 -q --next out/wq.12.h5 out/wq.11.h5"
  assert_output --partial "--wavefront 2 --step 6 --resume-dir out/step.5 "
  refute_output --partial "--step 1 --resume-dir"
  [ ! -e out/wq.13.h5 ]
  for t in $(seq 1 12); do
    want=''
    for k in $(seq 0 10); do
      if [ $((t - k)) -ge 1 ] && [ $((t - k)) -le 2 ]; then want+=" $k"; fi
    done
    got=$(cd out/step.$t && ls unit.*.h5 | sed 's/unit\.\([0-9]*\)\.h5/\1/' | sort -n | tr '\n' ' ')
    [ " ${got% }" = "$want" ] || { echo "step $t: units '$got', expected '$want'"; false; }
  done
  run cat out/summary.txt
  assert_output --partial "wavefront (2 stages), 4 iterations per unit"
  grep -q '"mode": "wavefront", "stages": 2, "overlap_ends": false, "fresh_stages": false, "recon_iters": 4,' out/result.json
  # unit 4 at step 6 is its stage 2 of 2, recon-block --stage 2/2 on the model after step 5,
  # resuming the optimiser of its stage 1 (step 5's unit file)
  (cd out && recon-block wq.5.h5 real.h5 --unit 4 --independent --iters 4 --batch 4 --seed 0 --stage 2/2 --resume step.5/unit.4.h5 --threads 1 -q -o ../u4.h5)
  cmp u4.h5 out/step.6/unit.4.h5
  # not a fresh optimiser
  (cd out && recon-block wq.5.h5 real.h5 --unit 4 --independent --iters 4 --batch 4 --seed 0 --stage 2/2 --threads 1 -q -o ../u4.f.h5)
  ! cmp -s u4.f.h5 out/step.6/unit.4.h5
  # and not the whole schedule, nor stage 1
  (cd out && recon-block wq.5.h5 real.h5 --unit 4 --independent --iters 4 --batch 4 --seed 0 --stage 1/2 --threads 1 -q -o ../u4.1.h5)
  ! cmp -s u4.1.h5 out/step.6/unit.4.h5
  # the model after the last step, packed, is the packed model
  pack -q out/wq.12.h5 -o again.int.h5
  cmp again.int.h5 out/model.int.h5
  # nothing to redo
  run make -q "${args[@]}" STAGES=2
  assert_success
  # an interrupted run resumes at its step: steps 1..8 are kept
  rm out/wq.9.h5 out/wq.10.h5 out/wq.11.h5 out/wq.12.h5 out/wq.h5 out/step.10/unit.9.h5
  touch -d '2 minutes ago' out/step.9/unit.*.h5 out/step.10/unit.*.h5
  run make "${args[@]}" STAGES=2
  echo "$output"
  assert_success
  refute_output --partial "--step 8 "
  assert_output --partial "--step 9 "
  assert_output --partial "--step 12 "
  cmp again.int.h5 out/model.int.h5
  # other STAGES redo every step
  run make -n "${args[@]}" STAGES=3
  assert_output --partial "stages=3"
  # the ends overlapped (the default with FIRST_LAST=8): 11+2-3 = 10 steps
  run make -n "${args[@]}" STAGES=2 OVERLAP_ENDS=1
  assert_success
  assert_output --partial "wavefront of 11 units in 2 stages (its ends overlapped): 10 time steps"
  assert_output --partial "--wavefront 2 --overlap-ends --step 10 "
  refute_output --partial "--step 11 "
}

# each setting in $2.. refused alone by genie.mk (args, MODE=wavefront): exit
# 2 and one line, naming the setting with message $1
refused() {
  local msg=$1 a
  shift
  for a in "$@"; do
    run make "${args[@]}" MODE=wavefront "$a"
    assert_failure 2
    [ "${#lines[@]}" = 1 ] || { echo "$output"; false; }
    assert_output --partial "$a: $msg"
  done
}

@test "genie.mk MODE=wavefront: bad STAGES are refused before anything runs" {
  cp "$(ref_model)" model.h5
  real=$(fmnist_n train 64)
  args=(-s -f "$GENIE_MK" MODEL=model.h5 REAL="$real" SAMPLES=16 RECON_ITERS=4 OUT=o)
  refused "expected an integer in 1..1000" STAGES=0 STAGES=x STAGES=-1 STAGES=1001
  run make "${args[@]}" MODE=wavefront STAGES=5
  assert_failure 2
  [ "${#lines[@]}" = 1 ]
  assert_output --partial "STAGES=5: more stages than RECON_ITERS=4"
  run make "${args[@]}" MODE=jacobi STAGES=2
  assert_failure 2
  [ "${#lines[@]}" = 1 ]
  assert_output --partial "STAGES=2 takes MODE=wavefront, not jacobi"
  # WARMUP: a fraction in [0, 1), MODE=wavefront only; passed on to every step
  refused "expected 0 or a fraction 0.F (below 1)" WARMUP=1 WARMUP=x WARMUP=.5 WARMUP=-0.1
  run make "${args[@]}" MODE=sequential WARMUP=0.5
  assert_failure 2
  assert_output --partial "WARMUP=0.5 takes MODE=wavefront, not sequential"
  [ ! -e o ]
  run make -n "${args[@]}" MODE=wavefront STAGES=2 WARMUP=0.5 WAVE_STEPS=3 o/wq.3.h5
  assert_success
  assert_output --partial "--wavefront 2 --overlap-ends --warmup 0.5 --step 3 "
  rm -rf o
}

@test "recon-parallel.sh --wavefront: the same files as genie.mk's steps; usage errors" {
  rp="$ROOT/pipelines/recon-parallel.sh"
  q=$(q44); real=$(fmnist_n train 64)
  run "$rp" "$q" "$real" -i 3 -b 4 -j 2 -t 1 -q --wavefront 3 -d wf -o wf.int.h5
  echo "$output"
  assert_success
  # 11 units, 3 stages: 13 steps; step 1 is unit 0 alone, step 13 unit 10 alone
  [ -s wf/step.13/unit.10.h5 ] && [ ! -e wf/step.14 ]
  [ "$(ls wf/step.1/unit.*.h5)" = wf/step.1/unit.0.h5 ]
  [ "$(ls wf/step.13/unit.*.h5)" = wf/step.13/unit.10.h5 ]
  [ "$(ls wf/step.5/unit.*.h5 | wc -l)" = 3 ]
  pack -q wf/q.step.13.h5 -o again.int.h5
  cmp again.int.h5 wf/wf.int.h5 2>/dev/null || cmp again.int.h5 wf.int.h5
  # one step alone, from the model after the one before, gives the same files
  run "$rp" wf/q.step.4.h5 "$real" -i 3 -b 4 -j 2 -t 1 -q --wavefront 3 --step 5 --resume-dir wf/step.4 -d s5 --next s5.h5
  assert_success
  for k in 2 3 4; do cmp s5/unit.$k.h5 wf/step.5/unit.$k.h5; done
  cmp s5.h5 wf/q.step.5.h5
  # usage errors: one line and the hint, exit 2
  for bad in "--wavefront 0" "--wavefront 4 -i 3" "--wavefront 2 --rounds 2" "--step 2" "--wavefront 3 --step 14" \
             "--wavefront 3 --step 2" "--wavefront 3 --resume-dir wf" "--resume-dir wf" \
             "--wavefront 3 --step 2 --resume-dir wf --fresh-stages"; do
    run "$rp" "$q" "$real" -i 3 $bad
    assert_failure 2
    assert_output --partial "Try 'recon-parallel.sh --help'"
    [ "${#lines[@]}" = 2 ] || { echo "$bad: $output"; false; }
  done
}

@test "recon-block --stage: the whole schedule in one stage; usage errors" {
  q=$(q44); real=$(fmnist_n train 64)
  recon-block "$q" "$real" --unit 3 --independent --iters 6 --batch 4 --threads 1 -q -o whole.h5 2>/dev/null
  run recon-block "$q" "$real" --unit 3 --independent --iters 6 --batch 4 --stage 1/1 --threads 1 -q -o one.h5
  assert_success
  assert_output --partial "stage 1/1 (iterations 1..6 of 6)"
  # the same parameters (a stage's file also keeps the optimiser, genie-unit(5))
  pack -q "$q" whole.h5 -o whole.int.h5 && pack -q "$q" one.h5 -o one.int.h5
  cmp whole.int.h5 one.int.h5
  run recon-block "$q" "$real" --unit 3 --independent --iters 6 --batch 4 --stage 2/3 --threads 1 -q -o two.h5
  assert_success
  assert_output --partial "stage 2/3 (iterations 3..4 of 6)"
  for bad in 0/2 3/2 2 a/b 1/0 /2 2/; do
    run recon-block "$q" "$real" --unit 3 --iters 6 --stage "$bad" -o x.h5
    assert_failure 2
    assert_output --partial "--stage: expected s/S"
  done
  run recon-block "$q" "$real" --unit 3 --iters 2 --stage 1/3 -o x.h5
  assert_failure 2
  assert_output --partial "more stages than the 2 iterations"
  run recon-block "$q" "$real" --all --iters 6 --stage 1/3 -o x.h5
  assert_failure 2
  run recon-block "$q" "$real" --unit 3 --iters 6 --stage 1/3 --early-stop -o x.h5
  assert_failure 2
  [ ! -e x.h5 ]
}

# recon-block Q REAL OPTIONS... as one run (whole.h5, whole.int.h5) and as
# 4 stages, each resuming the one before (s1..s4.h5, the models q1..q4.h5,
# staged.int.h5)
four_stages() {
  local q=$1 real=$2
  shift 2
  recon-block "$q" "$real" "$@" -o whole.h5 2>/dev/null
  pack -q "$q" whole.h5 -o whole.int.h5
  recon-block "$q" "$real" "$@" --stage 1/4 -o s1.h5 2>/dev/null
  pack -q --qmodel "$q" s1.h5 -o q1.h5
  for s in 2 3 4; do
    recon-block q$((s - 1)).h5 "$real" "$@" --stage $s/4 --resume s$((s - 1)).h5 -o s$s.h5 || return 1
    pack -q --qmodel q$((s - 1)).h5 s$s.h5 -o q$s.h5
  done
  pack -q q4.h5 -o staged.int.h5
}

@test "recon-block --stage --resume: 4 stages, each resuming the one before, are the one run; wrong states refused" {
  q=$(q44); real=$(fmnist_n train 64)
  o=(--unit 3 --independent --iters 8 --batch 4 --threads 1 -q)
  four_stages "$q" "$real" "${o[@]}"
  cmp staged.int.h5 whole.int.h5
  # without --resume, stage 4 is another model
  recon-block q3.h5 "$real" "${o[@]}" --stage 4/4 -o f4.h5 2>/dev/null
  pack -q --qmodel q3.h5 f4.h5 -o f4.q.h5 && pack -q f4.q.h5 -o fresh.int.h5
  ! cmp -s fresh.int.h5 whole.int.h5
  # a state that is not the stage before: one line, exit 1
  for bad in "--stage 3/4 --resume s1.h5" "--stage 2/4 --seed 1 --resume s1.h5" "--stage 2/4 --resume whole.h5" \
             "--stage 2/2 --resume s1.h5"; do
    run recon-block q1.h5 "$real" "${o[@]}" $bad -o x.h5
    assert_failure 1
    [ "${#lines[@]}" = 1 ] || { echo "$bad: $output"; false; }
  done
  run recon-block q1.h5 "$real" --unit 4 --independent --iters 8 --batch 4 -q --stage 2/4 --resume s1.h5 -o x.h5
  assert_failure 1
  assert_output --partial "not unit 4"
  for bad in "--stage 1/4 --resume s1.h5" "--resume s1.h5" "--unit 3 --stage 2/4 --resume s1.h5"; do
    run recon-block q1.h5 "$real" --iters 8 --unit 3 $bad -o x.h5
    assert_failure 2
  done
  [ ! -e x.h5 ]
}

@test "recon-block --warmup: 4 resumed stages are the one run at the same warm-up, not another; a state of another warm-up refused" {
  q=$(q44); real=$(fmnist_n train 64)
  o=(--unit 3 --independent --iters 8 --batch 4 --threads 1 -q --warmup 0.75)
  four_stages "$q" "$real" "${o[@]}"
  cmp staged.int.h5 whole.int.h5
  # the unit file records the warm-up (genie-unit(5))
  h5dump -a /optim/warmup s4.h5 | grep -q '0.75'
  # the warm-up changes the model: GENIE.md's 0.2 is another one
  recon-block "$q" "$real" --unit 3 --independent --iters 8 --batch 4 --threads 1 -q -o std.h5 2>/dev/null
  pack -q "$q" std.h5 -o std.int.h5
  ! cmp -s std.int.h5 whole.int.h5
  # resuming a state of another warm-up: one line, exit 1
  run recon-block q1.h5 "$real" --unit 3 --independent --iters 8 --batch 4 --threads 1 -q --stage 2/4 --resume s1.h5 -o x.h5
  assert_failure 1
  [ "${#lines[@]}" = 1 ]
  assert_output --partial "warm-up 0.75"
  [ ! -e x.h5 ]
}

@test "slurm-array.sbatch --wavefront-step: a step's array tasks make the files recon-parallel.sh --step makes" {
  sb="$ROOT/pipelines/slurm-array.sbatch" rp="$ROOT/pipelines/recon-parallel.sh"
  q=$(q44); real=$(fmnist_n train 64)
  # step 2 of a wavefront of 2 stages: unit 0's stage 2 and unit 1's stage 1
  "$rp" "$q" "$real" -i 2 -b 4 -j 1 -t 1 -q --wavefront 2 --step 1 -d s1 --next w1.h5 2>/dev/null
  "$rp" w1.h5 "$real" -i 2 -b 4 -j 1 -t 1 -q --wavefront 2 --step 2 --resume-dir s1 -d s2 --next w2.h5 2>/dev/null
  for k in 0 1; do
    SLURM_ARRAY_TASK_ID=$k run "$sb" recon w1.h5 "$real" parts --iters 2 --batch 4 --wavefront-step 2/2 --wavefront-prev s1 -q
    assert_success
    assert_output --partial "--stage $((2 - k))/2"
    cmp parts/unit.$k.h5 s2/unit.$k.h5
  done
  SLURM_ARRAY_TASK_ID=2 run "$sb" recon w1.h5 "$real" parts --iters 2 --wavefront-step 2/2
  assert_failure 2
  assert_output --partial "unit 2 has no stage at step 2"
  SLURM_ARRAY_TASK_ID=0 run "$sb" recon w1.h5 "$real" parts.2 --iters 2 --wavefront-step 2/2
  assert_failure 2
  assert_output --partial "needs --wavefront-prev DIR"
  SLURM_ARRAY_TASK_ID=0 run "$sb" recon w1.h5 "$real" parts --iters 2 --wavefront-step 2
  assert_failure 2
  assert_output --partial "expected T/S"
}

@test "recon-parallel.sh --wavefront --fresh-stages: each stage a short schedule of its own; genie.mk FRESH_STAGES" {
  rp="$ROOT/pipelines/recon-parallel.sh"
  q=$(q44); real=$(fmnist_n train 64)
  # 5 iterations in 2 stages: 2 then 3; step 2 is unit 0's stage 2 and unit 1's stage 1
  "$rp" "$q" "$real" -i 5 -b 4 -j 1 -t 1 -q --wavefront 2 --fresh-stages --step 1 -d s1 --next w1.h5 2>/dev/null
  "$rp" w1.h5 "$real" -i 5 -b 4 -j 1 -t 1 -q --wavefront 2 --fresh-stages --step 2 -d s2 --next w2.h5 2>/dev/null
  recon-block "$q" "$real" --unit 0 --independent --iters 2 --batch 4 --seed 0 -t 1 -q -o u0.1.h5 2>/dev/null
  cmp u0.1.h5 s1/unit.0.h5
  recon-block w1.h5 "$real" --unit 0 --independent --iters 3 --batch 4 --seed 0 -t 1 -q -o u0.2.h5 2>/dev/null
  cmp u0.2.h5 s2/unit.0.h5
  recon-block w1.h5 "$real" --unit 1 --independent --iters 2 --batch 4 --seed 0 -t 1 -q -o u1.1.h5 2>/dev/null
  cmp u1.1.h5 s2/unit.1.h5
  # not the continued schedule
  "$rp" "$q" "$real" -i 5 -b 4 -j 1 -t 1 -q --wavefront 2 --step 1 -d c1 --next c1.h5 2>/dev/null
  "$rp" c1.h5 "$real" -i 5 -b 4 -j 1 -t 1 -q --wavefront 2 --step 2 --resume-dir c1 -d c2 --next c2.h5 2>/dev/null
  ! cmp -s c2/unit.0.h5 s2/unit.0.h5
  run "$rp" "$q" "$real" -i 5 --fresh-stages
  assert_failure 2
  assert_output --partial "--fresh-stages takes --wavefront"
  cp "$(ref_model)" model.h5
  args=(-s -f "$ROOT/pipelines/genie.mk" MODEL=model.h5 REAL="$real" SAMPLES=16 RECON_ITERS=4 OUT=o)
  run make "${args[@]}" MODE=wavefront FRESH_STAGES=2
  assert_failure 2
  assert_output --partial "FRESH_STAGES=2: expected 1 or empty"
  run make "${args[@]}" MODE=jacobi FRESH_STAGES=1
  assert_failure 2
  assert_output --partial "FRESH_STAGES=1 takes MODE=wavefront, not jacobi"
  run make -n "${args[@]}" MODE=wavefront FRESH_STAGES=1 o/wq.2.h5 WAVE_STEPS=2
  assert_output --partial "--wavefront 3 --overlap-ends --fresh-stages --step 2"
}

@test "recon-block --fp-input: the unit learns on x, whatever the units before it are; --refit-steps fits kept steps again" {
  q=$(q44); real=$(fmnist_n train 64)
  o=(--independent --iters 4 --batch 4 --threads 1 -q)
  # a model whose unit 2 is not calib's: unit 3's x~ changes, its x does not
  recon-block "$q" "$real" --unit 2 "${o[@]}" -o u2.h5 2>/dev/null
  mkdir a b
  cp "$q" a/q.h5
  pack -q --qmodel "$q" u2.h5 -o b/q.h5
  cp "$real" a/real.h5 && cp "$real" b/real.h5
  for d in a b; do
    (cd $d && recon-block q.h5 real.h5 --unit 3 "${o[@]}" --fp-input --upfront-steps -o fp.h5 &&
              recon-block q.h5 real.h5 --unit 3 "${o[@]}" --upfront-steps -o q.3.h5) 2>/dev/null
  done
  # the unit files differ only in the model they name (its SHA-256)
  params() { h5dump -g /params "$1" | tail -n +2; }
  [ "$(params a/fp.h5)" = "$(params b/fp.h5)" ]
  [ "$(params a/q.3.h5)" != "$(params b/q.3.h5)" ]
  [ "$(params a/fp.h5)" != "$(params a/q.3.h5)" ]
  # unit 2's steps were fitted when it was reconstructed: kept, unless --refit-steps
  run recon-block b/q.h5 "$real" --unit 2 --independent --iters 4 --batch 4 --threads 1 -o k.h5
  assert_success
  assert_output --partial "steps kept"
  run recon-block b/q.h5 "$real" --unit 2 --independent --iters 4 --batch 4 --threads 1 --refit-steps -o r.h5
  assert_success
  assert_output --partial "steps fitted now"
  ! cmp -s k.h5 r.h5
}

@test "wave-plan.sh: lock step and dataflow wall times from a sequential log's unit times, against the count" {
  # three units of 3, 1 and 3 s in 2 stages: the count is (3+2-1)/2/3; in
  # lock step every time step waits for a 3 s unit's stage (4 x 1.5 s of
  # 7 s); in dataflow the longest chain is 1.5 + 1.5 + 0.5 + 1.5 = 5 s
  printf '%s\n' "recon-block: warning: something else" \
    "recon-block: unit 0 (a .. b (2 nodes, 1 weight layers)): rec 1 -> 0.5 (train 1 -> 1), round 3, beta 2.0, undecided 1/2, 3.0 s, steps fitted now" \
    "recon-block: unit 1 (b .. c (2 nodes, 1 weight layers)): rec 1 -> 0.5 (train 1 -> 1), round 3, beta 2.0, undecided 1/2, 1.0 s, steps fitted now" \
    "recon-block: unit 2 (c .. d (2 nodes, 1 weight layers)): rec 1 -> 0.5 (train 1 -> 1), round 3, beta 2.0, undecided 1/2, 3.0 s, steps fitted now" > seq.log
  run "$ROOT/pipelines/wave-plan.sh" -S 2,1 seq.log
  assert_success
  assert_output "$(printf 'stages\tunits\tcount\tlockstep\tdataflow\tlockstep_s\n2\t3\t0.667\t0.857\t0.714\t6.0\n1\t3\t1.000\t1.000\t1.000\t7.0')"
  # twice the iterations per unit: every figure doubles; the log from stdin
  run bash -c "'$ROOT/pipelines/wave-plan.sh' -S 2 -f 2 - < seq.log"
  assert_success
  assert_line --index 1 "$(printf '2\t3\t1.333\t1.714\t1.429\t12.0')"
  # -e, the ends overlapped: units 1 and 2 start with unit 0, 2 steps of
  # 1.5 s in lock step; the longest chain is unit 0's 3 s, or unit 2's
  # stage 1 then its stage 2 after unit 1's stage 1 (1.5 + 1.5)
  run "$ROOT/pipelines/wave-plan.sh" -e -S 2 seq.log
  assert_success
  assert_line --index 1 "$(printf '2\t3\t0.333\t0.429\t0.429\t3.0')"
  # a unit missing, no unit lines, bad options
  grep -v "unit 1 " seq.log > gap.log
  run "$ROOT/pipelines/wave-plan.sh" gap.log
  assert_failure 1
  assert_output "wave-plan.sh: gap.log: no time for unit 1"
  echo nothing > none.log
  run "$ROOT/pipelines/wave-plan.sh" none.log
  assert_failure 1
  assert_output "wave-plan.sh: none.log: no recon-block unit lines"
  for bad in "-S 0 seq.log" "-S 2,x seq.log" "-f 0 seq.log" "-f -1 seq.log" "seq.log seq.log" ""; do
    run "$ROOT/pipelines/wave-plan.sh" $bad
    assert_failure 2
    assert_output --partial "Try 'wave-plan.sh --help' for more information."
  done
}

@test "recon-parallel.sh --wavefront --overlap-ends: units 1 and N-1 start with their neighbours, N+S-3 steps; the same files by --step, genie.mk and slurm-array.sbatch" {
  rp="$ROOT/pipelines/recon-parallel.sh" sb="$ROOT/pipelines/slurm-array.sbatch"
  q=$(q44); real=$(fmnist_n train 64)
  run "$rp" "$q" "$real" -i 3 -b 4 -j 2 -t 1 --wavefront 3 --overlap-ends -d wf -o wf.int.h5
  echo "$output"
  assert_success
  assert_output --partial "step 1 of 11 (wavefront of 3 stages, its ends overlapped): units 0..1"
  # 11 units, 3 stages: 11 steps; unit K starts at step K (unit 0 at 1, unit 10 at 9)
  [ -s wf/step.11/unit.10.h5 ] && [ ! -e wf/step.12 ]
  for t in $(seq 1 11); do
    want=''
    for k in $(seq 0 10); do
      s=$(( t - k + (k > 0) + (k == 10) ))
      if [ $s -ge 1 ] && [ $s -le 3 ]; then want+=" $k"; fi
    done
    got=$(cd wf/step.$t && ls unit.*.h5 | sed 's/unit\.\([0-9]*\)\.h5/\1/' | sort -n | tr '\n' ' ')
    [ " ${got% }" = "$want" ] || { echo "step $t: units '$got', expected '$want'"; false; }
  done
  # a unit's stage is recon-block --stage T-K+z(K): unit 1 at step 1 is its
  # stage 1 on the calibrated model, unit 10 at step 10 its stage 2 resumed
  recon-block "$q" "$real" --unit 1 --independent --iters 3 --batch 4 --seed 0 --stage 1/3 --threads 1 -q -o u1.h5
  cmp u1.h5 wf/step.1/unit.1.h5
  recon-block wf/q.step.9.h5 "$real" --unit 10 --independent --iters 3 --batch 4 --seed 0 --stage 2/3 --resume wf/step.9/unit.10.h5 --threads 1 -q -o u10.h5
  cmp u10.h5 wf/step.10/unit.10.h5
  pack -q wf/q.step.11.h5 -o again.int.h5
  cmp again.int.h5 wf.int.h5
  # one step alone, from the model after the one before
  run "$rp" wf/q.step.9.h5 "$real" -i 3 -b 4 -j 2 -t 1 -q --wavefront 3 --overlap-ends --step 10 --resume-dir wf/step.9 -d s10 --next s10.h5
  assert_success
  for k in 8 9 10; do cmp s10/unit.$k.h5 wf/step.10/unit.$k.h5; done
  cmp s10.h5 wf/q.step.10.h5
  # the same step as array tasks
  for k in 8 9 10; do
    SLURM_ARRAY_TASK_ID=$k run "$sb" recon wf/q.step.9.h5 "$real" parts --iters 3 --batch 4 --wavefront-step 10/3 --overlap-ends --wavefront-prev wf/step.9 -q
    assert_success
    cmp parts/unit.$k.h5 wf/step.10/unit.$k.h5
  done
  SLURM_ARRAY_TASK_ID=7 run "$sb" recon wf/q.step.9.h5 "$real" parts --iters 3 --wavefront-step 10/3 --overlap-ends
  assert_failure 2
  assert_output --partial "--wavefront-step 10/3 --overlap-ends: unit 7 has no stage at step 10"
  SLURM_ARRAY_TASK_ID=1 run "$sb" recon "$q" "$real" parts --iters 3 --overlap-ends
  assert_failure 2
  assert_output --partial "--overlap-ends takes --wavefront-step"
  # usage errors: one line and the hint, exit 2
  for bad in "--overlap-ends" "--wavefront 3 --overlap-ends --step 12 --resume-dir wf"; do
    run "$rp" "$q" "$real" -i 3 $bad
    assert_failure 2
    [ "${#lines[@]}" = 2 ] || { echo "$bad: $output"; false; }
  done
  # genie.mk OVERLAP_ENDS: passed on to every step, 1 or empty, MODE=wavefront only
  cp "$(ref_model)" model.h5
  args=(-s -f "$GENIE_MK" MODEL=model.h5 REAL="$real" SAMPLES=16 RECON_ITERS=4 OUT=o)
  run make -n "${args[@]}" MODE=wavefront STAGES=2 OVERLAP_ENDS=1 WAVE_STEPS=3 o/wq.3.h5
  assert_success
  assert_output --partial "--wavefront 2 --overlap-ends --step 3 "
  refused "expected 0 or 1" OVERLAP_ENDS=2 OVERLAP_ENDS=x
  run make "${args[@]}" MODE=jacobi OVERLAP_ENDS=1
  assert_failure 2
  assert_output --partial "OVERLAP_ENDS=1 takes MODE=wavefront, not jacobi"
  # the default: 3 stages, the ends overlapped; OVERLAP_ENDS=0 turns it off
  run make -n "${args[@]}" MODE=wavefront WAVE_STEPS=3 o/wq.3.h5
  assert_success
  assert_output --partial "--wavefront 3 --overlap-ends --step 3 "
  run make -n "${args[@]}" MODE=wavefront OVERLAP_ENDS=0 WAVE_STEPS=3 o/wq.3.h5
  assert_success
  assert_output --partial "--wavefront 3 --step 3 "
  # first and last layers below 8 bits: not overlapped unless asked
  run make -n "${args[@]}" MODE=wavefront FIRST_LAST=4 WAVE_STEPS=3 o/wq.3.h5
  assert_success
  assert_output --partial "--wavefront 3 --step 3 "
  run make -n "${args[@]}" MODE=wavefront FIRST_LAST=4 OVERLAP_ENDS=1 WAVE_STEPS=3 o/wq.3.h5
  assert_success
  assert_output --partial "--wavefront 3 --overlap-ends --step 3 "
  rm -rf o
}
