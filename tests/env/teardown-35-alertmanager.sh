#!/usr/bin/env bash
# The alerting tests start and stop their own alertmanager; this only makes sure the Debian package's own
# service (which its postinst may start on :9093) is not left running.
set -uo pipefail
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus-alertmanager 2>/dev/null; then
  systemctl stop prometheus-alertmanager || true
elif [ -x /etc/init.d/prometheus-alertmanager ] && /etc/init.d/prometheus-alertmanager status >/dev/null 2>&1; then
  /etc/init.d/prometheus-alertmanager stop >/dev/null 2>&1 || true
fi
exit 0
