"""Real ICMP and TCP probes against 127.0.0.0/8 only."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from collectors.icmp import IcmpOptions, IcmpTarget, can_ping_unprivileged, ping_many
from collectors.tcp import TcpOptions, TcpTarget, probe_many


def _icmp_options() -> IcmpOptions:
    if os.geteuid() == 0:
        return IcmpOptions(count=3, interval_seconds=0.01, timeout_seconds=0.5, privileged=True)
    if can_ping_unprivileged():
        return IcmpOptions(count=3, interval_seconds=0.01, timeout_seconds=0.5, privileged=False)
    pytest.skip("not root: raw ICMP sockets need root (and ping_group_range excludes this group)")


def test_icmp_sweep_measures_every_loopback_target_and_flags_bad_ones() -> None:
    targets = [IcmpTarget(f"127.0.{i // 250}.{i % 250 + 1}", i) for i in range(300)] + [IcmpTarget("not-an-ip", 999)]
    results = asyncio.run(ping_many(targets, _icmp_options()))
    assert len(results) == 301
    assert all(r.ok and r.sent == 3 and r.received == 3 and r.loss_ratio == 0 for r in results[:300])
    assert [r.node_id for r in results[:300]] == list(range(300))
    assert (results[-1].ok, results[-1].error) == (False, "bad_target")


def test_tcp_probe_tells_open_from_refused() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        with socket.socket() as probe_closed:
            probe_closed.bind(("127.0.0.1", 0))
            closed_port = probe_closed.getsockname()[1]  # bound, not listening: connections are refused
            results = asyncio.run(
                probe_many(
                    [TcpTarget("127.0.0.1", open_port, 1), TcpTarget("127.0.0.1", closed_port, 2)],
                    TcpOptions(timeout_seconds=1, retries=2),
                )
            )
    assert results[0].ok and results[0].port == open_port
    assert (results[1].ok, results[1].error) == (False, "refused")
