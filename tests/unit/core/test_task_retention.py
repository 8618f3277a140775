"""Retention of background jobs (issue 14 review): finished jobs older than YUNWANG_TASK_RETENTION_DAYS are deleted
with their files (uploads, reports) by the daily job `tasks_retention` on the one scheduler; a queued or running
job never, whatever its age."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from core.db import Database
from core.tasks import engine
from core.tasks.models import FINISHED, TaskFile, TaskJob, TaskStatus
from core.tasks.registry import TaskContext, spec, task
from core.times import now_utc
from core.wiring import JOBS, services
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings

KEPT = "test.retention"


@task(KEPT, queue="test.retention")
def kept(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    return {}


def _job(db: Database, status: TaskStatus, age_days: float, files: bool = False) -> str:
    now = now_utc()
    at = now - timedelta(days=age_days)
    upload = engine.File(b"rows", "text/csv", "in.csv") if files else None
    row, _ = engine.new_job(db, spec(KEPT), {}, None, "tester", upload)
    with db.session() as s:
        job = s.get(TaskJob, row.id)
        assert job is not None
        job.status, job.created_at = status, at - timedelta(minutes=5)
        if status != TaskStatus.QUEUED:
            job.started_at = at - timedelta(minutes=4)
        if status in FINISHED:
            job.finished_at, job.result = at, {"big": "x" * 100}
    if files:
        engine.store_result(db, row.id, engine.File(b"report", "text/csv", "out.csv"))
    return row.id


def test_finished_jobs_past_the_retention_go_with_their_files_and_unfinished_ones_stay(any_db: Database) -> None:
    old_ok = _job(any_db, TaskStatus.SUCCEEDED, 31, files=True)
    old_failed = _job(any_db, TaskStatus.FAILED, 40, files=True)
    young = _job(any_db, TaskStatus.SUCCEEDED, 29, files=True)
    old_queued = _job(any_db, TaskStatus.QUEUED, 100, files=True)
    old_running = _job(any_db, TaskStatus.RUNNING, 100)
    assert engine.purge_finished(any_db, 30) == 2
    with any_db.read_session() as s:
        left = set(s.scalars(select(TaskJob.id)))
        files = sorted((job_id, role) for job_id, role in s.execute(select(TaskFile.job_id, TaskFile.role)))
    assert left == {young, old_queued, old_running}
    assert old_ok not in left and old_failed not in left
    # by hand: young has its upload and its report; the queued one its upload (a report comes only when it ran)
    assert files == sorted([(young, "input"), (young, "result"), (old_queued, "input"), (old_queued, "result")])
    assert engine.purge_finished(any_db, 30) == 0  # nothing more


def test_a_small_batch_deletes_them_all_in_turns(db: Database) -> None:
    ids = [_job(db, TaskStatus.SUCCEEDED, 31 + n) for n in range(5)]
    assert engine.purge_finished(db, 30, batch=2) == 5
    with db.read_session() as s:
        assert s.scalars(select(TaskJob.id).where(TaskJob.id.in_(ids))).all() == []


def test_the_retention_job_is_on_the_one_scheduler_with_its_setting(db: Database, tmp_path: Path) -> None:
    settings = Settings(database_url=db.url, data_dir=tmp_path / "d", scheduler_enabled=False, task_retention_days=7)
    app = create_app(settings, registry=CollectorRegistry(), database=db)
    old = _job(db, TaskStatus.SUCCEEDED, 8)
    keep = _job(db, TaskStatus.SUCCEEDED, 6)
    with TestClient(app):
        jobs = services(app).get(JOBS)
        described = {j["id"]: j["interval_seconds"] for j in jobs.describe()}
        assert described[engine.RETENTION_JOB] == 86400
        outcome = jobs.run(engine.RETENTION_JOB)
    assert outcome is not None and outcome.targets == 1
    with db.read_session() as s:
        assert set(s.scalars(select(TaskJob.id).where(TaskJob.id.in_([old, keep])))) == {keep}
