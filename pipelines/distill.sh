#!/usr/bin/env bash
# pipelines/distill.sh - one Genie-D distillation made batch by batch in
# parallel: GNU parallel runs `distill --batch-index K` for every batch K,
# on this host or on others over ssh, then h5cat joins the batches in order.
# Every batch draws from its own stream (seed, K), so the result is
# bit-identical to one `distill --threads 1` process making all batches,
# wherever the batches ran (with one thread each: OpenBLAS's summation
# order depends on its thread count).
#
# Usage: pipelines/distill.sh MODEL.h5 STATS.h5 -o SYNTH.h5 [options] [distill options]
#   -o, --output FILE   the joined set (required)
#   -d, --dir DIR       keep the batches as DIR/synth.K.h5 and reuse those
#                       already made with the same settings (DIR/synth.args);
#                       without it they live in a temporary directory
#   -g, --grid G.png    a PNG grid per batch, G.K.png
#   -q, --quiet         no progress from the distill jobs
#   shared with recon-parallel.sh (see pipelines/parallel.bash):
#   -j, --jobs N        batches at a time on each host (default: cores)
#   -t, --threads N     threads of each distill (default: 1 on other hosts,
#                       cores/jobs here)
#   -S, --sshlogin L    run batches on other hosts (GNU parallel's -S,
#                       repeatable; ":" is this host); --slf FILE a list
#   --ssh CMD           ssh command; --workdir DIR where jobs run there
#   --retries N         tries per batch (default 3 with other hosts, else 1)
#   --joblog FILE       GNU parallel's job log (default: DIR/distill.joblog,
#                       or beside the output)
#   -h, --help
# Other options go to distill unchanged (-n, --batch, --iters, --seed,
# --method, --no-swing, ...). On other hosts genie's programs must be on
# PATH; MODEL.h5 and STATS.h5 go there once (--basefile), each batch comes
# back (--return).
# Environment: BIN, the directory of genie's programs (default: bin/ of this
# clone, or PREFIX/bin when installed, else PATH).
# Before any batch runs, `distill --dry-run` checks the options passed on and
# the inputs (a bad value: distill's message and status, nothing made).
# Exit status: 0 ok, 1 a batch or the join failed (nothing is written to the
# output; batches already made under -d are kept), 2 usage error.
set -euo pipefail
prog=distill.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '/^# Usage:/,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
. "$here/parallel.bash"
# an empty name is no file (nor "no grid", nor "no directory")
nonempty() { [ -n "$2" ] || usage_error "$1: empty file name"; }

out='' dir='' grid='' n=1024 batch=128 quiet=''
pos=() pass=()
while [ $# -gt 0 ]; do
  gp_option "$@"; [ "$GP_SHIFT" = 0 ] || { shift "$GP_SHIFT"; continue; }
  case $1 in
    -h|--help) usage; exit 0 ;;
    -o|--output) [ $# -ge 2 ] || usage_error "$1 needs a file"; out=$2; nonempty "$1" "$2"; shift 2 ;;
    --output=*) out=${1#*=}; nonempty --output "$out"; shift ;;
    -d|--dir) [ $# -ge 2 ] || usage_error "$1 needs a directory"; dir=$2; nonempty "$1" "$2"; shift 2 ;;
    --dir=*) dir=${1#*=}; nonempty --dir "$dir"; shift ;;
    -g|--grid) [ $# -ge 2 ] || usage_error "$1 needs a file"; grid=$2; nonempty "$1" "$2"; shift 2 ;;
    --grid=*) grid=${1#*=}; nonempty --grid "$grid"; shift ;;
    -n|--count) [ $# -ge 2 ] || usage_error "$1 needs a number"; n=$2; pass+=("$1" "$2"); shift 2 ;;
    --count=*) n=${1#*=}; pass+=("$1"); shift ;;
    -b|--batch) [ $# -ge 2 ] || usage_error "$1 needs a number"; batch=$2; pass+=("$1" "$2"); shift 2 ;;
    --batch=*) batch=${1#*=}; pass+=("$1"); shift ;;
    -k|--batch-index|--batch-index=*) usage_error "--batch-index is chosen by the pipeline" ;;
    -i|--iters|-s|--seed|-m|--method|--log-every|--lr-z|--lr-g|--lr-pixel|--products)
      [ $# -ge 2 ] || usage_error "$1 needs a value"; pass+=("$1" "$2"); shift 2 ;;
    -q|--quiet) quiet=-q; shift ;;
    -*) pass+=("$1"); shift ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -eq 2 ] || usage_error "expected MODEL and STATS files, got ${#pos[@]} argument(s)"
[ -n "$out" ] || usage_error "no output file given (-o)"
[[ $n =~ ^[1-9][0-9]*$ ]] || usage_error "-n: not a positive count: '$n'"
[[ $batch =~ ^[1-9][0-9]*$ ]] || usage_error "--batch: not a positive integer: '$batch'"
[ $((n % batch)) -eq 0 ] || usage_error "-n $n is not a multiple of the batch size $batch"
model=${pos[0]} stats=${pos[1]}
[ -f "$model" ] || die "$model: No such file or directory"
[ -f "$stats" ] || die "$stats: No such file or directory"
gp_bin
# fail before the work: distill checks the options passed on, the inputs and
# the outputs' directories as every batch would (--dry-run), so a bad value
# costs no job and leaves nothing behind; its message is the one to see
distill "$model" "$stats" "${pass[@]}" --dry-run -q -o "$out" ${grid:+--grid "$grid"} || exit $?
command -v parallel >/dev/null || die "GNU parallel not found (make deps installs it)"
nb=$((n / batch))
gp_settle "$nb" distill
: "${gp_joblog:=${dir:-$(dirname "$out")}/distill.joblog}"

work=$(mktemp -d "${TMPDIR:-/tmp}/genie-distill.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage w=$work/stage/$gp_workdir

# batches kept under -d: reused when newer than the inputs and made with the
# same settings (any change, threads included, makes them all again)
todo=$(seq 0 $((nb - 1)))
if [ -n "$dir" ]; then
  mkdir -p "$dir"
  settings="model=$model stats=$stats threads=$gp_threads ${pass[*]}"
  stamp=$dir/synth.args
  if ! printf '%s\n' "$settings" | cmp -s - "$stamp"; then
    rm -f "$dir"/synth.[0-9]*.h5
    printf '%s\n' "$settings" >"$stamp.tmp.$$" && mv "$stamp.tmp.$$" "$stamp"
  fi
  todo=$(for k in $todo; do f=$dir/synth.$k.h5
    [ -f "$f" ] && [ "$f" -nt "$model" ] && [ "$f" -nt "$stats" ] && [ "$f" -nt "$stamp" ] || echo "$k"; done)
fi

if [ -n "$todo" ]; then
  echo "$prog: distill: $(echo $todo | wc -w) of $nb batches of $batch images, $gp_jobs at a time, $gp_threads thread(s) each$(gp_remote && echo ", on other hosts")" >&2
  # under their own names (what distill records), unless those are the same
  mn=$(basename "$model") sn=$(basename "$stats")
  [[ $mn != "$sn" && "$mn$sn" =~ ^[A-Za-z0-9._+-]+$ ]] || { mn=model.h5 sn=stats.h5; }
  gp_stage "$stage" "$mn=$model" "$sn=$stats" || die "cannot stage the inputs in $w"
  rets=synth.{}.h5 gridarg=()
  [ -n "$grid" ] && { gridarg=(--grid grid.{}.png); rets="$rets grid.{}.png"; }
  # the first batch that fails on its last try stops the others; h5cat
  # never runs then
  printf '%s\n' $todo | gp_run "$stage" "$mn $sn" "$rets" -- \
    distill "$mn" "$sn" "${pass[@]}" --threads "$gp_threads" "${gridarg[@]}" $quiet \
      --batch-index '{}' -o 'synth.{}.h5' ||
    { if [ -n "$dir" ]; then
        for k in $todo; do if [ -f "$w/synth.$k.h5" ]; then mv "$w/synth.$k.h5" "$dir/"; fi; done
      fi
      die "a distill job failed (job log: $gp_joblog); nothing written"; }
  for k in $todo; do
    [ -f "$w/synth.$k.h5" ] || die "batch $k did not come back from its host; nothing written"
    if [ -n "$dir" ]; then mv "$w/synth.$k.h5" "$dir/"; fi
    if [ -n "$grid" ]; then mv "$w/grid.$k.png" "${grid%.png}.$k.png" || die "the grid of batch $k did not come back"; fi
  done
fi
parts=()
for k in $(seq 0 $((nb - 1))); do parts+=("${dir:-$w}/synth.$k.h5"); done
h5cat "${parts[@]}" -o "$out" || die "joining the batches failed; nothing written"
echo "$prog: wrote $out ($n images)" >&2
