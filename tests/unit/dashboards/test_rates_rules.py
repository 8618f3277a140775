"""Issue 9 rules over a small hand-counted inventory, on SQLite and PostgreSQL: horizontal access of the own level
and area (mismatched records refused), superseding determinations (with history), and what counts as 上云.

Timeline (UTC): everything is created at T0 (2021-06-01) unless said otherwise.

Regions: 450000 广西 → 450100 南宁市 (450102 兴宁区, 450103 青秀区), 450300 桂林市.
Units: RU (region), NU (city, 南宁), GU (city, 桂林), XU (county, 兴宁), QU (county, 青秀).
Nodes: NODE-R (region), NODE-NN (city, 南宁), NODE-XN (county, 兴宁). Access: RU→NODE-R, NU→NODE-NN, XU→NODE-XN,
  all connected. Refused: QU→NODE-XN (another county), QU→NODE-NN (wrong level), GU→NODE-NN (another city).
  Horizontal access by hand: RU NU XU of 5 units = 3/5; region 1/1, city 1/2, county 1/2.
Clouds: GOV (gov_cloud), SUBM (sub_cloud, managed), INDU (industry_cloud, not managed),
  SUBX (sub_cloud, not managed at T0, brought under unified management 2023-06-01).
Systems (all RU): S1 migrated on GOV; S2 migrated on SUBM; S3 "migrated" on INDU (open: unmanaged cloud);
  S4 not_migrated; S9 migrated on SUBX; S5–S8 not_migrated with determinations:
  S5: D1 exempt 2022-01-01, D2 must_migrate 2023-01-01            → D2 wins: open
  S6: D3 must_migrate 2022-01-01, D4 exempt 2023-01-01            → D4 wins: exempt
  S7: D5 retire 2022-05-01, D6 exempt 2022-05-01 (same day, later record) → D6 wins: exempt
  S8: D7 retire 2023-01-01, D8 exempt 2024-01-01 withdrawn (inactive)      → D7 wins: retired
Now: numerator S1 S2 S9 = 3; open S3 S4 S5 = 3 → 3/6; exempt S6 S7 = 2; retired S8 = 1.
As of 2022-06-01: numerator S1 S2 = 2; open S3 S4 S6 S8 S9 = 5 → 2/7; exempt S5 S7 = 2; retired 0.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from inventory.kinds import KINDS
from inventory.models import NodeAccess
from tests.builders import Inv

T0 = datetime(2021, 6, 1, tzinfo=UTC)
MID_2022 = datetime(2022, 6, 1, tzinfo=UTC)
K = RateKey


def build(s: Any) -> dict[str, int]:
    inv = Inv(s, ChangeContext(actor="loader", role="admin"))
    ids: dict[str, int] = {}

    def add(code: str, kind_name: str, /, at: datetime = T0, **data: Any) -> int:
        ids[code] = inv.add(kind_name, at=at, code=code, **data)
        return ids[code]

    reg = add("450000", "regions", level="region", name="广西壮族自治区")
    nn = add("450100", "regions", level="city", name="南宁市", parent_id=reg)
    xn = add("450102", "regions", level="county", name="兴宁区", parent_id=nn)
    add("450103", "regions", level="county", name="青秀区", parent_id=nn)
    gl = add("450300", "regions", level="city", name="桂林市", parent_id=reg)
    ru = add("RU", "units", level="region", region_id=reg, name="自治区大数据发展局")
    nu = add("NU", "units", level="city", region_id=nn, name="南宁市大数据发展局")
    add("GU", "units", level="city", region_id=gl, name="桂林市大数据发展局")
    xu = add("XU", "units", level="county", region_id=xn, parent_id=nu, name="兴宁区大数据局")
    add("QU", "units", level="county", region_id=ids["450103"], parent_id=nu, name="青秀区大数据局")
    rnode = add("NODE-R", "extranet_nodes", level="region", region_id=reg, name="自治区节点")
    nnode = add("NODE-NN", "extranet_nodes", level="city", region_id=nn, name="南宁市节点", parent_id=rnode)
    xnode = add("NODE-XN", "extranet_nodes", level="county", region_id=xn, name="兴宁区节点", parent_id=nnode)
    for code, unit, node in (("A-RU", ru, rnode), ("A-NU", nu, nnode), ("A-XU", xu, xnode)):
        add(code, "node_access", unit_id=unit, node_id=node, status="connected")

    room = add("ROOM", "rooms", owner_unit_id=ru, region_id=reg, name="机房")
    gov = add("GOV", "clouds", kind="gov_cloud", region_id=reg, name="政务云")
    subm = add("SUBM", "clouds", kind="sub_cloud", region_id=reg, name="已纳管子云", managed=True)
    indu = add("INDU", "clouds", kind="industry_cloud", region_id=reg, name="未纳管行业云", managed=False)
    subx = add("SUBX", "clouds", kind="sub_cloud", region_id=reg, name="后纳管子云", managed=False)

    def system(code: str, cloud: int | None = None) -> int:
        if cloud is None:
            return add(code, "systems", owner_unit_id=ru, name=f"系统{code}", hosting="room", room_id=room)
        hosting = "gov_cloud" if cloud == gov else "sub_cloud"
        return add(
            code, "systems", owner_unit_id=ru, name=f"系统{code}", hosting=hosting, cloud_id=cloud, status="migrated"
        )

    system("S1", gov)
    system("S2", subm)
    system("S3", indu)
    system("S4")
    system("S9", subx)
    for code in ("S5", "S6", "S7", "S8"):
        system(code)

    def det(code: str, subject: str, decision: str, day: datetime, active: bool = True) -> None:
        add(
            code,
            "determinations",
            at=day,
            subject_kind="system",
            subject_id=ids[subject],
            decision=decision,
            reason="认定理由",
            decided_by="云长制办公室",
            decided_on=day.date().isoformat(),
            active=active,
        )

    det("D1", "S5", "exempt", datetime(2022, 1, 1, tzinfo=UTC))
    det("D2", "S5", "must_migrate", datetime(2023, 1, 1, tzinfo=UTC))
    det("D3", "S6", "must_migrate", datetime(2022, 1, 1, tzinfo=UTC))
    det("D4", "S6", "exempt", datetime(2023, 1, 1, tzinfo=UTC))
    det("D5", "S7", "retire", datetime(2022, 5, 1, tzinfo=UTC))
    det("D6", "S7", "exempt", datetime(2022, 5, 1, tzinfo=UTC))
    det("D7", "S8", "retire", datetime(2023, 1, 1, tzinfo=UTC))
    det("D8", "S8", "exempt", datetime(2024, 1, 1, tzinfo=UTC), active=False)
    inv.set("clouds", subx, at=datetime(2023, 6, 1, tzinfo=UTC), managed=True)
    s.commit()
    return ids


@pytest.fixture
def world(any_db: Database) -> Iterator[Database]:
    with any_db.session() as s:
        build(s)
    yield any_db


def codes(found: list[dict[str, Any]]) -> set[str]:
    return {i["code"] for i in found}


def test_horizontal_access_counts_only_the_own_level_and_area(world: Database) -> None:
    with world.session() as s:
        ha = rates.compute(s, K.HORIZONTAL_ACCESS)
        num, n_total = rates.items(s, K.HORIZONTAL_ACCESS, "numerator")
        den, d_total = rates.items(s, K.HORIZONTAL_ACCESS, "denominator")
    assert (ha.overall.numerator, ha.overall.denominator) == (3, 5)
    by_level = {b.key: (b.rate.numerator, b.rate.denominator) for b in ha.by("level")}
    assert by_level == {"region": (1, 1), "city": (1, 2), "county": (1, 2)}
    assert codes(num) == {"RU", "NU", "XU"} and n_total == 3
    assert codes(den) == {"RU", "NU", "GU", "XU", "QU"} and d_total == 5


@pytest.mark.parametrize(
    ("unit", "node", "says"),
    [
        ("QU", "NODE-XN", "县级"),  # another county's node
        ("QU", "NODE-NN", "市级"),  # a county bureau on the city node: wrong level
        ("GU", "NODE-NN", "南宁市"),  # another city's node
    ],
)
def test_mismatched_access_record_is_refused_naming_codes(world: Database, unit: str, node: str, says: str) -> None:
    with world.session() as s:
        ids = {
            code: oid
            for kind in ("units", "extranet_nodes")
            for code, oid in s.execute(select(KINDS[kind].model.code, KINDS[kind].model.id))  # type: ignore[attr-defined]
        }
        logged = s.scalar(select(func.count()).select_from(ChangeLog))
        with pytest.raises(RuleViolation) as err:
            service.create(
                s,
                "node_access",
                {"code": "A-BAD", "unit_id": ids[unit], "node_id": ids[node], "status": "connected"},
                ChangeContext(actor="t", role="admin"),
            )
        s.rollback()
        msg = err.value.problems[0].message
        assert msg.startswith(f"单位 {unit}") and node in msg and says in msg and "own level" in msg
        assert err.value.problems[0].field == "node_id"
        assert s.scalar(select(func.count()).select_from(NodeAccess)) == 3
        assert s.scalar(select(func.count()).select_from(ChangeLog)) == logged


def test_latest_determination_in_force_wins(world: Database) -> None:
    with world.session() as s:
        sm = rates.compute(s, K.SYSTEMS_MIGRATED)
        exc, _ = rates.items(s, K.SYSTEMS_MIGRATED, "excluded")
        den, d_total = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
        num, _ = rates.items(s, K.SYSTEMS_MIGRATED, "numerator")
    assert (sm.overall.numerator, sm.overall.denominator) == (3, 6)
    assert sm.excluded_counts == {"classified": 0, "retired": 1, "exempt": 2}
    assert {i["code"]: (i["reason"], i["decision_code"]) for i in exc} == {
        "S6": ("exempt", "D4"),
        "S7": ("exempt", "D6"),
        "S8": ("retired", "D7"),
    }
    assert codes(num) == {"S1", "S2", "S9"}
    assert codes(den) == {"S1", "S2", "S3", "S4", "S5", "S9"} and d_total == 6


def test_determinations_and_clouds_as_of_a_past_date(world: Database) -> None:
    with world.session() as s:
        sm = rates.compute(s, K.SYSTEMS_MIGRATED, MID_2022)
        exc, _ = rates.items(s, K.SYSTEMS_MIGRATED, "excluded", at=MID_2022)
        opened, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", at=MID_2022)
    assert (sm.overall.numerator, sm.overall.denominator) == (2, 7)
    assert sm.excluded_counts == {"classified": 0, "retired": 0, "exempt": 2}
    assert {i["code"]: i["decision_code"] for i in exc} == {"S5": "D1", "S7": "D6"}
    open_codes = {i["code"] for i in opened if i["category"] == "open"}
    assert open_codes == {"S3", "S4", "S6", "S8", "S9"}
    s9 = next(i for i in opened if i["code"] == "S9")
    assert "SUBX" in s9["open_reason"]  # not yet under unified management in mid-2022


def test_migrated_on_an_unmanaged_cloud_stays_open_with_the_reason(world: Database) -> None:
    with world.session() as s:
        den, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
        util = rates.compute(s, K.CLOUD_NETWORK_UTILISATION)
    s3 = next(i for i in den if i["code"] == "S3")
    assert s3["status"] == "migrated" and s3["category"] == "open"
    assert s3["open_reason"].startswith("所在云未纳入统筹管理") and s3["open_reason"].endswith("INDU")
    assert all("open_reason" not in i for i in den if i["code"] != "S3")
    assert (util.overall.numerator, util.overall.denominator) == (3, 6)  # no networks: same as the systems


def test_determination_history_marks_superseded_and_withdrawn(world: Database) -> None:
    with world.session() as s:
        history = rates.determination_history(s, subject_kind="system")
        superseded = rates.determination_history(s, only_superseded=True)
        past = rates.determination_history(s, MID_2022, subject_kind="system")
        allowed = rates.determination_history(s, subject_kind="cloud")
    standing = {d["code"]: (d["standing"], d["superseded_by"]) for d in history}
    assert standing == {
        "D1": ("superseded", "D2"),
        "D2": ("in_force", None),
        "D3": ("superseded", "D4"),
        "D4": ("in_force", None),
        "D5": ("superseded", "D6"),
        "D6": ("in_force", None),
        "D7": ("in_force", None),
        "D8": ("withdrawn", None),
    }
    assert {d["code"] for d in superseded} == {"D1", "D3", "D5"}
    # the builder's 准予新建 determinations of the four clouds: each stands for its own new code
    assert {(d["new_object_code"], d["standing"]) for d in allowed} == {
        ("GOV", "in_force"),
        ("SUBM", "in_force"),
        ("INDU", "in_force"),
        ("SUBX", "in_force"),
    }
    assert {d["code"]: d["standing"] for d in past} == {
        "D1": "in_force",
        "D3": "in_force",
        "D5": "superseded",
        "D6": "in_force",
    }


@pytest.fixture
def api_world(db: Database) -> dict[str, int]:
    with db.session() as s:
        return build(s)


def test_history_api_and_refusal_over_http(admin: TestClient, db: Database, api_world: dict[str, int]) -> None:
    r = admin.get(
        "/api/v1/rates/determinations/history", params={"subject_kind": "system", "subject_id": api_world["S5"]}
    )
    assert r.status_code == 200
    assert [(d["code"], d["standing"]) for d in r.json()] == [("D1", "superseded"), ("D2", "in_force")]
    r = admin.get("/api/v1/rates/determinations/history", params={"superseded_only": "true"})
    assert sorted(d["code"] for d in r.json()) == ["D1", "D3", "D5"]
    bad = admin.post(
        "/api/v1/inventory/node_access",
        json={"code": "A-BAD", "unit_id": api_world["QU"], "node_id": api_world["NODE-XN"], "status": "connected"},
    )
    assert bad.status_code == 422
    err = bad.json()["error"]
    assert err["code"] == "rule_violation" and "QU" in err["details"][0]["message"]
    csv = "接入编码,单位编码,接入节点编码,接入状态\nA-OK,GU,NODE-R,planned\nA-BAD,GU,NODE-NN,connected\n"
    up = admin.post(
        "/api/v1/inventory/node_access/import",
        params={"dry_run": "false"},
        files={"file": ("access.csv", csv.encode(), "text/csv")},
    )
    assert up.status_code == 422
    details = up.json()["error"]["details"]
    assert any(d["row"] == 3 and "NODE-NN" in d["message"] for d in details)
    assert any(d["row"] == 2 and "NODE-R" in d["message"] for d in details)  # a city unit on the region node
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(NodeAccess)) == 3
