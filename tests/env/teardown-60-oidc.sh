#!/usr/bin/env bash
# Stop the test OpenID Connect provider started by setup-60-oidc.sh (only that process, by its pid file).
set -u
PIDFILE="$PWD/var/test/oidc/provider.pid"
if [ -f "$PIDFILE" ]; then
  pid=$(cat "$PIDFILE")
  if [ -n "$pid" ] && grep -q "provider.mjs" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$PIDFILE"
fi
exit 0
