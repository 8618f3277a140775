"""Vantage points in network namespaces (root): each namespace holds only its own part of a test network and has no
route out (no default route, only the addresses on its own loopback), so nothing a worker there sends can leave.

The database (a SQLite file) and the broker stay in the host namespace and are reached through the filesystem, not a
route: one `socat UNIX-LISTEN:<tmp>/amqp.sock … TCP:127.0.0.1:<broker port>` on the host side, and in each namespace
`socat TCP-LISTEN:<broker port>,bind=127.0.0.1 … UNIX-CONNECT:<tmp>/amqp.sock`, so the worker's broker URL is the
same 127.0.0.1 URL as on the host. Addresses come from 198.18.0.0/15 (benchmarking, RFC 2544), never 10.255.0.0/16.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import processes

BENCH = ipaddress.ip_network("198.18.0.0/15")


def need_root_and_socat() -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: vantage namespaces need root (ip netns)")
    if shutil.which("socat") is None or shutil.which("ip") is None:
        pytest.fail("socat and iproute2 are needed (Debian packages socat, iproute2)")


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@dataclass
class VantageNet:
    """Namespaces by vantage name, each with its own loopback addresses; socat bridges to the broker."""

    tmp: Path
    broker_port: int
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:4])
    namespaces: dict[str, str] = field(default_factory=dict)
    bridges: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def socket_path(self) -> Path:
        return self.tmp / "amqp.sock"

    def prefix(self, vantage: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[vantage]]

    def add(self, vantage: str, addresses: list[str]) -> str:
        """Namespace `ywv-<vantage>-<suffix>` owning `addresses` (on its loopback), with a broker bridge."""
        for a in addresses:
            assert ipaddress.ip_address(a) in BENCH, a  # the test network's range only
        ns = f"ywv-{vantage}-{self.suffix}"
        _run("ip", "netns", "add", ns)
        self.namespaces[vantage] = ns
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        for a in addresses:
            _run("ip", "-n", ns, "addr", "add", f"{a}/32", "dev", "lo")
        assert _run("ip", "-n", ns, "route", "show", "default").strip() == ""  # no way out
        assert len(_run("ip", "-n", ns, "-o", "link", "show").splitlines()) == 1  # lo only: no veth, no uplink
        self._bridge(
            [
                *self.prefix(vantage),
                "socat",
                f"TCP-LISTEN:{self.broker_port},bind=127.0.0.1,fork,reuseaddr",
                f"UNIX-CONNECT:{self.socket_path}",
            ],
            ns,
        )
        return ns

    def start_host_bridge(self) -> None:
        self._bridge(
            ["socat", f"UNIX-LISTEN:{self.socket_path},fork,mode=600", f"TCP:127.0.0.1:{self.broker_port}"], None
        )

    def _bridge(self, args: list[str], ns: str | None) -> None:
        self.bridges.append(processes.start(args, self.tmp / f"socat-{len(self.bridges)}.log"))
        processes.wait_until(lambda: self._listening(ns), 10, f"socat bridge {args[-2]}")

    def _listening(self, ns: str | None) -> bool:
        if ns is None:
            return self.socket_path.exists()
        probe = ["ip", "netns", "exec", ns, "socat", "-u", "OPEN:/dev/null", f"TCP:127.0.0.1:{self.broker_port}"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def close(self) -> None:
        processes.stop(self.bridges, timeout=5)
        for ns in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.socket_path.unlink(missing_ok=True)


def broker_port(url: str) -> int:
    parts = urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "localhost"), "the test broker must be on this host's loopback"
    return parts.port or 5672


@contextmanager
def vantage_net(tmp: Path, url: str) -> Iterator[VantageNet]:
    need_root_and_socat()
    net = VantageNet(tmp, broker_port(url))
    try:
        net.start_host_bridge()
        yield net
    finally:
        net.close()
