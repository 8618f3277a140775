"""The app's scheduler: jobs persist in the app database across a restart; runs and errors are visible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from core.db import Database
from core.enums import Role
from core.jobs import JobOutcome
from core.wiring import JOBS, services
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

pytestmark = [pytest.mark.integration, pytest.mark.network]


def _settings(db: Database, tmp_path: Path, icmp_seconds: int = 3600) -> Settings:
    return Settings(
        database_url=db.url,
        data_dir=tmp_path / "data",
        scheduler_enabled=True,
        collector_icmp_interval_seconds=icmp_seconds,
        collector_tcp_interval_seconds=3600,
        collector_ssh_interval_seconds=7200,
        collector_jitter_seconds=0,
        collector_icmp_count=3,
        collector_icmp_packet_interval_seconds=0.02,
    )


def _next_runs(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    jobs = services(app).get(JOBS).scheduler.get_jobs()
    return {j.id: j.next_run_time.isoformat() for j in jobs if j.id.startswith("collectors.")}


def test_scheduled_jobs_survive_an_app_restart(testnet: str, db: Database, tmp_path: Path) -> None:
    app1 = create_app(_settings(db, tmp_path), registry=CollectorRegistry(), database=db)
    with TestClient(app1):
        first = _next_runs(app1)
    assert set(first) == {"collectors.icmp", "collectors.tcp", "collectors.ssh", "collectors.snmp"}
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM apscheduler_jobs WHERE id LIKE 'collectors.%'")).scalar() == 4
    app2 = create_app(_settings(db, tmp_path), registry=CollectorRegistry(), database=db)
    with TestClient(app2):
        assert _next_runs(app2) == first  # same schedule: kept, not restarted from now
    app3 = create_app(_settings(db, tmp_path, icmp_seconds=1800), registry=CollectorRegistry(), database=db)
    with TestClient(app3):
        third = _next_runs(app3)
        job = services(app3).get(JOBS).scheduler.get_job("collectors.icmp")
        assert job.trigger.interval.total_seconds() == 1800 and job.max_instances == 1 and job.coalesce
    assert third["collectors.icmp"] != first["collectors.icmp"] and third["collectors.tcp"] == first["collectors.tcp"]


def test_job_runs_and_last_error_are_visible_in_the_api(
    testnet: str, db: Database, tmp_path: Path, token_for: Callable[..., str]
) -> None:
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region")
        inv.node(r, "region", code="UP1", address="172.20.0.1")
        inv.node(r, "region", code="DOWN1", address="172.22.0.1")
    app = create_app(_settings(db, tmp_path), registry=CollectorRegistry(), database=db)

    def failing() -> JobOutcome:
        raise RuntimeError("cloud said no; password=hunter2-secret")

    services(app).get(JOBS).add_interval("test.failing", failing, 3600)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
        outcome = services(app).get(JOBS).run("collectors.icmp")
        assert outcome == JobOutcome(targets=2, failures=1)
        assert services(app).get(JOBS).run("test.failing") is None
        jobs = {j["id"]: j for j in client.get("/api/v1/collectors/jobs").json()}
    icmp = jobs["collectors.icmp"]
    assert icmp["scheduled"] and icmp["interval_seconds"] == 3600 and icmp["next_run_time"]
    assert icmp["last_run"]["ok"] is True and icmp["last_run"]["failures"] == 1 and icmp["last_error"] is None
    failed = jobs["test.failing"]
    assert failed["last_run"]["ok"] is False
    assert failed["last_error"]["error"].startswith("RuntimeError: cloud said no")
    assert "hunter2-secret" not in failed["last_error"]["error"]
