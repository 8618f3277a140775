"""Every route of the app × every role against the one permission table (orchestrator/app/permission_table.py).

Fails when a route has no declared permission, when a role outside the table gets past the gate or writes
anything, when a role inside the table is refused for its role anywhere (table and behaviour disagree), or when
a non-public route answers without a token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, literal, select, text, union_all

from core.db import Base, Database
from core.enums import Role
from core.permissions import PUBLIC
from orchestrator.app.permission_table import PERMISSIONS, permission_for
from tests.builders import Inv

SCOPED = {Role.SUB_CLOUD_CHIEF, Role.DEPARTMENT_USER}
PARAMS = {"kind": "systems", "month": "2024-01", "key": "systems_migrated", "name": "cred-x"}


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for rc in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = rc.original_route
        if isinstance(route, APIRoute):
            out.extend((m, rc.path or route.path) for m in sorted(route.methods or ()))
    return out


def url_for(path: str, ids: dict[str, int]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return PARAMS.get(name, str(ids.get(name, 1)))

    return re.sub(r"\{([a-z_]+)\}", sub, path)


def table_counts(db: Database) -> dict[str, int]:
    """Rows of every table, in one round trip."""
    tables = Base.metadata.sorted_tables
    query = union_all(*(select(literal(t.name), func.count()).select_from(t) for t in tables))
    with db.session() as s:
        return {name: n for name, n in s.execute(query)}


def is_role_refusal(body: dict[str, Any]) -> bool:
    details = body.get("error", {}).get("details") or []
    return any(d.get("field") == "role" for d in details)


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        b = Inv(s).basic()
        s.commit()
    return {"obj_id": b["unit"], "unit_id": b["unit"], "_unit": b["unit"]}


def test_every_route_is_declared(client: TestClient) -> None:
    missing = [f"{m} {p}" for m, p in api_routes(client) if permission_for(m, p) is None]
    assert missing == [], f"routes without a declared permission: {missing}"
    stale = sorted(f"{m} {p}" for (m, p) in PERMISSIONS if (m, p) not in set(api_routes(client)))
    assert stale == [], f"permissions declared for routes that do not exist: {stale}"


def test_no_token_is_401_except_public_routes(client: TestClient, ids: dict[str, int]) -> None:
    for method, path in api_routes(client):
        r = client.request(method, url_for(path, ids), json={})
        if permission_for(method, path) == PUBLIC:
            assert r.status_code != 401, (method, path)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_matrix(
    role: Role, client: TestClient, db: Database, token_for: Callable[..., str], ids: dict[str, int]
) -> None:
    token = token_for(role, ids["_unit"] if role in SCOPED else None)
    headers = {"Authorization": f"Bearer {token}"}
    before = table_counts(db)
    disagreements = []
    for method, path in api_routes(client):
        allowed = permission_for(method, path)
        if allowed == PUBLIC:
            continue
        assert isinstance(allowed, frozenset)
        r = client.request(method, url_for(path, ids), headers=headers, json={})
        body = r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else {}
        if role in allowed:
            if r.status_code in (401, 403) and (r.status_code == 401 or is_role_refusal(body)):
                disagreements.append(f"{method} {path}: table allows {role.value}, got {r.status_code} {body}")
            # a call the table allows may write (that is its job): take a new baseline
            before = table_counts(db)
        else:
            if r.status_code != 403 or not is_role_refusal(body):
                disagreements.append(f"{method} {path}: table refuses {role.value}, got {r.status_code}")
            after = table_counts(db)
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            if changed:
                disagreements.append(f"{method} {path}: refused {role.value} but rows changed {changed}")
    assert disagreements == []


def test_a_refusal_happens_before_the_body_is_read(
    client: TestClient, db: Database, token_for: Callable[..., str]
) -> None:
    """An auditor posting garbage learns only that it may not: no 422 about the body, no 404 about the id."""
    headers = {"Authorization": f"Bearer {token_for(Role.AUDITOR)}"}
    r = client.post("/api/v1/requests/999999/approve", headers=headers, content=b"{not json")
    assert r.status_code == 403
    r = client.post("/api/v1/inventory/systems", headers=headers, json={"code": 1})
    assert r.status_code == 403
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM change_log")).scalar() == 0
