#!/usr/bin/env bash
# Debian's snmpd in a namespace behind the extranet test network (after setup-20-testnet.sh): v2c and v3 authPriv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
is_root || { echo "snmpd: not root, SNMP tests will be skipped"; exit 0; }
apt_install snmpd snmp
# the package may start its own agent on 127.0.0.1:161; the tests use only the one below
if command -v systemctl >/dev/null && systemctl is-active -q snmpd 2>/dev/null; then systemctl stop snmpd || true; fi
rand() { head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
COMMUNITY="yw-$(rand)"; AUTH="yw-auth-$(rand)"; PRIV="yw-priv-$(rand)"
STATE="$PWD/var/test/testnet" bash "$(dirname "$0")/testnet/snmp_up.sh" "$COMMUNITY" ywpoller "$AUTH" "$PRIV"
export_env YUNWANG_TESTNET_SNMP_COMMUNITY "$COMMUNITY"
export_env YUNWANG_TESTNET_SNMP_USER ywpoller
export_env YUNWANG_TESTNET_SNMP_AUTH "$AUTH"
export_env YUNWANG_TESTNET_SNMP_PRIV "$PRIV"
