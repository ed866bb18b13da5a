# tests/distributed/cluster.bash - a Slurm cluster on this machine, for the
# Slurm test (tests/distributed/slurm) and for wall-time measurements
# (pipelines/walltime.sh --test-cluster): munged, slurmctld and two slurmd
# (Debian's slurm-wlm) started here as root without systemd, each slurmd
# in one of the network namespaces of hosts.bash (its own address, its own
# port 6818), slurmctld in this one. Everything (key, slurm.conf, state,
# spool, logs) lives in the directory given.
#
#   cluster_up DIR BIN  brings up hosts a and b (hosts.bash) and the daemons;
#                       exports SLURM_CONF; sets CLUSTER_PIDS (the daemons);
#                       returns 77 (with a message on stderr) where they
#                       cannot be had (not root, Slurm not installed, no
#                       network namespaces), 1 when they do not start
#   cluster_down DIR    stops the daemons, then the hosts; safe to call
#                       twice and after a partial cluster_up
#
# Nodes a and b, 2 CPUs each, one partition "genie"; proctrack/linuxproc,
# task/none, select/cons_tres (CR_CPU), no accounting.
# Needs root, iproute2, openssh-server, rsync, munge, slurmctld, slurmd,
# slurm-client (make deps installs them).

CLUSTER_PIDS=()

cluster_up() {
  local dir=$1 bin=$2 p i h addr ctl port st
  mkdir -p "$dir" && chmod 755 "$dir"
  [ "$(id -u)" = 0 ] || { echo "SKIP: not root: munged, slurmctld and slurmd are started as root here" >&2; return 77; }
  for p in munged slurmctld slurmd slurmstepd sbatch squeue scontrol sinfo; do
    command -v "$p" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$p" >/dev/null ||
      { echo "SKIP: $p is not installed (make deps installs munge, slurmctld, slurmd, slurm-client)" >&2; return 77; }
  done
  export PATH=$PATH:/usr/sbin:/sbin
  hosts_up "$dir/hosts" "$bin"
  st=$?
  [ $st = 0 ] || return $st
  # this side of host a's link is the controller's address; both hosts reach
  # it (and each other's side) by a default route through their link
  ctl=${HOST_a%.*}.$(( ${HOST_a##*.} - 1 ))
  for h in a b; do
    eval "addr=\$HOST_$h"
    ip netns exec "${HOSTS_TAG}$h" ip route add default via "${addr%.*}.$(( ${addr##*.} - 1 ))" ||
      { echo "host $h: no default route" >&2; return 1; }
  done
  CLUSTER_CTL=$ctl

  # munge: a key and a socket of its own
  mkdir -m 700 "$dir/munge"
  dd if=/dev/urandom bs=1 count=1024 of="$dir/munge/munge.key" status=none && chmod 400 "$dir/munge/munge.key"
  munged -F --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" --num-threads=4 >/dev/null 2>"$dir/munge/stderr" &
  CLUSTER_PIDS+=($!)
  for i in $(seq 50); do [ -S "$dir/munge/socket" ] && break; sleep 0.1; done
  [ -S "$dir/munge/socket" ] ||
    { echo "munged did not start: $(cat "$dir/munge/stderr" "$dir/munge/munged.log" 2>/dev/null | tail -n 5)" >&2; return 1; }

  # slurm.conf, with a controller port no one else here uses
  port=$(( 20000 + $$ % 20000 ))
  while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$(( port + 1 )); done
  CLUSTER_PORT=$port
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  export SLURM_CONF=$dir/slurm.conf
  cat >"$SLURM_CONF" <<EOC
ClusterName=genietest
SlurmctldHost=$(hostname -s)($ctl)
SlurmctldPort=$port
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/spool/slurmd.%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
PlugStackConfig=$dir/plugstack.conf
NodeName=a NodeAddr=$HOST_a NodeHostname=a CPUs=2 State=UNKNOWN
NodeName=b NodeAddr=$HOST_b NodeHostname=b CPUs=2 State=UNKNOWN
PartitionName=genie Nodes=a,b Default=YES MaxTime=INFINITE State=UP
EOC
  : >"$dir/plugstack.conf"
  # no cgroup is used (linuxproc, task/none), but slurmd initialises the
  # plugin: v1 by name, so it does not look for a mounted hierarchy
  echo CgroupPlugin=cgroup/v1 >"$dir/cgroup.conf"

  slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
  CLUSTER_PIDS+=($!)
  for i in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  scontrol ping >/dev/null 2>&1 ||
    { echo "slurmctld does not answer: $(tail -n 5 "$dir/log/slurmctld.out" "$dir/log/slurmctld.log" 2>/dev/null)" >&2; return 1; }
  for h in a b; do
    mkdir -p "$dir/spool/$h"
    ip netns exec "${HOSTS_TAG}$h" slurmd -D -N "$h" -f "$SLURM_CONF" >"$dir/log/slurmd.$h.out" 2>&1 &
    CLUSTER_PIDS+=($!)
  done
  for i in $(seq 150); do
    for p in "${CLUSTER_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
    [ "$(sinfo -h -N -o '%N %t' | sort | tr '\n' ' ')" = "a idle b idle " ] && break
    sleep 0.2
  done
  [ "$(sinfo -h -N -o '%N %t' | sort | tr '\n' ' ')" = "a idle b idle " ] ||
    { echo "the nodes did not come up: $(sinfo -N 2>&1); $(tail -n 3 "$dir"/log/slurmd.*.log "$dir"/log/slurmd.*.out 2>/dev/null)" >&2; return 1; }
  return 0
}

cluster_down() {
  local dir=$1 p
  # the daemons, then anything left in the namespaces
  for p in "${CLUSTER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${CLUSTER_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  CLUSTER_PIDS=()
  hosts_down "$dir/hosts"
  return 0
}
