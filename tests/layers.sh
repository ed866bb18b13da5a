#!/bin/sh
# tests/layers.sh - lib/'s layers point one way (README "Layout", genie(7)).
# Reads every #include of lib/*.c and lib/*.h and fails when one runs upward:
# a file may include headers of its own layer and the layers below it.
#   1 base      err base tpool rng sha256 cpu stream estop
#   2 kernels   blas blas_* ops op_*
#   3 graph     graph run arch
#   4 files     out h5 h5cat onnx onnx_export idx png stats qmodel pack
#   5 methods   optim distill recon train calibrate
#   6 programs  cli (and bin/, which may include anything)
# A header gn_X.h belongs to the layer of its source, X.c or op_X.c. A file
# of lib/ that is in no layer fails too: add it to the table here and in
# README.md's and genie(7)'s. Library headers: <hdf5.h>, <png.h>, <zlib.h>
# and the ONNX schema only from the files layer up; <cblas.h> only in blas*.c.
# Prints one line per upward include and a summary; exit 1 if any.
cd "$(dirname "$0")/.." || exit 2

layer_of() { # file stem (no gn_, no .c/.h) -> layer number, 0 when unknown
  case $1 in
    err|base|tpool|rng|sha256|cpu|stream|estop) echo 1 ;;
    blas|blas_*|ops|op_*) echo 2 ;;
    graph|run|arch) echo 3 ;;
    out|h5|h5cat|onnx|onnx_export|idx|png|stats|qmodel|pack) echo 4 ;;
    optim|distill|recon|train|calibrate) echo 5 ;;
    cli) echo 6 ;;
    *) echo 0 ;;
  esac
}
name_of() { case $1 in 1) echo base ;; 2) echo kernels ;; 3) echo graph ;; 4) echo files ;; 5) echo methods ;; 6) echo programs ;; esac; }

# includes that still run upward, each with the issue that removes it; the
# check prints them (never silently), and says so when one is gone from the
# code but not from here
KNOWN=""

# the layer of lib/FILE (gn_X.h, X.c or op_X.c)
file_layer() {
  f=${1%.[ch]}
  case $1 in
    gn_*.h) s=${f#gn_}; if [ -f "lib/op_$s.c" ]; then layer_of "op_$s"; else layer_of "$s"; fi ;;
    *) layer_of "$f" ;;
  esac
}

bad=0 n=0 files=0 known_seen=""
for path in lib/*.c lib/*.h; do
  file=${path#lib/}
  files=$((files + 1))
  L=$(file_layer "$file")
  if [ "$L" = 0 ]; then
    echo "layers: $path is in no layer (add it to tests/layers.sh, README.md's Layout and genie(7))"
    bad=$((bad + 1)); continue
  fi
  for inc in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/p' "$path"); do
    case $inc in
      gn_*.h) I=$(file_layer "$inc") ;;
      onnx.pb-c.h|hdf5.h|H5*.h|png.h|zlib.h) I=4 ;;
      cblas.h) case $file in blas*.c) I=2 ;; *) I=7 ;; esac ;;
      *) continue ;; # the C library and POSIX
    esac
    n=$((n + 1))
    if [ "$I" = 0 ]; then
      echo "layers: $path includes $inc, which is in no layer"; bad=$((bad + 1))
    elif [ "$I" -gt "$L" ]; then
      if printf '%s\n' $KNOWN | grep -qx "$file:$inc"; then
        echo "layers: known, to be removed: $path ($(name_of "$L")) includes $inc"
        known_seen="$known_seen $file:$inc"
        continue
      fi
      if [ "$I" = 7 ]; then
        echo "layers: $path includes $inc: only blas*.c call CBLAS"
      else
        echo "layers: $path ($(name_of "$L")) includes $inc ($(name_of "$I")): an upward include"
      fi
      bad=$((bad + 1))
    fi
  done
done
for k in $KNOWN; do
  case " $known_seen " in *" $k "*) ;; *) echo "layers: note: $k is listed as known in tests/layers.sh but is gone: remove it there" ;; esac
done
echo "layers: $files files, $n includes of genie and library headers, $bad upward"
[ "$bad" -eq 0 ]
