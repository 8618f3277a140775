#!/usr/bin/env bash
# Undo snmp_up.sh: only its snmpd (by recorded PID), its namespaces and files.
STATE="${STATE:-/run/yunwang-testnet}"
f="$STATE/snmpd/snmpd.pid"
if [ -f "$f" ]; then
  pid="$(cat "$f")"; kill "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
for ns in yw-snmp yw-snmp-peer; do ip netns del $ns 2>/dev/null; done
ip -n yw-net link del sn0 2>/dev/null
rm -rf "$STATE/snmpd"
true
