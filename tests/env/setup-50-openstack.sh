#!/usr/bin/env bash
# The local real OpenStack (Keystone, Placement, Nova with the fake virt driver, Neutron, Glance, Cinder) on
# 127.0.0.1 with two regions/clouds, for tests/integration/openstack. Installs once into
# /var/tmp/yunwang-openstack (reused), starts into var/openstack, exports the generated clouds.yaml.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
is_root || { echo "openstack: not root, OpenStack integration tests will be skipped"; exit 0; }
T0=$(date +%s)
bash "$(dirname "$0")/openstack/install.sh"
T1=$(date +%s)
bash "$(dirname "$0")/openstack/start.sh"
T2=$(date +%s)
export_env YUNWANG_TEST_CLOUDS_YAML "$PWD/var/openstack/clouds.yaml"
echo "openstack: install $((T1 - T0))s, start $((T2 - T1))s; clouds.yaml at var/openstack/clouds.yaml"
