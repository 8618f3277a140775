"""The /api/v1/plan routes: what each role may do, and that a refused call writes nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from core.wiring import JOBS, services
from inventory.enums import SystemStatus
from inventory.models import InformationSystem
from migrations_plan.api import PlanServices, get_plan_services
from migrations_plan.facts import Capacity
from migrations_plan.models import RetirementCase, WavePlan
from tests.builders import Inv

P = "/api/v1/plan"


@pytest.fixture
def shop(db: Database) -> dict[str, int]:
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        ids = dict(b)
        room, unit = b["room"], b["unit"]
        ids["other_unit"] = inv.unit(b["region"], name="其他厅")
        ids["a"] = inv.system(unit, room_id=room, code="SYS-A", vcpus=2, memory_gb=4)
        ids["b"] = inv.system(unit, room_id=room, code="SYS-B", vcpus=2, memory_gb=4, depends_on_ids=[ids["a"]])
        ids["zombie"] = inv.system(
            unit, room_id=room, code="SYS-Z", business_active=False, replaced_by_id=ids["a"], users_count=1
        )
        ids["secret"] = inv.system(unit, room_id=room, code="SYS-S", classified=True)
        ids["c"] = inv.system(ids["other_unit"], room_id=room, code="SYS-C", depends_on_ids=[ids["secret"]])
    return ids


def as_role(client: TestClient, token: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_readiness_list_one_and_scope(admin: TestClient, shop: dict[str, int], token_for: Callable[..., str]) -> None:
    r = admin.get(f"{P}/readiness")
    assert r.status_code == 200
    by = {i["code"]: i for i in r.json()["items"]}
    assert by["SYS-S"]["outcome"] == "out_of_scope"
    assert by["SYS-C"]["outcome"] == "blocked"
    assert by["SYS-A"]["outcome"] == "ready" and by["SYS-A"]["flavor"] == "s.medium"
    assert (by["SYS-A"]["hosting"], by["SYS-A"]["room_id"]) == ("room", shop["room"])
    # whole numbers stay integers in the JSON (typed clients decode `2`, not `2.0`); SYS-A has 2 vCPUs, 4 GB
    assert 'vcpus":2,' in r.text.replace(" ", "") and '"memory_gb":4,' in r.text.replace(" ", "")
    assert r.json()["by_outcome"]["blocked"] == 1
    one = admin.get(f"{P}/readiness/{shop['c']}").json()
    assert [x["code"] for x in one["reasons"] if x["severity"] == "blocker"] == ["depends_on_classified"]
    as_role(admin, token_for(Role.DEPARTMENT_USER, shop["other_unit"]))
    mine = admin.get(f"{P}/readiness").json()["items"]
    assert [i["code"] for i in mine] == ["SYS-C"]
    assert admin.get(f"{P}/readiness/{shop['a']}").status_code == 404


def test_readiness_uses_capacity_from_the_orchestrator(admin: TestClient, shop: dict[str, int]) -> None:
    free = {shop["cloud"]: Capacity(shop["cloud"], "GOV", 3, 100, 1000)}
    admin.app.dependency_overrides[get_plan_services] = lambda: PlanServices(capacity=lambda session: free)  # type: ignore[attr-defined]
    got = admin.get(f"{P}/readiness/{shop['a']}").json()
    assert got["target_cloud_id"] == shop["cloud"] and got["outcome"] == "ready"
    admin.app.dependency_overrides[get_plan_services] = lambda: PlanServices(capacity=lambda session: {})  # type: ignore[attr-defined]
    got = admin.get(f"{P}/readiness/{shop['a']}").json()
    assert got["outcome"] == "blocked" and "no_capacity" in [x["code"] for x in got["reasons"]]


def test_retirement_flow_roles_and_forbidden_writes_nothing(
    client: TestClient, db: Database, shop: dict[str, int], token_for: Callable[..., str]
) -> None:
    office = token_for(Role.CLOUD_CHIEF_OFFICE)
    owner = token_for(Role.DEPARTMENT_USER, shop["unit"])
    stranger = token_for(Role.DEPARTMENT_USER, shop["other_unit"])
    auditor = token_for(Role.AUDITOR)
    zs = as_role(client, office).get(f"{P}/zombies").json()["items"]
    assert [z["code"] for z in zs] == ["SYS-Z"]
    assert {e["criterion"] for e in zs[0]["evidence"]} == {"detached", "replaceable", "rare_use"}
    assert as_role(client, auditor).post(f"{P}/retirements", json={"system_id": shop["zombie"]}).status_code == 403
    assert count(db, RetirementCase) == 0
    r = as_role(client, office).post(f"{P}/retirements", json={"system_id": shop["zombie"], "reason": "已被替代"})
    assert r.status_code == 201 and r.json()["state"] == "proposed"
    case = r.json()["id"]
    log_before = count(db, ChangeLog)
    # office cannot confirm for the owner; another unit cannot either; approval before confirmation conflicts
    assert as_role(client, office).post(f"{P}/retirements/{case}/confirm", json={}).status_code == 403
    assert as_role(client, stranger).post(f"{P}/retirements/{case}/confirm", json={}).status_code == 403
    assert as_role(client, owner).post(f"{P}/retirements/{case}/approve", json={}).status_code == 403
    assert as_role(client, office).post(f"{P}/retirements/{case}/approve", json={}).status_code == 409
    assert count(db, ChangeLog) == log_before
    assert as_role(client, owner).post(f"{P}/retirements/{case}/confirm", json={}).json()["state"] == "owner_confirmed"
    done = as_role(client, office).post(f"{P}/retirements/{case}/approve", json={"note": "同意"})
    assert done.status_code == 200 and done.json()["state"] == "approved"
    with db.session() as s:
        system = s.get(InformationSystem, shop["zombie"])
        assert system is not None and system.status == SystemStatus.RETIRED
    assert [c["state"] for c in as_role(client, stranger).get(f"{P}/retirements").json()] == []
    assert [c["state"] for c in as_role(client, owner).get(f"{P}/retirements").json()] == ["approved"]


def test_zombie_scoring_with_supplied_evidence(admin: TestClient, shop: dict[str, int]) -> None:
    body = {"utilisation": {str(shop["a"]): {"cpu_ratio": 0.01, "days": 90}}}
    got = admin.post(f"{P}/zombies/score", json=body).json()["items"]
    assert [z["code"] for z in got] == ["SYS-Z"]  # idle alone (20) is below the threshold
    body = {"utilisation": {str(shop["zombie"]): {"cpu_ratio": 0.0, "days": 90}}}
    z = admin.post(f"{P}/zombies/score", json=body).json()["items"][0]
    assert z["score"] == 30 + 25 + 20 + 10 and z["evidence"][2]["facts"]["cpu_ratio"] == 0.0


def test_waves_compute_store_get_export_and_track(
    client: TestClient, db: Database, shop: dict[str, int], token_for: Callable[..., str]
) -> None:
    as_role(client, token_for(Role.DEPARTMENT_USER, shop["unit"]))
    assert client.post(f"{P}/waves", json={}).status_code == 403
    assert count(db, WavePlan) == 0
    as_role(client, token_for(Role.CLOUD_CHIEF_OFFICE))
    r = client.post(f"{P}/waves", json={"max_wave_size": 1, "name": "一期"})
    assert r.status_code == 200
    plan_id = r.json()["plan_id"]
    waves = {i["code"]: i["wave"] for i in r.json()["items"]}
    assert waves["SYS-A"] < waves["SYS-B"] and waves["SYS-C"] is None
    assert r.json()["summary"]["per_wave"] == {"1": 1, "2": 1, "3": 1}
    detail = client.get(f"{P}/waves/{plan_id}").json()
    assert detail["name"] == "一期" and len(detail["items"]) == 4
    x = client.get(f"{P}/waves/{plan_id}/export.xlsx")
    assert x.status_code == 200
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["迁移批次 Waves", "未排入 Unplanned", "循环依赖 Cycles", "概要 Summary"]
    ws = wb["迁移批次 Waves"]
    assert ws["A1"].value == "批次 Wave" and ws["C1"].value == "编码 Code"
    assert [row[2] for row in ws.iter_rows(min_row=2, values_only=True)] == ["SYS-A", "SYS-Z", "SYS-B"]
    assert [row[2] for row in wb["未排入 Unplanned"].iter_rows(min_row=2, values_only=True)] == ["SYS-C"]
    fresh = client.post(f"{P}/waves/export.xlsx", json={"max_wave_size": 2})
    assert fresh.status_code == 200
    fresh_wb = load_workbook(io.BytesIO(fresh.content))
    assert [r[0] for r in fresh_wb["迁移批次 Waves"].iter_rows(min_row=2, values_only=True)] == [1, 1, 2]
    assert count(db, WavePlan) == 1  # exporting a fresh plan stores nothing
    item_a = next(i for i in detail["items"] if i["code"] == "SYS-A")
    # a department user of another unit may not move it; nothing changes
    as_role(client, token_for(Role.DEPARTMENT_USER, shop["other_unit"]))
    assert client.post(f"{P}/items/{item_a['id']}/status", json={"status": "in_progress"}).status_code == 403
    as_role(client, token_for(Role.DEPARTMENT_USER, shop["unit"]))
    assert client.post(f"{P}/items/{item_a['id']}/status", json={"status": "in_progress"}).json()["status"] == (
        "in_progress"
    )
    moved = client.post(f"{P}/items/{item_a['id']}/status", json={"status": "migrated", "cloud_id": shop["cloud"]})
    assert moved.status_code == 200
    with db.session() as s:
        system = s.get(InformationSystem, shop["a"])
        assert system is not None and system.status == SystemStatus.MIGRATED and system.cloud_id == shop["cloud"]
    assert client.post(f"{P}/lookback").status_code == 403
    as_role(client, token_for(Role.CLOUD_CHIEF_OFFICE))
    assert client.post(f"{P}/lookback", params={"on": date.today().isoformat()}).json()["total"] == 0
    assert "plan_lookback" in services(client.app).get(JOBS).tasks  # type: ignore[arg-type]  # the daily 回头看
