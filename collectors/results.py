"""What a probe returns, and the pure decision from probe results to a node's state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.times import now_utc
from inventory.enums import NodeState


class ProbeKind(StrEnum):
    ICMP = "icmp"
    TCP = "tcp"
    SSH = "ssh"
    SNMP = "snmp"


class ProbeError(StrEnum):
    """Why a probe failed, as a bounded vocabulary (never raw exception text)."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    RESET = "reset"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    NO_CREDENTIAL = "no_credential"
    PARSE_ERROR = "parse_error"  # the device answered; a required command's output did not parse
    PROMPT_NOT_FOUND = "prompt_not_found"  # logged in, but no CLI prompt could be recognised
    PAGING_NOT_DISABLED = "paging_not_disabled"  # output stopped at `---- More ----`
    HOST_KEY_CHANGED = "host_key_changed"  # the SSH host key differs from the one trusted on first use
    BAD_TARGET = "bad_target"
    ERROR = "error"


@dataclass(frozen=True)
class ProbeResult:
    """One probe of one target from one vantage point; `ok=False` carries `error`, never an exception."""

    kind: ProbeKind
    target: str
    vantage: str
    ok: bool
    error: ProbeError | None = None
    detail: str | None = None  # short, redacted; for operators, never a metric label
    node_id: int | None = None
    device_id: int | None = None
    port: int | None = None
    at: datetime = field(default_factory=now_utc)
    duration_seconds: float = 0.0
    sent: int = 0
    received: int = 0
    rtt_min_seconds: float | None = None
    rtt_avg_seconds: float | None = None
    rtt_max_seconds: float | None = None
    facts: dict[str, Any] | None = None
    host_key: str | None = None  # SSH: the key the device presented ("ssh-ed25519 AAAA…")
    encoding: str | None = None  # SSH: how its CLI output was decoded (utf-8 or gbk)
    excerpt: str | None = None  # SSH parse_error / paging: the raw output that failed, cut short

    @property
    def loss_ratio(self) -> float | None:
        return None if self.sent == 0 else (self.sent - self.received) / self.sent


def node_state(
    icmp: ProbeResult | None,
    tcp: Sequence[ProbeResult],
    degraded_loss_ratio: float,
    previous: NodeState | None = None,
) -> NodeState:
    """Up when it answers cleanly, degraded on heavy loss or a closed port, down when nothing answers.

    A degraded node comes back up only once its loss falls to half the threshold, so a link hovering
    around the threshold does not flap (and fill the change log). A target that cannot be probed at all
    (`bad_target`: a malformed address, a name that does not resolve) says nothing about the node: it is
    left out, so a typo in the inventory never reads as "node down".
    """
    if icmp is not None and icmp.error == ProbeError.BAD_TARGET:
        icmp = None
    tcp = [r for r in tcp if r.error != ProbeError.BAD_TARGET]
    if icmp is None and not tcp:
        return NodeState.UNKNOWN
    icmp_alive = icmp is not None and icmp.received > 0
    tcp_ok = [r.ok for r in tcp]
    # a refused connection is the host itself answering (RST): reachable, the service is closed
    host_answered = any(r.ok or r.error == ProbeError.REFUSED for r in tcp)
    if not icmp_alive and not host_answered:
        return NodeState.DOWN
    if icmp is None or not icmp_alive:
        return NodeState.DEGRADED  # ICMP blocked or lost but a service answers
    loss = icmp.loss_ratio or 0.0
    threshold = degraded_loss_ratio / 2 if previous == NodeState.DEGRADED else degraded_loss_ratio
    if loss > threshold or not all(tcp_ok):
        return NodeState.DEGRADED
    return NodeState.UP


def parse_ports(spec: str | None) -> list[int]:
    """`"22,443"` → `[22, 443]`; invalid entries are dropped."""
    ports = []
    for part in (spec or "").replace(";", ",").split(","):
        part = part.strip()
        if part.isdigit() and 0 < int(part) < 65536:
            ports.append(int(part))
    return ports
