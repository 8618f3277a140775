"""Imports of large files as a task (`inventory.import`), in-process and on Celery workers, SQLite and PostgreSQL:
the route answers 202 with the job, the job's result is the per-row report the synchronous route answers, a file
with wrong rows writes nothing and its failed job carries the report, and a worker killed mid-import has the job
redelivered and the rows written once."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.models import ChangeLog
from inventory.io.api import get_sync_import_bytes
from inventory.models import InformationSystem, Unit
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv
from tests.integration.tasks.conftest import broker_url, stop_workers, worker_process
from tests.task_jobs import wait_job

pytestmark = pytest.mark.integration
URL = "/api/v1/inventory/systems/import"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ASYNC = {"Prefer": "respond-async"}
ROWS = 1500  # the large workbook: 1,500 systems, 3 units × 500


class Service:
    def __init__(self, db: Database, client: TestClient, tmp: Path, url: str | None) -> None:
        self.db, self.client, self.tmp, self.url = db, client, tmp, url
        self.workers: list[subprocess.Popen[bytes]] = []
        self.world: dict[str, Any] = {}

    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        assert self.url is not None
        extra = ["--include", "tests.integration.tasks.slow_import"]
        p = worker_process(self.db, self.url, "default", self.tmp, extra=extra, env_=env)
        self.workers.append(p)
        return p

    def headers(self, role: Role = Role.ADMIN, unit_id: int | None = None) -> dict[str, str]:
        with self.db.session() as s:
            return {"Authorization": f"Bearer {create_token(s, f'{role.value}-imp', role, unit_id)}"}


@pytest.fixture(params=["in-process", "celery"])
def service(request: pytest.FixtureRequest, any_db: Database, tmp_path: Path) -> Iterator[Service]:
    url = broker_url() if request.param == "celery" else None
    settings = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False, broker_url=url)
    app = create_app(settings, registry=CollectorRegistry(), database=any_db)
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        codes = {
            f"{k}_code": u.code for k in ("unit", "city_unit", "county_unit") if (u := s.get(Unit, b[k])) is not None
        }
        inv.system(b["unit"], room_id=b["room"], code="SYS-OLD", vcpus=4)
    with TestClient(app) as client:
        svc = Service(any_db, client, tmp_path, url)
        svc.world = {**b, **codes}
        if url is not None:
            svc.start_worker()
        try:
            yield svc
        finally:
            stop_workers(svc.workers)


def room_code(db: Database, room_id: int) -> str:
    from inventory.models import Room

    with db.session() as s:
        room = s.get(Room, room_id)
        assert room is not None
        return room.code


def workbook(rows: list[tuple[Any, ...]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "systems"
    ws.append(["系统编码", "系统名称", "所属单位编码", "所在机房编码", "vCPU数"])
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def large(svc: Service, prefix: str = "GX-SYS") -> list[tuple[Any, ...]]:
    room = room_code(svc.db, svc.world["room"])
    units = [svc.world["unit_code"], svc.world["city_unit_code"], svc.world["county_unit_code"]]
    return [(f"{prefix}-{n:05d}", f"政务系统{n}", units[n % 3], room, 2) for n in range(ROWS)]


def counts(db: Database) -> tuple[int, int]:
    """(systems, change-log rows)."""
    with db.read_session() as s:
        return (
            s.scalar(select(func.count()).select_from(InformationSystem)) or 0,
            s.scalar(select(func.count()).select_from(ChangeLog)) or 0,
        )


def post(svc: Service, data: bytes, headers: dict[str, str], name: str = "systems.xlsx", **params: Any) -> Any:
    return svc.client.post(URL, params=params, headers=headers, files={"file": (name, data, XLSX)})


def test_a_large_workbook_is_imported_by_a_job_whose_result_is_the_report(service: Service) -> None:
    svc, h = service, service.headers()
    before = counts(svc.db)
    assert before[0] == 1  # by hand: SYS-OLD
    r = post(svc, workbook(large(svc)), {**h, **ASYNC}, message="全区系统批量导入")
    assert r.status_code == 202, r.text
    job_url = r.json()["job"]["url"]
    assert r.headers["location"] == job_url and r.json()["job"]["name"] == "inventory.import"
    job = wait_job(svc.client, job_url, h, timeout=180)
    assert (job["status"], job["attempts"], job["error"]) == ("succeeded", 1, None), job
    report = job["result"]
    assert report["applied"] is True and report["dry_run"] is False
    assert report["counts"] == {"create": 1500, "update": 0, "unchanged": 0, "error": 0}
    assert len(report["rows"]) == 1500
    # by hand: 1,500 new systems beside SYS-OLD, one change-log row (create) each
    assert counts(svc.db) == (1501, before[1] + 1500)
    with svc.db.read_session() as s:
        entry = s.scalars(select(ChangeLog).where(ChangeLog.object_code == "GX-SYS-00007")).one()
        assert (entry.actor, entry.actor_role, entry.message) == ("admin-imp", "admin", "全区系统批量导入")
    if svc.url is not None:
        from core.tasks.models import TaskJob

        with svc.db.read_session() as s:
            row = s.get(TaskJob, job["id"])
            assert row is not None and row.worker is not None
            assert row.worker.split(":")[1] == str(svc.workers[0].pid)  # imported by the worker process


def test_a_bad_workbook_writes_nothing_and_its_failed_job_carries_the_report(service: Service) -> None:
    svc, h = service, service.headers()
    rows = large(svc, "BAD")[:300]
    rows[17] = (rows[17][0], rows[17][1], "NO-SUCH-UNIT", rows[17][3], 2)  # file row 19
    rows[250] = (rows[250][0], rows[250][1], rows[250][2], rows[250][3], "很多")  # file row 252
    before = counts(svc.db)
    r = post(svc, workbook(rows), {**h, **ASYNC})
    assert r.status_code == 202, r.text
    job = wait_job(svc.client, r.json()["job"]["url"], h, timeout=120)
    assert job["status"] == "failed" and job["attempts"] == 1, job
    assert job["error"].startswith("导入被拒绝，未写入 / import refused, nothing written"), job["error"]
    body = job["result"]
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["request_id"] == r.headers["X-Request-ID"]  # as the synchronous 422 carries its own
    report = body["report"]
    assert report["applied"] is False and report["counts"]["error"] == 2
    assert [x["row"] for x in report["rows"] if x["action"] == "error"] == [19, 252]
    assert counts(svc.db) == before  # nothing written, not even the 298 good rows


def test_the_job_answers_what_the_synchronous_route_answers(service: Service) -> None:
    svc, h = service, service.headers()
    room = room_code(svc.db, svc.world["room"])
    rows = [
        ("SYS-OLD", "改名了", svc.world["unit_code"], room, 4),
        ("SYS-NEW", "新系统", svc.world["county_unit_code"], room, 8),
    ]
    sync = post(svc, workbook(rows), h, dry_run="true")
    assert sync.status_code == 200, sync.text
    queued = post(svc, workbook(rows), {**h, **ASYNC}, dry_run="true")
    assert queued.status_code == 202
    job = wait_job(svc.client, queued.json()["job"]["url"], h)
    assert job["status"] == "succeeded" and job["result"] == sync.json()
    assert sync.json()["counts"] == {"create": 1, "update": 1, "unchanged": 0, "error": 0}


def test_a_file_over_the_synchronous_limit_becomes_a_job_without_asking(service: Service) -> None:
    svc, h = service, service.headers()
    svc.client.app.dependency_overrides[get_sync_import_bytes] = lambda: 1000  # type: ignore[attr-defined]
    room = room_code(svc.db, svc.world["room"])
    small = "系统编码,系统名称,所属单位编码,所在机房编码,vCPU数\nSYS-C,小,{u},{r},1\n".format(
        u=svc.world["unit_code"], r=room
    )
    bigger = small + "".join(f"SYS-C{n},大{n},{svc.world['unit_code']},{room},1\n" for n in range(60))
    assert len(small.encode()) < 1000 < len(bigger.encode())
    r = svc.client.post(URL, headers=h, files={"file": ("s.csv", small.encode(), "text/csv")}, params={"dry_run": 1})
    assert r.status_code == 200 and r.json()["counts"]["create"] == 1
    r = svc.client.post(URL, headers=h, files={"file": ("b.csv", bigger.encode(), "text/csv")})
    assert r.status_code == 202, r.text
    job = wait_job(svc.client, r.json()["job"]["url"], h)
    assert job["status"] == "succeeded" and job["result"]["counts"]["create"] == 61  # by hand: 1 + 60 rows


def test_a_scoped_caller_s_job_imports_as_that_caller(service: Service) -> None:
    svc = service
    h = svc.headers(Role.DEPARTMENT_USER, svc.world["county_unit"])
    room = room_code(svc.db, svc.world["room"])
    rows = [
        ("MINE", "本单位", svc.world["county_unit_code"], room, 1),
        ("THEIRS", "别的单位", svc.world["unit_code"], room, 1),
    ]
    before = counts(svc.db)
    r = post(svc, workbook(rows), {**h, **ASYNC})
    assert r.status_code == 202
    job = wait_job(svc.client, r.json()["job"]["url"], h)
    assert job["status"] == "failed", job
    assert job["error"].startswith("导入被拒绝，未写入 / import refused, nothing written: 403 "), job["error"]
    assert counts(svc.db) == before


def test_a_refused_file_s_job_carries_the_synchronous_error_body(service: Service) -> None:
    # the same bad file both ways: the job's result is the body the synchronous call answers (the one error shape
    # with its rows), for a file refused as a whole (422) and for rows the caller may not write (403)
    svc = service
    room = room_code(svc.db, svc.world["room"])
    scoped = svc.headers(Role.DEPARTMENT_USER, svc.world["county_unit"])
    theirs = workbook(
        [
            ("MINE", "本单位", svc.world["county_unit_code"], room, 1),
            ("THEIRS", "别的", svc.world["unit_code"], room, 1),
        ]
    )
    cases = [
        (svc.headers(), b"PK\x03\x04 not really a workbook", 422),
        (scoped, theirs, 403),
    ]
    before = counts(svc.db)
    for h, data, status in cases:
        sync = post(svc, data, h)
        assert sync.status_code == status, sync.text
        queued = post(svc, data, {**h, **ASYNC})
        assert queued.status_code == 202, queued.text
        job = wait_job(svc.client, queued.json()["job"]["url"], h)
        assert job["status"] == "failed", job
        expected = sync.json()
        expected["error"]["request_id"] = queued.headers["X-Request-ID"]  # the upload's request, as in its 202
        assert job["result"] == expected
        assert job["error"].startswith(f"导入被拒绝，未写入 / import refused, nothing written: {status} "), job["error"]
    assert counts(svc.db) == before


@pytest.mark.parametrize("service", ["celery"], indirect=True)  # a worker process to kill: the broker's
def test_a_worker_killed_mid_import_has_it_redelivered_and_the_rows_written_once(
    service: Service, tmp_path: Path
) -> None:
    svc, h = service, service.headers()
    stop_workers(svc.workers)
    mark = tmp_path / "inside-import"
    victim = svc.start_worker({"YUNWANG_TEST_SLOW_IMPORT": str(mark)})
    before = counts(svc.db)
    r = post(svc, workbook(large(svc)[:600]), {**h, **ASYNC})
    assert r.status_code == 202
    deadline = time.monotonic() + 120
    while not mark.exists():
        assert time.monotonic() < deadline and victim.poll() is None, "the worker never reached the import"
        time.sleep(0.1)
    assert counts(svc.db) == before  # the rows are inside the open transaction only
    os.killpg(victim.pid, signal.SIGKILL)  # mid-import: uncommitted, unacknowledged
    victim.wait(timeout=10)
    svc.start_worker({"YUNWANG_TEST_SLOW_IMPORT": str(mark)})  # the mark exists: this one runs at full speed
    job = wait_job(svc.client, r.json()["job"]["url"], h, timeout=180)
    assert (job["status"], job["attempts"]) == ("succeeded", 2), job
    assert job["result"]["counts"] == {"create": 600, "update": 0, "unchanged": 0, "error": 0}
    # by hand: 600 systems and 600 change-log rows, once, although the import started twice
    assert counts(svc.db) == (before[0] + 600, before[1] + 600)
