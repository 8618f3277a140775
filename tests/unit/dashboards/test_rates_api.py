"""Rates API: reports, as-of, drill-down, and what scoped roles may see."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import Database
from core.enums import Role
from inventory.models import Unit
from tests import known_rates


@pytest.fixture
def known(db: Database) -> Database:
    with db.session() as s:
        known_rates.build(s)
    return db


def unit_id(db: Database, code: str) -> int:
    with db.session() as s:
        found = s.scalar(select(Unit.id).where(Unit.code == code))
    assert found is not None
    return found


def test_all_rates_need_a_token(client: TestClient, known: Database) -> None:
    assert client.get("/api/v1/rates").status_code == 401


def test_all_rates_now_and_as_of(admin: TestClient, known: Database) -> None:
    now = admin.get("/api/v1/rates")
    assert now.status_code == 200
    by_key = {r["key"]: r for r in now.json()}
    assert set(by_key) == {
        "systems_migrated",
        "networks_interconnected",
        "items_docked",
        "horizontal_access",
        "cloud_network_utilisation",
    }
    sm = by_key["systems_migrated"]
    assert (sm["overall"]["numerator"], sm["overall"]["denominator"]) == (5, 7)
    assert sm["excluded_counts"] == {"classified": 1, "retired": 2, "exempt": 1}
    assert sm["label_zh"] == "非涉密信息系统迁移上云率"
    util = admin.get("/api/v1/rates/cloud_network_utilisation", params={"as_of": "2022-06-01T00:00:00Z"}).json()
    assert (util["overall"]["numerator"], util["overall"]["denominator"]) == (6, 12)
    assert util["overall"]["target"] == 0.7
    assert [t["value"] for t in util["targets"]] == [0.7, 0.9, 1.0]
    cities = {b["key"]: b["label"] for b in util["breakdowns"] if b["dimension"] == "city"}
    assert cities == {"450000": "自治区本级", "450100": "南宁市", "450300": "桂林市"}


def test_as_of_accepts_a_date_and_rejects_nonsense(admin: TestClient, known: Database) -> None:
    day = admin.get("/api/v1/rates/systems_migrated", params={"as_of": "2022-06-01"})
    assert day.status_code == 200
    assert (day.json()["overall"]["numerator"], day.json()["overall"]["denominator"]) == (4, 9)
    assert admin.get("/api/v1/rates", params={"as_of": "last month"}).status_code == 422


def test_unknown_rate_is_404(admin: TestClient, known: Database) -> None:
    r = admin.get("/api/v1/rates/zombies")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert admin.get("/api/v1/rates/zombies/items").status_code == 404


def test_items_drill_down(admin: TestClient, known: Database) -> None:
    r = admin.get(
        "/api/v1/rates/systems_migrated/items", params={"part": "excluded", "city": "450100", "limit": 10}
    ).json()
    assert r["total"] == 1 and r["items"][0]["code"] == "S6"
    assert r["items"][0]["decided_by"] == "李四" and r["items"][0]["reason"] == "exempt"
    past = admin.get(
        "/api/v1/rates/systems_migrated/items",
        params={"part": "denominator", "unit": "GU", "as_of": "2022-06-01T00:00:00+00:00"},
    ).json()
    assert {i["code"] for i in past["items"]} == {"S9", "S10", "S12"}
    lv = admin.get("/api/v1/rates/horizontal_access/items", params={"part": "numerator", "level": "region"}).json()
    assert {i["code"] for i in lv["items"]} == {"RU1", "RU2"}
    assert admin.get("/api/v1/rates/systems_migrated/items", params={"part": "all"}).status_code == 422
    assert admin.get("/api/v1/rates/systems_migrated/items", params={"limit": 0}).status_code == 422


def test_scoped_role_sees_aggregates_but_only_its_own_units(
    client: TestClient, known: Database, token_for: Callable[..., str]
) -> None:
    client.headers["Authorization"] = f"Bearer {token_for(Role.SUB_CLOUD_CHIEF, unit_id(known, 'NU'))}"
    sm = client.get("/api/v1/rates/systems_migrated").json()
    units = {b["key"] for b in sm["breakdowns"] if b["dimension"] == "unit"}
    assert units == {"NU", "KU", "TU"}  # NU's subtree
    assert (sm["overall"]["numerator"], sm["overall"]["denominator"]) == (5, 7)
    assert {b["key"] for b in sm["breakdowns"] if b["dimension"] == "city"} == {"450000", "450100", "450300"}
    den = client.get("/api/v1/rates/systems_migrated/items", params={"part": "denominator"}).json()
    assert {i["code"] for i in den["items"]} == {"S7", "S8", "S11"} and den["total"] == 3
    other = client.get("/api/v1/rates/systems_migrated/items", params={"unit": "RU1"}).json()
    assert other["total"] == 0 and other["items"] == []


def test_auditor_reads_everything(client: TestClient, known: Database, token_for: Callable[..., str]) -> None:
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    den = client.get("/api/v1/rates/systems_migrated/items", params={"part": "denominator"}).json()
    assert den["total"] == 7
