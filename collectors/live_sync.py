"""The live picture when sweeps run elsewhere: with a broker configured, `yunwang worker` processes probe and
write results, node states and their task rows to the one database; each API process rebuilds its own live
snapshot (node states, the newest ICMP figures per node, the last sweep per kind) from there, on a per-process
job (`collectors.live`, orchestrator/app/collectors_wiring.py), so /metrics and /coverage agree in every API process.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from collectors.live import IcmpMeasured, LiveView, Snapshot
from collectors.models import ProbeRecord
from collectors.results import ProbeKind
from collectors.tasks import SWEEP
from core import times
from core.db import Database
from core.tasks.models import TaskJob, TaskStatus
from inventory.models import ExtranetNode

SWEPT_KINDS = (ProbeKind.ICMP, ProbeKind.TCP, ProbeKind.SSH)  # the kinds a local sweep reports (SNMP: its own view)
NEWEST_TASKS = 16  # per kind, the newest sweep tasks looked at (one per vantage and interval)


def newest_icmp(session: Session) -> dict[int, IcmpMeasured]:
    """Node id → loss and average RTT of its newest ICMP record (one index seek per node, as store.latest_records)."""
    r2 = aliased(ProbeRecord)
    newest = (
        select(r2.id)
        .where(r2.node_id == ExtranetNode.id, r2.kind == ProbeKind.ICMP.value)
        .order_by(r2.at.desc(), r2.id.desc())
        .limit(1)
        .correlate(ExtranetNode)
        .scalar_subquery()
    )
    rows = session.execute(
        select(ProbeRecord.node_id, ProbeRecord.loss_ratio, ProbeRecord.rtt_avg_seconds).where(
            ProbeRecord.id.in_(select(newest).select_from(ExtranetNode))
        )
    ).tuples()
    return {nid: IcmpMeasured(loss, rtt) for nid, loss, rtt in rows if nid is not None}


def last_sweeps(session: Session) -> dict[str, tuple[float, datetime]]:
    """Kind → (seconds, end) of the last finished sweep task of that kind, whichever vantage ran it."""
    out: dict[str, tuple[float, datetime]] = {}
    for kind in SWEPT_KINDS:
        rows = session.execute(
            select(TaskJob.started_at, TaskJob.finished_at, TaskJob.result)
            .where(
                TaskJob.name == SWEEP,
                TaskJob.status == TaskStatus.SUCCEEDED,
                TaskJob.payload["kind"].as_string() == kind.value,
            )
            .order_by(TaskJob.created_at.desc())
            .limit(NEWEST_TASKS)
        ).tuples()
        for started, finished, result in rows:
            if finished is None:
                continue
            end = times.from_db(finished)
            seconds = (result or {}).get("seconds")
            if seconds is None:
                seconds = (end - times.from_db(started)).total_seconds() if started else 0.0
            if kind.value not in out or end > out[kind.value][1]:
                out[kind.value] = (float(seconds), end)
    return out


def rebuild(db: Database, live: LiveView) -> Snapshot:
    """Replace `live`'s snapshot with the one the database holds now (what the workers wrote)."""
    with db.read_session() as s:
        return live.refresh(s, newest_icmp(s), sweeps=last_sweeps(s))
