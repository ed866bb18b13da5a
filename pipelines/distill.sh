#!/usr/bin/env bash
# pipelines/distill.sh - one Genie-D distillation made batch by batch in
# parallel: GNU parallel runs `distill --batch-index K` for every batch K
# (each single-threaded unless --threads is given), then h5cat joins the
# parts in batch order. Every batch draws from its own stream (seed, K), so
# the result is bit-identical to one `distill --threads 1` process making
# all batches (OpenBLAS's summation order depends on its thread count).
# If any job fails, parallel stops the rest and nothing is written.
#
#   pipelines/distill.sh MODEL.h5 STATS.h5 -o SYNTH.h5 [-j JOBS] [distill options]
#
# -j JOBS: parallel jobs (default: number of cores). Other options go to
# distill unchanged (-n, --batch, --iters, --seed, --method, --no-swing, ...);
# --grid G.png makes one grid per batch, G.K.png. Hosts: add parallel's
# --sshlogin list with GENIE_PARALLEL_ARGS="-S host1,host2" (genie must be
# on PATH there and the files on a shared filesystem).
set -euo pipefail
prog=distill.sh
usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }
die() { echo "$prog: $*" >&2; exit "${2:-1}"; }
bad() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }

here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$here/bin/distill" ] && PATH="$here/bin:$PATH"
command -v parallel >/dev/null || die "GNU parallel not found (make deps installs it)"

jobs=$(nproc 2>/dev/null || echo 2)
out="" grid="" n=1024 batch=128 threads_given=0
pos=() pass=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -o|--output) [ $# -ge 2 ] || bad "$1 needs a file"; out=$2; shift 2 ;;
    --output=*) out=${1#*=}; shift ;;
    -j|--jobs) [ $# -ge 2 ] || bad "$1 needs a number"; jobs=$2; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    -g|--grid) [ $# -ge 2 ] || bad "$1 needs a file"; grid=$2; shift 2 ;;
    --grid=*) grid=${1#*=}; shift ;;
    -n|--count) [ $# -ge 2 ] || bad "$1 needs a number"; n=$2; pass+=("$1" "$2"); shift 2 ;;
    --count=*) n=${1#*=}; pass+=("$1"); shift ;;
    -b|--batch) [ $# -ge 2 ] || bad "$1 needs a number"; batch=$2; pass+=("$1" "$2"); shift 2 ;;
    --batch=*) batch=${1#*=}; pass+=("$1"); shift ;;
    -k|--batch-index|--batch-index=*) bad "--batch-index is chosen by the pipeline" ;;
    -t|--threads|--threads=*) threads_given=1; pass+=("$1"); [[ $1 == *=* ]] || { pass+=("${2:-}"); shift; }; shift ;;
    -i|--iters|-s|--seed|-m|--method|--log-every|--lr-z|--lr-g|--lr-pixel)
      [ $# -ge 2 ] || bad "$1 needs a value"; pass+=("$1" "$2"); shift 2 ;;
    -*) pass+=("$1"); shift ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -eq 2 ] || bad "expected MODEL and STATS files, got ${#pos[@]} argument(s)"
[ -n "$out" ] || bad "no output file given (-o)"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || bad "-j: not a positive integer: '$jobs'"
[[ $n =~ ^[1-9][0-9]*$ ]] || bad "-n: not a positive count: '$n'"
[[ $batch =~ ^[1-9][0-9]*$ ]] || bad "--batch: not a positive integer: '$batch'"
[ $((n % batch)) -eq 0 ] || bad "-n $n is not a multiple of the batch size $batch"
nb=$((n / batch))
[ $threads_given = 1 ] || pass+=(--threads 1)

work=$(mktemp -d "${TMPDIR:-/tmp}/genie-distill.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "$prog: $nb batch(es) of $batch, $jobs job(s) at a time" >&2
gridarg=()
[ -n "$grid" ] && gridarg=(--grid "${grid%.png}.{}.png")
# --halt now,fail=1: the first failure stops every other job; the exit
# status is then non-zero and h5cat never runs
if ! seq 0 $((nb - 1)) | parallel ${GENIE_PARALLEL_ARGS:-} --halt now,fail=1 -j "$jobs" \
  distill "${pos[0]}" "${pos[1]}" "${pass[@]}" "${gridarg[@]}" -q --batch-index '{}' -o "$work/part.{}.h5"; then
  die "a distill job failed; nothing written"
fi
parts=()
for k in $(seq 0 $((nb - 1))); do parts+=("$work/part.$k.h5"); done
h5cat "${parts[@]}" -o "$out" || die "joining the batches failed; nothing written"
echo "$prog: wrote $out ($n images)" >&2
