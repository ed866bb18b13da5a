#!/usr/bin/env bats
# bnstats: BatchNorm targets of a model, and the same statistics on real data.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# a string root attribute
h5str() { h5dump -a "$2" "$1" | sed -n 's/.*(0): *"\(.*\)".*/\1/p' | head -n 1; }
# the values of a 1-D dataset, one per line
h5vals() {
  local b; b=$(mktemp "$BATS_TEST_TMPDIR/vals.XXXXXX")
  h5dump -d "$2" -b LE -o "$b" "$1" >/dev/null && od -An -v -f -w4 "$b" | tr -d ' '
}

@test "bnstats --help prints usage and exits 0" {
  run bnstats --help
  assert_success
  assert_output --partial "Usage: bnstats"
}

@test "bnstats: every BatchNorm layer of ResNet-20 with name, channels, mean, std" {
  m=$(ref_model)
  run bnstats "$m" -o s.h5
  assert_success
  assert_output ""
  [ "$(h5str s.h5 genie_kind)" = bnstats ]
  [ "$(h5attr s.h5 layers)" = 21 ]
  [ "$(h5str s.h5 model_sha256)" = "$(sha256sum "$m" | cut -d' ' -f1)" ]
  run bash -c "h5dump -A s.h5 | grep -c 'ATTRIBUTE \"channels\"'"
  assert_output 21
  [ "$(h5dump -a /bn/0020/channels s.h5 | sed -n 's/.*(0): *//p')" = 64 ]
  [ "$(h5str s.h5 /bn/0000/name)" != "" ]
}

@test "bnstats: target std is sqrt(running_var + 1e-6), target mean the running mean" {
  fixture tiny m.h5
  run bnstats m.h5 -o s.h5
  assert_success
  paste <(h5vals m.h5 /params/bn2.rv) <(h5vals s.h5 /bn/0001/std) >v.txt
  [ "$(wc -l <v.txt)" = 6 ]
  awk '{ d = sqrt($1 + 1e-6) - $2; if (d < 0) d = -d; if (d > 1e-6 * $2) bad++ } END { exit bad > 0 }' v.txt
  paste <(h5vals m.h5 /params/bn1.rm) <(h5vals s.h5 /bn/0000/mean) >m.txt
  awk '$1 != $2 { bad++ } END { exit bad > 0 }' m.txt
}

@test "bnstats --data: real Fashion-MNIST images lie close to the targets" {
  m=$(ref_model)
  idx2h5 "$FMNIST/t10k-images-idx3-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz" \
    --mean 0.2860 --std 0.3530 -n 1000 -o real.h5
  run bnstats "$m" -o s.h5 --data real.h5 -q --threads 1
  assert_success
  assert_line --index 0 "# layer channels mean_term std_term rel_mean rel_std"
  [ "${#lines[@]}" = 23 ]
  assert_line --regexp '^# total 21 '
  # every layer: RMS differences within 10% of the RMS target std
  echo "$output" | awk '!/^#/ { n++; if ($5 > 0.1 || $6 > 0.1) bad++ } END { exit !(n == 21 && bad == 0) }'
  h5dump -H s.h5 | grep -q real_mean
  [ "$(h5attr s.h5 data_n)" = 1000 ]
}

@test "bnstats: a model without BatchNorm is refused, nothing written" {
  fixture nobn m.h5
  run bnstats m.h5 -o s.h5
  assert_failure 1
  assert_output "bnstats: m.h5: model has no BatchNorm layer (Genie-D needs BatchNorm statistics)"
  assert_no_output . 's\.h5'
}

@test "bnstats: wrong files are refused with exit 1" {
  run bnstats nosuch.h5 -o s.h5
  assert_failure 1
  assert_output "bnstats: nosuch.h5: No such file or directory"
  make_dataset d.h5 4 1 8 8
  run bnstats d.h5 -o s.h5
  assert_failure 1
  assert_output "bnstats: d.h5: not a genie model file (no genie_kind attribute)"
  fixture tiny m.h5
  make_dataset d28.h5 4 1 28 28
  run bnstats m.h5 -o s.h5 --data d28.h5
  assert_failure 1
  assert_output --partial "d28.h5: /x holds 1x28x28 samples, model m.h5 takes 1x8x8"
  assert_no_output . 's\.h5'
}

@test "bnstats: usage errors exit 2" {
  run bnstats m.h5
  assert_failure 2
  assert_output --partial "no output file given"
  assert_output --partial "Try 'bnstats --help'"
  run bnstats a.h5 b.h5 -o s.h5
  assert_failure 2
  run bnstats m.h5 -o s.h5 --batch 0
  assert_failure 2
  run bnstats m.h5 -o s.h5 --bogus
  assert_failure 2
}

@test "bnstats: two runs give the same bytes (no HDF5 modification times)" {
  m=$(ref_model)
  bnstats -q "$m" -o a.h5
  sleep 1.1
  bnstats -q "$m" -o b.h5
  cmp a.h5 b.h5
}
