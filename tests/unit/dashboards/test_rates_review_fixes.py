"""Defects a hostile review found in the rates, consolidation and determinations (issue 9), each over a small
hand-counted inventory on SQLite and PostgreSQL. Every expected figure is counted by hand in the docstrings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.errors import RuleViolation
from core.models import ChangeLog
from core.times import BEIJING
from dashboards import confirmations, metrics, rates
from dashboards.rates import SELF_DECLARED, UNMANAGED_CLOUD, UNRECORDED_CLOUD, RateKey
from inventory import service
from tests.builders import Inv

K = RateKey
T0 = datetime(2021, 6, 1, tzinfo=UTC)
T1 = datetime(2022, 3, 1, tzinfo=UTC)
ADMIN = ChangeContext(actor="loader", role="admin")
DEPT = ChangeContext(actor="教育厅信息中心", role="department_user")
OFFICE = ChangeContext(actor="李四", role="cloud_chief_office")


def nd(r: rates.Rate) -> tuple[int, int]:
    return r.numerator, r.denominator


def end_of(year: int) -> datetime:
    return datetime(year, 12, 31, 23, 59, 59, tzinfo=BEIJING)


def log_count(s: Any) -> int:
    return int(s.scalar(select(func.count()).select_from(ChangeLog)) or 0)


# --- 1. a department user moving a system onto the gov cloud by hosting/cloud_id -----------------------------


def test_self_declared_move_by_hosting_or_cloud_waits_for_the_office(any_db: Database) -> None:
    """Unit DU. Clouds GOV (gov cloud) and SUB (sub-cloud, not managed). At T0 the loader (admin) records
    S1 migrated on GOV (counts), S2 migrated on SUB (open: unmanaged), S3 not migrated in a room (open), and exit
    E1 active. At T1 the department user PATCHes S2 to hosting gov_cloud / cloud GOV without touching its status,
    renames S1 (no effect), and sets E1 consolidated.
    Systems: 1/3 (S2 pending the office), exits 0/1 (E1 pending); pending list: E1, S2. After the office confirms
    both: systems 2/3, exits 1/1, nothing pending."""
    with any_db.session() as s:
        inv, dept = Inv(s, ADMIN), Inv(s, DEPT)
        reg = inv.add("regions", at=T0, code="450000", level="region", name="广西")
        du = inv.add("units", at=T0, code="DU", level="region", region_id=reg, name="教育厅")
        room = inv.add("rooms", at=T0, code="ROOM", owner_unit_id=du, region_id=reg, name="机房")
        gov = inv.add("clouds", at=T0, code="GOV", kind="gov_cloud", region_id=reg, name="政务云")
        sub = inv.add("clouds", at=T0, code="SUB", kind="sub_cloud", region_id=reg, name="子云", managed=False)
        s1 = inv.system(du, cloud_id=gov, status="migrated", code="S1", at=T0)
        s2 = inv.system(du, cloud_id=sub, hosting="sub_cloud", status="migrated", code="S2", at=T0)
        inv.system(du, room_id=room, code="S3", at=T0)
        e1 = inv.add("internet_exits", at=T0, code="E1", owner_unit_id=du, region_id=reg, name="出口")
        dept.set("systems", s2, at=T1, hosting="gov_cloud", cloud_id=gov)
        dept.set("systems", s1, at=T1, name="S1 改名")
        dept.set("internet_exits", e1, at=T1, status="consolidated")
        s.commit()
        systems = rates.compute(s, K.SYSTEMS_MIGRATED)
        exits = rates.compute(s, K.EXITS_CONSOLIDATED)
        den, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
        e_den, _ = rates.items(s, K.EXITS_CONSOLIDATED, "denominator")
        pending = confirmations.pending(s)
        assert nd(systems.overall) == (1, 3)
        assert nd(exits.overall) == (0, 1)
        s2_item = next(i for i in den if i["code"] == "S2")
        assert (s2_item["category"], s2_item["open_reason"]) == ("open", SELF_DECLARED)
        assert (e_den[0]["code"], e_den[0]["open_reason"]) == ("E1", SELF_DECLARED)
        assert [(p["kind"], p["code"], p["declared_status"]) for p in pending] == [
            ("internet_exits", "E1", "consolidated"),
            ("systems", "S2", "migrated"),
        ]
        confirmations.confirm(s, OFFICE, "systems", s2)
        confirmations.confirm(s, OFFICE, "internet_exits", e1)
        s.commit()
        assert nd(rates.compute(s, K.SYSTEMS_MIGRATED).overall) == (2, 3)
        assert nd(rates.compute(s, K.EXITS_CONSOLIDATED).overall) == (1, 1)
        assert confirmations.pending(s) == []


# --- 2 and 3. an allow_new is spent by one new build; declassifying is a new build -----------------------------


def _skeleton(s: Any) -> tuple[Inv, int, int]:
    inv = Inv(s, ADMIN)
    reg = inv.add("regions", code="450000", level="region", name="广西")
    unit = inv.add("units", code="RU", level="region", region_id=reg, name="办公室")
    return inv, reg, unit


def test_one_allow_new_allows_one_object(any_db: Database) -> None:
    """ALLOW-ROOM-NEW allows room ROOM-NEW once: created, renamed ROOM-NEW-A, a second ROOM-NEW is refused naming
    the determination and ROOM-NEW-A, with nothing written. A second determination for the code allows one more.
    A determination dated 2030-01-01 is not in force today and allows nothing."""
    with any_db.session() as s:
        inv, reg, unit = _skeleton(s)
        room = {"name": "新机房", "owner_unit_id": unit, "region_id": reg}
        inv.allow("rooms", "ROOM-NEW")
        first: Any = service.create(s, "rooms", {**room, "code": "ROOM-NEW"}, ADMIN)
        service.update(s, "rooms", first.id, {"code": "ROOM-NEW-A"}, ADMIN)
        s.commit()
        logged = log_count(s)
        with pytest.raises(RuleViolation) as err:
            service.create(s, "rooms", {**room, "code": "ROOM-NEW"}, ADMIN)
        s.rollback()
        msg = err.value.problems[0].message
        assert "ALLOW-ROOM-NEW" in msg and "ROOM-NEW-A" in msg and err.value.problems[0].field == "code"
        assert log_count(s) == logged
        service.create(
            s,
            "determinations",
            {
                "code": "ALLOW-ROOM-NEW-2",
                "subject_kind": "room",
                "new_object_code": "ROOM-NEW",
                "decision": "allow_new",
                "reason": "再准一次",
                "decided_by": "云长制办公室",
                "decided_on": "2021-01-01",
            },
            ADMIN,
        )
        assert service.create(s, "rooms", {**room, "code": "ROOM-NEW"}, ADMIN).code == "ROOM-NEW"  # type: ignore[attr-defined]
        service.create(
            s,
            "determinations",
            {
                "code": "ALLOW-LATER",
                "subject_kind": "room",
                "new_object_code": "ROOM-LATER",
                "decision": "allow_new",
                "reason": "将来",
                "decided_by": "云长制办公室",
                "decided_on": "2030-01-01",
            },
            ADMIN,
        )
        with pytest.raises(RuleViolation):
            service.create(s, "rooms", {**room, "code": "ROOM-LATER"}, ADMIN)


def test_declassifying_is_a_new_build(any_db: Database) -> None:
    """Classified room RC and network NC need no determination. Making either non-classified is refused without
    an allow_new for its code (nothing written); with one it goes through and spends it: after RC is renamed
    RC-OLD, a new room RC is refused naming RC-OLD."""
    with any_db.session() as s:
        inv, reg, unit = _skeleton(s)
        rc: Any = service.create(
            s,
            "rooms",
            {"code": "RC", "name": "涉密机房", "owner_unit_id": unit, "region_id": reg, "classified": True},
            ADMIN,
        )
        nc: Any = service.create(
            s,
            "networks",
            {"code": "NC", "name": "涉密专网", "owner_unit_id": unit, "level": "region", "classified": True},
            ADMIN,
        )
        s.commit()
        logged = log_count(s)
        for kind, obj_id, code in (("rooms", rc.id, "RC"), ("networks", nc.id, "NC")):
            with pytest.raises(RuleViolation) as err:
                service.update(s, kind, obj_id, {"classified": False}, ADMIN)
            s.rollback()
            msg = err.value.problems[0].message
            assert "改为非涉密" in msg and code in msg and "allow_new" in msg
        assert log_count(s) == logged
        inv.allow("rooms", "RC")
        service.update(s, "rooms", rc.id, {"classified": False}, ADMIN)
        service.update(s, "rooms", rc.id, {"code": "RC-OLD"}, ADMIN)
        with pytest.raises(RuleViolation) as err:
            service.create(s, "rooms", {"code": "RC", "name": "又一个", "owner_unit_id": unit, "region_id": reg}, ADMIN)
        assert "RC-OLD" in err.value.problems[0].message


# --- 4. past rates when the cloud has no history ------------------------------------------------------------


def test_back_dated_systems_on_clouds_recorded_today(any_db: Database) -> None:
    """Clouds recorded today (no history): GOV gov cloud, SUB unmanaged sub-cloud, MSUB managed sub-cloud.
    Systems imported today with history since 2020-01-01 and their status dates:
      S1 GOV migrated 2021-06-01, S2 GOV migrated 2022-06-01, S3 GOV migrated 2023-06-01, S4 room not migrated,
      S5 GOV migrated 2024-03-01, S6 SUB migrated 2021-03-01, S7 MSUB migrated 2021-03-01.
    A gov-cloud site was one before its first record; being managed counts only from its record (today).
    End-2021 1/7 (S1), end-2022 2/7, end-2023 3/7; now 5/7 (S1 S2 S3 S5 S7; S4 and S6 open).
    End-2021 S6 and S7 are open for "no record of the cloud at that date" naming SUB / MSUB; now S6 as unmanaged."""
    with any_db.session() as s:
        inv = Inv(s, ADMIN)
        reg = inv.add("regions", code="450000", level="region", name="广西", at=datetime(2019, 1, 1, tzinfo=UTC))
        unit = inv.add(
            "units", code="DU", level="region", region_id=reg, name="教育厅", at=datetime(2019, 1, 1, tzinfo=UTC)
        )
        room = inv.add("rooms", code="ROOM", owner_unit_id=unit, region_id=reg, name="机房")
        gov = inv.add("clouds", code="GOV", kind="gov_cloud", region_id=reg, name="政务云")
        sub = inv.add("clouds", code="SUB", kind="sub_cloud", region_id=reg, name="子云", managed=False)
        msub = inv.add("clouds", code="MSUB", kind="sub_cloud", region_id=reg, name="统管子云", managed=True)
        load = Inv(s, ChangeContext(actor="import", role="admin", history_since=datetime(2020, 1, 1, tzinfo=BEIJING)))
        for code, cloud, hosting, day in (
            ("S1", gov, "gov_cloud", "2021-06-01"),
            ("S2", gov, "gov_cloud", "2022-06-01"),
            ("S3", gov, "gov_cloud", "2023-06-01"),
            ("S5", gov, "gov_cloud", "2024-03-01"),
            ("S6", sub, "sub_cloud", "2021-03-01"),
            ("S7", msub, "sub_cloud", "2021-03-01"),
        ):
            load.system(
                unit,
                cloud_id=cloud,
                hosting=hosting,
                status="migrated",
                code=code,
                status_changed_at=f"{day}T00:00:00+08:00",
            )
        load.system(unit, room_id=room, code="S4", status_changed_at="2020-06-01T00:00:00+08:00")
        s.commit()
        got = {y: nd(rates.compute(s, K.SYSTEMS_MIGRATED, end_of(y)).overall) for y in (2021, 2022, 2023)}
        assert got == {2021: (1, 7), 2022: (2, 7), 2023: (3, 7)}
        assert nd(rates.compute(s, K.SYSTEMS_MIGRATED).overall) == (5, 7)
        past, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", at=end_of(2021))
        reasons = {i["code"]: i.get("open_reason") for i in past if i["category"] == "open"}
        assert reasons["S6"] == UNRECORDED_CLOUD + "SUB" and reasons["S7"] == UNRECORDED_CLOUD + "MSUB"
        assert "—" not in reasons["S6"] and "no record of the cloud at that date" in reasons["S6"]
        now, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
        assert {i["code"]: i.get("open_reason") for i in now if i["category"] == "open"} == {
            "S4": None,
            "S6": UNMANAGED_CLOUD + "SUB",
        }


# --- 5. clouds without an owner unit are grouped by their region ---------------------------------------------


def test_ownerless_clouds_group_by_region(any_db: Database) -> None:
    """Regions 450000 → 450100 南宁市 → 450102 兴宁区; units NU (city, 450100), XU (county, 450102).
    Clouds: GOV-R gov cloud at 450000, no owner; GOV-NN gov cloud at 450100, no owner; SUB owned by NU, not managed;
    IND owned by XU, managed. Overall 3/4. City 450000 1/1 (GOV-R), 450100 2/3 (GOV-NN SUB IND).
    Level region 1/1, city 1/2 (GOV-NN SUB), county 1/1. Units NU 0/1, XU 1/1; no group with an empty key.
    No-unit groups 450000/region 1/1, 450100/city 1/1. Drill-down by city 450100: GOV-NN IND SUB; by level city:
    GOV-NN SUB."""
    with any_db.session() as s:
        inv = Inv(s, ADMIN)
        reg = inv.add("regions", code="450000", level="region", name="广西壮族自治区")
        nn = inv.add("regions", code="450100", level="city", parent_id=reg, name="南宁市")
        xn = inv.add("regions", code="450102", level="county", parent_id=nn, name="兴宁区")
        nu = inv.add("units", code="NU", level="city", region_id=nn, name="南宁市大数据局")
        xu = inv.add("units", code="XU", level="county", region_id=xn, parent_id=nu, name="兴宁区政务中心")
        inv.add("clouds", code="GOV-R", kind="gov_cloud", region_id=reg, name="政务云区本级")
        inv.add("clouds", code="GOV-NN", kind="gov_cloud", region_id=nn, name="政务云南宁节点")
        inv.add("clouds", code="SUB", kind="sub_cloud", region_id=nn, owner_unit_id=nu, managed=False, name="子云")
        inv.add(
            "clouds", code="IND", kind="industry_cloud", region_id=xn, owner_unit_id=xu, managed=True, name="行业云"
        )
        s.commit()
        for at in (None, datetime.now(UTC) + timedelta(seconds=1)):  # live tables and as of a date
            report = rates.compute(s, K.CLOUDS_MANAGED, at)
            assert nd(report.overall) == (3, 4)
            assert {b.key: nd(b.rate) for b in report.by("city")} == {"450000": (1, 1), "450100": (2, 3)}
            assert {b.key: nd(b.rate) for b in report.by("level")} == {
                "region": (1, 1),
                "city": (1, 2),
                "county": (1, 1),
            }
            assert {b.key: nd(b.rate) for b in report.by("unit")} == {"NU": (0, 1), "XU": (1, 1)}
            assert {b.key: nd(b.rate) for b in report.by(rates.NO_UNIT)} == {
                "450000/region": (1, 1),
                "450100/city": (1, 1),
            }
            by_city, n_city = rates.items(s, K.CLOUDS_MANAGED, "denominator", at, city_code="450100")
            assert [i["code"] for i in by_city] == ["GOV-NN", "IND", "SUB"] and n_city == 3
            by_level, n_level = rates.items(s, K.CLOUDS_MANAGED, "denominator", at, level="city")
            assert [i["code"] for i in by_level] == ["GOV-NN", "SUB"] and n_level == 2
            gov_nn = by_city[0]
            assert (gov_nn["unit_code"], gov_nn["city_code"], gov_nn["city_name"], gov_nn["level"]) == (
                None,
                "450100",
                "南宁市",
                "city",
            )
            assert rates.items(s, K.CLOUDS_MANAGED, "denominator", at, unit_code="")[1] == 0
        report = rates.compute(s, K.CLOUDS_MANAGED)
    dens = {
        tuple(sample.labels[k] for k in ("unit", "city", "level")): sample.value
        for family in metrics.families({K.CLOUDS_MANAGED: report}, datetime.now(UTC))
        if family.name == "yunwang_rate_denominator_items"
        for sample in family.samples
    }
    assert dens == {
        ("NU", "450100", "city"): 1,
        ("XU", "450100", "county"): 1,
        ("none", "450000", "region"): 1,
        ("none", "450100", "city"): 1,
    }


# --- 6. determinations are in force from their date; allow_new does not decide about an existing subject -----


def test_determinations_in_force_from_their_date(any_db: Database) -> None:
    """Systems A, B, C (not migrated, in a room), room R. Determinations:
      A exempt decided 2030-01-01 (future);  B exempt 2021-06-01 then must_migrate 2030-01-01 (future);
      R keep 2021-06-01, then an allow_new naming R as its subject (new code R-2) decided 2022-01-01.
    Today and as of now: systems excluded exempt 1 (B), denominator 2 (A, C); rooms excluded 1 (R, keep).
    History: the 2030 ones are not yet in force; R's keep stays in force."""
    with any_db.session() as s:
        inv = Inv(s, ADMIN)
        reg = inv.add("regions", code="450000", level="region", name="广西")
        unit = inv.add("units", code="RU", level="region", region_id=reg, name="办公室")
        room = inv.add("rooms", code="R", owner_unit_id=unit, region_id=reg, name="机房")
        sys_ids = {c: inv.system(unit, room_id=room, code=c) for c in ("A", "B", "C")}

        def decide(code: str, kind: str, sid: int, decision: str, day: str, **extra: Any) -> None:
            data = {"code": code, "subject_kind": kind, "subject_id": sid, "decision": decision, "reason": "认定"}
            service.create(s, "determinations", {**data, "decided_by": "办公室", "decided_on": day, **extra}, ADMIN)

        decide("D-A", "system", sys_ids["A"], "exempt", "2030-01-01")
        decide("D-B1", "system", sys_ids["B"], "exempt", "2021-06-01")
        decide("D-B2", "system", sys_ids["B"], "must_migrate", "2030-01-01")
        decide("D-R1", "room", room, "keep", "2021-06-01")
        decide("D-R2", "room", room, "allow_new", "2022-01-01", new_object_code="R-2")
        s.commit()
        for at in (None, datetime.now(UTC) + timedelta(seconds=1)):
            systems = rates.compute(s, K.SYSTEMS_MIGRATED, at)
            assert nd(systems.overall) == (0, 2) and systems.excluded_counts["exempt"] == 1
            excluded, _ = rates.items(s, K.SYSTEMS_MIGRATED, "excluded", at)
            assert [(i["code"], i["decision_code"]) for i in excluded] == [("B", "D-B1")]
            rooms = rates.compute(s, K.ROOMS_CONSOLIDATED, at)
            assert nd(rooms.overall) == (0, 0) and rooms.excluded_counts["exempt"] == 1
        standing = {d["code"]: d["standing"] for d in rates.determination_history(s)}
        assert standing == {
            "ALLOW-R": "in_force",
            "D-A": "not_yet_in_force",
            "D-B1": "in_force",
            "D-B2": "not_yet_in_force",
            "D-R1": "in_force",
            "D-R2": "in_force",
        }


def test_the_api_confirms_every_kind_the_engine_holds_pending(admin: TestClient) -> None:
    """The route takes each kind of dashboards.confirmations (a kind it refused would be a 422, not a 404)."""
    for kind in confirmations.KINDS_CONFIRMED:
        r = admin.post(f"/api/v1/rates/confirmations/{kind}/999999")
        assert r.status_code == 404, (kind, r.status_code, r.text)
    assert admin.post("/api/v1/rates/confirmations/rooms/1").status_code == 422
