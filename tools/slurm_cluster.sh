#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for testing the app's hydra/launcher=slurm.
#
#   tools/slurm_cluster.sh start [STATE_DIR]   # install if missing, configure, start, wait idle
#   tools/slurm_cluster.sh stop  [STATE_DIR]   # stop the daemons this script started
#   tools/slurm_cluster.sh status [STATE_DIR]  # sinfo and squeue of the cluster
#
# Needs root on Debian (apt-get, daemons running as root). No systemd is needed: munged,
# mariadbd, slurmdbd, slurmctld and slurmd are started by hand, each in the background with its
# pid recorded under STATE_DIR/pids/, and `stop` ends exactly those pids (nothing by name).
# Everything the cluster writes lives in STATE_DIR (default /tmp/crossbar_jax_slurm): configs,
# the munge key and socket, the accounting database, spool, state and logs. Nothing is written
# to /etc/slurm or /etc/munge. Commands reach this cluster through SLURM_CONF, which `start`
# prints as its last line (`export SLURM_CONF=STATE_DIR/etc/slurm.conf`).
#
# Plugins that need no cgroups (proctrack/linuxproc, task/none, jobacct_gather/none), so it runs
# in containers. Accounting (slurmdbd on a local MariaDB) is on because submitit reads job states
# from sacct: without it a job killed by scancel, a time limit or OOM stays UNKNOWN to it and a
# sweep's launcher waits forever.
set -euo pipefail

ACTION="${1:-}"
STATE="${2:-/tmp/crossbar_jax_slurm}"
CLUSTER=crossbar
PARTITION=debug
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

die() { echo "slurm_cluster: $*" >&2; exit 1; }
say() { echo "slurm_cluster: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.5 s until COMMAND succeeds
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then die "timed out after ${limit}s waiting for $what (logs in $STATE/log)"; fi
    sleep 0.5
  done
}

install_if_missing() {
  local missing=()
  for cmd in slurmctld slurmd slurmdbd sacctmgr munged mariadbd mariadb-install-db; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get (Debian) to install ${PACKAGES[*]}"
  say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
  # Installing must not start the packages' own services (there is no systemd, and this
  # script starts its own daemons): a policy-rc.d that denies every start, unless one exists.
  local policy=/usr/sbin/policy-rc.d made=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
  fi
  local rc=0
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${PACKAGES[@]}"; } \
    >"${TMPDIR:-/tmp}/slurm_cluster_apt.log" 2>&1 || rc=$?
  ((made)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get failed (rc $rc); see ${TMPDIR:-/tmp}/slurm_cluster_apt.log"
}

start_daemon() { # start_daemon NAME COMMAND...: run in the background, record its pid
  local name=$1; shift
  setsid "$@" >"$STATE/log/$name.out" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

alive() { [[ -f $STATE/pids/$1 ]] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }

running() { # running NAME: the daemon is up, else fail with the tail of its log
  alive "$1" || { tail -n 20 "$STATE/log/$1".* >&2 || true; die "$1 exited during start-up"; }
}

start() {
  [[ $(id -u) == 0 ]] || die "needs root (it installs packages and runs the daemons as root)"
  if [[ -d $STATE/pids ]] && compgen -G "$STATE/pids/*" >/dev/null; then
    for p in "$STATE"/pids/*; do
      alive "$(basename "$p")" && die "$STATE already runs a cluster ($(basename "$p") is up); stop it first"
    done
  fi
  # The state folder is wiped: only an empty folder or one this script made.
  if [[ -d $STATE && -n $(ls -A "$STATE") && ! -f $STATE/etc/slurm.conf ]]; then
    die "$STATE is not empty and holds no cluster state of this script; pick another folder"
  fi
  install_if_missing
  local t0=$SECONDS
  rm -rf "$STATE"
  mkdir -p "$STATE"/{etc,pids,log,munge,db,spool/slurmd,state}
  chmod 700 "$STATE" "$STATE/munge"
  local host; host=$(hostname -s)
  local ctld_port dbd_port slurmd_port db_port
  ctld_port=$(free_port); dbd_port=$(free_port); slurmd_port=$(free_port); db_port=$(free_port)
  local sock=$STATE/munge/munge.socket.2

  # munge: a fresh key of this cluster only
  dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$STATE/munge/munge.key"
  start_daemon munged munged --foreground --force --socket="$sock" \
    --key-file="$STATE/munge/munge.key" --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
  wait_for 20 "munged's socket" test -S "$sock"
  running munged

  # the accounting database: MariaDB on a local TCP port, a slurm user for slurmdbd
  mariadb-install-db --user=root --datadir="$STATE/db" --auth-root-authentication-method=socket \
    --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed ($STATE/log/mariadb-install.log)"
  start_daemon mariadbd mariadbd --no-defaults --user=root --datadir="$STATE/db" \
    --socket="$STATE/db/mysql.sock" --port="$db_port" --bind-address=127.0.0.1 \
    --pid-file="$STATE/db/mariadb.pid" --log-error="$STATE/log/mariadbd.log"
  wait_for 60 "mariadbd" mariadb --no-defaults -S "$STATE/db/mysql.sock" -u root -e "SELECT 1"
  running mariadbd
  mariadb --no-defaults -S "$STATE/db/mysql.sock" -u root -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

  cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/state/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$STATE/etc/slurmdbd.conf"

  # The node as slurmd sees it, with a little memory kept back for the system.
  local cpus mem
  cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$((mem * 95 / 100))
  cat >"$STATE/etc/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$STATE/state/slurmctld.pid
SlurmdPidFile=$STATE/state/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStoragePass=$sock
JobCompType=jobcomp/none
MinJobAge=600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$STATE/etc/slurm.conf

  start_daemon slurmdbd slurmdbd -D
  wait_for 60 "slurmdbd" sacctmgr -n list cluster
  running slurmdbd
  sacctmgr -i add cluster "$CLUSTER" >"$STATE/log/sacctmgr.log" 2>&1 || true
  sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || die "cluster $CLUSTER not registered ($STATE/log/sacctmgr.log)"

  start_daemon slurmctld slurmctld -D -f "$SLURM_CONF"
  wait_for 60 "slurmctld" scontrol ping
  running slurmctld
  start_daemon slurmd slurmd -D -f "$SLURM_CONF"
  wait_for 60 "node $host idle in sinfo" bash -c "sinfo -h -N -n '$host' -o %T | grep -qx idle"
  running slurmd
  say "cluster $CLUSTER up in $((SECONDS - t0)) s: node $host ($cpus CPUs, $mem MB), partition $PARTITION; state in $STATE"
  echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
  [[ -d $STATE/pids ]] || { say "nothing started under $STATE"; return 0; }
  export SLURM_CONF=$STATE/etc/slurm.conf
  if alive slurmctld; then # no job outlives the cluster
    scancel --full --quiet --user="$(id -un)" >/dev/null 2>&1 || true
  fi
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    [[ -f $STATE/pids/$name ]] || continue
    local pid; pid=$(cat "$STATE/pids/$name")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      local end=$((SECONDS + 20))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) did not stop on TERM within 20 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$STATE/pids/$name"
  done
  say "stopped the cluster under $STATE"
}

status() {
  export SLURM_CONF=$STATE/etc/slurm.conf
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$name"; then echo "$name: up (pid $(cat "$STATE/pids/$name"))"; else echo "$name: down"; fi
  done
  sinfo || true
  squeue || true
}

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status [STATE_DIR]" ;;
esac
