#!/usr/bin/env bash
# Tear down what up.sh made: only its own processes (by recorded PID), namespaces, routes, user and files.
STATE="${STATE:-/run/yunwang-testnet}"
for f in "$STATE/devicesim.pid" "$STATE/sshd/sshd_r1.pid" /var/run/frr/ywr1/zebra.pid /var/run/frr/ywr1/staticd.pid; do
  [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  rm -f "$f"
done
for ns in yw-net yw-sink yw-r1; do ip netns del $ns 2>/dev/null; done
ip link del yw-h0 2>/dev/null
for p in 172.20.0.0/16 172.21.0.0/16 172.22.0.0/16 172.23.0.0/16; do ip route del $p 2>/dev/null; done
ip route del blackhole 172.20.0.0/14 2>/dev/null
userdel yw-netops 2>/dev/null
rm -rf /etc/frr/ywr1 /var/run/frr/ywr1 /usr/local/bin/vtysh-ywr1
true
