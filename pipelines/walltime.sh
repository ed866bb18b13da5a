#!/usr/bin/env bash
# pipelines/walltime.sh - the wall time of genie's zero-shot pipeline
# (bnstats -> distill -> calib -> reconstruction -> pack: genie.mk's stages
# up to the packed model, no evaluation) at given settings, each run in a
# fresh directory, for every combination of place (this machine, ssh hosts,
# a Slurm cluster), schedule and jobs at a time; beside each wall time the
# CPU genie used and the machine's load during the run, since on a shared
# machine a wall time means little without them. One row per run in a
# tab-separated table (appended; the header when the file is new), to plot.
#
# Usage: pipelines/walltime.sh [options] [VARIABLE=value ...]
#   -p, --places LIST  local, ssh, slurm, comma separated (local)
#   -m, --modes LIST   schedules, genie.mk's MODE: sequential, jacobi,
#                      wavefront (where genie.mk has it), comma separated
#                      (sequential,jacobi)
#   -j, --jobs LIST    jobs at a time, comma separated (1,2,4): genie.mk's
#                      JOBS here; over ssh the total, spread over the hosts
#                      in turn (N/host logins); under Slurm each array's
#                      %N limit
#   -d, --dir DIR      runs go to DIR/PLACE-MODE-jJOBS, removed first
#                      (walltime.runs)
#   -o, --output FILE  the table (DIR/walltime.tsv)
#   --model FILE       the FP32 model (this clone's data/fmnist-resnet20.h5)
#   -S, --sshlogin L   ssh: a host, as GNU parallel's -S (repeatable)
#   --ssh CMD          ssh: the ssh command GNU parallel uses
#   --test-hosts       ssh: two hosts in network namespaces on this machine
#                      (tests/distributed/hosts.bash: root, a clone)
#   --test-cluster     slurm: a Slurm cluster on this machine, two nodes of
#                      2 CPUs in those namespaces (tests/distributed/
#                      cluster.bash: root, a clone); without it sbatch's
#                      own cluster, DIR on a filesystem its nodes share
#   -h, --help
# VARIABLE=value: settings of every run, after these defaults (about 2
# core-minutes a run on the bundled resnet20):
#   WBITS=2 ABITS=4 FIRST_LAST=8 SAMPLES=256 BATCH=64 DISTILL_ITERS=100
#   RECON_ITERS=500 RECON_BATCH=8 SEED=0 THREADS=1
#   ROUNDS=4 ROUND_ITERS=125 (jacobi only)
#   STAGES=3 OVERLAP_ENDS=1 (wavefront only; genie.mk's defaults: OVERLAP_ENDS
#   is 0 unless FIRST_LAST=8)
# Under Slurm the script submits the stages itself (slurm-array.sbatch
# arrays for the batches, each round's units and each wavefront time step's
# units, sbatch --wrap for the rest: the joins, the pack --qmodel after each
# round or step, pack; chained by --dependency=afterok), the same programs
# with the same arguments as genie.mk; sequential reconstruction is one job.
# Columns: place mode jobs status wall_s cpu_s cpu_by busy_cores
# other_cores load_start load_mean load_end cores same settings commit
#   wall_s       wall seconds of the run
#   cpu_s        CPU seconds of the run's processes; cpu_by says how
#                counted: cgroup (a cpuacct cgroup holding this script and
#                all it starts, the test hosts' sshd and the test cluster's
#                daemons with their jobs included) or children (waited-for
#                children of this script only: nothing sshd or slurmd ran)
#   busy_cores   the machine's busy CPU time during the run (/proc/stat)
#                over the wall time, in cores
#   other_cores  busy_cores less cpu_s/wall_s: everything else the machine ran
#   load_*       1-minute load average at the start, mean of samples every
#                2 s, at the end
#   same         the packed model against the first local run of the same
#                mode at the same settings, in this call or an earlier one
#                into DIR (cmp): same, differs, or - (none)
# Exit status: 0 every run made its packed model, 1 a run failed, 2 usage error.
set -uo pipefail
prog=walltime.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { sed -n '/^# Usage:/,/^# Exit status/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }

places=local modes=sequential,jacobi jobs=1,2,4 dir=walltime.runs out='' model=$root/data/fmnist-resnet20.h5
logins=() sshcmd='' test_hosts=0 test_cluster=0
declare -A set=([WBITS]=2 [ABITS]=4 [FIRST_LAST]=8 [SAMPLES]=256 [BATCH]=64 [DISTILL_ITERS]=100
                [RECON_ITERS]=500 [RECON_BATCH]=8 [SEED]=0 [THREADS]=1 [ROUNDS]=4 [ROUND_ITERS]=125 [STAGES]=3
                [OVERLAP_ENDS]='')
order=(WBITS ABITS FIRST_LAST SAMPLES BATCH DISTILL_ITERS RECON_ITERS RECON_BATCH SEED THREADS)
while [ $# -gt 0 ]; do
  case $1 in
    -p|--places|-m|--modes|-j|--jobs|-d|--dir|-o|--output|--model|-S|--sshlogin|--ssh)
      [ $# -ge 2 ] || usage_error "$1 needs a value" ;;
  esac
  case $1 in
    -p|--places) places=$2; shift 2 ;;
    -m|--modes) modes=$2; shift 2 ;;
    -j|--jobs) jobs=$2; shift 2 ;;
    -d|--dir) dir=$2; shift 2 ;;
    -o|--output) out=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    -S|--sshlogin) [ -n "$2" ] || usage_error "$1: empty login"; logins+=("$2"); shift 2 ;;
    --ssh) sshcmd=$2; shift 2 ;;
    --test-hosts) test_hosts=1; shift ;;
    --test-cluster) test_cluster=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *=*) v=${1%%=*}
         [ -n "${set[$v]+x}" ] || usage_error "$v: not a setting of this script (${!set[*]})"
         [[ ${1#*=} =~ ^[0-9]{1,9}$ ]] || usage_error "$v: not a non-negative integer: '${1#*=}'"
         set[$v]=${1#*=}; shift ;;
    *) usage_error "unexpected argument '$1'" ;;
  esac
done
IFS=, read -ra P <<<"$places"; IFS=, read -ra M <<<"$modes"; IFS=, read -ra J <<<"$jobs"
[ ${#P[@]} -gt 0 ] && [ ${#M[@]} -gt 0 ] && [ ${#J[@]} -gt 0 ] || usage_error "empty list"
for p in "${P[@]}"; do case $p in local|ssh|slurm) ;; *) usage_error "--places: unknown place '$p' (local, ssh, slurm)" ;; esac; done
for m in "${M[@]}"; do case $m in sequential|jacobi|wavefront) ;; *) usage_error "--modes: unknown schedule '$m' (sequential, jacobi, wavefront)" ;; esac; done
for j in "${J[@]}"; do [[ $j =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "--jobs: not a positive count: '$j'"; done
for v in SAMPLES BATCH DISTILL_ITERS RECON_ITERS RECON_BATCH THREADS ROUNDS ROUND_ITERS STAGES; do
  [ "${set[$v]}" -ge 1 ] || usage_error "$v: must be at least 1"
done
[ -n "${set[OVERLAP_ENDS]}" ] || set[OVERLAP_ENDS]=$(( set[FIRST_LAST] == 8 ? 1 : 0 ))
[ "${set[OVERLAP_ENDS]}" -le 1 ] || usage_error "OVERLAP_ENDS: 0 or 1, not ${set[OVERLAP_ENDS]}"
[ $(( set[SAMPLES] % set[BATCH] )) = 0 ] || usage_error "SAMPLES=${set[SAMPLES]} is not a multiple of BATCH=${set[BATCH]}"
has() { local x; for x in "${@:2}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
if has ssh "${P[@]}"; then
  [ ${#logins[@]} -gt 0 ] || [ $test_hosts = 1 ] || usage_error "place ssh needs --sshlogin or --test-hosts"
fi
if has wavefront "${M[@]}"; then
  grep -q 'wavefront' "$here/genie.mk" || usage_error "--modes: this genie.mk has no MODE=wavefront"
fi
[ -f "$model" ] || die "$model: No such file or directory"
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
[ -x "$root/bin/calib" ] || die "$root/bin: genie's programs are not built (make)"
export PATH="$root/bin:$PATH:/usr/sbin:/sbin"
mkdir -p "$dir" || die "cannot make $dir"
dir=$(cd "$dir" && pwd)
out=${out:-$dir/walltime.tsv}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain -- bin lib pipelines 2>/dev/null)" ] || commit=$commit+changes
cores=$(nproc)
hz=$(getconf CLK_TCK)

# ---- CPU accounting: a cpuacct cgroup (v1) under this script's own, holding
# this script and everything it starts from now on, daemons included
cg='' cg_home=''
if [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/cpuacct ]; then
  cg_home=/sys/fs/cgroup/cpuacct$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}cpuacct\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup | sed 's:/$::')
  if [ -d "$cg_home" ] && mkdir "$cg_home/genie-walltime.$$" 2>/dev/null; then
    cg=$cg_home/genie-walltime.$$
    echo $$ >"$cg/cgroup.procs" || { rmdir "$cg"; cg=''; }
  fi
fi
cpu_now() {  # CPU seconds so far: the cgroup's, else this shell's waited-for children's
  if [ -n "$cg" ]; then awk '{ printf "%.3f", $1 / 1e9 }' "$cg/cpuacct.usage"
  else times | awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'; fi
}
busy_now() { awk 'NR == 1 { b = $2 + $3 + $4 + $7 + $8 + $9; print b }' /proc/stat; }

T=$(mktemp -d "${TMPDIR:-/tmp}/genie-walltime.XXXXXX")
chmod 755 "$T"
hosts_started=0 cluster_started=0 sampler=''
cleanup() {
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null
  [ $cluster_started = 0 ] || cluster_down "$T/cluster"
  [ $hosts_started = 0 ] || hosts_down "$T/hosts"
  if [ -n "$cg" ]; then
    echo $$ >"$cg_home/cgroup.procs" 2>/dev/null
    rmdir "$cg" 2>/dev/null || echo "$prog: warning: $cg still holds processes: $(tr '\n' ' ' <"$cg/cgroup.procs")" >&2
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- the places ---------------------------------------------------------------
if has ssh "${P[@]}" && [ $test_hosts = 1 ]; then
  . "$root/tests/distributed/hosts.bash"
  hosts_started=1
  hosts_up "$T/hosts" "$root/bin" || die "cannot bring up the test hosts (see above)"
  logins+=("$HOST_a" "$HOST_b") sshcmd=$HOSTS_SSH
  echo "$prog: test hosts $HOST_a and $HOST_b (network namespaces on this machine: the same $cores cores)" >&2
fi
if has slurm "${P[@]}"; then
  if [ $test_cluster = 1 ]; then
    declare -F hosts_up >/dev/null || . "$root/tests/distributed/hosts.bash"
    . "$root/tests/distributed/cluster.bash"
    cluster_started=1
    HOSTS_TAG=gw$$
    cluster_up "$T/cluster" "$root/bin" || die "cannot start the test cluster (see above)"
    echo "$prog: test cluster: $(sinfo -h -N -o '%N:%c CPUs' | tr '\n' ' ')(network namespaces on this machine: the same $cores cores)" >&2
  else
    command -v sbatch >/dev/null || die "place slurm: sbatch is not installed, and no --test-cluster"
  fi
fi

# ---- one run ------------------------------------------------------------------
# mk_args MODE JOBS: genie.mk's settings of a run here
mk_args() {
  local v a=(MODEL="$model" MODE="$1" JOBS="$2" QUIET=1)
  for v in "${order[@]}"; do a+=("$v=${set[$v]}"); done
  case $1 in
    jacobi) a+=(ROUNDS="${set[ROUNDS]}" ROUND_ITERS="${set[ROUND_ITERS]}") ;;
    wavefront) a+=(STAGES="${set[STAGES]}" OVERLAP_ENDS="${set[OVERLAP_ENDS]}") ;;
  esac
  printf '%s\n' "${a[@]}"
}
settings() {
  local v s=''
  for v in "${order[@]}"; do s+="$v=${set[$v]} "; done
  case $1 in
    jacobi) s+="ROUNDS=${set[ROUNDS]} ROUND_ITERS=${set[ROUND_ITERS]} " ;;
    wavefront) s+="STAGES=${set[STAGES]} OVERLAP_ENDS=${set[OVERLAP_ENDS]} " ;;
  esac
  echo "${s% }"
}

run_local() {  # OUT MODE JOBS [genie.mk variables...]
  local o=$1 m=$2 j=$3 a; shift 3
  mapfile -t a < <(mk_args "$m" "$j")
  make -s -f "$here/genie.mk" "${a[@]}" OUT="$o" "$@" pack
}

run_ssh() {  # OUT MODE JOBS: JOBS spread over the logins in turn
  local o=$1 m=$2 j=$3 n=${#logins[@]} i k hosts=''
  for i in $(seq 0 $(( n - 1 ))); do
    k=$(( j / n + (i < j % n ? 1 : 0) ))
    [ $k = 0 ] || hosts+="$k/${logins[$i]} "
  done
  run_local "$o" "$m" "$j" HOSTS="${hosts% }" ${sshcmd:+SSHCMD="$sshcmd"}
}

# sb OPTIONS... : sbatch --parsable, logs in OUT/log, dependents cancelled
# when what they wait for fails
sb() { sbatch --parsable --kill-on-invalid-dep=yes -c "${set[THREADS]}" -o "$o/log/%x.%A_%a.log" -D "$o" "$@"; }
# wait until job $1 has left the queue
sb_wait() { while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do sleep 0.5; done; }

run_slurm() {  # OUT MODE JOBS
  local o=$1 m=$2 j=$3 s=$here/slurm-array.sbatch t=${set[THREADS]} nb n a d c r k u prev in it files q=''
  local seed=${set[SEED]} ri=${set[RECON_ITERS]} rb=${set[RECON_BATCH]} mn
  mkdir -p "$o/log"
  # the files under the names and paths genie.mk and its drivers give them:
  # an array task sees its inputs under their own names in its directory,
  # as distill.sh's and recon-parallel.sh's jobs do; the rest by full path
  mn=$(basename "$model")
  ln -s "$model" "$o/$mn"
  nb=$(( set[SAMPLES] / set[BATCH] ))
  a=$(sb -J bnstats --wrap "bnstats -q -t $t '$model' -o '$o/stats.h5'") || return 1
  d=$(sb -J distill -d "afterok:$a" --array="0-$(( nb - 1 ))%$j" "$s" distill "$mn" stats.h5 . \
        -n "${set[SAMPLES]}" --batch "${set[BATCH]}" --iters "${set[DISTILL_ITERS]}" --seed "$seed" \
        --method genie --products fp32) || return 1
  # (a --wrap job runs under sh: lists expanded here)
  files=$(for k in $(seq 0 $(( nb - 1 ))); do printf "'%s' " "$o/synth.$k.h5"; done)
  c=$(sb -J calib -d "afterok:$d" --wrap "h5cat $files-o '$o/synth.h5' &&
        calib '$model' '$o/synth.h5' -w ${set[WBITS]} -a ${set[ABITS]} --first-last ${set[FIRST_LAST]} -t $t -q -o '$o/q.0.h5'") || return 1
  sb_wait "$c"
  [ -f "$o/q.0.h5" ] || { tail -n 5 "$o"/log/*.log; return 1; }
  n=$(calib --list-units "$o/q.0.h5" | wc -l)
  if [ "$m" = sequential ]; then
    r=$(sb -J recon --wrap "set -e; for k in \$(seq 0 $(( n - 1 ))); do
          recon-block '$o'/q.\$k.h5 '$o/synth.h5' --unit \$k --iters $ri --batch $rb --seed $seed -t $t -q -o '$o'/q.\$(( k + 1 )).h5; done
          cp '$o/q.$n.h5' '$o/q.h5' && pack -q '$o/q.h5' -o '$o/model.int.h5'") || return 1
  elif [ "$m" = wavefront ]; then
    # genie.mk MODE=wavefront: time step T = 1 .. n+S-1 one array of the
    # units K with 1 <= T-K+z(K) <= S, each its stage T-K+z(K) (slurm-array.sbatch
    # --wavefront-step; a later stage resumes its file of step T-1), on
    # wq.T-1.h5 (q.0.h5 for T = 1), their files in step.T/; then wq.T.h5,
    # that model with them applied (recon-parallel.sh --next: pack --qmodel);
    # z = 0, or with OVERLAP_ENDS=1 0 for unit 0, 2 for unit n-1 (n > 2) and
    # 1 between, n+S-1-z(n-1) steps
    local S=${set[STAGES]} nt lo hi w=q.0.h5 z=() ov=''
    for u in $(seq 0 $(( n - 1 ))); do
      z[u]=0
      [ "${set[OVERLAP_ENDS]}" = 0 ] || [ "$u" = 0 ] || z[u]=$(( u == n - 1 && n > 2 ? 2 : 1 ))
    done
    [ "${set[OVERLAP_ENDS]}" = 0 ] || ov=--overlap-ends
    nt=$(( n + S - 1 - z[n - 1] )) prev=''
    for k in $(seq 1 "$nt"); do
      lo='' hi=''
      for u in $(seq 0 $(( n - 1 ))); do
        if [ $(( k - u + z[u] )) -ge 1 ] && [ $(( k - u + z[u] )) -le "$S" ]; then lo=${lo:-$u} hi=$u; fi
      done
      a=$(sb -J step$k ${prev:+-d afterok:$prev} --array="$lo-$hi%$j" "$s" recon "$w" synth.h5 step.$k \
            --iters "$ri" --batch "$rb" --seed "$seed" -q --wavefront-step "$k/$S" $ov \
            ${prev:+--wavefront-prev step.$(( k - 1 ))}) || return 1
      files=$(for u in $(seq "$lo" "$hi"); do printf "'%s' " "$o/step.$k/unit.$u.h5"; done)
      q="pack -q --qmodel '$o/$w' $files-o '$o/wq.$k.h5'"
      # genie.mk: wq.h5 a copy of the last step's model, packed
      [ "$k" != "$nt" ] || q+=" && cp '$o/wq.$k.h5' '$o/wq.h5' && pack -q '$o/wq.h5' -o '$o/model.int.h5'"
      prev=$(sb -J wjoin$k -d "afterok:$a" --wrap "$q") || return 1
      w=wq.$k.h5
    done
    r=$prev
  else
    prev=''
    for k in $(seq 1 "${set[ROUNDS]}"); do
      in=q.0.h5 it=$ri
      [ "$k" = 1 ] || in=jq.$(( k - 1 )).h5 it=${set[ROUND_ITERS]}
      a=$(sb -J round$k ${prev:+-d afterok:$prev} --array="0-$(( n - 1 ))%$j" "$s" recon "$in" synth.h5 round.$k \
            --iters "$it" --batch "$rb" --seed "$seed" -q) || return 1
      files=$(for u in $(seq 0 $(( n - 1 ))); do printf "'%s' " "$o/round.$k/unit.$u.h5"; done)
      q="pack -q --qmodel '$o/$in' $files-o '$o/jq.$k.h5'"
      [ "$k" != "${set[ROUNDS]}" ] || q+=" && pack -q '$o/jq.$k.h5' -o '$o/model.int.h5'"
      prev=$(sb -J join$k -d "afterok:$a" --wrap "$q") || return 1
    done
    r=$prev
  fi
  sb_wait "$r"
  [ -f "$o/model.int.h5" ] || tail -n 5 "$o"/log/*.log
}

header='place	mode	jobs	status	wall_s	cpu_s	cpu_by	busy_cores	other_cores	load_start	load_mean	load_end	cores	same	settings	commit'
[ -s "$out" ] || echo "$header" >"$out"
declare -A ref=()
failed=0
for p in "${P[@]}"; do for m in "${M[@]}"; do for j in "${J[@]}"; do
  o=$dir/$p-$m-j$j
  rm -rf "$o" && mkdir -p "$o" || die "cannot make $o"
  echo "$prog: $p, $m, $j job(s) at a time: $(settings "$m") -> $o" >&2
  read -r l0 _ </proc/loadavg
  ( s=''; trap '[ -z "$s" ] || kill "$s" 2>/dev/null; exit 0' TERM
    while :; do read -r l _ </proc/loadavg; echo "$l"; sleep 2 & s=$!; wait "$s"; done ) >"$o/load.samples" &
  sampler=$!
  b0=$(busy_now) c0=$(cpu_now) t0=$EPOCHREALTIME
  st=0
  "run_$p" "$o" "$m" "$j" >"$o/run.log" 2>&1 || st=$?
  t1=$EPOCHREALTIME c1=$(cpu_now) b1=$(busy_now)
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=''
  read -r l1 _ </proc/loadavg
  status=ok
  if [ $st != 0 ] || [ ! -f "$o/model.int.h5" ]; then status=failed failed=1
    echo "$prog: $p, $m, $j job(s): failed; the end of $o/run.log:" >&2; tail -n 5 "$o/run.log" >&2
  fi
  settings "$m" >"$o/settings"
  # the reference: the first local run of this mode, in this call or an
  # earlier one into the same DIR at the same settings
  if [ -z "${ref[$m]:-}" ]; then
    for f in "$dir"/local-"$m"-j*/model.int.h5; do
      [ "$f" != "$o/model.int.h5" ] && [ -f "$f" ] && cmp -s "$(dirname "$f")/settings" "$o/settings" && { ref[$m]=$f; break; }
    done
  fi
  same=-
  if [ $status = ok ]; then
    if [ $p = local ] && [ -z "${ref[$m]:-}" ]; then ref[$m]=$o/model.int.h5
    elif [ -n "${ref[$m]:-}" ]; then cmp -s "${ref[$m]}" "$o/model.int.h5" && same=same || same=differs; fi
  fi
  row=$(awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v b0="$b0" -v b1="$b1" -v hz="$hz" \
          -v l0="$l0" -v l1="$l1" -v f="$o/load.samples" 'BEGIN {
    w = t1 - t0; c = c1 - c0; b = (b1 - b0) / hz
    n = 0; s = 0; while ((getline x <f) > 0) { s += x; n++ }
    printf "%.1f\t%.1f\t%s\t%.2f\t%.2f\t%s\t%.2f\t%s", w, c, "CPUBY", b / w, (b - c) / w, l0, n ? s / n : l0, l1 }')
  row=${row/CPUBY/$([ -n "$cg" ] && echo cgroup || echo children)}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$m" "$j" "$status" "$row" "$cores" "$same" "$(settings "$m")" "$commit" >>"$out"
  echo "$prog: $(tail -n 1 "$out")" >&2
done; done; done
exit $failed
