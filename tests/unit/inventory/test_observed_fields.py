"""Device facts are observations (`KindSpec.observed`): shown live, never part of the recorded state.

A reviewer found the facts a collector stored leaking into the change log (an edit's before/after carried whatever
was last read, so a name change looked like a facts change by the editor) and `as_of` pages that showed them only
when an edit happened to follow a collection; and on SQLite a `+08:00` collection time stored as its wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.models import ChangeLog
from inventory import service
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

API = "/api/v1/inventory/devices"
FACTS = {"hostname": "GX-HW-1", "os_version": "V200R019C10SPC800"}


@pytest.fixture
def device(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Database, int]]:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        node = inv.node(b["region"], address="127.64.0.1")
        dev = service.create(
            s,
            "devices",
            {
                "code": "DEV-1",
                "name": "核心交换机",
                "node_id": node,
                "vendor": "huawei",
                "device_type": "huawei",
                "mgmt_address": "127.64.0.11",
            },
            ChangeContext(actor="setup", role="admin"),
        ).id  # type: ignore[attr-defined]
        # collected at 09:30 Beijing time = 01:30 UTC
        service.set_device_facts(s, dev, FACTS, datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))))
        token = create_token(s, "observed-admin", Role.ADMIN)
    app = create_app(
        Settings(database_url=any_db.url, data_dir=tmp_path / "d", scheduler_enabled=False),
        registry=CollectorRegistry(),
        database=any_db,
    )
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"
    yield client, any_db, dev


def test_facts_show_live_with_the_collection_instant_in_utc(device: tuple[TestClient, Database, int]) -> None:
    client, _, dev = device
    one = client.get(f"{API}/{dev}").json()
    assert one["facts"] == FACTS and one["facts_at"] == "2026-12-01T01:30:00+00:00"
    (item,) = client.get(API).json()["items"]
    assert item["facts"] == FACTS and item["facts_at"] == "2026-12-01T01:30:00+00:00"


def test_an_edit_records_the_device_without_its_facts(device: tuple[TestClient, Database, int]) -> None:
    client, db, dev = device
    r = client.patch(f"{API}/{dev}", json={"name": "汇聚交换机"})
    assert r.status_code == 200, r.text
    with db.read_session() as s:
        entries = s.execute(
            select(ChangeLog.action, ChangeLog.before, ChangeLog.after)
            .where(ChangeLog.kind == "devices", ChangeLog.object_id == dev)
            .order_by(ChangeLog.id)
        ).all()
    assert [str(e.action.value) for e in entries] == ["create", "update"]
    for _, before, after in entries:
        for snap in (before, after):
            assert snap is None or ("facts" not in snap and "facts_at" not in snap)
    assert entries[1].after["name"] == "汇聚交换机" and entries[1].before["name"] == "核心交换机"
    changes = client.get(f"{API}/{dev}/changes").json()["items"]
    assert all("facts" not in str(c.get("diff", c)) for c in changes)


def test_as_of_pages_leave_the_facts_out(device: tuple[TestClient, Database, int]) -> None:
    client, _, dev = device
    assert client.patch(f"{API}/{dev}", json={"name": "汇聚交换机"}).status_code == 200
    page = client.get(API, params={"as_of": "2099-01-01T00:00:00+08:00"}).json()
    (item,) = page["items"]
    assert item["name"] == "汇聚交换机" and "facts" not in item and "facts_at" not in item
