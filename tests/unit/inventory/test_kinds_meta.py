"""GET /api/v1/inventory/kinds describes every field the console's generated forms need, and what the caller writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from core.enums import Role

API = "/api/v1/inventory/kinds"


def _kinds(client: TestClient, token: str) -> dict[str, Any]:
    resp = client.get(API, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return {k["name"]: k for k in resp.json()}


def test_fields_carry_type_required_enum_and_reference(client: TestClient, token_for: Callable[..., str]) -> None:
    kinds = _kinds(client, token_for(Role.CLOUD_CHIEF_OFFICE))
    assert len(kinds) == 13
    systems = kinds["systems"]
    assert (systems["zh"], systems["search_fields"]) == ("信息系统", ["code", "name"])
    cols = {c["field"]: c for c in systems["columns"]}
    assert cols["code"] == {
        "field": "code",
        "zh": "系统编码",
        "en": "code",
        "ref": None,
        "type": "text",
        "required": True,
        "nullable": False,
        "max_length": 40,
        "enum": None,
    }
    assert (cols["owner_unit_id"]["type"], cols["owner_unit_id"]["ref"], cols["owner_unit_id"]["required"]) == (
        "reference",
        "units",
        True,
    )
    assert (cols["room_id"]["type"], cols["room_id"]["required"], cols["room_id"]["nullable"]) == (
        "reference",
        False,
        True,
    )
    assert cols["status"]["type"] == "enum" and not cols["status"]["required"]
    assert cols["status"]["enum"] == [
        {"value": "not_migrated", "zh": "未迁移"},
        {"value": "in_progress", "zh": "迁移中"},
        {"value": "migrated", "zh": "已迁移"},
        {"value": "retired", "zh": "已下线"},
    ]
    assert [cols[f]["type"] for f in ("classified", "vcpus", "memory_gb", "last_access_at", "status_changed_at")] == [
        "boolean",
        "integer",
        "number",
        "date",
        "datetime",
    ]
    assert [c["field"] for c in systems["columns"] if c["required"]] == ["code", "name", "owner_unit_id"]
    links = {lk["field"]: lk for lk in systems["links"]}
    assert (links["depends_on_ids"]["type"], links["depends_on_ids"]["ref"]) == ("references", "systems")
    assert len(links) == 4
    units = {c["field"]: c for c in kinds["units"]["columns"]}
    assert [e["value"] for e in units["level"]["enum"]] == ["region", "city", "county", "township"]
    assert units["level"]["required"] and units["region_id"]["ref"] == "regions"


def test_writable_follows_the_role(client: TestClient, token_for: Callable[..., str]) -> None:
    writable = {
        role: sorted(name for name, k in _kinds(client, token_for(role)).items() if k["writable"])
        for role in (Role.CLOUD_OPERATOR, Role.AUDITOR, Role.ADMIN)
    }
    assert writable[Role.CLOUD_OPERATOR] == ["clouds", "rooms", "systems"]
    assert writable[Role.AUDITOR] == []
    assert len(writable[Role.ADMIN]) == 13


def test_a_request_body_error_reads_chinese_first(client: TestClient, token_for: Callable[..., str], db: Any) -> None:
    """The forms show the API's field errors as they are: a body the route refuses says it Chinese first too."""
    from core.audit import ChangeContext
    from tests.builders import Inv

    with db.session() as s:
        inv = Inv(s, ChangeContext(actor="loader", role="admin"))
        region = inv.add("regions", level="region", name="广西")
        unit = inv.add("units", level="region", region_id=region, name="甲厅")
        system = inv.add("systems", owner_unit_id=unit, name="系统", hosting="other")
        s.commit()
    resp = client.patch(
        f"/api/v1/inventory/systems/{system}",
        json={"vcpus": -1},
        headers={"Authorization": f"Bearer {token_for(Role.CLOUD_CHIEF_OFFICE)}"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["details"] == [
        {"field": "vcpus", "message": "应大于或等于 0 / must be ≥ 0", "value": -1}
    ]
