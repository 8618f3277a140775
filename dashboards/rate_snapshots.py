"""Stored rate counts: month-end snapshots, so "as of a past month" reads rows instead of replaying the change log.

A snapshot holds, for one moment `at`, the grouped counts of every rate (per owner unit, region and category:
what `rates._grouped` returns). The figures as of `at` depend on the change-log rows written at or before `at`
and on the live region tree (units are mapped to the areas of their level by it); the snapshot records both
(`log_count`, `regions_log_count`) and is used only while they still match. The change log is append-only, so
an equal count means the same rows: a change back-dated to before `at`, or any edit of the region tree, makes
the snapshot stale and the rates are recomputed from the change log as before (figures are never wrong, only
slower). Unit names and cities are joined at read time, as for a live computation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import times
from core.models import ChangeLog
from dashboards.models import RateSnapshot, RateSnapshotCount

Grouped = list[tuple[Any, Any, str, int]]  # (unit_id, region_id, category, count), as rates._grouped
LIVE_READ_KINDS = ("regions",)  # kinds the as-of figures read from the live tables (the region tree)


def fingerprint(session: Session, at: datetime) -> tuple[int, int]:
    """(change-log rows written at or before `at`, change-log rows of the live-read kinds)."""
    upto = session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.at <= at)) or 0
    live = session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.kind.in_(LIVE_READ_KINDS)))
    return int(upto), int(live or 0)


def stored(session: Session, at: datetime) -> dict[str, Grouped] | None:
    """The counts of the snapshot taken for `at` (UTC), by rate key, when there is one and it is still valid."""
    snap = session.scalar(select(RateSnapshot).where(RateSnapshot.at == at))
    if snap is None or (snap.log_count, snap.regions_log_count) != fingerprint(session, at):
        return None
    out: dict[str, Grouped] = {}
    rows = session.execute(
        select(
            RateSnapshotCount.rate_key,
            RateSnapshotCount.unit_id,
            RateSnapshotCount.region_id,
            RateSnapshotCount.category,
            RateSnapshotCount.n,
        )
        .where(RateSnapshotCount.snapshot_id == snap.id)
        .order_by(RateSnapshotCount.id)
    )
    for key, unit_id, region_id, category, n in rows:
        out.setdefault(key, []).append((unit_id, region_id, category, n))
    return out


def store(session: Session, at: datetime, counts: dict[str, Grouped], fp: tuple[int, int], actor: str) -> RateSnapshot:
    """Write (or replace) the snapshot for `at` with `counts` and the fingerprint read BEFORE they were counted
    (a change landing in between then makes the snapshot stale, never wrongly valid)."""
    session.execute(delete(RateSnapshot).where(RateSnapshot.at == at))
    session.flush()
    snap = RateSnapshot(at=at, log_count=fp[0], regions_log_count=fp[1], taken_at=times.now_utc(), taken_by=actor)
    session.add(snap)
    session.flush()
    session.add_all(
        RateSnapshotCount(snapshot_id=snap.id, rate_key=key, unit_id=u, region_id=r, category=c, n=n)
        for key, rows in counts.items()
        for u, r, c, n in rows
    )
    session.flush()
    return snap


def moments(session: Session) -> Iterable[datetime]:
    """The moments snapshots were taken for, oldest first."""
    return list(session.scalars(select(RateSnapshot.at).order_by(RateSnapshot.at)))


def live_fingerprint(session: Session) -> tuple[int, int, str]:
    """What the live figures depend on besides the tables the change log records: (largest change-log id,
    change-log rows, Beijing date: determinations and targets take effect at Beijing midnight)."""
    top, n = session.execute(select(func.max(ChangeLog.id), func.count()).select_from(ChangeLog)).one()
    return int(top or 0), int(n or 0), times.today_beijing().isoformat()
