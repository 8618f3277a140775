"""ICMP echo sweeps: one socket, every target, several rounds; loss and min/avg/max RTT per target.

One socket for the whole sweep (as fping does) rather than one per host: replies are matched by
source address and sequence number, so 10,000 targets cost one file descriptor and one reader.
A reply's arrival time is the kernel's receive timestamp (`SO_TIMESTAMPNS`, read from the recvmsg
ancillary data), not the moment the reader gets its turn: with thousands of replies queued, the RTT of
the last one would otherwise include the time spent reading all the others.
`engine="icmplib"` runs the same sweep through icmplib's per-host `async_multiping` (for comparison).
icmplib is in the `dev` dependency group only (the benchmark), not a runtime dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import random
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from collectors.results import ProbeError, ProbeKind, ProbeResult
from core.times import now_utc
from inventory.addresses import is_host

_ECHO_REQUEST, _ECHO_REPLY, _UNREACHABLE = 8, 0, 3
_PAYLOAD = b"yunwang!" * 3
# Linux <asm-generic/socket.h>; Python's socket module does not name these. SCM_ == SO_ for ancillary data.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux: tv_sec, tv_nsec


@dataclass(frozen=True)
class IcmpTarget:
    address: str
    node_id: int | None = None


@dataclass(frozen=True)
class IcmpOptions:
    count: int = 3
    interval_seconds: float = 0.2
    timeout_seconds: float = 1.0
    privileged: bool = True
    vantage: str = "local"
    engine: str = "socket"  # or "icmplib"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def _packet(ident: int, seq: int) -> bytes:
    header = struct.pack("!BBHHH", _ECHO_REQUEST, 0, 0, ident, seq)
    csum = _checksum(header + _PAYLOAD)
    return struct.pack("!BBHHH", _ECHO_REQUEST, 0, csum, ident, seq) + _PAYLOAD


def _open_socket(privileged: bool) -> socket.socket:
    kind = socket.SOCK_RAW if privileged else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # receive times in CLOCK_REALTIME ns
    for opt, force in ((socket.SO_RCVBUF, 33), (socket.SO_SNDBUF, 32)):  # SO_RCVBUFFORCE / SO_SNDBUFFORCE
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
    return sock


class _Sweep:
    """State of one sweep: send times, RTTs and unreachable marks per (target, round)."""

    def __init__(self, addresses: list[str], count: int, privileged: bool) -> None:
        self.addresses = addresses
        self.index = {a: i for i, a in enumerate(addresses)}
        self.count = count
        self.privileged = privileged
        self.ident = random.randrange(1, 0xFFFF)
        self.seq0 = random.randrange(0, 0xFFFF - count)
        self.sent_ns: list[list[int]] = [[0] * count for _ in addresses]
        self.rtt: list[list[float | None]] = [[None] * count for _ in addresses]
        self.unreachable = [False] * len(addresses)
        self.outstanding = 0
        self.all_sent = False
        self.done = asyncio.Event()

    def on_packet(self, packet: bytes, source: str, now_ns: int) -> None:
        if self.privileged:
            packet = packet[(packet[0] & 0x0F) * 4 :]
        if len(packet) < 8:
            return
        kind, _code, _csum, ident, seq = struct.unpack("!BBHHH", packet[:8])
        if kind == _ECHO_REPLY:
            if self.privileged and ident != self.ident:
                return  # a raw socket sees every echo reply on the host
            i, r = self.index.get(source), seq - self.seq0
            if i is None or not 0 <= r < self.count or self.rtt[i][r] is not None or not self.sent_ns[i][r]:
                return
            self.rtt[i][r] = max(0, now_ns - self.sent_ns[i][r]) / 1e9
            self.outstanding -= 1
        elif kind == _UNREACHABLE and self.privileged and len(packet) >= 8 + 20 + 8:
            inner = packet[8:]
            ihl = (inner[0] & 0x0F) * 4
            dest = socket.inet_ntoa(inner[16:20])
            if len(inner) >= ihl + 8 and struct.unpack("!H", inner[ihl + 4 : ihl + 6])[0] == self.ident:
                i = self.index.get(dest)
                if i is not None:
                    self.unreachable[i] = True
        if self.all_sent and self.outstanding <= 0:
            self.done.set()


def kernel_receive_ns(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel receive timestamp (CLOCK_REALTIME, ns) from recvmsg ancillary data, when present."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return int(sec) * 1_000_000_000 + int(nsec)
    return None


async def _send(sock: socket.socket, packet: bytes, address: str) -> int:
    """Send one echo request, waiting briefly when the socket buffer is full; its send time (ns), 0 if not sent.

    The time is CLOCK_REALTIME, the clock of the kernel's receive timestamps, taken just before the send.
    """
    for _ in range(200):
        try:
            sent = time.time_ns()
            sock.sendto(packet, (address, 0))
            return sent
        except (BlockingIOError, InterruptedError):
            await asyncio.sleep(0.001)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                await asyncio.sleep(0.001)
                continue
            return 0  # unroutable from here: EHOSTUNREACH / ENETUNREACH / EINVAL
    return 0


async def _sweep_socket(addresses: list[str], opts: IcmpOptions) -> _Sweep:
    loop = asyncio.get_running_loop()
    sweep = _Sweep(addresses, opts.count, opts.privileged)
    sock = _open_socket(opts.privileged)

    def readable() -> None:
        while True:
            try:
                packet, ancillary, _flags, (source, _port) = sock.recvmsg(2048, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sweep.on_packet(packet, source, kernel_receive_ns(ancillary) or time.time_ns())

    loop.add_reader(sock.fileno(), readable)
    try:
        for r in range(opts.count):
            started = time.monotonic()
            packet = _packet(sweep.ident, sweep.seq0 + r)
            for i, address in enumerate(addresses):
                sweep.sent_ns[i][r] = await _send(sock, packet, address)
                if sweep.sent_ns[i][r]:
                    sweep.outstanding += 1
                else:
                    sweep.unreachable[i] = True
                if i % 512 == 511:
                    await asyncio.sleep(0)  # let replies in while sending a big round
            if r < opts.count - 1:
                await asyncio.sleep(max(0.0, opts.interval_seconds - (time.monotonic() - started)))
        sweep.all_sent = True
        if sweep.outstanding > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sweep.done.wait(), opts.timeout_seconds)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return sweep


def _result(
    target: IcmpTarget, rtts: Sequence[float | None], unreachable: bool, opts: IcmpOptions, started: float
) -> ProbeResult:
    got = [r for r in rtts if r is not None]
    error = None
    if not got:
        error = ProbeError.UNREACHABLE if unreachable else ProbeError.TIMEOUT
    return ProbeResult(
        kind=ProbeKind.ICMP,
        target=target.address,
        vantage=opts.vantage,
        ok=bool(got),
        error=error,
        node_id=target.node_id,
        duration_seconds=time.monotonic() - started,
        sent=len(rtts),
        received=len(got),
        rtt_min_seconds=min(got) if got else None,
        rtt_avg_seconds=sum(got) / len(got) if got else None,
        rtt_max_seconds=max(got) if got else None,
    )


async def _sweep_icmplib(
    targets: list[IcmpTarget], ips: list[str], opts: IcmpOptions, started: float
) -> list[ProbeResult]:
    from icmplib import async_multiping

    hosts = await async_multiping(
        ips,
        count=opts.count,
        interval=opts.interval_seconds,
        timeout=opts.timeout_seconds,
        concurrent_tasks=1000,
        privileged=opts.privileged,
    )
    return [
        _result(t, [r / 1000 for r in h.rtts] + [None] * (h.packets_sent - h.packets_received), False, opts, started)
        for t, h in zip(targets, hosts, strict=True)
    ]


async def _resolve(name: str, timeout: float) -> str | None:
    """A host name's first IPv4 address (None when it does not resolve in time)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(name, None, family=socket.AF_INET), timeout)
    except (OSError, TimeoutError, UnicodeError):
        return None
    return str(infos[0][4][0]) if infos else None


async def _ipv4_of(targets: Sequence[IcmpTarget], timeout: float) -> list[str | tuple[ProbeError, str]]:
    """Per target: the IPv4 address to ping, or why it cannot be pinged (no IPv6 echo yet, name not found)."""

    async def one(address: str) -> str | tuple[ProbeError, str]:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            if not is_host(address):
                return (ProbeError.BAD_TARGET, "not an IP address or host name")
            found = await _resolve(address, timeout)
            return found if found else (ProbeError.BAD_TARGET, "host name does not resolve to an IPv4 address")
        if ip.version == 6:
            return (ProbeError.BAD_TARGET, "IPv6 echo is not supported by this prober")
        return address

    return list(await asyncio.gather(*(one(t.address) for t in targets)))


async def ping_many(targets: Sequence[IcmpTarget], opts: IcmpOptions) -> list[ProbeResult]:
    """Ping every target `opts.count` times; one result per target, in order, whatever fails.

    IPv4 addresses are pinged as they are, host names through their first IPv4 address (the result keeps
    the name); what cannot be pinged comes back as `bad_target` with the reason.
    """
    started = time.monotonic()
    at = now_utc()
    valid: list[IcmpTarget] = []
    ips: list[str] = []
    results: dict[int, ProbeResult] = {}
    for n, (t, ip) in enumerate(zip(targets, await _ipv4_of(targets, opts.timeout_seconds), strict=True)):
        if isinstance(ip, str):
            valid.append(t)
            ips.append(ip)
        else:
            results[n] = ProbeResult(
                ProbeKind.ICMP, t.address, opts.vantage, False, ip[0], ip[1], node_id=t.node_id, at=at
            )
    if valid and opts.engine == "icmplib":
        probed = iter(await _sweep_icmplib(valid, ips, opts, started))
    elif valid:
        unique = list(dict.fromkeys(ips))
        sweep = await _sweep_socket(unique, opts)
        probed = iter(
            _result(t, sweep.rtt[sweep.index[ip]], sweep.unreachable[sweep.index[ip]], opts, started)
            for t, ip in zip(valid, ips, strict=True)
        )
    else:
        probed = iter(())
    return [results[n] if n in results else next(probed) for n in range(len(targets))]


def can_ping_unprivileged() -> bool:
    """Whether this process may open ICMP datagram sockets (net.ipv4.ping_group_range)."""
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo <= os.getgid() <= hi
    except OSError:
        return False
