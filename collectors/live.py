"""The live picture computed after each sweep: node states and measurements, four-level coverage of places
(with the uncovered areas) and the horizontal access rate. Metrics and the API read this snapshot; a scrape
computes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.store import AVAILABLE, NodeInfo, load_nodes
from core.times import now_utc
from inventory.areas import CoverageRow, Gap, RegionTree
from inventory.areas import coverage as area_coverage
from inventory.enums import AccessStatus, NodeState, RegionLevel
from inventory.models import NodeAccess, Unit

LEVELS = [lv.value for lv in RegionLevel]


@dataclass(frozen=True)
class AccessRow:
    """Units at one level connected to an up node of their own level in their own area, against all units."""

    level: str
    units: int
    connected_up: int

    @property
    def ratio(self) -> float | None:
        return None if self.units == 0 else self.connected_up / self.units


def coverage(
    tree: RegionTree, nodes: Sequence[NodeInfo], states: dict[int, NodeState]
) -> tuple[list[CoverageRow], list[Gap]]:
    """四级覆盖 of places: areas of each level with a working (up or degraded) node of that level / all areas of
    that level in the region tree, overall and per city; and the areas without one, grouped by city."""
    return area_coverage(
        tree, ((n.level, n.region_id, states.get(n.id, n.state) in AVAILABLE) for n in nodes if n.region_id)
    )


def horizontal_access(
    tree: RegionTree,
    units: Iterable[tuple[int, str, int]],
    access: Iterable[tuple[int, int]],
    nodes: Iterable[tuple[int, str, int]],
    up_nodes: set[int],
) -> list[AccessRow]:
    """横向接入率 from live data, per level: a unit (id, level, region id) counts when it has a connected access
    through a node (id, level, region id) that is up now and is of the unit's own level in its own area."""
    node_of = {nid: (level, region) for nid, level, region in nodes}
    unit_of = {uid: (level, region) for uid, level, region in units}
    reached: set[int] = set()
    for unit, node in access:
        if node not in up_nodes or unit not in unit_of or node not in node_of:
            continue
        (u_level, u_region), (n_level, n_region) = unit_of[unit], node_of[node]
        area = tree.area(u_region, u_level)
        if u_level == n_level and area is not None and area == tree.area(n_region, n_level):
            reached.add(unit)
    per: dict[str, list[int]] = {}
    for unit, (level, _region) in unit_of.items():
        c = per.setdefault(level, [0, 0])
        c[0] += 1
        c[1] += int(unit in reached)
    total = [sum(c[0] for c in per.values()), sum(c[1] for c in per.values())]
    rows = [AccessRow(lv, *per[lv]) for lv in LEVELS if lv in per]
    return [*rows, AccessRow("all", *total)]


class IcmpFigures(Protocol):
    """What the snapshot keeps of a node's newest ICMP probe (a ProbeResult, or one read back: IcmpMeasured)."""

    @property
    def loss_ratio(self) -> float | None: ...
    @property
    def rtt_avg_seconds(self) -> float | None: ...


@dataclass(frozen=True)
class IcmpMeasured:
    """A node's newest ICMP figures as read back from the probe history (collectors/live_sync.py)."""

    loss_ratio: float | None
    rtt_avg_seconds: float | None


@dataclass
class Snapshot:
    nodes: list[NodeInfo] = field(default_factory=list)
    icmp: dict[int, IcmpFigures] = field(default_factory=dict)
    coverage: list[CoverageRow] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
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
        self,
        session: Session,
        icmp: Mapping[int, IcmpFigures],
        sweep: tuple[str, float] | None = None,
        sweeps: Mapping[str, tuple[float, datetime]] | None = None,
    ) -> Snapshot:
        """Recompute from the database's node states and `icmp`. `sweep` (kind, seconds): a sweep of this
        process just ended now; `sweeps` (kind → seconds, end): the last sweeps as recorded elsewhere (replace all)."""
        nodes = load_nodes(session)
        states = {n.id: n.state for n in nodes}
        tree = RegionTree.load(session)
        units = session.execute(select(Unit.id, Unit.level, Unit.region_id)).tuples().all()
        access = (
            session.execute(
                select(NodeAccess.unit_id, NodeAccess.node_id).where(NodeAccess.status == AccessStatus.CONNECTED)
            )
            .tuples()
            .all()
        )
        up = {nid for nid, s in states.items() if s in AVAILABLE}
        rows, gaps = coverage(tree, nodes, states)
        access_rows = horizontal_access(
            tree,
            ((u, lv.value, r) for u, lv, r in units),
            access,
            ((n.id, n.level, n.region_id) for n in nodes if n.region_id),
            up,
        )
        with self._lock:
            old = self.snapshot
            seconds, finished = dict(old.sweep_seconds), dict(old.sweep_finished)
            if sweeps is not None:
                seconds = {k: v[0] for k, v in sweeps.items()}
                finished = {k: v[1] for k, v in sweeps.items()}
            if sweep:
                seconds[sweep[0]], finished[sweep[0]] = sweep[1], now_utc()
            self.snapshot = Snapshot(
                nodes=nodes,
                icmp=dict(icmp),
                coverage=rows,
                gaps=gaps,
                access=access_rows,
                sweep_seconds=seconds,
                sweep_finished=finished,
                at=now_utc(),
            )
            return self.snapshot
