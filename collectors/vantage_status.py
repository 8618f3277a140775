"""Availability and coverage per vantage (distributed probing, collectors/vantages.py): for each vantage the nodes
assigned to it, how many it probed within the last interval, how many of those were up or down, when its last result
arrived, whether it is stale (none of its nodes probed within STALE_INTERVALS intervals: its worker stopped or
lost the broker or the database), and which of the codes assigned to it match no node (a typo in YUNWANG_VANTAGES, or
a node renamed or deleted since: the nodes are in the database, not known when the settings are read, so this is
shown — `yunwang_vantage_unknown_nodes`, alert ExtranetVantageUnknownNodes — rather than refused at start).

Counted from the results in the database (each records the vantage that measured it), so it holds whichever process
asks: the API process sees what the vantage workers wrote. A vantage's own results count for its nodes; the nodes of
no vantage (the central `probe` queue, label `central`) count results from whoever probed them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from collectors import vantages
from collectors.models import ProbeRecord
from core import times
from core.db import Database
from core.times import iso, now_utc
from core.wiring import Key, provider
from inventory.models import ExtranetNode

STALE_INTERVALS = 3
CENTRAL = vantages.CENTRAL  # the metric label of the nodes of no vantage


@dataclass(frozen=True)
class VantageStatus:
    vantage: str | None  # None: the nodes of no vantage, probed by the central workers
    queue: str
    nodes: int
    probed: int
    up: int
    down: int
    last_result_at: datetime | None
    stale: bool
    unknown_codes: tuple[str, ...] = ()  # codes assigned to the vantage (YUNWANG_VANTAGES) that match no node

    @property
    def label(self) -> str:
        return self.vantage or CENTRAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "vantage": self.vantage,
            "label": self.label,
            "queue": self.queue,
            "nodes": self.nodes,
            "probed": self.probed,
            "up": self.up,
            "down": self.down,
            "coverage_ratio": round(self.probed / self.nodes, 4) if self.nodes else None,
            "last_result_at": iso(self.last_result_at) if self.last_result_at else None,
            "stale": self.stale,
            "unknown_codes": list(self.unknown_codes),
        }


def _newest(session: Session, kind: str, since: datetime) -> dict[tuple[int, str], tuple[datetime, bool]]:
    """(node, vantage) → (time, ok) of the newest result of `kind` since `since`."""
    newest = (
        select(ProbeRecord.node_id, ProbeRecord.vantage, func.max(ProbeRecord.at).label("at"))
        .where(ProbeRecord.kind == kind, ProbeRecord.at >= since, ProbeRecord.node_id.is_not(None))
        .group_by(ProbeRecord.node_id, ProbeRecord.vantage)
        .subquery()
    )
    rows = session.execute(
        select(newest.c.node_id, newest.c.vantage, newest.c.at, ProbeRecord.ok).join(
            ProbeRecord,
            and_(
                ProbeRecord.node_id == newest.c.node_id,
                ProbeRecord.vantage == newest.c.vantage,
                ProbeRecord.at == newest.c.at,
                ProbeRecord.kind == kind,
            ),
        )
    )
    return {(n, v): (times.from_db(at), ok) for n, v, at, ok in rows}


def report(
    session: Session,
    assignments: vantages.Assignments,
    kind: str,
    interval_seconds: float,
    now: datetime,
    window_seconds: float | None = None,
    history_hours: int = 48,
) -> list[VantageStatus]:
    """One row per vantage (assigned ones in name order, then the central queue if it has nodes).
    `window_seconds` ("the last interval"): default the interval itself."""
    window = timedelta(seconds=window_seconds if window_seconds is not None else interval_seconds)
    stale_after = timedelta(seconds=interval_seconds * STALE_INTERVALS)
    where = vantages.vantage_of(session, assignments)
    groups: dict[str | None, list[int]] = {v: [] for v in sorted(assignments)}
    for nid in session.scalars(select(ExtranetNode.id).order_by(ExtranetNode.id)):
        groups.setdefault(where.get(nid), []).append(nid)
    assigned = {code for codes in assignments.values() for code in codes}
    known = (
        set(session.scalars(select(ExtranetNode.code).where(ExtranetNode.code.in_(assigned)))) if assigned else set()
    )
    newest = _newest(session, kind, now - timedelta(hours=history_hours))
    by_node: dict[int, list[tuple[str, datetime, bool]]] = {}
    for (nid, by), (at, ok) in newest.items():
        by_node.setdefault(nid, []).append((by, at, ok))
    out = []
    for v, ids in groups.items():
        if v is None and not ids:
            continue
        probed = up = 0
        last: datetime | None = None
        for nid in ids:
            mine = [(at, ok) for rv, at, ok in by_node.get(nid, []) if v is None or rv == v]
            if not mine:
                continue
            at, ok = max(mine)
            last = at if last is None or at > last else last
            if now - at <= window:
                probed += 1
                up += ok
        stale = bool(ids) and (last is None or now - last > stale_after)
        unknown = tuple(c for c in assignments.get(v, ()) if c not in known) if v is not None else ()
        out.append(VantageStatus(v, vantages.probe_queue(v), len(ids), probed, up, probed - up, last, stale, unknown))
    return out


@dataclass
class VantageBoard:
    """The vantage report for the API (fresh) and for /metrics (a snapshot refreshed by a per-process job)."""

    db: Database
    assignments: vantages.Assignments
    intervals: Mapping[str, float]  # probe kind → sweep interval (s)
    jitter_seconds: float = 0
    history_hours: int = 48
    snapshot: list[VantageStatus] = field(default_factory=list)

    def report(self, session: Session, kind: str = "icmp", now: datetime | None = None) -> list[VantageStatus]:
        interval = self.intervals[kind]
        return report(
            session,
            self.assignments,
            kind,
            interval,
            now or now_utc(),
            interval + self.jitter_seconds,
            self.history_hours,
        )

    def refresh(self) -> None:
        with self.db.read_session() as s:
            self.snapshot = self.report(s)


VANTAGE_BOARD: Key[VantageBoard] = Key("vantage_board")
get_vantage_board = provider(VANTAGE_BOARD)


class VantageCollector(Collector):
    """`yunwang_vantage_*{vantage}` from the board's snapshot (ICMP results); a scrape does no query."""

    def __init__(self, board: VantageBoard) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fams = {
            "nodes": GaugeMetricFamily(
                "yunwang_vantage_nodes", "Extranet nodes assigned to the vantage", labels=["vantage"]
            ),
            "probed": GaugeMetricFamily(
                "yunwang_vantage_nodes_probed",
                "Nodes the vantage probed (ICMP) within the last interval",
                labels=["vantage"],
            ),
            "up": GaugeMetricFamily(
                "yunwang_vantage_nodes_up", "Probed nodes that answered, as seen from the vantage", labels=["vantage"]
            ),
            "down": GaugeMetricFamily(
                "yunwang_vantage_nodes_down",
                "Probed nodes that did not answer, as seen from the vantage",
                labels=["vantage"],
            ),
        }
        last = GaugeMetricFamily(
            "yunwang_vantage_last_result_timestamp_seconds",
            "Time of the vantage's newest ICMP result",
            labels=["vantage"],
        )
        interval = GaugeMetricFamily(
            "yunwang_vantage_interval_seconds",
            "ICMP sweep interval the vantage is expected to keep",
            labels=["vantage"],
        )
        unknown = GaugeMetricFamily(
            "yunwang_vantage_unknown_nodes",
            "Node codes assigned to the vantage (YUNWANG_VANTAGES) that match no extranet node",
            labels=["vantage"],
        )
        for st in self.board.snapshot:
            labels = [st.label]
            fams["nodes"].add_metric(labels, st.nodes)
            fams["probed"].add_metric(labels, st.probed)
            fams["up"].add_metric(labels, st.up)
            fams["down"].add_metric(labels, st.down)
            interval.add_metric(labels, self.board.intervals["icmp"])
            if st.vantage is not None:
                unknown.add_metric(labels, len(st.unknown_codes))
            if st.last_result_at is not None:
                last.add_metric(labels, st.last_result_at.timestamp())
        yield from (*fams.values(), last, interval, unknown)
