#!/usr/bin/env bash
# pipelines/seed-table.sh - Table 1 as mean ± sd over seeds, from the output
# directories of pipelines/reference-table.sh run once per seed
# (SEED=s pipelines/reference-table.sh out/DIR-s). Prints the per-seed top-1
# and, per cell, the mean and the sample standard deviation (n-1) over the
# seeds whose run completed (n given); cells no seed completed are "—".
# Usage: pipelines/seed-table.sh DIR...
# Exit status: 0 ok, 2 usage error.
set -eu
case ${1:-} in
  -h|--help) sed -n '/^# pipelines/,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) echo "seed-table.sh: unknown option $1" >&2; echo "Try 'seed-table.sh --help' for more information." >&2; exit 2 ;;
esac
[ $# -ge 1 ] || { echo "seed-table.sh: no DIR given" >&2; echo "Try 'seed-table.sh --help' for more information." >&2; exit 2; }
top1() { [ -f "$1" ] && sed -n 's/.*"top1": \([0-9.]*\).*/\1/p' "$1" | awk '{printf "%.2f", 100*$1}'; }
cell() { # file-stem: per-seed values, then mean ± sd (n)
  local v="" x
  for d in $DIRS; do x=$(top1 "$d/$1.json" || true); v="$v ${x:-—}"; done
  echo "$v" | awk '{ n = 0; s = 0; ss = 0; out = "";
    for (i = 1; i <= NF; i++) { out = out (i > 1 ? " / " : "") $i; if ($i != "—") { n++; s += $i; a[n] = $i } }
    if (!n) { printf "— (%s)", out; exit }
    m = s / n; for (i = 1; i <= n; i++) ss += (a[i] - m) ^ 2
    if (n > 1) printf "%.2f ± %.2f (n=%d: %s)", m, sqrt(ss / (n - 1)), n, out
    else printf "%.2f (n=1: %s)", m, out }'
}
DIRS="$*"
echo "| W/A | few-shot (256 real) | zero-shot (Genie-D) | round-to-nearest |"
echo "|---|---|---|---|"
for wa in "4 4" "2 4" "2 2"; do set -- $wa
  echo "| $1/$2 | $(cell real-w$1a$2) | $(cell synth-w$1a$2) | $(cell rtn-w$1a$2) |"
done
