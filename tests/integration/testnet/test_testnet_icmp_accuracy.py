"""ICMP RTTs of a 1,000-target sweep agree with fping's on the same targets, in the same run.

Before kernel receive timestamps, a reply's time was taken when the reader got its turn: on this network the
median RTT came out ~13 ms against fping's ~0.015 ms, and depended on the target's place in the list.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.icmp import IcmpOptions, IcmpTarget, ping_many

pytestmark = [pytest.mark.integration, pytest.mark.network]

N = 1000
COUNT = 5
# answered by the AnyIP route 172.20.0.0/16 inside the yw-net namespace (tests/env/testnet/up.sh)
ADDRESSES = [f"172.20.{100 + i // 256}.{i % 256}" for i in range(N)]


def fping_rtts_ms(stderr: str) -> dict[str, float]:
    """`fping -C` lines `addr : 0.01 0.02 - …` → mean of the answered rounds per address (ms)."""
    out = {}
    for line in stderr.splitlines():
        address, _, rest = line.partition(" : ")
        values = [float(v) for v in rest.split() if v != "-"]
        if values:
            out[address.strip()] = statistics.fmean(values)
    return out


async def sweep_both(listfile: Path) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Our sweep and fping, started together over the same targets with the same count and spacing."""
    fping = await asyncio.create_subprocess_exec(
        *("fping", "-q", "-C", str(COUNT), "-p", "100", "-i", "1", "-t", "1000", "-f", str(listfile)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    opts = IcmpOptions(count=COUNT, interval_seconds=0.1, timeout_seconds=1.0, privileged=True)
    ours = await ping_many([IcmpTarget(a) for a in ADDRESSES], opts)
    _, err = await fping.communicate()
    mine = {r.target: r.rtt_avg_seconds * 1000 for r in ours if r.ok and r.rtt_avg_seconds is not None}
    best = {r.target: r.rtt_min_seconds * 1000 for r in ours if r.ok and r.rtt_min_seconds is not None}
    return mine, fping_rtts_ms(err.decode()), best


def test_1000_target_sweep_rtts_agree_with_fping_and_do_not_depend_on_list_position(
    testnet: str, tmp_path: Path
) -> None:
    if shutil.which("fping") is None:
        pytest.fail("fping is installed by tests/env/setup-20-testnet.sh; it is missing")
    listfile = tmp_path / "targets"
    listfile.write_text("\n".join(ADDRESSES) + "\n")
    mine, theirs, best = asyncio.run(sweep_both(listfile))
    assert len(mine) == N and len(theirs) == N  # every target answers both
    diffs = [abs(mine[a] - theirs[a]) for a in ADDRESSES]
    # the bar: per-target RTTs agree with fping's, median difference ≤ 0.1 ms
    assert statistics.median(diffs) <= 0.1, (statistics.median(diffs), statistics.median(mine.values()))
    # a veth hop inside one machine: fping sees ~0.015 ms; the old reader-turn times were ~13 ms
    assert statistics.median(mine.values()) < 1.0
    # no dependence on the place in the list: the first and the last 100 targets see the same hop
    # (each target's best of its 5 rounds: the old defect, a reply timed at the reader's turn, grew along the list in
    # every round; a one-off stall of the machine in one round — seen once in CI, head 2.26 ms vs tail 0.007 ms of
    # averages while the median still agreed with fping's — is not a dependence on the place in the list)
    head = statistics.median(best[a] for a in ADDRESSES[:100])
    tail = statistics.median(best[a] for a in ADDRESSES[-100:])
    assert abs(head - tail) <= 0.1, (head, tail)


ONE_WAY_MS = 5  # the delay router holds every packet 5 ms each way: RTT ≈ 10 ms
DELAY_TARGETS = [f"172.23.244.{i}" for i in range(1, 6)]
_SAME_RUN = """
import asyncio, json, statistics, sys
sys.path.insert(0, {root!r})
from collectors.icmp import IcmpOptions, IcmpTarget, ping_many
from tests.integration.testnet.test_testnet_icmp_accuracy import fping_rtts_ms
async def main():
    fping = await asyncio.create_subprocess_exec("fping", "-q", "-C", "3", "-p", "100", "-i", "1", "-t", "1000",
        "-f", {listfile!r}, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    ours = await ping_many([IcmpTarget(a) for a in {targets!r}], IcmpOptions(count=3, interval_seconds=0.1))
    _, err = await fping.communicate()
    print(json.dumps([{{r.target: r.rtt_avg_seconds * 1000 for r in ours if r.ok}}, fping_rtts_ms(err.decode())]))
asyncio.run(main())
"""


@pytest.fixture
def delay_router(testnet: str, tmp_path: Path) -> Iterator[None]:
    """yw-dprobe ── yw-dwan (tun_delay.py: +5 ms each way) ── yw-dtgt (AnyIP 172.23.244.0/24); no route out."""
    tun = Path(__file__).resolve().parents[2] / "env" / "testnet" / "tun_delay.py"
    nss = ("yw-dprobe", "yw-dwan", "yw-dtgt")
    script = f"""
set -e
for n in {" ".join(nss)}; do ip netns add $n; ip -n $n link set lo up; done
ip link add w0 netns yw-dwan type veth peer name eth0 netns yw-dprobe
ip link add w1 netns yw-dwan type veth peer name eth0 netns yw-dtgt
ip -n yw-dprobe addr add 172.23.240.1/30 dev eth0; ip -n yw-dprobe link set eth0 up
ip -n yw-dprobe route add 172.23.244.0/24 via 172.23.240.2
ip -n yw-dtgt addr add 172.23.241.2/30 dev eth0; ip -n yw-dtgt link set eth0 up
ip -n yw-dtgt route add 172.23.240.0/30 via 172.23.241.1
ip -n yw-dtgt route add local 172.23.244.0/24 dev lo table local
ip -n yw-dwan addr add 172.23.240.2/30 dev w0; ip -n yw-dwan addr add 172.23.241.1/30 dev w1
ip -n yw-dwan link set w0 up; ip -n yw-dwan link set w1 up
ip netns exec yw-dwan sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
ip netns exec yw-dwan setsid python3 {tun} tun0 {ONE_WAY_MS} > {tmp_path}/tun.log 2>&1 < /dev/null &
echo $! > {tmp_path}/tun.pid
for i in $(seq 50); do ip -n yw-dwan link show tun0 >/dev/null 2>&1 && break; sleep 0.1; done
ip -n yw-dwan link set tun0 up txqueuelen 10000
ip netns exec yw-dwan sysctl -qw net.ipv4.conf.tun0.rp_filter=0
ip -n yw-dwan route add 172.23.244.0/24 dev tun0
ip -n yw-dwan route add 172.23.240.1/32 dev tun0
ip -n yw-dwan route add 172.23.244.0/24 via 172.23.241.2 table 100
ip -n yw-dwan route add 172.23.240.0/30 dev w0 table 100
ip -n yw-dwan rule add iif tun0 lookup 100 pref 100
"""
    try:
        subprocess.run(["bash", "-c", script], check=True, capture_output=True)
        yield
    finally:
        pid = tmp_path / "tun.pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], capture_output=True)
        for n in nss:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def test_a_known_10_ms_delay_is_measured_as_fping_measures_it(delay_router: None, tmp_path: Path) -> None:
    listfile = tmp_path / "delayed"
    listfile.write_text("\n".join(DELAY_TARGETS) + "\n")
    root = str(Path(__file__).resolve().parents[3])
    code = _SAME_RUN.format(root=root, listfile=str(listfile), targets=DELAY_TARGETS)
    out = subprocess.run(
        ["ip", "netns", "exec", "yw-dprobe", sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    mine, theirs = json.loads(out.stdout)
    assert len(mine) == len(theirs) == 5
    ours_median, fping_median = statistics.median(mine.values()), statistics.median(theirs.values())
    # RTT can never be below the 2 × 5 ms the router adds; the router is a Python process on a loaded 2-core
    # machine, so its own scheduling adds up to a few ms to each packet, which both probers see (the 0.1 ms
    # agreement with fping is asserted above, on a path without a userspace hop)
    assert 10.0 <= ours_median <= 20.0 and 10.0 <= fping_median <= 20.0, (ours_median, fping_median)
    assert abs(ours_median - fping_median) <= 2.0, (ours_median, fping_median)
