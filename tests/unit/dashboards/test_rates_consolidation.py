"""Consolidation beyond the three rates, over a hand-counted inventory on SQLite and PostgreSQL: rooms and internet
exits consolidated / in scope, clouds under unified management / all clouds; and new infrastructure refused without
the office's 准予新建 determination.

Regions 450000 → 450100 南宁市 → 450102 兴宁区. Units RU (region), NU (city), XU (county). T0 2021-06-01, T1 2023-06-01.
Rooms: R1 RU closed; R2 RU active; R3 RU classified (never counted); R4 NU consolidating; R5 NU active, kept by a
  "keep" determination (exempt); R6 XU active → closed at T1.
  Now 2/4 (R1 R6 of R1 R2 R4 R6); before T1 1/4; classified 1, exempt 1. By unit RU 1/2, NU 0/1, XU 1/1.
Exits: E1 RU consolidated; E2 NU closed; E3 NU active; E4 XU active; E5 XU active, exempt → 2/4, exempt 1.
Clouds: GOV gov cloud (RU); SUB NU managed sub-cloud; IND XU unmanaged industry cloud; LEG no owner, unmanaged sub-cloud,
  brought under unified management at T1 → now 3/4 (open: IND), before T1 2/4.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.errors import RuleViolation
from core.models import ChangeLog
from dashboards import rates
from dashboards.rates import RateKey
from inventory import service
from inventory.models import Region, Room, Unit
from tests.builders import Inv

T0 = datetime(2021, 6, 1, tzinfo=UTC)
T1 = datetime(2023, 6, 1, tzinfo=UTC)
BEFORE_T1 = datetime(2022, 6, 1, tzinfo=UTC)
K = RateKey


def build(s: Any) -> dict[str, int]:
    inv = Inv(s, ChangeContext(actor="loader", role="admin"))
    ids: dict[str, int] = {}

    def add(code: str, kind_name: str, /, **data: Any) -> int:
        ids[code] = inv.add(kind_name, at=T0, code=code, name=code, **data)
        return ids[code]

    reg = add("450000", "regions", level="region")
    nn = add("450100", "regions", level="city", parent_id=reg)
    xn = add("450102", "regions", level="county", parent_id=nn)
    ru = add("RU", "units", level="region", region_id=reg)
    nu = add("NU", "units", level="city", region_id=nn)
    xu = add("XU", "units", level="county", region_id=xn, parent_id=nu)
    for code, unit, region, kw in (
        ("R1", ru, reg, {"status": "closed"}),
        ("R2", ru, reg, {}),
        ("R3", ru, reg, {"classified": True}),
        ("R4", nu, nn, {"status": "consolidating"}),
        ("R5", nu, nn, {}),
        ("R6", xu, xn, {}),
    ):
        add(code, "rooms", owner_unit_id=unit, region_id=region, **kw)
    for code, unit, region, status in (
        ("E1", ru, reg, "consolidated"),
        ("E2", nu, nn, "closed"),
        ("E3", nu, nn, "active"),
        ("E4", xu, xn, "active"),
        ("E5", xu, xn, "active"),
    ):
        add(code, "internet_exits", owner_unit_id=unit, region_id=region, status=status)
    add("GOV", "clouds", kind="gov_cloud", owner_unit_id=ru, region_id=reg)
    add("SUB", "clouds", kind="sub_cloud", owner_unit_id=nu, region_id=nn, managed=True)
    add("IND", "clouds", kind="industry_cloud", owner_unit_id=xu, region_id=xn, managed=False)
    add("LEG", "clouds", kind="sub_cloud", region_id=reg, managed=False)
    for code, kind, subject, decision in (("D-R5", "room", "R5", "keep"), ("D-E5", "exit", "E5", "exempt")):
        inv.add(
            "determinations",
            at=T0,
            code=code,
            subject_kind=kind,
            subject_id=ids[subject],
            decision=decision,
            reason="作为灾备保留",
            decided_by="云长制办公室",
            decided_on="2021-06-01",
        )
    inv.set("rooms", ids["R6"], at=T1, status="closed")
    inv.set("clouds", ids["LEG"], at=T1, managed=True)
    s.commit()
    return ids


@pytest.fixture
def world(any_db: Database) -> Database:
    with any_db.session() as s:
        build(s)
    return any_db


def nd(r: rates.Rate) -> tuple[int, int]:
    return r.numerator, r.denominator


def test_rooms_exits_and_clouds_now_and_as_of(world: Database) -> None:
    with world.session() as s:
        now = rates.compute_all(s, keys=rates.CONSOLIDATION_KEYS)
        past = rates.compute_all(s, BEFORE_T1, keys=rates.CONSOLIDATION_KEYS)
    rooms, exits, clouds = now[K.ROOMS_CONSOLIDATED], now[K.EXITS_CONSOLIDATED], now[K.CLOUDS_MANAGED]
    assert nd(rooms.overall) == (2, 4)
    assert rooms.excluded_counts == {"classified": 1, "retired": 0, "exempt": 1}
    assert {b.key: nd(b.rate) for b in rooms.by("unit")} == {"RU": (1, 2), "NU": (0, 1), "XU": (1, 1)}
    assert {b.key: nd(b.rate) for b in rooms.by("level")} == {"region": (1, 2), "city": (0, 1), "county": (1, 1)}
    assert {b.key: nd(b.rate) for b in rooms.by("city")} == {"450000": (1, 2), "450100": (1, 2)}
    assert nd(exits.overall) == (2, 4) and exits.excluded_counts["exempt"] == 1
    assert nd(clouds.overall) == (3, 4)
    assert nd(past[K.ROOMS_CONSOLIDATED].overall) == (1, 4)
    assert nd(past[K.CLOUDS_MANAGED].overall) == (2, 4)
    assert rooms.label_zh == "非涉密机房/数据中心整合率" and rooms.overall.target is None


def test_consolidation_drill_down_equals_the_figures(world: Database) -> None:
    with world.session() as s:
        r_num, r_n = rates.items(s, K.ROOMS_CONSOLIDATED, "numerator")
        r_den, r_d = rates.items(s, K.ROOMS_CONSOLIDATED, "denominator")
        r_exc, _ = rates.items(s, K.ROOMS_CONSOLIDATED, "excluded")
        e_den, e_d = rates.items(s, K.EXITS_CONSOLIDATED, "denominator")
        c_den, c_d = rates.items(s, K.CLOUDS_MANAGED, "denominator")
        c_past, _ = rates.items(s, K.CLOUDS_MANAGED, "numerator", at=BEFORE_T1)
    assert {i["code"] for i in r_num} == {"R1", "R6"} and r_n == 2
    assert {i["code"] for i in r_den} == {"R1", "R2", "R4", "R6"} and r_d == 4
    assert {i["code"]: (i["reason"], i["decision"]) for i in r_exc} == {
        "R3": ("classified", None),
        "R5": ("exempt", "keep"),
    }
    assert {i["code"] for i in e_den} == {"E1", "E2", "E3", "E4"} and e_d == 4
    assert {i["code"]: i["category"] for i in c_den} == {
        "GOV": "numerator",
        "SUB": "numerator",
        "IND": "open",
        "LEG": "numerator",
    }
    assert c_d == 4 and {i["code"] for i in c_past} == {"GOV", "SUB"}


@pytest.mark.parametrize(
    ("kind", "data", "policy"),
    [
        ("rooms", {"owner_unit_id": "RU", "region_id": "450102"}, "各县（市、区）原则上不再新建政务数据中心"),
        ("networks", {"owner_unit_id": "RU", "level": "region"}, "原则上不得新建业务专网"),
        (
            "internet_exits",
            {"owner_unit_id": "NU", "region_id": "450100"},
            "《广西政务数据资源管理与应用改革方案》§二(二)1",
        ),
        ("clouds", {"kind": "sub_cloud", "region_id": "450000"}, "云平台"),
    ],
)
def test_new_infrastructure_needs_the_office_allowing_it(
    world: Database, kind: str, data: dict[str, Any], policy: str
) -> None:
    with world.session() as s:
        ids = dict(s.execute(select(Unit.code, Unit.id)).tuples().all())
        ids.update(s.execute(select(Region.code, Region.id)).tuples().all())
        body = {"code": "NEW-1", "name": "新建", **{k: ids.get(v, v) for k, v in data.items()}}
        logged = s.scalar(select(func.count()).select_from(ChangeLog))
        ctx = ChangeContext(actor="t", role="admin")
        with pytest.raises(RuleViolation) as err:
            service.create(s, kind, body, ctx)
        s.rollback()
        msg = err.value.problems[0].message
        assert msg.startswith("新建") and "NEW-1" in msg and policy in msg and "allow_new" in msg
        assert s.scalar(select(func.count()).select_from(ChangeLog)) == logged
        Inv(s, ctx).allow(kind, "NEW-1")  # the office records 准予新建; now it goes through
        created: Any = service.create(s, kind, body, ctx)
        assert created.code == "NEW-1"
        if kind in ("rooms", "networks"):  # classified ones are not in scope of the rule
            service.create(s, kind, {**body, "code": "NEW-2", "classified": True}, ctx)


def test_refusal_over_http_and_import(admin: TestClient, db: Database) -> None:
    with db.session() as s:
        build(s)
        rooms_before = s.scalar(select(func.count()).select_from(Room))
    r = admin.post(
        "/api/v1/inventory/internet_exits",
        json={"code": "X-NEW", "name": "新出口", "owner_unit_id": 1, "region_id": 1},
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "code"
    csv = "机房编码,机房名称,所属单位编码,所在区划代码,是否涉密\nR7,新机房,XU,450102,否\nR8,涉密机房,XU,450102,是\n"
    up = admin.post(
        "/api/v1/inventory/rooms/import",
        params={"dry_run": "false"},
        files={"file": ("rooms.csv", csv.encode(), "text/csv")},
    )
    assert up.status_code == 422
    details = up.json()["error"]["details"]
    assert [d["row"] for d in details] == [2] and "R7" in details[0]["message"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Room)) == rooms_before
