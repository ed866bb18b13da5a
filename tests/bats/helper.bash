# helper.bash - shared set-up for genie's bats suites.
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
export PATH="$ROOT/bin:$PATH"
FIX="$ROOT/tests/fixtures"
# the program is genie-eval (`eval`, a shell builtin, is only an alias in bin/)
EVAL="$ROOT/bin/genie-eval"
FMNIST=/usr/share/datasets/fashion-mnist
CACHE="$ROOT/tests/tmp"
mkdir -p "$CACHE"

# A small model written by the unit-test binary of the build in use (build/variant:
# rel, or san under make check SANITIZE=1): fixture NAME FILE, NAME one of tiny
# (conv-BN x2), tiny2 (same graph, other weights), nobn (no BatchNorm).
fixture() {
  local v; v=$(cat "$ROOT/build/variant" 2>/dev/null || echo rel)
  local t="$ROOT/build/$v/tests/test_distill"
  [ -x "$t" ] || make -s -C "$ROOT" "build/$v/tests/test_distill" >&2 || return 1
  "$t" --write-fixture "$1" "$2" >&2
}

# Cached fixtures in tests/tmp are made once and made again when stale:
# stale FILE DEP... is true when FILE is missing or older than one of the
# DEPs (the program that makes it, its inputs). Programs are relinked with
# every change to lib/, so a rebuilt onnx2h5 or idx2h5 remakes what it made.
stale() {
  local f=$1 d; shift
  [ -f "$f" ] || return 0
  for d in "$@"; do [ "$d" -nt "$f" ] && return 0; done
  return 1
}

# The 10,000 Fashion-MNIST test images as a genie dataset.
fmnist_test() {
  local f="$CACHE/fmnist-test.h5"
  if stale "$f" "$ROOT/bin/idx2h5"; then
    idx2h5 "$FMNIST/t10k-images-idx3-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz" \
      --mean 0.2860 --std 0.3530 -o "$f" >&2 || return 1
  fi
  echo "$f"
}

# The first N Fashion-MNIST images of SET (train or t10k) as a dataset.
fmnist_n() { # set n
  local f="$CACHE/fmnist-$1-$2.h5"
  if stale "$f" "$ROOT/bin/idx2h5"; then
    idx2h5 "$FMNIST/$1-images-idx3-ubyte.gz" "$FMNIST/$1-labels-idx1-ubyte.gz" \
      --mean 0.2860 --std 0.3530 -n "$2" -o "$f" >&2 || return 1
  fi
  echo "$f"
}

# The reference ResNet-20 imported.
ref_model() {
  local f="$CACHE/resnet20_fmnist.h5"
  if stale "$f" "$ROOT/bin/onnx2h5" "$FIX/resnet20_fmnist.onnx"; then
    onnx2h5 -q "$FIX/resnet20_fmnist.onnx" -o "$f" >&2 || return 1
  fi
  echo "$f"
}

# The reference model calibrated W4A4 on 64 training images (calib.bats,
# recon-block.bats and pack.bats start from it); remade when calib or
# either input is newer.
q44() {
  local f="$CACHE/resnet20-w4a4.q.h5" m d
  m=$(ref_model) && d=$(fmnist_n train 64) || return 1
  if stale "$f" "$ROOT/bin/calib" "$m" "$d"; then
    calib "$m" "$d" -w 4 -a 4 -t 1 -q -o "$f" >&2 || return 1
  fi
  echo "$f"
}

# no file named like an output (final or temporary) is left in directory $1
assert_no_output() {
  run bash -c "ls -A '$1' | grep -E '${2:-out}' || true"
  assert_output ""
}

# reads a numeric root attribute of an HDF5 file
h5attr() { h5dump -a "$2" "$1" | sed -n 's/.*(0): *\([-0-9.eE+]*\).*/\1/p' | head -n 1; }

# A dataset of n random images of C x H x W (values in [-1,1]) with labels,
# written with h5import from hdf5-tools.
make_dataset() { # out n c h w
  local out=$1 n=$2 c=$3 h=$4 w=$5 d
  d=$(mktemp -d)
  awk -v n=$((n*c*h*w)) 'BEGIN{srand(1); for(i=0;i<n;i++) printf "%.4f\n", 2*rand()-1}' >"$d/x.txt"
  awk -v n="$n" 'BEGIN{for(i=0;i<n;i++) print i%10}' >"$d/y.txt"
  printf 'PATH x\nINPUT-CLASS TEXTFP\nRANK 4\nDIMENSION-SIZES %s %s %s %s\nOUTPUT-CLASS FP\nOUTPUT-SIZE 32\n' "$n" "$c" "$h" "$w" >"$d/x.cfg"
  printf 'PATH y\nINPUT-CLASS TEXTIN\nRANK 1\nDIMENSION-SIZES %s\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\n' "$n" >"$d/y.cfg"
  h5import "$d/x.txt" -c "$d/x.cfg" "$d/y.txt" -c "$d/y.cfg" -o "$out" >/dev/null
  rm -rf "$d"
}
