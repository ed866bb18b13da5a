#!/usr/bin/env bats
# Files that lie: each is refused with one line naming the file and the
# object, exit 1, and no output left behind (issue 17). The bad files are
# made by build/VARIANT/tests/test_reliability --write KIND OUT [SRC].
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

bad() { # kind out [src]
  local v; v=$(cat "$ROOT/build/variant" 2>/dev/null || echo rel)
  local t="$ROOT/build/$v/tests/test_reliability"
  [ -x "$t" ] || make -s -C "$ROOT" "build/$v/tests/test_reliability" >&2 || return 1
  "$t" --write "$@"
}

# one line on stderr, exit 1, "PROG: FILE: ..." holding $3, and no file named like out*
assert_refused() { # prog file needle
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  assert_output --regexp "^$1: $2: "
  assert_output --partial "$3"
  [ -z "$(ls -A . | grep -E '^out' || true)" ]  # no output, final or temporary
}

# a quantised and a packed model of the tiny fixture, made once per test
tiny_packed() {
  fixture tiny tiny.h5 && make_dataset d.h5 8 1 8 8 &&
  calib tiny.h5 d.h5 -w 4 -a 4 -q -t 1 -o q.h5 && pack q.h5 -q -o p.h5
}

@test "a dataset whose dimensions' product overflows: h5cat and genie-eval refuse it" {
  bad overflow ov.h5
  run h5cat ov.h5 -o out.h5
  assert_refused h5cat ov.h5 "x: dimensions 1099511627776 x ... are too large"
  fixture tiny tiny.h5
  run "$EVAL" tiny.h5 ov.h5 -q --logits out.h5
  assert_refused genie-eval ov.h5 "x: dimensions 1099511627776 x 1099511627776 x 1099511627776 x 1 are too large"
}

@test "a dataset that claims more values than its file holds is refused before allocating" {
  bad huge huge.h5
  run h5cat huge.h5 -o out.h5
  assert_refused h5cat huge.h5 "x: 3367254360064 bytes cannot be in a file of 1560 bytes"
  assert_output --partial "(truncated or damaged)"
}

@test "names of 10 KB: a model with them goes through calib, pack and genie-eval" {
  bad longname long.h5
  make_dataset d.h5 8 1 8 8
  run calib long.h5 d.h5 -w 4 -a 4 -q -t 1 -o q.h5
  assert_success
  run pack q.h5 -q -o p.h5
  assert_success
  run "$EVAL" p.h5 d.h5 --json -q
  assert_success
  assert_output --partial '"top1"'
}

@test "an idx header claiming 2^32-1 images is 'truncated', plain or gzipped" {
  printf '\x00\x00\x08\x03\xff\xff\xff\xff\x00\x00\x00\x1c\x00\x00\x00\x1c' >big.idx
  head -c 3000 /dev/zero >>big.idx
  gzip -k big.idx
  for f in big.idx big.idx.gz; do
    run idx2h5 "$f" "$FMNIST/t10k-labels-idx1-ubyte.gz" --mean 0 --std 1 -o out.h5
    assert_refused idx2h5 "$f" "truncated: the header claims 4294967295 images of 28x28 (3367254359280 data bytes), the file has 3000"
  done
  printf '\x00\x00\x08\x01\xff\xff\xff\xff\x01\x02' >lab.idx
  run idx2h5 "$FMNIST/t10k-images-idx3-ubyte.gz" lab.idx --mean 0 --std 1 -o out.h5
  assert_refused idx2h5 lab.idx "truncated: the header claims 4294967295 labels"
}

@test "a packed model with zero channels: genie-eval refuses it, no division by zero" {
  tiny_packed
  bad zerochan z.h5 p.h5
  run "$EVAL" z.h5 d.h5 -q --logits out.h5
  assert_refused genie-eval z.h5 "shape dimension 0 is 0"
}

@test "a model file whose /graph is a dataset, not a group" {
  fixture tiny tiny.h5
  bad graphds g.h5 tiny.h5
  run bnstats g.h5 -o out.h5
  assert_refused bnstats g.h5 "/graph is not a group"
}

# NaN and Inf: every program refuses non-finite weights and inputs (no
# warning mode: one NaN weight or pixel makes every output it reaches NaN).
@test "NaN or Inf weights: bnstats, calib and genie-eval refuse the model" {
  fixture tiny tiny.h5
  make_dataset d.h5 8 1 8 8
  bad nan n.h5 tiny.h5
  bad inf i.h5 tiny.h5
  run bnstats n.h5 -o out.h5
  assert_refused bnstats n.h5 "value 0 is nan (non-finite weights are refused)"
  run calib i.h5 d.h5 -w 4 -a 4 -q -o out.h5
  assert_refused calib i.h5 "value 0 is inf (non-finite weights are refused)"
  run "$EVAL" n.h5 d.h5 -q --logits out.h5
  assert_refused genie-eval n.h5 "non-finite weights are refused"
}

@test "NaN inputs: genie-eval and calib refuse the dataset" {
  fixture tiny tiny.h5
  make_dataset d.h5 8 1 8 8
  bad nanx nx.h5 d.h5
  run "$EVAL" tiny.h5 nx.h5 -q --logits out.h5
  assert_refused genie-eval nx.h5 "x: value nan in image 0 (non-finite inputs are refused)"
  run calib tiny.h5 nx.h5 -w 4 -a 4 -q -o out.h5
  assert_refused calib nx.h5 "non-finite inputs are refused"
}

# libhdf5 1.10.8 reads past a damaged attribute message (H5O_attr_decode)
# and past a value whose datatype claims more bits than its bytes hold; genie
# checks an object's header messages before any H5A call or H5Dread (h5.c
# gn_h5_check_header). These are fuzz inputs that crashed inside libhdf5.
@test "a damaged attribute or datatype message: refused before libhdf5 reads past it (file, stdin, packed)" {
  cp "$ROOT/tests/fuzz/regress/model/libhdf5-attribute-overread-ef992a1b" m.h5
  run bnstats m.h5 -o out.h5
  assert_refused bnstats m.h5 "damaged HDF5 object header (libhdf5 cannot read it)"
  run bash -c "bnstats - -o out.h5 < m.h5"
  assert_refused bnstats - "damaged HDF5 object header (libhdf5 cannot read it)"
  cp "$ROOT/tests/fuzz/regress/packed/libhdf5-attribute-overread-dc393a62" p.h5
  make_dataset d.h5 8 1 8 8
  run "$EVAL" p.h5 d.h5 -q --logits out.h5
  assert_refused genie-eval p.h5 "damaged HDF5 object header (libhdf5 cannot read it)"
  # an integer attribute of 4 bytes claiming a precision of 23840 bits, which
  # libhdf5 converts by reading past it (valgrind: H5T__bit_find)
  cp "$ROOT/tests/fuzz/regress/packed/libhdf5-datatype-precision-a44285f6" q.h5
  run "$EVAL" q.h5 d.h5 -q --logits out.h5
  assert_refused genie-eval q.h5 "damaged HDF5 object header (libhdf5 cannot read it)"
}

# one checking reader of /qweights (gn_packed_weight_read) for genie-eval,
# pack's readers and export-onnx: every code against its layer's bit-width
@test "a packed model with one code out of range: genie-eval and export-onnx refuse it, no output" {
  tiny_packed
  name=$(bad badcode b.h5 p.h5)
  [ -n "$name" ]
  run "$EVAL" b.h5 d.h5 -q --logits out.h5
  assert_refused genie-eval b.h5 "/qweights/$name: code 200 out of range for 7 bits"
  assert_output "genie-eval: b.h5: /qweights/$name: code 200 out of range for 7 bits"
  run export-onnx b.h5 -o out.onnx
  assert_refused export-onnx b.h5 "/qweights/$name: code 200 out of range for 7 bits"
  assert_output "export-onnx: b.h5: /qweights/$name: code 200 out of range for 7 bits"
}
