#!/usr/bin/env bash
# pipelines/wave-plan.sh - the wall time a wavefront of S stages would take
# on enough hosts, from the unit times of one sequential run, as a fraction
# of that run's: issue 18's count (units as if equal) beside what unequal
# units make of it. recon-parallel.sh --wavefront S runs time steps in lock
# step: a step waits for its slowest unit's stage. A dataflow schedule would
# start unit K's stage s as soon as its stage s-1 and unit K-1's stage s are
# done: its wall time is the longest such chain.
#
# Usage: pipelines/wave-plan.sh [options] LOG
#   LOG                the standard error of a sequential recon-block --all
#                      run (its 'recon-block: unit K (...): ..., T s, ...'
#                      lines); '-' for standard input
#   -S, --stages LIST  stage counts, comma separated (2,3,4,6,8)
#   -f, --factor F     the wavefront's iterations per unit over the logged
#                      run's (1; 1.375 for 1375 against 1000)
#   -e, --overlap-ends the wavefront of recon-parallel.sh --overlap-ends:
#                      unit 1 starts with unit 0 and unit N-1 with unit N-2
#   -h, --help
# Each unit's stages are taken as T*F/S seconds, T its logged time (its
# set-up included once; a wavefront pays it in every stage, so the real
# figures are a little higher). Prints one tab-separated row per S: stages,
# units, the count (N+S-1)/S*F/N, lock step and dataflow as fractions of
# the logged run's time, and the lock step's seconds (with -e the count is
# (N+S-3)/S*F/N).
# Exit status: 0 ok, 1 a LOG without unit times, 2 usage error.
set -eu
prog=wave-plan.sh
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
stages=2,3,4,6,8 factor=1 log='' overlap=0
while [ $# -gt 0 ]; do
  case $1 in
    -S|--stages) [ $# -ge 2 ] || usage_error "$1 needs a value"; stages=$2; shift 2 ;;
    -f|--factor) [ $# -ge 2 ] || usage_error "$1 needs a value"; factor=$2; shift 2 ;;
    -e|--overlap-ends) overlap=1; shift ;;
    -h|--help) sed -n '/^# pipelines/,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -) [ -z "$log" ] || usage_error "one LOG, not '$log' and '$1'"; log=$1; shift ;;
    -*) usage_error "unknown option '$1'" ;;
    *) [ -z "$log" ] || usage_error "one LOG, not '$log' and '$1'"; log=$1; shift ;;
  esac
done
[ -n "$log" ] || usage_error "no LOG given"
[[ $stages =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage_error "--stages: not a list of positive counts: '$stages'"
[[ $factor =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v f="$factor" 'BEGIN { exit !(f > 0) }' ||
  usage_error "--factor: not a positive number: '$factor'"
[ "$log" = - ] || [ -r "$log" ] || { echo "$prog: $log: No such file or directory" >&2; exit 1; }
[ "$log" != - ] || log=/dev/stdin
awk -v stages="$stages" -v f="$factor" -v overlap="$overlap" -v name="${log/#\/dev\/stdin/-}" '
  # a unit line: "recon-block: unit K (...): ..., T s, steps ..."
  /^recon-block: unit [0-9]+ / && match($0, /, [0-9.]+ s, steps/) {
    k = $3 + 0; t[k] = substr($0, RSTART + 2, RLENGTH - 11) + 0
    if (k + 1 > n) n = k + 1
  }
  END {
    for (k = 0; k < n; k++) if (!(k in t)) { printf "wave-plan.sh: %s: no time for unit %d\n", name, k > "/dev/stderr"; exit 1 }
    if (!n) { printf "wave-plan.sh: %s: no recon-block unit lines\n", name > "/dev/stderr"; exit 1 }
    for (k = 0; k < n; k++) seq += t[k]
    if (seq <= 0) { printf "wave-plan.sh: %s: the units took 0 s\n", name > "/dev/stderr"; exit 1 }
    # unit k runs stage T-k+z[k] at step T: z = 0, or with -e 0 for unit 0,
    # 2 for unit n-1 (n > 2) and 1 between
    for (k = 0; k < n; k++) z[k] = overlap && k > 0 ? (k == n - 1 && n > 2 ? 2 : 1) : 0
    print "stages\tunits\tcount\tlockstep\tdataflow\tlockstep_s"
    ns = split(stages, S, ",")
    for (i = 1; i <= ns; i++) {
      s = S[i] + 0; lock = 0; steps = n + s - 1 - z[n - 1]
      for (T = 1; T <= steps; T++) {
        m = 0
        for (k = 0; k < n; k++) if (T - k + z[k] >= 1 && T - k + z[k] <= s && t[k] > m) m = t[k]
        lock += m * f / s
      }
      # the longest chain: L[k,j] = t[k]f/s + max(L[k,j-1], L[k-1,j-d]),
      # d = z[k]-z[k-1] (stage j of unit k reads unit k-1 after its stage j-d)
      for (k = 0; k < n; k++) {
        d = k > 0 ? z[k] - z[k - 1] : 0
        for (j = 1; j <= s; j++) {
          a = j > 1 ? L[k, j - 1] : 0
          b = k > 0 && j - d >= 1 ? L[k - 1, j - d] : 0
          L[k, j] = t[k] * f / s + (a > b ? a : b)
        }
      }
      printf "%d\t%d\t%.3f\t%.3f\t%.3f\t%.1f\n", s, n, steps / s * f / n, lock / seq, L[n - 1, s] / seq, lock
    }
  }' "$log"
