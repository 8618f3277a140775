"""A stuck provisioning finishes by itself (orchestrator/requests/auto_resume.py), on the in-memory clouds.

A run is left as a killed process leaves it — steps logged, the run RUNNING, its lease still naming the dead
process — then the `provisioning_resume` job runs: the request ends active, each resource created once (counted by
hand), audited as system. A run whose process is alive is never touched; without any lease, only after the stall.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import ChangeContext
from core.enums import Role
from core.identity import Principal
from core.jobs import HOST_ID, JobOutcome, Jobs, hold
from core.models import ChangeLog, JobLease
from core.times import now_utc
from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep, RunStatus, StepStatus
from orchestrator.provisioning.plan import ResourceKind
from orchestrator.provisioning.runs import run_lease_key
from orchestrator.requests import auto_resume
from orchestrator.requests import provisioning_hook as rp
from orchestrator.requests import service as svc
from orchestrator.requests.lifecycle import Action, RequestStatus
from tests.unit.orchestrator.conftest import World
from tests.unit.orchestrator.test_request_faults import owned, scheduled, status_of

OP = Principal("op", Role.CLOUD_OPERATOR)
CTX = ChangeContext(actor="op", role="cloud_operator")


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision_module, "RETRY", provision_module.RetryPolicy(3, 0.001, 0.002))
    monkeypatch.setattr(provision_module, "SETTLE_S", 0.0)


def _dead_holder() -> str:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return f"{HOST_ID}:{proc.pid}:deadbeef:1"


def _kill_at_second_server(w: World, cloud: str) -> None:
    """kill -9 while creating the second server: SystemExit is no CloudError, nothing in provisioning catches it."""
    seen = {"n": 0}

    def fault(op: str, kind: ResourceKind | None) -> Any:
        if op == "create" and kind == ResourceKind.SERVER:
            seen["n"] += 1
            if seen["n"] == 2:
                return SystemExit()
        return None

    w.drivers[cloud].fault = fault


def _as_a_crash_leaves_it(w: World, code: str, cloud: str) -> None:
    """The lease row as kill -9 leaves it (SystemExit let the `with` release it; a killed process cannot)."""
    with w.db.session() as s:
        lease = s.get(JobLease, run_lease_key(code, cloud))
        assert lease is not None and lease.holder is None  # released on the way out of the SystemExit
        lease.holder, lease.expires_at = _dead_holder(), now_utc() + timedelta(seconds=50)


def _crashed_mid_provisioning(w: World) -> tuple[int, str, str]:
    rid, body = scheduled(w, servers=3, vcpus=6, ram_mb=12288)
    code, cloud = str(body["code"]), str(body["primary_cloud"])
    _kill_at_second_server(w, cloud)
    with pytest.raises(SystemExit):
        rp.provision(w.db, OP, CTX, rid, w.drivers.__getitem__)
    w.drivers[cloud].fault = None
    _as_a_crash_leaves_it(w, code, cloud)
    return rid, code, cloud


def test_a_run_left_by_a_killed_process_is_resumed_by_the_job_each_resource_once(world: World) -> None:
    w = world
    rid, code, cloud = _crashed_mid_provisioning(w)
    d = w.drivers[cloud]
    assert status_of(w, rid)["status"] == "provisioning"
    # before the job: network, subnet, router and server 1 exist; server 2 was being created (STARTED), 3 not yet
    assert d.created_count == {
        ResourceKind.NETWORK: 1,
        ResourceKind.SUBNET: 1,
        ResourceKind.ROUTER: 1,
        ResourceKind.SERVER: 1,
    }
    with w.db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=code)).one()
        assert run.status == RunStatus.RUNNING
        steps = {st.key: st.status for st in s.scalars(select(ProvisionStep).filter_by(run_id=run.id))}
    assert steps["server:web-2"] == StepStatus.STARTED and "server:web-3" not in steps

    [stuck] = auto_resume.find_stuck(w.db, stall_seconds=3600)  # no stall needed: its process is gone
    assert (stuck.request_id, stuck.status) == (rid, RequestStatus.PROVISIONING)
    assert "process died" in stuck.why

    outcome = auto_resume.resume_stuck(w.db, w.drivers.__getitem__, False, stall_seconds=3600)
    assert outcome == JobOutcome(targets=1, failures=0)
    body = status_of(w, rid)
    assert body["status"] == "active"
    # each resource created once: 1 network, 1 subnet, 1 router, 3 servers (server 1 found again, not re-created)
    assert d.created_count == {
        ResourceKind.NETWORK: 1,
        ResourceKind.SUBNET: 1,
        ResourceKind.ROUTER: 1,
        ResourceKind.SERVER: 3,
    }
    assert owned(w, cloud) == 6 and owned(w, cloud, ResourceKind.SERVER) == 3
    assert len(body["resources"]) == 6
    with w.db.session() as s:
        actors = {
            (c.actor, c.kind, c.message)
            for c in s.scalars(select(ChangeLog).where(ChangeLog.actor == auto_resume.ACTOR))
        }
        lease = s.get(JobLease, run_lease_key(code, cloud))
        assert lease is not None and lease.holder is None  # released by the job
    assert (
        auto_resume.ACTOR,
        "resource_requests",
        "自动继续 / auto-resume (provisioning): its process died holding the run / 进程已中断",
    ) in actors
    assert (auto_resume.ACTOR, "resource_requests", "provisioned") in actors  # the activation, by the system
    assert (auto_resume.ACTOR, "provision_run", "provisioned") in actors
    # nothing left to do: the next run of the job finds nothing
    assert auto_resume.resume_stuck(w.db, w.drivers.__getitem__, False, stall_seconds=0) == JobOutcome(0, 0)


def test_a_run_whose_process_is_alive_is_never_touched(world: World) -> None:
    w = world
    rid, code, cloud = _crashed_mid_provisioning(w)
    with hold(w.db, run_lease_key(code, cloud)):  # taken over by a live process (this one) that is still working
        assert auto_resume.find_stuck(w.db, stall_seconds=0) == []
    assert [s.request_id for s in auto_resume.find_stuck(w.db, stall_seconds=3600)] == []  # released: free again
    assert [s.request_id for s in auto_resume.find_stuck(w.db, stall_seconds=0)] == [rid]


def test_died_between_primary_and_replica_is_resumed_only_after_the_stall(world: World) -> None:
    """No lease is left when the process dies between two runs: 'no progress for stall_seconds' decides."""
    w = world
    rid, _ = scheduled(w, dr_level="remote_dr")
    with w.db.session() as s:  # a process marked it provisioning, built the primary, then died
        svc.apply(s, OP, CTX, svc.get(s, OP, rid), Action.PROVISION)
        row = svc.get(s, OP, rid)
        primary = rp.plans_for(row, rp._unit_code(s, row.unit_id))[0]
    assert provision_module.provision(w.db, primary, w.drivers["gov-nanning"]).ok
    assert auto_resume.find_stuck(w.db, stall_seconds=300) == []  # it moved a moment ago
    assert auto_resume.resume_stuck(w.db, w.drivers.__getitem__, False, stall_seconds=300) == JobOutcome(0, 0)
    assert owned(w, "gov-guilin") == 0
    [stuck] = auto_resume.find_stuck(w.db, stall_seconds=0)
    assert stuck.why.startswith("no progress for ")
    assert auto_resume.resume_stuck(w.db, w.drivers.__getitem__, False, stall_seconds=0) == JobOutcome(1, 0)
    assert status_of(w, rid)["status"] == "active"
    assert w.drivers["gov-nanning"].created_count[ResourceKind.SERVER] == 3  # the primary was not built twice
    assert w.drivers["gov-guilin"].created_count[ResourceKind.SERVER] == 3


def test_a_retirement_left_by_a_killed_process_is_finished(world: World) -> None:
    w = world
    rid, body = scheduled(w, servers=2, vcpus=4, ram_mb=8192)
    code, cloud = str(body["code"]), str(body["primary_cloud"])
    assert w.post("operator", f"{rid}/provision").json()["status"] == "active"
    d = w.drivers[cloud]

    def kill_at_subnet_delete(op: str, kind: ResourceKind | None) -> Any:
        return SystemExit() if op == "delete" and kind == ResourceKind.SUBNET else None

    d.fault = kill_at_subnet_delete
    with pytest.raises(SystemExit):
        rp.retire(w.db, OP, CTX, rid, w.drivers.__getitem__)
    d.fault = None
    _as_a_crash_leaves_it(w, code, cloud)
    assert status_of(w, rid)["status"] == "retiring"
    assert owned(w, cloud) == 2  # deleted newest first: servers and router gone; the subnet and network left
    assert auto_resume.resume_stuck(w.db, w.drivers.__getitem__, False, stall_seconds=3600) == JobOutcome(1, 0)
    assert status_of(w, rid)["status"] == "retired"
    assert owned(w, cloud) == 0


def test_the_job_is_installed_only_with_clouds(db: Any) -> None:
    from orchestrator.app.settings import Settings
    from orchestrator.provisioning.clouds import Clouds

    jobs = Jobs(db)
    settings = Settings(database_url=db.url, provisioning_resume_seconds=20, provisioning_stall_seconds=40)
    auto_resume.install(jobs, db, Clouds(None), settings)
    assert jobs.describe() == []
    auto_resume.install(jobs, db, Clouds.in_memory_demo(), settings)
    [job] = jobs.describe()
    assert (job["id"], job["interval_seconds"], job["jitter_seconds"]) == ("provisioning_resume", 20, 2)
