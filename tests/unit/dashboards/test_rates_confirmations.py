"""Self-declared completions count only once the office confirms (or the service holds evidence), on SQLite and
PostgreSQL, with the pending list and the confirmation API.

Timeline (UTC): T0 2021-06-01 everything created by the loader (admin); T1 2022-03-01; T2 2023-03-01.
Units: RU (region office), DU (region department). Systems (DU, gov cloud when migrated):
  P1 migrated at T0 by the loader                                  → counts
  P2 set migrated by a department user at T1; renamed by admin at T2 (no status change) → pending, open
  P3 set migrated by a department user at T1; office confirms at T2 → counts from T2
  P4 set migrated by a department user at T1; a gov-cloud request for P4 became active at T1 (evidence) → counts
Networks (DU): N1 set interconnected by a department user at T1 → pending; N2 set interconnected by a network admin
  at T1 → counts.
Systems now 3/4 (P2 open); between T1 and T2 2/4 (P2, P3 open); before T1 1/4. Networks now 1/2.
Pending now: P2, N1; between T1 and T2: P2, P3, N1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.audit import ChangeContext, record_change
from core.db import Database
from core.enums import ChangeAction, Role
from dashboards import confirmations, rates
from dashboards.rates import SELF_DECLARED, RateKey
from orchestrator.requests.models import ResourceRequest
from tests.builders import Inv

T0 = datetime(2021, 6, 1, tzinfo=UTC)
T1 = datetime(2022, 3, 1, tzinfo=UTC)
T2 = datetime(2023, 3, 1, tzinfo=UTC)
BETWEEN = datetime(2022, 6, 1, tzinfo=UTC)
BEFORE = datetime(2021, 12, 1, tzinfo=UTC)
K = RateKey


def build(s: Any) -> dict[str, int]:
    loader = Inv(s, ChangeContext(actor="loader", role="admin"))
    dept = Inv(s, ChangeContext(actor="教育厅信息中心", role="department_user"))
    netadm = Inv(s, ChangeContext(actor="外网管理员", role="network_admin"))
    ids: dict[str, int] = {}
    reg = loader.add("regions", at=T0, code="450000", level="region", name="广西")
    ids["RU"] = loader.add("units", at=T0, code="RU", level="region", region_id=reg, name="云长制办公室")
    du = ids["DU"] = loader.add("units", at=T0, code="DU", level="region", region_id=reg, name="教育厅")
    room = loader.add("rooms", at=T0, code="ROOM", owner_unit_id=du, region_id=reg, name="机房")
    gov = loader.add("clouds", at=T0, code="GOV", kind="gov_cloud", region_id=reg, name="政务云")
    on_cloud = {"status": "migrated", "hosting": "gov_cloud", "cloud_id": gov, "room_id": None}
    ids["P1"] = loader.add("systems", at=T0, code="P1", name="P1", owner_unit_id=du, **on_cloud)
    for code in ("P2", "P3", "P4"):
        ids[code] = loader.add("systems", at=T0, code=code, name=code, owner_unit_id=du, hosting="room", room_id=room)
        dept.set("systems", ids[code], at=T1, **on_cloud)
    for code in ("N1", "N2"):
        ids[code] = loader.add("networks", at=T0, code=code, name=code, owner_unit_id=du, level="region")
    dept.set("networks", ids["N1"], at=T1, status="interconnected")
    netadm.set("networks", ids["N2"], at=T1, status="interconnected")
    loader.set("systems", ids["P2"], at=T2, name="P2 改名")
    confirmations.confirm(s, ChangeContext(actor="李四", role="cloud_chief_office", at=T2), "systems", ids["P3"])
    # evidence: a gov-cloud request for P4, provisioned (status active) at T1 — as the request service records it
    req = ResourceRequest(
        code="RR-P4",
        title="P4",
        unit_id=du,
        system_id=ids["P4"],
        target_hosting="gov_cloud",
        bundle={},
        status="active",
        created_by="教育厅信息中心",
    )
    s.add(req)
    s.flush()
    record_change(
        s,
        ChangeContext(actor="operator", role="cloud_operator", at=T1),
        "resource_requests",
        req.id,
        ChangeAction.DECIDE,
        {"status": "provisioning"},
        {"status": "active"},
        object_code="RR-P4",
    )
    s.commit()
    return ids


@pytest.fixture
def world(any_db: Database) -> Database:
    with any_db.session() as s:
        build(s)
    return any_db


def nd(r: rates.Rate) -> tuple[int, int]:
    return r.numerator, r.denominator


def test_self_declared_completion_counts_only_once_confirmed(world: Database) -> None:
    with world.session() as s:
        now = rates.compute_all(s)
        between = rates.compute(s, K.SYSTEMS_MIGRATED, BETWEEN)
        before = rates.compute(s, K.SYSTEMS_MIGRATED, BEFORE)
        num, _ = rates.items(s, K.SYSTEMS_MIGRATED, "numerator")
        den, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
        nets, _ = rates.items(s, K.NETWORKS_INTERCONNECTED, "denominator")
    assert nd(now[K.SYSTEMS_MIGRATED].overall) == (3, 4)
    assert nd(between.overall) == (2, 4)
    assert nd(before.overall) == (1, 4)
    assert nd(now[K.NETWORKS_INTERCONNECTED].overall) == (1, 2)
    assert nd(now[K.CLOUD_NETWORK_UTILISATION].overall) == (4, 6)
    assert {i["code"] for i in num} == {"P1", "P3", "P4"}
    p2 = next(i for i in den if i["code"] == "P2")
    assert (p2["category"], p2["status"], p2["open_reason"]) == ("open", "migrated", SELF_DECLARED)
    n1 = next(i for i in nets if i["code"] == "N1")
    assert (n1["category"], n1["open_reason"]) == ("open", SELF_DECLARED)


def test_pending_confirmations_now_and_as_of(world: Database) -> None:
    with world.session() as s:
        now = confirmations.pending(s)
        then = confirmations.pending(s, BETWEEN)
    assert [(p["kind"], p["code"]) for p in now] == [("networks", "N1"), ("systems", "P2")]
    assert {p["code"] for p in then} == {"P2", "P3", "N1"}
    p2 = next(p for p in now if p["code"] == "P2")
    assert p2["declared_by"] == "教育厅信息中心" and p2["declared_at"].startswith("2022-03-01T00:00:00")
    assert p2["declared_status"] == "migrated"


def test_confirmation_api_is_for_the_office(client: TestClient, db: Database, token_for: Callable[..., str]) -> None:
    with db.session() as s:
        ids = build(s)
    office = {"Authorization": f"Bearer {token_for(Role.CLOUD_CHIEF_OFFICE)}"}
    dept = {"Authorization": f"Bearer {token_for(Role.DEPARTMENT_USER, ids['DU'])}"}
    assert client.get("/api/v1/rates/confirmations/pending", headers=dept).status_code == 403
    assert client.post(f"/api/v1/rates/confirmations/networks/{ids['N1']}", headers=dept).status_code == 403
    listed = client.get("/api/v1/rates/confirmations/pending", headers=office).json()
    assert [p["code"] for p in listed] == ["N1", "P2"]
    ok = client.post(f"/api/v1/rates/confirmations/networks/{ids['N1']}", headers=office)
    assert ok.status_code == 200 and ok.json()["confirmed"] is True
    again = client.post(f"/api/v1/rates/confirmations/networks/{ids['N1']}", headers=office)
    assert again.status_code == 409
    nets = client.get("/api/v1/rates/networks_interconnected", headers=office).json()["overall"]
    assert (nets["numerator"], nets["denominator"]) == (2, 2)
    assert [p["code"] for p in client.get("/api/v1/rates/confirmations/pending", headers=office).json()] == ["P2"]
    changes = client.get(f"/api/v1/inventory/networks/{ids['N1']}/changes", headers=office).json()
    items = changes if isinstance(changes, list) else changes.get("items", [])
    assert any(c["action"] == "decide" and c["after"]["confirmed"] is True for c in items)
