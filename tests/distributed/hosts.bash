# tests/distributed/hosts.bash - two test hosts on this machine, for the
# distributed test (tests/distributed/run sources this).
#
# Each host is a network namespace joined to this one by a veth pair, with
# addresses of genie's own in 10.231.0.0/16 (a /30 per host), and an sshd
# of its own listening on the namespace's address only: host and user keys
# generated into the test's directory, a config of its own (no PAM, no
# strict modes, PidFile in the test's directory). Every login runs through a
# ForceCommand that starts in the host's own directory (HOSTDIR/home), so a
# relative path on "the remote host" is a different file from the same path
# here: files reach a job only by rsync, as on real hosts, although the
# filesystem is shared.
#
#   hosts_up DIR BIN brings up hosts a and b; sets HOSTS_SSH (an ssh wrapper
#                    for parallel's --ssh), HOST_a, HOST_b (their addresses)
#                    and HOSTS_NS; returns 77 (with a message on stderr)
#                    where namespaces or sshd cannot be had
#   hosts_down DIR   stops the daemons, deletes the namespaces and veths;
#                    safe to call twice and after a partial hosts_up
#
# Needs root, iproute2, openssh-server, openssh-client, rsync.

# the namespaces and links of this test run: unique per process
HOSTS_TAG="gn$$"

hosts_skip() { echo "SKIP: $*" >&2; return 77; }

hosts_up() {
  local dir=$1 bin=$2 net i h ns addr peer
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] || { hosts_skip "not root: network namespaces need root"; return; }
  for p in ip sshd ssh ssh-keygen rsync; do
    command -v "$p" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$p" >/dev/null ||
      { hosts_skip "$p is not installed (make deps installs it)"; return; }
  done
  local sshd; sshd=$(PATH=$PATH:/usr/sbin command -v sshd)
  # a third octet no other interface here uses (one /24 per test run)
  net=$(( $$ % 250 + 1 ))
  for i in $(seq 250); do
    ip -o -4 addr show | grep -q " 10\.231\.$net\." || break
    net=$(( net % 250 + 1 ))
  done
  echo "$HOSTS_TAG" >"$dir/tag"
  if ! ip netns add "${HOSTS_TAG}a" 2>"$dir/netns.err"; then
    hosts_skip "cannot create a network namespace here ($(head -n 1 "$dir/netns.err")): the distributed test needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN"
    return
  fi
  ip netns add "${HOSTS_TAG}b" || return 1
  ssh-keygen -q -t ed25519 -N '' -C genie-test-user -f "$dir/user_key" || return 1
  [ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd   # sshd's privilege separation directory
  i=0
  for h in a b; do
    ns=${HOSTS_TAG}$h
    # this side .1/.5, the host .2/.6
    peer=10.231.$net.$(( i * 4 + 1 )) addr=10.231.$net.$(( i * 4 + 2 ))
    ip link add "${ns}h" type veth peer name "${ns}n" || return 1
    ip link set "${ns}n" netns "$ns" || return 1
    ip addr add "$peer/30" dev "${ns}h" || return 1
    ip link set "${ns}h" up || return 1
    ip netns exec "$ns" ip addr add "$addr/30" dev "${ns}n" || return 1
    ip netns exec "$ns" ip link set "${ns}n" up || return 1
    ip netns exec "$ns" ip link set lo up || return 1
    mkdir -p "$dir/$h/home"
    ssh-keygen -q -t ed25519 -N '' -C "genie-test-host-$h" -f "$dir/$h/host_key" || return 1
    # every command of a login starts in the host's own directory, with
    # genie's programs on PATH behind the host's bin/, where a test can put
    # a program that fails once (HOSTDIR/fail-next) or every time
    # (HOSTDIR/fail-always)
    mkdir -p "$dir/$h/bin"
    for p in distill recon-block; do
      cat >"$dir/$h/bin/$p" <<EOF
#!/bin/sh
if [ -e "$dir/$h/fail-always" ]; then
  echo "test host $h: $p failing on purpose" >&2; exit 1
fi
if [ -e "$dir/$h/fail-next" ]; then
  rm -f "$dir/$h/fail-next"; echo "test host $h: $p failing once on purpose" >&2; exit 1
fi
exec "$bin/$p" "\$@"
EOF
      chmod 755 "$dir/$h/bin/$p"
    done
    cat >"$dir/$h/login" <<EOF
#!/bin/sh
echo "\$SSH_ORIGINAL_COMMAND" >>"$dir/$h/commands.log"
cd "$dir/$h/home" || exit 1
export HOME="$dir/$h/home" PATH="$dir/$h/bin:$bin:\$PATH"
exec /bin/bash -c "\$SSH_ORIGINAL_COMMAND"
EOF

    chmod 755 "$dir/$h/login"
    cat >"$dir/$h/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey $dir/$h/host_key
PidFile $dir/$h/sshd.pid
AuthorizedKeysFile $dir/user_key.pub
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
ForceCommand $dir/$h/login
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel ERROR
MaxStartups 100
MaxSessions 100
# bash sources ~/.bashrc under sshd only at SHLVL < 2; the test needs none of it
SetEnv SHLVL=1
EOF
    ip netns exec "$ns" "$sshd" -f "$dir/$h/sshd_config" -E "$dir/$h/sshd.log" || return 1
    eval "HOST_$h=$addr"
    i=$(( i + 1 ))
  done
  HOSTS_NS="${HOSTS_TAG}a ${HOSTS_TAG}b"
  # the client side: parallel's --ssh
  cat >"$dir/ssh" <<EOF
#!/bin/sh
exec ssh -i "$dir/user_key" -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes \\
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \\
  -o ConnectTimeout=10 -l root "\$@"
EOF
  chmod 755 "$dir/ssh"
  HOSTS_SSH=$dir/ssh
  # wait for both daemons to answer
  for h in a b; do
    eval "addr=\$HOST_$h"
    for i in $(seq 50); do
      "$HOSTS_SSH" "$addr" true 2>/dev/null && break
      [ "$i" = 50 ] && { echo "test host $h ($addr): sshd does not answer: $(cat "$dir/$h/sshd.log" 2>/dev/null)" >&2; return 1; }
      sleep 0.1
    done
  done
}

hosts_down() {
  local dir=$1 tag h pid
  tag=$(cat "$dir/tag" 2>/dev/null) || return 0
  for h in a b; do
    pid=$(cat "$dir/$h/sshd.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null
  done
  for h in a b; do
    ip link del "${tag}${h}h" 2>/dev/null
    # processes still inside (logins) go with their namespace's pids
    for pid in $(ip netns pids "${tag}$h" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    ip netns del "${tag}$h" 2>/dev/null
  done
  rm -f "$dir/tag"
  return 0
}
