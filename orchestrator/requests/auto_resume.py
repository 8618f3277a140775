"""A stuck provisioning finishes by itself: the periodic `provisioning_resume` job of the one scheduler.

A request is stuck when it is `provisioning` or `retiring` and nobody drives it any more:
- one of its runs' leases (`orchestrator.provisioning.runs.run_lease_key`, `core.jobs.hold`) was left behind by a
  process that died (a process of this host that is gone: at once; another host: its lease expired), or
- no run lease is held and nothing moved (request, runs, steps) for `stall_seconds` (the process died between
  two runs, or before its first one).
A run whose lease is live (its process runs and renews it) is never touched. The job resumes each stuck request
through the same path as `POST /requests/{id}/resume` and `yunwang cloud resume` (`provisioning_hook.resume`:
idempotent step log, find-or-create by marker, READY steps re-checked), audited as `system:provisioning-resume`.
The job runs once per interval across all replicas (the scheduler's job lease); see docs/replicas.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.audit import ChangeContext, record_change
from core.db import Database
from core.enums import ChangeAction, Role
from core.identity import Principal
from core.jobs import JobOutcome, Jobs, lease_state
from core.times import now_utc
from orchestrator.placement.engine import DRLevel
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep
from orchestrator.provisioning.runs import run_lease_key
from orchestrator.requests import provisioning_hook
from orchestrator.requests.lifecycle import RequestStatus
from orchestrator.requests.models import ResourceRequest
from orchestrator.requests.service import KIND, state_of

log = logging.getLogger("yunwang.scheduler")
JOB_ID = "provisioning_resume"
ACTOR = "system:provisioning-resume"
SYSTEM = Principal(name=ACTOR, role=Role.ADMIN)
STUCK_STATES = (RequestStatus.PROVISIONING, RequestStatus.RETIRING)


@dataclass(frozen=True)
class Stuck:
    """A request nobody drives any more, and why it counts as stuck."""

    request_id: int
    code: str
    status: RequestStatus
    why: str


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def find_stuck(db: Database, stall_seconds: float, now: datetime | None = None) -> list[Stuck]:
    """The provisioning/retiring requests whose process died (see the module docstring), oldest first."""
    now = now or now_utc()
    out: list[Stuck] = []
    with db.read_session() as s:  # only reads: on SQLite it does not take the write lock every interval
        rows = s.scalars(
            select(ResourceRequest).where(ResourceRequest.status.in_(STUCK_STATES)).order_by(ResourceRequest.id)
        ).all()
        for row in rows:
            clouds = [row.primary_cloud, row.replica_cloud if row.dr_level != DRLevel.NONE else None]
            states = {lease_state(s, run_lease_key(row.code, c)) for c in clouds if c}
            if "live" in states:
                continue  # a process is working on it
            if "dead" in states:
                out.append(Stuck(row.id, row.code, row.status, "its process died holding the run / 进程已中断"))
                continue
            moved = [
                row.updated_at,
                s.scalar(select(func.max(ProvisionRun.updated_at)).where(ProvisionRun.request_id == row.code)),
                s.scalar(
                    select(func.max(ProvisionStep.updated_at))
                    .join(ProvisionRun, ProvisionRun.id == ProvisionStep.run_id)
                    .where(ProvisionRun.request_id == row.code)
                ),
            ]
            idle = (now - max(_aware(t) for t in moved)).total_seconds()
            if idle >= stall_seconds:
                out.append(Stuck(row.id, row.code, row.status, f"no progress for {int(idle)} s / 长时间无进展"))
    return out


def resume_stuck(
    db: Database, driver_for: provisioning_hook.DriverFor, manage_quota: bool, stall_seconds: float
) -> JobOutcome:
    """Resume every stuck request (audited as the system); targets = stuck requests, failures = not finished."""
    stuck = find_stuck(db, stall_seconds)
    failures = 0
    for item in stuck:
        text = f"自动继续 / auto-resume ({item.status.value}): {item.why}"
        log.warning("request %s is stuck (%s): resuming", item.code, item.why)
        ctx = ChangeContext(actor=ACTOR, role="system", message=text)
        try:
            with db.session() as s:
                row = s.get(ResourceRequest, item.request_id)
                if row is None or row.status != item.status:
                    continue  # finished meanwhile
                snap = state_of(row)
                record_change(s, ctx, KIND, row.id, ChangeAction.DECIDE, snap, snap, object_code=row.code, message=text)
            result = provisioning_hook.resume(db, SYSTEM, ctx, item.request_id, driver_for, manage_quota)
        except SQLAlchemyError:
            raise  # the database is gone: the run records the error, the next run tries again
        except Exception:
            log.exception("auto-resume of %s raised", item.code)
            failures += 1
            continue
        log.warning("request %s resumed: %s", item.code, result.status.value)
        if result.status in STUCK_STATES:
            failures += 1
    return JobOutcome(targets=len(stuck), failures=failures)


class ResumeSettings(Protocol):
    """The settings the job reads (orchestrator.app.settings.Settings has them)."""

    @property
    def cloud_quota_mode(self) -> str: ...
    @property
    def provisioning_resume_seconds(self) -> int: ...
    @property
    def provisioning_stall_seconds(self) -> int: ...


def install(jobs: Jobs, db: Database, clouds: Clouds, settings: ResumeSettings) -> None:
    """Add the periodic auto-resume job (only when clouds are configured: nothing can be stuck otherwise)."""
    if not clouds.configured:
        return
    managed, every, stall = (
        settings.cloud_quota_mode == "managed",
        settings.provisioning_resume_seconds,
        settings.provisioning_stall_seconds,
    )

    def job() -> JobOutcome:
        return resume_stuck(db, clouds.driver_for(), managed, stall)

    jobs.add_interval(JOB_ID, job, every, every // 10)
