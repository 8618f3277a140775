"""A service that cannot reach its broker (issue 14 review): it says so on /readyz (503, the one error shape) while
/healthz stays 200; a scheduled slot is not taken while the broker is unreachable (another replica takes it); a
scheduler's submission whose publish fails stays queued, marked unsent, and the next requeue sends it — at once,
not after the five minutes of a lost message — and keeps it again while the broker is still away."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from core.db import Database
from core.jobs import JobOutcome, Jobs
from core.models import JobLease, JobRun
from core.tasks import engine
from core.tasks.backends import Tasks
from core.tasks.celery_app import CeleryBackend
from core.tasks.models import TaskJob, TaskStatus
from core.tasks.registry import TaskContext, task
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.task_jobs import job_row

QUIET = "test.outage_quiet"


@task(QUIET, queue="test.outage")
def quiet(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    return {}


def closed_port_url() -> str:
    """An AMQP URL on a 127.0.0.1 port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"amqp://yunwang:secret-pw@127.0.0.1:{port}/h15"


class Recording:
    """A backend that accepts every message (a broker that is back)."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, job_id: str, task_name: str, queue: str) -> None:
        self.sent.append(job_id)

    def reachable(self) -> bool:
        return True

    def stop(self) -> None:
        pass


@pytest.fixture
def down() -> Iterator[CeleryBackend]:
    backend = CeleryBackend(closed_port_url())
    yield backend
    backend.stop()


def test_readyz_is_503_while_the_broker_is_unreachable_and_healthz_stays_200(db: Database, tmp_path: Path) -> None:
    settings = Settings(
        database_url=db.url, data_dir=tmp_path / "data", scheduler_enabled=False, broker_url=closed_port_url()
    )
    with TestClient(create_app(settings, registry=CollectorRegistry(), database=db)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["error"]["code"] == "unavailable"
        assert body["error"]["details"] == [{"message": "broker unreachable", "field": "broker"}]
        assert "secret-pw" not in r.text


def test_readyz_without_a_broker_is_ready(client: TestClient) -> None:
    r = client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready", "broker": "in-process"})


def test_a_scheduled_slot_is_not_taken_while_the_broker_is_unreachable(db: Database, down: CeleryBackend) -> None:
    tasks = Tasks(db, down)
    ran: list[str] = []

    def job() -> JobOutcome:
        ran.append("x")
        return JobOutcome()

    jobs = Jobs(db)
    jobs.add_interval("needs_broker", job, 60, 0, tasks.ready)
    assert jobs.run("needs_broker", "schedule") is None
    assert ran == []
    with db.read_session() as s:  # no lease taken, no run recorded: another replica's firing takes the slot
        assert s.scalar(select(func.count()).select_from(JobRun)) == 0
        assert s.get(JobLease, "needs_broker") is None
    jobs.add_interval("needs_broker", job, 60, 0, lambda: True)
    jobs.run("needs_broker", "schedule")
    assert ran == ["x"]


def test_a_scheduled_submission_the_broker_refuses_is_kept_and_sent_when_it_is_back(
    db: Database, down: CeleryBackend
) -> None:
    job_id = Tasks(db, down).submit(QUIET, {}, requested_by="scheduler", keep_unsent=True)
    row = job_row(db, job_id)
    assert (row.status, row.worker, row.error) == (TaskStatus.QUEUED, engine.UNSENT, None)
    # the broker still away: the requeue keeps it (unsent again), it is not lost
    assert Tasks(db, down).requeue(300) == 0
    assert job_row(db, job_id).worker == engine.UNSENT
    # the broker back: the next requeue sends it, though it is only seconds old (not after 5 minutes)
    back = Recording()
    assert Tasks(db, back).requeue(300) == 1
    assert back.sent == [job_id]
    assert job_row(db, job_id).worker == engine.REQUEUED
    assert Tasks(db, back).requeue(300) == 0  # sent once


def test_an_asked_submission_the_broker_refuses_is_still_a_503_and_a_failed_job(
    db: Database, down: CeleryBackend
) -> None:
    from core.errors import Unavailable

    with pytest.raises(Unavailable):
        Tasks(db, down).submit(QUIET, {}, requested_by="someone")
    with db.read_session() as s:
        row = s.scalars(select(TaskJob).where(TaskJob.requested_by == "someone")).one()
        assert row.status == TaskStatus.FAILED
        assert (row.error or "").startswith("not queued: ")


def test_the_broker_check_answers_in_time_for_a_refused_and_a_silent_broker() -> None:
    """A readiness probe must get its 503 within the check's one 2 s attempt: a refused port at once, a listener that
    never answers after the connect timeout (no retry on top)."""
    refused = CeleryBackend(closed_port_url())
    try:
        started = time.monotonic()
        assert refused.reachable() is False
        assert time.monotonic() - started < 1.0
    finally:
        refused.stop()
    with socket.socket() as listener:  # accepts (the kernel's backlog) and never speaks AMQP
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        silent = CeleryBackend(f"amqp://yunwang:secret-pw@127.0.0.1:{listener.getsockname()[1]}/h15")
        try:
            started = time.monotonic()
            assert silent.reachable() is False
            took = time.monotonic() - started
            assert CeleryBackend.CONNECT_TIMEOUT - 0.2 <= took < CeleryBackend.CONNECT_TIMEOUT + 1.0, took
        finally:
            silent.stop()
