#!/bin/bash
# Stop everything start.sh started, by PID: OpenStack services first, then MariaDB, then RabbitMQ (+ its epmd).
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../../.." && pwd)
RUN=${RUN:-$REPO/var/openstack}; P=$RUN/pids
[ -d "$P" ] || exit 0
PIDS=()
for f in $P/*.pid; do
  [ -f "$f" ] || continue
  case $(basename $f) in mysql.pid|rabbit.pid|epmd.pid) continue;; esac
  PIDS+=($(cat $f)); rm -f $f
done
alive() { local p; for p in "${PIDS[@]}"; do kill -0 $p 2>/dev/null && return 0; done; return 1; }
if [ ${#PIDS[@]} -gt 0 ]; then
  kill "${PIDS[@]}" 2>/dev/null
  for i in $(seq 1 40); do alive || break; sleep 0.5; done
  alive && kill -9 "${PIDS[@]}" 2>/dev/null
fi
if [ -f $P/mysql.pid ]; then
  M=$(cat $P/mysql.pid); kill $M 2>/dev/null; for i in $(seq 1 60); do kill -0 $M 2>/dev/null || break; sleep 0.5; done; rm -f $P/mysql.pid
fi
if [ -f $P/rabbit.pid ]; then
  R=$(cat $P/rabbit.pid)
  rabbitmqctl -n rabbit@localhost -q stop >/dev/null 2>&1 || kill $R 2>/dev/null
  for i in $(seq 1 60); do kill -0 $R 2>/dev/null || break; sleep 0.5; done   # until the broker has exited
  rm -f $P/rabbit.pid
  # epmd was spawned by our rabbitmq-server when start.sh recorded it; end it by that PID
  if [ -s $P/epmd.pid ]; then kill $(cat $P/epmd.pid) 2>/dev/null; fi
  rm -f $P/epmd.pid
fi
rm -f $RUN/clouds.yaml
exit 0
