#!/usr/bin/env bash
# A RabbitMQ node of yunwang's own for the task tests (core/tasks, tests/integration/tasks): node yunwang@localhost,
# AMQP on 127.0.0.1:5673, its own Erlang distribution port, cookie, data and logs under var/test/rabbitmq.
# It never touches the OpenStack broker (rabbit@…, port 5672): separate node name, ports, HOME (cookie) and data.
# Idempotent: a node already answering is kept. Exports YUNWANG_TEST_BROKER_URL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
apt_install rabbitmq-server socat  # socat: the vantage namespace test bridges its workers to this broker
mkdir -p "$ROOT/var/test/rabbitmq"
. "$(dirname "$0")/rabbitmq-env.sh"

mkdir -p "$RMQ_BASE/mnesia" "$RMQ_BASE/log"
chmod 700 "$RMQ_BASE"
if [ ! -f "$HOME/.erlang.cookie" ]; then
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$HOME/.erlang.cookie"
  chmod 400 "$HOME/.erlang.cookie"
fi
cat > "$RMQ_BASE/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$RMQ_PORT
loopback_users.guest = true
log.file.level = warning
CONF
echo "[]." > "$RMQ_BASE/enabled_plugins"  # no management plugin: nothing listens besides AMQP and distribution

if ! rmqctl status >/dev/null 2>&1; then
  setsid /usr/lib/rabbitmq/bin/rabbitmq-server > "$RMQ_BASE/log/server.out" 2>&1 < /dev/null &
  echo $! > "$RMQ_BASE/server.pid"
  for _ in $(seq 1 60); do
    rmqctl await_startup >/dev/null 2>&1 && break
    sleep 1
  done
  rmqctl await_startup >/dev/null
fi
rmqctl add_vhost yunwang >/dev/null 2>&1 || true
rmqctl add_user yunwang "$RMQ_PASSWORD" >/dev/null 2>&1 || rmqctl change_password yunwang "$RMQ_PASSWORD" >/dev/null
rmqctl set_permissions -p yunwang yunwang ".*" ".*" ".*" >/dev/null
URL="amqp://yunwang:$RMQ_PASSWORD@127.0.0.1:$RMQ_PORT/yunwang"
if [ -n "${YUNWANG_TEST_ENV:-}" ]; then
  export_env YUNWANG_TEST_BROKER_URL "$URL"
  export_env YUNWANG_TEST_RABBITMQ_BASE "$RMQ_BASE"
fi
echo "$URL" > "$RMQ_BASE/url"
echo "yunwang RabbitMQ up: $RMQ_NODE on 127.0.0.1:$RMQ_PORT (export YUNWANG_TEST_BROKER_URL=\$(cat $RMQ_BASE/url))"
