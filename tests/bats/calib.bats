#!/usr/bin/env bats
# calib: an FP32 model becomes a quantised model (genie-qmodel(5)).
# Kept fast: 64 calibration images, one thread, the W4A4 model made once (q44,
# helper.bash) and shared with recon-block.bats and pack.bats through tests/tmp.
load helper

setup() { cd "$BATS_TEST_TMPDIR"; }

# "wbits, abits, signed" of graph node NAME of a model file
node_quant() { # file name
  h5dump -A -g /graph "$1" | awk -v want="\"$2\"" '
    /ATTRIBUTE "name"/ { a = "name" } /ATTRIBUTE "quant"/ { a = "quant" }
    /\(0\):/ { sub(/.*\(0\): /, ""); if (a == "name") n = $0; else if (a == "quant" && n == want) print; a = "" }'
}

@test "calib --help prints usage and every option, exits 0" {
  run calib --help
  assert_success
  assert_output --partial "Usage: calib MODEL.h5 DATA.h5 -w W -a A"
  for o in --wbits --abits --first-last --bits --list-units --threads --output --quiet --version; do
    assert_output --partial -- "$o"
  done
}

@test "calib: W4A4 of the reference ResNet-20 on 64 real images keeps its accuracy" {
  m=$(ref_model); d=$(fmnist_n train 64); t=$(fmnist_n t10k 1000)
  run calib "$m" "$d" -w 4 -a 4 -t 1 -o q.h5
  assert_success
  assert_output --partial "calib: W4A4: 22 weight quantisers, 19 activation quantisers, 11 units, folded 21 BatchNorms"
  run h5dump -a genie_kind q.h5
  assert_output --partial '"qmodel"'
  run bash -c "h5dump -a bits q.h5 | grep -o '(0): .*'"
  assert_output "(0): 4, 4, 8"
  # the policy: first layer W8 with its input (the image) unquantised,
  # the second layer's input 8 bits, the last layer W8A8, the rest W4A4
  [ "$(node_quant q.h5 /conv1/Conv)" = "8, 0, 0" ]
  [ "$(node_quant q.h5 /relu/Relu_output_0.aq)" = "0, 8, 0" ]
  [ "$(node_quant q.h5 /layer2/layer2.1/conv1/Conv)" = "4, 0, 0" ]
  [ "$(node_quant q.h5 /layer2/layer2.1/relu1/Relu_output_0.aq)" = "0, 4, 0" ]
  [ "$(node_quant q.h5 /Flatten_output_0.aq)" = "0, 8, 0" ]
  [ "$(node_quant q.h5 /fc/Gemm)" = "8, 0, 0" ]
  run "$EVAL" q.h5 "$t" --json -q -t 1 --batch 100
  assert_success
  top1=$(echo "$output" | sed -n 's/.*"top1": \([0-9.]*\).*/\1/p')
  echo "W4A4 top-1 on 1000 test images: $top1"
  awk -v a="$top1" 'BEGIN{exit !(a > 0.80)}'
  # share it: recon-block.bats and pack.bats start from this model
  cp q.h5 "$CACHE/resnet20-w4a4.q.h5.tmp.$$" && mv "$CACHE/resnet20-w4a4.q.h5.tmp.$$" "$CACHE/resnet20-w4a4.q.h5"
}

@test "calib --list-units prints the 11 units of ResNet-20, one a line" {
  q=$(q44)
  run calib --list-units "$q"
  assert_success
  [ "${#lines[@]}" -eq 11 ]
  [ "$(printf '%s\n' "${lines[@]}" | cut -f1 | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 10 " ]
  assert_line --index 0 --partial "/conv1/Conv .. /relu/Relu (2 nodes, 1 weight layers)"
  assert_line --index 4 --partial "/layer2/layer2.0/relu2/Relu (8 nodes, 3 weight layers)"
  assert_line --index 10 --partial "/fc/Gemm (4 nodes, 1 weight layers)"
  refute_output --partial "[reconstructed]"
  # stdout carries only the list
  run bash -c "calib --list-units '$q' 2>/dev/null | cut -f1 | paste -sd' '"
  assert_output "0 1 2 3 4 5 6 7 8 9 10"
}

@test "calib --bits overrides one layer, --first-last the first and last" {
  m=$(ref_model)
  # two images are enough to check where bits go (and keep this fast)
  make_dataset d2.h5 2 1 28 28
  run calib "$m" d2.h5 -w 4 -a 4 --first-last 6 --bits /layer1/layer1.0/conv1/Conv=2/3 \
    --bits /layer3/layer3.2/conv2/Conv=/5 -t 1 -q -o q.h5
  assert_success
  [ "$(node_quant q.h5 /conv1/Conv)" = "6, 0, 0" ]
  [ "$(node_quant q.h5 /layer1/layer1.0/conv1/Conv)" = "2, 0, 0" ]
  [ "$(node_quant q.h5 /relu/Relu_output_0.aq)" = "0, 3, 0" ]
  [ "$(node_quant q.h5 /layer3/layer3.2/conv2/Conv)" = "4, 0, 0" ]
  [ "$(node_quant q.h5 /layer3/layer3.2/relu1/Relu_output_0.aq)" = "0, 5, 0" ]
  [ "$(node_quant q.h5 /fc/Gemm)" = "6, 0, 0" ]
  [ "$(node_quant q.h5 /Flatten_output_0.aq)" = "0, 6, 0" ]
}

@test "calib: data whose shape the model cannot take is refused, no output" {
  m=$(ref_model)
  make_dataset d32.h5 4 1 32 32
  run calib "$m" d32.h5 -w 4 -a 4 -o q.h5
  assert_failure 1
  assert_output --partial "d32.h5: /x holds 1x32x32 samples, model"
  assert_output --partial "takes 1x28x28"
  assert_no_output . q.h5
}

@test "calib: bit-widths outside 2..8 are usage errors (exit 2), no output" {
  m=$(ref_model); d=$(fmnist_n train 64)
  for a in "-w 1 -a 4" "-w 9 -a 4" "-w 4 -a 1" "-w 4 -a 9" "-w 4 -a 4 --first-last 9" \
           "-w 4 -a 4 --bits /fc/Gemm=9/8" "-w 4 -a 4 --bits /fc/Gemm=8/1" "-w 4 -a 4 --bits /fc/Gemm" \
           "-w x -a 4"; do
    run calib "$m" "$d" $a -o q.h5
    echo "calib $a -> $status: $output"
    assert_failure 2
    assert_output --partial "Try 'calib --help'"
  done
  assert_no_output . q.h5
}

@test "calib: a quantised model where the FP32 model belongs is refused" {
  q=$(q44); d=$(fmnist_n train 64)
  run calib "$q" "$d" -w 4 -a 4 -o q.h5
  assert_failure 1
  assert_output --partial "is a genie qmodel file, expected a model file"
  assert_no_output . q.h5
  # and the other way round: --list-units wants a quantised model
  run calib --list-units "$(ref_model)"
  assert_failure 1
  assert_output --partial "is a genie model file, expected a quantised model (made by calib)"
}

@test "calib: --bits naming no layer is refused, no output" {
  m=$(ref_model); d=$(fmnist_n train 64)
  run calib "$m" "$d" -w 4 -a 4 --bits /no/such/Conv=2/2 -o q.h5
  assert_failure 1
  assert_output --partial "--bits: no convolution or linear layer named '/no/such/Conv'"
  assert_no_output . q.h5
}

@test "calib: missing files and arguments" {
  m=$(ref_model); d=$(fmnist_n train 64)
  run calib nosuch.h5 "$d" -w 4 -a 4 -o q.h5
  assert_failure 1
  assert_output --partial "calib: nosuch.h5: No such file or directory"
  run calib "$m" "$d" -w 4 -a 4
  assert_failure 2
  assert_output --partial "no output file given (-o)"
  run calib "$m" "$d" -w 4 -o q.h5
  assert_failure 2
  assert_output --partial "-w and -a are required"
  run calib "$m" -w 4 -a 4 -o q.h5
  assert_failure 2
  run calib "$m" "$d" -w 4 -a 4 --bogus -o q.h5
  assert_failure 2
  assert_no_output . q.h5
}
