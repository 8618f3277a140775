#!/usr/bin/env bash
# One command: set up and serve yunwang on its embedded defaults (SQLite, the demo inventory of Guangxi).
# `--with-cloud` (root) also installs and starts the local two-region OpenStack (tests/env/openstack) and
# points yunwang at it, so requests can be provisioned for real. The cloud is NOT stopped with the demo: it
# outlives a crash (or kill -9) of the yunwang process, and running the demo again reuses it as it is, so a
# request interrupted mid-way can be finished with `yunwang cloud resume RR…`. Ask explicitly to change that:
#   --reset-cloud   stop the local OpenStack and start a fresh one (everything in it is lost)
#   --stop-cloud    stop the local OpenStack and exit
# Other arguments go to `yunwang demo` (e.g. --port 8081 --reset --scale 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
with_cloud=0
reset_cloud=0
stop_cloud=0
for a in "$@"; do
  case "$a" in
    --with-cloud) with_cloud=1 ;;
    --reset-cloud) with_cloud=1; reset_cloud=1 ;;
    --stop-cloud) stop_cloud=1 ;;
    *) args+=("$a") ;;
  esac
done
OS_DIR=tests/env/openstack
export RUN="${RUN:-$PWD/var/openstack}"   # where the local OpenStack keeps its state and clouds.yaml
if [ "$stop_cloud" = 1 ]; then
  bash "$OS_DIR/stop.sh"
  echo "local OpenStack stopped"
  exit 0
fi
bash scripts/bootstrap.sh
# A busy port stops the demo here, before the cloud is touched or the database and tokens change (exit 3).
.venv/bin/yunwang demo --check-port "${args[@]}"
if [ "$with_cloud" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "--with-cloud needs root (it installs MariaDB/RabbitMQ and starts OpenStack)" >&2; exit 1; }
  if [ "$reset_cloud" = 1 ]; then
    echo "--reset-cloud: stopping the local OpenStack; a fresh one is started (its resources are gone)"
    bash "$OS_DIR/stop.sh"
  fi
  bash "$OS_DIR/install.sh"
  bash "$OS_DIR/start.sh"   # reuses a running cloud (and its resources) unless it was stopped above
  export YUNWANG_CLOUDS_YAML="$RUN/clouds.yaml"
  echo "local OpenStack: $YUNWANG_CLOUDS_YAML (keeps running after the demo; bash scripts/demo.sh --stop-cloud stops it)"
fi
exec .venv/bin/yunwang demo "${args[@]}"
