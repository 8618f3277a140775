# Sourced by setup-/teardown-15-rabbitmq.sh: where yunwang's own RabbitMQ node lives (ROOT = the checkout).
RMQ_BASE="$ROOT/var/test/rabbitmq"
RMQ_PORT="${YUNWANG_TEST_AMQP_PORT:-5673}"
RMQ_NODE="yunwang@localhost"
export HOME="$RMQ_BASE"  # the node's and rabbitmqctl's own Erlang cookie ($HOME/.erlang.cookie)
export RABBITMQ_NODENAME="$RMQ_NODE"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$RMQ_PORT"
export RABBITMQ_DIST_PORT="${YUNWANG_TEST_AMQP_DIST_PORT:-25673}"
export RABBITMQ_CTL_DIST_PORT_MIN=35700 RABBITMQ_CTL_DIST_PORT_MAX=35710  # not the OpenStack node's CLI range
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CONFIG_FILE="$RMQ_BASE/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_BASE/enabled_plugins"
export RABBITMQ_MNESIA_BASE="$RMQ_BASE/mnesia" RABBITMQ_LOG_BASE="$RMQ_BASE/log"
export RABBITMQ_PID_FILE="$RMQ_BASE/rabbitmq.pid"
RMQ_PASSWORD_FILE="$RMQ_BASE/password"
if [ -d "$RMQ_BASE" ] && [ ! -f "$RMQ_PASSWORD_FILE" ]; then
  head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RMQ_PASSWORD_FILE"
fi
RMQ_PASSWORD="$(cat "$RMQ_PASSWORD_FILE" 2>/dev/null || true)"
rmqctl() { /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RMQ_NODE" "$@"; }
