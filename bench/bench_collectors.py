"""Collector benchmark on the extranet test network (root): ICMP sweep of 10,000 targets (yunwang vs fping vs
prometheus-blackbox-exporter with 200 concurrent probes) and SSH collection from 1,000 simulated devices;
ICMP RTT accuracy and speed against fping on the same targets in the same run (`bench_collectors.py accuracy`
runs only that part).

Targets: 172.20.100.0–172.20.139.15, answered by an AnyIP route inside the yw-net namespace (tests/env/testnet);
the prober is the host namespace, where 172.20.0.0/14 is blackholed except through the test network.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from bench.results import percentile, write_section
from collectors.credentials import Credential
from collectors.icmp import IcmpOptions, IcmpTarget, ping_many
from collectors.ssh import SshOptions, SshTarget, collect_many

ROOT = Path(__file__).resolve().parents[1]
N_TARGETS = 10_000
N_DEVICES = 1_000
RUNS = 3
ADDRS = [f"172.20.{100 + i // 256}.{i % 256}" for i in range(N_TARGETS)]
DEVICES = [f"172.23.{10 + i // 250}.{i % 250 + 1}" for i in range(N_DEVICES)]  # Huawei VRP persona
BLACKBOX_YML = """modules:
  icmp:
    prober: icmp
    timeout: 1s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


def testnet_password(state: Path) -> tuple[str, bool]:
    """A running test network's password, or bring one up (returns whether we did)."""
    password = os.environ.get("YUNWANG_TESTNET_PASSWORD")
    if password and subprocess.run(["ip", "netns", "exec", "yw-net", "true"], capture_output=True).returncode == 0:
        return password, False
    password = "Yw-bench-" + secrets.token_hex(6)
    subprocess.run(
        ["bash", str(ROOT / "tests/env/testnet/up.sh"), password], check=True, env={**os.environ, "STATE": str(state)}
    )
    return password, True


T = TypeVar("T")
U = TypeVar("U")


def _map_all(ex: ThreadPoolExecutor, fn: Callable[[U], T], items: Sequence[U]) -> list[T]:
    return list(ex.map(fn, items))


def _ping_all(targets: list[IcmpTarget], opts: IcmpOptions) -> Any:
    return asyncio.run(ping_many(targets, opts))


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_yunwang(engine: str = "socket") -> tuple[list[float], int]:
    targets = [IcmpTarget(a) for a in ADDRS]
    opts = IcmpOptions(count=1, timeout_seconds=1.0, privileged=True, engine=engine)
    times, alive = [], 0
    for _ in range(RUNS):
        dt, res = timed(lambda: asyncio.run(ping_many(targets, opts)))
        times.append(dt)
        alive = sum(r.ok for r in res)
    return times, alive


def bench_fping(listfile: Path) -> tuple[list[float], int]:
    times, alive = [], 0
    for _ in range(RUNS):
        dt, proc = timed(
            lambda: subprocess.run(
                ["fping", "-a", "-q", "-i", "0", "-r", "0", "-t", "1000", "-f", str(listfile)],
                capture_output=True,
                text=True,
            )
        )
        times.append(dt)
        alive = len(proc.stdout.split())
    return times, alive


def bench_blackbox(tmp: Path) -> tuple[list[float], int]:
    cfg = tmp / "blackbox.yml"
    cfg.write_text(BLACKBOX_YML)
    exe = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
    proc = subprocess.Popen(
        [exe, f"--config.file={cfg}", "--web.listen-address=127.0.0.1:19115"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:19115/-/healthy", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)

        def probe(t: str) -> bool:
            url = f"http://127.0.0.1:19115/probe?module=icmp&target={t}"
            return "probe_success 1" in urllib.request.urlopen(url, timeout=10).read().decode()

        times, alive = [], 0
        for _ in range(RUNS):
            with ThreadPoolExecutor(200) as ex:
                dt, res = timed(partial(_map_all, ex, probe, ADDRS))
            times.append(dt)
            alive = sum(res)
        return times, alive
    finally:
        proc.terminate()
        proc.wait(10)


def bench_ssh(password: str, concurrency: int) -> tuple[float, int, dict[str, int], list[float]]:
    cred = Credential("netops", SecretStr(password))
    targets = [SshTarget(a, "huawei") for a in DEVICES]
    opts = SshOptions(timeout_seconds=30, concurrency=concurrency, retries=2)
    dt, res = timed(lambda: asyncio.run(collect_many(targets, lambda t: cred, opts)))
    fails: dict[str, int] = {}
    for r in res:
        if not r.ok:
            fails[str(r.error)] = fails.get(str(r.error), 0) + 1
    parsed = sum(1 for r in res if r.ok and r.facts and r.facts.get("version") == "5.170")
    return dt, parsed, fails, [r.duration_seconds for r in res]


def fping_rtts(stderr: str) -> dict[str, float]:
    """`fping -C` lines `addr : 0.01 0.02 - …` → mean RTT of the answered rounds per address (seconds)."""
    out = {}
    for line in stderr.splitlines():
        address, _, rest = line.partition(" : ")
        values = [float(v) for v in rest.split() if v != "-"]
        if values:
            out[address.strip()] = statistics.fmean(values) / 1000
    return out


def fping_cmd(count: int, listfile: Path) -> list[str]:
    return ["fping", "-q", "-C", str(count), "-p", "100", "-i", "0", "-r", "0", "-t", "1000", "-f", str(listfile)]


async def same_run(addrs: list[str], count: int, listfile: Path) -> tuple[dict[str, float], dict[str, float]]:
    """yunwang and fping started together over the same targets: per-target mean RTT (s) of each."""
    fping = await asyncio.create_subprocess_exec(
        *fping_cmd(count, listfile), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    opts = IcmpOptions(count=count, interval_seconds=0.1, timeout_seconds=1.0, privileged=True)
    ours = await ping_many([IcmpTarget(a) for a in addrs], opts)
    _, err = await fping.communicate()
    mine = {r.target: r.rtt_avg_seconds for r in ours if r.ok and r.rtt_avg_seconds is not None}
    return mine, fping_rtts(err.decode())


def bench_accuracy(tmp: Path) -> str:
    """RTT agreement with fping (same targets, same run) and sweep time of each alone, at 100 to 10,000 targets."""
    rows_acc, rows_speed = [], []
    us = 1e6
    for n, count in ((100, 5), (1_000, 5), (10_000, 3)):
        addrs = ADDRS[:n]
        listfile = tmp / f"acc-{n}.txt"
        listfile.write_text("\n".join(addrs) + "\n")
        mine, theirs = asyncio.run(same_run(addrs, count, listfile))
        both = [a for a in addrs if a in mine and a in theirs]
        diff = [abs(mine[a] - theirs[a]) for a in both]
        head = statistics.median(mine[a] for a in both[:100])
        tail = statistics.median(mine[a] for a in both[-100:])
        rows_acc.append(
            f"| {n:,} × {count} | {len(mine):,} / {len(theirs):,} | {statistics.median(mine.values()) * us:.1f} µs | "
            f"{statistics.median(theirs.values()) * us:.1f} µs | {statistics.median(diff) * us:.1f} µs | "
            f"{percentile(diff, 95) * us:.1f} µs | {head * us:.1f} / {tail * us:.1f} µs |"
        )
        targets = [IcmpTarget(a) for a in addrs]
        opts = IcmpOptions(count=1, timeout_seconds=1.0, privileged=True)
        yw = [timed(partial(_ping_all, targets, opts))[0] for _ in range(RUNS)]
        fp = [timed(partial(subprocess.run, fping_cmd(1, listfile), capture_output=True))[0] for _ in range(RUNS)]
        rows_speed.append(f"| {n:,} | {fmt(yw)} | {fmt(fp)} | {statistics.median(yw) / statistics.median(fp):.2f}× |")
    return f"""
Per-target RTT of yunwang (`collectors.icmp`, kernel receive timestamps `SO_TIMESTAMPNS`) and of fping 5
(`-C COUNT -p 100 -i 0`) on the same targets, both sweeps started together (same run, same load). Targets:
172.20.100.0 onwards, answered by an AnyIP route in the `yw-net` namespace across one veth pair, so the true RTT
is tens of microseconds. |Δ| = per-target |yunwang mean − fping mean|. "first / last 100" = median RTT of the
first and the last 100 targets in the list (position dependence).

| targets × rounds | answered (yunwang / fping) | yunwang median RTT | fping median RTT | median \\|Δ\\| | p95 \\|Δ\\| | first / last 100 |
|---|---|---|---|---|---|---|
{chr(10).join(rows_acc)}

Before the fix (receive time taken when the reader got its turn) the same 1,000-target sweep measured a median
of ~13 ms against fping's 0.015 ms (≈ 900×), 19 ms for the first 50 targets and 5.6 ms for the last 50.

Sweep time, 1 echo per target, 1 s timeout, each prober alone, median of {RUNS} runs (load average at the end
{os.getloadavg()[0]:.1f} on this shared machine; speed ratios move with it, the RTT agreement does not):

| targets | yunwang | `fping -C 1 -p 100 -i 0 -r 0 -t 1000` | yunwang / fping |
|---|---|---|---|
{chr(10).join(rows_speed)}
"""


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s (runs: {', '.join(f'{t:.3f}' for t in times)})"


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench_collectors: not root (the test network needs network namespaces)")
    tmp = Path(tempfile.mkdtemp(prefix="yw-bench-"))
    password, ours = testnet_password(tmp / "testnet")
    try:
        write_section("collectors_icmp_accuracy", "ICMP latency accuracy and speed vs fping", bench_accuracy(tmp))
        if sys.argv[1:] == ["accuracy"]:
            return
        listfile = tmp / "targets.txt"
        listfile.write_text("\n".join(ADDRS) + "\n")
        yw, yw_alive = bench_yunwang()
        lib, lib_alive = bench_yunwang("icmplib")
        fp, fp_alive = bench_fping(listfile)
        bb, bb_alive = bench_blackbox(tmp)
        ssh_dt, ssh_ok, ssh_fail, per = bench_ssh(password, 50)
        med = statistics.median
        per.sort()
        body = f"""
ICMP sweep of {N_TARGETS:,} live targets (1 echo each, 1 s timeout), prober in the guarded host namespace,
targets answered by an AnyIP route in the `yw-net` namespace; median of {RUNS} runs.

| prober | time | alive | vs fping |
|---|---|---|---|
| yunwang `collectors.icmp` (one raw socket) | {fmt(yw)} | {yw_alive:,} | {med(yw) / med(fp):.1f}× |
| yunwang with `engine="icmplib"` (`async_multiping`, socket per host) | {fmt(lib)} | {lib_alive:,} | {med(lib) / med(fp):.1f}× |
| `fping -i 0 -r 0 -t 1000 -f` | {fmt(fp)} | {fp_alive:,} | 1.0× |
| prometheus-blackbox-exporter (Debian), 200 concurrent `/probe?module=icmp` | {fmt(bb)} | {bb_alive:,} | {med(bb) / med(fp):.1f}× |

SSH collection from {N_DEVICES:,} simulated Huawei VRP devices (one asyncssh process, `tests/env/testnet/devicesim.py`)
with netmiko `huawei` on 50 threads: 4 commands each (`display version`, `display interface brief`,
`display cpu-usage`, `display memory-usage`) parsed with ntc-templates (`huawei_vrp`).

| devices | total | parsed | failures | per device p50 / max |
|---|---|---|---|---|
| {N_DEVICES:,} | {ssh_dt:.1f} s | {ssh_ok:,} | {sum(ssh_fail.values())} {ssh_fail or ""} | {per[len(per) // 2]:.2f} s / {per[-1]:.2f} s |

Goals: within 2× of fping — {"met" if med(yw) <= 2 * med(fp) else "not met"}; well ahead of blackbox_exporter —
{med(bb) / med(yw):.0f}× faster; 1,000 devices with zero failures in under a minute — {"met" if not ssh_fail and ssh_dt < 60 else "not met"}.
Both sides share the machine's 2 cores (the simulator serves every SSH session from one Python process).
"""
        write_section("collectors", "Extranet collectors: ICMP sweep and SSH collection", body)
    finally:
        if ours:
            subprocess.run(
                ["bash", str(ROOT / "tests/env/testnet/down.sh")], env={**os.environ, "STATE": str(tmp / "testnet")}
            )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
