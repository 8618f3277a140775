"""A job the scheduler submitted while the broker was unreachable (a 127.0.0.1 port nothing listens on) is kept,
queued and unsent; once a real broker is reachable the requeue sends it and a real worker runs it; /readyz of an
app on the real broker is ready."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.tasks import engine as task_engine
from core.tasks.backends import Tasks
from core.tasks.celery_app import CeleryBackend
from core.tasks.models import TaskStatus
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.integration.tasks.conftest import Engine, broker_url, effects
from tests.integration.tasks.sample_tasks import EFFECT


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("engine", ["celery"], indirect=True)
def test_a_job_kept_while_the_broker_was_unreachable_runs_once_it_is_back(engine: Engine) -> None:
    down = CeleryBackend(f"amqp://yunwang:x@127.0.0.1:{_closed_port()}/h15")
    try:
        assert not Tasks(engine.db, down).ready()
        job_id = Tasks(engine.db, down).submit(
            EFFECT, {"n": 41, "queue": engine.queue}, requested_by="scheduler", keep_unsent=True
        )
    finally:
        down.stop()
    assert (engine.row(job_id).status, engine.row(job_id).worker) == (TaskStatus.QUEUED, task_engine.UNSENT)
    assert engine.tasks.ready()
    assert engine.tasks.requeue(300) == 1  # the real broker: sent at once, not after 5 minutes
    row = engine.wait(job_id)
    assert (row.status, row.attempts, row.result) == (TaskStatus.SUCCEEDED, 1, {"n": 41, "attempt": 1})
    assert effects(engine.db, job_id) == 1


@pytest.mark.parametrize("any_db", ["postgresql"], indirect=True)
def test_readyz_on_a_reachable_broker_is_ready(any_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False, broker_url=broker_url()
    )
    with TestClient(create_app(settings, registry=CollectorRegistry(), database=any_db)) as c:
        r = c.get("/readyz")
        assert (r.status_code, r.json()) == (200, {"status": "ready", "broker": "celery"})
