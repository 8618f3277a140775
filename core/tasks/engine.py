"""What both backends share: the job row's life (submit → claim → succeed/fail) and running one job.

`claim` moves the row queued|running → running with attempts + 1 in one write transaction (a row left running
is one whose worker died: its message came back). A finished row is never claimed again, so a duplicate
delivery does nothing. Errors are stored redacted and short.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.jobs import hold, lease_state
from core.redaction import redact
from core.tasks.models import FINISHED, TaskFile, TaskJob, TaskStatus
from core.tasks.registry import REGISTRY, Resources, TaskContext, TaskSpec, spec
from core.times import iso, now_utc

log = logging.getLogger("yunwang.tasks")


def worker_id() -> str:
    """host:pid of the process running a job, read at each claim (a prefork worker's child has its own pid)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


@dataclass(frozen=True)
class File:
    """A file beside a job (core.tasks.models.TaskFile): an upload to work on, or a report made."""

    content: bytes
    media_type: str
    filename: str | None = None


INPUT, RESULT = "input", "result"


class TaskFailed(Exception):
    """Raised by a task whose work was refused (e.g. an import with wrong rows): the job fails with `error`
    and still carries `result` (what the synchronous call would have answered)."""

    def __init__(self, error: str, result: dict[str, Any]) -> None:
        super().__init__(error)
        self.error, self.result = error, result


def new_job(
    db: Database,
    s: TaskSpec,
    payload: dict[str, Any],
    subject: str | None,
    requested_by: str | None,
    upload: File | None = None,
) -> tuple[TaskJob, bool]:
    """Insert the queued job row (and its `upload`, in the same transaction; committed before any message is
    sent); (row, True).

    With a subject, a job of the same task on the same subject that is still queued or running is returned
    instead, (row, False): asking twice while it runs does not start it twice — also when the asks come at the same
    moment to several processes (the check and the insert run under the subject's lease).
    """
    if subject is None:
        return _new_job(db, s, payload, subject, requested_by, upload)
    key = "submit:" + hashlib.sha256(f"{s.name}\0{subject}".encode()).hexdigest()[:40]
    with hold(db, key, wait=30, forget=True):
        return _new_job(db, s, payload, subject, requested_by, upload)


def _new_job(
    db: Database,
    s: TaskSpec,
    payload: dict[str, Any],
    subject: str | None,
    requested_by: str | None,
    upload: File | None,
) -> tuple[TaskJob, bool]:
    with db.session() as session:
        if subject is not None:
            unfinished = session.scalars(
                select(TaskJob).where(
                    TaskJob.subject == subject, TaskJob.name == s.name, TaskJob.status.not_in(FINISHED)
                )
            ).first()
            if unfinished is not None:
                return unfinished, False
        row = TaskJob(
            id=uuid.uuid4().hex,
            name=s.name,
            queue=s.queue_for(payload),
            subject=subject,
            requested_by=requested_by,
            status=TaskStatus.QUEUED,
            attempts=0,
            payload=payload,
            created_at=now_utc(),
        )
        session.add(row)
        if upload is not None:
            session.flush()
            session.add(_file_row(row.id, INPUT, upload))
    return row, True


def _file_row(job_id: str, role: str, f: File) -> TaskFile:
    name = f.filename[:255] if f.filename else None
    return TaskFile(
        job_id=job_id, role=role, filename=name, media_type=f.media_type, content=f.content, created_at=now_utc()
    )


def read_file(db: Database, job_id: str, role: str) -> File | None:
    with db.read_session() as s:
        row = s.get(TaskFile, (job_id, role))
        return None if row is None else File(bytes(row.content), row.media_type, row.filename)


def store_result(db: Database, job_id: str, f: File) -> None:
    """Keep a job's made file (a repeat, after a redelivery, replaces it)."""
    with db.session() as s:
        s.merge(_file_row(job_id, RESULT, f))


@dataclass(frozen=True)
class Claim:
    name: str
    payload: dict[str, Any]
    attempt: int


def claim(db: Database, job_id: str) -> Claim | None:
    """queued|running → running, attempts + 1; None when the job is finished, unknown or out of attempts."""
    with db.session() as s:
        row = s.scalars(select(TaskJob).where(TaskJob.id == job_id).with_for_update()).first()
        if row is None:
            log.warning("task job %s: no such job; message dropped", job_id)
            return None
        if row.status in FINISHED:
            log.info("task job %s already %s; duplicate delivery ignored", job_id, row.status.value)
            return None
        known = REGISTRY.get(row.name)
        limit = known.max_attempts if known else 1
        if row.attempts >= limit:
            row.status, row.finished_at = TaskStatus.FAILED, now_utc()
            row.error = f"gave up after {row.attempts} attempt(s) (the worker died each time)"
            return None
        row.status, row.attempts, row.worker = TaskStatus.RUNNING, row.attempts + 1, worker_id()
        row.started_at = row.started_at or now_utc()
        return Claim(row.name, dict(row.payload), row.attempts)


def finish(db: Database, job_id: str, result: dict[str, Any] | None, error: str | None) -> None:
    with db.session() as s:
        row = s.get(TaskJob, job_id)
        if row is None:
            return
        row.status = TaskStatus.FAILED if error is not None else TaskStatus.SUCCEEDED
        row.result, row.error, row.finished_at = result, error, now_utc()


def progress(db: Database, job_id: str, result: dict[str, Any]) -> None:
    """A running job's partial result (e.g. the sweeps done so far), shown while it runs."""
    with db.session() as s:
        row = s.get(TaskJob, job_id)
        if row is not None and row.status == TaskStatus.RUNNING:
            row.result = result


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {redact(str(exc))[:300]}"


def lease_key(job_id: str) -> str:
    return f"task:{job_id}"


def execute(db: Database, resources: Resources, job_id: str) -> TaskStatus | None:
    """Claim and run one job; its outcome goes on the row. None: nothing to do (finished or unknown).

    The job's lease is held while it runs: a second delivery of a job that is still running — the broker
    redelivers when the first worker's connection dropped (a broker restart), or two replicas recover the same
    in-process job — waits for the first to finish (then finds it finished) or to die (then continues it)."""
    with hold(db, lease_key(job_id), forget=True):
        return _execute(db, resources, job_id)


def _execute(db: Database, resources: Resources, job_id: str) -> TaskStatus | None:
    got = claim(db, job_id)
    if got is None:
        return None
    ctx = TaskContext(db, resources, job_id, got.attempt)
    try:
        result = spec(got.name).fn(ctx, got.payload)
    except TaskFailed as refused:  # the task ran and said no: its answer stays on the job
        log.info("task %s (%s) refused: %s", got.name, job_id, refused.error)
        finish(db, job_id, refused.result, refused.error[:300])
        return TaskStatus.FAILED
    except Exception as exc:  # recorded on the job, never raised into the pool or the broker
        error = error_text(exc)
        log.error("task %s (%s) failed: %s", got.name, job_id, error)
        finish(db, job_id, None, error)
        return TaskStatus.FAILED
    finish(db, job_id, result, None)
    return TaskStatus.SUCCEEDED


def job_out(row: TaskJob, result: bool = True) -> dict[str, Any]:
    def stamp(t: Any) -> str | None:
        return iso(t) if t else None

    return {
        "id": row.id,
        "name": row.name,
        "queue": row.queue,
        "subject": row.subject,
        "requested_by": row.requested_by,
        "status": row.status.value,
        "attempts": row.attempts,
        "result": row.result if result else None,
        "error": row.error,
        "created_at": stamp(row.created_at),
        "started_at": stamp(row.started_at),
        "finished_at": stamp(row.finished_at),
        "url": f"/api/v1/tasks/{row.id}",
    }


REQUEUE_JOB = "tasks_requeue"  # the periodic job sending `orphans` again (every minute, once across replicas)
QUEUED_TOO_LONG = 300.0  # seconds a job may wait queued before its message is sent again once
REQUEUED = "requeued"  # the worker column of a queued job sent again once by `orphans` (never twice)
UNSENT = "unsent"  # the worker column of a queued job whose message the broker refused: sent again at the next requeue


def mark_unsent(db: Database, job_id: str) -> None:
    """A queued job whose message could not be published (the broker unreachable): `orphans` returns it at once
    (the next `tasks_requeue`, within a minute of the broker being back), not after `QUEUED_TOO_LONG`."""
    with db.session() as s:
        s.execute(
            update(TaskJob).where(TaskJob.id == job_id, TaskJob.status == TaskStatus.QUEUED).values(worker=UNSENT)
        )


def nobody_runs(s: Session, job_id: str) -> bool:
    """The one rule for "nobody runs this job": its lease `task:<id>` is not live — free (never started, or its run
    ended) or dead (its holder died: on this host at once, elsewhere once the lease ran out). Used by `orphans` (the
    periodic resend) and by the in-process backend's start-up recovery alike."""
    return lease_state(s, lease_key(job_id)) != "live"


def unowned(db: Database) -> list[tuple[str, str, str]]:
    """Every unfinished job nobody runs (`nobody_runs`), queued ones included, (id, name, queue): what a service
    starting runs again when its in-process pool held them (a second run of a job another process still has queued
    waits on the lease and then finds it finished)."""
    with db.read_session() as s:
        rows = s.execute(select(TaskJob.id, TaskJob.name, TaskJob.queue).where(TaskJob.status.not_in(FINISHED))).all()
        return [(job_id, name, queue) for job_id, name, queue in rows if nobody_runs(s, job_id)]


def orphans(db: Database, queued_for: float, now: datetime | None = None) -> list[tuple[str, str, str]]:
    """Unfinished jobs nobody will run, (id, name, queue), marked so each queued one is sent again once:

    - running while its lease is not live: its worker died (on this host at once; elsewhere once the lease ran out);
    - queued for longer than `queued_for` seconds and never sent again: its message was lost between the job row
      and the broker (the API process died just then) — or still waits behind others, which a second message
      costs nothing (the job's lease and claim make the later one a no-op);
    - queued and marked `UNSENT` (its publish failed: the broker was unreachable), however young.
    """
    now = now or now_utc()
    found: list[tuple[str, str, str]] = []
    with db.session() as s:
        rows = s.execute(
            select(TaskJob.id, TaskJob.name, TaskJob.queue, TaskJob.status, TaskJob.worker, TaskJob.created_at).where(
                TaskJob.status.not_in(FINISHED)
            )
        ).all()
        for job_id, name, queue, status, worker, created in rows:
            if not nobody_runs(s, job_id):
                continue
            created_utc = created if created.tzinfo else created.replace(tzinfo=now.tzinfo)
            if status == TaskStatus.RUNNING:
                found.append((job_id, name, queue))
            elif worker == UNSENT or (worker is None and created_utc < now - timedelta(seconds=queued_for)):
                s.execute(update(TaskJob).where(TaskJob.id == job_id, TaskJob.worker == worker).values(worker=REQUEUED))
                found.append((job_id, name, queue))
    return found


# the daily job deleting finished jobs older than the retention (once across replicas)
RETENTION_JOB = "tasks_retention"


def purge_finished(db: Database, days: int, now: datetime | None = None, batch: int = 500) -> int:
    """Delete the jobs that finished more than `days` ago, with their files (uploads, reports); how many.

    Only finished jobs (succeeded, failed) — never a queued or running one, whatever its age. In batches, each its
    own transaction, so a long backlog never holds the write lock for long."""
    cutoff = (now or now_utc()) - timedelta(days=days)
    total = 0
    while True:
        with db.session() as s:
            ids = s.scalars(
                select(TaskJob.id)
                .where(TaskJob.status.in_(FINISHED), TaskJob.finished_at < cutoff)
                .order_by(TaskJob.finished_at)
                .limit(batch)
            ).all()
            if not ids:
                return total
            s.execute(delete(TaskFile).where(TaskFile.job_id.in_(ids)))
            s.execute(delete(TaskJob).where(TaskJob.id.in_(ids), TaskJob.status.in_(FINISHED)))
            total += len(ids)
