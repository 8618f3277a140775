#!/usr/bin/env bash
is_root() { [ "$(id -u)" = 0 ]; }
is_root || exit 0
STATE="$PWD/var/test/testnet" bash "$(dirname "$0")/testnet/snmp_down.sh"
exit 0
