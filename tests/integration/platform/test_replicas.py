"""Two real `yunwang serve` replicas on one database (SQLite file and PostgreSQL), scheduler enabled in both.

1. A periodic job runs exactly once per slot, never overlapping, whichever replica fires it; kill -9 of the replica
   holding the job's lease mid-run: the other marks that run abandoned and runs the next slot, once.
2. kill -9 of the replica provisioning a request (mid-way, between two server boots): the other replica's
   `provisioning_resume` job finishes it; each resource created once in the cloud both replicas see.
The replicas are tests/integration/platform/replica_serve.py (the `yunwang serve` command plus a test job / a
cloud kept in a shared file); every figure below is counted by hand.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.jobs import ABANDONED, LEASE_SECONDS
from core.models import ChangeLog, JobLease, JobRun
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep, StepStatus
from orchestrator.provisioning.plan import ResourceKind
from tests.builders import Inv
from tests.live_server import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
REPLICA = Path(__file__).with_name("replica_serve.py")
T = TypeVar("T")
QUIET = {  # nothing else of the scheduler fires during the test
    "YUNWANG_COLLECTOR_ICMP_INTERVAL_SECONDS": "86400",
    "YUNWANG_COLLECTOR_TCP_INTERVAL_SECONDS": "86400",
    "YUNWANG_COLLECTOR_SSH_INTERVAL_SECONDS": "86400",
    "YUNWANG_COLLECTOR_SNMP_INTERVAL_SECONDS": "86400",
    "YUNWANG_NOTIFY_DISPATCH_SECONDS": "86400",
    "YUNWANG_METRICS_RECOMPUTE_SECONDS": "3600",
}


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _start(db: Database, work: Path, name: str, env: dict[str, str]) -> Replica:
    port = free_port()
    (work / name).mkdir(parents=True, exist_ok=True)
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "YUNWANG_DATABASE_URL": db.url,
        "YUNWANG_DATA_DIR": str(work / name / "data"),
        "YUNWANG_SCHEDULER_ENABLED": "true",
        "YUNWANG_LOG_LEVEL": "INFO",
        **QUIET,
        **env,
    }
    log_path = work / name / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(REPLICA), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Replica(proc, f"http://127.0.0.1:{port}", log_path)


def _ready(r: Replica, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert r.proc.poll() is None, f"replica exited with {r.proc.returncode}: {r.log()[-3000:]}"
        try:
            if httpx.get(r.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"replica not up within {timeout} s: {r.log()[-3000:]}"
        time.sleep(0.2)


@pytest.fixture
def replicas(any_db: Database, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], tuple[Replica, Replica]]]:
    started: list[Replica] = []

    def start(env: dict[str, str]) -> tuple[Replica, Replica]:
        a, b = _start(any_db, tmp_path, "a", env), _start(any_db, tmp_path, "b", env)
        started.extend((a, b))
        _ready(a)
        _ready(b)
        return a, b

    yield start
    for r in started:
        if r.proc.poll() is None:
            r.proc.terminate()
            try:
                r.proc.wait(15)
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait(5)


def _until(what: str, probe: Callable[[], T | None], timeout: float, logs: Callable[[], str] = str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None and got is not False:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{logs()[-4000:]}"
        time.sleep(0.1)


def _at(d: datetime | None) -> datetime:
    assert d is not None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _runs(db: Database, job_id: str) -> list[JobRun]:
    with db.session() as s:
        return list(s.scalars(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.started_at)))


# --- 1. one run per slot, and the handover -------------------------------------------------------------------------

EVERY = 3  # seconds between slots of the test job (a late start up to 1.5 s still counts to its own slot)
RUN_S = 1.0  # each run of it sleeps this long


def test_a_job_runs_once_per_slot_on_two_replicas_and_a_killed_holder_hands_over(
    any_db: Database, replicas: Callable[[dict[str, str]], tuple[Replica, Replica]]
) -> None:
    a, b = replicas({"REPLICA_TICK_SECONDS": str(EVERY), "REPLICA_TICK_RUN_SECONDS": str(RUN_S)})
    by_pid = {a.pid: a, b.pid: b}

    def logs() -> str:
        return a.log()[-2000:] + "\n----\n" + b.log()[-2000:]

    first = _until("the first run", lambda: next(iter(_runs(any_db, "replica_tick")), None), 30, logs)
    t0 = _at(first.started_at)
    time.sleep(8 * EVERY + 2)  # N = 8 intervals after the first run
    window = [r for r in _runs(any_db, "replica_tick") if _at(r.started_at) < t0 + timedelta(seconds=8 * EVERY + 1.4)]
    # slots t0, t0+3, …, t0+24: 9 runs, one per slot, none twice, none skipped, each on its slot
    assert len(window) == 9, [(r.started_at, r.targets) for r in window]
    slots = [round((_at(r.started_at) - t0).total_seconds() / EVERY) for r in window]
    assert slots == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    for k, r in zip(slots, window, strict=True):
        late = (_at(r.started_at) - t0).total_seconds() - k * EVERY
        assert -1.0 < late < 1.4, (k, late)
        assert r.ok is True and r.targets in by_pid  # ran in one of the two replicas
    for x, y in itertools.pairwise(window):
        assert _at(x.finished_at) <= _at(y.started_at)  # never overlapping
    assert "already ran for this slot" in a.log() + b.log() or "is running in" in a.log() + b.log()  # both fired

    # kill -9 the replica that holds the job's lease while a run is under way
    def running() -> tuple[JobRun, str] | None:
        with any_db.session() as s:
            lease = s.get(JobLease, "replica_tick")
            if lease is None or lease.run_id is None or lease.holder is None:
                return None
            run = s.get(JobRun, lease.run_id)
            return (run, lease.holder) if run is not None and run.finished_at is None else None

    run, holder = _until("a run under way", running, 10, logs)
    victim = by_pid[int(holder.split(":")[1])]
    survivor = b if victim is a else a
    victim.proc.send_signal(signal.SIGKILL)
    killed_at = datetime.now(UTC)
    victim.proc.wait(10)

    def taken_over() -> JobRun | None:
        later = [r for r in _runs(any_db, "replica_tick") if r.id != run.id and _at(r.started_at) > killed_at]
        return later[0] if later and later[0].finished_at is not None else None

    nxt = _until("the survivor's run", taken_over, LEASE_SECONDS, logs)
    with any_db.session() as s:
        dead = s.get(JobRun, run.id)
        assert dead is not None and dead.ok is False and dead.error == ABANDONED and dead.finished_at is not None
    assert nxt.ok is True and nxt.targets == survivor.pid
    # taken over at the next slot, well within the lease (60 s): the dead process's pid is gone from this host
    handover = (_at(nxt.started_at) - killed_at).total_seconds()
    print(f"job handover after kill -9: {handover:.2f} s (slot every {EVERY} s)")
    assert handover < EVERY + 1.4
    assert f"holder {holder} died; run {run.id} abandoned, taken over" in survivor.log()
    time.sleep(3 * EVERY + 1.5)  # three more slots on the survivor alone
    after = [r for r in _runs(any_db, "replica_tick") if _at(r.started_at) > killed_at]
    slots_after = [round((_at(r.started_at) - t0).total_seconds() / EVERY) for r in after]
    k = round((_at(run.started_at) - t0).total_seconds() / EVERY)
    assert slots_after[:4] == [k + 1, k + 2, k + 3, k + 4]  # each slot once after the handover
    assert all(r.ok and r.targets == survivor.pid for r in after if r.finished_at is not None)


# --- 2. a provisioning whose replica was killed finishes on the other ------------------------------------------------


def _cloud_state(cloud_dir: Path, cloud: str) -> dict[str, Any]:
    state: dict[str, Any] = pickle.loads((cloud_dir / f"{cloud}.pickle").read_bytes())
    return state


def test_kill_9_mid_provisioning_the_other_replica_finishes_it_each_resource_once(
    any_db: Database, replicas: Callable[[dict[str, str]], tuple[Replica, Replica]], tmp_path: Path
) -> None:
    cloud_dir = tmp_path / "cloud"
    cloud_dir.mkdir()
    with any_db.session() as s:
        ids = Inv(s).basic()  # the gov cloud "gov-nanning" of the inventory is the demo cloud of that name
        dept = create_token(s, "dept", Role.DEPARTMENT_USER, ids["county_unit"])
        op = create_token(s, "operator", Role.CLOUD_OPERATOR)
    a, b = replicas(
        {
            "YUNWANG_DEMO_CLOUD": "true",
            "REPLICA_CLOUD_DIR": str(cloud_dir),
            "REPLICA_BOOT_SECONDS": "2",
            "YUNWANG_PROVISIONING_RESUME_SECONDS": "2",
            "YUNWANG_PROVISIONING_STALL_SECONDS": "600",  # only a dead holder can make it stuck within this test
        }
    )

    def logs() -> str:
        return a.log()[-2500:] + "\n----\n" + b.log()[-2500:]

    def call(r: Replica, token: str, path: str, body: Any = None) -> Any:
        resp = httpx.post(f"{r.url}/api/v1/{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert resp.status_code in (200, 201, 202), resp.text  # provision: 202, a job on A's task threads
        return resp.json()

    assert call(a, op, "clouds/sweep") == {"clouds": 3, "failures": 0}  # capacity samples for placement
    bundle = {
        "servers": [
            {
                "name": "web",
                "flavor": "m1.small",
                "image": "cirros",
                "count": 2,
                "vcpus": 1,
                "ram_mb": 2048,
                "disk_gb": 20,
            }
        ],
        "networks": [{"name": "net", "cidr": "10.20.0.0/24"}],
    }
    req = call(a, dept, "requests", {"title": "政务服务系统扩容", "unit_id": ids["county_unit"], "bundle": bundle})
    assert call(a, dept, f"requests/{req['id']}/submit")["status"] == "approved"  # auto-approved: small, in quota
    scheduled = call(a, op, f"requests/{req['id']}/schedule")
    assert scheduled["primary_cloud"] == "gov-nanning"
    code = scheduled["code"]

    threading.Thread(  # replica A provisions (a job on its own task threads); it dies mid-way
        target=lambda: _swallow(lambda: call(a, op, f"requests/{req['id']}/provision")), daemon=True
    ).start()

    def first_server_ready() -> bool:
        with any_db.session() as s:
            steps = dict(
                s.execute(
                    select(ProvisionStep.key, ProvisionStep.status)
                    .join(ProvisionRun, ProvisionRun.id == ProvisionStep.run_id)
                    .where(ProvisionRun.request_id == code)
                ).all()
            )
        return steps.get("server:web-1") == StepStatus.READY

    _until("server web-1 ready on replica A", first_server_ready, 60, logs)
    with any_db.session() as s:
        lease = s.scalars(select(JobLease).where(JobLease.job_id == f"provision:{code}@gov-nanning")).one()
        assert lease.holder is not None and int(lease.holder.split(":")[1]) == a.pid  # A drives the run
        assert s.scalars(select(ChangeLog).where(ChangeLog.actor == "system:provisioning-resume")).all() == []
    a.proc.send_signal(signal.SIGKILL)  # while web-2 boots
    a.proc.wait(10)
    before = _cloud_state(cloud_dir, "gov-nanning")
    assert before["created_count"] == {
        ResourceKind.NETWORK: 1,
        ResourceKind.SUBNET: 1,
        ResourceKind.ROUTER: 1,
        ResourceKind.SERVER: 2,
    }

    def active() -> dict[str, Any] | None:
        resp = httpx.get(f"{b.url}/api/v1/requests/{req['id']}", headers={"Authorization": f"Bearer {op}"}, timeout=10)
        body: dict[str, Any] = resp.json()
        return body if body["status"] == "active" else None

    killed = time.monotonic()
    done = _until("the request active through replica B", active, 90, logs)
    print(f"provisioning finished by the other replica {time.monotonic() - killed:.2f} s after kill -9")
    after = _cloud_state(cloud_dir, "gov-nanning")
    # each resource created once, counted by hand: 1 network, 1 subnet, 1 router, 2 servers (none re-created)
    assert after["created_count"] == before["created_count"]
    ours = [o for o in after["objects"].values() if o.marker and f"req={code};" in o.marker]
    assert sorted(o.kind.value for o in ours) == ["network", "router", "server", "server", "subnet"]
    assert all(o.status in ("ACTIVE", None) or o.kind != ResourceKind.SERVER for o in ours)
    assert len(done["resources"]) == 5
    # the job's run row is written just after the request it resumed (seen active above) was committed
    resumes = _until(
        "the resume run recorded", lambda: [r for r in _runs(any_db, "provisioning_resume") if r.targets], 10
    )
    assert [(r.targets, r.failures, r.ok) for r in resumes] == [(1, 0, True)]  # one run of the job resumed it, once
    with any_db.session() as s:
        audited = {
            (c.kind, c.message)
            for c in s.scalars(select(ChangeLog).where(ChangeLog.actor == "system:provisioning-resume"))
        }
    assert ("resource_requests", "provisioned") in audited
    assert (
        "resource_requests",
        "自动继续 / auto-resume (provisioning): its process died holding the run / 进程已中断",
    ) in audited
    assert f"request {code} is stuck" in b.log()


def _swallow(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(httpx.HTTPError, AssertionError):  # the replica was killed mid-request
        fn()
