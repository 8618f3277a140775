#!/usr/bin/env bash
# The Prometheus tests start and stop their own processes; this only makes sure the Debian package's own
# service (which its postinst may start on :9090) is not left running.
set -uo pipefail
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
elif [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
exit 0
