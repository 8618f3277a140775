#!/usr/bin/env bash
# An SNMP agent (Debian's snmpd) in its own namespace behind the extranet test network (root; up.sh first).
#   yw-net  sn0 172.23.202.1/30 ──veth── eth0 172.23.202.2/30  yw-snmp   snmpd on udp 172.23.202.2:161
#   yw-snmp uplink0 172.23.203.1/30 ──veth── peer0 172.23.203.2/30  yw-snmp-peer   (traffic the tests count)
# v2c community and a v3 authPriv user (SHA / AES) from the arguments. Everything stays in 172.20.0.0/14,
# blackholed in the host namespace except through the test network. Never touches 10.255.0.0/16.
# Usage: snmp_up.sh COMMUNITY V3USER AUTHPASS PRIVPASS   (state under $STATE, default /run/yunwang-testnet)
set -euo pipefail
COMMUNITY="${1:?community}"; V3USER="${2:?v3 user}"; AUTH="${3:?auth pass}"; PRIV="${4:?priv pass}"
STATE="${STATE:-/run/yunwang-testnet}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ip netns exec yw-net true || { echo "snmp_up: the test network (yw-net) is not up" >&2; exit 1; }
bash "$HERE/snmp_down.sh" >/dev/null 2>&1 || true
mkdir -p "$STATE/snmpd/persist"; chmod 700 "$STATE/snmpd"
for ns in yw-snmp yw-snmp-peer; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add sn0 netns yw-net type veth peer name eth0 netns yw-snmp
ip -n yw-net addr add 172.23.202.1/30 dev sn0; ip -n yw-net link set sn0 up
ip -n yw-snmp addr add 172.23.202.2/30 dev eth0; ip -n yw-snmp link set eth0 up
ip -n yw-snmp route add 172.23.255.0/30 via 172.23.202.1   # back to the prober, inside the test network only
ip link add uplink0 netns yw-snmp type veth peer name peer0 netns yw-snmp-peer
# no IPv6 on the counted link: no neighbour/router discovery adds bytes the tests did not send
ip netns exec yw-snmp sysctl -qw net.ipv6.conf.uplink0.disable_ipv6=1
ip netns exec yw-snmp-peer sysctl -qw net.ipv6.conf.peer0.disable_ipv6=1
ip -n yw-snmp addr add 172.23.203.1/30 dev uplink0; ip -n yw-snmp link set uplink0 up
ip -n yw-snmp-peer addr add 172.23.203.2/30 dev peer0; ip -n yw-snmp-peer link set peer0 up
cat > "$STATE/snmpd/snmpd.conf" <<EOC
sysLocation yunwang test network
sysContact yunwang tests
rocommunity $COMMUNITY 172.23.255.0/30
createUser $V3USER SHA "$AUTH" AES "$PRIV"
rouser $V3USER priv
EOC
chmod 600 "$STATE/snmpd/snmpd.conf"
# the agent address is given once, on the command line; -m "" loads no MIB files (numeric OIDs only)
ip netns exec yw-snmp env SNMP_PERSISTENT_DIR="$STATE/snmpd/persist" /usr/sbin/snmpd -m "" -C -c "$STATE/snmpd/snmpd.conf" -p "$STATE/snmpd/snmpd.pid" \
  -Lf "$STATE/snmpd/snmpd.log" udp:172.23.202.2:161
for i in $(seq 50); do [ -s "$STATE/snmpd/snmpd.pid" ] && break; sleep 0.1; done
echo "snmpd: up ($(cat "$STATE/snmpd/snmpd.pid"))"
