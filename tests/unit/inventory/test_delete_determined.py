"""Nothing a determination is about can be deleted (its subject is stored by id only, and an id can be given
again to a new object); usage counts are never negative. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from core.db import Database
from core.enums import Role
from core.errors import Conflict, ValidationFailed
from core.identity import create_token
from core.models import ChangeLog
from inventory import service
from inventory.models import DedicatedNetwork, InformationSystem
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

INV = "/api/v1/inventory"


def n_changes(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ChangeLog)) or 0


@pytest.fixture
def admin_api(any_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    with any_db.session() as s:
        token = create_token(s, "admin", Role.ADMIN, None)
    with TestClient(create_app(settings, registry=CollectorRegistry(), database=any_db)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


@pytest.fixture
def shop(any_db: Database) -> dict[str, int]:
    """DS-1 with an exemption in force, DS-2 with a withdrawn keep, DN-1 (network) with a retire, DS-3 none."""
    with any_db.session() as s:
        inv = Inv(s)
        ids = dict(inv.basic())
        ids["s1"] = inv.system(ids["unit"], room_id=ids["room"], code="DS-1")
        ids["s2"] = inv.system(ids["unit"], room_id=ids["room"], code="DS-2")
        ids["s3"] = inv.system(ids["unit"], room_id=ids["room"], code="DS-3")
        ids["n1"] = inv.network(ids["unit"], code="DN-1")
        for code, kind, subject, decision, active in (
            ("DET-EX-1", "system", ids["s1"], "exempt", True),
            ("DET-KP-2", "system", ids["s2"], "keep", False),
            ("DET-RT-N", "network", ids["n1"], "retire", True),
        ):
            inv.add(
                "determinations",
                code=code,
                subject_kind=kind,
                subject_id=subject,
                decision=decision,
                decided_by="office",
                decided_on=date(2024, 1, 10),
                reason="技术认定",
                active=active,
            )
    return ids


def test_the_subject_of_a_determination_cannot_be_deleted(
    any_db: Database, shop: dict[str, int], admin_api: TestClient
) -> None:
    before = n_changes(any_db)
    expected = {
        ("systems", "s1"): "信息系统 DS-1 被技术认定 DET-EX-1 引用，不能删除 / systems DS-1 is still referenced by "
        "determination DET-EX-1",
        ("systems", "s2"): "信息系统 DS-2 被技术认定 DET-KP-2 引用，不能删除 / systems DS-2 is still referenced by "
        "determination DET-KP-2",  # a withdrawn determination is history: it stays about DS-2
        ("networks", "n1"): "业务专网 DN-1 被技术认定 DET-RT-N 引用，不能删除 / networks DN-1 is still referenced by "
        "determination DET-RT-N",
    }
    for (kind, key), message in expected.items():
        with any_db.session() as s, pytest.raises(Conflict) as err:
            service.delete(s, kind, shop[key], Inv(s).ctx)
        assert err.value.message == message
        r = admin_api.delete(f"{INV}/{kind}/{shop[key]}")
        assert (r.status_code, r.json()["error"]["message"]) == (409, message)
    assert n_changes(any_db) == before  # nothing written
    with any_db.session() as s:
        assert s.get(InformationSystem, shop["s1"]) is not None and s.get(InformationSystem, shop["s2"]) is not None
        assert s.get(DedicatedNetwork, shop["n1"]) is not None
    assert admin_api.delete(f"{INV}/systems/{shop['s3']}").status_code == 204  # no determination: deleted
    assert n_changes(any_db) == before + 1


@pytest.mark.parametrize("field", ["users_count", "monthly_visits"])
def test_usage_counts_cannot_be_negative(
    any_db: Database, shop: dict[str, int], admin_api: TestClient, field: str
) -> None:
    before = n_changes(any_db)
    body = {"code": "DS-NEG", "name": "负数", "owner_unit_id": shop["unit"], "hosting": "room", "room_id": shop["room"]}
    r = admin_api.post(f"{INV}/systems", json={**body, field: -1})
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    r = admin_api.patch(f"{INV}/systems/{shop['s3']}", json={field: -5})
    assert r.status_code == 422, r.text
    # counts are never negative (the generated schema, ge=0): the service refuses it too, not only the API
    with any_db.session() as s, pytest.raises(ValidationFailed) as err:
        service.update(s, "systems", shop["s3"], {field: -5}, Inv(s).ctx)
    assert [p.field for p in err.value.problems] == [field]
    assert n_changes(any_db) == before
    r = admin_api.patch(f"{INV}/systems/{shop['s3']}", json={field: 0})  # zero is a count
    assert r.status_code == 200, r.text
