"""The task engine with its two backends: in-process (a thread pool) and Celery on yunwang's own RabbitMQ node
(tests/env/setup-15-rabbitmq.sh, YUNWANG_TEST_BROKER_URL). Celery workers are real `yunwang worker` processes
on the test's database, each consuming a queue of its own test (so nothing left on the broker leaks between tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db import Database
from core.tasks.backends import Backend, InProcess, Tasks
from core.tasks.models import FINISHED, TaskJob, TaskStatus
from tests import processes
from tests.integration.tasks import sample_tasks  # noqa: F401  (registers the test tasks here)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def broker_url() -> str:
    url = os.environ.get("YUNWANG_TEST_BROKER_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the Celery task tests, but YUNWANG_TEST_BROKER_URL is not set")
        pytest.skip("no broker: run tests/env/setup-15-rabbitmq.sh (exports YUNWANG_TEST_BROKER_URL)")
    return url


class NoResources:
    def get(self, key: Any) -> Any:
        raise LookupError(key)


@dataclass
class Engine:
    kind: str
    db: Database
    tasks: Tasks
    queue: str
    start_worker: Callable[[], subprocess.Popen[bytes]] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def send_again(self, job_id: str) -> None:
        """A duplicate delivery of a job's message (what a broker does after a lost acknowledgement)."""
        with self.db.read_session() as s:
            row = s.get(TaskJob, job_id)
            assert row is not None
            name, queue = row.name, row.queue
        self.tasks.backend.send(job_id, name, queue)

    def row(self, job_id: str) -> TaskJob:
        with self.db.read_session() as s:
            row = s.get(TaskJob, job_id)
            assert row is not None
            s.expunge(row)  # a snapshot: the read session's rollback would expire it
            return row

    def wait(self, job_id: str, until: tuple[TaskStatus, ...] = FINISHED, timeout: float = 60) -> TaskJob:
        deadline = time.monotonic() + timeout
        while True:
            row = self.row(job_id)
            if row.status in until:
                return row
            assert time.monotonic() < deadline, f"job {job_id} still {row.status} (attempts {row.attempts})"
            time.sleep(0.05)

    def drain(self) -> None:
        """Everything sent so far has been handled (in-process: the pool is idle)."""
        if isinstance(self.tasks.backend, InProcess):
            self.tasks.backend.stop()


def worker_process(
    db: Database,
    url: str,
    queue: str | None,
    tmp: Path,
    extra: list[str] | None = None,
    env_: dict[str, str] | None = None,
    prefix: list[str] | None = None,
) -> subprocess.Popen[bytes]:
    """A real `yunwang worker` (solo pool) on the test's database: its own queue, or `extra` options (--vantage);
    `prefix` runs it through another command (`ip netns exec NS`, which execs: the pid stays the worker's)."""
    env = {
        **os.environ,
        "YUNWANG_DATABASE_URL": db.url,
        "YUNWANG_BROKER_URL": url,
        "YUNWANG_DATA_DIR": str(tmp),
        "YUNWANG_SCHEDULER_ENABLED": "false",
        "YUNWANG_LOG_LEVEL": "WARNING",
        **(env_ or {}),
    }
    args = [*(prefix or []), sys.executable, "-m", "orchestrator.app.cli", "worker", "--pool", "solo"]
    args += (["--queues", queue] if queue else []) + (extra or [])
    args += ["--include", "tests.integration.tasks.sample_tasks"]
    return processes.start(args, tmp / f"worker-{uuid.uuid4().hex[:6]}.log", cwd=ROOT, env=env)


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    processes.stop(workers, timeout=20)


# Each backend on one database, to keep the suite inside its time: the in-process default on SQLite (the embedded
# default), Celery on PostgreSQL (the production path). Both databases stay covered, and both backends.
PAIRS = {("in-process", "sqlite"), ("celery", "postgresql")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    dropped = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        backend = params.get("engine") or params.get("service")
        mine = here in Path(str(item.path)).parents and backend and "any_db" in params
        if mine and (backend, params["any_db"]) not in PAIRS:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


@pytest.fixture(params=["in-process", "celery"])
def engine(request: pytest.FixtureRequest, any_db: Database, tmp_path: Path) -> Iterator[Engine]:
    queue = f"test.{uuid.uuid4().hex[:8]}"
    if request.param == "in-process":
        backend: Backend = InProcess(any_db, NoResources(), threads=2)
        e = Engine("in-process", any_db, Tasks(any_db, backend), queue)
        yield e
        backend.stop()
        return
    from core.tasks.celery_app import CeleryBackend

    url = broker_url()
    celery = CeleryBackend(url)
    e = Engine("celery", any_db, Tasks(any_db, celery), queue)

    def start() -> subprocess.Popen[bytes]:
        p = worker_process(any_db, url, queue, tmp_path)
        e.workers.append(p)
        return p

    e.start_worker = start
    start()
    yield e
    stop_workers(e.workers)
    with celery.app.connection_for_write() as conn:  # the test's queue goes with it
        conn.default_channel.queue_delete(queue)
    celery.stop()


def effects(db: Database, job_id: str) -> int:
    from core.models import ChangeLog

    with db.read_session() as s:
        return len(s.scalars(select(ChangeLog.id).where(ChangeLog.request_id == job_id)).all())
