"""Requests on the real local OpenStack under concurrency and the cloud's own limits: two requests of one unit
provisioned at once, a Nova quota set below yunwang's by the cloud admin (observe and managed mode), and a
retirement killed with SIGKILL mid-way that a second call completes, with zero orphans (listed from the cloud)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import Principal
from core.models import ChangeLog
from orchestrator.placement.engine import DRLevel, PlacementPolicy
from orchestrator.provisioning.models import ProvisionStep, StepStatus
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.requests import approval, quotas
from orchestrator.requests import provisioning_hook as rp
from orchestrator.requests import service as svc
from orchestrator.requests.flavors import CloudFlavors
from orchestrator.requests.lifecycle import RequestCreate, RequestStatus
from tests.builders import Inv
from tests.integration.openstack.os_helpers import everything_in

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::Warning")]
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
OFFICE = Principal("office-1", Role.CLOUD_CHIEF_OFFICE)
OPERATOR = Principal("operator-1", Role.CLOUD_OPERATOR)
CTX = ChangeContext(actor="operator-1", role="cloud_operator")
COMPUTE = ("instances", "cores", "ram")


class Unit:
    """One unit of a fresh inventory, its OpenStack project in both clouds, and helpers to take its requests
    through creation, approval and placement with the service functions (two distinct people: creator, office)."""

    def __init__(self, db: Database, reg: CloudRegistry, code: str) -> None:
        self.db, self.reg, self.code = db, reg, code
        with db.session() as s:
            inv = Inv(s)
            self.ids = inv.basic()  # its inventory cloud is gov-nanning at 南宁核心
            inv.cloud(self.ids["region"], site="桂林灾备", clouds_yaml_name="gov-guilin")
            inv.set("units", self.ids["county_unit"], code=code)
            quotas.set_limits(s, CTX, self.ids["county_unit"], {"vcpus": 10, "instances": 10, "ram_mb": 10240})
        self.project = f"yw-{code}".lower()
        self.pid = reg.driver("gov-nanning").ensure_project(self.project, code)[0]
        self.dept = Principal(
            "dept-1", Role.DEPARTMENT_USER, self.ids["county_unit"], frozenset({self.ids["county_unit"]})
        )
        self.flavors = CloudFlavors(lambda: [reg.driver("gov-nanning")])

    def scheduled(self, servers: int, title: str = "t") -> int:
        """A request for `servers` × m1.tiny (sizes from the real flavor), placed in gov-nanning."""
        bundle = {
            "servers": [
                {"name": f"s{uuid.uuid4().hex[:4]}", "flavor": "m1.tiny", "image": "cirros-fake", "count": servers}
            ],
            "networks": [{"name": f"n{uuid.uuid4().hex[:4]}", "cidr": "10.50.0.0/24"}],
        }
        body = RequestCreate.model_validate(
            {"title": title, "unit_id": self.ids["county_unit"], "dr_level": DRLevel.NONE, "bundle": bundle}
        )
        capacity = [self.reg.driver("gov-nanning").capacity()]  # both requests land in one cloud and project
        table, ambiguous = self.flavors()
        with self.db.session() as s:
            row = svc.create(s, self.dept, CTX, body, table, ambiguous)
            svc.submit(s, self.dept, CTX, row, approval.AutoRules(enabled=False))
            svc.approve(s, Principal("chief-1", Role.ADMIN), CTX, row, "first level")  # an admin gives one level
            svc.approve(s, Principal("office-1", Role.ADMIN), CTX, row, "final")
            svc.schedule(s, OPERATOR, CTX, row, svc.candidates(s, capacity), PlacementPolicy())
            assert row.status == RequestStatus.SCHEDULED and row.primary_cloud == "gov-nanning"
            return row.id

    def status(self, rid: int) -> tuple[RequestStatus, str | None]:
        with self.db.session() as s:
            row = svc.get(s, OPERATOR, rid)
            return row.status, row.failure_reason

    def nova(self) -> dict[str, int]:
        qs = self.reg.driver("gov-nanning").admin().compute.get_quota_set(self.pid)
        return {k: int(getattr(qs, k)) for k in COMPUTE}

    def servers(self) -> list[str]:
        return sorted(
            o.status or "" for o in everything_in(self.reg.driver("gov-nanning"), self.pid) if o.kind.value == "server"
        )


@pytest.fixture
def unit(
    any_db: Database, cloud_registry: CloudRegistry, request_id: str, cleanup: list[tuple[str, str]]
) -> Iterator[Unit]:
    u = Unit(any_db, cloud_registry, "T" + request_id[2:].upper())
    cleanup.extend((c, u.project) for c in ("gov-nanning", "gov-guilin"))
    before = u.nova()
    yield u
    # the cloud admin's quota is restored whatever the test did (the project is deleted by `cleanup` too)
    u.reg.driver("gov-nanning").admin().compute.update_quota_set(u.pid, **before)


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads at once; a call that raised re-raises here (not a silent None)."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_two_requests_of_one_unit_provisioned_at_once_both_become_active(unit: Unit) -> None:
    u = unit
    quota_before = u.nova()
    a, b = u.scheduled(2, "a"), u.scheduled(2, "b")
    results = at_once(*(lambda rid=rid: rp.provision(u.db, OPERATOR, CTX, rid, u.reg.driver) for rid in (a, b)))
    assert [r.status for r in results] == [RequestStatus.ACTIVE, RequestStatus.ACTIVE], [u.status(a), u.status(b)]
    assert u.servers() == ["ACTIVE"] * 4
    assert u.nova() == quota_before  # the cloud admin's quota was not touched
    for rid in (a, b):
        assert rp.retire(u.db, OPERATOR, CTX, rid, u.reg.driver).status == RequestStatus.RETIRED
    assert everything_in(u.reg.driver("gov-nanning"), u.pid) == []


def test_a_nova_quota_below_yunwangs_fails_fast_naming_it_and_is_left_alone(unit: Unit) -> None:
    u = unit
    admin = u.reg.driver("gov-nanning").admin()
    admin.compute.update_quota_set(u.pid, cores=1)  # the cloud admin allows 1 vCPU; yunwang's unit quota is 10
    rid = u.scheduled(2)  # 2 × m1.tiny = 2 vCPUs: within yunwang's quota, beyond the cloud's
    started = time.monotonic()
    result = rp.provision(u.db, OPERATOR, CTX, rid, u.reg.driver)
    took = time.monotonic() - started
    status, reason = u.status(rid)
    assert result.status == status == RequestStatus.FAILED
    assert reason is not None
    assert reason.startswith("主用 / primary gov-nanning 开通失败 / failed: 云平台自身配额不足")
    assert "Nova 'cores' (vCPU): 0 in use + 2 requested > limit 1" in reason
    assert reason.count("gov-nanning") == 1
    assert took < 60  # no waiting on retries or servers: refused before any server was created
    assert u.servers() == [] and everything_in(u.reg.driver("gov-nanning"), u.pid) == []
    assert u.nova()["cores"] == 1  # still the cloud admin's value


def test_managed_mode_raises_the_real_quota_for_two_requests_at_once_and_returns_it(unit: Unit) -> None:
    u = unit
    admin = u.reg.driver("gov-nanning").admin()
    admin.compute.update_quota_set(u.pid, instances=1, cores=1, ram=512)  # the cloud admin's values
    a, b = u.scheduled(2, "a"), u.scheduled(2, "b")
    results = at_once(
        *(lambda rid=rid: rp.provision(u.db, OPERATOR, CTX, rid, u.reg.driver, manage_quota=True) for rid in (a, b))
    )
    assert [r.status for r in results] == [RequestStatus.ACTIVE, RequestStatus.ACTIVE], [u.status(a), u.status(b)]
    # each request added 2 servers, 2 vCPUs and 2 × 512 MB (m1.tiny) to what the cloud admin set
    assert u.nova() == {"instances": 1 + 2 + 2, "cores": 1 + 2 + 2, "ram": 512 + 1024 + 1024}
    for rid in (a, b):
        assert rp.retire(u.db, OPERATOR, CTX, rid, u.reg.driver).status == RequestStatus.RETIRED
    assert u.nova() == {"instances": 1, "cores": 1, "ram": 512}
    with u.db.session() as s:
        entries = s.scalars(select(ChangeLog).filter_by(kind="cloud_quota")).all()
    assert len(entries) == 4 and {e.object_code for e in entries} == {f"{u.project}@gov-nanning"}
    assert everything_in(u.reg.driver("gov-nanning"), u.pid) == []


def test_retirement_killed_mid_way_is_completed_by_a_second_call_with_no_orphans(
    db: Database, cloud_registry: CloudRegistry, clouds_yaml: Path, request_id: str, cleanup: list[tuple[str, str]]
) -> None:
    u = Unit(db, cloud_registry, "T" + request_id[2:].upper())
    cleanup.extend((c, u.project) for c in ("gov-nanning", "gov-guilin"))
    rid = u.scheduled(4)
    assert rp.provision(db, OPERATOR, CTX, rid, cloud_registry.driver).status == RequestStatus.ACTIVE
    assert u.servers() == ["ACTIVE"] * 4
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "os_retire_worker.py"), db.url, str(clouds_yaml), str(rid)],
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    deleted = 0
    while time.monotonic() < deadline and worker.poll() is None:  # kill once one server is gone, others not
        with db.session() as s:
            deleted = s.scalar(  # type: ignore[assignment]  # count() is never NULL
                select(func.count(ProvisionStep.id)).where(
                    ProvisionStep.kind == "server", ProvisionStep.status == StepStatus.DELETED
                )
            )
        if deleted:
            break
        time.sleep(0.05)
    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    assert deleted >= 1
    status, _ = u.status(rid)
    assert status == RequestStatus.RETIRING  # recorded as retiring, with resources still there
    assert everything_in(cloud_registry.driver("gov-nanning"), u.pid) != []
    again = rp.retire(db, OPERATOR, CTX, rid, cloud_registry.driver)
    assert again.status == RequestStatus.RETIRED, again.message
    assert everything_in(cloud_registry.driver("gov-nanning"), u.pid) == []  # zero orphans
    with db.session() as s:
        assert quotas.usage_of(s, u.ids["county_unit"]).vcpus == 0
