"""The inventory API for every kind: CRUD, list parameters, bulk all-or-nothing, error bodies and query counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from core.audit import ChangeContext
from core.db import Database
from core.models import ChangeLog
from core.wiring import services
from dashboards.metrics import RATES_EXPORTER
from inventory import service
from inventory.kinds import KINDS
from inventory.models import InformationSystem
from tests.builders import Inv

API = "/api/v1/inventory"


def assert_error(resp: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Every failure has the same body; `field` must be named in one of its details."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], list)
    if field is not None:
        assert any(field in (d.get("field") or "") for d in err["details"]), err
    out: dict[str, Any] = err
    return out


def skeleton(db: Database) -> dict[str, int]:
    """Inv.basic plus one object of every other kind a create payload may reference."""
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        b["network"] = inv.network(b["unit"])
        b["system"] = inv.system(b["unit"], room_id=b["room"])
        b["vertical"] = inv.add(
            "vertical_systems", name="区垂系统", scope="region", owner_unit_id=b["unit"], region_id=b["region"]
        )
        b["node"] = inv.node(b["region"], address="127.64.0.1")
        for kind, code in (
            ("rooms", "ROOM-NEW"),
            ("clouds", "C-NEW"),
            ("internet_exits", "X-NEW"),
            ("networks", "N-NEW"),
            ("networks", "B0"),
            ("networks", "B1"),
        ):
            inv.allow(kind, code)  # the office's 准予新建 determination the create payloads need
    return b


def payloads(b: dict[str, int]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """kind → (create body, patch body)."""
    return {
        "regions": ({"code": "450103", "name": "青秀区", "level": "county", "parent_id": b["city"]}, {"name": "青秀"}),
        "units": (
            {"code": "U-NEW", "name": "新单位", "level": "city", "region_id": b["city"]},
            {"cloud_chief": "张三"},
        ),
        "rooms": (
            {"code": "ROOM-NEW", "name": "新机房", "owner_unit_id": b["unit"], "region_id": b["region"]},
            {"racks": 10},
        ),
        "clouds": (
            {"code": "C-NEW", "name": "子云", "kind": "sub_cloud", "region_id": b["region"]},
            {"managed": False},
        ),
        "internet_exits": (
            {"code": "X-NEW", "name": "出口", "owner_unit_id": b["unit"], "region_id": b["region"]},
            {"status": "closed"},
        ),
        "networks": (
            {"code": "N-NEW", "name": "专网", "owner_unit_id": b["unit"], "level": "region"},
            {"status": "interconnected"},
        ),
        "systems": (
            {"code": "S-NEW", "name": "系统", "owner_unit_id": b["unit"], "hosting": "room", "room_id": b["room"]},
            {"status": "in_progress", "depends_on_ids": [b["system"]]},
        ),
        "vertical_systems": (
            {"code": "V-NEW", "name": "垂直", "scope": "city", "owner_unit_id": b["unit"], "region_id": b["city"]},
            {"classified": True},
        ),
        "service_items": (
            {"code": "I-NEW", "name": "事项", "vertical_system_id": b["vertical"]},
            {"docking_status": "docked"},
        ),
        "extranet_nodes": (
            {"code": "EN-NEW", "name": "节点", "level": "city", "region_id": b["city"], "parent_id": b["node"]},
            {"address": "127.64.1.1"},
        ),
        "devices": (
            {
                "code": "D-NEW",
                "name": "设备",
                "node_id": b["node"],
                "vendor": "Huawei",
                "device_type": "huawei",
                "mgmt_address": "127.64.0.11",
            },
            {"ssh_port": 2222},
        ),
        "node_access": ({"code": "NA-NEW", "unit_id": b["unit"], "node_id": b["node"]}, {"status": "disconnected"}),
        "determinations": (
            {
                "code": "DET-NEW",
                "subject_kind": "system",
                "subject_id": b["system"],
                "decision": "exempt",
                "reason": "有特殊规定",
                "decided_by": "office",
                "decided_on": "2024-01-02",
            },
            {"review_on": "2025-01-02"},
        ),
    }


def test_payloads_cover_every_kind() -> None:
    assert set(payloads(dict.fromkeys(["city", "region", "unit", "room", "system", "vertical", "node"], 1))) == set(
        KINDS
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_create_get_list_patch_history_delete(kind: str, admin: TestClient, db: Database) -> None:
    create, patch = payloads(skeleton(db))[kind]
    resp = admin.post(f"{API}/{kind}", json=create)
    assert resp.status_code == 201, resp.text
    obj = resp.json()
    assert {k: obj[k] for k in create} == create
    assert admin.get(f"{API}/{kind}/{obj['id']}").json()["code"] == create["code"]
    listed = admin.get(f"{API}/{kind}", params={"code": create["code"]}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == obj["id"]

    patched = admin.patch(f"{API}/{kind}/{obj['id']}", json=patch)
    assert patched.status_code == 200, patched.text
    assert {k: patched.json()[k] for k in patch} == patch
    history = admin.get(f"{API}/{kind}/{obj['id']}/changes").json()
    assert [c["action"] for c in history["items"]] == ["update", "create"]

    assert admin.delete(f"{API}/{kind}/{obj['id']}").status_code == 204
    assert_error(admin.get(f"{API}/{kind}/{obj['id']}"), 404, "not_found")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wrong_types_are_422_naming_the_field(kind: str, admin: TestClient, db: Database) -> None:
    create, _ = payloads(skeleton(db))[kind]
    # A reference column where there is one, else the determination's subject id: both must be integers.
    ref = next((c.field for c in KINDS[kind].columns if c.ref), "subject_id")
    assert_error(admin.post(f"{API}/{kind}", json={**create, ref: "not-a-number"}), 422, "validation_failed", ref)
    assert_error(admin.post(f"{API}/{kind}", json={**create, "colour": "red"}), 422, "validation_failed", "colour")
    assert_error(admin.get(f"{API}/{kind}", params={"id": "abc"}), 422, "validation_failed", "id")
    with db.session() as s:
        model: Any = KINDS[kind].model
        assert s.scalar(select(func.count()).where(model.code == create["code"])) == 0


def test_rule_violation_and_conflict_bodies(admin: TestClient, db: Database) -> None:
    b = skeleton(db)
    body = {"code": "S-C", "name": "涉密", "owner_unit_id": b["unit"], "classified": True}
    err = assert_error(
        admin.post(f"{API}/systems", json={**body, "hosting": "gov_cloud", "cloud_id": b["cloud"]}),
        422,
        "rule_violation",
        "hosting",
    )
    assert any(d["field"] == "cloud_id" for d in err["details"])
    dup = {"code": "450000", "name": "重复", "level": "region"}
    assert_error(admin.post(f"{API}/regions", json=dup), 409, "conflict", "code")
    assert_error(admin.delete(f"{API}/rooms/{b['room']}"), 409, "conflict")


def systems_fixture(db: Database, n: int = 30) -> dict[str, int]:
    b = skeleton(db)
    with db.session() as s:
        rows = [
            {
                "code": f"LST{i:03d}",
                "name": f"系统{chr(0x4E00 + (i * 7) % 50)}{i:03d}",
                "owner_unit_id": b["unit"] if i % 3 else b["county_unit"],
                "hosting": "gov_cloud" if i % 2 else "room",
                "cloud_id": b["cloud"] if i % 2 else None,
                "room_id": None if i % 2 else b["room"],
                "status": "migrated" if i % 2 else "not_migrated",
                "vcpus": i,
            }
            for i in range(n)
        ]
        service.create_many(s, "systems", rows, ChangeContext(actor="t"))
    return b


def test_list_filters_sort_and_pagination(admin: TestClient, db: Database) -> None:
    b = systems_fixture(db)

    def get(**params: Any) -> dict[str, Any]:
        resp = admin.get(f"{API}/systems", params=params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    migrated = get(status="migrated", limit=1000)
    assert migrated["total"] == 15 and all(i["status"] == "migrated" for i in migrated["items"])
    assert get(status__in="migrated,not_migrated")["total"] == 31  # 30 + the skeleton's system
    assert {i["vcpus"] for i in get(vcpus__gte=25)["items"]} == {25, 26, 27, 28, 29}
    assert get(owner_unit_id=b["county_unit"])["total"] == 10
    assert get(cloud_id__isnull="true")["total"] == 16
    assert get(q="LST02")["total"] == 10
    by_name = [i["name"] for i in get(sort="-name", limit=1000)["items"]]
    assert by_name == sorted(by_name, reverse=True)
    page1, page2 = get(sort="vcpus", limit=10, offset=0), get(sort="vcpus", limit=10, offset=10)
    assert page1["total"] == page2["total"] == 31 and page1["limit"] == 10 and page2["offset"] == 10
    assert not {i["id"] for i in page1["items"]} & {i["id"] for i in page2["items"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"sort": "nope"}, "sort"),
        ({"colour": "red"}, "colour"),
        ({"status__like": "m"}, "status__like"),
        ({"vcpus__gte": "many"}, "vcpus"),
        ({"status": "flying"}, "status"),
        ({"as_of": "yesterday"}, "as_of"),
    ],
)
def test_bad_list_params_are_422_naming_the_param(admin: TestClient, params: dict[str, str], field: str) -> None:
    assert_error(admin.get(f"{API}/systems", params=params), 422, "validation_failed", field)


def test_bulk_is_all_or_nothing(admin: TestClient, db: Database) -> None:
    b = skeleton(db)
    good = [{"code": f"B{i}", "name": "批量", "owner_unit_id": b["unit"], "level": "region"} for i in range(2)]
    bad = {
        "code": "B9",
        "name": "涉密",
        "owner_unit_id": b["unit"],
        "level": "region",
        "classified": True,
        "status": "migrated",
    }
    with db.session() as s:
        before = (
            s.scalar(select(func.count()).select_from(ChangeLog)),
            s.scalar(select(func.count()).select_from(KINDS["networks"].model)),
        )
    err = assert_error(
        admin.post(
            f"{API}/networks/bulk", json={"create": [*good, bad], "update": [{"id": b["network"], "name": "改"}]}
        ),
        422,
        "validation_failed",
        "create[2]",
    )
    assert "nothing was written" in err["message"]
    with db.session() as s:
        after = (
            s.scalar(select(func.count()).select_from(ChangeLog)),
            s.scalar(select(func.count()).select_from(KINDS["networks"].model)),
        )
    assert after == before
    assert admin.get(f"{API}/networks/{b['network']}").json()["name"] != "改"
    ok = admin.post(f"{API}/networks/bulk", json={"create": good, "update": [{"id": b["network"], "name": "改"}]})
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["created"]) == 2 and ok.json()["updated"] == 1
    assert admin.get(f"{API}/networks", params={"code__in": "B0,B1"}).json()["total"] == 2


def test_list_as_of_reads_the_past(admin: TestClient, db: Database) -> None:
    b = skeleton(db)
    with db.session() as s:
        inv = Inv(s)
        sid = inv.system(b["unit"], room_id=b["room"], code="OLD", at=datetime(2022, 1, 1, tzinfo=UTC))
        inv.set(
            "systems",
            sid,
            at=datetime(2023, 6, 1, tzinfo=UTC),
            hosting="gov_cloud",
            cloud_id=b["cloud"],
            status="migrated",
        )
    past = admin.get(f"{API}/systems", params={"as_of": "2022-12-31T23:59:59+08:00"}).json()
    assert past["as_of"].startswith("2022-12-31")
    assert [(i["code"], i["status"]) for i in past["items"]] == [("OLD", "not_migrated")]
    now = admin.get(f"{API}/systems", params={"code": "OLD"}).json()
    assert now["items"][0]["status"] == "migrated"
    assert admin.get(f"{API}/systems", params={"as_of": "2021-01-01T00:00:00Z"}).json()["total"] == 0


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_list_uses_a_fixed_number_of_queries(admin: TestClient, db: Database) -> None:
    b = skeleton(db)
    with db.session() as s:
        ctx = ChangeContext(actor="t")
        net = Inv(s).network(b["unit"])
        rows = [
            {
                "code": f"Q{i:03d}",
                "name": "系统",
                "owner_unit_id": b["unit"],
                "hosting": "room",
                "room_id": b["room"],
                "depends_on_ids": [b["system"]],
                "network_ids": [net],
                "room_ids": [b["room"]],
            }
            for i in range(220)
        ]
        service.create_many(s, "systems", rows, ctx)
    exporter = services(admin.app).get(RATES_EXPORTER)  # type: ignore[arg-type]
    for _ in range(300):  # the background rates recompute shares the engine: let its first run finish first
        if exporter.collector.snapshot is not None:
            break
        time.sleep(0.05)
    counts = {}
    for limit in (10, 200):
        with count_queries(db) as statements:
            resp = admin.get(f"{API}/systems", params={"limit": limit})
        assert resp.status_code == 200 and len(resp.json()["items"]) == limit
        assert all(i["network_ids"] == [net] for i in resp.json()["items"] if i["code"].startswith("Q"))
        counts[limit] = len(
            [st for st in statements if not st.lstrip().upper().startswith(("PRAGMA", "BEGIN", "ROLLBACK", "COMMIT"))]
        )
    assert counts[10] == counts[200], counts
    assert counts[200] <= 10, counts
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InformationSystem)) == 221
