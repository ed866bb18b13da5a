#!/usr/bin/env bash
# pipelines/recon-parallel.sh - Genie-M with every unit reconstructed at once
# (genie-method(7), Genie-M): one `recon-block --independent` per unit of a
# calibrated model, run by GNU parallel on this host or on others, then `pack`
# of the calibrated model with the unit files. With --rounds R, R rounds of
# Jacobi type (genie-parallel(7)): round 1 is the above; in round r+1 every
# unit is reconstructed again, all at once, each from its round-r parameters
# and with its input through the round-r model (every other unit
# reconstructed), which is the calibrated model with the round-r unit files
# applied (`pack --qmodel`). With --wavefront S, a pipeline: each unit's
# iterations in S stages (recon-block --stage s/S, one schedule continued,
# each stage after the first resuming the optimiser its stage before left in
# the unit's file: recon-block --resume),
# and at time step T = 1 .. N+S-1 every unit K with 1 <= T-K <= S runs its
# stage T-K, all at once, on the model after step T-1 (the calibrated model
# with every unit file so far applied), so unit K's stage s sees unit K-1
# after its stage s; N+S-1 steps of I/S iterations cost (N+S-1)/S unit
# reconstructions of wall time on enough hosts. With --overlap-ends, the
# first unit and the last share their steps with their neighbours: unit 1
# starts with unit 0 and unit N-1 with unit N-2 (each a step earlier than
# above), so unit K runs stage T-K+z(K), z = 0 for unit 0, 2 for unit N-1
# and 1 between, and N+S-3 steps cost (N+S-3)/S.
#
# Usage: pipelines/recon-parallel.sh [options] Q.0.h5 DATA.h5 [-o MODEL.int.h5]
#   -i, --iters N       recon-block --iters (default 20000)
#   -b, --batch N       recon-block --batch (default 32)
#   -s, --seed S        recon-block --seed (default 0)
#   -d, --dir DIR       where the unit files unit.K.h5 go (default: the
#                       directory of the output, or of Q.0.h5 without -o)
#   -o, --output FILE   the packed model; without it only the unit files are made
#   -r, --rounds R      rounds of Jacobi type (default 1: independent units);
#                       round 1's unit files go to DIR, round r's to
#                       DIR/round.r, and the quantised model after round r
#                       (every unit of that round applied) to DIR/q.round.r.h5
#   --round-iters N     recon-block --iters of rounds 2 and later (default:
#                       --iters): each starts from the round before, so it
#                       can do with fewer, and a round's wall time is its
#                       iterations
#   -w, --wavefront S   a wavefront of S stages per unit instead of rounds:
#                       step T's unit files go to DIR/step.T, the quantised
#                       model after step T to DIR/q.step.T.h5
#   --overlap-ends      with --wavefront, unit 1 starts with unit 0 and unit
#                       N-1 with unit N-2: two steps fewer; meant for 8-bit
#                       first and last layers (calib --first-last, 8 by
#                       default), whose units change their neighbours'
#                       inputs little (genie-parallel(7))
#   --fresh-stages      with --wavefront, each stage a short schedule of its
#                       own (recon-block --iters of the stage's length, from
#                       the unit's parameters, warm-up and beta annealing
#                       again) instead of one schedule continued (--stage)
#   --warmup F          recon-block --warmup: the fraction of each unit's
#                       schedule with the rounding loss off (default 0.2,
#                       GENIE.md); with --wavefront S, (S-1)/S anneals beta
#                       in the last stage only, on final inputs
#   --step T            with --wavefront, only time step T (1 .. N+S-1, or
#                       N+S-3 with --overlap-ends):
#                       Q.0.h5 is then the model after step T-1 (the
#                       calibrated one for T = 1); its unit files go to DIR
#   --resume-dir DIR    with --step T > 1: the unit files of step T-1, whose
#                       optimiser state each unit's stage continues
#                       (recon-block --resume; needed unless --fresh-stages)
#   --next FILE         also write the quantised model after the last round
#                       (or step) (pack --qmodel): the input of a further one
#   -f, --force         redo every unit, even those already made
#   -q, --quiet         no progress from recon-block
#   shared with distill.sh (see pipelines/parallel.bash):
#   -j, --jobs N        units at a time on each host (default: cores)
#   -t, --threads N     threads of each recon-block (default: 1 on other
#                       hosts, cores/jobs here)
#   -S, --sshlogin L    run units on other hosts (GNU parallel's -S,
#                       repeatable; ":" is this host); --slf FILE a list
#   --ssh CMD           ssh command; --workdir DIR where jobs run there
#   --retries N         tries per unit (default 3 with other hosts, else 1)
#   --joblog FILE       GNU parallel's job log (default DIR/recon.joblog)
#   -h, --help
# On other hosts genie's programs must be on PATH; Q.0.h5 and DATA.h5 go
# there once (--basefile), each unit file comes back (--return).
# Environment: BIN, the directory of genie's programs (default: bin/ of this
# clone, or PREFIX/bin when installed, else PATH).
#
# Caching: a unit file is kept when it is newer than Q.0.h5 and DATA.h5 and was
# made with the same settings (DIR/unit.args records them), so an interrupted
# run picks up where it stopped. Every file is complete or absent: recon-block
# and pack write to a temporary name and rename, and pack runs only when every
# unit is there.
# Exit status: 0 ok, 1 a stage failed, 2 usage error.
set -euo pipefail
prog=recon-parallel.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '/^# Usage:/,/^# Exit status/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help' for more information." >&2; exit 2; }
count() { [[ $2 =~ ^[1-9][0-9]*$ ]] || usage_error "$1: not a positive count: '$2'"; }
. "$here/parallel.bash"

iters=20000 batch=32 seed=0 dir='' out='' force=0 quiet='' rounds=1 next='' round_iters='' stages='' step='' overlap='' fresh_stages='' resume_dir='' warmup=''
args=()
while [ $# -gt 0 ]; do
  gp_option "$@"; [ "$GP_SHIFT" = 0 ] || { shift "$GP_SHIFT"; continue; }
  case $1 in
    -i|--iters) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; iters=$2; shift 2 ;;
    -b|--batch) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; batch=$2; shift 2 ;;
    -s|--seed) [ $# -ge 2 ] || usage_error "$1 needs a value"
       [[ $2 =~ ^[0-9]+$ ]] || usage_error "$1: not a non-negative integer: '$2'"; seed=$2; shift 2 ;;
    -d|--dir) [ $# -ge 2 ] || usage_error "$1 needs a value"; dir=$2; shift 2 ;;
    -o|--output) [ $# -ge 2 ] || usage_error "$1 needs a value"; out=$2; shift 2 ;;
    -r|--rounds) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; rounds=$2; shift 2 ;;
    --round-iters) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; round_iters=$2; shift 2 ;;
    -w|--wavefront) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; stages=$2; shift 2 ;;
    --fresh-stages) fresh_stages=1; shift ;;
    --overlap-ends) overlap=1; shift ;;
    --warmup) [ $# -ge 2 ] || usage_error "$1 needs a value"
       [[ $2 =~ ^0(\.[0-9]+)?$ ]] || usage_error "$1: not a fraction in [0, 1): '$2'"; warmup=$2; shift 2 ;;
    --step) [ $# -ge 2 ] || usage_error "$1 needs a value"; count "$1" "$2"; step=$2; shift 2 ;;
    --resume-dir) [ $# -ge 2 ] || usage_error "$1 needs a value"; resume_dir=$2; shift 2 ;;
    --next) [ $# -ge 2 ] || usage_error "$1 needs a value"; next=$2; shift 2 ;;
    -f|--force) force=1; shift ;;
    -q|--quiet) quiet=-q; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    -*) usage_error "unknown option '$1'" ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$stages" ]; then
  [ "$rounds" = 1 ] && [ -z "$round_iters" ] || usage_error "--wavefront and --rounds/--round-iters do not go together"
  [ "$stages" -le "$iters" ] || usage_error "--wavefront $stages: more stages than the $iters iterations"
  [ -z "$step" ] || [ -z "$out" ] || usage_error "--step makes one time step's files, not a packed model (-o)"
  [ -z "$resume_dir" ] || [ -n "$step" ] || usage_error "--resume-dir takes --step"
  [ -z "$resume_dir" ] || [ -z "$fresh_stages" ] || usage_error "--resume-dir and --fresh-stages do not go together"
  [ -n "$resume_dir" ] || [ -z "$step" ] || [ "$step" = 1 ] || [ -n "$fresh_stages" ] ||
    usage_error "--step $step needs --resume-dir (the unit files of step $(( step - 1 )))"
else
  [ -z "$step" ] || usage_error "--step takes --wavefront"
  [ -z "$resume_dir" ] || usage_error "--resume-dir takes --wavefront"
  [ -z "$fresh_stages" ] || usage_error "--fresh-stages takes --wavefront"
  [ -z "$overlap" ] || usage_error "--overlap-ends takes --wavefront"
fi
[ ${#args[@]} -eq 2 ] || usage_error "expected Q.0.h5 and DATA.h5, got ${#args[@]} argument(s)"
q=${args[0]} data=${args[1]}
[ -f "$q" ] || die "$q: No such file or directory"
[ -f "$data" ] || die "$data: No such file or directory"
command -v parallel >/dev/null || die "GNU parallel is not installed (Debian package parallel)"
gp_bin
if [ -z "$dir" ]; then if [ -n "$out" ]; then dir=$(dirname "$out"); else dir=$(dirname "$q"); fi; fi
topdir=$dir

# the units, as calib numbers them (fails on anything but a calibrated model)
units=$(calib --list-units "$q" | cut -f1) || exit 1
[ -n "$units" ] || die "$q: no units"
mkdir -p "$dir"
n=$(printf '%s\n' "$units" | wc -l)
gp_settle "$n" recon
joblog0=$gp_joblog

# one round (or wavefront step): the units $3 (every unit when empty) of
# quantised model $1 at once, unit files in $2; in a wavefront step T
# (--wavefront S) unit K runs its stage T-K+z(K) of S (stage_at)
round() {
  local q=$1 dir=$2 run=${3:-$units} settings stamp todo k f work w qn dn st iters=$iters what
  local stage=()
  # rounds after the first: --round-iters, when given
  [ "$r" = 1 ] || iters=${round_iters:-$iters}
  gp_joblog=${joblog0:-$dir/recon.joblog}
  [ -z "$joblog0" ] || [ "$nsteps" = 1 ] || [ -n "$step" ] || gp_joblog=$joblog0.$r
  mkdir -p "$dir"
  # settings the unit files depend on; a change invalidates all of them
  settings="q=$q data=$data iters=$iters batch=$batch seed=$seed threads=$gp_threads${warmup:+ warmup=$warmup}"
  if [ -n "$stages" ]; then
    settings+=" wavefront=$stages step=$r${overlap:+ overlap_ends}${fresh_stages:+ fresh}${fresh_stages:- resume}"
    # recon-block --stage T-K+z(K)/S, computed by GNU parallel from the unit
    # K ({}) (stage_perl); --fresh-stages: --iters of that stage's length
    # instead, after --iters
    stage=(--stage "{= \$_ = $(stage_perl "$r") =}/$stages")
    # a stage after the first resumes its optimiser from the unit's file of
    # step r-1 (staged as prev.K.h5); a stage 1 has none, and its argument
    # is then its --stage again, which changes nothing
    [ -n "$fresh_stages" ] || stage+=("{= \$_ = $(stage_perl "$r") > 1 ? \"--resume=prev.\$_.h5\" : \"--stage=1/$stages\" =}")
    [ -z "$fresh_stages" ] || stage=(--iters "{= my \$s = $(stage_perl "$r"); \$_ = int(\$s * $iters / $stages) - int((\$s - 1) * $iters / $stages) =}")
  fi
  stamp=$dir/unit.args
  if [ "$force" = 1 ] || ! printf '%s\n' "$settings" | cmp -s - "$stamp"; then
    rm -f "$dir"/unit.[0-9]*.h5
    printf '%s\n' "$settings" >"$stamp.tmp.$$" && mv "$stamp.tmp.$$" "$stamp"
  fi
  todo=()
  for k in $run; do
    f=$dir/unit.$k.h5
    if [ -f "$f" ] && [ "$f" -nt "$q" ] && [ "$f" -nt "$data" ] && [ "$f" -nt "$stamp" ]; then continue; fi
    todo+=("$k")
  done
  [ ${#todo[@]} -gt 0 ] || return 0
  if [ -n "$stages" ]; then
    what="step $r of $nsteps (wavefront of $stages stages${overlap:+, its ends overlapped}): units $(set -- $run; echo "$1..${!#}") of $q"
  else
    what="$([ "$rounds" = 1 ] || echo "round $r of $rounds: ")$n units of $q"
  fi
  echo "$prog: $what, ${#todo[@]} to reconstruct, $gp_jobs at a time, $gp_threads thread(s) each ($iters iterations)$(gp_remote && echo ", on other hosts")" >&2
  work=$(mktemp -d "$dir/.recon-parallel.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  w=$work/$gp_workdir
  # under their own names (what recon-block records), unless those are the same
  qn=$(basename "$q") dn=$(basename "$data")
  [[ $qn != "$dn" && "$qn$dn" =~ ^[A-Za-z0-9._+-]+$ ]] || { qn=q.h5 dn=data.h5; }
  local inputs=("$qn=$q" "$dn=$data")
  if [ -n "$stages" ] && [ -z "$fresh_stages" ]; then
    for k in "${todo[@]}"; do
      st=$(stage_at "$r" "$k")
      [ "$st" -gt 1 ] || continue
      f=$(prev_dir)/unit.$k.h5
      [ -f "$f" ] || die "$f: No such file or directory (unit $k's stage $(( st - 1 )), which its stage $st resumes)"
      inputs+=("prev.$k.h5=$f")
    done
  fi
  gp_stage "$work" "${inputs[@]}" || die "cannot stage the inputs in $w"
  # the first unit that fails on its last try stops the others (their
  # temporaries are removed); the units that came back are kept either way
  # recon-block warns of 2-bit weights in every unit: that goes through once
  # (not at all under -q); every other line as it comes
  st=0
  printf '%s\n' "${todo[@]}" | gp_run "$work" "${inputs[*]%%=*}" "unit.{}.h5" -- \
    recon-block "$qn" "$dn" --unit {} --independent --iters "$iters" --batch "$batch" \
      --seed "$seed" ${warmup:+--warmup "$warmup"} "${stage[@]}" --threads "$gp_threads" $quiet -o 'unit.{}.h5' 2>&1 |
    awk -v q="$quiet" '/: warning: .* has [0-9]+-bit weights: independent reconstruction/ { if (q != "" || seen++) next }
                       { print; fflush() }' >&2 || st=${PIPESTATUS[1]}
  for k in "${todo[@]}"; do
    if [ -f "$w/unit.$k.h5" ]; then mv "$w/unit.$k.h5" "$dir/unit.$k.h5"; fi
  done
  rm -rf "$work"
  trap - EXIT
  [ $st = 0 ] || die "reconstruction failed (job log: $gp_joblog; units done so far are kept)"
  for k in "${todo[@]}"; do [ -f "$dir/unit.$k.h5" ] || die "unit $k did not come back from its host"; done
}

# the wavefront (--wavefront S): step T runs the units K (counted from 0)
# with 1 <= T-K+z(K) <= S, each its stage T-K+z(K); z(K) = 0 for every unit,
# or with --overlap-ends 0 for unit 0, 2 for unit N-1 (N > 2) and 1 between;
# N+S-1-z(N-1) time steps
zshift() { if [ -z "$overlap" ] || [ "$1" = 0 ]; then echo 0; elif [ "$1" = $(( n - 1 )) ] && [ "$n" -gt 2 ]; then echo 2; else echo 1; fi; }
stage_at() { echo $(( $1 - $2 + $(zshift "$2") )); }
# the same as a Perl expression of the unit \$_, for GNU parallel: z(K)
# looked up in the list of zshift's values (calib numbers units 0..N-1)
zlist=''; for k in $units; do zlist+=" $(zshift "$k")"; done
stage_perl() { echo "$1 - \$_ + (qw($zlist))[\$_]"; }
nsteps=$rounds first=1
if [ -n "$stages" ]; then
  nsteps=$(( n + stages - 1 - $(zshift $(( n - 1 ))) ))
  if [ -n "$step" ]; then
    [ "$step" -le "$nsteps" ] || usage_error "--step $step: the wavefront of $n units in $stages stages${overlap:+ with its ends overlapped} has steps 1..$nsteps"
    first=$step
  fi
fi
step_units() { local k s; for k in $units; do s=$(stage_at "$1" "$k"); if [ "$s" -ge 1 ] && [ "$s" -le "$stages" ]; then echo "$k"; fi; done; }

# the unit files of the step before this one (r), which its stages resume
prev_dir() { if [ -n "$step" ]; then echo "$resume_dir"; else echo "$topdir/step.$(( r - 1 ))"; fi; }

# the files of round (or step) $1: its directory
round_dir() {
  if [ -n "$step" ] || { [ -z "$stages" ] && [ "$1" = 1 ]; }; then echo "$dir"
  elif [ -n "$stages" ]; then echo "$dir/step.$1"
  else echo "$dir/round.$1"; fi
}
unit_files() {
  local k run=$units; files=()
  [ -z "$stages" ] || run=$(step_units "$1")
  for k in $run; do files+=("$(round_dir "$1")/unit.$k.h5"); done
}

qr=$q last=$nsteps
[ -z "$step" ] || last=$step
for r in $(seq "$first" "$last"); do
  run=''
  [ -z "$stages" ] || run=$(step_units "$r")
  round "$qr" "$(round_dir "$r")" "$run"
  # the quantised model after round (step) r: the next one's input (kept
  # while newer than its inputs, so an interrupted run resumes at the round
  # it was in); a wavefront's model after its last step is what it packs
  if [ "$r" -lt "$last" ] || [ -n "$next" ] || [ -n "$stages" ]; then
    nq=$dir/q.$([ -n "$stages" ] && echo step || echo round).$r.h5
    [ "$r" -lt "$last" ] || [ -z "$next" ] || nq=$next
    unit_files "$r"
    fresh=1
    for f in "$qr" "${files[@]}"; do [ -f "$nq" ] && [ "$nq" -nt "$f" ] || fresh=0; done
    [ "$fresh" = 1 ] || pack -q --qmodel "$qr" "${files[@]}" -o "$nq" || exit 1
    [ -z "$stages" ] && [ "$r" = "$last" ] || qr=$nq
  fi
done

if [ -n "$out" ]; then
  if [ -n "$stages" ]; then
    pack $quiet "$qr" -o "$out" || exit 1
  else
    unit_files "$rounds"
    pack $quiet "$qr" "${files[@]}" -o "$out" || exit 1
  fi
fi
