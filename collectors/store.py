"""Reading probe targets from the inventory and writing probe outcomes back (history, states, facts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from collectors import notify
from collectors.models import NodeStatePeriod, ProbeRecord
from collectors.results import ProbeResult, parse_ports
from core import times
from core.audit import ChangeContext
from core.models import JobRun
from core.times import iso, now_utc
from inventory import service
from inventory.enums import NodeState, RegionLevel
from inventory.kinds import KINDS
from inventory.models import Device, ExtranetNode, Region

AVAILABLE = (NodeState.UP, NodeState.DEGRADED)


@dataclass(frozen=True)
class NodeInfo:
    """An extranet node as the collectors see it, with its city and county names for labels."""

    id: int
    code: str
    name: str
    level: str
    address: str | None
    ports: tuple[int, ...]
    parent_id: int | None
    city: str
    county: str
    state: NodeState
    state_since: datetime | None
    region_id: int | None = None


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    code: str
    node_id: int
    vendor: str
    device_type: str
    address: str
    port: int
    credential_ref: str | None


def _places(session: Session) -> dict[int, tuple[str, str]]:
    """Region id → (city name, county name) from the region tree ('' above that level)."""
    rows = {r.id: r for r in session.scalars(select(Region))}
    out: dict[int, tuple[str, str]] = {}
    for rid in rows:
        city = county = ""
        cur: Region | None = rows[rid]
        while cur is not None:
            if cur.level == RegionLevel.CITY:
                city = cur.name
            elif cur.level == RegionLevel.COUNTY:
                county = cur.name
            cur = rows.get(cur.parent_id) if cur.parent_id else None
        out[rid] = (city, county)
    return out


def load_nodes(session: Session, node_ids: Iterable[int] | None = None) -> list[NodeInfo]:
    q = select(ExtranetNode).order_by(ExtranetNode.id)
    if node_ids is not None:
        q = q.where(ExtranetNode.id.in_(list(node_ids)))
    places = _places(session)
    return [
        NodeInfo(
            n.id,
            n.code,
            n.name,
            n.level.value,
            n.address,
            tuple(parse_ports(n.tcp_ports)),
            n.parent_id,
            *places.get(n.region_id, ("", "")),
            n.state,
            n.state_since,
            n.region_id,
        )
        for n in session.scalars(q)
    ]


def subtree(session: Session, node_id: int) -> list[int]:
    """The node and every node below it."""
    service.get_or_404(session, KINDS["extranet_nodes"], node_id)
    children: dict[int | None, list[int]] = {}
    for nid, parent in session.execute(select(ExtranetNode.id, ExtranetNode.parent_id)):
        children.setdefault(parent, []).append(nid)
    out, todo = [], [node_id]
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(children.get(n, []))
    return sorted(out)


def load_devices(session: Session, node_ids: Iterable[int] | None = None) -> list[DeviceInfo]:
    q = select(Device).order_by(Device.id)
    if node_ids is not None:
        q = q.where(Device.node_id.in_(list(node_ids)))
    return [
        DeviceInfo(d.id, d.code, d.node_id, d.vendor, d.device_type, d.mgmt_address, d.ssh_port, d.credential_ref)
        for d in session.scalars(q)
    ]


def record_results(session: Session, results: Sequence[ProbeResult]) -> None:
    """Append results to the history."""
    if not results:
        return
    session.execute(
        ProbeRecord.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "kind": r.kind.value,
                "vantage": r.vantage,
                "target": r.target,
                "port": r.port,
                "node_id": r.node_id,
                "device_id": r.device_id,
                "at": r.at,
                "ok": r.ok,
                "error": r.error.value if r.error else None,
                "detail": (r.detail or "")[:200] or None,
                "loss_ratio": r.loss_ratio,
                "rtt_avg_seconds": r.rtt_avg_seconds,
                "rtt_max_seconds": r.rtt_max_seconds,
            }
            for r in results
        ],
    )


def apply_states(
    session: Session, decided: dict[int, NodeState], ctx: ChangeContext, at: datetime
) -> list[tuple[int, NodeState, NodeState]]:
    """Write changed node states through inventory.service (change-logged); unchanged ones write nothing."""
    current = dict(
        session.execute(select(ExtranetNode.id, ExtranetNode.state).where(ExtranetNode.id.in_(list(decided))))
        .tuples()
        .all()
    )
    changes: list[tuple[int, NodeState, NodeState]] = []
    for node_id, new in decided.items():
        old = current.get(node_id)
        if old is None or old == new or new == NodeState.UNKNOWN:
            continue
        service.update(session, "extranet_nodes", node_id, {"state": new}, ctx)
        session.execute(
            update(NodeStatePeriod)
            .where(NodeStatePeriod.node_id == node_id, NodeStatePeriod.until.is_(None))
            .values(until=at)
        )
        session.add(NodeStatePeriod(node_id=node_id, state=new, since=at, until=None))
        notify.node_changed(session, node_id, old, new, at)  # down / recovered → network admins (outbox)
        changes.append((node_id, old, new))
    session.flush()
    return changes


def prune(session: Session, history_hours: int, at: datetime, keep_runs: int = 200) -> None:
    """Bounded retention: probe history older than `history_hours`, periods closed over 400 days ago."""
    session.execute(delete(ProbeRecord).where(ProbeRecord.at < at - timedelta(hours=history_hours)))
    session.execute(delete(NodeStatePeriod).where(NodeStatePeriod.until < at - timedelta(days=400)))
    for (job_id,) in session.execute(select(JobRun.job_id).group_by(JobRun.job_id).having(func.count() > keep_runs)):
        cutoff = session.scalars(
            select(JobRun.started_at)
            .where(JobRun.job_id == job_id)
            .order_by(JobRun.started_at.desc())
            .offset(keep_runs)
            .limit(1)
        ).first()
        if cutoff is not None:
            session.execute(delete(JobRun).where(JobRun.job_id == job_id, JobRun.started_at <= cutoff))


def _aware(t: datetime) -> datetime:
    return times.from_db(t)


def availability(
    session: Session,
    node_ids: Sequence[int] | None = None,
    days: Sequence[int] = (1, 7, 30),
    at: datetime | None = None,
) -> dict[int, dict[str, float | None]]:
    """Share of observed time each node was up or degraded over each window (None: never observed)."""
    at = at or now_utc()
    start = at - timedelta(days=max(days))
    q = select(NodeStatePeriod).where((NodeStatePeriod.until.is_(None)) | (NodeStatePeriod.until > start))
    if node_ids is not None:
        q = q.where(NodeStatePeriod.node_id.in_(list(node_ids)))
    periods: dict[int, list[NodeStatePeriod]] = {}
    for p in session.scalars(q):
        periods.setdefault(p.node_id, []).append(p)
    out: dict[int, dict[str, float | None]] = {}
    for nid in node_ids if node_ids is not None else periods:
        row: dict[str, float | None] = {}
        for d in days:
            lo = at - timedelta(days=d)
            seen = good = 0.0
            for p in periods.get(nid, []):
                a, b = max(_aware(p.since), lo), min(_aware(p.until) if p.until else at, at)
                if b > a:
                    seconds = (b - a).total_seconds()
                    seen += seconds
                    good += seconds if p.state in AVAILABLE else 0.0
            row[f"{d}d"] = round(good / seen, 6) if seen else None
        out[nid] = row
    return out


def latest_records(
    session: Session, node_ids: Sequence[int], kinds: Sequence[str] = ("icmp", "tcp", "ssh", "snmp")
) -> dict[tuple[int, str], ProbeRecord]:
    """Newest record (by time, then id) per (node, kind): one index seek per node and kind
    (ix_collector_probe_records_node_kind_at), not a scan of the whole history (247 demo nodes with a day of
    60 s samples: 24 ms instead of 310 ms with GROUP BY on SQLite)."""
    ids = list(node_ids)
    out: dict[tuple[int, str], ProbeRecord] = {}
    if not ids:
        return out
    for kind in kinds:
        r2 = aliased(ProbeRecord)
        newest = (
            select(r2.id)
            .where(r2.node_id == ExtranetNode.id, r2.kind == kind)
            .order_by(r2.at.desc(), r2.id.desc())
            .limit(1)
            .correlate(ExtranetNode)
            .scalar_subquery()
        )
        rows = session.scalars(
            select(ProbeRecord).where(ProbeRecord.id.in_(select(newest).where(ExtranetNode.id.in_(ids))))
        )
        out.update({(r.node_id, r.kind): r for r in rows if r.node_id is not None})
    return out


def job_runs(session: Session, job_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Last run and last error per job id."""
    q = select(JobRun).order_by(JobRun.started_at.desc()).limit(2000)
    if job_ids is not None:
        q = q.where(JobRun.job_id.in_(list(job_ids)))
    out: dict[str, dict[str, Any]] = {}
    for r in session.scalars(q):
        entry = out.setdefault(r.job_id, {"last_run": None, "last_error": None})
        if entry["last_run"] is None:
            entry["last_run"] = {
                "started_at": iso(r.started_at),
                "finished_at": iso(r.finished_at) if r.finished_at else None,
                "ok": r.ok,
                "trigger": r.trigger,
                "targets": r.targets,
                "failures": r.failures,
            }
        if entry["last_error"] is None and r.ok is False:
            entry["last_error"] = {"at": iso(r.started_at), "error": r.error}
    return out


def record_run(
    session: Session,
    job_id: str,
    trigger: str,
    started: datetime,
    ok: bool,
    error: str | None,
    targets: int,
    failures: int,
) -> None:
    """A finished run (manual probes record themselves the way scheduled jobs do)."""
    session.add(
        JobRun(
            job_id=job_id,
            trigger=trigger,
            started_at=started,
            finished_at=now_utc(),
            ok=ok,
            error=error,
            targets=targets,
            failures=failures,
        )
    )
