"""The API and CLI show what the office needs: stale plan items, out-of-order warnings, retirement overrides
with dependents, and the same plan from the CLI as from the API (same capacity data)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from inventory import service
from migrations_plan.api import PlanServices, get_plan_services
from migrations_plan.cli import make_app
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.provisioning.models import CapacitySample
from tests.builders import Inv

P = "/api/v1/plan"
ADMIN = ChangeContext(actor="builder", role="admin")


@pytest.fixture
def shop(db: Database) -> dict[str, int]:
    """A (2 vCPU), B depends on A, Z a zombie candidate (55) that O of another unit depends on, L (30 only)."""
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        ids = dict(b)
        ids["other"] = inv.unit(b["region"], name="其他厅")
        ids["a"] = inv.system(b["unit"], room_id=b["room"], code="AG-A", vcpus=2, memory_gb=4)
        ids["b"] = inv.system(
            b["unit"], room_id=b["room"], code="AG-B", vcpus=2, memory_gb=4, depends_on_ids=[ids["a"]]
        )
        ids["z"] = inv.system(
            b["unit"], room_id=b["room"], code="AG-Z", business_active=False, replaced_by_id=ids["a"], vcpus=1
        )
        ids["o"] = inv.system(ids["other"], room_id=b["room"], code="AG-O", vcpus=1, depends_on_ids=[ids["z"]])
        ids["l"] = inv.system(b["unit"], room_id=b["room"], code="AG-L", business_active=False, vcpus=1)
    return ids


def n_changes(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ChangeLog)) or 0


def test_stale_items_are_flagged_and_tracking_them_is_refused_writing_nothing(
    admin: TestClient, db: Database, shop: dict[str, int]
) -> None:
    plan = admin.post(f"{P}/waves", json={"name": "old"}).json()
    detail = admin.get(f"{P}/waves/{plan['plan_id']}").json()
    assert detail["stale_items"] == 0 and detail["superseded_by"] is None
    a_item = next(i["id"] for i in detail["items"] if i["code"] == "AG-A")
    with db.session() as s:
        service.update(s, "systems", shop["a"], {"status": "retired"}, ADMIN)
    detail = admin.get(f"{P}/waves/{plan['plan_id']}").json()
    assert detail["stale_items"] == 1
    assert {i["code"]: [n["code"] for n in i["stale"]] for i in detail["items"] if i["stale"]} == {"AG-A": ["retired"]}
    before = n_changes(db)
    r = admin.post(f"{P}/items/{a_item}/status", json={"status": "in_progress"})
    assert r.status_code == 409
    assert r.json()["error"]["details"][0]["message"] == "AG-A 已下线 / AG-A is retired"
    assert n_changes(db) == before
    newer = admin.post(f"{P}/waves", json={"name": "new"}).json()
    assert admin.get(f"{P}/waves/{plan['plan_id']}").json()["superseded_by"] == newer["plan_id"]
    runner = CliRunner()
    out = runner.invoke(make_app(lambda: db), ["show", str(plan["plan_id"])], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "AG-A 已下线" in out.output and "1 项过期 / stale items" in out.output


def test_migrating_before_a_dependency_answers_with_a_warning(admin: TestClient, shop: dict[str, int]) -> None:
    plan = admin.post(f"{P}/waves", json={}).json()
    items = {i["code"]: i["id"] for i in admin.get(f"{P}/waves/{plan['plan_id']}").json()["items"]}
    assert admin.post(f"{P}/items/{items['AG-B']}/status", json={"status": "in_progress"}).json()["warnings"] == []
    r = admin.post(f"{P}/items/{items['AG-B']}/status", json={"status": "migrated", "cloud_id": shop["cloud"]})
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [
        {
            "code": "out_of_order",
            "zh": "先于其依赖系统 AG-A（not_migrated）迁移",
            "en": "migrated before its dependency AG-A (not_migrated)",
        }
    ]
    found = admin.post(f"{P}/lookback").json()["findings"]
    assert [(f["code"], f["problem"]) for f in found] == [("AG-B", "out_of_order")]


def test_retirement_override_through_the_api_and_dependents_shown_to_the_owner(
    client: TestClient, db: Database, shop: dict[str, int], token_for: Callable[..., str]
) -> None:
    office = {"Authorization": f"Bearer {token_for(Role.CLOUD_CHIEF_OFFICE)}"}
    owner = {"Authorization": f"Bearer {token_for(Role.DEPARTMENT_USER, shop['unit'])}"}
    case = client.post(f"{P}/retirements", json={"system_id": shop["z"]}, headers=owner).json()
    assert case["dependents"] == [{"id": shop["o"], "code": "AG-O", "unit_id": shop["other"], "status": "not_migrated"}]
    assert case["override_needed"] == ["仍有在用系统依赖它：AG-O / live systems still depend on it: AG-O"]
    dependent_unit = {"Authorization": f"Bearer {token_for(Role.DEPARTMENT_USER, shop['other'])}"}
    seen = client.get(f"{P}/retirements", headers=dependent_unit).json()  # the unit of AG-O sees the case too
    assert [(c["system_id"], [d["code"] for d in c["dependents"]]) for c in seen] == [(shop["z"], ["AG-O"])]
    low = client.post(f"{P}/retirements", json={"system_id": shop["l"]}, headers=owner).json()
    assert low["dependents"] == [] and low["override_needed"][0].startswith("得分 30 低于僵尸系统候选阈值 50")
    for c in (case, low):
        assert client.post(f"{P}/retirements/{c['id']}/confirm", json={}, headers=owner).status_code == 200
    before = n_changes(db)
    r = client.post(f"{P}/retirements/{case['id']}/approve", json={"note": "同意"}, headers=office)
    assert r.status_code == 409
    assert [d["field"] for d in r.json()["error"]["details"]] == ["dependents", "override_reason"]
    assert client.post(f"{P}/retirements/{low['id']}/approve", json={}, headers=office).status_code == 409
    assert n_changes(db) == before
    r = client.post(
        f"{P}/retirements/{case['id']}/approve", json={"override_reason": "AG-O 已改接 AG-A"}, headers=office
    )
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["override_reason"]) == ("approved", "AG-O 已改接 AG-A")
    assert [d["code"] for d in r.json()["dependents"]] == ["AG-O"]


def test_cli_and_api_plan_with_the_same_capacity(admin: TestClient, db: Database, shop: dict[str, int]) -> None:
    """Free on gov-nanning: 3 vCPU / 100 GB. Sizes: A s.medium (2), B s.medium (2), Z, O, L s.small (1).
    By code: AG-A takes 2 (1 left), AG-L takes 1 (0 left); AG-B, AG-O, AG-Z find no room: 2 planned, 3 not."""
    with db.session() as s:
        at = datetime.now(UTC)
        for rc, total in (("VCPU", 3), ("MEMORY_MB", 102400), ("DISK_GB", 1000)):
            s.add(CapacitySample(at=at, cloud="gov-nanning", host="h1", resource_class=rc, total=total, used=0))
    admin.app.dependency_overrides[get_plan_services] = lambda: PlanServices(capacity=plan_capacity)  # type: ignore[attr-defined]
    api = admin.post(f"{P}/waves", json={"store": False}).json()
    assert (api["summary"]["planned"], api["summary"]["unplanned"]) == (2, 3)
    from orchestrator.app.cli import app as yunwang

    runner = CliRunner()
    out = runner.invoke(
        yunwang, ["plan", "waves"], env={"COLUMNS": "200", "YUNWANG_DATABASE_URL": db.url, "YUNWANG_DATA_DIR": "/tmp"}
    )
    assert out.exit_code == 0, out.output
    assert "排入 planned: 2, 未排入 unplanned: 3" in out.output
