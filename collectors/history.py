"""One node's recent history for the console: ICMP samples (latency, loss) from the bounded probe records and
its state periods (up/degraded/down since…until), both over the last `hours`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from collectors.models import NodeStatePeriod, ProbeRecord
from core.times import iso, now_utc

MAX_SAMPLES = 2000  # the newest ones; a day of 60 s sweeps is 1,440


def node_history(session: Session, node_id: int, hours: int, at: datetime | None = None) -> dict[str, Any]:
    """ICMP samples oldest first (at, ok, loss_ratio, rtt_avg_seconds, error) and the state periods that overlap
    the window, newest first (`until` null: the current state)."""
    at = at or now_utc()
    start = at - timedelta(hours=hours)
    records = session.scalars(
        select(ProbeRecord)
        .where(ProbeRecord.node_id == node_id, ProbeRecord.kind == "icmp", ProbeRecord.at >= start)
        .order_by(ProbeRecord.at.desc(), ProbeRecord.id.desc())
        .limit(MAX_SAMPLES)
    ).all()
    periods = session.scalars(
        select(NodeStatePeriod)
        .where(
            NodeStatePeriod.node_id == node_id,
            (NodeStatePeriod.until.is_(None)) | (NodeStatePeriod.until > start),
        )
        .order_by(NodeStatePeriod.since.desc(), NodeStatePeriod.id.desc())
    ).all()
    return {
        "node_id": node_id,
        "hours": hours,
        "from": iso(start),
        "to": iso(at),
        "samples": [
            {
                "at": iso(r.at),
                "ok": r.ok,
                "loss_ratio": r.loss_ratio,
                "rtt_avg_seconds": r.rtt_avg_seconds,
                "error": r.error,
            }
            for r in reversed(records)
        ],
        "states": [
            {
                "state": p.state.value,
                "since": iso(p.since),
                "until": iso(p.until) if p.until else None,
            }
            for p in periods
        ],
    }


def sparklines(
    session: Session, node_ids: list[int] | None, hours: int, points: int, at: datetime | None = None
) -> dict[str, Any]:
    """Mean ICMP latency of answered probes and mean loss per node in `points` equal buckets over the last
    `hours` (oldest first; null where a bucket has no answered sample), computed in the database in one query."""
    at = at or now_utc()
    start = at - timedelta(hours=hours)
    width = timedelta(hours=hours) / points
    rtt = case((ProbeRecord.ok.is_(True), ProbeRecord.rtt_avg_seconds), else_=None)
    parts = []
    for i in range(points):
        lo, hi = start + width * i, start + width * (i + 1)
        q = (
            select(
                literal(i).label("bucket"),
                ProbeRecord.node_id,
                func.avg(rtt).label("rtt"),
                func.avg(ProbeRecord.loss_ratio).label("loss"),
            )
            .where(ProbeRecord.kind == "icmp", ProbeRecord.at >= lo, ProbeRecord.at < hi)
            .group_by(ProbeRecord.node_id)
        )
        if node_ids is not None:
            q = q.where(ProbeRecord.node_id.in_(node_ids))
        parts.append(q)
    series: dict[int, dict[str, list[float | None]]] = {}
    for bucket, node_id, avg_rtt, avg_loss in session.execute(union_all(*parts)):
        s = series.setdefault(node_id, {"rtt": [None] * points, "loss": [None] * points})
        s["rtt"][bucket] = float(avg_rtt) if avg_rtt is not None else None
        s["loss"][bucket] = float(avg_loss) if avg_loss is not None else None
    return {
        "hours": hours,
        "points": points,
        "from": iso(start),
        "to": iso(at),
        "nodes": [
            {"node_id": nid, "rtt_avg_seconds": s["rtt"], "loss_ratio": s["loss"]} for nid, s in sorted(series.items())
        ],
    }
