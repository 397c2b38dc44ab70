#!/usr/bin/env bash
# prometheus-down.sh: stops the Prometheus and Pushgateway that prometheus-up.sh started, by the
# pid files under $PHYS_SERVICES_DIR/prometheus; anything else is left alone. The packages, the
# configuration and the stored series stay (PROMETHEUS_DOWN_PURGE=1 deletes the series too).
# Running it twice is harmless.
set -euo pipefail
# shellcheck source=common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
RUN_DIR="$PHYS_SERVICES_DIR/prometheus"

require_root
stop_ours "$RUN_DIR/prometheus.pid" prometheus
stop_ours "$RUN_DIR/pushgateway.pid" prometheus-pushgateway
if [ "${PROMETHEUS_DOWN_PURGE:-0}" = 1 ]; then
  rm -rf "$RUN_DIR/data"
  log "deleted the stored series ($RUN_DIR/data)"
fi
log "done"
