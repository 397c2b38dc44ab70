# common.sh: what the service scripts of this folder share. Sourced by them, never run.
#
# The services are real daemons from the Debian/Ubuntu packages, started in the background by
# the up scripts: no systemd and no containers, so they work inside a CI container too. An up
# script records the pid of every daemon it starts under $PHYS_SERVICES_DIR, and the matching
# down script stops those processes and nothing else.

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
PHYS_SERVICES_DIR=${PHYS_SERVICES_DIR:-/tmp/phys-services}
SCRIPT_NAME=$(basename "$0" .sh)
SCRIPT_STARTED=$(date +%s%N)

# ms_since T: milliseconds since T, a `date +%s%N` reading.
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# log MESSAGE...: one progress line, with the seconds since the script started.
log() {
  local ms
  ms=$(ms_since "$SCRIPT_STARTED")
  printf '%s [%d.%ds] %s\n' "$SCRIPT_NAME" $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}

# die MESSAGE...: says what went wrong on stderr, then exits 1.
die() {
  log "error: $*" >&2
  exit 1
}

require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons): sudo bash $0"
}

# poll SECONDS COMMAND...: runs COMMAND quietly every 0.2 s until it succeeds. False on timeout.
poll() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# pid_of FILE: the pid written in FILE (empty when there is none).
pid_of() { if [ -r "$1" ]; then tr -cd '0-9' <"$1"; fi; }

# alive PID: the process exists and has not exited. A container's init may reap late, and an
# exited daemon then lingers as a zombie, which kill -0 still reports.
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}
gone() { ! alive "$1"; }

# ours PIDFILE COMMAND: PIDFILE names a live process of COMMAND. The name check keeps a pid that
# the kernel has since given to another program from counting as ours (comm is cut to 15 chars).
ours() {
  local pid
  pid=$(pid_of "$1")
  alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${2:0:15}" ]
}

# stop_ours PIDFILE COMMAND: stops the process PIDFILE names if it is ours (SIGTERM, then SIGKILL
# after 15 s) and removes PIDFILE. Any other process is left alone.
stop_ours() {
  local file=$1 name=$2 pid
  if [ ! -e "$file" ]; then
    log "$name: not started by these scripts (no $file), left alone"
    return 0
  fi
  if ! ours "$file" "$name"; then
    log "$name: no longer running; removed the stale $file"
    rm -f "$file"
    return 0
  fi
  pid=$(pid_of "$file")
  kill -TERM "$pid" 2>/dev/null || true
  if poll 15 gone "$pid"; then
    log "$name: stopped (pid $pid)"
  else
    kill -KILL "$pid" 2>/dev/null || true
    log "$name: pid $pid was still running 15 s after SIGTERM; sent SIGKILL"
  fi
  rm -f "$file"
}

# install_packages PACKAGE...: apt-get install, non-interactive and without recommends. The
# scripts take turns (dpkg has one lock), the packages' own daemons are not started (these
# scripts start theirs), and a failed attempt is retried twice. The output goes to a log file.
install_packages() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: these scripts need Debian or Ubuntu"
  mkdir -p "$PHYS_SERVICES_DIR"
  local output="$PHYS_SERVICES_DIR/apt-$SCRIPT_NAME.log" lock attempt installed=0 own_policy=0
  exec {lock}>"$PHYS_SERVICES_DIR/apt.lock"
  flock -w 900 "$lock" || die "another service script has held $PHYS_SERVICES_DIR/apt.lock for 15 minutes"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# phys scripts/services: packaged daemons stay stopped\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  : >"$output"
  for attempt in 1 2 3; do
    if DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update >>"$output" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        install --no-install-recommends "$@" >>"$output" 2>&1; then
      installed=1
      break
    fi
    log "apt-get failed (attempt $attempt of 3)"
    [ "$attempt" = 3 ] || sleep $((attempt * 5))
  done
  [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  flock -u "$lock"
  exec {lock}>&-
  if [ "$installed" = 0 ]; then
    tail -n 20 "$output" >&2
    die "could not install $* (the whole apt-get output is in $output)"
  fi
  hash -r
}

# missing_commands COMMAND...: prints the commands that are not on the PATH.
missing_commands() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || printf '%s ' "$c"; done
}

# tail_log FILE: the last lines of a daemon's log on stderr, to go with an error.
tail_log() { if [ -r "$1" ]; then tail -n 20 "$1" >&2; fi; }
