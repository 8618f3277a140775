#!/usr/bin/env bash
# The extranet test network (root). Everything lives in 172.20.0.0/14, guarded in the host namespace by a
# blackhole route installed BEFORE any test route, so nothing addressed there can leave the machine.
#   host  yw-h0 172.23.255.1/30 ──veth── yw-net 172.23.255.2   (the prober: the host ns, guarded)
#   yw-net  AnyIP local 172.20.0.0/16  nodes that answer (province 172.20.0.1, city C 172.20.C.1,
#                                      county K of city C 172.20.C.(10+K), townships 172.20.C.(100+T))
#           AnyIP local 172.21.0.0/16  nodes behind nftables loss: 172.21.L.x drops L% of echo requests
#           172.22.0.0/16 → yw-sink    "down" nodes: routed to a namespace that silently drops them
#           AnyIP local 172.23.0.0/17  SSH devices served by devicesim.py (one asyncssh process)
#   yw-r1   FRR (zebra, staticd) with sshd on 172.23.200.2, login shell vtysh (netmiko cisco_ios)
# Never touches 10.255.0.0/16. Usage: up.sh PASSWORD   (state under $STATE, default /run/yunwang-testnet)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../../.." && pwd)"
PASSWORD="${1:?password}"
STATE="${STATE:-/run/yunwang-testnet}"
PY="${PY:-$ROOT/.venv/bin/python}"
bash "$HERE/down.sh" >/dev/null 2>&1 || true
mkdir -p "$STATE"
# guard first: everything in the plan is blackholed in the host namespace unless routed below
ip route add blackhole 172.20.0.0/14
for ns in yw-net yw-sink yw-r1; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add yw-h0 type veth peer name h0 netns yw-net
ip addr add 172.23.255.1/30 dev yw-h0; ip link set yw-h0 up
ip -n yw-net addr add 172.23.255.2/30 dev h0; ip -n yw-net link set h0 up
for p in 172.20.0.0/16 172.21.0.0/16 172.22.0.0/16 172.23.0.0/16; do ip route add $p via 172.23.255.2 dev yw-h0; done
ip netns exec yw-net sysctl -qw net.ipv4.ip_forward=1 net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
ip -n yw-net route add local 172.20.0.0/16 dev lo table local
ip -n yw-net route add local 172.21.0.0/16 dev lo table local
ip -n yw-net route add local 172.23.0.0/17 dev lo table local
# down nodes: forwarded to yw-sink, which does not forward and owns none of them -> silently dropped
ip link add s0 netns yw-net type veth peer name s1 netns yw-sink
ip -n yw-net addr add 172.23.254.1/30 dev s0; ip -n yw-net link set s0 up
ip -n yw-sink addr add 172.23.254.2/30 dev s1; ip -n yw-sink link set s1 up
ip -n yw-net route add 172.22.0.0/16 via 172.23.254.2
# loss: 172.21.L.0/24 drops L% of ICMP echo requests (kernel has no netem)
{
  echo "table inet ywloss {"
  echo "  chain input { type filter hook input priority -10; policy accept;"
  for L in 5 10 20 30 50; do echo "    ip daddr 172.21.$L.0/24 icmp type echo-request numgen random mod 100 < $L drop"; done
  echo "  }"
  echo "}"
} | ip netns exec yw-net nft -f -
# FRR router r1 with sshd whose login shell is vtysh
ip link add r0 netns yw-net type veth peer name mgmt0 netns yw-r1
ip -n yw-net addr add 172.23.200.1/30 dev r0; ip -n yw-net link set r0 up
ip -n yw-r1 addr add 172.23.200.2/30 dev mgmt0; ip -n yw-r1 link set mgmt0 up
ip -n yw-r1 route add default via 172.23.200.1   # inside the test network only
mkdir -p /etc/frr/ywr1 /var/run/frr/ywr1 /run/sshd "$STATE/sshd"; chown frr:frr /etc/frr/ywr1 /var/run/frr/ywr1
cat > /etc/frr/ywr1/frr.conf <<EOC
frr defaults traditional
hostname ywr1
service integrated-vtysh-config
interface lo
 ip address 172.23.201.1/32
ip route 192.0.2.0/24 Null0
line vty
EOC
echo "service integrated-vtysh-config" > /etc/frr/ywr1/vtysh.conf
chown frr:frr /etc/frr/ywr1/*; chmod 640 /etc/frr/ywr1/*
for d in zebra staticd; do ip netns exec yw-r1 /usr/lib/frr/$d -d -N ywr1 -f /etc/frr/ywr1/frr.conf -i /var/run/frr/ywr1/$d.pid; done
printf '#!/bin/sh\nexec /usr/bin/vtysh -N ywr1 "$@"\n' > /usr/local/bin/vtysh-ywr1; chmod 755 /usr/local/bin/vtysh-ywr1
[ -f "$STATE/sshd/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/sshd/hostkey"
cat > "$STATE/sshd/sshd_r1.conf" <<EOC
ListenAddress 172.23.200.2
Port 22
HostKey $STATE/sshd/hostkey
PidFile $STATE/sshd/sshd_r1.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
MaxStartups 100:30:200
EOC
id yw-netops >/dev/null 2>&1 || useradd -M -d /tmp -s /usr/local/bin/vtysh-ywr1 -G frrvty,frr yw-netops
echo "yw-netops:$PASSWORD" | chpasswd
ip netns exec yw-r1 unshare --uts sh -c "hostname ywr1; exec /usr/sbin/sshd -f $STATE/sshd/sshd_r1.conf"
# the device farm
ip netns exec yw-net setsid "$PY" "$HERE/devicesim.py" --port 22 --password "$PASSWORD" --slow-seconds 60 \
  > "$STATE/devicesim.log" 2>&1 < /dev/null &
echo $! > "$STATE/devicesim.pid"
for i in $(seq 100); do grep -q listening "$STATE/devicesim.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$STATE/devicesim.log" || { cat "$STATE/devicesim.log"; exit 1; }
for i in $(seq 50); do ip netns exec yw-r1 sh -c 'exec 3<>/dev/tcp/172.23.200.2/22' 2>/dev/null && break; sleep 0.1; done
echo "testnet: up"
