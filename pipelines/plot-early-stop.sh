#!/usr/bin/env bash
# pipelines/plot-early-stop.sh - top-1 against total iterations (distillation
# plus reconstruction) as one PNG (gnuplot): the full schedule and early-stop
# runs, one line per series (a seed and bit-width), its points in order of
# iterations. Series named "GROUP seed S" that share a GROUP and a number of
# points also get a thick "GROUP, mean" line: the mean over the seeds of
# their first points, second points, and so on.
#
# Usage: pipelines/plot-early-stop.sh -o CURVES.png [--distill N] [--full T]
#          [--title T] SERIES:RECON:EVAL.json [MORE ...]
# A point: SERIES names its line; RECON is a recon-block log (its last line
# "early stop: N reconstruction iterations in all" gives N) or a count
# (the full schedule's, units x --iters); EVAL.json is genie-eval --json's
# output (its top1, or quantised.top1 of a genie.mk result.json). --distill
# N adds N distillation iterations to every point (default 0); --full T
# draws a dashed line at T/2 total iterations ("2x fewer" than T).
# Exit status: 0 ok, 1 an input or gnuplot failed, 2 usage error.
set -euo pipefail
prog=plot-early-stop.sh
bad() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
die() { echo "$prog: $*" >&2; exit 1; }
out="" title="early stop against the full schedule" distill=0 full=""
points=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -o|--output) [ $# -ge 2 ] || bad "$1 needs a file"; out=$2; shift 2 ;;
    --title) [ $# -ge 2 ] || bad "$1 needs a text"; title=$2; shift 2 ;;
    --distill) [ $# -ge 2 ] || bad "$1 needs a count"; distill=$2; shift 2
      [[ $distill =~ ^[0-9]{1,12}$ ]] || bad "--distill: not a count: '$distill'" ;;
    --full) [ $# -ge 2 ] || bad "$1 needs a count"; full=$2; shift 2
      [[ $full =~ ^[1-9][0-9]{0,11}$ ]] || bad "--full: not a positive count: '$full'" ;;
    -*) bad "unknown option $1" ;;
    *) points+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || bad "no output file given (-o)"
[ ${#points[@]} -ge 1 ] || bad "no points"
command -v gnuplot >/dev/null || die "gnuplot not found (make deps installs gnuplot-nox)"
work=$(mktemp -d "${TMPDIR:-/tmp}/genie-plot.XXXXXX")
trap 'rm -rf "$work"' EXIT
: >"$work/all.tsv"
for p in "${points[@]}"; do
  [[ $p =~ ^([^:]+):([^:]+):([^:]+)$ ]] || bad "not SERIES:RECON:EVAL.json: '$p'"
  s=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]} j=${BASH_REMATCH[3]}
  if [[ $r =~ ^[0-9]{1,12}$ ]]; then n=$r
  else
    [ -r "$r" ] || die "$r: No such file or directory"
    n=$(sed -n 's/.*early stop: \([0-9]*\) reconstruction iterations in all.*/\1/p' "$r" | tail -n 1)
    [ -n "$n" ] || die "$r: no 'early stop: N reconstruction iterations in all' line (not a recon-block --early-stop log?)"
  fi
  [ -r "$j" ] || die "$j: No such file or directory"
  t=$(sed -n 's/.*"quantised": {"top1": \([0-9.]*\).*/\1/p; s/^{"top1": \([0-9.]*\).*/\1/p' "$j" | head -n 1)
  [ -n "$t" ] || die "$j: no top1 (not a genie-eval --json output?)"
  printf '%s\t%s\t%s\n' "${s//\'/}" $((n + distill)) "$(awk -v t="$t" 'BEGIN { printf "%.2f", 100 * t }')" >>"$work/all.tsv"
done
# one data file per series (points by iterations), then the group means
awk -F'\t' -v w="$work" '
  !($1 in id) { id[$1] = ns + 0; name[ns++] = $1 }
  { print $2 "\t" $3 > (w "/s" id[$1] ".raw") }
  END { for (i = 0; i < ns; i++) print name[i] > (w "/series") }' "$work/all.tsv"
plots=()
i=0
while IFS= read -r s; do
  sort -n -k1,1 "$work/s$i.raw" >"$work/s$i.dat"
  plots+=("'$work/s$i.dat' using 1:2 with linespoints lw 1 pt 7 ps 0.8 title '$s'")
  i=$((i + 1))
done <"$work/series"
# groups: series "GROUP seed S"; a mean when every series of a group has as many points
awk -v w="$work" '
  { g = $0; if (sub(/ seed [0-9]+$/, "", g)) { k = NR - 1; members[g] = members[g] " " k; cnt[g]++ } }
  END {
    for (g in members) {
      if (cnt[g] < 2) continue
      split(substr(members[g], 2), m, " "); np = -1; ok = 1
      for (a in m) { c = 0; f = w "/s" m[a] ".dat"; while ((getline l < f) > 0) { split(l, v, "\t"); X[a, c] = v[1]; Y[a, c] = v[2]; c++ } close(f)
        if (np < 0) np = c; else if (c != np) ok = 0 }
      if (!ok) continue
      out = w "/mean." gi++ ".dat"; print g "\t" out > (w "/means")
      for (c = 0; c < np; c++) { sx = sy = 0; for (a in m) { sx += X[a, c]; sy += Y[a, c] }
        printf "%.1f\t%.3f\n", sx / cnt[g], sy / cnt[g] > out }
    }
  }' "$work/series"
if [ -f "$work/means" ]; then
  while IFS=$'\t' read -r g f; do
    plots+=("'$f' using 1:2 with linespoints lw 3 pt 5 ps 1.2 title '$g, mean'")
  done < <(sort "$work/means")
fi
tmp="$out.tmp.$$"
{
  echo "set terminal pngcairo size 900,600 noenhanced font 'Sans,11'"
  echo "set output '$tmp'"
  echo "set title '${title//\'/}'"
  echo "set xlabel 'total iterations (distillation + reconstruction)'; set ylabel 'top-1 (%)'"
  echo "set grid; set key outside right; set xrange [0:*]"
  [ -z "$full" ] || echo "set arrow from $((full / 2)), graph 0 to $((full / 2)), graph 1 nohead dt 2 lw 2; set label '2x fewer than $full' at $((full / 2)), graph 0.97 offset 0.5,0"
  (IFS=,; echo "plot ${plots[*]}")
} >"$work/plot.gp"
gnuplot "$work/plot.gp" || { rm -f "$tmp"; die "gnuplot failed"; }
mv -f "$tmp" "$out"
