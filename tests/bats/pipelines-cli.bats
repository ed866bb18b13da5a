#!/usr/bin/env bats
# pipelines/: every script answers -h/--help, and refuses bad arguments or
# settings at once (exit 2, within a second) before it makes anything;
# recon-parallel.sh's 2-bit warning comes once, and not under -q.
load helper
load quick

setup() { cd "$BATS_TEST_TMPDIR"; }

P="$ROOT/pipelines"
SCRIPTS="demo.sh distill.sh ladder.sh onnx-check.sh parallel.bash plot-early-stop.sh plot-loss.sh recon-parallel.sh reference-table.sh seed-table.sh slurm-array.sbatch teacher.sh walltime.sh wave-plan.sh"

# nothing but the files named in $@ in the current directory
only() { run bash -c 'ls -A | sort | tr "\n" " "'; assert_output "$(printf '%s\n' "$@" | sort | grep -v '^$' | tr '\n' ' ')"; }

@test "pipelines: every script is in this file's list" {
  for f in "$P"/*.sh "$P"/*.bash "$P"/*.sbatch; do
    case " $SCRIPTS " in *" ${f##*/} "*) ;; *) echo "${f##*/} is not in SCRIPTS"; return 1 ;; esac
  done
}

@test "pipelines: every script's -h and --help print its usage on stdout and exit 0" {
  for s in $SCRIPTS; do
    for h in -h --help; do
      quick bash -c "WORK=w OUT=o '$P/$s' $h 2>err"
      assert_success
      assert_output --partial "$s"
      [ "$s" = parallel.bash ] || assert_output --partial "2 usage error"
      [ ! -s err ]
    done
  done
  run make -s -f "$P/genie.mk" help
  assert_success
  assert_output --partial "Variables (default):"
  rm -f err
  only
}

@test "pipelines: unknown options and extra arguments are usage errors, before anything is made" {
  T=$BATS_TEST_TMPDIR
  for c in "ladder.sh --bogus" "ladder.sh $T/o extra" "reference-table.sh --bogus" \
           "reference-table.sh $T/o extra" "teacher.sh --bogus" "teacher.sh vgg16" "demo.sh $T/o" \
           "plot-loss.sh --bogus" "plot-early-stop.sh --bogus" "plot-early-stop.sh -o x.png a:b" \
           "plot-early-stop.sh -o x.png --distill -1 a:1:j" "plot-early-stop.sh -o x.png --full 0 a:1:j" \
           "plot-early-stop.sh -o x.png" \
           "recon-parallel.sh --bogus" "recon-parallel.sh -i x q.h5 d.h5" \
           "distill.sh m.h5" "slurm-array.sbatch distill a b" "parallel.bash" \
           "seed-table.sh --bogus" "onnx-check.sh m.h5" "walltime.sh --bogus" "walltime.sh extra" "wave-plan.sh --bogus" "wave-plan.sh a b"; do
    quick env WORK="$T/w" OUT="$T/o" "$P/${c%% *}" ${c#* }
    assert_failure 2
    s=${c%% *}
    assert_output --partial "$s: "
    assert_output --partial "Try '$s --help' for more information."
  done
  only
}

@test "pipelines: bad settings in the environment are usage errors, before anything is made" {
  T=$BATS_TEST_TMPDIR
  quick env SAMPLES=x "$P/ladder.sh" "$T/o"
  assert_failure 2
  assert_output --partial "ladder.sh: SAMPLES=x: not a positive count"
  quick env SAMPLES=100 "$P/ladder.sh" "$T/o"
  assert_failure 2
  assert_output --partial "not a multiple of the distillation batch"
  quick env RITERS=0 "$P/reference-table.sh" "$T/o"
  assert_failure 2
  assert_output --partial "reference-table.sh: RITERS=0: not a positive count"
  quick env EPOCHS=many WORK="$T/w" "$P/teacher.sh"
  assert_failure 2
  assert_output --partial "teacher.sh: EPOCHS=many: not a positive count"
  quick env DEMO_RECON_ITERS=-3 OUT="$T/o" "$P/demo.sh"
  assert_failure 2
  assert_output --partial "demo.sh: DEMO_RECON_ITERS=-3: not a positive count"
  quick env SLURM_ARRAY_TASK_ID=0 "$P/slurm-array.sbatch" fly a.h5 b.h5 "$T/o"
  assert_failure 2
  assert_output --partial "unknown stage 'fly'"
  quick env SLURM_ARRAY_TASK_ID=0 "$P/slurm-array.sbatch" recon a.h5 b.h5 "$T/o"
  assert_failure 1
  assert_output "slurm-array.sbatch: a.h5: No such file or directory"
  [ ! -e "$T/o" ] && [ ! -e "$T/w" ]
  only
}

@test "pipelines: a missing input fails at once and leaves no directory" {
  quick "$P/recon-parallel.sh" nosuch.h5 d.h5 -o sub/p.h5
  assert_failure 1
  assert_output "recon-parallel.sh: nosuch.h5: No such file or directory"
  quick "$P/distill.sh" nosuch.h5 st.h5 -n 4 --batch 2 -d sub -o sub/s.h5
  assert_failure 1
  assert_output "distill.sh: nosuch.h5: No such file or directory"
  # not a calibrated model: calib --list-units says so, still nothing made
  make_dataset d.h5 4 1 28 28
  quick "$P/recon-parallel.sh" d.h5 d.h5 -o sub/p.h5
  assert_failure 1
  assert_output "calib: d.h5: is not a genie file, expected a quantised model (made by calib)"
  [ ! -e sub ]
  only d.h5
}

@test "recon-parallel.sh: the 2-bit warning is printed once, and not under -q" {
  make_dataset d.h5 16 1 28 28
  calib "$(ref_model)" d.h5 -w 2 -a 4 -q -o q.h5
  run "$P/recon-parallel.sh" -j 2 -t 1 -i 2 -b 4 q.h5 d.h5 -o p.h5
  assert_success
  [ "$(grep -c 'warning: q.h5 has 2-bit weights: independent reconstruction' <<<"$output")" = 1 ]
  [ "$(grep -c '): rec ' <<<"$output")" = 11 ]      # every unit's line still comes through
  [ -f p.h5 ]
  rm -f p.h5 unit.*.h5
  run "$P/recon-parallel.sh" -q -j 2 -t 1 -i 2 -b 4 q.h5 d.h5 -o p.h5
  assert_success
  refute_output --partial "warning"
  [ -f p.h5 ]
  # a failing unit still fails the run (the filter keeps recon-block's status)
  rm -f p.h5 unit.*.h5
  make_dataset bad.h5 4 3 8 8
  run "$P/recon-parallel.sh" -q -j 2 -t 1 -i 2 -b 4 q.h5 bad.h5 -o p.h5
  assert_failure 1
  assert_output --partial "recon-parallel.sh: reconstruction failed"
  [ ! -e p.h5 ]
}

@test "plot-early-stop.sh: top-1 against total iterations from recon-block logs and genie-eval outputs, as a PNG" {
  echo 'recon-block: early stop: 1220 reconstruction iterations in all (4000 without)' >es.log
  echo '{"top1": 0.901200, "top5": 0.999000, "loss": 0.3, "n": 10000}' >full.json
  echo '{"top1": 0.899000, "top5": 0.999000, "loss": 0.3, "n": 10000}' >es.json
  echo '{"fp32": {"top1": 0.93}, "quantised": {"top1": 0.8, "top5": 0.99}}' >result.json
  quick "$P/plot-early-stop.sh" -o c.png --distill 600 --full 4600 "W2A2 seed 0:4000:full.json" "W2A2 seed 0:es.log:es.json" \
    "W2A2 seed 1:4000:full.json" "W2A2 seed 1:es.log:result.json"
  assert_success
  [ "$(head -c 8 c.png | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
  # a log without the early-stop total, a file without top1: exit 1, named, no PNG
  echo 'recon-block: unit 0 ...' >full.log
  quick "$P/plot-early-stop.sh" -o d.png "a:full.log:es.json"
  assert_failure 1
  assert_output --partial "full.log: no 'early stop: N reconstruction iterations in all' line"
  quick "$P/plot-early-stop.sh" -o d.png "a:1:es.log"
  assert_failure 1
  assert_output --partial "es.log: no top1"
  [ ! -e d.png ]
}
