#!/usr/bin/env bash
# pipelines/onnx-check.sh - an exported model run by onnxruntime next to genie.
#
#   pipelines/onnx-check.sh MODEL.h5 MODEL.onnx TEST.h5 [LEVEL ...]
#
# Evaluates MODEL.h5 (FP32, quantised or packed) with genie-eval and the
# ONNX file export-onnx made from it with onnxruntime (tests/ort-run.js, from
# `make deps`) at each graph optimisation LEVEL (disabled, basic, extended,
# all; default: disabled all) on the labelled dataset TEST.h5, and prints
# one line each: top-1, and for onnxruntime the top-1 agreement with genie,
# the largest absolute logit difference and how many images differ by more
# than TOL (default 1e-4) in some logit. Node reads no HDF5: the images,
# labels and genie's logits go to it as raw arrays dumped by h5dump.
# Exit status: 0 ok, 2 usage error, and another non-zero status when
# genie-eval, h5dump or node fails (its message is on stderr).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$root/bin}
TOL=${TOL:-1e-4}
case ${1:-} in
  -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
esac
if [ $# -lt 3 ]; then echo "onnx-check.sh: expected MODEL.h5 MODEL.onnx TEST.h5 [LEVEL ...]" >&2; echo "Try 'onnx-check.sh --help' for more information." >&2; exit 2; fi
model=$1 onnx=$2 test=$3
shift 3
[ $# -gt 0 ] || set -- disabled all
[ -f "$root/tests/node/node_modules/onnxruntime-node/package.json" ] ||
  { echo "onnx-check.sh: onnxruntime-node is not installed (make deps)" >&2; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
dims=$(h5dump -H -d /x "$test" | sed -n 's/.*DATASPACE *SIMPLE { ( \([0-9, ]*\) ).*/\1/p' | tr -d ' ')
IFS=, read -r n c h w <<<"$dims"
h5dump -d /x -b LE -o "$t/x.f32" "$test" >/dev/null
h5dump -d /y -b LE -o "$t/y.i32" "$test" >/dev/null
"$BIN/genie-eval" "$model" "$test" --json --logits "$t/l.h5" -q >"$t/genie.json"
h5dump -d /logits -b LE -o "$t/l.f32" "$t/l.h5" >/dev/null
g=$(sed -n 's/.*"top1": *\([0-9.eE+-]*\).*/\1/p' "$t/genie.json")
awk -v a="$g" -v n="$n" -v s="$(stat -c %s "$model")" \
  'BEGIN{printf "genie eval:                 top-1 %6.2f%%  (%d images; %s, %d bytes)\n", 100*a, n, ARGV[1], s}' "$model"
for lv in "$@"; do
  node "$root/tests/ort-run.js" "$onnx" "$t/x.f32" "$n" "$c" "$h" "$w" --opt "$lv" \
    --labels "$t/y.i32" --ref "$t/l.f32" --tol "$TOL" >"$t/ort.json"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const pad = (s, k) => (s + " ".repeat(k)).slice(0, k);
    console.log(`${pad("onnxruntime (" + r.opt + "):", 27)} top-1 ${r.top1.toFixed(2).padStart(6)}%  ` +
      `agrees with genie on ${r.top1_agree.toFixed(2)}%, max |logit diff| ${r.max_abs_diff.toExponential(2)}, ` +
      `${r.over_tol} images above ${r.tol} (${process.argv[2]}, ${process.argv[3]} bytes)`);' \
    "$t/ort.json" "$onnx" "$(stat -c %s "$onnx")"
done
