#!/usr/bin/env bash
# Stops yunwang's own RabbitMQ node (yunwang@localhost, 5673) and removes its data; never the OpenStack broker.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$ROOT/var/test/rabbitmq" ] || exit 0
. "$(dirname "$0")/rabbitmq-env.sh"
rmqctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
if [ -f "$RMQ_BASE/server.pid" ]; then
  pid=$(cat "$RMQ_BASE/server.pid")
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill "$pid" 2>/dev/null || true
fi
rm -rf "$RMQ_BASE"
exit 0
