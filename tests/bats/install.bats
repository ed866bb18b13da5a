#!/usr/bin/env bats
# make install into a staging directory (DESTDIR + PREFIX): programs, the
# eval alias, man pages, genie.mk and its scripts in PREFIX/share/genie,
# where genie.mk finds the installed programs with nothing else on PATH;
# make uninstall removes all of it.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# the build variant in use (make check SANITIZE=1 builds san): install that
# one, so that installing relinks nothing
mk() { local s=''; [ "$(cat "$ROOT/build/variant" 2>/dev/null)" = san ] && s=SANITIZE=1
       make -s -C "$ROOT" $s "$@"; }

@test "make install / uninstall: everything under DESTDIR/PREFIX, and back out" {
  D=$BATS_TEST_TMPDIR/stage P=/opt/genie
  run mk install DESTDIR="$D" PREFIX="$P"
  assert_success
  for p in bnstats calib distill genie-eval genie-info h5cat idx2h5 onnx2h5 pack recon-block train; do
    [ -x "$D$P/bin/$p" ] && [ ! -L "$D$P/bin/$p" ]
  done
  [ "$(readlink "$D$P/bin/eval")" = genie-eval ]
  [ -f "$D$P/share/man/man1/genie-eval.1" ] && [ -f "$D$P/share/man/man1/eval.1" ]
  [ -f "$D$P/share/man/man7/genie-method.7" ] && [ -f "$D$P/share/man/man5/genie-model.5" ]
  [ -f "$D$P/share/genie/genie.mk" ]
  for s in distill.sh recon-parallel.sh parallel.bash plot-loss.sh slurm-array.sbatch wave-plan.sh; do
    [ -x "$D$P/share/genie/$s" ]
  done
  # the alias page is the program's page
  run man -M "$D$P/share/man" -P cat eval
  assert_success
  assert_output --partial "genie-eval, eval - accuracy of a genie model"
  run mk uninstall DESTDIR="$D" PREFIX="$P"
  assert_success
  run find "$D" -type f -o -type l
  assert_output ""
}

@test "installed genie.mk runs the installed programs, with only the system on PATH" {
  D=$BATS_TEST_TMPDIR/stage P=/usr
  mk install DESTDIR="$D" PREFIX="$P"
  cp "$(ref_model)" model.h5
  make_dataset real.h5 16 1 28 28
  export PATH=/usr/bin:/bin
  run command -v calib
  assert_failure
  run make -f "$D$P/share/genie/genie.mk" MODEL=model.h5 REAL=real.h5 SAMPLES=16 OUT=o THREADS=1 QUIET=1 calib
  assert_success
  assert_output --partial "$D$P/bin/calib model.h5 o/real.h5 -w 4 -a 4"
  [ -f o/q.0.h5 ]
  # the installed drivers find them too
  run "$D$P/share/genie/recon-parallel.sh" -q -j 1 -t 1 -i 2 -b 4 o/q.0.h5 o/real.h5 -d o
  assert_success
  [ -f o/unit.10.h5 ]
  run "$D$P/share/genie/distill.sh" --help
  assert_success
  # BIN= pointing nowhere is refused before anything runs
  run make -s -f "$D$P/share/genie/genie.mk" MODEL=model.h5 BIN=/nonexistent
  assert_failure 2
  assert_output --partial "BIN=/nonexistent: genie's programs are not there"
  # with no programs beside it and none on PATH, genie.mk says so
  mkdir -p lone && cp "$D$P/share/genie/genie.mk" lone/
  run make -s -f lone/genie.mk MODEL=model.h5
  assert_failure 2
  assert_output --partial "genie's programs are neither beside pipelines/ nor on PATH"
}
