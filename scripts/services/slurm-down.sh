#!/usr/bin/env bash
# slurm-down.sh: stops the single-node Slurm that slurm-up.sh started. Jobs still queued or
# running are cancelled first; then slurmd, slurmctld and munged are stopped, each only if
# slurm-up.sh started it (by the pid files under $PHYS_SERVICES_DIR/slurm). The packages,
# slurm.conf and the logs stay, so the next slurm-up.sh is quick. Running it twice is harmless.
set -euo pipefail
# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
RUN_DIR="$PHYS_SERVICES_DIR/slurm"

queued() { squeue -h -o '%A' 2>/dev/null; }
queue_empty() { [ -z "$(queued)" ]; }

require_root
if ours "$RUN_DIR/slurmctld.pid" slurmctld; then
  jobs=$(queued | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    # shellcheck disable=SC2086 # one argument per job id
    scancel $jobs 2>/dev/null || true
    poll 20 queue_empty || log "some jobs were still ending after 20 s"
    log "cancelled the jobs left in the queue: $jobs"
  else
    log "no jobs left in the queue"
  fi
fi
stop_ours "$RUN_DIR/slurmd.pid" slurmd
stop_ours "$RUN_DIR/slurmctld.pid" slurmctld
stop_ours "$RUN_DIR/munged.pid" munged
log "done"
