#!/usr/bin/env bash
# slurm-up.sh: a real single-node Slurm on this machine, for the Slurm tests of this repository.
# It installs munge and Slurm from the Debian/Ubuntu packages if they are missing, writes
# /etc/slurm/slurm.conf for one node reached on 127.0.0.1, starts munged, slurmctld and slurmd
# as background daemons, and waits for a trivial job to complete. Needs root.
#
# Run it again while the cluster is up and nothing changes; if the slurm.conf it would write
# differs from the current one, it restarts the daemons it started. slurm-down.sh stops them.
#
# Settings (environment variables, all optional):
#   SLURM_UP_CPUS            CPUs the node offers; more than the machine has oversubscribes it,
#                            which suits tests whose jobs mostly wait                   [nproc]
#   SLURM_UP_MEM_MB          memory of the node in MiB                       [90% of MemTotal]
#   SLURM_UP_PARTITION       name of the default partition                              [debug]
#   SLURM_UP_MIN_JOB_AGE     seconds a finished job stays visible to scontrol and squeue  [300]
#   SLURM_UP_KILL_WAIT       seconds between SIGTERM and SIGKILL when a job is stopped      [5]
#   SLURM_UP_KEEP_JOBS       1: the controller resumes the jobs and node states it saved last
#                            time; 0: it starts empty, so the jobs of an interrupted test run
#                            are not started again (job ids still count on)                 [0]
#   SLURM_UP_CANCEL_UNSATISFIABLE  1: a job whose dependency can no longer be met is cancelled
#                            (Reason=DependencyNeverSatisfied); 0: it stays pending, as in a
#                            stock Slurm                                                    [1]
#   SLURM_UP_SMOKE           1: submit a trivial job and wait until it completes            [1]
#   SLURM_UP_TIMEOUT         seconds to wait for each daemon                               [60]
#   PHYS_SERVICES_DIR        pid files and logs of these scripts           [/tmp/phys-services]
set -euo pipefail
# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

CPUS=${SLURM_UP_CPUS:-$(nproc)}
MEM_MB=${SLURM_UP_MEM_MB:-$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)}
PARTITION=${SLURM_UP_PARTITION:-debug}
TIMEOUT=${SLURM_UP_TIMEOUT:-60}
RUN_DIR="$PHYS_SERVICES_DIR/slurm"
CONF=/etc/slurm/slurm.conf
SIGNATURE="# Written by scripts/services/slurm-up.sh of the phys repository."
LOG_DIR=/var/log/slurm
# Spool and saved state of our own, apart from those of any other Slurm set up on this machine.
SPOOL=/var/spool/phys-slurm
NODE=$(hostname -s 2>/dev/null || uname -n)
NODE=${NODE%%.*}

install_slurm() {
  local missing
  missing=$(missing_commands munge unmunge munged slurmctld slurmd sbatch squeue scontrol scancel sinfo)
  if [ -z "$missing" ]; then
    log "Slurm is installed: $(slurmctld -V 2>&1)"
    return
  fi
  log "installing munge and Slurm with apt-get (missing: $missing)"
  install_packages munge slurmctld slurmd slurm-client
  missing=$(missing_commands munged slurmctld slurmd sbatch scontrol)
  [ -z "$missing" ] || die "still missing after apt-get: $missing"
  log "installed $(slurmctld -V 2>&1)"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  local user=root key=/etc/munge/munge.key
  if id munge >/dev/null 2>&1; then user=munge; fi
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s "$key" ]; then
    mungekey --create --keyfile="$key" >/dev/null 2>&1 ||
      dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    log "munge: made a new key, $key"
  fi
  chown "$user": /etc/munge "$key" /run/munge /var/lib/munge /var/log/munge
  chmod 0700 /etc/munge
  chmod 0600 "$key"
  chmod 0755 /run/munge
  if munge_works; then
    if ours "$RUN_DIR/munged.pid" munged; then
      log "munge: munged is running (pid $(pid_of "$RUN_DIR/munged.pid"))"
    else
      log "munge: a munged these scripts did not start is running; using it"
    fi
    return
  fi
  rm -f "$RUN_DIR/munged.pid"
  # munged refuses to run as root unless forced; the Debian package makes a munge user for it.
  if [ "$user" = munge ]; then
    runuser -u munge -- munged || die "munged did not start (log: /var/log/munge/munged.log)"
  else
    munged --force || die "munged did not start (log: /var/log/munge/munged.log)"
  fi
  poll "$TIMEOUT" munge_works ||
    die "munged started, but 'munge -n | unmunge' still fails (log: /var/log/munge/munged.log)"
  cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
  log "munge: started munged as $user (pid $(pid_of "$RUN_DIR/munged.pid"))"
}

# The configuration, on stdout. One node and one partition; the controller and the node daemon
# talk over 127.0.0.1, so it works whatever the host name resolves to.
slurm_conf() {
  local depend="#DependencyParameters="
  [ "${SLURM_UP_CANCEL_UNSATISFIABLE:-1}" = 0 ] || depend="DependencyParameters=kill_invalid_depend"
  cat <<EOF
$SIGNATURE
# Change the script and run it again rather than editing this file.
ClusterName=phys-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# Without cgroups: processes of a job are found through their parent pids, and not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, as on many small clusters: sacct says accounting storage is disabled, and a
# finished job is known to scontrol and squeue for MinJobAge seconds. Every finished job also
# gets a line in JobCompLoc, which helps when a test needs explaining.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
MinJobAge=${SLURM_UP_MIN_JOB_AGE:-300}
KillWait=${SLURM_UP_KILL_WAIT:-5}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Schedule on every submit and job end, instead of batching for up to a few seconds.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
$depend
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$SPOOL/slurmctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# Writes slurm.conf if it differs from the current one; CONF_CHANGED=1 when it replaced one.
CONF_CHANGED=0
write_conf() {
  local next="$RUN_DIR/slurm.conf.next"
  mkdir -p /etc/slurm "$SPOOL/slurmctld" "$SPOOL/slurmd" "$LOG_DIR"
  slurm_conf >"$next"
  if [ -f "$CONF" ] && cmp -s "$next" "$CONF"; then
    rm -f "$next"
    log "slurm.conf: $CONF is current (node $NODE, $CPUS CPUs, $MEM_MB MiB)"
    return
  fi
  if [ -f "$CONF" ]; then
    if ! grep -qxF "$SIGNATURE" "$CONF"; then
      cp -p "$CONF" "$CONF.before-phys"
      log "slurm.conf: kept the previous $CONF, which this script did not write, as $CONF.before-phys"
    fi
    CONF_CHANGED=1
  fi
  mv "$next" "$CONF"
  chmod 0644 "$CONF"
  log "slurm.conf: wrote $CONF (node $NODE, $CPUS CPUs, $MEM_MB MiB, partition $PARTITION)"
}

controller_answers() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

start_controller() {
  if ours "$RUN_DIR/slurmctld.pid" slurmctld; then
    log "slurmctld: running (pid $(pid_of "$RUN_DIR/slurmctld.pid"))"
    return
  fi
  rm -f "$RUN_DIR/slurmctld.pid"
  if controller_answers; then
    die "a slurmctld that these scripts did not start answers 'scontrol ping'; stop it first"
  fi
  local args=()
  [ "${SLURM_UP_KEEP_JOBS:-0}" = 1 ] || args+=(-c)
  slurmctld "${args[@]}" || {
    tail_log "$LOG_DIR/slurmctld.log"
    die "slurmctld did not start (log: $LOG_DIR/slurmctld.log)"
  }
  if ! poll "$TIMEOUT" controller_answers || ! poll 10 ours "$RUN_DIR/slurmctld.pid" slurmctld; then
    tail_log "$LOG_DIR/slurmctld.log"
    die "slurmctld did not answer 'scontrol ping' within $TIMEOUT s (log: $LOG_DIR/slurmctld.log)"
  fi
  log "slurmctld: started (pid $(pid_of "$RUN_DIR/slurmctld.pid"))"
}

node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }

# The controller remembers a node as idle for a while after its slurmd died, so the node only
# counts as ready once it has registered with a slurmd started at or after $1 (epoch seconds).
node_ready_since() {
  local started
  started=$(scontrol show node "$NODE" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
  [ -n "$started" ] && [ "$started" != None ] || return 1
  [ "$(date -d "$started" +%s 2>/dev/null || echo 0)" -ge "$1" ] || return 1
  node_state | grep -Eq '^(idle|mixed|allocated|completing)$'
}

start_node() {
  local since=0
  if ours "$RUN_DIR/slurmd.pid" slurmd; then
    log "slurmd: running (pid $(pid_of "$RUN_DIR/slurmd.pid"))"
  else
    rm -f "$RUN_DIR/slurmd.pid"
    since=$(($(date +%s) - 1))
    slurmd -N "$NODE" || {
      tail_log "$LOG_DIR/slurmd.log"
      die "slurmd did not start (log: $LOG_DIR/slurmd.log)"
    }
    poll "$TIMEOUT" ours "$RUN_DIR/slurmd.pid" slurmd || {
      tail_log "$LOG_DIR/slurmd.log"
      die "slurmd exited or wrote no pid file within $TIMEOUT s (log: $LOG_DIR/slurmd.log)"
    }
    log "slurmd: started (pid $(pid_of "$RUN_DIR/slurmd.pid"))"
  fi
  if ! poll 15 node_ready_since "$since"; then
    # A DOWN or DRAINED state saved by an earlier controller: put the node back in service.
    scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
    poll "$TIMEOUT" node_ready_since "$since" || {
      tail_log "$LOG_DIR/slurmd.log"
      die "node $NODE is '$(node_state)' after $TIMEOUT s, not idle: $(scontrol show node "$NODE" 2>&1 | grep -o 'Reason=.*' || true)"
    }
  fi
  log "node $NODE: $(node_state)"
}

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_ended() { job_state "$1" | grep -Eqv '^(PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|)$'; }

smoke_job() {
  local submitted job state
  submitted=$(date +%s%N)
  job=$(cd / && sbatch --parsable -J slurm-up-smoke -o /dev/null -e /dev/null --wrap true) ||
    die "sbatch of a trivial job failed"
  job=${job%%;*}
  poll "$TIMEOUT" job_ended "$job" ||
    die "the trivial job $job had not ended after $TIMEOUT s: $(squeue -h -j "$job" -o '%T %r' 2>&1)"
  state=$(job_state "$job")
  [ "$state" = COMPLETED ] ||
    die "the trivial job $job ended $state: $(scontrol show job "$job" | grep -o 'Reason=[^ ]*')"
  log "a trivial job ($job) completed $(ms_since "$submitted") ms after sbatch"
}

require_root
[ -n "$NODE" ] || die "cannot tell this machine's host name, which names the node"
mkdir -p "$RUN_DIR"
install_slurm
start_munge
write_conf
if [ "$CONF_CHANGED" = 1 ] &&
  { ours "$RUN_DIR/slurmd.pid" slurmd || ours "$RUN_DIR/slurmctld.pid" slurmctld; }; then
  log "slurm.conf changed: restarting the Slurm daemons"
  stop_ours "$RUN_DIR/slurmd.pid" slurmd
  stop_ours "$RUN_DIR/slurmctld.pid" slurmctld
fi
start_controller
start_node
[ "${SLURM_UP_SMOKE:-1}" = 0 ] || smoke_job
log "ready: node $NODE with $CPUS CPUs in partition $PARTITION; logs in $LOG_DIR"
