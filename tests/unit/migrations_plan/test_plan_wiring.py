"""What the orchestrator wires into the planner: draft requests from a stored plan, zombie evidence from the
capacity samples, the plan's flavor table from the clouds' catalogue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from migrations_plan.facts import DEFAULT_FLAVORS, Flavor
from orchestrator.app.plan_wiring import plan_flavors
from orchestrator.provisioning.driver import FlavorSize
from orchestrator.provisioning.models import CapacitySample
from orchestrator.requests.lifecycle import RequestStatus
from orchestrator.requests.models import ResourceRequest
from tests.builders import Inv

P = "/api/v1/plan"


@pytest.fixture
def two(db: Database) -> dict[str, int]:
    """Two independent systems in a room (one wave), a classified one (never planned), one gov cloud."""
    with db.session() as s:
        inv = Inv(s)
        ids = dict(inv.basic())
        ids["a"] = inv.system(ids["unit"], room_id=ids["room"], code="WV-A", vcpus=2, memory_gb=4)
        ids["b"] = inv.system(ids["unit"], room_id=ids["room"], code="WV-B", vcpus=2, memory_gb=4)
        ids["secret"] = inv.system(ids["unit"], room_id=ids["room"], code="WV-S", classified=True)
    return ids


def requests_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ResourceRequest)) or 0


def test_a_stored_wave_becomes_draft_requests_once(
    admin: TestClient, db: Database, two: dict[str, int], token_for: Callable[..., str]
) -> None:
    plan = admin.post(f"{P}/waves", json={"name": "一期"}).json()
    waves = {i["code"]: i["wave"] for i in plan["items"]}
    assert waves == {"WV-A": 1, "WV-B": 1}  # the classified WV-S is never planned
    with db.session() as s:
        changes_before = s.scalar(select(func.count()).select_from(ChangeLog)) or 0

    r = admin.post(f"{P}/waves/{plan['plan_id']}/requests", params={"wave": 1})
    assert r.status_code == 200, r.text
    got = r.json()
    assert [d["code"] for d in got["created"]] == ["WV-A", "WV-B"]
    assert got["existing"] == [] and got["skipped"] == []
    assert requests_count(db) == 2
    with db.session() as s:
        rows = s.scalars(select(ResourceRequest).order_by(ResourceRequest.id)).all()
        assert [r.status for r in rows] == [RequestStatus.DRAFT, RequestStatus.DRAFT]
        assert [r.system_id for r in rows] == [two["a"], two["b"]]
        assert {r.unit_id for r in rows} == {two["unit"]}
        assert [r.code for r in rows] == [d["request_code"] for d in got["created"]]
        assert rows[0].bundle["servers"][0]["flavor"] == "s.medium"  # 2 vCPU / 4 GB, from the default table
        # each draft is written by the request service: one audited CREATE per request
        creates = s.scalars(
            select(ChangeLog).where(ChangeLog.object_code.in_([r.code for r in rows]), ChangeLog.action == "create")
        ).all()
        assert len(creates) == 2
        assert (s.scalar(select(func.count()).select_from(ChangeLog)) or 0) > changes_before

    again = admin.post(f"{P}/waves/{plan['plan_id']}/requests").json()
    assert again["created"] == [] and [d["code"] for d in again["existing"]] == ["WV-A", "WV-B"]
    assert requests_count(db) == 2  # idempotent: nothing new

    admin.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    assert admin.post(f"{P}/waves/{plan['plan_id']}/requests").status_code == 403
    assert requests_count(db) == 2


def test_systems_not_bound_for_the_gov_cloud_are_skipped(admin: TestClient, db: Database, two: dict[str, int]) -> None:
    plan = admin.post(f"{P}/waves", json={}).json()
    with db.session() as s:
        other = Inv(s).cloud(two["region"], kind="industry_cloud", site="行业云", clouds_yaml_name="industry")
        from migrations_plan.models import WaveItem

        item = s.scalars(select(WaveItem).where(WaveItem.code == "WV-B")).one()
        item.target_cloud_id = other
    got = admin.post(f"{P}/waves/{plan['plan_id']}/requests").json()
    assert [d["code"] for d in got["created"]] == ["WV-A"]
    assert [d["code"] for d in got["skipped"]] == ["WV-B"]
    assert requests_count(db) == 1


def test_idle_capacity_samples_are_zombie_evidence(admin: TestClient, db: Database) -> None:
    """On gov-nanning: 0 of 32 vCPU allocated in sweeps 40 days apart → cpu_ratio 0.0 over 40 days (idle, 20
    points). The system is also out of business (30) and replaced (25), with one user (10): 30+25+20+10 = 85."""
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        inv.system(b["unit"], cloud_id=b["cloud"], status="migrated", code="ZB-1", business_active=False, users_count=1)
    with db.session() as s:
        inv = Inv(s)
        other = inv.system(b["unit"], room_id=b["room"], code="ZB-0")
    with db.session() as s:
        from inventory.models import InformationSystem

        z = s.scalars(select(InformationSystem).where(InformationSystem.code == "ZB-1")).one()
        z.replaced_by_id = other
    before = admin.get(f"{P}/zombies").json()["items"]
    assert [(z["code"], z["score"]) for z in before] == [("ZB-1", 65)]  # no samples: no idle evidence
    now = datetime.now(UTC)
    with db.session() as s:
        for at in (now - timedelta(days=40), now):
            for host in ("h1", "h2"):
                s.add(CapacitySample(at=at, cloud="gov-nanning", host=host, resource_class="VCPU", total=16, used=0))
    after = admin.get(f"{P}/zombies").json()["items"]
    assert [(z["code"], z["score"]) for z in after] == [("ZB-1", 85)]
    idle = next(e for e in after[0]["evidence"] if "cpu_ratio" in e["facts"])
    assert idle["facts"]["cpu_ratio"] == 0.0 and idle["facts"]["utilisation_days"] == 40


def test_plan_flavors_come_from_the_clouds_catalogue() -> None:
    table = {"m1.large": FlavorSize(8, 16384, 80), "m1.small": FlavorSize(2, 4096, 20), "x": FlavorSize(1, 512, 1)}
    got = plan_flavors(lambda: (table, {"x": "two sizes"}))
    assert got == (Flavor("m1.small", 2, 4.0), Flavor("m1.large", 8, 16.0))  # ambiguous "x" left out
    assert plan_flavors(lambda: (None, {})) == DEFAULT_FLAVORS  # no cloud answered
