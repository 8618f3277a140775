"""One replica for test_replicas.py: the real `yunwang serve` command (settings, schema upgrade, `create_app`,
uvicorn), plus what the test needs and only the test:

- REPLICA_TICK_SECONDS, REPLICA_TICK_RUN_SECONDS: a job `replica_tick` on the app's one scheduler (every TICK s,
  each run sleeping RUN s, reporting this process id as its `targets`: which replica ran it);
- REPLICA_CLOUD_DIR (with YUNWANG_DEMO_CLOUD=true): the in-memory demo clouds kept in a file there that every
  replica reads and writes under a file lock, so the replicas see one cloud, as they would a real one (an in-memory
  cloud is otherwise gone with its process); a server takes REPLICA_BOOT_SECONDS to become ACTIVE.

usage: python tests/integration/platform/replica_serve.py --port N   (the arguments of `yunwang serve`)
"""

from __future__ import annotations

import fcntl
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from core.jobs import JobOutcome  # noqa: E402
from core.wiring import JOBS, services  # noqa: E402
from orchestrator.app import cli  # noqa: E402
from orchestrator.app.settings import Settings  # noqa: E402
from orchestrator.provisioning.clouds import DEMO_CLOUDS, DEMO_FLAVORS, DEMO_HOST, Clouds  # noqa: E402
from orchestrator.provisioning.driver import CloudObject, InMemoryDriver  # noqa: E402
from orchestrator.provisioning.plan import ResourceKind  # noqa: E402

STATE_FIELDS = ("projects", "quotas", "objects", "created_count", "next_id")


class SharedFileDriver(InMemoryDriver):
    """An `InMemoryDriver` whose state lives in `<dir>/<cloud>.pickle`, read and written under a file lock."""

    def __init__(self, directory: Path, boot_seconds: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.path = directory / f"{self.cloud}.pickle"
        self.lock_path = directory / f"{self.cloud}.lock"
        self.boot_seconds = boot_seconds
        self.next_id = 1

    def _new_id(self, prefix: str) -> str:
        n, self.next_id = self.next_id, self.next_id + 1
        return f"{prefix}-{n:06d}"

    @contextmanager
    def _shared(self) -> Iterator[None]:
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                state = pickle.loads(self.path.read_bytes())
                for name in STATE_FIELDS:
                    setattr(self, name, state[name])
            yield
            data = pickle.dumps({name: getattr(self, name) for name in STATE_FIELDS})
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(self.path)

    def ensure_project(self, name: str, unit_code: str) -> tuple[str, bool]:
        with self._shared():
            return super().ensure_project(name, unit_code)

    def set_quota(self, project_id: str, quota: Mapping[str, int]) -> None:
        with self._shared():
            super().set_quota(project_id, quota)

    def find(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject | None:
        with self._shared():
            return super().find(kind, project_id, mark, spec)

    def create(self, kind: ResourceKind, project_id: str, mark: str, spec: Mapping[str, Any]) -> CloudObject:
        with self._shared():
            return super().create(kind, project_id, mark, spec)

    def wait_ready(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> CloudObject:
        if kind == ResourceKind.SERVER:
            time.sleep(self.boot_seconds)  # booting (outside the lock: the other replica may work meanwhile)
        with self._shared():
            return super().wait_ready(kind, project_id, obj)

    def delete(self, kind: ResourceKind, project_id: str, obj: CloudObject) -> None:
        with self._shared():
            super().delete(kind, project_id, obj)

    def list_resources(self, project_ids: Any) -> list[CloudObject]:
        with self._shared():
            return super().list_resources(project_ids)

    def quota_usage(self, project_id: str) -> dict[str, tuple[int, int]]:
        with self._shared():
            return super().quota_usage(project_id)

    def capacity(self) -> Any:
        with self._shared():
            return super().capacity()


def shared_demo_clouds(directory: Path, boot_seconds: float) -> Clouds:
    drivers = {
        name: SharedFileDriver(
            directory,
            boot_seconds,
            cloud=name,
            availability_zone=az,
            instances_quota=1000,
            hosts={f"{name}-host-{i}": DEMO_HOST for i in (1, 2)},
            flavors=DEMO_FLAVORS,
        )
        for name, az in DEMO_CLOUDS.items()
    }
    c = Clouds.of(drivers)
    c.label = "shared test cloud (tests/integration/platform/replica_serve.py)"
    return c


def _with_tick(create_app: Callable[[Settings], FastAPI], every: int, run_s: float) -> Callable[[Settings], FastAPI]:
    def create(settings: Settings) -> FastAPI:
        app = create_app(settings)

        def tick() -> JobOutcome:
            time.sleep(run_s)
            return JobOutcome(targets=os.getpid())

        services(app).get(JOBS).add_interval("replica_tick", tick, every)
        return app

    return create


def main() -> None:
    cloud_dir = os.environ.get("REPLICA_CLOUD_DIR")
    if cloud_dir:
        boot = float(os.environ.get("REPLICA_BOOT_SECONDS", "0"))
        Clouds.in_memory_demo = classmethod(lambda cls: shared_demo_clouds(Path(cloud_dir), boot))  # type: ignore[method-assign, assignment]
    tick = os.environ.get("REPLICA_TICK_SECONDS")
    if tick:  # `yunwang serve` builds its app with the create_app it imported: wrap that one
        run_s = float(os.environ.get("REPLICA_TICK_RUN_SECONDS", "0"))
        cli.__dict__["create_app"] = _with_tick(cli.__dict__["create_app"], int(tick), run_s)
    cli.app(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    main()
