"""The live picture computed after each sweep: node states and measurements, four-level coverage and
the horizontal access rate. Metrics and the API read this snapshot; a scrape computes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.results import ProbeResult, now_utc
from collectors.store import AVAILABLE, NodeInfo, load_nodes
from inventory.enums import AccessStatus, NodeState, RegionLevel
from inventory.models import NodeAccess, Unit

LEVELS = [lv.value for lv in RegionLevel]


@dataclass(frozen=True)
class CoverageRow:
    """Nodes expected at one level (and city) against those reachable now."""

    level: str
    city: str  # "" for the level as a whole
    expected: int
    reachable: int

    @property
    def ratio(self) -> float | None:
        return None if self.expected == 0 else self.reachable / self.expected


@dataclass(frozen=True)
class AccessRow:
    """Units at one level whose horizontal access node is up, against all units at that level."""

    level: str
    units: int
    connected_up: int

    @property
    def ratio(self) -> float | None:
        return None if self.units == 0 else self.connected_up / self.units


def coverage(nodes: Sequence[NodeInfo], states: dict[int, NodeState]) -> list[CoverageRow]:
    """Per level overall and per level and city: expected nodes and reachable (up or degraded) ones."""
    counts: dict[tuple[str, str], list[int]] = {}
    for n in nodes:
        up = states.get(n.id, n.state) in AVAILABLE
        for key in ((n.level, ""), (n.level, n.city)) if n.city else ((n.level, ""),):
            c = counts.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += int(up)
    order = {lv: i for i, lv in enumerate(LEVELS)}
    return [
        CoverageRow(lv, city, e, r)
        for (lv, city), (e, r) in sorted(counts.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1]))
    ]


def horizontal_access(
    units: Iterable[tuple[int, str]], access: Iterable[tuple[int, int]], up_nodes: set[int]
) -> list[AccessRow]:
    """横向接入率 from live data: units with a connected access through a node that is up now, per level."""
    reached = {unit for unit, node in access if node in up_nodes}
    per: dict[str, list[int]] = {}
    for unit, level in units:
        c = per.setdefault(level, [0, 0])
        c[0] += 1
        c[1] += int(unit in reached)
    total = [sum(c[0] for c in per.values()), sum(c[1] for c in per.values())]
    rows = [AccessRow(lv, *per[lv]) for lv in LEVELS if lv in per]
    return [*rows, AccessRow("all", *total)]


@dataclass
class Snapshot:
    nodes: list[NodeInfo] = field(default_factory=list)
    icmp: dict[int, ProbeResult] = field(default_factory=dict)
    coverage: list[CoverageRow] = field(default_factory=list)
    access: list[AccessRow] = field(default_factory=list)
    sweep_seconds: dict[str, float] = field(default_factory=dict)
    sweep_finished: dict[str, datetime] = field(default_factory=dict)
    at: datetime | None = None


class LiveView:
    """Holds the newest snapshot; replaced whole (readers never see half an update)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshot = Snapshot()

    def refresh(
        self, session: Session, icmp: dict[int, ProbeResult], sweep: tuple[str, float] | None = None
    ) -> Snapshot:
        nodes = load_nodes(session)
        states = {n.id: n.state for n in nodes}
        units = session.execute(select(Unit.id, Unit.level)).tuples().all()
        access = (
            session.execute(
                select(NodeAccess.unit_id, NodeAccess.node_id).where(NodeAccess.status == AccessStatus.CONNECTED)
            )
            .tuples()
            .all()
        )
        up = {nid for nid, s in states.items() if s in AVAILABLE}
        with self._lock:
            old = self.snapshot
            seconds, finished = dict(old.sweep_seconds), dict(old.sweep_finished)
            if sweep:
                seconds[sweep[0]], finished[sweep[0]] = sweep[1], now_utc()
            self.snapshot = Snapshot(
                nodes=nodes,
                icmp=dict(icmp),
                coverage=coverage(nodes, states),
                access=horizontal_access(((u, lv.value) for u, lv in units), access, up),
                sweep_seconds=seconds,
                sweep_finished=finished,
                at=now_utc(),
            )
            return self.snapshot
