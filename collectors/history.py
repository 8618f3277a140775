"""One node's recent history for the console: ICMP samples (latency, loss) from the bounded probe records and
its state periods (up/degraded/down since…until), both over the last `hours`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
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
