#!/usr/bin/env bash
# The extranet test network (namespaces, AnyIP targets, nftables loss, a down prefix, SSH device farm, FRR).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
is_root || { echo "testnet: not root, network tests will be skipped"; exit 0; }
apt_install iproute2 nftables fping frr openssh-server prometheus-blackbox-exporter
PASSWORD="Yw-t3stnet-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
STATE="$PWD/var/test/testnet" bash "$(dirname "$0")/testnet/up.sh" "$PASSWORD"
export_env YUNWANG_TESTNET_PASSWORD "$PASSWORD"
export_env YUNWANG_TESTNET_STATE "$PWD/var/test/testnet"
