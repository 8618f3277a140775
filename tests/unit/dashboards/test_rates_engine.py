"""The rate engine over an inventory of known answers (tests/known_rates.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import Database
from core.times import BEIJING
from dashboards import rates
from dashboards.rates import Rate, RateKey, RateReport
from inventory.models import InformationSystem, Unit
from tests import known_rates
from tests.builders import Inv
from tests.known_rates import BEFORE_T1, BETWEEN

K = RateKey


def counts(r: Rate) -> tuple[int, int]:
    return r.numerator, r.denominator


def by(report: RateReport, dimension: str) -> dict[str, tuple[int, int]]:
    return {b.key: counts(b.rate) for b in report.by(dimension)}


@pytest.fixture
def known(any_db: Database) -> Database:
    with any_db.session() as s:
        known_rates.build(s)
    return any_db


def test_current_rates_match_the_hand_count(known: Database) -> None:
    with known.session() as s:
        rep = rates.compute_all(s)
    sm = rep[K.SYSTEMS_MIGRATED]
    # S1 S2 S7 S8 S10 migrated; S4 S11 open; S3 classified; S5 retired, S9 retire decision; S6 exempt
    assert counts(sm.overall) == (5, 7)
    assert sm.overall.ratio == pytest.approx(5 / 7)
    assert sm.excluded_counts == {"classified": 1, "retired": 2, "exempt": 1}
    assert counts(rep[K.NETWORKS_INTERCONNECTED].overall) == (2, 4)  # N6's exemption was withdrawn
    assert rep[K.NETWORKS_INTERCONNECTED].excluded_counts == {"classified": 1, "retired": 1, "exempt": 0}
    assert counts(rep[K.ITEMS_DOCKED].overall) == (3, 4)  # national I6 never counted
    assert rep[K.ITEMS_DOCKED].excluded_counts == {"classified": 1, "retired": 0, "exempt": 1}
    assert counts(rep[K.HORIZONTAL_ACCESS].overall) == (3, 6)  # KU is on a city node: wrong level
    assert counts(rep[K.CLOUD_NETWORK_UTILISATION].overall) == (7, 11)
    assert rep[K.CLOUD_NETWORK_UTILISATION].excluded_counts == {"classified": 2, "retired": 3, "exempt": 1}
    assert {r.overall.target for r in rep.values()} == {1.0}
    assert rep[K.SYSTEMS_MIGRATED].label_zh == "非涉密信息系统迁移上云率"


def test_breakdowns_by_unit_city_and_level(known: Database) -> None:
    with known.session() as s:
        sm = rates.compute(s, K.SYSTEMS_MIGRATED)
        ha = rates.compute(s, K.HORIZONTAL_ACCESS)
    assert by(sm, "unit") == {
        "RU1": (2, 2),
        "RU2": (0, 1),
        "NU": (1, 1),
        "KU": (1, 1),
        "GU": (1, 1),
        "TU": (0, 1),
    }
    # county and township units roll up to their city; region-level units form 自治区本级
    assert by(sm, "city") == {"450000": (2, 3), "450100": (2, 3), "450300": (1, 1)}
    labels = {b.key: b.label for b in sm.by("city")}
    assert labels == {"450000": "自治区本级", "450100": "南宁市", "450300": "桂林市"}
    assert by(sm, "level") == {"region": (2, 3), "city": (2, 2), "county": (1, 1), "township": (0, 1)}
    assert [b.key for b in sm.by("level")] == ["region", "city", "county", "township"]
    excl = {b.key: b.excluded_counts for b in sm.by("unit")}
    assert excl["RU1"] == {"classified": 1, "retired": 0, "exempt": 0}
    assert excl["GU"] == {"classified": 0, "retired": 1, "exempt": 0}
    assert by(ha, "level") == {"region": (2, 2), "city": (1, 2), "county": (0, 1), "township": (0, 1)}
    assert by(ha, "city") == {"450000": (2, 2), "450100": (1, 3), "450300": (0, 1)}


def test_rates_as_of_past_dates_use_the_change_log(known: Database) -> None:
    with known.session() as s:
        before = rates.compute_all(s, BEFORE_T1)
        between = rates.compute_all(s, BETWEEN)
    sm = before[K.SYSTEMS_MIGRATED]
    assert counts(sm.overall) == (3, 10)  # S12 still exists; S6 not yet exempt, S9 not yet retired
    assert sm.excluded_counts == {"classified": 1, "retired": 1, "exempt": 0}
    assert counts(between[K.SYSTEMS_MIGRATED].overall) == (4, 9)
    assert between[K.SYSTEMS_MIGRATED].excluded_counts == {"classified": 1, "retired": 1, "exempt": 1}
    assert counts(before[K.NETWORKS_INTERCONNECTED].overall) == (1, 3)
    assert before[K.NETWORKS_INTERCONNECTED].excluded_counts["exempt"] == 1
    assert counts(between[K.NETWORKS_INTERCONNECTED].overall) == (2, 3)
    assert counts(between[K.ITEMS_DOCKED].overall) == (2, 4)
    assert counts(between[K.HORIZONTAL_ACCESS].overall) == (2, 6)
    assert counts(between[K.CLOUD_NETWORK_UTILISATION].overall) == (6, 12)
    assert by(between[K.SYSTEMS_MIGRATED], "unit")["GU"] == (1, 3)  # S9 and S12 open then
    # targets in force on the date: none for the 70/90/100 rates before end 2021, then 70%
    assert before[K.HORIZONTAL_ACCESS].overall.target is None
    assert between[K.HORIZONTAL_ACCESS].overall.target == 0.7
    assert between[K.SYSTEMS_MIGRATED].overall.target == 1.0
    with known.session() as s:
        assert rates.compute(s, K.CLOUD_NETWORK_UTILISATION, datetime(2023, 6, 1, tzinfo=UTC)).overall.target == 0.9
    with known.session() as s:
        assert rates.compute_all(s, datetime(2021, 1, 1, tzinfo=UTC))[K.SYSTEMS_MIGRATED].overall.denominator == 0
        assert rates.compute_all(s, datetime(2021, 1, 1, tzinfo=UTC))[K.SYSTEMS_MIGRATED].overall.ratio is None


def test_as_of_now_equals_the_live_tables(known: Database) -> None:
    with known.session() as s:
        live = rates.compute_all(s)
        logged = rates.compute_all(s, datetime.now(UTC) + timedelta(seconds=1))
    for key in live:
        assert live[key].overall == logged[key].overall
        assert live[key].breakdowns == logged[key].breakdowns
        assert live[key].excluded_counts == logged[key].excluded_counts


def test_a_published_month_never_changes(known: Database) -> None:
    with known.session() as s:
        first = rates.compute_all(s, BETWEEN)
        ids = known_rates.Known().ids
        del ids
        inv = Inv(s)
        sid = s.scalar(select(InformationSystem.id).where(InformationSystem.code == "S4"))
        assert sid is not None
        inv.set("systems", sid, status="retired")
        s.commit()
        again = rates.compute_all(s, BETWEEN)
        now = rates.compute(s, K.SYSTEMS_MIGRATED)
    assert again[K.SYSTEMS_MIGRATED] == first[K.SYSTEMS_MIGRATED]
    assert counts(now.overall) == (5, 6)


def test_naive_and_other_zone_dates_are_read_as_instants(known: Database) -> None:
    cst = BEIJING
    with known.session() as s:
        a = rates.compute(s, K.SYSTEMS_MIGRATED, BETWEEN)
        b = rates.compute(s, K.SYSTEMS_MIGRATED, BETWEEN.astimezone(cst))
        c = rates.compute(s, K.SYSTEMS_MIGRATED, BETWEEN.replace(tzinfo=None))
    assert a.overall == b.overall == c.overall


def test_drill_down_lists_the_items_behind_each_number(known: Database) -> None:
    with known.session() as s:
        num, n_total = rates.items(s, K.SYSTEMS_MIGRATED, "numerator")
        den, d_total = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
        exc, e_total = rates.items(s, K.SYSTEMS_MIGRATED, "excluded")
        page, p_total = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", limit=2, offset=2)
        city, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", city_code="450100")
        county, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", level="county")
        unit, _ = rates.items(s, K.SYSTEMS_MIGRATED, "excluded", unit_code="GU")
        past, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", at=BETWEEN, unit_code="GU")
        util, u_total = rates.items(s, K.CLOUD_NETWORK_UTILISATION, "numerator")
    assert {i["code"] for i in num} == {"S1", "S2", "S7", "S8", "S10"} and n_total == 5
    assert {i["code"] for i in den} == {"S1", "S2", "S4", "S7", "S8", "S10", "S11"} and d_total == 7
    assert {i["code"]: i["reason"] for i in exc} == {
        "S3": "classified",
        "S5": "retired",
        "S6": "exempt",
        "S9": "retired",
    }
    assert e_total == 4
    s6 = next(i for i in exc if i["code"] == "S6")
    assert (s6["decided_by"], s6["decided_on"], s6["decision_reason"]) == ("李四", "2022-03-01", "有特殊规定")
    assert s6["unit_code"] == "NU" and s6["city_code"] == "450100" and s6["level"] == "city"
    s5 = next(i for i in exc if i["code"] == "S5")
    assert s5["decided_by"] is None and s5["status"] == "retired"
    assert p_total == 7 and [i["code"] for i in page] == [i["code"] for i in den][2:4]
    assert {i["code"] for i in city} == {"S7", "S8", "S11"}
    assert {i["code"] for i in county} == {"S8"}
    assert {i["code"] for i in unit} == {"S9"}
    assert {i["code"] for i in past} == {"S9", "S10", "S12"}
    assert u_total == 7 and {i["kind"] for i in util} == {"system", "network"}


def test_scoped_drill_down_sees_only_its_units(known: Database) -> None:
    with known.session() as s:
        nu = s.scalar(select(Unit.id).where(Unit.code == "NU"))
        assert nu is not None
        got, total = rates.items(s, K.SYSTEMS_MIGRATED, "denominator", unit_ids=[nu])
    assert {i["code"] for i in got} == {"S7"} and total == 1


def test_classified_system_never_counts_in_migration_rate(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        inv.system(b["unit"], room_id=b["room"], classified=True)
        inv.system(b["unit"], room_id=b["room"], classified=True, status="retired")
        s.commit()
        rep = rates.compute(s, K.SYSTEMS_MIGRATED)
        den, _ = rates.items(s, K.SYSTEMS_MIGRATED, "denominator")
    assert counts(rep.overall) == (0, 0) and rep.overall.ratio is None
    assert rep.excluded_counts["classified"] == 2 and den == []


def test_targets_follow_the_seed_dates() -> None:
    cst = BEIJING
    end_2021 = datetime(2021, 12, 31, 23, 59, tzinfo=cst)
    assert rates.target_at(K.HORIZONTAL_ACCESS, end_2021) is None
    assert rates.target_at(K.HORIZONTAL_ACCESS, end_2021 + timedelta(minutes=1)) == 0.7
    assert rates.target_at(K.CLOUD_NETWORK_UTILISATION, datetime(2023, 1, 1, tzinfo=cst)) == 0.9
    assert rates.target_at(K.CLOUD_NETWORK_UTILISATION, datetime(2024, 1, 1, tzinfo=cst)) == 1.0
    assert rates.target_at(K.SYSTEMS_MIGRATED, datetime(2021, 6, 1, tzinfo=cst)) == 1.0


def test_unknown_part_is_rejected(db: Database) -> None:
    with db.session() as s, pytest.raises(ValueError):
        rates.items(s, K.SYSTEMS_MIGRATED, "everything")  # type: ignore[arg-type]
