#!/usr/bin/env bash
# The chaos test starts and stops its own nginx processes; this only makes sure the Debian package's own
# service (which its postinst may start on :80) is not left running.
set -uo pipefail
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
elif [ -x /etc/init.d/nginx ] && /etc/init.d/nginx status >/dev/null 2>&1; then
  /etc/init.d/nginx stop >/dev/null 2>&1 || true
fi
exit 0
