#!/bin/bash
# One-time install of the local OpenStack: RabbitMQ + MariaDB from Debian apt, one venv (outside the repo) with
# Keystone, Placement, Nova, Neutron, Glance and Cinder from PyPI (one release series), plus the fake_bind ML2
# driver. Reused when present (marker file). Usage: [OS_BASE=/var/tmp/yunwang-openstack] bash install.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OS_BASE=${OS_BASE:-/var/tmp/yunwang-openstack}; V=$OS_BASE/venv
MARKER=$V/.yunwang-installed-2
export DEBIAN_FRONTEND=noninteractive
if ! command -v rabbitmq-server >/dev/null || ! command -v mariadbd >/dev/null || ! command -v curl >/dev/null || ! command -v bc >/dev/null; then
  [ -f /tmp/.yunwang-apt-updated ] || { apt-get update -qq && touch /tmp/.yunwang-apt-updated; }
  apt-get install -y -qq --no-install-recommends rabbitmq-server mariadb-server curl bc >/dev/null
fi
# uwsgi is an sdist: it needs a C compiler and the Python headers
if ! command -v gcc >/dev/null || ! dpkg -s python3-dev >/dev/null 2>&1; then
  [ -f /tmp/.yunwang-apt-updated ] || { apt-get update -qq && touch /tmp/.yunwang-apt-updated; }
  apt-get install -y -qq --no-install-recommends gcc libc6-dev python3-dev >/dev/null
fi
# Debian starts the packaged services on install; we run our own private instances instead.
for s in rabbitmq-server mariadb; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet $s 2>/dev/null; then systemctl stop $s || true; fi
done
# Byte-compiled once (about 20 s), because PYTHONDONTWRITEBYTECODE would make every service start compile its
# modules again (importing nova's compute took 3.9 s of CPU instead of 1.9 s).
compile() { [ -f "$V/.compiled" ] || { "$V/bin/python" -m compileall -q -j 0 "$V/lib" >/dev/null 2>&1 || true; touch "$V/.compiled"; }; }
[ -f "$MARKER" ] && { compile; echo "openstack venv present: $V"; exit 0; }
UV=$(command -v uv || echo "$HERE/../../../.tools/bin/uv")
PY=$(command -v python3.11 || command -v python3)
rm -rf "$V"; "$UV" venv -q --python "$PY" "$V"
"$UV" pip install -q --python "$V/bin/python" \
  keystone==30.0.0 openstack-placement==16.0.0 nova==34.0.0 neutron==29.0.0 glance==33.0.0 cinder==29.0.0 \
  openstacksdk==4.22.0 uwsgi==2.0.31 pymysql
bash "$HERE/install_fake_ml2.sh" "$V"
compile
touch "$MARKER"
echo "openstack venv installed: $V"
