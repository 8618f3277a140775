#!/usr/bin/env bash
# Prometheus and promtool from Debian's `prometheus` package, for the rules tests and the scrape test.
# The Debian service is not used: tests start their own prometheus process on a free 127.0.0.1 port.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if apt_install prometheus; then
  # the package enables its own service on :9090; we do not need it (tests run their own process)
  bash "$(dirname "$0")/teardown-30-prometheus.sh"
  export_env YUNWANG_TEST_PROMETHEUS /usr/bin/prometheus
  export_env YUNWANG_TEST_PROMTOOL /usr/bin/promtool
else
  echo "prometheus not installed (not root?): Prometheus tests will skip" >&2
fi
