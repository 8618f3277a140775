"""Import/export/template over HTTP: reports, 413/422/403, scope, and nothing written on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from inventory.io.api import get_max_upload_bytes
from inventory.models import InformationSystem, Room, Unit
from tests.builders import Inv

URL = "/api/v1/inventory"


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        inv.system(b["unit"], room_id=b["room"], code="SYS-A", vcpus=4)
        inv.system(b["county_unit"], room_id=b["room"], code="SYS-K")
        codes = {k: u.code for k in ("unit", "county_unit") if (u := s.get(Unit, b[k])) is not None}
        room = s.get(Room, b["room"])
        assert room is not None
        return {**b, "unit_code": codes["unit"], "county_code": codes["county_unit"], "room_code": room.code}


def counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(InformationSystem)) or 0,
            s.scalar(select(func.count()).select_from(ChangeLog)) or 0,
        )


def systems_csv(*rows: str) -> bytes:
    return ("系统编码,系统名称,所属单位编码,所在机房编码,vCPU数\n" + "\n".join(rows) + "\n").encode()


def upload(client: TestClient, kind: str, data: bytes, name: str = "f.csv", **params: Any) -> Any:
    return client.post(f"{URL}/{kind}/import", params=params, files={"file": (name, data, "text/csv")})


def test_dry_run_over_http_reports_and_writes_nothing(admin: TestClient, db: Database, world: dict[str, Any]) -> None:
    before = counts(db)
    data = systems_csv(
        f"SYS-A,改名,{world['unit_code']},{world['room_code']},4", f"NEW,新,{world['unit_code']},{world['room_code']},"
    )
    r = upload(admin, "systems", data, dry_run="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and body["applied"] is False
    assert body["counts"] == {"create": 1, "update": 1, "unchanged": 0, "error": 0}
    changes = body["rows"][0]["changes"]
    assert set(changes) == {"name"} and changes["name"]["after"] == "改名" and changes["name"]["before"] != "改名"
    assert counts(db) == before


def test_apply_over_http_writes_with_the_token_as_actor(
    client: TestClient, db: Database, world: dict[str, Any], token_for: Callable[..., str]
) -> None:
    client.headers["Authorization"] = f"Bearer {token_for(Role.CLOUD_OPERATOR, name='ops-1')}"
    r = upload(
        client, "systems", systems_csv(f"NEW,新,{world['unit_code']},{world['room_code']},8"), message="批量导入"
    )
    assert r.status_code == 200, r.text
    assert r.json()["applied"] is True
    with db.session() as s:
        entry = s.scalars(select(ChangeLog).where(ChangeLog.object_code == "NEW")).one()
        assert (entry.actor, entry.actor_role, entry.message) == ("ops-1", "cloud_operator", "批量导入")
        assert entry.request_id


def test_bad_rows_give_422_naming_row_and_field(admin: TestClient, db: Database, world: dict[str, Any]) -> None:
    before = counts(db)
    data = systems_csv(
        f"GOOD,好,{world['unit_code']},{world['room_code']},2",
        f"BAD,坏,{world['unit_code']},{world['room_code']},abc",
        f"REF,坏,GHOST,{world['room_code']},2",
    )
    r = upload(admin, "systems", data)
    assert r.status_code == 422
    body = r.json()
    where = {(d["row"], d["field"]) for d in body["error"]["details"]}
    assert {(3, "vcpus"), (4, "owner_unit_id")} <= where
    assert body["error"]["code"] == "validation_failed" and body["report"]["counts"]["error"] == 2
    assert counts(db) == before


def test_rule_violation_over_http_writes_nothing(admin: TestClient, db: Database, world: dict[str, Any]) -> None:
    before = counts(db)
    data = (
        "系统编码,系统名称,所属单位编码,所在机房编码,是否涉密,迁移状态\n"
        f"SYS-A,改,{world['unit_code']},{world['room_code']},否,not_migrated\n"
        f"SYS-K,涉密,{world['county_code']},{world['room_code']},是,migrated\n"
    ).encode()
    r = upload(admin, "systems", data)
    assert r.status_code == 422
    assert any(d["row"] == 3 and d["field"] == "status" for d in r.json()["error"]["details"])
    assert counts(db) == before


def test_oversized_upload_is_413(admin: TestClient, db: Database, world: dict[str, Any]) -> None:
    before = counts(db)
    admin.app.dependency_overrides[get_max_upload_bytes] = lambda: 200  # type: ignore[attr-defined]
    rows = [f"S{i},系统,{world['unit_code']},{world['room_code']},1" for i in range(20)]
    r = upload(admin, "systems", systems_csv(*rows))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert counts(db) == before


def test_wrong_types_in_the_request_are_422(admin: TestClient, world: dict[str, Any]) -> None:
    data = systems_csv(f"N,新,{world['unit_code']},{world['room_code']},1")
    assert upload(admin, "systems", data, dry_run="maybe").status_code == 422
    assert upload(admin, "no_such_kind", data).status_code == 422
    missing = admin.post(f"{URL}/systems/import", data={"other": "x"})
    assert missing.status_code == 422 and missing.json()["error"]["details"][0]["field"] == "file"
    assert admin.get(f"{URL}/systems/export", params={"format": "pdf"}).status_code == 422
    broken = upload(admin, "systems", b"PK\x03\x04garbage", name="f.xlsx")
    assert broken.status_code == 422 and "XLSX" in broken.json()["error"]["message"]


def test_auditor_import_is_forbidden(
    client: TestClient, db: Database, world: dict[str, Any], token_for: Callable[..., str]
) -> None:
    before = counts(db)
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    r = upload(client, "systems", systems_csv(f"N,新,{world['unit_code']},{world['room_code']},1"), dry_run="true")
    assert r.status_code == 403
    assert counts(db) == before


def test_department_user_imports_only_inside_its_unit(
    client: TestClient, db: Database, world: dict[str, Any], token_for: Callable[..., str]
) -> None:
    before = counts(db)
    client.headers["Authorization"] = f"Bearer {token_for(Role.DEPARTMENT_USER, world['county_unit'])}"
    mine = f"MINE,本单位,{world['county_code']},{world['room_code']},1"
    theirs = f"THEIRS,别的单位,{world['unit_code']},{world['room_code']},1"
    r = upload(client, "systems", systems_csv(mine, theirs))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    update_other = upload(
        client, "systems", systems_csv(f"SYS-A,改别人的,{world['county_code']},{world['room_code']},4")
    )
    assert update_other.status_code == 403
    with db.session() as s:  # the builder numbers names process-wide, so read it
        other_name = s.scalars(select(InformationSystem.name).where(InformationSystem.code == "SYS-A")).one()
    assert other_name not in update_other.text  # nothing of the other unit's object (its name) comes back
    assert counts(db) == before
    ok = upload(client, "systems", systems_csv(mine))
    assert ok.status_code == 200 and ok.json()["counts"]["create"] == 1


def test_export_is_scoped_and_reimports_to_no_change(
    client: TestClient, admin: TestClient, world: dict[str, Any], token_for: Callable[..., str]
) -> None:
    full = admin.get(f"{URL}/systems/export", params={"format": "csv"})
    assert full.status_code == 200 and full.headers["content-type"].startswith("text/csv")
    assert "attachment" in full.headers["content-disposition"]
    text = full.content.decode("utf-8-sig")
    assert "SYS-A" in text and "SYS-K" in text
    again = upload(admin, "systems", full.content, dry_run="true")
    assert again.json()["counts"] == {"create": 0, "update": 0, "unchanged": 2, "error": 0}
    xlsx = admin.get(f"{URL}/systems/export")
    assert xlsx.content.startswith(b"PK")
    assert upload(admin, "systems", xlsx.content, name="s.xlsx", dry_run="true").json()["counts"]["unchanged"] == 2
    dept = token_for(Role.DEPARTMENT_USER, world["county_unit"])
    scoped = admin.get(f"{URL}/systems/export", params={"format": "csv"}, headers={"Authorization": f"Bearer {dept}"})
    text = scoped.content.decode("utf-8-sig")
    assert "SYS-K" in text and "SYS-A" not in text


def test_templates_download(admin: TestClient) -> None:
    csv = admin.get(f"{URL}/units/template", params={"format": "csv"})
    assert csv.status_code == 200 and csv.content.decode("utf-8-sig").startswith("单位编码,单位名称")
    xlsx = admin.get(f"{URL}/units/template")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert "units-template.xlsx" in xlsx.headers["content-disposition"]
    assert admin.get(f"{URL}/units/template", headers={"Authorization": ""}).status_code == 401


def test_wrong_types_in_the_json_api_name_the_field(admin: TestClient, db: Database, world: dict[str, Any]) -> None:
    before = counts(db)
    one = {"code": "J1", "name": "x", "owner_unit_id": world["unit"], "room_id": world["room"], "vcpus": "abc"}
    r = admin.post(f"{URL}/systems", json=one)
    assert r.status_code == 422
    assert any(d["field"] == "vcpus" and d["value"] == "abc" for d in r.json()["error"]["details"])
    good = {**one, "code": "J2", "vcpus": 2}
    bulk = admin.post(f"{URL}/systems/bulk", json={"create": [good, {**one, "last_access_at": "yesterday"}]})
    assert bulk.status_code == 422
    fields = {d["field"] for d in bulk.json()["error"]["details"]}
    assert {"create[1].vcpus", "create[1].last_access_at"} <= fields
    assert counts(db) == before


def test_formula_like_text_round_trips_through_csv_and_xlsx(
    admin: TestClient, db: Database, world: dict[str, Any]
) -> None:
    """Codes and names starting with = + - @ (and ones that already start with ') re-import to no change."""
    with db.session() as s:
        inv = Inv(s)
        inv.system(world["unit"], room_id=world["room"], code="-SYS9", name="=SUM(A1)")
        inv.system(world["unit"], room_id=world["room"], code="@SYS8", name="'=1")
    before = counts(db)
    csv = admin.get(f"{URL}/systems/export", params={"format": "csv"}).content
    text = csv.decode("utf-8-sig")
    assert "'-SYS9" in text and "'=SUM(A1)" in text and "''=1" in text  # escaped, one quote more than stored
    r = upload(admin, "systems", csv, dry_run="false")
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"create": 0, "update": 0, "unchanged": 4, "error": 0}
    xlsx = admin.get(f"{URL}/systems/export").content
    r = upload(admin, "systems", xlsx, name="s.xlsx", dry_run="false")
    assert r.json()["counts"] == {"create": 0, "update": 0, "unchanged": 4, "error": 0}, r.text
    assert counts(db) == before
