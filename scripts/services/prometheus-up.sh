#!/usr/bin/env bash
# prometheus-up.sh: a real Prometheus server and Pushgateway on 127.0.0.1, for the metrics tests
# of this repository. It installs them from the Debian/Ubuntu packages if they are missing,
# starts both as background daemons, and checks that a pushed sample can be queried. Prometheus
# scrapes the Pushgateway (keeping the pushed job and instance labels), itself, and any extra
# targets given, and accepts samples pushed to its remote-write receiver (/api/v1/write). Needs
# root.
#
# Run it again while they are up and nothing changes; if the prometheus.yml it would write
# differs, it reloads the Prometheus it started. prometheus-down.sh stops both.
#
# Settings (environment variables, all optional):
#   PUSHGATEWAY_PORT              port of the Pushgateway                                 [9091]
#   PROMETHEUS_PORT               port of Prometheus                                      [9090]
#   PROMETHEUS_SCRAPE_INTERVAL    how often targets are scraped and rules evaluated         [1s]
#   PROMETHEUS_EXTRA_TARGETS      host:port,... scraped as the job "phys"                     []
#   PROMETHEUS_REMOTE_WRITE       1: accept pushed samples on /api/v1/write                 [1]
#   PROMETHEUS_UP_SMOKE           1: push a sample and wait until a query returns it         [1]
#   PROMETHEUS_UP_TIMEOUT         seconds to wait for each server                           [60]
#   PHYS_SERVICES_DIR             config, data, pid files and logs     [/tmp/phys-services]
set -euo pipefail
# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

PUSHGATEWAY_PORT=${PUSHGATEWAY_PORT:-9091}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
INTERVAL=${PROMETHEUS_SCRAPE_INTERVAL:-1s}
TIMEOUT=${PROMETHEUS_UP_TIMEOUT:-60}
RUN_DIR="$PHYS_SERVICES_DIR/prometheus"
PUSHGATEWAY="http://127.0.0.1:$PUSHGATEWAY_PORT"
PROMETHEUS="http://127.0.0.1:$PROMETHEUS_PORT"
CONF="$RUN_DIR/prometheus.yml"
# Flags beyond those every start uses; a Prometheus of ours started with others is restarted.
FLAGS_FILE="$RUN_DIR/prometheus.flags"
EXTRA_FLAGS=()
[ "${PROMETHEUS_REMOTE_WRITE:-1}" = 0 ] || EXTRA_FLAGS+=(--web.enable-remote-write-receiver)

install_prometheus() {
  local missing packages=()
  missing=$(missing_commands prometheus prometheus-pushgateway curl)
  if [ -n "$missing" ]; then
    for c in $missing; do packages+=("$c"); done
    log "installing ${packages[*]} with apt-get"
    install_packages "${packages[@]}"
    missing=$(missing_commands prometheus prometheus-pushgateway curl)
    [ -z "$missing" ] || die "still missing after apt-get: $missing"
  fi
  log "installed: $(version_of prometheus), $(version_of prometheus-pushgateway)"
}

version_of() { echo "$1 $("$1" --version 2>&1 | sed -n '1s/.*version \([^ ]*\).*/\1/p')"; }

# ready URL: the server at URL says it is ready to serve.
ready() { curl -fsS -m 2 -o /dev/null "$1/-/ready"; }
# port_free PORT: nothing accepts connections on 127.0.0.1:PORT (curl exit 7: connection refused).
port_free() {
  local code=0
  curl -s -m 2 -o /dev/null "http://127.0.0.1:$1/" || code=$?
  [ "$code" = 7 ]
}

# start_daemon NAME PIDFILE LOG URL PORT_SETTING COMMAND...: starts COMMAND in its own session
# unless ours is running and ready, and waits until URL is ready.
start_daemon() {
  local name=$1 pidfile=$2 output=$3 url=$4 setting=$5 port=${4##*:}
  shift 5
  if ours "$pidfile" "$1" && ready "$url"; then
    log "$name: running on $url (pid $(pid_of "$pidfile"))"
    return
  fi
  rm -f "$pidfile"
  port_free "$port" || die "port $port is in use by something these scripts did not start; set $setting"
  setsid "$@" >"$output" 2>&1 </dev/null &
  echo $! >"$pidfile"
  poll "$TIMEOUT" ready "$url" || {
    tail_log "$output"
    die "$name was not ready on $url within $TIMEOUT s (log: $output)"
  }
  log "$name: started on $url (pid $(pid_of "$pidfile"))"
}

prometheus_yml() {
  local extra
  cat <<EOF2
# Written by scripts/services/prometheus-up.sh of the phys repository.
global:
  scrape_interval: $INTERVAL
  evaluation_interval: $INTERVAL
scrape_configs:
  - job_name: pushgateway
    # Pushed series keep their own job and instance labels.
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$PUSHGATEWAY_PORT']
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$PROMETHEUS_PORT']
EOF2
  if [ -n "${PROMETHEUS_EXTRA_TARGETS:-}" ]; then
    extra=$(echo "$PROMETHEUS_EXTRA_TARGETS" | tr -d ' ' | sed "s/,/', '/g")
    printf "  - job_name: phys\n    static_configs:\n      - targets: ['%s']\n" "$extra"
  fi
}

# Writes prometheus.yml if it differs; CONF_CHANGED=1 when it replaced an older one.
CONF_CHANGED=0
write_conf() {
  local next="$RUN_DIR/prometheus.yml.next"
  prometheus_yml >"$next"
  if command -v promtool >/dev/null 2>&1 && ! promtool check config "$next" >"$RUN_DIR/promtool.log" 2>&1; then
    cat "$RUN_DIR/promtool.log" >&2
    die "the generated $next is not a valid Prometheus configuration"
  fi
  if [ -f "$CONF" ] && cmp -s "$next" "$CONF"; then
    rm -f "$next"
  else
    [ ! -f "$CONF" ] || CONF_CHANGED=1
    mv "$next" "$CONF"
  fi
  log "prometheus.yml: $CONF (every $INTERVAL: pushgateway, prometheus${PROMETHEUS_EXTRA_TARGETS:+, $PROMETHEUS_EXTRA_TARGETS})"
}

smoke_test() {
  local value pushed
  value=$(date +%s)
  pushed=$(date +%s%N)
  printf 'phys_services_smoke %s\n' "$value" |
    curl -fsS -m 5 --data-binary @- "$PUSHGATEWAY/metrics/job/prometheus-up" ||
    die "could not push a sample to $PUSHGATEWAY"
  sample_queryable() {
    curl -fsS -m 2 "$PROMETHEUS/api/v1/query?query=phys_services_smoke" | grep -q "\"$value\"\]"
  }
  poll "$TIMEOUT" sample_queryable ||
    die "a sample pushed to $PUSHGATEWAY did not show in $PROMETHEUS queries within $TIMEOUT s"
  curl -fsS -m 5 -X DELETE "$PUSHGATEWAY/metrics/job/prometheus-up" ||
    die "could not delete the pushed sample from $PUSHGATEWAY"
  log "a pushed sample could be queried $(ms_since "$pushed") ms later"
}

require_root
mkdir -p "$RUN_DIR/data"
install_prometheus
start_daemon pushgateway "$RUN_DIR/pushgateway.pid" "$RUN_DIR/pushgateway.log" "$PUSHGATEWAY" \
  PUSHGATEWAY_PORT prometheus-pushgateway --web.listen-address="127.0.0.1:$PUSHGATEWAY_PORT" \
  --web.enable-admin-api --web.enable-lifecycle
write_conf
if [ "$CONF_CHANGED" = 1 ] && ours "$RUN_DIR/prometheus.pid" prometheus; then
  if curl -fsS -m 10 -X POST -o /dev/null "$PROMETHEUS/-/reload"; then
    log "prometheus.yml changed: Prometheus reloaded it"
  else
    log "prometheus.yml changed and the reload failed: restarting Prometheus"
    stop_ours "$RUN_DIR/prometheus.pid" prometheus
  fi
fi
if ours "$RUN_DIR/prometheus.pid" prometheus && [ "$(cat "$FLAGS_FILE" 2>/dev/null)" != "${EXTRA_FLAGS[*]}" ]; then
  log "Prometheus runs with other flags than [${EXTRA_FLAGS[*]}]: restarting it"
  stop_ours "$RUN_DIR/prometheus.pid" prometheus
fi
echo "${EXTRA_FLAGS[*]}" >"$FLAGS_FILE"
start_daemon prometheus "$RUN_DIR/prometheus.pid" "$RUN_DIR/prometheus.log" "$PROMETHEUS" \
  PROMETHEUS_PORT prometheus --config.file="$CONF" --storage.tsdb.path="$RUN_DIR/data" \
  --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle --web.enable-admin-api \
  "${EXTRA_FLAGS[@]}"
[ "${PROMETHEUS_UP_SMOKE:-1}" = 0 ] || smoke_test
log "ready: Pushgateway $PUSHGATEWAY, Prometheus $PROMETHEUS (data in $RUN_DIR/data)"
