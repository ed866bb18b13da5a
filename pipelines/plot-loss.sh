#!/usr/bin/env bash
# pipelines/plot-loss.sh - loss curves of distill outputs as one PNG
# (gnuplot): the total loss of every file's /loss against /loss_iter, log
# scale, one curve per file, labelled with the file name, method and swing.
# A file holding several batches shows batch 0 only.
#
# Usage: pipelines/plot-loss.sh -o CURVES.png SYNTH.h5 [MORE.h5 ...] [--title T]
# Exit status: 0 ok, 1 an input or gnuplot failed, 2 usage error.
set -euo pipefail
prog=plot-loss.sh
bad() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
die() { echo "$prog: $*" >&2; exit 1; }
out="" title="Genie-D distillation loss"
files=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -o|--output) [ $# -ge 2 ] || bad "$1 needs a file"; out=$2; shift 2 ;;
    --title) [ $# -ge 2 ] || bad "$1 needs a text"; title=$2; shift 2 ;;
    -*) bad "unknown option $1" ;;
    *) files+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || bad "no output file given (-o)"
[ ${#files[@]} -ge 1 ] || bad "no input files"
command -v gnuplot >/dev/null || die "gnuplot not found (make deps installs gnuplot-nox)"
work=$(mktemp -d "${TMPDIR:-/tmp}/genie-plot.XXXXXX")
trap 'rm -rf "$work"' EXIT
attr() { h5dump -a "$2" "$1" 2>/dev/null | sed -n 's/.*(0): *"\{0,1\}\([^"]*\)"\{0,1\}.*/\1/p' | head -n 1; }
plots=()
i=0
for f in "${files[@]}"; do
  h5dump -d /loss -b LE -o "$work/l.bin" "$f" >/dev/null 2>&1 || die "$f: no /loss (not a distill output?)"
  h5dump -d /loss_iter -b LE -o "$work/i.bin" "$f" >/dev/null 2>&1 || die "$f: no /loss_iter"
  rows=$(attr "$f" loss_rows_per_batch); [ -n "$rows" ] || rows=1000000000
  paste <(od -An -v -t d4 -w4 "$work/i.bin") <(od -An -v -f -w12 "$work/l.bin") | head -n "$rows" >"$work/$i.dat"
  [ -s "$work/$i.dat" ] || die "$f: empty /loss"
  method=$(attr "$f" method); swing=$(attr "$f" swing)
  ns=""; if [ "$swing" = 0 ]; then ns=", no swing"; fi
  label="$(basename "$f" .h5) (${method:-?}$ns)"
  plots+=("'$work/$i.dat' using 1:2 with lines lw 2 title '${label//\'/}'")
  i=$((i + 1))
done
tmp="$out.tmp.$$"
{
  echo "set terminal pngcairo size 900,560 noenhanced font 'Sans,11'"
  echo "set output '$tmp'"
  echo "set title '${title//\'/}'"
  echo "set xlabel 'iteration'; set ylabel 'total loss (mean + std terms)'"
  echo "set logscale y; set grid; set key top right"
  (IFS=,; echo "plot ${plots[*]}")
} >"$work/plot.gp"
gnuplot "$work/plot.gp" || { rm -f "$tmp"; die "gnuplot failed"; }
mv -f "$tmp" "$out"
