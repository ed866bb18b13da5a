#!/usr/bin/env bats
# The options and make variables added for early stop, bf16 products, the
# audit ablations and Jacobi rounds, on bad values: each is refused with one
# line naming the value (or file), exit 2 for a usage error (with "Try
# 'PROG --help'") and 1 for a bad input, and nothing is written. Their good
# values are tested beside their programs (distill.bats, recon-block.bats,
# pack.bats, pipeline.bats, blas.bats).
load helper
load quick

setup() { cd "$BATS_TEST_TMPDIR"; }

RP="$ROOT/pipelines/recon-parallel.sh"
GENIE_MK="$ROOT/pipelines/genie.mk"

# once: the reference model's statistics; a unit file of the W4A4 model
# (unit 4, one iteration) and the quantised model with it applied, which is
# another quantised model than the one the unit was made from
setup_file() {
  local q d
  q=$(q44) && d=$(fmnist_n train 64) || return 1
  cd "$BATS_FILE_TMPDIR"
  bnstats "$(ref_model)" -o stats.h5
  bnstats -q "$ROOT/data/fmnist-resnet20.h5" -o other-stats.h5
  recon-block "$q" "$d" --unit 4 --independent --iters 1 --batch 8 -t 1 -q -o unit.4.h5 2>/dev/null
  pack -q "$q" unit.4.h5 --qmodel -o q2.h5
}

# the run refused its arguments: exit 2, "PROG: ...MSG" and the Try line, nothing else
usage_refused() { # prog msg
  assert_failure 2
  [ "${#lines[@]}" = 2 ]
  assert_line -n 0 --partial "$1: "
  assert_line -n 0 --partial -- "$2"
  [[ ${lines[0]} == "$1: "* ]]
  assert_line -n 1 "Try '$1 --help' for more information."
}

# the run refused an input: exit 1, the one line "PROG: ...MSG"
input_refused() { # prog msg
  assert_failure 1
  [ "${#lines[@]}" = 1 ]
  [[ ${lines[0]} == "$1: "* ]]
  assert_line -n 0 --partial -- "$2"
}

# make stopped at a setting: exit 2, the one line "…genie.mk:N: *** MSG.  Stop."
mk_refused() { # msg
  assert_failure 2
  [ "${#lines[@]}" = 1 ]
  [[ ${lines[0]} == *"genie.mk:"[0-9]*": *** $1.  Stop." ]]
}

# nothing but the files named in $@ in the current directory
only() { run bash -c 'ls -A | sort | tr "\n" " "'; assert_output "$(printf '%s\n' "$@" | sort | grep -v '^$' | tr '\n' ' ')"; }

@test "distill --products: anything but fp32 or bf16 is a usage error, nothing written" {
  m=$(ref_model); s=$BATS_FILE_TMPDIR/stats.h5
  for v in tf32 "" FP32 bf; do
    quick distill "$m" "$s" -n 8 --products "$v" -o x.h5
    usage_refused distill "--products: '$v' is not fp32 or bf16"
  done
  quick distill "$m" "$s" -n 8 -o x.h5 --products
  usage_refused distill "option '--products' needs an argument"
  only
}

@test "distill --early-stop=P: P not a positive integer is a usage error, nothing written" {
  m=$(ref_model); s=$BATS_FILE_TMPDIR/stats.h5
  for v in 0 -5 x 1.5 "" 99999999999; do
    quick distill "$m" "$s" -n 8 --early-stop="$v" -o x.h5
    usage_refused distill "--early-stop: not a positive patience: '$v'"
  done
  # P is optional, so it is attached: apart, it is one argument too many
  quick distill "$m" "$s" -n 8 --early-stop 50 -o x.h5
  usage_refused distill "expected MODEL and STATS files, got 3 argument(s)"
  only
}

@test "distill --dry-run: checks options and inputs as a run would, computes and writes nothing" {
  m=$(ref_model); s=$BATS_FILE_TMPDIR/stats.h5
  quick distill "$m" "$s" -n 8 --batch 4 --dry-run -o x.h5 --grid g.png
  assert_success
  assert_output ""
  quick distill "$m" "$s" -n 8 --batch 4 --dry-run --products tf32 -o x.h5
  usage_refused distill "--products: 'tf32' is not fp32 or bf16"
  # the inputs are read: statistics of another model are refused, exit 1
  quick distill "$m" "$BATS_FILE_TMPDIR/other-stats.h5" -n 8 --batch 4 --dry-run -o x.h5
  input_refused distill "other-stats.h5: statistics of another model"
  quick distill "$m" "$s" -n 8 --batch 4 --dry-run=1 -o x.h5
  usage_refused distill "option '--dry-run' takes no argument"
  only
}

# distill.sh passes these on to distill; its distill --dry-run refuses them
# before GNU parallel starts: no -d directory, no job log, no output
@test "distill.sh: a bad option passed on to distill is refused at once with distill's message, nothing made" {
  m=$(ref_model); s=$BATS_FILE_TMPDIR/stats.h5
  D="$ROOT/pipelines/distill.sh"
  while IFS='|' read -r args msg; do
    # shellcheck disable=SC2086
    quick "$D" "$m" "$s" -n 8 --batch 4 -d parts -o x.h5 $args
    usage_refused distill "$msg"
    only
  done <<'EOF'
--products tf32|--products: 'tf32' is not fp32 or bf16
--products=FP32|--products: 'FP32' is not fp32 or bf16
--early-stop=0|--early-stop: not a positive patience: '0'
--early-stop=x|--early-stop: not a positive patience: 'x'
--iters 0|--iters: not a positive integer: '0'
--method magic|--method: 'magic' is not genie, pixel or noise
--lr-z -1|--lr-z: not a positive number: '-1'
--log-every=0|--log-every: not a positive integer: '0'
--seed -3|--seed
--no-swing=1|option '--no-swing' takes no argument
--bogus|unknown option '--bogus'
EOF
  # an input distill refuses: its one line, exit 1, nothing made
  quick "$D" "$m" "$BATS_FILE_TMPDIR/other-stats.h5" -n 8 --batch 4 -d parts -o x.h5
  input_refused distill "other-stats.h5: statistics of another model"
  only
}

@test "distill --early-stop under --method noise: nothing to stop, the output as without it" {
  m=$(ref_model); s=$BATS_FILE_TMPDIR/stats.h5
  run distill "$m" "$s" -n 4 --batch 4 --iters 2 -t 1 --method noise -q --early-stop=5 -o a.h5
  assert_success
  assert_output ""
  distill "$m" "$s" -n 4 --batch 4 --iters 2 -t 1 --method noise -q -o b.h5
  cmp a.h5 b.h5
  run h5dump -A a.h5
  refute_output --partial early_stop
  refute_output --partial batch_iters
}

@test "recon-block --warmup F: F outside [0, 1) is a usage error, nothing written" {
  q=$(q44); d=$(fmnist_n train 64)
  for v in 1 1.5 -0.1 x "" nan; do
    quick recon-block "$q" "$d" --unit 0 --warmup="$v" -o x.h5
    usage_refused recon-block "--warmup: not a fraction in [0, 1): '$v'"
  done
  # 0 and 0.9 are fractions: refused only for the missing DATA
  for v in 0 0.9; do
    quick recon-block "$q" --unit 0 --warmup "$v" -o x.h5
    usage_refused recon-block "expected Q and DATA files, got 1 argument(s)"
  done
  # recon-parallel.sh refuses the same before anything runs
  for v in 1 x ""; do
    quick "$ROOT/pipelines/recon-parallel.sh" "$q" "$d" --warmup "$v" -d parts -o x.h5
    usage_refused recon-parallel.sh "--warmup: not a fraction in [0, 1): '$v'"
  done
  [ ! -e parts ]
}

@test "recon-block --early-stop=F: F outside (0, 1] is a usage error, nothing written" {
  q=$(q44); d=$(fmnist_n train 64)
  for v in 0 -0.5 1.5 x "" nan 1e-7; do
    quick recon-block "$q" "$d" --unit 0 --early-stop="$v" -o x.h5
    usage_refused recon-block "--early-stop: not a fraction in (0, 1]: '$v'"
  done
  quick recon-block "$q" "$d" --unit 0 --early-stop 0.5 -o x.h5
  usage_refused recon-block "expected Q and DATA files, got 3 argument(s)"
  # one QDrop mask per consumer does not go with it: refused before Q is read
  quick recon-block "$q" "$d" --unit 0 --early-stop --qdrop-per-consumer -o x.h5
  usage_refused recon-block "--qdrop-per-consumer does not go with --early-stop"
  # refitting steps that --upfront-steps keeps: refused, not silently ignored
  quick recon-block "$q" "$d" --unit 0 --refit-steps --upfront-steps -o x.h5
  usage_refused recon-block "--refit-steps does not go with --upfront-steps"
  only
}

@test "recon-block --early-stop: DATA of one sample is refused, naming it, nothing written" {
  make_dataset d1.h5 1 1 28 28
  run recon-block "$(q44)" d1.h5 --unit 0 --iters 2 -t 1 -q --early-stop -o x.h5
  input_refused recon-block "d1.h5: only 1 sample(s): --early-stop holds samples out and needs at least 2"
  only d1.h5
}

@test "recon-block: --independent, --upfront-steps, --tight-units, --qdrop-per-consumer, --refit-steps, --fp-input take no value" {
  q=$(q44); d=$(fmnist_n train 64)
  for o in independent upfront-steps tight-units qdrop-per-consumer refit-steps fp-input; do
    quick recon-block "$q" "$d" --unit 0 --$o=1 -o x.h5
    usage_refused recon-block "option '--$o' takes no argument"
  done
  only
}

@test "recon-block --unfolded-steps: a missing, damaged or wrong model is refused, naming it, nothing written" {
  q=$(q44); d=$(fmnist_n train 64)
  run recon-block "$q" "$d" --unit 0 --iters 2 -t 1 -q --unfolded-steps nosuch.h5 -o x.h5
  input_refused recon-block "nosuch.h5: No such file or directory"
  echo text >junk.h5
  run recon-block "$q" "$d" --unit 0 --iters 2 -t 1 -q --unfolded-steps junk.h5 -o x.h5
  input_refused recon-block "junk.h5: not an HDF5 file (or truncated)"
  head -c 100000 "$(ref_model)" >cut.h5
  run recon-block "$q" "$d" --unit 0 --iters 2 -t 1 -q --unfolded-steps cut.h5 -o x.h5
  input_refused recon-block "cut.h5: cannot open as HDF5 (truncated or damaged?)"
  run recon-block "$q" "$d" --unit 0 --iters 2 -t 1 -q --unfolded-steps "$d" -o x.h5
  input_refused recon-block "$d: is a genie dataset file, expected a model file"
  run recon-block "$q" "$d" --unit 0 --iters 2 -t 1 -q --unfolded-steps "$q" -o x.h5
  input_refused recon-block "$q: is a genie qmodel file, expected a model file"
  # an FP32 model of the same graph, but not the one calib read (the trained teacher)
  run recon-block "$q" "$d" --unit 0 --iters 2 -t 1 -q --unfolded-steps "$ROOT/data/fmnist-resnet20.h5" -o x.h5
  input_refused recon-block "fmnist-resnet20.h5: not the FP32 model $q quantises (its SHA-256 differs)"
  quick recon-block "$q" "$d" --unit 0 -o x.h5 --unfolded-steps
  usage_refused recon-block "option '--unfolded-steps' needs an argument"
  only junk.h5 cut.h5
}

@test "an empty file name is a usage error naming the option or operand, in every program, nothing written" {
  q=$(q44); d=$(fmnist_n train 64); m=$(ref_model); s=$BATS_FILE_TMPDIR/stats.h5
  quick recon-block "$q" "$d" --unit 0 --unfolded-steps '' -o x.h5
  usage_refused recon-block "--unfolded-steps: empty file name"
  quick recon-block "$q" "$d" --unit 0 --unfolded-steps= -o x.h5
  usage_refused recon-block "--unfolded-steps: empty file name"
  quick recon-block "$q" '' --unit 0 -o x.h5
  usage_refused recon-block "operand 2: empty file name"
  quick recon-block "$q" "$d" --unit 0 -o ''
  usage_refused recon-block "-o: empty file name"
  quick distill "$m" "$s" -n 4 --batch 4 --grid '' -o x.h5
  usage_refused distill "--grid: empty file name"
  quick distill "$m" "$s" -n 4 --batch 4 -qg '' -o x.h5
  usage_refused distill "-g: empty file name"
  quick distill '' "$s" --output=
  usage_refused distill "operand 1: empty file name"
  quick pack "$q" '' -o x.h5
  usage_refused pack "operand 2: empty file name"
  quick bnstats "$m" --data '' -o x.h5
  usage_refused bnstats "--data: empty file name"
  quick calib '' "$d" -w 4 -a 4 -o x.h5
  usage_refused calib "operand 1: empty file name"
  quick genie-eval "$m" ''
  usage_refused genie-eval "operand 2: empty file name"
  quick h5cat "$d" '' -o x.h5
  usage_refused h5cat "operand 2: empty file name"
  quick onnx2h5 '' -o x.h5
  usage_refused onnx2h5 "operand 1: empty file name"
  quick export-onnx "$m" --output ''
  usage_refused export-onnx "--output: empty file name"
  for o in -o --output -d --dir -g --grid; do
    quick "$ROOT/pipelines/distill.sh" "$m" "$s" -n 4 --batch 4 -d parts -o x.h5 "$o" ''
    usage_refused distill.sh "$o: empty file name"
  done
  for o in --output --dir --grid; do
    quick "$ROOT/pipelines/distill.sh" "$m" "$s" -n 4 --batch 4 -d parts -o x.h5 "$o="
    usage_refused distill.sh "$o: empty file name"
  done
  # where no command line is at hand (a file read before the check), gn_h5_open says so
  quick calib --list-units ''
  input_refused calib "empty file name"
  only
}

@test "pack --qmodel: takes no value; a unit of another model, a missing unit, a model as Q are refused, nothing written" {
  q=$(q44); u=$BATS_FILE_TMPDIR/unit.4.h5
  quick pack "$q" "$u" --qmodel=1 -o x.h5
  usage_refused pack "option '--qmodel' takes no argument"
  run pack -q "$BATS_FILE_TMPDIR/q2.h5" "$u" --qmodel -o x.h5
  input_refused pack "unit.4.h5: made from another calibrated model"
  run pack -q "$q" nosuch.h5 --qmodel -o x.h5
  input_refused pack "nosuch.h5: No such file or directory"
  run pack -q "$(ref_model)" "$u" --qmodel -o x.h5
  input_refused pack "is a genie model file, expected a quantised model (made by calib)"
  run pack -q "$q" "$q" --qmodel -o x.h5
  input_refused pack "is a genie qmodel file, expected a unit file (recon-block --independent)"
  quick pack "$q" --qmodel
  usage_refused pack "no output file given (-o)"
  only
}

@test "pack: the same unit twice (two rounds' files, or one file named twice) is refused, naming both, nothing written" {
  q=$(q44); u=$BATS_FILE_TMPDIR/unit.4.h5
  mkdir r2 && cp "$u" r2/unit.4.h5
  for o in --qmodel ""; do
    # shellcheck disable=SC2086
    quick pack -q "$q" "$u" r2/unit.4.h5 $o -o x.h5
    input_refused pack "$u, r2/unit.4.h5: both hold unit 4 (give each unit once)"
  done
  quick pack -q "$q" "$u" "$u" -o x.h5
  input_refused pack "$u: given twice (unit 4)"
  # caught before Q is read, and whatever stands between the two
  quick pack -q "$q" "$u" nosuch.h5 r2/unit.4.h5 -o x.h5
  input_refused pack "$u, r2/unit.4.h5: both hold unit 4"
  only r2
  # each once is fine
  run pack -q "$q" r2/unit.4.h5 --qmodel -o x.h5
  assert_success
}

@test "recon-parallel.sh --rounds, --round-iters: not a positive count is a usage error, at once, nothing made" {
  for o in -r --rounds --round-iters; do
    for v in 0 x -1 2.5 ""; do
      quick "$RP" a.h5 b.h5 "$o" "$v" -o sub/p.h5
      usage_refused recon-parallel.sh "$o: not a positive count: '$v'"
    done
  done
  for o in --rounds --round-iters; do
    quick "$RP" a.h5 b.h5 -o sub/p.h5 "$o"
    usage_refused recon-parallel.sh "$o needs a value"
    quick "$RP" a.h5 b.h5 "$o=2" -o sub/p.h5
    usage_refused recon-parallel.sh "unknown option '$o=2'"
  done
  only
}

@test "genie.mk MODE=jacobi ROUNDS=, ROUND_ITERS=: bad values stop make at once, one line, nothing made" {
  m=$(ref_model)
  for v in 0 x 101 "" -1 2.5; do
    quick make -s -f "$GENIE_MK" MODEL="$m" MODE=jacobi ROUNDS="$v"
    mk_refused "ROUNDS=$v: expected an integer in 1..100"
  done
  for v in 0 x -2 1e3; do
    quick make -s -f "$GENIE_MK" MODEL="$m" MODE=jacobi ROUND_ITERS="$v"
    mk_refused "ROUND_ITERS=$v: expected an integer in 1..100000000"
  done
  quick make -s -f "$GENIE_MK" MODEL="$m" MODE=independent ROUND_ITERS=5
  mk_refused "ROUND_ITERS=5 takes MODE=jacobi, not independent"
  only
}

@test "genie.mk EARLY_STOP=, PRODUCTS=: bad values stop make at once, one line, nothing made" {
  m=$(ref_model)
  for v in yes 2 on; do
    quick make -s -f "$GENIE_MK" MODEL="$m" EARLY_STOP="$v"
    mk_refused "EARLY_STOP=$v: expected 1 or empty"
  done
  quick make -s -f "$GENIE_MK" MODEL="$m" EARLY_STOP=1 MODE=independent
  mk_refused "EARLY_STOP=1 takes MODE=sequential, not independent"
  for v in tf32 "" BF16 fp16; do
    quick make -s -f "$GENIE_MK" MODEL="$m" PRODUCTS="$v"
    mk_refused "PRODUCTS=$v: expected fp32 or bf16"
  done
  only
}

@test "genie-info: bf16_products with GN_NO_BF16 empty or 0 is as without it (genie(7): set and not 0)" {
  want=$(genie-info | grep '^bf16_products: ')
  [ -n "$want" ]
  for v in "" 0; do
    run env GN_NO_BF16="$v" genie-info
    assert_success
    assert_line "$want"
  done
  run env GN_NO_BF16=yes genie-info
  assert_line "bf16_products: no (GN_NO_BF16 is set)"
}
