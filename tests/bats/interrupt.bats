#!/usr/bin/env bats
# Interrupted pipelines (issue 17): genie.mk killed with SIGKILL at random
# moments (the whole session: make, GNU parallel and every program, as a
# crash or a power cut would), then run again, ends with the same bytes as
# an uninterrupted run; and right after each kill, every stage output under
# its final name is complete: byte for byte the uninterrupted run's file.
load helper

# TMPDIR too: a SIGKILLed distill.sh cannot remove its temporary directory
# (no trap runs), so it would be left in /tmp after every run of this test
setup() { cd "$BATS_TEST_TMPDIR"; export TMPDIR="$BATS_TEST_TMPDIR"; }

GENIE_MK="$ROOT/pipelines/genie.mk"
# a tiny zero-shot job: 2 distillation batches, 3 units, a 30-image test set
ARGS=(-f "$GENIE_MK" MODEL=model.h5 TEST=test.h5 OUT=out SAMPLES=16 BATCH=8 DISTILL_ITERS=3
      RECON_ITERS=4 RECON_BATCH=4 THREADS=1 JOBS=2 QUIET=1)

# the labelled test set (labels 0..2: the tiny model has 3 classes)
test_set() {
  local d; d=$(mktemp -d)
  awk 'BEGIN{srand(3); for(i=0;i<30*64;i++) printf "%.4f\n", 2*rand()-1}' >"$d/x.txt"
  awk 'BEGIN{for(i=0;i<30;i++) print i%3}' >"$d/y.txt"
  printf 'PATH x\nINPUT-CLASS TEXTFP\nRANK 4\nDIMENSION-SIZES 30 1 8 8\nOUTPUT-CLASS FP\nOUTPUT-SIZE 32\n' >"$d/x.cfg"
  printf 'PATH y\nINPUT-CLASS TEXTIN\nRANK 1\nDIMENSION-SIZES 30\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\n' >"$d/y.cfg"
  h5import "$d/x.txt" -c "$d/x.cfg" "$d/y.txt" -c "$d/y.cfg" -o "$1" >/dev/null
  rm -rf "$d"
}

# the stage outputs under their final names (no temporaries; no job logs,
# whose timings differ from run to run; no .args stamps, which hold the
# absolute path of MODEL)
finals() { (cd "$1/out" && ls | grep -vE '\.tmp|joblog|\.args$' | sort); }

# a process of session $1 that is not a zombie
live() { ps -s "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

@test "genie.mk killed with SIGKILL at random moments, then rerun, ends with the uninterrupted bytes" {
  mkdir ref
  fixture tiny ref/model.h5
  test_set ref/test.h5
  t0=$(date +%s%N)
  (cd ref && make -s "${ARGS[@]}" >/dev/null)
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  echo "uninterrupted run: $ms ms"
  [ -s ref/out/model.int.h5 ] && [ -s ref/out/result.json ]
  kills=0
  for seed in 1 2 3; do
    rm -rf run; mkdir run; cp ref/model.h5 ref/test.h5 run/
    RANDOM=$seed
    # two kills in a row, each at a random moment of a run, then a full run
    for round in 1 2; do
      delay=$(( RANDOM % (ms > 100 ? ms : 100) ))
      (cd run && exec setsid make -s "${ARGS[@]}" >/dev/null 2>&1) &
      pid=$!
      sleep "$(awk -v d="$delay" 'BEGIN{printf "%.3f", d/1000}')"
      pkill -KILL -s "$pid" 2>/dev/null && kills=$((kills + 1))
      wait "$pid" 2>/dev/null || true
      # kill again until no live process is left in the session: GNU
      # parallel forks placeholder `sleep 10101` processes at start-up, and
      # one forked after pkill read the process list would outlive the kill
      # by hours. A process ending between the check and pkill makes pkill
      # fail (not an error here); zombies are not live (pgrep counts them).
      for i in $(seq 200); do live "$pid" || break; pkill -KILL -s "$pid" 2>/dev/null || true; sleep 0.05; done
      if live "$pid"; then echo "session $pid: live processes after 10 s of kills:"; ps -s "$pid" -o pid=,stat=,args=; false; fi
      # whatever carries a final name now is complete
      for f in $(finals run); do
        cmp -s "ref/out/$f" "run/out/$f" || { echo "seed $seed round $round: out/$f is partial or differs"; false; }
      done
    done
    (cd run && make -s "${ARGS[@]}" >/dev/null)
    [ "$(finals ref)" = "$(finals run)" ]
    for f in $(finals ref); do
      cmp "ref/out/$f" "run/out/$f" || { echo "seed $seed: out/$f differs after the rerun"; false; }
    done
  done
  echo "$kills kills"
  [ "$kills" -ge 3 ]
}
