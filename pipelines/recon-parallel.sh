#!/usr/bin/env bash
# pipelines/recon-parallel.sh - Genie-M with every unit reconstructed at once
# (GENIE.md section 4): one `recon-block --independent` per unit of a
# calibrated model, run by GNU parallel on this host or on others, then `pack`
# of the calibrated model with the unit files.
#
# Usage: pipelines/recon-parallel.sh [options] Q.0.h5 DATA.h5 [-o MODEL.int.h5]
#   -j, --jobs N        units at a time (default: the number of cores)
#   -i, --iters N       recon-block --iters (default 20000)
#   -b, --batch N       recon-block --batch (default 32)
#   -s, --seed S        recon-block --seed (default 0)
#   -t, --threads N     OpenBLAS threads per recon-block (default: cores / jobs)
#   -d, --dir DIR       where the unit files unit.K.h5 go (default: the
#                       directory of the output, or of Q.0.h5 without -o)
#   -S, --sshlogin L    GNU parallel's -S (repeatable): run units on other hosts.
#                       genie's programs must be on their PATH; Q.0.h5 and DATA.h5
#                       go there with --basefile, unit files come back with
#                       --return, under the same paths relative to the remote
#                       working directory (use relative paths).
#   -o, --output FILE   the packed model; without it only the unit files are made
#   -f, --force         redo every unit, even those already made
#   -q, --quiet         no progress from recon-block
#   -h, --help
# Environment: BIN, the directory of genie's programs (default: this repo's bin/).
#
# Caching: a unit file is kept when it is newer than Q.0.h5 and DATA.h5 and was
# made with the same settings (DIR/unit.args records them), so an interrupted
# run picks up where it stopped. Every file is complete or absent: recon-block
# and pack write to a temporary name and rename.
# Exit status: 0 ok, 1 a stage failed, 2 usage error.
set -euo pipefail
prog=recon-parallel.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${BIN:-$here/../bin}

usage() { sed -n '/^# Usage:/,/^# Exit status/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
count() { [[ $2 =~ ^[1-9][0-9]*$ ]] || usage_error "$1: not a positive count: '$2'"; }

jobs=$(nproc) iters=20000 batch=32 seed=0 threads='' dir='' out='' force=0 quiet=''
sshlogins=()
args=()
while [ $# -gt 0 ]; do
  case $1 in
    -j|--jobs) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; jobs=$2; shift 2 ;;
    -i|--iters) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; iters=$2; shift 2 ;;
    -b|--batch) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; batch=$2; shift 2 ;;
    -s|--seed) [ $# -ge 2 ] || usage_error "$1 needs a value"
       [[ $2 =~ ^[0-9]+$ ]] || usage_error "$1: not a non-negative integer: '$2'"; seed=$2; shift 2 ;;
    -t|--threads) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; threads=$2; shift 2 ;;
    -d|--dir) [ $# -ge 2 ] || usage_error "$1 needs a value"; dir=$2; shift 2 ;;
    -S|--sshlogin) [ $# -ge 2 ] || usage_error "$1 needs a value"; sshlogins+=(-S "$2"); shift 2 ;;
    -o|--output) [ $# -ge 2 ] || usage_error "$1 needs a value"; out=$2; shift 2 ;;
    -f|--force) force=1; shift ;;
    -q|--quiet) quiet=-q; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    -*) usage_error "unknown option '$1'" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || usage_error "expected Q.0.h5 and DATA.h5, got ${#args[@]} argument(s)"
q=${args[0]} data=${args[1]}
[ -f "$q" ] || die "$q: No such file or directory"
[ -f "$data" ] || die "$data: No such file or directory"
command -v parallel >/dev/null || die "GNU parallel is not installed (Debian package parallel)"
[ -n "$threads" ] || threads=$(( ($(nproc) + jobs - 1) / jobs ))
if [ -z "$dir" ]; then if [ -n "$out" ]; then dir=$(dirname "$out"); else dir=$(dirname "$q"); fi; fi
mkdir -p "$dir"

# the units, as calib numbers them (fails on anything but a calibrated model)
units=$("$BIN/calib" --list-units "$q" | cut -f1) || exit 1
[ -n "$units" ] || die "$q: no units"
n=$(printf '%s\n' "$units" | wc -l)

# settings the unit files depend on; a change invalidates all of them
settings="q=$q data=$data iters=$iters batch=$batch seed=$seed"
stamp=$dir/unit.args
if [ "$force" = 1 ] || ! printf '%s\n' "$settings" | cmp -s - "$stamp"; then
  rm -f "$dir"/unit.[0-9]*.h5
  printf '%s\n' "$settings" >"$stamp.tmp.$$" && mv "$stamp.tmp.$$" "$stamp"
fi
todo=()
for k in $units; do
  f=$dir/unit.$k.h5
  if [ -f "$f" ] && [ "$f" -nt "$q" ] && [ "$f" -nt "$data" ] && [ "$f" -nt "$stamp" ]; then continue; fi
  todo+=("$k")
done

if [ ${#todo[@]} -gt 0 ]; then
  echo "$prog: $n units of $q, ${#todo[@]} to reconstruct, $jobs at a time ($iters iterations each)" >&2
  if [ ${#sshlogins[@]} -gt 0 ]; then
    # other hosts: programs from their PATH, files travel with the jobs
    rb=recon-block
    remote=("${sshlogins[@]}" --basefile "$q" --basefile "$data" --return "$dir/unit.{}.h5" --cleanup)
  else
    rb=$BIN/recon-block
    remote=()
  fi
  # --halt: the first failure stops the others (their temporaries are removed)
  printf '%s\n' "${todo[@]}" |
    parallel -q -j "$jobs" --halt now,fail=1 --line-buffer "${remote[@]}" \
      "$rb" "$q" "$data" --unit {} --independent --iters "$iters" --batch "$batch" \
      --seed "$seed" --threads "$threads" $quiet -o "$dir/unit.{}.h5" ||
    die "reconstruction failed (units done so far are kept)"
fi

if [ -n "$out" ]; then
  files=()
  for k in $units; do files+=("$dir/unit.$k.h5"); done
  "$BIN/pack" $quiet "$q" "${files[@]}" -o "$out" || exit 1
fi
