#!/usr/bin/env bash
# pipelines/parallel.bash - what distill.sh and recon-parallel.sh share:
# running one genie program per task with GNU parallel, on this host or on
# others over ssh, files sent with the jobs and results brought back.
# Sourced, not run. The sourcing script defines usage_error MSG (exit 2)
# and die MSG (exit 1).
#
# Shared options (gp_option parses them):
#   -j, --jobs N        jobs at a time on each host (default: this host's cores)
#   -t, --threads N     threads of each job (default: 1 with --sshlogin/--slf;
#                       on this host cores/jobs rounded up, so a single job
#                       uses every core and many jobs one each)
#   -S, --sshlogin L    GNU parallel's -S, repeatable (":" is this host)
#   --slf FILE          GNU parallel's --sshloginfile
#   --ssh CMD           the ssh command GNU parallel uses (default ssh)
#   --workdir DIR       where jobs run on other hosts, relative to the login
#                       directory (default .genie/NAME.THISHOST.PID); removed
#                       afterwards
#   --retries N         tries per task, on another host when there is one
#                       (default 3 with other hosts, 1 otherwise)
#   --joblog FILE       GNU parallel's job log (one line per task: host,
#                       times, exit status); kept
#
# How files travel: every task's inputs are put (hard-linked, or copied) in
# STAGE/WORKDIR under fixed names, and go to each other host once with
# --basefile; a job runs in WORKDIR (there, or here for ":"), writes its
# output there under a name of its own, and --return brings it back to
# STAGE/WORKDIR; --cleanup then removes what was sent and made there. Every
# job runs with OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to its threads,
# so neither OpenBLAS nor any OpenMP runtime starts more threads than asked,
# and with this host's OPENBLAS_CORETYPE when that is set: the same kernels
# everywhere, so that results are bit for bit those of this host (the hosts'
# CPUs must then run those kernels; genie-blas(7)).
# What it does not do: install genie on the other hosts (its programs must be
# on their PATH) or retry a task that fails on every host.

# run rather than sourced: say what this is
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1-} in
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "parallel.bash: sourced by distill.sh and recon-parallel.sh, not run" >&2
       echo "Try 'parallel.bash --help' for more information." >&2; exit 2 ;;
  esac
fi

# gp_bin: puts genie's programs first on PATH: those in $BIN when it is set,
# else bin/ beside pipelines/ in a clone, or PREFIX/bin beside
# PREFIX/share/genie when installed; otherwise PATH must have them.
gp_bin() {
  local d here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ -n "${BIN:-}" ]; then
    [ -x "$BIN/calib" ] || die "BIN=$BIN: genie's programs are not there"
    PATH="$(cd "$BIN" && pwd):$PATH"
  else
    for d in "$here/../bin" "$here/../../bin"; do
      if [ -x "$d/calib" ]; then PATH="$(cd "$d" && pwd):$PATH"; break; fi
    done
  fi
  export PATH
  command -v calib >/dev/null || die "genie's programs are neither beside pipelines/ nor on PATH (make install, or set BIN)"
}

gp_jobs='' gp_threads='' gp_slf='' gp_ssh='' gp_workdir='' gp_retries='' gp_joblog=''
gp_logins=()

gp_count() { [[ $2 =~ ^[1-9][0-9]{0,5}$ ]] || usage_error "$1: not a positive integer: '$2'"; }

# gp_option ARGS...: when $1 is a shared option, takes it (and its value);
# sets GP_SHIFT to the number of words taken, 0 when $1 is not one of them.
gp_option() {
  GP_SHIFT=0
  local o=$1 v
  case $o in
    --*=*) v=${o#*=}; o=${o%%=*}; GP_SHIFT=1 ;;
    *) v=${2-}; GP_SHIFT=2 ;;
  esac
  case $o in
    -j|--jobs|-t|--threads|-S|--sshlogin|--slf|--sshloginfile|--ssh|--workdir|--retries|--joblog)
      [ $GP_SHIFT = 1 ] || [ $# -ge 2 ] || usage_error "$o needs a value" ;;
    *) GP_SHIFT=0; return 0 ;;
  esac
  case $o in
    -j|--jobs) gp_count "$o" "$v"; gp_jobs=$v ;;
    -t|--threads) gp_count "$o" "$v"; gp_threads=$v ;;
    -S|--sshlogin) [ -n "$v" ] || usage_error "$o: empty login"; gp_logins+=("$v") ;;
    --slf|--sshloginfile) [ -r "$v" ] || usage_error "$o: cannot read '$v'"; gp_slf=$v ;;
    --ssh) gp_ssh=$v ;;
    --workdir) [[ -n $v && $v != /* && $v != *..* && $v != . && $v != ... ]] ||
                 usage_error "$o: expected a relative directory (no '..'): '$v'"; gp_workdir=$v ;;
    --retries) gp_count "$o" "$v"; gp_retries=$v ;;
    --joblog) [ -n "$v" ] || usage_error "$o: empty file name"; gp_joblog=$v ;;
  esac
}

# true when jobs may run on another host
gp_remote() {
  [ -n "$gp_slf" ] && return 0
  local l p parts
  for l in "${gp_logins[@]}"; do
    IFS=, read -ra parts <<<"$l"
    for p in "${parts[@]}"; do
      [[ $p =~ ^[0-9]+/(.*)$ ]] && p=${BASH_REMATCH[1]}
      [ "$p" = : ] || return 0
    done
  done
  return 1
}

# gp_settle NTASKS NAME: fills in the defaults (jobs, threads, retries,
# workdir) once the options are read and the number of tasks is known.
gp_settle() {
  local ntasks=$1 name=$2 cores
  cores=$(nproc 2>/dev/null || echo 1)
  : "${gp_jobs:=$cores}"
  if gp_remote; then
    : "${gp_threads:=1}" "${gp_retries:=3}"
  else
    local j=$(( gp_jobs < ntasks ? gp_jobs : ntasks ))
    [ "$j" -ge 1 ] || j=1
    : "${gp_threads:=$(( (cores + j - 1) / j ))}" "${gp_retries:=1}"
  fi
  : "${gp_workdir:=.genie/$name.$(hostname -s 2>/dev/null || echo host).$$}"
}

# gp_stage STAGE NAME=FILE...: links (or copies) each FILE into
# STAGE/WORKDIR/NAME, where the jobs find it.
gp_stage() {
  local stage=$1 w=$1/$gp_workdir a; shift
  mkdir -p "$w" || return 1
  for a in "$@"; do
    rm -f "$w/${a%%=*}"
    ln "${a#*=}" "$w/${a%%=*}" 2>/dev/null || cp "${a#*=}" "$w/${a%%=*}" || return 1
  done
}

# gp_run STAGE INPUTS RETURNS -- COMMAND...: one job per line of standard
# input ({} in COMMAND and in RETURNS is the line), run where the options
# say, in WORKDIR; INPUTS are the names staged by gp_stage (space
# separated), RETURNS the output names (patterns with {}) to bring back.
# The first task that fails on its last try stops the others. Returns
# parallel's exit status; outputs that were made are in STAGE/WORKDIR.
gp_run() {
  local stage=$1 inputs=$2 returns=$3 f; shift 4
  local args=(-q -j "$gp_jobs" --halt now,fail=1 --line-buffer --retries "$gp_retries")
  local envs=(OPENBLAS_NUM_THREADS="$gp_threads" OMP_NUM_THREADS="$gp_threads")
  [ -n "${OPENBLAS_CORETYPE:-}" ] && envs+=(OPENBLAS_CORETYPE="$OPENBLAS_CORETYPE")
  [ -n "$gp_joblog" ] && args+=(--joblog "$(cd "$(dirname "$gp_joblog")" && pwd)/$(basename "$gp_joblog")")
  if gp_remote; then
    local l
    for l in "${gp_logins[@]}"; do args+=(-S "$l"); done
    [ -n "$gp_slf" ] && args+=(--slf "$(cd "$(dirname "$gp_slf")" && pwd)/$(basename "$gp_slf")")
    [ -n "$gp_ssh" ] && args+=(--ssh "$gp_ssh")
    args+=(--workdir "$gp_workdir" --cleanup)
    for f in $inputs; do args+=(--basefile "$gp_workdir/./$f"); done
    for f in $returns; do args+=(--return "$gp_workdir/./$f"); done
    (cd "$stage" && parallel "${args[@]}" \
       env "${envs[@]}" "$@")
  else
    (cd "$stage/$gp_workdir" && parallel "${args[@]}" \
       env "${envs[@]}" "$@")
  fi
}
