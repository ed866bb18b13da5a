#!/usr/bin/env bats
# export-onnx: FP32 models as plain ONNX, quantised and packed models as QDQ,
# run by onnxruntime (onnxruntime-node from `make deps`, tests/ort-run.js) on
# 1000 Fashion-MNIST test images next to genie's eval of the same model.
#
# Tolerance of the quantised models' logits: genie and onnxruntime compute
# the same quantisers (the same codes, steps and zero points, both rounding
# half to even), but their float convolutions sum in different orders, so a
# pre-activation differs in its last bits. Where x/step lies that close to
# halfway between two codes (about 200 of 140 million activations over
# these images, test_onnx_export --count-ties), the two take neighbouring
# codes and the logits of that image differ by about a step's worth. genie
# against itself does the same: a W2A4 ResNet-20 (tests/onnx-measure.sh) run
# by its Winograd kernels and with GN_NO_WINO=1 has 41 of 1000 images with a
# logit more than 1e-4 apart (max 0.35); against onnxruntime, 1.8% (W4A4) and
# 5% (W2A4) of the 10,000 test images. A wrong scale, zero point or clamp
# moves nearly every image. So: at most 10% of the images may
# have any logit more than 1e-4 apart (the rest agree to float rounding),
# and top-1 within 0.1 points.
# Kept short: W4A4 and W2A2 of each model calibrated on 64 training images,
# one unit of ResNet-20 reconstructed for 20 iterations (mbv2-tiny: calib only).
load helper

ORT_RUN="$ROOT/tests/ort-run.js"

setup() { cd "$BATS_TEST_TMPDIR"; }

# the first N Fashion-MNIST images of SET (train or t10k) as a dataset, made once
fmnist_n() { # set n
  local f="$CACHE/fmnist-$1-$2.h5"
  if [ ! -f "$f" ]; then
    idx2h5 "$FMNIST/$1-images-idx3-ubyte.gz" "$FMNIST/$1-labels-idx1-ubyte.gz" \
      --mean 0.2860 --std 0.3530 -n "$2" -o "$f" >&2 || return 1
  fi
  echo "$f"
}

test_bin() {
  local v; v=$(cat "$ROOT/build/variant" 2>/dev/null || echo rel)
  local t="$ROOT/build/$v/tests/test_onnx_export"
  [ -x "$t" ] || make -s -C "$ROOT" "build/$v/tests/test_onnx_export" >&2 || return 1
  echo "$t"
}

# NAME MODEL W A [recon]: calibrated on 64 images (with recon: unit 1 then
# reconstructed for 20 iterations), packed and exported: $BATS_FILE_TMPDIR/NAME.{q,p}.h5 and NAME.onnx
quantise() { # name model wbits abits [recon]
  local d=$BATS_FILE_TMPDIR tr
  tr=$(fmnist_n train 64) || return 1
  calib "$2" "$tr" -w "$3" -a "$4" -t 1 -q -o "$d/$1.q0.h5" &&
    if [ -n "$5" ]; then
      recon-block "$d/$1.q0.h5" "$tr" --unit 1 --iters 20 --batch 16 -t 1 -q -o "$d/$1.q.h5" 2>/dev/null
    else cp "$d/$1.q0.h5" "$d/$1.q.h5"; fi &&
    pack -q "$d/$1.q.h5" -o "$d/$1.p.h5" &&
    export-onnx -q "$d/$1.p.h5" -o "$d/$1.onnx"
}

setup_file() {
  [ -f "$ROOT/tests/node/node_modules/onnxruntime-node/package.json" ] || {
    echo "onnxruntime-node is not installed: run make deps" >&2; return 1; }
  local t d=$BATS_FILE_TMPDIR
  t=$(fmnist_n t10k 1000) || return 1
  h5dump -d /x -b LE -o "$d/x.f32" "$t" >/dev/null && h5dump -d /y -b LE -o "$d/y.i32" "$t" >/dev/null
  quantise r44 "$ROOT/data/fmnist-resnet20.h5" 4 4 recon && quantise r22 "$ROOT/data/fmnist-resnet20.h5" 2 2 recon &&
    quantise m44 "$ROOT/data/fmnist-mbv2-tiny.h5" 4 4 && quantise m22 "$ROOT/data/fmnist-mbv2-tiny.h5" 2 2
}

# a numeric field of ort-run.js's JSON line in $output
jf() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" <<<"$output"; }

# MODEL.h5 MODEL.onnx LEVEL TOL MAXOVER: onnxruntime at LEVEL against genie's
# eval: top-1 within 0.1 points, at most MAXOVER images with a logit off by
# more than TOL
ort_vs_genie() {
  local d=$BATS_FILE_TMPDIR t g
  t=$(fmnist_n t10k 1000)
  if [ ! -f "$1.l.f32" ]; then
    "$EVAL" "$1" "$t" --json --logits "$1.l.h5" -q -t 1 >"$1.json" &&
      h5dump -d /logits -b LE -o "$1.l.f32" "$1.l.h5" >/dev/null || return 1
  fi
  g=$(sed -n 's/.*"top1": *\([0-9.eE+-]*\).*/\1/p' "$1.json")
  run node "$ORT_RUN" "$2" "$d/x.f32" 1000 1 28 28 --opt "$3" --labels "$d/y.i32" --ref "$1.l.f32" --tol "$4"
  assert_success
  echo "genie top-1 $g; onnxruntime: $output"
  awk -v g="$g" -v o="$(jf top1)" 'BEGIN{d = 100*g - o; exit !(d <= 0.1 && d >= -0.1)}'
  [ "$(jf over_tol)" -le "$5" ]
}

@test "export-onnx --help prints usage and every option, exits 0" {
  run export-onnx --help
  assert_success
  assert_output --partial "Usage: export-onnx MODEL.h5 -o MODEL.onnx"
  for o in --output --quiet --version; do assert_output --partial -- "$o"; done
}

@test "export-onnx: usage errors exit 2" {
  run export-onnx
  assert_failure 2
  assert_output --partial "Try 'export-onnx --help'"
  run export-onnx "$ROOT/data/fmnist-resnet20.h5"
  assert_failure 2
  assert_output --partial "no output file given"
  run export-onnx a.h5 b.h5 -o x.onnx
  assert_failure 2
  run export-onnx --frobnicate
  assert_failure 2
}

@test "export-onnx: onnx2h5 then export-onnx is a round trip (logits within 1e-5)" {
  m=$(ref_model)
  run export-onnx "$m" -o back.onnx
  assert_success
  assert_output "export-onnx: back.onnx: FP32"
  d=$BATS_FILE_TMPDIR
  run node "$ORT_RUN" "$FIX/resnet20_fmnist.onnx" "$d/x.f32" 1000 1 28 28 --logits orig.f32
  assert_success
  run node "$ORT_RUN" back.onnx "$d/x.f32" 1000 1 28 28 --opt disabled --ref orig.f32 --tol 1e-5
  assert_success
  echo "$output"
  [ "$(jf over_tol)" -eq 0 ]
  [ "$(jf top1_agree)" = 100 ]
  # and genie's own logits of the imported model: 2e-5, as its convolutions
  # sum in another order than onnxruntime's fused ones (1.1e-5 seen)
  ort_vs_genie "$m" back.onnx all 2e-5 0
}

@test "export-onnx: resnet20 W4A4 QDQ: onnxruntime agrees with genie eval (optimisations off and all)" {
  d=$BATS_FILE_TMPDIR
  ort_vs_genie "$d/r44.p.h5" "$d/r44.onnx" disabled 1e-4 100
  ort_vs_genie "$d/r44.p.h5" "$d/r44.onnx" all 1e-4 100
}

@test "export-onnx: resnet20 W2A2 QDQ (clamp + 4-bit QuantizeLinear): onnxruntime agrees with genie eval" {
  d=$BATS_FILE_TMPDIR
  ort_vs_genie "$d/r22.p.h5" "$d/r22.onnx" disabled 1e-4 100
  ort_vs_genie "$d/r22.p.h5" "$d/r22.onnx" all 1e-4 100
}

@test "export-onnx: mbv2-tiny (depthwise, ReLU6) W4A4 and W2A2: onnxruntime agrees with genie eval" {
  d=$BATS_FILE_TMPDIR
  for m in m44 m22; do
    ort_vs_genie "$d/$m.p.h5" "$d/$m.onnx" disabled 1e-4 100
    ort_vs_genie "$d/$m.p.h5" "$d/$m.onnx" all 1e-4 100
  done
}

@test "export-onnx: a quantised model exports as its packed model does; metadata name bits and source" {
  d=$BATS_FILE_TMPDIR
  run export-onnx "$d/r22.q.h5" -o q.onnx
  assert_success
  assert_output "export-onnx: q.onnx: QDQ, W2A2 (first/last layer 8)"
  # the same graph: only genie_kind and the source's SHA-256 differ
  [ "$(stat -c %s q.onnx)" -eq "$(stat -c %s "$d/r22.onnx")" ]
  sha=$(sha256sum "$d/r22.p.h5" | cut -d' ' -f1)
  grep -q -a "$sha" "$d/r22.onnx"
  grep -q -a "W2A2, first/last layer 8" "$d/r22.onnx"
  grep -q -a "genie_version" "$d/r22.onnx"
  # 2-bit codes travel in 4-bit containers: the W2 file is about the W4 one's size
  s2=$(stat -c %s "$d/r22.onnx") s4=$(stat -c %s "$d/r44.onnx")
  echo "W2 $s2 W4 $s4 bytes"
  [ "$s2" -le "$((s4 + s4 / 10))" ]
}

@test "export-onnx: a model with an operator ONNX cannot express is refused, naming the node" {
  tb=$(test_bin)
  "$tb" --write-fixture swing swing.h5
  run export-onnx swing.h5 -o s.onnx
  assert_failure 1
  assert_output "export-onnx: swing.h5: node swing1: operator swing has no ONNX form"
  assert_no_output . 's\.onnx'
}

@test "export-onnx: an output in a missing directory fails and leaves nothing" {
  run export-onnx "$ROOT/data/fmnist-resnet20.h5" -o nodir/m.onnx
  assert_failure 1
  assert_output --partial "nodir/m.onnx"
  [ ! -e nodir ]
  assert_no_output . 'onnx'
}

@test "export-onnx: a packed file whose codes fall outside their bit-width is refused" {
  tb=$(test_bin)
  "$tb" --corrupt-codes "$BATS_FILE_TMPDIR/r44.p.h5" bad.h5
  run export-onnx bad.h5 -o bad.onnx
  assert_failure 1
  assert_output --regexp "^export-onnx: bad.h5: /qweights/[^:]*: code 1[2-9][0-9] out of range for 7 bits$"
  assert_no_output . 'bad\.onnx'
}

@test "export-onnx: a dataset or a missing file is refused" {
  run export-onnx "$(fmnist_n t10k 1000)" -o d.onnx
  assert_failure 1
  assert_output --partial "expected a model, quantised model or packed model"
  run export-onnx missing.h5 -o d.onnx
  assert_failure 1
  assert_output --partial "missing.h5"
  assert_no_output . 'd\.onnx'
}
