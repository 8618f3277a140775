"""Every time the service returns carries its offset, on every GET route of the app, SQLite and PostgreSQL.

SQLite hands datetimes back without a zone; a route that formats them itself would answer
`2024-03-01T02:00:00` (no offset), which a client reads as its own local time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.db import Database
from core.enums import Role
from core.identity import create_token
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
BUNDLE = {
    "servers": [{"name": "web", "flavor": "m1.small", "image": "cirros", "vcpus": 2, "ram_mb": 4096, "disk_gb": 20}],
    "networks": [{"name": "net", "cidr": "10.20.0.0/24"}],
}


@pytest.fixture
def filled(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, int]]]:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        b["system"] = inv.system(b["unit"], room_id=b["room"], status_changed_at="2024-01-01T08:00:00")
        b["node"] = inv.node(b["region"], address="127.64.0.1", state="up", state_since="2024-01-02T00:00:00")
        token = create_token(s, "offsets-admin", Role.ADMIN)
    app = create_app(
        Settings(database_url=any_db.url, data_dir=tmp_path / "d", scheduler_enabled=False),
        registry=CollectorRegistry(),
        database=any_db,
    )
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        created = client.post("/api/v1/requests", json={"title": "扩容", "unit_id": b["unit"], "bundle": BUNDLE})
        assert created.status_code == 201, created.text
        b["request"] = created.json()["id"]
        assert client.post("/api/v1/plan/waves", json={"name": "p"}).status_code == 200
        yield client, b


def naive_times(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [f"{path}={value}"] if TIME.match(value) and not OFFSET.search(value) else []
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in naive_times(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in naive_times(v, f"{path}[{i}]")]
    return []


def test_every_get_route_returns_times_with_offsets(filled: tuple[TestClient, dict[str, int]]) -> None:
    client, b = filled
    app: Any = client.app
    ids = {"obj_id": b["system"], "request_id": b["request"], "unit_id": b["unit"], "key": "systems_migrated"}
    checked, found = 0, []
    for path, item in app.openapi()["paths"].items():
        if "get" not in item:
            continue
        if "{obj_id}" in path and "/systems/" not in path:
            continue  # one kind is enough for the per-object routes
        try:
            url = path.format(**ids)
        except KeyError:
            continue  # a parameter we have no value for (month, plan id, …)
        resp = client.get(url)
        if resp.status_code != 200 or "json" not in resp.headers.get("content-type", ""):
            continue
        checked += 1
        found += [f"GET {url} {t}" for t in naive_times(resp.json())]
    assert checked >= 20
    assert not found, "\n".join(found)


def test_inputs_without_offset_are_beijing_time(filled: tuple[TestClient, dict[str, int]]) -> None:
    client, b = filled
    system = client.get(f"/api/v1/inventory/systems/{b['system']}").json()
    assert system["status_changed_at"] == "2024-01-01T00:00:00+00:00"  # 08:00 Beijing
    node = client.get("/api/v1/collectors/nodes").json()
    assert [n["state_since"] for n in node] == ["2024-01-01T16:00:00+00:00"]
    patched = client.patch(
        f"/api/v1/inventory/systems/{b['system']}", json={"status_changed_at": "2024-06-30T23:59:59+08:00"}
    )
    assert patched.json()["status_changed_at"] == "2024-06-30T15:59:59+00:00"
    # the rates as of a naive time = the same instant with +08:00 (and not with +00:00)
    naive = client.get("/api/v1/rates/systems_migrated", params={"as_of": "2024-01-01T00:00:00"}).json()
    aware = client.get("/api/v1/rates/systems_migrated", params={"as_of": "2024-01-01T00:00:00+08:00"}).json()
    assert naive["at"] == aware["at"] == "2023-12-31T16:00:00+00:00"
