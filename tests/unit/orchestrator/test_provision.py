"""Provisioning mechanics against the in-memory driver: step log, idempotence, retries, rollback, resume."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import ChangeLog
from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.driver import CloudError, InMemoryDriver, TransientCloudError
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep, RunStatus, StepStatus
from orchestrator.provisioning.plan import (
    NetworkSpec,
    ProvisionPlan,
    ResourceKind,
    SecurityGroupSpec,
    ServerSpec,
    VolumeSpec,
)
from orchestrator.provisioning.runs import (
    RETRY,
    RetryPolicy,
    plan_from_dict,
    plan_to_dict,
    provision,
    resume,
    retire,
    steps_of,
)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision_module, "RETRY", RetryPolicy(attempts=3, initial_s=0.001, max_s=0.002))
    monkeypatch.setattr(provision_module, "SETTLE_S", 0.0)


def make_plan(request_id: str = "REQ-1", cloud: str = "mem", servers: int = 2) -> ProvisionPlan:
    return ProvisionPlan(
        request_id=request_id,
        cloud=cloud,
        project="unit-a",
        unit_code="A",
        servers=(ServerSpec("web", "m1.tiny", "cirros-fake", count=servers),),
        volumes=(VolumeSpec("data", 1, attach_to="web-1"),),
        networks=(NetworkSpec("net", "10.1.0.0/24"),),
        security_groups=(SecurityGroupSpec("web", (("tcp", 443, 443, "0.0.0.0/0"),)),),
        floating_ips=1,
    )


def owned(driver: InMemoryDriver) -> list[str]:
    return sorted(o.name for o in driver.objects.values() if o.marker)


def test_provision_creates_every_resource_once_and_logs_steps(db: Database) -> None:
    d = InMemoryDriver()
    out = provision(db, make_plan(), d)
    assert out.ok and out.error is None
    kinds = sorted(r.kind.value for r in out.resources)
    assert kinds == sorted(
        [
            "network",
            "subnet",
            "router",
            "security_group",
            "server",
            "server",
            "volume",
            "volume_attachment",
            "floating_ip",
        ]
    )
    assert d.created_count[ResourceKind.SERVER] == 2
    steps = steps_of(db, "REQ-1")
    assert {s["status"] for s in steps if s["owned"]} == {"ready"}
    assert [s["key"] for s in steps][:2] == ["project", "network:net"]
    # again: nothing new is created
    again = provision(db, make_plan(), d)
    assert again.ok and sum(d.created_count.values()) == 9
    with db.session() as s:
        assert s.scalars(select(ChangeLog).filter_by(kind="provision_run")).all()


def test_transient_errors_are_retried_without_duplicates(db: Database) -> None:
    d = InMemoryDriver()
    failures = {"n": 0}

    def flaky(op: str, kind: ResourceKind | None) -> CloudError | None:
        if op == "create" and kind == ResourceKind.SERVER and failures["n"] < 2:
            failures["n"] += 1
            return TransientCloudError("503 from nova", status=503)
        return None

    d.fault = flaky
    out = provision(db, make_plan(), d)
    assert out.ok
    assert d.created_count[ResourceKind.SERVER] == 2
    with db.session() as s:
        assert s.scalars(select(ProvisionRun)).one().attempts == 2


def test_timeout_after_create_adopts_instead_of_duplicating(db: Database) -> None:
    """The cloud created the server but the answer was lost: the retry finds it by its marker."""
    d = InMemoryDriver()
    real_create = d.create
    lost = {"n": 0}

    def create_then_lose(kind, project_id, mark, spec):  # type: ignore[no-untyped-def]
        obj = real_create(kind, project_id, mark, spec)
        if kind == ResourceKind.SERVER and lost["n"] == 0:
            lost["n"] += 1
            raise TransientCloudError("read timeout")
        return obj

    d.create = create_then_lose  # type: ignore[method-assign]
    assert provision(db, make_plan(), d).ok
    assert d.created_count[ResourceKind.SERVER] == 2
    assert len([o for o in d.objects.values() if o.kind == ResourceKind.SERVER]) == 2


def test_permanent_failure_rolls_back_exactly_what_was_created(db: Database) -> None:
    d = InMemoryDriver()
    foreign = d.add_foreign(ResourceKind.SERVER, d.ensure_project("unit-a", "A")[0], "hand-made")
    d.fault = lambda op, kind: (
        CloudError("Quota exceeded for volumes", quota=True, status=413)
        if op == "create" and kind == ResourceKind.VOLUME
        else None
    )
    out = provision(db, make_plan(), d)
    assert not out.ok and out.rolled_back
    assert "Quota exceeded" in (out.error or "")
    assert owned(d) == []
    assert foreign.cloud_id in d.objects  # not ours: untouched
    with db.session() as s:
        assert s.scalars(select(ProvisionRun)).one().status == RunStatus.ROLLED_BACK


def test_failed_rollback_is_pending_then_resumed(db: Database) -> None:
    d = InMemoryDriver()
    state = {"down": False}

    def fault(op: str, kind: ResourceKind | None) -> CloudError | None:
        if op == "create" and kind == ResourceKind.VOLUME:
            state["down"] = True
            return CloudError("fatal", status=400)
        if state["down"] and op == "delete":
            return TransientCloudError("connection refused")
        return None

    d.fault = fault
    out = provision(db, make_plan(), d)
    assert not out.ok and not out.rolled_back
    with db.session() as s:
        assert s.scalars(select(ProvisionRun)).one().status == RunStatus.ROLLBACK_PENDING
    assert owned(d)  # still there while the cloud refuses deletes
    d.fault = None
    again = resume(db, "REQ-1", d)
    assert again.rolled_back and owned(d) == []


def _kill_at_volume_create(op: str, kind: ResourceKind | None) -> Any:
    """A fault that simulates kill -9: SystemExit is not a CloudError, so nothing catches it."""
    return SystemExit() if op == "create" and kind == ResourceKind.VOLUME else None


def test_resume_after_kill_between_create_and_log(db: Database) -> None:
    """Simulate a kill: a step logged STARTED whose resource exists; resume adopts it and finishes."""
    d = InMemoryDriver()
    plan = make_plan()
    d.fault = _kill_at_volume_create
    with pytest.raises(SystemExit):
        provision(db, plan, d)
    # the volume step is logged STARTED and the volume was not created; servers exist
    with db.session() as s:
        run = s.scalars(select(ProvisionRun)).one()
        assert run.status == RunStatus.RUNNING
        vol_step = s.scalars(select(ProvisionStep).filter_by(key="volume:data")).one()
        assert vol_step.status == StepStatus.STARTED
    d.fault = None
    out = resume(db, "REQ-1", d)
    assert out.ok
    assert d.created_count[ResourceKind.SERVER] == 2 and d.created_count[ResourceKind.VOLUME] == 1


def test_retire_deletes_only_the_requests_resources_and_keeps_project(db: Database) -> None:
    d = InMemoryDriver()
    provision(db, make_plan("REQ-1"), d)
    provision(db, make_plan("REQ-2", servers=2), d)
    out = retire(db, "REQ-1", d)
    assert out.ok
    left = {o.marker.split(";")[0] for o in d.objects.values() if o.marker}
    assert left == {"yunwang:req=REQ-2"}
    assert "unit-a" in d.projects
    with db.session() as s:
        assert s.scalars(select(ProvisionRun).filter_by(request_id="REQ-1")).one().status == RunStatus.RETIRED


def test_cloud_quota_too_small_fails_fast_naming_the_quota_and_leaves_it_alone(db: Database) -> None:
    d = InMemoryDriver()
    d.default_instances = 1  # the cloud admin allows one server; the plan needs two
    out = provision(db, make_plan(), d)
    assert not out.ok and out.rolled_back
    assert "Nova 'instances'" in (out.error or "") and "0 in use + 2 requested > limit 1" in (out.error or "")
    assert d.created_count == {} and owned(d) == []  # refused before anything was created
    assert d.calls.get("set_quota", 0) == 0 and d.quotas == {}  # yunwang never touched the cloud's quota


def test_plan_round_trips_through_json() -> None:
    plan = make_plan()
    assert plan_from_dict(plan_to_dict(plan)) == plan
    assert plan.server_names() == ("web-1", "web-2")


def test_wrong_driver_and_bad_plans_are_refused_before_anything_is_created(db: Database) -> None:
    d = InMemoryDriver()
    with pytest.raises(ValueError):
        provision(db, make_plan(cloud="other"), d)
    with pytest.raises(ValueError, match="no server"):
        provision(db, make_plan(servers=1), d)
    assert d.objects == {} and d.projects == {}


def test_retry_policy_is_bounded() -> None:
    assert 1 < RETRY.attempts <= 10


def test_resume_lets_a_dead_process_in_flight_call_land_first(db: Database) -> None:
    d = InMemoryDriver()
    d.fault = _kill_at_volume_create
    with pytest.raises(SystemExit):
        provision(db, make_plan(), d)
    with db.session() as s:
        run_id = s.scalars(select(ProvisionRun)).one().id
    waited = provision_module.settle(db, run_id, seconds=2.0)
    assert 0.5 < waited <= 2.0
    d.fault = None
    assert resume(db, "REQ-1", d).ok
    assert provision_module.settle(db, run_id, seconds=2.0) == 0.0  # nothing in flight any more
