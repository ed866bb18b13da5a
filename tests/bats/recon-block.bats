#!/usr/bin/env bats
# recon-block: Genie-M on one unit, on all units, or on one unit independently.
# Kept fast: 64 calibration images, 10-20 iterations, small batches, one thread.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# the datasets under /params of an HDF5 file, one a line
params_of() { h5ls "$1/params" | awk '{print $1}'; }

@test "recon-block --help prints usage and every option, exits 0" {
  run recon-block --help
  assert_success
  assert_output --partial "Usage: recon-block Q.h5 DATA.h5 (--unit K | --all)"
  for o in --unit --all --independent --upfront-steps --tight-units --qdrop-per-consumer --refit-steps --fp-input --unfolded-steps --iters --stage --resume --batch --seed --no-qdrop --early-stop --threads --output --quiet --version; do
    assert_output --partial -- "$o"
  done
}

@test "recon-block: a unit out of range is a clear error, no output" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --unit 11 --iters 10 -o out.h5
  assert_failure 1
  assert_output --partial "unit 11 out of range: the model has units 0..10"
  run recon-block "$q" "$d" --unit 11 --independent --iters 10 -o out.h5
  assert_failure 1
  assert_output --partial "unit 11 out of range"
  assert_no_output . out
}

@test "recon-block --all with few iterations reconstructs every unit and lowers the fc unit's error" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --all --iters 10 --batch 8 -t 1 -q -o out.h5
  assert_success
  for k in 0 1 2 3 4 5 6 7 8 9 10; do assert_output --partial "recon-block: unit $k ("; done
  line=$(printf '%s\n' "$output" | grep '^recon-block: unit 10 (.*/fc/Gemm')
  a=$(echo "$line" | sed -n 's/.*: rec \([0-9.eE+-]*\) -> \([0-9.eE+-]*\) .*/\1/p')
  b=$(echo "$line" | sed -n 's/.*: rec \([0-9.eE+-]*\) -> \([0-9.eE+-]*\) .*/\2/p')
  echo "fc unit: rec $a -> $b"
  [ -n "$a" ] && [ -n "$b" ]
  awk -v a="$a" -v b="$b" 'BEGIN{exit !(b < a)}'
  run bash -c "calib --list-units out.h5 | grep -c '\[reconstructed\]'"
  assert_output 11
  run h5dump -a genie_kind out.h5
  assert_output --partial '"qmodel"'
}

@test "recon-block --independent warns at 2-bit weights, not at 4" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --unit 3 --independent --iters 2 --batch 8 -t 1 -q -o u4.h5
  assert_success
  refute_output --partial "independent reconstruction measured far below"
  m=$(ref_model)
  calib "$m" "$d" -w 2 -a 4 -t 1 -q -o q24.h5
  run recon-block q24.h5 "$d" --unit 3 --independent --iters 2 --batch 8 -t 1 -q -o u2.h5
  assert_success
  assert_output --partial "q24.h5 has 2-bit weights: independent reconstruction measured far below sequential"
  [ -f u2.h5 ]
  # a later Jacobi round (every other unit reconstructed already): no warning
  recon-block q24.h5 "$d" --all --iters 1 --batch 8 -t 1 -q -o all24.h5 2>/dev/null
  run recon-block all24.h5 "$d" --unit 3 --independent --iters 2 --batch 8 -t 1 -q -o u2r.h5
  assert_success
  refute_output --partial "independent reconstruction measured far below"
  assert_output --partial "steps kept"
}

@test "recon-block --independent writes a unit file that pack accepts" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --unit 3 --independent --iters 10 --batch 8 -t 1 -q -o unit.3.h5
  assert_success
  run h5dump -a genie_kind unit.3.h5
  assert_output --partial '"unit"'
  run bash -c "h5dump -a unit unit.3.h5 | grep -o '(0): .*'"
  assert_output "(0): 3, 16, 23"
  # the unit's weight steps and rounding variables, its activation step and signedness
  run params_of unit.3.h5
  assert_output --partial "%2Flayer1%2Flayer1.1%2Frelu2%2FRelu_output_0.aq.step"
  assert_output --partial "%2Flayer1%2Flayer1.2%2Fconv1%2FConv.wq.step"
  assert_output --partial "%2Flayer1%2Flayer1.2%2Fconv2%2FConv.wq.rounding"
  run h5ls unit.3.h5/signed
  assert_output --partial "%2Flayer1%2Flayer1.1%2Frelu2%2FRelu_output_0.aq"
  run pack "$q" unit.3.h5 -o p.h5
  assert_success
  assert_output --partial "1 of 11 units reconstructed"
  [ -s p.h5 ]
}

@test "recon-block: the same seed twice gives identical files, another seed another file" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --unit 1 --iters 10 --batch 8 --seed 7 -t 1 -q -o a.h5
  assert_success
  # unit 0 of the calibrated model is not reconstructed: said, but allowed
  assert_output --partial "warning: unit 0 of"
  recon-block "$q" "$d" --unit 1 --iters 10 --batch 8 --seed 7 -t 1 -q -o b.h5 2>/dev/null
  recon-block "$q" "$d" --unit 1 --iters 10 --batch 8 --seed 8 -t 1 -q -o c.h5 2>/dev/null
  run h5diff a.h5 b.h5
  assert_success
  run h5diff -q a.h5 c.h5
  assert_failure 1
}

# /units row K, column C of a quantised model
units_cell() { h5dump -d /units -s "$2,$3" -c 1,1 -y "$1" | sed -n '/DATA {/,/}/p' | grep -o '[0-9]\+' | head -1; }

@test "recon-block fits a unit's activation steps at its turn, once; --upfront-steps keeps calib's" {
  q=$(q44); d=$(fmnist_n train 64)
  # unit 1 (layer1.0): its conv2's input quantiser lies inside it
  s=/params/%2Flayer1%2Flayer1.0%2Frelu1%2FRelu_output_0.aq.step
  run recon-block "$q" "$d" --unit 1 --iters 2 --batch 8 -t 1 -q -o lazy.h5
  assert_success
  assert_output --partial "unit 1 (/relu/Relu_output_0.aq"
  assert_output --partial "steps fitted now"
  [ "$(units_cell "$q" 1 3)" = 0 ]
  [ "$(units_cell lazy.h5 1 3)" = 1 ]
  [ "$(units_cell lazy.h5 2 3)" = 0 ]
  run recon-block "$q" "$d" --unit 1 --iters 2 --batch 8 -t 1 -q --upfront-steps -o up.h5
  assert_output --partial "steps kept"
  [ "$(units_cell up.h5 1 3)" = 0 ]
  run h5diff -q lazy.h5 up.h5 "$s" "$s"
  assert_failure 1
  # a second turn keeps the steps fitted at the first (lr 4e-5 over 2 iterations moves them little)
  run recon-block lazy.h5 "$d" --unit 1 --iters 2 --batch 8 -t 1 -q -o again.h5
  assert_output --partial "steps kept"
  [ "$(units_cell again.h5 1 3)" = 1 ]
}

@test "recon-block: unit 0 sequential and independent learn the same parameters" {
  q=$(q44); d=$(fmnist_n train 64)
  recon-block "$q" "$d" --unit 0 --iters 20 --batch 16 -t 1 -q -o seq.h5 2>/dev/null
  recon-block "$q" "$d" --unit 0 --iters 20 --batch 16 -t 1 -q --independent -o unit.0.h5 2>/dev/null
  n=0
  for p in $(params_of unit.0.h5); do
    run h5diff seq.h5 unit.0.h5 "/params/$p" "/params/$p"
    echo "$p: $output"
    assert_success
    n=$((n + 1))
  done
  [ "$n" -eq 2 ] # conv1's weight step and rounding variables (the image is not quantised)
  # and they did change from the calibrated model's
  run h5diff -q "$q" unit.0.h5 /params/%2Fconv1%2FConv.wq.rounding /params/%2Fconv1%2FConv.wq.rounding
  assert_failure 1
}

@test "recon-block: the audit options (--tight-units, --qdrop-per-consumer, --unfolded-steps) change what they should" {
  q=$(q44); d=$(fmnist_n train 64)
  st=/params/%2Flayer1%2Flayer1.0%2Fconv1%2FConv.wq.step
  recon-block "$q" "$d" --unit 1 --iters 5 --batch 8 -t 1 -q -o base.h5 2>/dev/null
  # weight steps learned before folding: the same model, another step
  run recon-block "$q" "$d" --unit 1 --iters 5 --batch 8 -t 1 -q --unfolded-steps "$(ref_model)" -o uf.h5
  assert_success
  run h5diff -q base.h5 uf.h5 "$st" "$st"
  assert_failure 1
  # one QDrop mask per reader of the block input: other draws, other parameters
  run recon-block "$q" "$d" --unit 1 --iters 5 --batch 8 -t 1 -q --qdrop-per-consumer -o pc.h5
  assert_success
  run h5diff -q base.h5 pc.h5 "$st" "$st"
  assert_failure 1
  # the classifier's unit: the same error before, trained on pooled inputs
  run recon-block "$q" "$d" --unit 10 --iters 5 --batch 8 -t 1 -q -o c0.h5
  a=$(printf '%s\n' "$output" | sed -n 's/.*unit 10 .*: rec \([0-9.eE+-]*\) -> .* (train \([0-9.eE+-]*\) .*/\1 \2/p')
  run recon-block "$q" "$d" --unit 10 --iters 5 --batch 8 -t 1 -q --tight-units -o c1.h5
  assert_success
  b=$(printf '%s\n' "$output" | sed -n 's/.*unit 10 .*: rec \([0-9.eE+-]*\) -> .* (train \([0-9.eE+-]*\) .*/\1 \2/p')
  echo "unit 10 rec before, train first: $a / $b"
  [ -n "$a" ] && [ "${a% *}" = "${b% *}" ] && [ "${a#* }" != "${b#* }" ]
  # --unfolded-steps wants the FP32 model calib read
  run recon-block "$q" "$d" --unit 1 --iters 5 -t 1 -q --unfolded-steps "$ROOT/data/fmnist-resnet20.h5" -o bad.h5
  assert_failure 1
  assert_output --partial "fmnist-resnet20.h5: not the FP32 model"
  run recon-block "$q" "$d" --unit 1 --iters 5 -t 1 -q --unfolded-steps "$q" -o bad.h5
  assert_failure 1
  assert_no_output . bad
}

@test "recon-block: wrong kinds and shapes are refused, no output" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$(ref_model)" "$d" --unit 0 -o out.h5
  assert_failure 1
  assert_output --partial "is a genie model file, expected a quantised model (made by calib)"
  run recon-block "$q" "$q" --unit 0 -o out.h5
  assert_failure 1
  assert_output --partial "is a genie qmodel file, expected a dataset"
  make_dataset d32.h5 4 1 32 32
  run recon-block "$q" d32.h5 --unit 0 -o out.h5
  assert_failure 1
  assert_output --partial "d32.h5: /x holds 1x32x32 samples"
  assert_no_output . out
}

@test "recon-block: usage errors exit 2" {
  q=$(q44); d=$(fmnist_n train 64)
  for a in "" "--unit 1 --all" "--all --independent" "--unit -1" "--unit x" "--unit 1 --iters 0" \
           "--unit 1 --batch 0" "--unit 1 --seed -3" "--unit 1 --bogus"; do
    run recon-block "$q" "$d" $a -o out.h5
    echo "recon-block $a -> $status: $output"
    assert_failure 2
    assert_output --partial "Try 'recon-block --help'"
  done
  run recon-block "$q" "$d" --unit 1
  assert_failure 2
  assert_output --partial "no output file given (-o)"
  run recon-block "$q" --unit 1 -o out.h5
  assert_failure 2
  assert_no_output . out
}

@test "recon-block --early-stop stops a unit before its count, says why, the same bits twice" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --unit 0 --iters 3000 --batch 8 -t 1 -q --early-stop -o a.h5
  assert_success
  echo "$output"
  line=$(printf '%s\n' "$output" | grep '^recon-block: unit 0 stopped early after ')
  it=$(echo "$line" | sed -n 's/.*stopped early after \([0-9]*\) of 3000 iterations (schedule over 1350): held-out error average .*, best .* at iteration \([0-9]*\), 1 check every 15 without a 0.1% fall to stop, undecided [0-9.]*%, 4 samples held out$/\1 \2/p')
  # the first check is at the schedule's end (1350); the stop one check after the best
  set -- $it
  [ -n "$1" ] && [ "$2" -ge 1350 ] && [ "$1" -eq $(($2 + 15)) ] && [ "$1" -lt 3000 ]
  assert_output --partial "early stop: $1 reconstruction iterations in all (3000 without)"
  recon-block "$q" "$d" --unit 0 --iters 3000 --batch 8 -t 1 -q --early-stop -o b.h5 2>/dev/null
  cmp a.h5 b.h5
  # without the option: the fixed count, no early-stop line
  run recon-block "$q" "$d" --unit 0 --iters 20 --batch 8 -t 1 -q -o c.h5
  refute_output --partial "early stop"
}

@test "recon-block --early-stop's guard reruns an 8-bit first unit that the divided rate makes worse, counts the wasted iterations, not a 2-bit unit" {
  m=$(ref_model); d=$(fmnist_n train 64)
  calib "$m" "$d" -w 2 -a 2 --first-last 8 -t 1 -q -o q.h5
  # unit 0 (conv1 at 8 bits): about 70x worse than its start at the warm-up's end (90 of 450)
  run recon-block q.h5 "$d" --unit 0 --iters 1000 --batch 8 -t 1 -q --early-stop=0.45 -o a.h5
  assert_success
  echo "$output"
  assert_output --regexp "recon-block: unit 0: guard: held-out error [0-9.e-]+ at iteration 90 above its start [0-9.e-]+: restarted with the full rate on the 8-bit weight steps \(90 iterations run before\)"
  # 90 wasted + the schedule of 450 + one check of 5
  assert_output --partial "unit 0 stopped early after 545 of 1000 iterations (schedule over 450)"
  assert_output --partial "early stop: 545 reconstruction iterations in all (1000 without)"
  e=$(printf '%s\n' "$output" | sed -n 's/.*guard: held-out error \([0-9.e-]*\) at .* its start \([0-9.e-]*\):.*/\1 \2/p')
  awk -v e="$e" 'BEGIN{split(e, a, " "); exit !(a[1] > 2 * a[2])}'
  # the rerun ends below the calibrated start: rec A -> B with B < A
  printf '%s\n' "$output" | sed -n 's/.*unit 0 (.*rec \([0-9.e-]*\) -> \([0-9.e-]*\) .*/\1 \2/p' |
    awk '{exit !($2 < $1)}'
  recon-block q.h5 "$d" --unit 0 --iters 1000 --batch 8 -t 1 -q --early-stop=0.45 -o b.h5 2>/dev/null
  cmp a.h5 b.h5
  # unit 1 (2 bits): no guard, the schedule and one check
  run recon-block q.h5 "$d" --unit 1 --iters 1000 --batch 8 -t 1 -q --early-stop=0.45 -o c.h5
  assert_success
  refute_output --partial "guard"
  assert_output --partial "early stop: 455 reconstruction iterations in all (1000 without)"
}
