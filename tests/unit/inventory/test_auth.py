"""Who may do what through the API: the role matrix, unit-subtree scope, bad tokens, and tokens never leaking."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.db import Database
from core.enums import Role
from core.errors import Unauthorized
from core.identity import authenticate, create_token
from core.models import ApiToken, ChangeLog
from inventory.access import INVENTORY_WRITE
from tests.builders import Inv
from tests.unit.inventory.test_api import API, assert_error

TokenFor = Callable[..., str]


@pytest.fixture
def inv(db: Database) -> dict[str, int]:
    """Region department `unit` (with a room and a system), city government `city_unit` over county unit."""
    with db.session() as s:
        i = Inv(s)
        b = i.basic()
        i.set("units", b["county_unit"], parent_id=b["city_unit"])
        b["system"] = i.system(b["unit"], room_id=b["room"], code="SYS-REGION")
        b["county_room"] = i.room(b["county_unit"], b["county"])
        b["county_system"] = i.system(b["county_unit"], room_id=b["county_room"], code="SYS-COUNTY")
        b["node"] = i.node(b["region"])
        i.allow("clouds", "C-X")  # the office's 准予新建 determinations for the bodies below
        i.allow("rooms", "R-X")
    return b


def counts(db: Database) -> tuple[int, ...]:
    """Rows in the change log and in every inventory table: a forbidden call changes none of them."""
    from inventory.kinds import KINDS

    models: list[Any] = [ChangeLog, *(k.model for k in KINDS.values())]
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in models)


def bodies(b: dict[str, int]) -> dict[str, dict[str, Any]]:
    return {
        "clouds": {"code": "C-X", "name": "云", "kind": "sub_cloud", "region_id": b["region"]},
        "extranet_nodes": {
            "code": "EN-X",
            "name": "节点",
            "level": "city",
            "region_id": b["city"],
            "parent_id": b["node"],
        },
        "systems_region": {
            "code": "S-R",
            "name": "系统",
            "owner_unit_id": b["unit"],
            "hosting": "room",
            "room_id": b["room"],
        },
        "systems_county": {
            "code": "S-C",
            "name": "系统",
            "owner_unit_id": b["county_unit"],
            "hosting": "room",
            "room_id": b["county_room"],
        },
        "rooms": {"code": "R-X", "name": "机房", "owner_unit_id": b["unit"], "region_id": b["region"]},
        "determinations": {
            "code": "D-X",
            "subject_kind": "system",
            "subject_id": b["system"],
            "decision": "exempt",
            "reason": "有特殊规定",
            "decided_by": "office",
            "decided_on": "2024-01-01",
        },
    }


# (role, unit the token is scoped to, kind, body key) for calls that must succeed / be refused.
ALLOWED = [
    (Role.ADMIN, None, "clouds", "clouds"),
    (Role.CLOUD_CHIEF_OFFICE, None, "determinations", "determinations"),
    (Role.SUB_CLOUD_CHIEF, "city_unit", "systems", "systems_county"),
    (Role.CLOUD_OPERATOR, None, "clouds", "clouds"),
    (Role.NETWORK_ADMIN, None, "extranet_nodes", "extranet_nodes"),
    (Role.DEPARTMENT_USER, "unit", "systems", "systems_region"),
]
FORBIDDEN = [
    (Role.SUB_CLOUD_CHIEF, "city_unit", "clouds", "clouds"),
    (Role.SUB_CLOUD_CHIEF, "city_unit", "systems", "systems_region"),  # outside its subtree
    (Role.CLOUD_OPERATOR, None, "extranet_nodes", "extranet_nodes"),
    (Role.NETWORK_ADMIN, None, "systems", "systems_region"),
    (Role.DEPARTMENT_USER, "unit", "rooms", "rooms"),
    (Role.DEPARTMENT_USER, "county_unit", "systems", "systems_region"),
    (Role.AUDITOR, None, "systems", "systems_region"),
    (Role.AUDITOR, None, "determinations", "determinations"),
]


def as_role(client: TestClient, token_for: TokenFor, b: dict[str, int], role: Role, unit: str | None) -> TestClient:
    client.headers["Authorization"] = f"Bearer {token_for(role, b[unit] if unit else None)}"
    return client


@pytest.mark.parametrize(("role", "unit", "kind", "body"), ALLOWED)
def test_role_may(
    client: TestClient, token_for: TokenFor, inv: dict[str, int], role: Role, unit: str | None, kind: str, body: str
) -> None:
    c = as_role(client, token_for, inv, role, unit)
    resp = c.post(f"{API}/{kind}", json=bodies(inv)[body])
    assert resp.status_code == 201, resp.text
    assert c.get(f"{API}/{kind}/{resp.json()['id']}").status_code == 200


@pytest.mark.parametrize(("role", "unit", "kind", "body"), FORBIDDEN)
def test_role_may_not_and_nothing_is_written(
    client: TestClient,
    token_for: TokenFor,
    db: Database,
    inv: dict[str, int],
    role: Role,
    unit: str | None,
    kind: str,
    body: str,
) -> None:
    c = as_role(client, token_for, inv, role, unit)
    before = counts(db)
    assert_error(c.post(f"{API}/{kind}", json=bodies(inv)[body]), 403, "forbidden")
    bulk = c.post(f"{API}/{kind}/bulk", json={"create": [bodies(inv)[body]]})
    if kind in INVENTORY_WRITE[role]:  # allowed kind, outside the unit scope: refused per row
        assert_error(bulk, 422, "validation_failed")
    else:  # the permission table refuses the kind before reading the body
        assert_error(bulk, 403, "forbidden", "role")
    assert counts(db) == before


def test_auditor_reads_everything_but_changes_nothing(
    client: TestClient, token_for: TokenFor, db: Database, inv: dict[str, int]
) -> None:
    c = as_role(client, token_for, inv, Role.AUDITOR, None)
    assert c.get(f"{API}/systems").json()["total"] == 2
    assert c.get(f"{API}/changes").json()["total"] > 0
    before = counts(db)
    assert_error(c.patch(f"{API}/systems/{inv['system']}", json={"name": "改"}), 403, "forbidden")
    assert_error(c.delete(f"{API}/systems/{inv['system']}"), 403, "forbidden")
    assert counts(db) == before


@pytest.mark.parametrize(
    ("role", "unit", "status"),
    [
        (Role.ADMIN, None, 200),
        (Role.CLOUD_CHIEF_OFFICE, None, 200),
        (Role.AUDITOR, None, 200),
        (Role.DEPARTMENT_USER, "unit", 403),
        (Role.SUB_CLOUD_CHIEF, "city_unit", 403),
        (Role.NETWORK_ADMIN, None, 403),
    ],
)
def test_global_change_log_readers(
    client: TestClient, token_for: TokenFor, inv: dict[str, int], role: Role, unit: str | None, status: int
) -> None:
    resp = as_role(client, token_for, inv, role, unit).get(f"{API}/changes")
    if status == 200:
        assert resp.status_code == 200 and resp.json()["total"] > 0
    else:
        assert_error(resp, 403, "forbidden")


def test_scoped_roles_see_only_their_subtree(client: TestClient, token_for: TokenFor, inv: dict[str, int]) -> None:
    c = as_role(client, token_for, inv, Role.SUB_CLOUD_CHIEF, "city_unit")
    assert {i["code"] for i in c.get(f"{API}/systems").json()["items"]} == {"SYS-COUNTY"}
    assert {i["id"] for i in c.get(f"{API}/units").json()["items"]} == {inv["city_unit"], inv["county_unit"]}
    assert c.get(f"{API}/systems/{inv['county_system']}").status_code == 200
    assert_error(c.get(f"{API}/systems/{inv['system']}"), 404, "not_found")
    assert_error(c.get(f"{API}/systems/{inv['system']}/changes"), 404, "not_found")
    assert c.get(f"{API}/systems", params={"as_of": "2100-01-01T00:00:00Z"}).json()["total"] == 1
    # an object outside the subtree is answered as a missing one, whatever the method (no probing of ids)
    assert_error(c.patch(f"{API}/systems/{inv['system']}", json={"name": "越权"}), 404, "not_found")
    assert_error(c.delete(f"{API}/systems/{inv['system']}"), 404, "not_found")
    assert_error(c.patch(f"{API}/systems/99999999", json={"name": "越权"}), 404, "not_found")

    d = as_role(client, token_for, inv, Role.DEPARTMENT_USER, "county_unit")
    assert [i["code"] for i in d.get(f"{API}/systems").json()["items"]] == ["SYS-COUNTY"]
    assert_error(d.get(f"{API}/units/{inv['city_unit']}"), 404, "not_found")
    moved = d.patch(f"{API}/systems/{inv['county_system']}", json={"owner_unit_id": inv["unit"]})
    assert_error(moved, 403, "forbidden")
    assert d.patch(f"{API}/systems/{inv['county_system']}", json={"users_count": 12}).status_code == 200


def test_missing_bad_revoked_and_expired_tokens_are_401(client: TestClient, db: Database, inv: dict[str, int]) -> None:
    with db.session() as s:
        revoked = create_token(s, "revoked", Role.ADMIN)
        expired = create_token(s, "expired", Role.ADMIN, expires_at=datetime.now(UTC) - timedelta(minutes=1))
        valid = create_token(s, "valid", Role.ADMIN, expires_at=datetime.now(UTC) + timedelta(hours=1))
        s.execute(ApiToken.__table__.update().where(ApiToken.name == "revoked").values(revoked=True))  # type: ignore[attr-defined]
    url = f"{API}/systems"
    assert_error(client.get(url), 401, "unauthorized")
    for header in ("Bearer yw_not-a-real-token", f"Bearer {revoked}", f"Bearer {expired}", f"Basic {valid}"):
        resp = client.get(url, headers={"Authorization": header})
        assert_error(resp, 401, "unauthorized")
    assert client.get(url, headers={"Authorization": f"Bearer {valid}"}).status_code == 200


def test_the_token_never_appears_in_responses_or_logs(
    client: TestClient, db: Database, inv: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    with db.session() as s:
        token = create_token(s, "leak-check", Role.DEPARTMENT_USER, inv["unit"])
    caplog.set_level(logging.DEBUG)
    h = {"Authorization": f"Bearer {token}", "X-Request-ID": "leak-check"}
    responses = [
        client.get(f"{API}/systems", headers=h),
        client.get(f"{API}/systems", params={"sort": "nope"}, headers=h),
        client.get(f"{API}/systems/{inv['county_system']}", headers=h),
        client.post(f"{API}/systems", json={"code": "S", "name": "缺单位"}, headers=h),
        client.post(
            f"{API}/rooms", json={"code": "R", "name": "R", "owner_unit_id": inv["unit"], "region_id": 1}, headers=h
        ),
        client.get(f"{API}/changes", headers=h),
        client.get(f"{API}/systems", headers={"Authorization": f"Bearer {token}x"}),
    ]
    assert {r.status_code for r in responses} >= {200, 401, 403, 404, 422}
    for r in responses:
        assert token not in r.text and token[8:] not in r.text, r.text
        assert all(token[8:] not in v for v in r.headers.values())
    assert caplog.records, "the app should have logged the requests"
    assert token[8:] not in caplog.text


def test_a_token_pasted_into_a_query_is_never_echoed_in_the_error(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    token = token_for(Role.ADMIN)
    client.headers["Authorization"] = f"Bearer {token}"
    r = client.get(f"/api/v1/inventory/systems?limit={token}&status={token}")
    assert r.status_code == 422
    assert token not in r.text
    assert "yw_***" in r.text


def test_an_expiry_with_an_offset_is_that_instant_on_every_store(db: Database) -> None:
    """An expiry given as Beijing time (+08:00) a minute ago has passed: SQLite kept its wall clock as UTC, so the
    token lived eight hours too long (review)."""
    beijing = timezone(timedelta(hours=8))
    with db.session() as s:
        past = create_token(s, "past-exp", Role.ADMIN, expires_at=datetime.now(beijing) - timedelta(minutes=1))
        future = create_token(s, "future-exp", Role.ADMIN, expires_at=datetime.now(beijing) + timedelta(minutes=1))
    with db.read_session() as s:
        with pytest.raises(Unauthorized, match="expired"):
            authenticate(s, past)
        assert authenticate(s, future).name == "future-exp"
