#!/usr/bin/env bats
# distill: Genie-D, the pixel and noise baselines, batches across processes.
load helper
bats_require_minimum_version 1.5.0

setup() { cd "$BATS_TEST_TMPDIR"; }

h5str() { h5dump -a "$2" "$1" | sed -n 's/.*(0): *"\(.*\)".*/\1/p' | head -n 1; }
# the rows of /loss as "total mean std" lines
loss_rows() {
  local b; b=$(mktemp "$BATS_TEST_TMPDIR/loss.XXXXXX")
  h5dump -d /loss -b LE -o "$b" "$1" >/dev/null && od -An -v -f -w12 "$b"
}
dims() { h5dump -H -d "$2" "$1" | sed -n 's/.*SIMPLE { ( \([0-9, ]*\) ).*/\1/p'; }

@test "distill --help prints usage and exits 0" {
  run distill --help
  assert_success
  assert_output --partial "Usage: distill MODEL.h5 STATS.h5 -o SYNTH.h5"
}

@test "distill: a genie dataset with /x, /loss and the provenance" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  run distill m.h5 s.h5 -o x.h5 -n 8 --batch 4 --iters 5 --seed 7 -q
  assert_success
  assert_output ""
  [ "$(dims x.h5 /x)" = "8, 1, 8, 8" ]
  [ "$(dims x.h5 /loss)" = "10, 3" ]
  [ "$(dims x.h5 /loss_iter)" = "10" ]
  [ "$(h5str x.h5 genie_kind)" = dataset ]
  [ "$(h5str x.h5 method)" = genie ]
  [ "$(h5str x.h5 seed)" = 7 ]
  [ "$(h5str x.h5 model_sha256)" = "$(sha256sum m.h5 | cut -d' ' -f1)" ]
  for a in n batch iters swing latent_dim lr_z lr_g plateau_patience g_lr_gamma adam_eps batches; do
    h5dump -a "$a" x.h5 >/dev/null
  done
  [ "$(h5attr x.h5 iters)" = 5 ]
  [ "$(h5attr x.h5 swing)" = 1 ]
  # total = mean term + std term on every row
  loss_rows x.h5 | awk '{ d = $1 - $2 - $3; if (d < 0) d = -d; if (d > 1e-5 * $1) bad++ } END { exit bad > 0 }'
}

@test "distill: 200 genie iterations on ResNet-20 (batch 32) cut the loss below a quarter" {
  m=$(ref_model)
  bnstats "$m" -o s.h5
  run distill "$m" s.h5 -o x.h5 -n 32 --batch 32 --iters 200 --threads 1 -q
  assert_success
  loss_rows x.h5 >rows.txt
  [ "$(wc -l <rows.txt)" = 200 ]
  first=$(head -n 1 rows.txt | awk '{ print $1 }'); last=$(tail -n 1 rows.txt | awk '{ print $1 }')
  echo "first $first last $last"
  awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < f / 4) }'
}

@test "distill: batches made by separate processes and joined are bit-identical" {
  m=$(ref_model)
  bnstats "$m" -o s.h5
  distill "$m" s.h5 -o all.h5 -n 12 --batch 4 --iters 3 --seed 5 --threads 1 -q
  for k in 2 0 1; do
    distill "$m" s.h5 -o part$k.h5 -n 12 --batch 4 --iters 3 --seed 5 --batch-index $k --threads 1 -q
  done
  h5cat part0.h5 part1.h5 part2.h5 -o joined.h5
  h5diff all.h5 joined.h5 /x /x
  h5diff all.h5 joined.h5 /loss /loss
  [ "$(dims joined.h5 /x)" = "12, 1, 28, 28" ]
  # and the batches differ from each other, and from another seed
  run h5diff -q part0.h5 part1.h5 /x /x
  assert_failure
  distill "$m" s.h5 -o other.h5 -n 12 --batch 4 --iters 3 --seed 6 --batch-index 0 --threads 1 -q
  run h5diff -q part0.h5 other.h5 /x /x
  assert_failure
}

@test "distill: pipelines/distill.sh makes the same file with GNU parallel" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  distill m.h5 s.h5 -o one.h5 -n 12 --batch 4 --iters 10 --threads 1 -q
  run "$ROOT/pipelines/distill.sh" m.h5 s.h5 -o par.h5 -n 12 --batch 4 --iters 10 -j 2 --grid g.png
  assert_success
  h5diff one.h5 par.h5 /x /x
  h5diff one.h5 par.h5 /loss /loss
  [ -f g.0.png ] && [ -f g.2.png ]
  # a failing job: nothing joined
  bnstats "$(ref_model)" -o other.h5
  run "$ROOT/pipelines/distill.sh" m.h5 other.h5 -o bad.h5 -n 8 --batch 4 --iters 2 -j 2
  assert_failure 1
  assert_output --partial "statistics of another model"
  assert_no_output . 'bad\.h5'
}

@test "pipelines/plot-loss.sh draws the loss curves of distill outputs" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  distill m.h5 s.h5 -o a.h5 -n 4 --batch 4 --iters 20 -q
  distill m.h5 s.h5 -o b.h5 -n 4 --batch 4 --iters 20 --no-swing -q
  run "$ROOT/pipelines/plot-loss.sh" -o curves.png a.h5 b.h5
  assert_success
  [ "$(head -c 8 curves.png | od -An -t x1 | tr -d ' ')" = 89504e470d0a1a0a ]
  run "$ROOT/pipelines/plot-loss.sh" -o c.png m.h5
  assert_failure 1
  assert_no_output . 'c\.png'
}

@test "distill --method pixel lowers the loss; noise is N(0,1) with one loss row" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  run distill m.h5 s.h5 -o p.h5 -n 4 --batch 4 --iters 40 --method pixel -q
  assert_success
  [ "$(h5str p.h5 method)" = pixel ]
  loss_rows p.h5 >rows.txt
  awk 'NR == 1 { f = $1 } END { exit !($1 < f) }' rows.txt
  run distill m.h5 s.h5 -o n.h5 -n 64 --batch 32 --method noise -q
  assert_success
  [ "$(dims n.h5 /loss)" = "2, 3" ]
  h5dump -d /x -b LE -o x.bin n.h5 >/dev/null
  od -An -v -f -w4 x.bin | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = q / n - m * m; exit !(n == 4096 && m < 0.05 && m > -0.05 && v > 0.9 && v < 1.1) }'
}

@test "distill --no-swing and --grid: recorded, and a PNG is written" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  run distill m.h5 s.h5 -o x.h5 -n 8 --batch 8 --iters 3 --no-swing --grid g.png -q
  assert_success
  [ "$(h5attr x.h5 swing)" = 0 ]
  [ "$(head -c 8 g.png | od -An -t x1 | tr -d ' ')" = 89504e470d0a1a0a ]
}

@test "distill: a model without BatchNorm is refused, nothing written" {
  fixture tiny m.h5
  fixture nobn nobn.h5
  bnstats m.h5 -o s.h5
  run distill nobn.h5 s.h5 -o x.h5 -n 4 --batch 4 --iters 2
  assert_failure 1
  assert_output "distill: nobn.h5: model has no BatchNorm layer (Genie-D needs BatchNorm statistics)"
  assert_no_output . 'x\.h5'
}

@test "distill: statistics of another model are refused, nothing written" {
  fixture tiny m.h5
  fixture tiny2 m2.h5
  bnstats m2.h5 -o s2.h5
  run distill m.h5 s2.h5 -o x.h5 -n 4 --batch 4 --iters 2 --grid g.png
  assert_failure 1
  assert_output --regexp "^distill: s2.h5: statistics of another model \(made from a model with SHA-256 [0-9a-f]{12}\.\.\., m.h5 has [0-9a-f]{12}\.\.\.\)$"
  bnstats "$(ref_model)" -o sr.h5
  run distill m.h5 sr.h5 -o x.h5 -n 4 --batch 4 --iters 2
  assert_failure 1
  assert_output --partial "statistics of another model"
  run distill m.h5 m.h5 -o x.h5 -n 4 --batch 4 --iters 2
  assert_failure 1
  assert_output "distill: m.h5: is a genie model file, expected a bnstats file"
  assert_no_output . 'x\.h5|g\.png'
}

@test "distill: N not a multiple of the batch, and other usage errors, exit 2" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  run distill m.h5 s.h5 -o x.h5 -n 10 --batch 4
  assert_failure 2
  assert_line --index 0 "distill: -n 10 is not a multiple of the batch size 4"
  assert_line --index 1 "Try 'distill --help' for more information."
  run distill m.h5 s.h5 -o x.h5 -n 8 --batch 4 --batch-index 2
  assert_failure 2
  assert_output --partial "--batch-index 2: the job has only 2 batches (0..1)"
  run distill m.h5 s.h5 -o x.h5 --method magic
  assert_failure 2
  run distill m.h5 s.h5 -o x.h5 --batch 1
  assert_failure 2
  run distill m.h5 s.h5
  assert_failure 2
  run distill m.h5 -o x.h5
  assert_failure 2
  run distill m.h5 s.h5 -o x.h5 --iters 0
  assert_failure 2
  assert_no_output . 'x\.h5'
}

@test "distill --early-stop stops a batch once its loss stalls, says why, the same bits twice" {
  fixture tiny m.h5
  bnstats m.h5 -o s.h5
  run distill m.h5 s.h5 -o a.h5 -n 8 --batch 4 --iters 3000 --seed 7 -q --early-stop=50
  assert_success
  echo "$output"
  for k in 0 1; do
    line=$(printf '%s\n' "$output" | grep "^distill: batch $k stopped early at iteration ")
    it=$(echo "$line" | sed -n "s/.*at iteration \([0-9]*\) of 3000: the loss's moving average .* is not 0.1% below its best .* (iteration [0-9]*) for 50 iterations$/\1/p")
    [ -n "$it" ] && [ "$it" -ge 200 ] && [ "$it" -lt 3000 ]
    # the rows after the stop are NaN, the one at it is not
    r=$(loss_rows a.h5 | sed -n "$((k * 3000 + it))p;$((k * 3000 + it + 1))p" | tr '\n' ' ')
    echo "batch $k rows $it, $((it + 1)): $r"
    echo "$r" | awk '{ exit !($1 == $1 + 0 && $4 ~ /nan/) }'
  done
  [ "$(h5attr a.h5 early_stop)" = 50 ]
  h5dump -a batch_iters a.h5 >/dev/null
  distill m.h5 s.h5 -o b.h5 -n 8 --batch 4 --iters 3000 --seed 7 -q --early-stop=50 2>/dev/null
  cmp a.h5 b.h5
  # the batch kept is the full run's at the stop iteration
  it0=$(printf '%s\n' "$output" | sed -n 's/^distill: batch 0 stopped early at iteration \([0-9]*\) .*/\1/p')
  distill m.h5 s.h5 -o c.h5 -n 4 --batch 4 --iters "$it0" --seed 7 -q
  h5dump -d /x -b LE -o xa.bin a.h5 >/dev/null; h5dump -d /x -b LE -o xc.bin c.h5 >/dev/null
  cmp -n "$(stat -c %s xc.bin)" xa.bin xc.bin
  run distill m.h5 s.h5 -o d.h5 -n 8 --batch 4 --early-stop=x
  assert_failure 2
  assert_output --partial "--early-stop: not a positive patience: 'x'"
}

@test "distill --products bf16: recorded, the same bits run to run, near fp32; fp32 where bf16 is off" {
  m=$(ref_model)
  bnstats "$m" -o s.h5
  run distill "$m" s.h5 -o x.h5 -n 8 --products tf32
  assert_failure 2
  assert_output --partial "Try 'distill --help'"
  distill "$m" s.h5 -o f.h5 -n 8 --batch 8 --iters 4 --threads 1 -q
  [ "$(h5str f.h5 products)" = fp32 ]
  distill "$m" s.h5 -o b1.h5 -n 8 --batch 8 --iters 4 --threads 1 -q --products bf16
  distill "$m" s.h5 -o b2.h5 -n 8 --batch 8 --iters 4 --threads 1 -q --products bf16
  cmp b1.h5 b2.h5
  # bf16 off (as on a CPU without the instruction): fp32 runs, the same bytes, and says so
  run --separate-stderr env GN_NO_BF16=1 distill "$m" s.h5 -o n.h5 -n 8 --batch 8 --iters 4 --threads 1 --products bf16
  assert_success
  [[ $stderr == *"no AVX512_BF16"*"fp32 runs"* ]]
  cmp n.h5 f.h5
  if ! grep -qw avx512_bf16 /proc/cpuinfo || ! grep -qw avx512bw /proc/cpuinfo; then
    cmp b1.h5 f.h5; skip "no AVX512_BF16 here: bf16 runs fp32"
  fi
  [ "$(h5str b1.h5 products)" = bf16 ]
  # the first row (the same generator output) moves by bf16's rounding, not
  # by more: within 1%, and not 0 (later rows drift apart: Adam's first
  # steps follow the gradients' signs)
  paste <(loss_rows f.h5) <(loss_rows b1.h5) | head -n 1 |
    awk '{ d = $1 - $4; if (d < 0) d = -d; exit !(d <= 0.01 * $1 && d > 0) }'
}
