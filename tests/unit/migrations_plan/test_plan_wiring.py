"""What the orchestrator wires into the planner: draft requests from a stored plan, zombie evidence from the
capacity samples, the plan's flavor table from the clouds' catalogue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
IMAGE = {"image": "centos-7.9"}


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

    r = admin.post(f"{P}/waves/{plan['plan_id']}/requests", params={"wave": 1}, json=IMAGE)
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

    again = admin.post(f"{P}/waves/{plan['plan_id']}/requests", json=IMAGE).json()
    assert again["created"] == [] and [d["code"] for d in again["existing"]] == ["WV-A", "WV-B"]
    assert requests_count(db) == 2  # idempotent: nothing new

    admin.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    assert admin.post(f"{P}/waves/{plan['plan_id']}/requests", json=IMAGE).status_code == 403
    assert requests_count(db) == 2


def test_systems_not_bound_for_the_gov_cloud_are_skipped(admin: TestClient, db: Database, two: dict[str, int]) -> None:
    plan = admin.post(f"{P}/waves", json={}).json()
    with db.session() as s:
        other = Inv(s).cloud(two["region"], kind="industry_cloud", site="行业云", clouds_yaml_name="industry")
        from migrations_plan.models import WaveItem

        item = s.scalars(select(WaveItem).where(WaveItem.code == "WV-B")).one()
        item.target_cloud_id = other
    got = admin.post(f"{P}/waves/{plan['plan_id']}/requests", json=IMAGE).json()
    assert [d["code"] for d in got["created"]] == ["WV-A"]
    assert [(d["code"], d["reason"]) for d in got["skipped"]] == [("WV-B", "not_for_gov_cloud")]
    assert requests_count(db) == 1


def test_an_idle_cloud_is_not_a_systems_idleness(admin: TestClient, db: Database) -> None:
    """A cloud's allocation says nothing about one system on it (with overcommit a fully used cloud shows a few per
    cent), so capacity samples never add idle points: out of business (30) + replaced (25) + one user (10) = 65,
    with or without 0-of-32-vCPU sweeps 40 days apart (found in review: they used to add 20 points)."""
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
    assert [(z["code"], z["score"]) for z in after] == [("ZB-1", 65)]
    assert not [e for e in after[0]["evidence"] if "cpu_ratio" in e["facts"]]


def test_plan_flavors_come_from_the_clouds_catalogue() -> None:
    table = {"m1.large": FlavorSize(8, 16384, 80), "m1.small": FlavorSize(2, 4096, 20), "x": FlavorSize(1, 512, 1)}
    got = plan_flavors(lambda: (table, {"x": "two sizes"}))
    assert got == (Flavor("m1.small", 2, 4.0), Flavor("m1.large", 8, 16.0))  # ambiguous "x" left out
    assert plan_flavors(lambda: (None, {})) == DEFAULT_FLAVORS  # no cloud answered


@pytest.fixture
def four(db: Database) -> dict[str, int]:
    """Four independent systems in a room (one wave of four). WF-BIG is 64 vCPU / 128 GB: larger than the
    largest default flavor m.4xlarge (32 / 128), so the plan sizes it as 2 × m.4xlarge; it has 250.5 GB disk."""
    with db.session() as s:
        inv = Inv(s)
        ids = dict(inv.basic())
        ids["done"] = inv.system(ids["unit"], room_id=ids["room"], code="WF-DONE", vcpus=2, memory_gb=4)
        ids["gone"] = inv.system(ids["unit"], room_id=ids["room"], code="WF-GONE", vcpus=2, memory_gb=4)
        ids["big"] = inv.system(
            ids["unit"], room_id=ids["room"], code="WF-BIG", vcpus=64, memory_gb=128, storage_gb=250.5
        )
        ids["ok"] = inv.system(ids["unit"], room_id=ids["room"], code="WF-OK", vcpus=2, memory_gb=4)
    return ids


def _stored_plan(admin: TestClient) -> int:
    plan = admin.post(f"{P}/waves", json={"name": "一期"}).json()
    assert {i["code"]: i["wave"] for i in plan["items"]} == {"WF-BIG": 1, "WF-DONE": 1, "WF-GONE": 1, "WF-OK": 1}
    return int(plan["plan_id"])


def test_moved_items_and_retired_systems_are_skipped_the_rest_drafted(
    admin: TestClient, db: Database, four: dict[str, int]
) -> None:
    """4 items: WF-DONE's item already migrated, WF-GONE retired after the plan → skipped with their reasons;
    WF-BIG and WF-OK → 2 drafts with the caller's image, WF-BIG asking for 2 servers and a 251 GB volume."""
    plan_id = _stored_plan(admin)
    from inventory.models import InformationSystem
    from migrations_plan.models import ItemStatus, WaveItem

    with db.session() as s:
        done = s.scalars(select(WaveItem).where(WaveItem.code == "WF-DONE")).one()
        done.status = ItemStatus.MIGRATED
        s.get_one(InformationSystem, four["gone"]).status = "retired"  # type: ignore[assignment]
        changes_before = s.scalar(select(func.count()).select_from(ChangeLog)) or 0

    r = admin.post(f"{P}/waves/{plan_id}/requests", params={"wave": 1}, json={"image": " kylin-v10 "})
    assert r.status_code == 200, r.text
    got = r.json()
    assert [d["code"] for d in got["created"]] == ["WF-BIG", "WF-OK"]
    assert [(d["code"], d["reason"]) for d in got["skipped"]] == [
        ("WF-DONE", "item_status:migrated"),
        ("WF-GONE", "retired"),
    ]
    assert "WF-GONE 已下线 / WF-GONE is retired" in got["skipped"][1]["message"]
    assert got["existing"] == []
    assert requests_count(db) == 2
    with db.session() as s:
        rows = {r.system_id: r for r in s.scalars(select(ResourceRequest))}
        assert set(rows) == {four["big"], four["ok"]}
        big, ok = rows[four["big"]].bundle, rows[four["ok"]].bundle
        assert [(x["flavor"], x["image"], x["count"]) for x in big["servers"]] == [("m.4xlarge", "kylin-v10", 2)]
        assert [(v["size_gb"], v["attach_to"]) for v in big["volumes"]] == [(251, "app-1")]  # 250.5 GB rounded up
        assert [(x["flavor"], x["image"], x["count"]) for x in ok["servers"]] == [("s.medium", "kylin-v10", 1)]
        assert ok["volumes"] == []  # no storage in the inventory
        # one audited UPDATE of the wave item per draft, before/after its request_ref, by the caller
        items = {i.code: i for i in s.scalars(select(WaveItem).where(WaveItem.plan_id == plan_id))}
        logs = s.scalars(
            select(ChangeLog).where(ChangeLog.kind == "plan_wave_items", ChangeLog.action == "update")
        ).all()
        assert sorted(c.object_code or "" for c in logs) == ["WF-BIG", "WF-OK"]
        for c in logs:
            assert c.before is not None and c.after is not None
            assert c.before["request_ref"] is None
            item = items[c.object_code or ""]
            assert c.object_id == item.id
            assert c.after["request_ref"] == item.request_ref == rows[item.object_id].code
            create = s.scalars(select(ChangeLog).where(ChangeLog.object_code == item.request_ref)).one()
            assert c.actor == create.actor and c.actor.startswith("admin")  # the caller, as for the request
        assert items["WF-DONE"].request_ref is None and items["WF-GONE"].request_ref is None
        # 2 request CREATEs + 2 item UPDATEs (+ nothing for the skipped)
        assert (s.scalar(select(func.count()).select_from(ChangeLog)) or 0) - changes_before >= 4


def test_a_refused_system_does_not_abort_the_wave(admin: TestClient, db: Database, four: dict[str, int]) -> None:
    """WF-OK's item carries a flavor no cloud offers: the request service refuses it (skipped with its message);
    the classified-after-planning WF-DONE is stale (skipped); WF-BIG and WF-GONE are still drafted."""
    plan_id = _stored_plan(admin)
    from inventory.models import InformationSystem
    from migrations_plan.models import WaveItem

    with db.session() as s:
        s.scalars(select(WaveItem).where(WaveItem.code == "WF-OK")).one().flavor = "x.gone"
        s.get_one(InformationSystem, four["done"]).classified = True
    r = admin.post(f"{P}/waves/{plan_id}/requests", json=IMAGE)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [d["code"] for d in got["created"]] == ["WF-BIG", "WF-GONE"]
    skipped = {d["code"]: d for d in got["skipped"]}
    assert set(skipped) == {"WF-DONE", "WF-OK"}
    assert skipped["WF-DONE"]["reason"] == "classified"
    assert skipped["WF-OK"]["reason"] == "refused:validation_failed"  # the request service's 422, for this one
    assert skipped["WF-OK"]["message"] == "服务器规格与云主机类型不符 / server sizes do not match their flavors"
    assert requests_count(db) == 2
    with db.session() as s:
        assert s.scalars(select(WaveItem).where(WaveItem.code == "WF-OK")).one().request_ref is None


def test_an_already_migrated_system_is_skipped(admin: TestClient, db: Database, four: dict[str, int]) -> None:
    plan_id = _stored_plan(admin)
    from inventory.models import InformationSystem

    with db.session() as s:
        sys_ = s.get_one(InformationSystem, four["ok"])
        sys_.status = "migrated"  # type: ignore[assignment]
    got = admin.post(f"{P}/waves/{plan_id}/requests", json=IMAGE).json()
    assert [d["code"] for d in got["created"]] == ["WF-BIG", "WF-DONE", "WF-GONE"]
    assert [(d["code"], d["reason"]) for d in got["skipped"]] == [("WF-OK", "already_migrated")]


@pytest.mark.parametrize("body", [None, {}, {"image": ""}, {"image": "   "}, {"image": "x" * 129}])
def test_the_image_is_required(admin: TestClient, db: Database, four: dict[str, int], body: object) -> None:
    plan_id = _stored_plan(admin)
    r = admin.post(f"{P}/waves/{plan_id}/requests", json=body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details", "request_id"}
    assert err["details"] and all(d.get("field") in ("image", None) for d in err["details"])
    assert requests_count(db) == 0


def test_a_refusal_after_a_write_rolls_back_only_its_own_savepoint(
    admin: TestClient, db: Database, four: dict[str, int]
) -> None:
    """The factory writes a change-log entry, then refuses WF-GONE: that entry is rolled back with the
    savepoint; the 3 other drafts, their entries and their items' audit entries stay (3 + 3)."""
    from core.audit import ChangeContext, record_change
    from core.enums import ChangeAction
    from core.errors import ValidationFailed
    from migrations_plan import tracking
    from migrations_plan.models import WaveItem

    plan_id = _stored_plan(admin)

    def factory(session: Session, need: tracking.ResourceNeed, ctx: ChangeContext) -> str:
        record_change(session, ctx, "probe", need.system_id, ChangeAction.CREATE, None, {}, need.system_code)
        if need.system_code == "WF-GONE":
            raise ValidationFailed("refused / 拒绝")
        assert need.image == "img"
        return f"RQ-{need.system_code}-{need.instances}"

    ctx = ChangeContext(actor="tester", role="admin")
    with db.session() as s:
        got = tracking.draft_requests(s, plan_id, 1, None, factory, ctx, "img")
        assert [i.code for i in got.created] == ["WF-BIG", "WF-DONE", "WF-OK"]
        assert [(k.item.code, k.reason, k.message) for k in got.skipped] == [
            ("WF-GONE", "refused:validation_failed", "refused / 拒绝")
        ]
    with db.session() as s:
        refs = {i.code: i.request_ref for i in s.scalars(select(WaveItem).where(WaveItem.plan_id == plan_id))}
        assert refs == {"WF-BIG": "RQ-WF-BIG-2", "WF-DONE": "RQ-WF-DONE-1", "WF-GONE": None, "WF-OK": "RQ-WF-OK-1"}
        probes = s.scalars(select(ChangeLog.object_code).where(ChangeLog.kind == "probe")).all()
        assert sorted(c or "" for c in probes) == ["WF-BIG", "WF-DONE", "WF-OK"]
        audited = s.scalars(
            select(ChangeLog.object_code).where(ChangeLog.kind == "plan_wave_items", ChangeLog.actor == "tester")
        ).all()
        assert sorted(c or "" for c in audited) == ["WF-BIG", "WF-DONE", "WF-OK"]
