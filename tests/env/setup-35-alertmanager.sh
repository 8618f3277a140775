#!/usr/bin/env bash
# Alertmanager and amtool from Debian's `prometheus-alertmanager` package, for the alerting tests
# (amtool check-config on the generated configuration; a real Prometheus → Alertmanager → webhook/SMTP chain).
# The Debian service is not used: the tests start their own alertmanager on a free 127.0.0.1 port.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if apt_install prometheus-alertmanager; then
  # the package's postinst may start its own daemon on :9093; the tests do not need it
  bash "$(dirname "$0")/teardown-35-alertmanager.sh"
  export_env YUNWANG_TEST_ALERTMANAGER /usr/bin/prometheus-alertmanager
  export_env YUNWANG_TEST_AMTOOL /usr/bin/amtool
else
  echo "prometheus-alertmanager not installed (not root?): Alertmanager tests will skip" >&2
fi
