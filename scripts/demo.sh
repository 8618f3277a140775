#!/usr/bin/env bash
# One command: set up and serve yunwang on its embedded defaults (SQLite, the demo inventory of Guangxi).
# `--with-cloud` (root) also installs and starts the local two-region OpenStack (tests/env/openstack) and
# points yunwang at it, so requests can be provisioned for real; it is stopped when the demo stops.
# Other arguments go to `yunwang demo` (e.g. --port 8081 --reset --scale 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
args=()
with_cloud=0
for a in "$@"; do
  if [ "$a" = "--with-cloud" ]; then with_cloud=1; else args+=("$a"); fi
done
if [ "$with_cloud" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "--with-cloud needs root (it installs MariaDB/RabbitMQ and starts OpenStack)" >&2; exit 1; }
  bash tests/env/openstack/install.sh
  bash tests/env/openstack/start.sh
  trap 'bash tests/env/openstack/stop.sh' EXIT
  export YUNWANG_CLOUDS_YAML="$PWD/var/openstack/clouds.yaml"
  .venv/bin/yunwang demo "${args[@]}"
else
  exec .venv/bin/yunwang demo "${args[@]}"
fi
