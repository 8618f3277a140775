"""History before the first import: status dates in a freshly loaded inventory drive the as-of rates.

Every expected figure below is counted by hand from the file rows written in the test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.enums import ChangeAction
from core.models import ChangeLog
from core.times import BEIJING
from dashboards.rates import RateKey, compute
from inventory import history, queries
from inventory.io import importing as io
from inventory.io.spreadsheets import read_table
from tests.builders import Inv

LOAD = ChangeContext(actor="loader", role="admin", message="首次导入")
BACK = datetime(2018, 1, 1, tzinfo=UTC)  # the skeleton is back-dated so units exist in every year tested


def end_of(year: int) -> datetime:
    return datetime(year, 12, 31, 23, 59, 59, tzinfo=BEIJING)


def _skeleton(s: Any) -> int:
    """Region, unit GXDSJ, room ROOM-1 and cloud GOVCLOUD, all on record since 2018; returns the unit id."""
    inv = Inv(s, ChangeContext(actor="builder", role="admin", at=BACK))
    region = inv.region("region", code="450000", name="广西壮族自治区", at=BACK)
    unit = inv.unit(region, "region", code="GXDSJ", name="自治区大数据发展局", at=BACK)
    inv.room(unit, region, code="ROOM-1", at=BACK)
    inv.cloud(region, code="GOVCLOUD", at=BACK)
    for kind, codes in (("networks", "N1 N2 N3 N9"), ("rooms", "R1 R2"), ("internet_exits", "E1")):
        for code in codes.split():  # the office's 准予新建 determinations the files below need
            inv.allow(kind, code, BACK)
    return unit


SYSTEMS = """系统编码,系统名称,所属单位编码,是否涉密,部署方式,所在机房编码,所在云编码,迁移状态,状态变更时间
S1,一,GXDSJ,否,政务云,,GOVCLOUD,已迁移,2021-06-01
S2,二,GXDSJ,否,政务云,,GOVCLOUD,已迁移,2022/6/1
S3,三,GXDSJ,否,政务云,,GOVCLOUD,已迁移,2023年6月1日
S4,四,GXDSJ,否,机房,ROOM-1,,未迁移,2019-03-01
S5,五,GXDSJ,否,机房,ROOM-1,,迁移中,2023-03-01 10:00
S6,六,GXDSJ,否,机房,ROOM-1,,未迁移,
S7,七,GXDSJ,是,机房,ROOM-1,,未迁移,
S8,八,GXDSJ,否,机房,ROOM-1,,已下线,2022.9.1
"""


def test_back_dated_statuses_give_the_as_of_rates(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
        logs_before = s.scalar(select(func.count()).select_from(ChangeLog)) or 0
    with any_db.session() as s:
        report = io.apply_import(s, "systems", read_table(SYSTEMS.encode(), "s.csv"), LOAD)
        assert report.applied, report.all_problems()
        s.commit()
    with any_db.session() as s:
        # By hand: the file's earliest status date is 2019-03-01, so every system is on record from then.
        # S1, S2, S3, S5, S8 are not in their first status: created then (未迁移) and changed at their date → 2 each;
        # S4, S6, S7 → 1 each. 5 × 2 + 3 = 13 entries.
        logs = s.scalars(select(ChangeLog).where(ChangeLog.kind == "systems").order_by(ChangeLog.id)).all()
        assert len(logs) == 13 == (s.scalar(select(func.count()).select_from(ChangeLog)) or 0) - logs_before
        assert all(e.actor == "loader" for e in logs)
        assert all("补录历史" in (e.message or "") and "首次导入" in (e.message or "") for e in logs)
        s2 = [e for e in logs if e.object_code == "S2"]
        assert [(e.action, e.after["status"] if e.after else None) for e in s2] == [
            (ChangeAction.CREATE, "not_migrated"),
            (ChangeAction.UPDATE, "migrated"),
        ]
        assert [e.at.replace(tzinfo=e.at.tzinfo or UTC) for e in s2] == [
            datetime(2019, 2, 28, 16, 0, tzinfo=UTC),  # 2019-03-01 00:00 Beijing time
            datetime(2022, 5, 31, 16, 0, tzinfo=UTC),
        ]

        def rate(at: datetime | None) -> tuple[int, int]:
            r = compute(s, RateKey.SYSTEMS_MIGRATED, at).overall
            return r.numerator, r.denominator

        # Before 2019-03-01 nothing is on record.
        assert rate(datetime(2019, 2, 1, tzinfo=BEIJING)) == (0, 0)
        # End 2021: migrated S1; open S2 S3 S4 S5 S6 S8 (S7 classified, excluded) → 1 / 7.
        assert rate(end_of(2021)) == (1, 7)
        # End 2022: migrated S1 S2; S8 retired (excluded); open S3 S4 S5 S6 → 2 / 6.
        assert rate(end_of(2022)) == (2, 6)
        # End 2023 and now: migrated S1 S2 S3; open S4 S5 S6 → 3 / 6.
        assert rate(end_of(2023)) == (3, 6)
        assert rate(None) == (3, 6)
        # The as-of inventory view agrees: S5 was not yet in progress at end 2022.
        past = {o["code"]: o["status"] for o in queries.as_of(s, "systems", end_of(2022).astimezone(UTC))}
        assert past["S5"] == "not_migrated" and past["S8"] == "retired"
        since = history.records_since(s)
        assert since["systems"] == datetime(2019, 2, 28, 16, 0, tzinfo=UTC)
        assert since["units"] == BACK


NETWORKS = """专网编码,专网名称,所属单位编码,层级,迁移状态,状态变更时间
N1,一,GXDSJ,区级,已打通,2021-03-01
N2,二,GXDSJ,区级,已迁移,2022-10-01T08:00:00+08:00
N3,三,GXDSJ,区级,未启动,
"""


def test_history_since_over_http(admin: TestClient, db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
    r = admin.post(
        "/api/v1/inventory/networks/import",
        params={"history_since": "2020-01-01T00:00:00"},  # no offset: Beijing time
        files={"file": ("n.csv", NETWORKS.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    with db.session() as s:

        def rate(at: datetime) -> tuple[int, int]:
            x = compute(s, RateKey.NETWORKS_INTERCONNECTED, at).overall
            return x.numerator, x.denominator

        # By hand: all three on record from 2020-01-01 (Beijing); N1 interconnected 2021-03-01, N2 2022-10-01.
        assert rate(datetime(2019, 12, 31, 23, 0, tzinfo=BEIJING)) == (0, 0)
        assert rate(end_of(2020)) == (0, 3)
        assert rate(end_of(2021)) == (1, 3)
        assert rate(end_of(2022)) == (2, 3)
        first = s.scalar(select(func.min(ChangeLog.at)).where(ChangeLog.kind == "networks"))
        assert first is not None and first.replace(tzinfo=first.tzinfo or UTC) == datetime(2019, 12, 31, 16, tzinfo=UTC)
    body = admin.get("/api/v1/rates/history").json()
    assert body["kinds"]["networks"].startswith("2019-12-31T16:00:00")
    assert body["kinds"]["units"].startswith("2018-01-01T00:00:00")
    assert body["earliest"].startswith("2018-01-01T00:00:00")
    assert body["every_kind_since"].startswith("2019-12-31T16:00:00")
    assert body["note_zh"].startswith(
        "历史数值的记录支撑：变更日志最早记录于 2018-01-01，各类对象均有记录自 2020-01-01"
    )


def test_api_create_with_a_past_status_date_is_on_record_from_it(admin: TestClient, db: Database) -> None:
    with db.session() as s:
        unit = _skeleton(s)
        s.commit()
    r = admin.post(
        "/api/v1/inventory/networks",
        json={
            "code": "N9",
            "name": "九",
            "owner_unit_id": unit,
            "level": "region",
            "status": "interconnected",
            "status_changed_at": "2021-05-01T00:00:00+08:00",
        },
    )
    assert r.status_code in (200, 201), r.text
    with db.session() as s:
        assert compute(s, RateKey.NETWORKS_INTERCONNECTED, end_of(2020)).overall.denominator == 0
        assert compute(s, RateKey.NETWORKS_INTERCONNECTED, end_of(2021)).overall.numerator == 1


@pytest.mark.parametrize("at", [None, BACK])
def test_explicit_change_time_is_kept(db: Database, at: datetime | None) -> None:
    """A caller that back-dates the whole change (ChangeContext.at) keeps its time; a live write uses the date."""
    with db.session() as s:
        unit = _skeleton(s)
        inv = Inv(s, replace(LOAD, at=at))
        nid = inv.network(unit, status="interconnected", status_changed_at="2021-05-01T00:00:00+08:00")
        logged = s.scalars(select(ChangeLog.at).where(ChangeLog.kind == "networks", ChangeLog.object_id == nid)).all()
        got = [t.replace(tzinfo=t.tzinfo or UTC) for t in logged]
        assert got == ([BACK] if at else [datetime(2021, 4, 30, 16, tzinfo=UTC)])


def test_rooms_and_exits_keep_their_status_history(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
    rooms = "机房编码,机房名称,所属单位编码,所在区划代码,状态,状态变更时间\nR1,一,GXDSJ,450000,在用,2020-01-01\nR2,二,GXDSJ,450000,已关闭,2022-05-01\n"
    exits = "出口编码,出口名称,所属单位编码,所在区划代码,状态,状态变更时间\nE1,一,GXDSJ,450000,已整合,2021/7/1\n"
    with any_db.session() as s:
        assert io.apply_import(s, "rooms", read_table(rooms.encode(), "r.csv"), LOAD).applied
        report = io.apply_import(s, "internet_exits", read_table(exits.encode(), "e.csv"), LOAD)
        assert report.applied, report.all_problems()
        s.commit()
    with any_db.session() as s:

        def status(kind: str, at: datetime) -> dict[str, str]:
            # UTC: queries.as_of compares the time as given (on SQLite a +08:00 time would be compared as text)
            return {o["code"]: o["status"] for o in queries.as_of(s, kind, at.astimezone(UTC))}

        # By hand: both rooms on record from 2020-01-01 (the file's earliest date); R2 closed on 2022-05-01.
        # ROOM-1 is the skeleton's, on record since 2018.
        assert status("rooms", end_of(2019)) == {"ROOM-1": "active"}
        assert status("rooms", end_of(2021)) == {"ROOM-1": "active", "R1": "active", "R2": "active"}
        assert status("rooms", end_of(2022)) == {"ROOM-1": "active", "R1": "active", "R2": "closed"}
        # E1 alone in its file: on record from its own status date, consolidated then.
        assert status("internet_exits", datetime(2021, 6, 30, tzinfo=BEIJING)) == {}
        assert status("internet_exits", end_of(2021)) == {"E1": "consolidated"}
